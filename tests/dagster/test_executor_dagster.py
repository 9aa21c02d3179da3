"""``slurm_executor`` with the real Dagster (``execute_job`` on a real instance) and real
Slurm: each step is its own job, terminate cancels, a failing op's own traceback and retry
policy reach the event log.

The instance lives on the cluster's shared directory, where each step's job reads and
writes it (sqlite run and event storage, compute logs); the jobs run this interpreter,
shared into the cluster's root. Dagster runs here as root, so the jobs run as root too
(the admin token): sqlite files are written by both sides, and sqlite creates them 0644.
A site would run the jobs as the user Dagster runs as, or use a Postgres instance.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster_helpers import wait_for
from slurm_dagster import SlurmResource

from slurm_core.models import JobBaseState
from slurm_core.testing.cluster import LocalSlurmCluster

JOBS = str(Path(__file__).with_name("executor_jobs.py"))


def _job(name: str) -> ReconstructableJob:
    # By file: the step's job loads it by path (the test directory is not on its sys.path).
    return ReconstructableJob.for_file(JOBS, name)


@pytest.fixture
def shared(slurm_cluster: LocalSlurmCluster) -> Path:
    slurm_cluster.share_python()
    base = slurm_cluster.shared_dir / "dagster-executor-tests" / uuid.uuid4().hex[:10]
    (base / "home").mkdir(parents=True)
    (base / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return base


@pytest.fixture
def instance(shared: Path) -> Iterator[DagsterInstance]:
    with DagsterInstance.local_temp(tempdir=str(shared / "home")) as inst:
        yield inst


def _run_config(cluster: LocalSlurmCluster, shared: Path, **options: Any) -> dict[str, Any]:
    token = shared / "token"  # a file, so no secret is in the run's stored config
    token.write_text(cluster.admin_token())
    token.chmod(0o600)
    config = {
        "slurm": {"url": cluster.rest_url, "token_file": str(token), "user_name": "root"},
        "workspace": str(shared),
        "job_options": {"time_limit": "5:00", "memory_per_cpu": "100M"},
        **options,
    }
    return {"execution": {"config": config}}


def _job_ids(instance: DagsterInstance, run_id: str) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.STEP_WORKER_STARTING
    ).records:
        event = record.event_log_entry.dagster_event
        assert event is not None
        assert event.step_key is not None
        meta = event.engine_event_data.metadata["SLURM job id"]
        ids.setdefault(event.step_key, []).append(str(meta.value))
    return ids


def _one_release(cluster: LocalSlurmCluster) -> None:
    if cluster.release != "24.11":
        pytest.skip("a slow orchestrator scenario, run on 24.11 only")


def test_three_ops_run_as_three_jobs(
    slurm_cluster: LocalSlurmCluster, shared: Path, instance: DagsterInstance
) -> None:
    with execute_job(
        _job("three_ops"), instance=instance, run_config=_run_config(slurm_cluster, shared)
    ) as result:
        assert result.success
        seen = result.output_for_node("third")  # each op's own $SLURM_JOB_ID
    ids = _job_ids(instance, result.run_id)
    assert sorted(ids) == ["first", "second", "third"]
    assert [str(i) for i in seen] == [ids["first"][0], ids["second"][0], ids["third"][0]]
    assert len(set(seen)) == 3
    # the op's context.log and print() reached Dagster from the job
    logs = [
        r.event_log_entry.user_message
        for r in instance.get_records_for_run(result.run_id).records
        if r.event_log_entry.dagster_event is None
    ]
    assert f"second runs in SLURM job {ids['second'][0]}" in logs
    with SlurmResource(
        url=slurm_cluster.rest_url, token=slurm_cluster.admin_token(), user_name="root"
    ).get_client() as client:
        third = client.jobs.get(int(ids["third"][0]))
    assert third.time_limit is not None
    assert third.time_limit.total_seconds() == 180
    assert third.name == "dagster-third"


def test_a_failing_op_shows_its_traceback_and_is_retried(
    slurm_cluster: LocalSlurmCluster, shared: Path, instance: DagsterInstance
) -> None:
    _one_release(slurm_cluster)
    result = execute_job(
        _job("failing"),
        instance=instance,
        run_config=_run_config(slurm_cluster, shared),
        raise_on_error=False,
    )
    assert not result.success
    ids = _job_ids(instance, result.run_id)
    assert len(ids["flaky"]) == 2
    assert len(set(ids["flaky"])) == 2
    retried = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retried) == 1
    failure = result.failure_data_for_node("flaky")
    assert failure is not None
    assert failure.error is not None
    error = failure.error.cause or failure.error
    assert error.cls_name == "OpBroke"
    assert f"attempt 1 broke in job {ids['flaky'][1]}" in error.message
    assert "_broken_helper" in "".join(error.stack)


def test_terminating_the_run_cancels_its_running_job(
    slurm_cluster: LocalSlurmCluster, shared: Path, instance: DagsterInstance
) -> None:
    _one_release(slurm_cluster)
    client = SlurmResource(
        url=slurm_cluster.rest_url, token=slurm_cluster.admin_token(), user_name="root"
    ).get_client()
    started: list[int] = []
    returned = threading.Event()  # execute_job is over: a SIGINT now would stop pytest
    sending = threading.Lock()

    def terminate_when_running() -> None:
        def running() -> bool:
            if returned.is_set():
                return True
            runs = instance.get_runs()
            if not runs:
                return False
            ids = _job_ids(instance, runs[0].run_id).get("sleeper")
            if not ids:
                return False
            started[:] = [int(ids[0])]
            return client.jobs.get(started[0]).state.base is JobBaseState.RUNNING

        try:
            wait_for(running, timeout=120)
        finally:  # terminate even if the job never ran, so the test cannot hang
            with sending:  # ... but only while the run still goes
                if not returned.is_set():
                    instance.report_run_canceling(instance.get_runs()[0])  # "Terminate"
                    os.kill(os.getpid(), signal.SIGINT)  # ... and the run process's signal

    # Dagster takes SIGINT over while the run goes; outside it, a stray one is only recorded
    # (pytest's own handler would end the whole session).
    stray: list[int] = []
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, lambda signo, _frame: stray.append(signo))
    thread = threading.Thread(target=terminate_when_running, daemon=True)
    thread.start()
    try:
        result = execute_job(
            _job("sleepy"),
            instance=instance,
            run_config=_run_config(slurm_cluster, shared),
            raise_on_error=False,
        )
    finally:
        with sending:
            returned.set()
        thread.join(130)
        time.sleep(0.1)  # a signal sent just before runs its handler (ours) now
        for signo, handler in saved.items():  # Dagster leaves SIGTERM on SIGINT's handler
            signal.signal(signo, handler)
    assert not stray, "SIGINT came after the run had ended"
    assert not result.success
    with client:
        wait_for(lambda: client.jobs.get(started[0]).state.base is JobBaseState.CANCELLED, 60)
    records = instance.get_records_for_run(result.run_id).records
    messages = [
        r.event_log_entry.dagster_event.message for r in records if r.event_log_entry.dagster_event
    ]
    assert f"Cancelling SLURM job {started[0]} of step sleeper" in messages
