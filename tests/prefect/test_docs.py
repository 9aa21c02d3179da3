"""docs/prefect.md: every ```python block runs as written, in order, against the real cluster.

The page's blocks share one namespace, as a reader would paste them; the environment is
the cluster's (``SLURM_REST_URL``, ``SLURM_JWT``, ``SLURM_USER_NAME``) and the working
directory a fresh directory on the cluster's shared filesystem. The block parser and runner
are tests/integration/test_docs_examples.py's (the same rules as every other page).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prefect_helpers import run_page

if TYPE_CHECKING:
    from slurm_core.testing.cluster import LocalSlurmCluster

ROOT = Path(__file__).resolve().parents[2]
PAGE = "docs/prefect.md"


def test_every_example_of_the_prefect_page_runs(
    slurm_cluster: LocalSlurmCluster,
    work_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SLURM_REST_URL", slurm_cluster.rest_url)
    monkeypatch.setenv("SLURM_JWT", slurm_cluster.token())
    monkeypatch.setenv("SLURM_USER_NAME", slurm_cluster.user_name)
    monkeypatch.chdir(work_dir)
    try:
        run_page(ROOT, PAGE, count=5)
    finally:
        _delete_automation("reschedule-unresponsive-runs")  # the page creates it
    printed = capsys.readouterr().out
    assert "COMPLETED 0 rows=1000" in printed  # what the page says it prints
    assert "state='COMPLETED'" in printed  # the SlurmJob block's result


def _delete_automation(name: str) -> None:
    """The page's automation would watch every later test's flow runs: remove it."""
    from prefect.automations import Automation

    with contextlib.suppress(ValueError):  # the block never got to create it
        Automation.read(name=name).delete()
