"""The real Airflow, in-process (``dag.test()``), against the real local SLURM clusters.

``dag.test()`` runs each task in this process; a task that defers has its trigger run
inline (``InProcessTestSupervisor.run_trigger_in_process``) and is then resumed with the
event, as the triggerer would do. Task logs go to stdout, captured with ``capfd``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import DAG
from slurm_airflow.hooks.slurm import SlurmHook
from slurm_airflow.operators.slurm import SlurmSubmitJobOperator
from slurm_airflow.sensors.slurm import SlurmJobSensor
from slurm_airflow.triggers.slurm import SlurmJobTrigger

from slurm_core import Job, JobFailedError, SlurmClient, StaticToken
from slurm_core.testing.cluster import Preemption

if TYPE_CHECKING:
    from conftest import SlurmConn

RunDag = Callable[..., Any]
REPO = Path(__file__).resolve().parents[2]
START = datetime(2025, 1, 1)


@pytest.fixture
def workdir(slurm_conn: SlurmConn) -> Path:
    """A fresh directory in the cluster's shared dir (same path inside and out)."""
    path = slurm_conn.shared_dir / f"airflow-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o777)
    path.chmod(0o777)  # jobs run as the cluster user
    return path


@pytest.fixture(scope="session")
def client(slurm_conn: SlurmConn) -> Iterator[SlurmClient]:
    cluster = slurm_conn.cluster
    with SlurmClient(
        cluster.rest_url, auth=StaticToken(slurm_conn.token, user_name=cluster.user_name)
    ) as c:
        yield c


def new_dag(name: str, **kwargs: Any) -> DAG:
    return DAG(dag_id=f"{name}_{uuid.uuid4().hex[:6]}", schedule=None, start_date=START, **kwargs)


