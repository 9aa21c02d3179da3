"""docs/dagster.md runs exactly as written, with the real Dagster against the real cluster.

The page's ```python blocks run in order in one namespace, the way
tests/integration/test_docs_examples.py runs the core pages (its block reader and runner
are reused): the cluster's environment (``SLURM_REST_URL``, ``SLURM_JWT``,
``SLURM_USER_NAME``), a fresh working directory on the shared filesystem, titled blocks
written there as files. ``DAGSTER_PIPES_PYLIB`` names the shared directory holding
``dagster_pipes`` for the cluster's python3 (what the page tells the reader to provide).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from slurm_core.testing.cluster import LocalSlurmCluster

ROOT = Path(__file__).resolve().parents[2]
PAGE = "docs/dagster.md"


def _runner() -> Any:
    spec = importlib.util.spec_from_file_location(
        "docs_examples_runner", ROOT / "tests/integration/test_docs_examples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_dagster_page_examples_run(
    slurm_cluster: LocalSlurmCluster,
    pipes_pythonpath: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = _runner()
    if slurm_cluster.release != docs.DOCS_RELEASE:
        pytest.skip(f"the documented examples run on Slurm {docs.DOCS_RELEASE}")
    python = [b for b in docs.blocks((ROOT / PAGE).read_text()) if b.lang in docs._PYTHON]
    assert python, f"{PAGE} has no python blocks"
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        if name != "SLURM_TEST_RELEASES":
            monkeypatch.delenv(name)
    for name, value in slurm_cluster.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_PIPES_PYLIB", pipes_pythonpath)
    workdir = docs._workdir(slurm_cluster, PAGE)
    monkeypatch.chdir(workdir)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for block in python:
            if block.title:
                (workdir / block.title).write_text(block.code)
                (workdir / block.title).chmod(0o644)
            else:
                docs._run_block(block, PAGE, namespace, loop)
    finally:
        loop.close()
        docs._cancel_leftovers(workdir)
    out = capsys.readouterr().out
    assert f"COMPLETED {workdir}/report-" in out  # the report example's state and output path
    assert "rows=42" in out  # its stdout, copied into the compute log while it ran
    assert out.rstrip().endswith("42")  # the Pipes example's reported rows
