"""docs/dagster-executor.md runs exactly as written, with the real Dagster against the
real cluster: its titled block is written as a file in a fresh directory on the shared
filesystem, the other blocks run there in order, with ``$DAGSTER_HOME`` beside it (the
instance the steps' jobs write to) and the environment the page names. The jobs run as
root, as Dagster does here (see test_executor_dagster.py for why)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_docs import _runner

from slurm_core.testing.cluster import LocalSlurmCluster

ROOT = Path(__file__).resolve().parents[2]
PAGE = "docs/dagster-executor.md"


def test_dagster_executor_page_examples_run(
    slurm_cluster: LocalSlurmCluster,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = _runner()
    if slurm_cluster.release != docs.DOCS_RELEASE:
        pytest.skip(f"the documented examples run on Slurm {docs.DOCS_RELEASE}")
    blocks = [b for b in docs.blocks((ROOT / PAGE).read_text()) if b.lang in docs._PYTHON]
    assert blocks, f"{PAGE} has no python blocks"
    slurm_cluster.share_python()
    workdir = slurm_cluster.shared_dir / "dagster-executor-docs" / uuid.uuid4().hex[:10]
    home = workdir / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    token = workdir / "token"
    token.write_text(slurm_cluster.admin_token())
    token.chmod(0o600)
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        if name != "SLURM_TEST_RELEASES":
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLURM_REST_URL", slurm_cluster.rest_url)
    monkeypatch.setenv("SLURM_TOKEN_FILE", str(token))
    monkeypatch.setenv("SLURM_USER_NAME", "root")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(workdir)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for block in blocks:
        if block.title:
            (workdir / block.title).write_text(block.code)
        else:
            exec(compile(block.code, f"{PAGE}:{block.line}", "exec"), namespace)  # noqa: S102
    assert capsys.readouterr().out.rstrip().endswith("True 6")
