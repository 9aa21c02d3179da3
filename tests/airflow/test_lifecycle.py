"""Issue #17 through the real Airflow (``dag.test()``) and the real 24.11 cluster.

A DAG runs in a child process (``dag.test()`` there, against this session's metadata
database), so that the test can ``kill -9`` it mid-job, or read its task log as it comes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from slurm_core import SlurmClient, StaticToken

_RESUMABLE = hasattr(__import__("airflow.sdk").sdk, "ResumableJobMixin")

if TYPE_CHECKING:
    from conftest import SlurmConn

_RUNNER = """
import sys
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
from datetime import datetime, timezone
from airflow.sdk import DAG
from slurm_airflow.operators.slurm import SlurmSubmitJobOperator

with DAG(dag_id=sys.argv[1], schedule=None, start_date=datetime(2025, 1, 1)) as dag:
{tasks}
DagBundlesManager().sync_bundles_to_db()
bag = DagBag(dag_folder="/dev/null")
bag.bag_dag(dag)
sync_bag_to_db(bag, "dags-folder", None)
when = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the same dag run on every start
if len(sys.argv) > 2:  # `airflow tasks test DAG TASK RUN`: one more try in the dag run
    from argparse import Namespace
    from airflow.cli.commands.task_command import task_test
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    with create_session() as session:
        run_id = session.query(DagRun.run_id).filter(DagRun.dag_id == dag.dag_id).scalar()
    task_test(Namespace(dag_id=dag.dag_id, task_id=sys.argv[2], logical_date_or_run_id=run_id,
                        map_index=-1, env_vars=None, task_params=None, post_mortem=False,
                        bundle_name=None, verbose=False), dag=dag)
    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id).one()
        states = {{ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}}
    print("TASK STATES", states, flush=True)
    sys.exit()
run = dag.test(run_after=when, logical_date=when)
print("TASK STATES", {{ti.task_id: str(ti.state) for ti in run.get_task_instances()}}, flush=True)
"""


@pytest.fixture(autouse=True)
def _one_release(slurm_cluster: Any) -> None:
    """Slow scenarios, the same on every release: run once (on 24.11)."""
    if slurm_cluster.release != "24.11":
        pytest.skip("a slow orchestrator scenario, run on 24.11 only")


@pytest.fixture(scope="module")
def client(slurm_conn: SlurmConn) -> Iterator[SlurmClient]:
    cluster = slurm_conn.cluster
    with SlurmClient(
        cluster.rest_url, auth=StaticToken(slurm_conn.token, user_name=cluster.user_name)
    ) as c:
        yield c


@pytest.fixture
def workdir(slurm_conn: SlurmConn, airflow_db: None) -> Path:
    path = slurm_conn.shared_dir / f"airflow-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o777)
    path.chmod(0o777)  # jobs run as the cluster user
    return path


def _dag(workdir: Path, tasks: str) -> tuple[str, Path]:
    dag_id = f"lifecycle_{uuid.uuid4().hex[:8]}"
    path = workdir / f"{dag_id}.py"
    path.write_text(_RUNNER.format(tasks=textwrap.indent(textwrap.dedent(tasks), "    ")))
    return dag_id, path


def _start(dag_id: str, path: Path, *retry_task: str) -> subprocess.Popen[str]:
    """Run the DAG with ``dag.test()``, or (``retry_task``) one more try of that task in the
    existing dag run, as ``airflow tasks test`` does."""
    return subprocess.Popen(
        [sys.executable, str(path), dag_id, *retry_task],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
    )


def _wait_for(proc: subprocess.Popen[str], needle: str, limit: float = 120) -> tuple[str, str]:
    """Read the child's log until a line holds ``needle``: (that line, all read so far)."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + limit
    for line in proc.stdout:
        seen.append(line)
        if needle in line:
            return line, "".join(seen)
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"{needle!r} never came; log:\n{''.join(seen)[-4000:]}")


def _jobs_named(client: SlurmClient, name: str) -> list[int]:
    return sorted(j.job_id for j in client.jobs.list() if j.name == name)


def test_kill_9_of_the_task_process_then_a_retry_reattaches_to_the_one_job(
    slurm_conn: SlurmConn, workdir: Path, client: SlurmClient
) -> None:
    name = f"af-kill-{uuid.uuid4().hex[:6]}"
    dag_id, path = _dag(
        workdir,
        f"""
        SlurmSubmitJobOperator(
            task_id="train", deferrable=False, poll_interval=2, name="{name}",
            script="#!/bin/bash\\necho working\\nsleep 25\\necho done\\n",
            working_directory="{workdir}", output_path="{workdir}/%j.out", time_limit="5:00",
        )
        """,
    )
    first = _start(dag_id, path)
    try:
        line, _ = _wait_for(first, "submitted SLURM job")
        # Killed while it follows the running job (Airflow stored the job id by then).
        _wait_for(first, "stdout] working")
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its task process, no on_kill
    finally:
        first.wait(30)
    job_id = int(line.split("submitted SLURM job ")[1].split()[0])
    assert not client.jobs.get(job_id).state.is_finished  # the job ran on

    retry = _start(dag_id, path, "train")  # another try of the task in the same dag run
    out, _ = retry.communicate(timeout=240)
    if _RESUMABLE:  # found through Airflow's ResumableJobMixin: the task state store
        # The job still runs (re-attach) or, on a slow machine, has completed meanwhile.
        ours = (f"re-attached to SLURM job {job_id} (task state store", "in an earlier try")
        airflows = ("Reconnecting to existing job", "Job already completed successfully")
        assert any(m in out for m in ours), out[-4000:]
        assert any(m in out for m in airflows), out[-4000:]
    else:  # the core's key
        assert f"re-attached to SLURM job {job_id}" in out, out[-4000:]
    assert "'train': 'success'" in out, out[-4000:]
    assert _jobs_named(client, name) == [job_id]  # ONE job
    assert client.jobs.get(job_id).state.is_success
    comment = client.jobs.get(job_id).comment or ""
    assert f"dag_id={dag_id}" in comment
    assert "task_id=train" in comment


