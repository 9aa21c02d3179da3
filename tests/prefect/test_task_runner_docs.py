"""docs/prefect-tasks.md: every ```python block runs as written, in order, on the real cluster.

As on a site, the jobs run as the user the token names: here the admin user the test
process runs as (root), so no ``job_user`` is needed; the functions run this interpreter
(``share_python``) and reach the test's Prefect server. The block runner is
tests/integration/test_docs_examples.py's (the same rules as every other page).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prefect_helpers import run_page

if TYPE_CHECKING:
    from slurm_core.testing.cluster import LocalSlurmCluster

ROOT = Path(__file__).resolve().parents[2]
PAGE = "docs/prefect-tasks.md"


def test_every_example_of_the_task_runner_page_runs(
    slurm_cluster: LocalSlurmCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    slurm_cluster.share_python()
    monkeypatch.setenv("SLURM_REST_URL", slurm_cluster.rest_url)
    monkeypatch.setenv("SLURM_JWT", slurm_cluster.token(slurm_cluster.admin_user_name))
    monkeypatch.setenv("SLURM_USER_NAME", slurm_cluster.admin_user_name)
    monkeypatch.setenv("RUNS_DIR", str(slurm_cluster.shared_dir))
    run_page(ROOT, PAGE, count=1)
    assert capsys.readouterr().out.splitlines()[-1] == "30"  # what the page says it prints