def states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def xcoms(dag_run: Any) -> dict[tuple[str, str], Any]:
    """Every XCom of the run, deserialized."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id
            )
        ).all()
        return {(r.task_id, r.key): XComModel.deserialize_value(r) for r in rows}


def dump(values: dict[tuple[str, str], Any]) -> str:
    """All XCom values (and keys) as one text, to scan for secrets."""
    return json.dumps({f"{t}/{k}": v for (t, k), v in values.items()}, default=str)


def assert_no_token(slurm_conn: SlurmConn, *texts: str) -> None:
    for text in texts:
        assert slurm_conn.token not in text
        # nor a recognisable part of it (the signature)
        assert slurm_conn.token.rsplit(".", 1)[-1] not in text


def assert_deferred(log: str, job_id: int | str) -> None:
    """The task deferred, and SlurmJobTrigger ran (inline) and saw the job end."""
    assert "Pausing task as DEFERRED" in log
    assert re.search(rf"job {job_id} reached COMPLETED .*SlurmJobTrigger", log), log[-3000:]


def script(body: str) -> str:
    return "#!/bin/bash\n" + body + "\n"


def job_args(workdir: Path) -> dict[str, Any]:
    return {
        "working_directory": str(workdir),
        "output_path": str(workdir / "%j.out"),
        "time_limit": "5:00",
        "poll_interval": 1,
    }


# ------------------------------------------------------------------ operator -----------------
def test_submit_defers_and_the_trigger_sees_the_job_complete(
    slurm_conn: SlurmConn,
    workdir: Path,
    run_dag: RunDag,
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with new_dag("submit_deferred") as dag:
        SlurmSubmitJobOperator(
            task_id="job",
            script=script("echo hello from {{ ti.task_id }} on $(hostname)\nsleep 1"),
            name="af-{{ ti.task_id }}",
            environment={"GREETING": "{{ dag.dag_id }}"},
            log_output=True,
            deferrable=True,
            **job_args(workdir),
        )
    dag_run = run_dag(dag)
    out = capfd.readouterr()
    assert states(dag_run) == {"job": "success"}
    values = xcoms(dag_run)
    job_id = values[("job", "job_id")]
    assert isinstance(job_id, int)
    assert_deferred(out.out, job_id)
    assert values[("job", "state")] == "COMPLETED"
    assert values[("job", "exit_code")] == 0
    result = values[("job", "return_value")]
    assert result["status"] == "success"
    assert (result["job_id"], result["state"], result["exit_code"]) == (job_id, "COMPLETED", 0)

    job = client.jobs.get(job_id)
    assert job.state.is_success
    assert job.name == "af-job"  # templated
    assert "hello from job on" in out.out  # log_output copied stdout into the task log
    assert_no_token(slurm_conn, dump(values), out.out, out.err)


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "blocking"])
def test_a_failing_job_fails_the_task_with_its_exit_code(
    deferrable: bool,
    slurm_conn: SlurmConn,
    workdir: Path,
    run_dag: RunDag,
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with new_dag("submit_fails") as dag:
        SlurmSubmitJobOperator(
            task_id="job",
            script=script("echo failing on purpose\nexit 3"),
            deferrable=deferrable,
            **job_args(workdir),
        )
    dag_run = run_dag(dag)
    out = capfd.readouterr()
    assert states(dag_run) == {"job": "failed"}
    job_id = xcoms(dag_run)[("job", "job_id")]
    text = out.out + out.err
    assert "SlurmJobFailedException" in text
    assert f"job {job_id} ended FAILED with exit code 3" in text
    job = client.jobs.get(job_id)
    assert str(job.state.base) == "FAILED"
    assert job.exit_code is not None
    assert job.exit_code.return_code == 3
    assert_no_token(slurm_conn, text)


def test_submit_without_waiting_returns_the_job_id(
    slurm_conn: SlurmConn, workdir: Path, run_dag: RunDag, client: SlurmClient
) -> None:
    with new_dag("submit_only") as dag:
        SlurmSubmitJobOperator(
            task_id="job",
            command=["/bin/sh", "-c", "exit 0"],
            wait_for_completion=False,
            **job_args(workdir),
        )
    dag_run = run_dag(dag)
    assert states(dag_run) == {"job": "success"}
    job_id = xcoms(dag_run)[("job", "job_id")]
    assert xcoms(dag_run)[("job", "return_value")]["state"] is None
    assert client.jobs.wait(job_id, timeout=120).state.is_success


class _TaskInstance:
    """The part of a task instance ``execute`` uses (its ids, ``xcom_push``, the stats tags
    Airflow's ResumableJobMixin reads)."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}
        self.stats_tags: dict[str, str] = {}
        self.dag_id, self.task_id, self.map_index = "kill", "long", -1
        self.run_id = f"manual__{uuid.uuid4().hex}"  # a task instance of its own

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def _wait_until_running(client: SlurmClient, job_id: int) -> None:
    with client.jobs.watch([job_id], timeout=120) as events:
        for event in events:
            assert not event.final, f"job {job_id} ended before it could be killed: {event}"
            if event.new_state is not None and event.new_state.is_running:
                return


def test_on_kill_cancels_the_running_job(
    slurm_conn: SlurmConn, workdir: Path, client: SlurmClient
) -> None:
    op = SlurmSubmitJobOperator(
        task_id="long", script=script("sleep 120"), deferrable=False, **job_args(workdir)
    )
    ti = _TaskInstance()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            op.execute({"ti": ti})  # type: ignore[arg-type]
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        job_id = _await_job_id(ti, worker)
        _wait_until_running(client, job_id)
        op.on_kill()  # what Airflow calls on SIGTERM or an execution timeout
    finally:
        worker.join(timeout=120)
    assert not worker.is_alive()
    with pytest.raises(JobFailedError) as info:
        client.jobs.wait(job_id, timeout=60)
    assert info.value.state == "CANCELLED"
    # the task says Airflow stopped it, not a misleading "the job failed" (#17)
    from airflow.sdk.exceptions import AirflowTaskTerminated

    (error,) = outcome
    assert isinstance(error, AirflowTaskTerminated), repr(error)
    assert f"SLURM job {job_id} cancelled" in str(error)


def _await_job_id(ti: _TaskInstance, worker: threading.Thread) -> int:
    done = threading.Event()
    while "job_id" not in ti.xcom:
        assert worker.is_alive(), "execute ended before submitting"
        done.wait(0.05)
    job_id = ti.xcom["job_id"]
    assert isinstance(job_id, int)
    return job_id


def test_killing_the_deferred_task_cancels_the_job_through_the_trigger(
    slurm_conn: SlurmConn, workdir: Path, client: SlurmClient
) -> None:
    job_id = (
        client.jobs.submit()
        .script(script("sleep 120"))
        .working_directory(str(workdir))
        .output(str(workdir / "%j.out"))
        .execute()
        .job_id
    )
    _wait_until_running(client, job_id)
    trigger = SlurmJobTrigger(job_id=job_id, conn_id="slurm_default", cancel_on_kill=True)
    asyncio.run(trigger.on_kill())
    with pytest.raises(JobFailedError) as info:
        client.jobs.wait(job_id, timeout=60)
    assert info.value.state == "CANCELLED"


# ------------------------------------------------------------------ sensor -------------------
def _submit(client: SlurmClient, workdir: Path, body: str) -> int:
    return (
        client.jobs.submit()
        .script(script(body))
        .working_directory(str(workdir))
        .output(str(workdir / "%j.out"))
        .time_limit("5:00")
        .execute()
        .job_id
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_sensor_waits_for_completion(
    deferrable: bool,
    slurm_conn: SlurmConn,
    workdir: Path,
    run_dag: RunDag,
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    job_id = _submit(client, workdir, "sleep 2")
    with new_dag("sensor_ok") as dag:
        SlurmJobSensor(
            task_id="wait",
            job_id="{{ params.job_id }}",
            params={"job_id": job_id},
            poke_interval=1,
            timeout=120,
            deferrable=deferrable,
        )
    dag_run = run_dag(dag)
    out = capfd.readouterr()
    assert states(dag_run) == {"wait": "success"}
    result = xcoms(dag_run)[("wait", "return_value")]
    assert (result["job_id"], result["state"], result["exit_code"]) == (job_id, "COMPLETED", 0)
    if deferrable:
        assert_deferred(out.out, job_id=job_id)
    else:
        assert "DEFERRED" not in out.out
    assert_no_token(slurm_conn, out.out, out.err)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize(("soft_fail", "expected"), [(False, "failed"), (True, "skipped")])
def test_sensor_on_a_failed_job_fails_or_soft_fails(
    deferrable: bool,
    soft_fail: bool,
    expected: str,
    slurm_conn: SlurmConn,
    workdir: Path,
    run_dag: RunDag,
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    job_id = _submit(client, workdir, "exit 3")
    with new_dag("sensor_failed") as dag:
        SlurmJobSensor(
            task_id="wait",
            job_id=job_id,
            poke_interval=1,
            timeout=120,
            soft_fail=soft_fail,
            deferrable=deferrable,
            retries=2,  # a failed job does not come back: no retry
        )
    dag_run = run_dag(dag)
    out = capfd.readouterr()
    assert states(dag_run) == {"wait": expected}
    if not soft_fail:
        assert f"job {job_id} ended FAILED with exit code 3" in out.out + out.err
        (ti,) = dag_run.get_task_instances()
        assert ti.try_number == 1


@pytest.mark.parametrize(("soft_fail", "expected"), [(False, "failed"), (True, "skipped")])
def test_sensor_timeout_in_poke_mode(
    soft_fail: bool,
    expected: str,
    slurm_conn: SlurmConn,
    workdir: Path,
    run_dag: RunDag,
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # (dag.test() runs a trigger inline until it fires, without the deferral timeout the
    # triggerer enforces: the deferrable timeout is covered by the unit tests.)
    job_id = _submit(client, workdir, "sleep 60")
    try:
        with new_dag("sensor_timeout") as dag:
            SlurmJobSensor(
                task_id="wait", job_id=job_id, poke_interval=1, timeout=3, soft_fail=soft_fail
            )
        dag_run = run_dag(dag)
        out = capfd.readouterr()
        assert states(dag_run) == {"wait": expected}
        if not soft_fail:
            assert "AirflowSensorTimeout" in out.out + out.err
        # the sensor does not own the job: it is left running
        assert not client.jobs.get(job_id).state.is_finished
    finally:
        client.jobs.cancel(job_id)


# ------------------------------------------------------------------ secrets & registration ---
def test_no_xcom_and_no_log_line_holds_the_token(
    slurm_conn: SlurmConn,
    workdir: Path,
    run_dag: RunDag,
    capfd: pytest.CaptureFixture[str],
    airflow_home: Path,
) -> None:
    with new_dag("secrets") as dag:
        first = SlurmSubmitJobOperator(
            task_id="first", script=script("echo one"), log_output=True, **job_args(workdir)
        )
        SlurmJobSensor(task_id="sense", job_id=first.output["job_id"], poke_interval=1)
        SlurmSubmitJobOperator(
            task_id="second",
            script=script("exit 3"),
            deferrable=False,
            afterok=[first.output["job_id"]],
            **job_args(workdir),
        )
    dag_run = run_dag(dag)
    out = capfd.readouterr()
    assert states(dag_run) == {"first": "success", "sense": "success", "second": "failed"}
    values = xcoms(dag_run)
    assert {k for _, k in values} >= {"job_id", "state", "exit_code", "return_value"}
    logs = "".join(p.read_text(errors="replace") for p in airflow_home.rglob("*.log"))
    assert_no_token(slurm_conn, dump(values), out.out, out.err, logs)


def test_hook_test_connection_against_the_cluster(
    slurm_conn: SlurmConn, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = SlurmHook().test_connection()
    assert ok, message
    assert "REST API v0.0." in message
    monkeypatch.setenv("AIRFLOW_CONN_SLURM_BAD", slurm_conn.conn_json(slurm_conn.token + "x"))
    ok, message = SlurmHook("slurm_bad").test_connection()
    assert not ok
    # 22.05 answers a bad token with HTTP 500 and error -1: for a token it never accepted,
    # that is a rejection (issue 16)
    assert "AuthenticationError" in message
    assert_no_token(slurm_conn, message)


def _cli_json(*args: str) -> Any:
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_airflow_cli_lists_the_provider(airflow_db: None) -> None:
    names = {p["package_name"] for p in _cli_json("providers", "list")}
    assert "slurm-client" in names
    by_type = {h["connection_type"]: h for h in _cli_json("providers", "hooks")}
    assert by_type["slurm"]["class"] == "slurm_airflow.hooks.slurm.SlurmHook"


# ------------------------------------------------------------------ the example DAG ----------
def test_example_ml_pipeline(
    slurm_conn: SlurmConn,
    workdir: Path,
    run_dag: RunDag,
    client: SlurmClient,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = REPO / "examples" / "airflow" / "ml_pipeline.py"
    spec = importlib.util.spec_from_file_location("slurm_example_ml_pipeline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag: DAG = module.dag

    cluster = slurm_conn.cluster
    cluster.share_python()  # finetune is a Python function: the job runs this interpreter
    job_user = str(cluster.uid(cluster.user_name))

    def finetune_job() -> int | None:  # the function's job (not train's, also on a GPU)
        return next(
            (
                j.job_id
                for j in client.jobs.list(user=cluster.user_name)
                if j.state.is_running
                and j.partition == "gpu"
                and j.name not in ("preprocess", "train", "evaluate")
                and str(j.standard_output or "").startswith(str(workdir))
            ),
            None,
        )

    def epochs_done(_: int) -> bool:  # finetune's checkpoint after each epoch
        for state in workdir.rglob("finetune.json"):
            with contextlib.suppress(ValueError):  # caught mid-write
                if json.loads(state.read_text())["epoch"] >= 3:
                    return True
        return False

    # On 24.11 (a slow scenario: one release) finetune is preempted after 3 of its epochs,
    # as near its time limit: requeued while its task is deferred, it resumes from its
    # checkpoint. Elsewhere the example runs as is.
    preempt = cluster.release == "24.11"
    epochs = 10 if preempt else 2  # a second each: long enough to preempt finetune
    preemption = Preemption(cluster, finetune_job, epochs_done)
    with preemption if preempt else contextlib.nullcontext():
        dag_run = run_dag(
            dag, run_conf={"workdir": str(workdir), "epochs": epochs, "job_user": job_user}
        )
    out = capfd.readouterr()
    assert states(dag_run) == {
        "preprocess": "success",
        "train": "success",
        "evaluate": "success",
        "finetune": "success",
    }
    values = xcoms(dag_run)
    # the GPU step written as a function: its value through XCom, one GPU of the gpu node
    finetuned = values[("finetune", "return_value")]
    assert finetuned["epochs"] == epochs, finetuned
    assert finetuned["gpus"] == "0", finetuned
    if preempt:
        assert 3 <= finetuned["resumed_from"] < epochs, finetuned  # from its checkpoint
        assert int(values[("finetune", "job_id")]) == preemption.job_id
    else:
        assert finetuned["resumed_from"] == 0, finetuned
    assert client.jobs.get(values[("finetune", "job_id")]).partition == "gpu"
    ids = {t: values[(t, "job_id")] for t in ("preprocess", "train", "evaluate")}
    jobs: dict[str, Job] = {t: client.jobs.get(i) for t, i in ids.items()}
    assert all(j.state.is_success for j in jobs.values()), jobs
    # chained by SLURM: each job waited for its upstream, and ran after it
    for up, down in (("preprocess", "train"), ("train", "evaluate")):
        assert jobs[down].start_time is not None
        assert jobs[up].end_time is not None
        assert jobs[down].start_time >= jobs[up].end_time
    assert jobs["train"].partition == "gpu"
    assert (workdir / "checkpoints" / "last_epoch").read_text().strip() == str(epochs)
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["model"] == f"model-after-epoch-{epochs}"
    assert "evaluation: {" in out.out  # evaluate's stdout in the task log
    assert_no_token(slurm_conn, dump(values), out.out, out.err)