def test_stderr_reaches_the_task_log_while_the_job_runs(
    slurm_conn: SlurmConn, workdir: Path, client: SlurmClient
) -> None:
    dag_id, path = _dag(
        workdir,
        f"""
        SlurmSubmitJobOperator(
            task_id="job", deferrable=False, poll_interval=1,
            script="#!/bin/bash\\necho warming-up >&2\\nsleep 20\\necho finished\\n",
            working_directory="{workdir}", output_path="{workdir}/%j.out",
            error_path="{workdir}/%j.err", time_limit="5:00",
        )
        """,
    )
    proc = _start(dag_id, path)
    try:
        line, _ = _wait_for(proc, "stderr] warming-up")
        job_id = int(line.split("[job ")[1].split()[0])
        assert client.jobs.get(job_id).state.is_running  # seen while the job runs
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert f"[job {job_id} stdout] finished" in out
    assert "'job': 'success'" in out


def test_an_upstream_failure_in_an_afterok_chain_fails_the_downstream_task(
    slurm_conn: SlurmConn, workdir: Path, client: SlurmClient
) -> None:
    poll = 3
    up, down = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("up", "down"))
    dag_id, path = _dag(
        workdir,
        f"""
        common = dict(working_directory="{workdir}", output_path="{workdir}/%j.out",
                      time_limit="5:00")
        prep = SlurmSubmitJobOperator(
            task_id="prep", wait_for_completion=False, name="{up}",
            script="#!/bin/bash\\nexit 4\\n", **common,
        )
        train = SlurmSubmitJobOperator(
            task_id="train", deferrable=False, poll_interval={poll}, retries=0, name="{down}",
            script="#!/bin/bash\\necho never\\n", afterok=[prep.output["job_id"]], **common,
        )
        prep >> train
        """,
    )
    proc = _start(dag_id, path)
    out, _ = proc.communicate(timeout=240)
    assert "'train': 'failed'" in out, out[-4000:]
    [upstream] = _jobs_named(client, up)
    [downstream] = _jobs_named(client, down)
    assert f"it depends on job {upstream}" in out, out[-4000:]
    assert "which ended FAILED" in out
    assert client.jobs.get(downstream).state.base == "CANCELLED"  # it would pend forever

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        failed_at = (
            session.query(TaskInstance.end_date)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.task_id == "train")
            .scalar()
        )
    ended = client.jobs.get(upstream).end_time
    submitted = client.jobs.get(downstream).submit_time
    assert failed_at is not None
    assert ended is not None
    assert submitted is not None
    # Within two poll intervals of the upstream's end, or of the downstream's submission when
    # the upstream had ended before it (as here: it exits at once); Slurm's times have whole
    # seconds: one more second of slack, and half a second for Airflow's failure handling.
    since = max(ended, submitted)
    delay = (failed_at - since).total_seconds()
    print(f"the downstream task failed {delay:.1f} s after {since} (poll {poll} s)")
    assert delay <= 2 * poll + 1.5, f"the downstream task failed {delay:.1f}s after {since}"


def test_dag_test_runs_with_a_connection_stored_in_the_metastore(
    slurm_conn: SlurmConn, workdir: Path, client: SlurmClient, run_dag: Callable[..., Any]
) -> None:
    """A ``Connection`` row in the metadata database (as the UI or ``airflow connections
    add`` stores it), no ``AIRFLOW_CONN_*`` variable: ``dag.test()`` finds it."""
    from airflow.models.connection import Connection
    from airflow.sdk import DAG
    from airflow.utils.session import create_session
    from slurm_airflow.operators.slurm import SlurmSubmitJobOperator

    conn_id = f"slurm_stored_{uuid.uuid4().hex[:8]}"
    assert not any(k.upper() == f"AIRFLOW_CONN_{conn_id.upper()}" for k in os.environ)
    host, port = slurm_conn.cluster.rest_url.removeprefix("http://").rsplit(":", 1)
    stored = Connection(
        conn_id=conn_id,
        conn_type="slurm",
        host=host,
        port=int(port),
        schema="http",
        login=slurm_conn.cluster.user_name,
        password=slurm_conn.token,
    )
    with create_session() as session:
        session.add(stored)
    name = f"af-stored-{uuid.uuid4().hex[:6]}"
    try:
        with DAG(f"stored_conn_{uuid.uuid4().hex[:8]}", schedule=None) as dag:
            SlurmSubmitJobOperator(
                task_id="job",
                slurm_conn_id=conn_id,
                deferrable=False,
                poll_interval=1,
                name=name,
                script="#!/bin/bash\necho from-a-stored-connection\n",
                working_directory=str(workdir),
                output_path=str(workdir / "%j.out"),
                time_limit="5:00",
            )
        dag_run = run_dag(dag)
    finally:
        with create_session() as session:
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()
    assert {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()} == {"job": "success"}
    [job_id] = _jobs_named(client, name)
    assert client.jobs.get(job_id).state.is_success
    assert (workdir / f"{job_id}.out").read_text() == "from-a-stored-connection\n"
