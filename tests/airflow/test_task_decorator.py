"""``@task.slurm`` in the real Airflow (``dag.test()``) against the real local clusters.

Each decorated function is its own SLURM job, run by this very interpreter (shared into the
cluster's root by ``share_python``) as the cluster's user (``job_user``: the test process
is root). The two-task XCom DAG runs on every release; kill, failure and retry, and the
re-attach of a retry, run on 24.11 only (the adapter's part in them does not depend on the
release).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle
import pytest
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowTaskTerminated, TaskDeferred
from slurm_airflow.decorators.slurm import SlurmDecoratedOperator

from slurm_core import SlurmClient

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import SlurmConn

# The functions of this module travel by value: the job need not import the test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

START = datetime(2025, 1, 1)
SLOW_RELEASE = "24.11"


@pytest.fixture
def cluster_user(slurm_conn: SlurmConn) -> int:
    slurm_conn.cluster.share_python()
    return slurm_conn.cluster.uid(slurm_conn.cluster.user_name)


@pytest.fixture
def workspace(slurm_conn: SlurmConn) -> Path:
    """A workspace of this test's own in the shared dir (others' executors use that one)."""
    path = slurm_conn.shared_dir / f"task-slurm-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    path.chmod(0o755)  # the jobs' user traverses it to its call directory
    return path


def _slow_only(slurm_conn: SlurmConn) -> None:
    if slurm_conn.cluster.release != SLOW_RELEASE:
        pytest.skip(f"slow scenario: runs on {SLOW_RELEASE} only")


def _new_dag(name: str) -> DAG:
    return DAG(dag_id=f"{name}_{uuid.uuid4().hex[:6]}", schedule=None, start_date=START)


def _executor_dirs(workspace: Path) -> set[str]:
    return {p.name for p in workspace.glob("slurm-executor-*")}


def _options(uid: int, workspace: Path) -> dict[str, Any]:
    return {
        "job_user": uid,
        "workspace": str(workspace),
        "time_limit": "5:00",
        "memory_per_cpu": "50M",
        "poll_interval": 1,
    }


# ------------------------------------------------------------------ XCom, deferred ----------
def test_two_tasks_pass_a_value_through_xcom_deferred(
    slurm_conn: SlurmConn,
    cluster_user: int,
    workspace: Path,
    run_dag: Callable[..., Any],
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from test_integration import assert_no_token, dump, states, xcoms

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")  # honoured
    before = _executor_dirs(workspace)
    with _new_dag("task_slurm_xcom") as dag:

        @task.slurm(**_options(cluster_user, workspace))
        def measure(n: int) -> dict[str, int]:
            return {"total": sum(range(n)), "uid": os.getuid()}

        @task.slurm(name="report", **_options(cluster_user, workspace))
        def report(measured: dict[str, int]) -> str:
            print("reporting from the job")
            return f"total={measured['total']} on {os.environ['SLURM_JOB_ID']}"

        report(measure(10))

    assert isinstance(dag.get_task("measure"), SlurmDecoratedOperator)
    assert dag.get_task("measure").deferrable  # from [operators] default_deferrable
    dag_run = run_dag(dag)
    out = capfd.readouterr()
    assert states(dag_run) == {"measure": "success", "report": "success"}, out.out[-3000:]
    values = xcoms(dag_run)
    first, second = values[("measure", "job_id")], values[("report", "job_id")]
    assert first != second
    assert values[("measure", "return_value")] == {"total": 45, "uid": cluster_user}
    assert values[("report", "return_value")] == f"total=45 on {second}"
    # deferred: the trigger followed each job, and the task resumed to read the result
    assert out.out.count("Pausing task as DEFERRED") == 2, out.out[-3000:]
    for job_id in (first, second):
        assert f"job {job_id} reached COMPLETED" in out.out
        assert client.jobs.get(job_id).state.is_success
    assert "reporting from the job" in out.out  # the job's output in the task log
    assert str(client.jobs.get(second).name) == "report"
    assert "task_id=report" in str(client.jobs.get(second).comment)
    assert _executor_dirs(workspace) == before  # each call's directory removed
    assert_no_token(slurm_conn, dump(values), out.out, out.err)


# ------------------------------------------------------------------ failure and retry -------
def test_a_failing_function_shows_its_traceback_and_the_retry_runs_it_again(
    slurm_conn: SlurmConn,
    cluster_user: int,
    workspace: Path,
    run_dag: Callable[..., Any],
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _slow_only(slurm_conn)
    from test_integration import states, xcoms

    (workspace / "markers").mkdir(mode=0o777)
    (workspace / "markers").chmod(0o777)  # the jobs' user leaves its mark here
    marker = workspace / "markers" / "attempted"
    with _new_dag("task_slurm_retry") as dag:

        @task.slurm(
            retries=1,
            retry_delay=timedelta(0),
            deferrable=False,
            **_options(cluster_user, workspace),
        )
        def flaky(path: str) -> str:
            if not os.path.exists(path):
                open(path, "w").close()
                raise ValueError(f"first attempt fails: {path}")
            return "second attempt"

        flaky(str(marker))

    dag_run = run_dag(dag)
    out = capfd.readouterr()
    assert states(dag_run) == {"flaky": "success"}, out.out[-4000:]
    assert xcoms(dag_run)[("flaky", "return_value")] == "second attempt"
    # the function's own exception, and where it was raised in the job
    assert "ValueError: first attempt fails" in out.out
    assert "in flaky\n" in out.out or "in flaky" in out.out
    assert "RemoteTraceback" in out.out
    ids = re.findall(r"submitted SLURM job (\d+) for flaky", out.out)
    assert len(set(ids)) == 2, ids  # the retry ran the function in a new job


# ------------------------------------------------------------------ kill and re-attach ------
class _TaskInstance:
    """The part of a task instance ``execute`` uses (its ids, ``xcom_push``)."""

    def __init__(self, run_id: str) -> None:
        self.xcom: dict[str, Any] = {}
        self.dag_id, self.task_id, self.map_index, self.run_id = "d", "sleepy", -1, run_id

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def _sleepy(seconds: float) -> str:
    import time

    time.sleep(seconds)
    return f"slept {seconds}"


def _operator(uid: int, workspace: Path, **kwargs: Any) -> SlurmDecoratedOperator:
    return SlurmDecoratedOperator(
        task_id="sleepy", python_callable=_sleepy, **_options(uid, workspace), **kwargs
    )


def test_killing_the_task_cancels_the_job(
    slurm_conn: SlurmConn, cluster_user: int, workspace: Path, client: SlurmClient
) -> None:
    _slow_only(slurm_conn)
    from test_integration import _await_job_id, _wait_until_running

    op = _operator(cluster_user, workspace, op_args=[300], deferrable=False)
    ti = _TaskInstance(f"manual__{uuid.uuid4().hex}")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            op.execute({"ti": ti})  # type: ignore[arg-type]
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        job_id = _await_job_id(ti, worker)  # type: ignore[arg-type]
        _wait_until_running(client, job_id)
        op.on_kill()  # what Airflow calls on SIGTERM or an execution timeout
    finally:
        worker.join(timeout=120)
    assert not worker.is_alive()
    assert str(client.jobs.get(job_id).state.base) == "CANCELLED"
    (error,) = outcome
    assert isinstance(error, AirflowTaskTerminated), repr(error)


def test_a_retry_re_attaches_to_the_running_job_and_gets_its_value(
    slurm_conn: SlurmConn, cluster_user: int, workspace: Path, client: SlurmClient
) -> None:
    _slow_only(slurm_conn)
    ti = _TaskInstance(f"manual__{uuid.uuid4().hex}")
    first = _operator(cluster_user, workspace, op_args=[3], deferrable=True)
    with pytest.raises(TaskDeferred):  # the first try deferred, then its worker died
        first.execute({"ti": ti})  # type: ignore[arg-type]
    job_id = ti.xcom["job_id"]
    (left,) = _executor_dirs(workspace)  # the first try's call, for the job to run
    retry = _operator(cluster_user, workspace, op_args=[3], deferrable=False)
    assert retry.execute({"ti": ti}) == "slept 3"  # type: ignore[arg-type]
    assert ti.xcom["job_id"] == job_id  # the same job: nothing submitted twice
    assert client.jobs.get(job_id).working_directory == str(workspace / left)
    assert not _executor_dirs(workspace)  # read and removed; the retry's own plan too


def test_context_objects_are_refused_before_anything_is_sent(
    slurm_conn: SlurmConn, cluster_user: int, workspace: Path
) -> None:
    def wants_ti(ti: Any = None) -> None:
        return None

    op = SlurmDecoratedOperator(
        task_id="t", python_callable=wants_ti, **_options(cluster_user, workspace)
    )
    ti = _TaskInstance("manual__x")
    with pytest.raises(TypeError, match="parameter 'ti'"):
        op.execute({"ti": ti})  # type: ignore[arg-type]
    assert "job_id" not in ti.xcom


def test_the_provider_registers_task_slurm() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
    from slurm_airflow.decorators.slurm import slurm_task

    assert "slurm" in ProvidersManagerTaskRuntime().taskflow_decorators
    assert task.slurm is slurm_task  # what @task.slurm resolves to


_DECLARE = """
import sys
from datetime import datetime
from airflow.sdk import DAG, task
with DAG("parse", schedule=None, start_date=datetime(2025, 1, 1)):
    @task.slurm(partition="debug", time_limit="5:00")
    def f(x):
        return x
    f(1)
print(" ".join(sorted(m for m in sys.modules if m.startswith(("slurm_core", "cloudpickle")))))
"""


def test_declaring_a_task_slurm_imports_no_client() -> None:
    # A DAG file pays this at every parse: the client, the executor and cloudpickle are
    # imported when the task runs.
    imported = subprocess.run(
        [sys.executable, "-c", _DECLARE], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = ("slurm_core._client", "slurm_core.executor", "slurm_core.jobs", "cloudpickle")
    assert not [m for m in imported if m.startswith(heavy)]
