"""The ``@task.slurm`` section of docs/airflow.md, run as written with ``dag.test()``.

As on a site, the worker and the jobs are the same user (the cluster's admin user, root
here: no ``job_user``), the workspace is the connection's ``working_directory`` and the
jobs run this very interpreter (``share_python``). One release: the page does not depend
on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import SlurmConn

PAGE = Path(__file__).resolve().parents[2] / "docs" / "airflow.md"
SECTION = "## Python functions as jobs: `@task.slurm`"
DOCS_RELEASE = "24.11"


def _blocks() -> list[str]:
    text = PAGE.read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)


def test_the_section_has_one_python_block_and_names_this_module() -> None:
    text = PAGE.read_text()
    assert len(_blocks()) == 1
    section = text[text.index(SECTION) :]
    assert f"run: by tests/airflow/{Path(__file__).name}" in section.split("```")[0]


def test_the_task_slurm_example_runs_as_written(
    slurm_conn: SlurmConn,
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    cluster = slurm_conn.cluster
    if cluster.release != DOCS_RELEASE:
        pytest.skip(f"the docs run on {DOCS_RELEASE}")
    from test_integration import states, xcoms

    cluster.share_python()
    host, port = cluster.rest_url.removeprefix("http://").rsplit(":", 1)
    admin = cluster.admin_user_name
    conn = {
        "conn_type": "slurm",
        "host": host,
        "port": int(port),
        "login": admin,
        "password": cluster.token(admin),
        "extra": {"working_directory": str(cluster.shared_dir)},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SLURM_DEFAULT", json.dumps(conn))
    (code,) = _blocks()
    namespace: dict[str, Any] = {"__name__": "airflow_docs_task_slurm"}  # not importable
    exec(compile(code, str(PAGE), "exec"), namespace)  # noqa: S102
    dag_run = run_dag(namespace["pipeline"])
    out = capfd.readouterr().out
    assert states(dag_run) == {"measure": "success", "report": "success"}, out[-3000:]
    values = xcoms(dag_run)
    job = values[("measure", "job_id")]
    assert values[("measure", "return_value")] == {"total": 45, "job": str(job)}
    assert values[("report", "return_value")] == f"total 45 computed by job {job}"
    assert "reporting" in out
