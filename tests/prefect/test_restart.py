"""SIGKILL of ``serve`` and of the flow-run process it started, then a restart: one job.

A real ``serve`` process (``prefect_flows.py``) against the test's Prefect server and the
real cluster. After both processes are killed the flow run stays "Running" and its job
runs on (nothing cancels it: our process merely died). What brings the run back is
Prefect's own machinery, as docs/prefect.md sets it up: the flow run's heartbeats stop, a
proactive automation puts the unresponsive run back to Scheduled, and the restarted
``serve`` runs it again: the task re-attaches to the job by its key (flow run, task, call)
instead of submitting a second one, and the run completes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import prefect_flows
import pytest
from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.settings import get_current_settings
from prefect_helpers import eventually, flow_run_logs
from slurm_prefect import SlurmCredentials

from slurm_core import AsyncSlurmClient


@pytest.fixture(autouse=True)
def _one_release(slurm_cluster: Any) -> None:
    """Slow scenarios, the same on every release: run once (on 24.11)."""
    if slurm_cluster.release != "24.11":
        pytest.skip("a slow orchestrator scenario, run on 24.11 only")


pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent


def _children(pid: int) -> list[int]:
    """``pid``'s descendants (from /proc), whatever session they started."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        todo = [child for child, parent in parents.items() if parent in todo]
        found += todo
    return found


@pytest.fixture
def serve() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``serve`` processes with ``start(name)``; every one is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        for pid in [*_children(process.pid), process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()


# Prefect's floor for flow-run heartbeats; the automation waits a little longer than one.
HEARTBEAT = 30
SILENCE = 45


def _start(started: list[subprocess.Popen[bytes]], name: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PREFECT_API_URL=str(get_current_settings().api.url),
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY=str(HEARTBEAT),
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "prefect_flows.py", name], cwd=HERE, env=env, stdout=out, stderr=out
        )
    started.append(process)
    return process


def _reschedule_unresponsive_runs(deployment_id: object) -> Automation:
    """docs/prefect.md's automation, for this test's deployment only and a shorter silence."""
    return Automation(
        name=f"reschedule-unresponsive-{deployment_id}",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification(
                {"prefect.resource.id": f"prefect.deployment.{deployment_id}"}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=SILENCE),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.SCHEDULED,
                message=f"No heartbeat for {SILENCE} s: rescheduled",
                force=True,
            )
        ],
    )


async def _jobs_named(client: AsyncSlurmClient, name: str) -> list[int]:
    return [j.job_id for j in await client.jobs.list(user="alice") if j.name == name]


async def test_sigkill_of_serve_and_the_flow_then_a_restart_gives_one_job(
    serve: list[subprocess.Popen[bytes]],
    cluster_credentials: SlurmCredentials,
    work_dir: Path,
    tmp_path: Path,
) -> None:
    credentials = cluster_credentials.model_copy(update={"poll_interval": 1.0})
    await credentials.save(prefect_flows.CREDENTIALS_BLOCK, overwrite=True)
    name = f"restart-{uuid.uuid4().hex[:6]}"
    log = tmp_path / "serve.log"
    first = _start(serve, name, log)
    async with get_client() as prefect, credentials.get_async_client() as client:

        async def deployed() -> object | None:
            try:
                return (await prefect.read_deployment_by_name(f"restartable/{name}")).id
            except Exception:
                return None

        deployment_id = await eventually(deployed, "serve to register the deployment", 120)
        automation = await _reschedule_unresponsive_runs(deployment_id).acreate()
        flow_run = await prefect.create_flow_run_from_deployment(
            deployment_id,  # type: ignore[arg-type]
            parameters={"work_dir": str(work_dir), "name": name},
        )

        async def running() -> int | None:
            for job_id in await _jobs_named(client, name):
                if (await client.jobs.get(job_id)).state.is_running:
                    return job_id
            return None

        job_id = await eventually(running, "the job to run", within=180)
        for pid in [*_children(first.pid), first.pid]:  # serve and the flow-run process
            os.kill(pid, signal.SIGKILL)
        first.wait()
        state = (await prefect.read_flow_run(flow_run.id)).state
        assert state is not None
        assert state.type is StateType.RUNNING
        assert (await client.jobs.get(job_id)).state.is_running  # not cancelled: we only died

        _start(serve, name, log)  # serve restarted (by hand here; systemd, k8s... in life)

        async def ended() -> StateType | None:
            state = (await prefect.read_flow_run(flow_run.id)).state
            return state.type if state is not None and state.is_final() else None

        try:
            final = await eventually(ended, "the rescheduled run to end", within=300)
            history = await prefect.read_flow_run_states(flow_run.id)
        finally:
            await automation.adelete()
        logs = await flow_run_logs(flow_run.id)
        # Prefect's automation, not the test, put the run back.
        assert any(
            s.type is StateType.SCHEDULED and s.message and "No heartbeat" in s.message
            for s in history
        ), [(s.type, s.message) for s in history]
        assert final is StateType.COMPLETED, (log.read_text()[-3000:], logs)
        assert await _jobs_named(client, name) == [job_id]  # one job
        assert f"Re-attached to SLURM job {job_id}" in logs
        assert (await client.jobs.get(job_id)).state.base == "COMPLETED"
        assert (work_dir / f"{name}-{job_id}.out").read_text() == "done\n"
