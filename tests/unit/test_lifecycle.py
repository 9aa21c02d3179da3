"""The job supervisor against the fake slurmrestd (whose clock the watcher's sleep drives):
attach by key, following, the dependency fail-fast, and the cancel policy."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_watch_fake import OPTIONS, watched

from slurm_core import (
    AsyncSlurmClient,
    JobFailedError,
    JobSpec,
    JobSpecError,
    SlurmClient,
    SlurmConnectionError,
)
from slurm_core.auth import StaticToken
from slurm_core.lifecycle import (
    CANCEL_POLICY,
    AsyncJobSupervisor,
    CancelReason,
    DependencyNeverSatisfiedError,
    JobSupervisor,
    reason_for,
)
from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import AsyncWatcher, JobEvent, WaitTimeoutError

WORKDIR = "/home/alice"


def spec(**fields: Any) -> JobSpec:
    values: dict[str, Any] = {"script": "#!/bin/sh\ntrue", "working_directory": WORKDIR}
    values.update(fields)
    return JobSpec(**values)


@pytest.fixture
def fake() -> FakeSlurmServer:
    return FakeSlurmServer(default_runtime=30)


@pytest.fixture
def client(fake: FakeSlurmServer) -> Iterator[SlurmClient]:
    with watched(fake) as c:
        yield c


def _state(client: SlurmClient, job_id: int) -> str:
    return str(client.jobs.get(job_id).state.base)


# --- the policy table -------------------------------------------------------------------------
def test_every_reason_has_one_row_and_the_rule_holds() -> None:
    assert set(CANCEL_POLICY) == set(CancelReason)
    cancels = {r for r, d in CANCEL_POLICY.items() if d.cancel}
    assert cancels == {
        CancelReason.ORCHESTRATOR_CANCELLED,
        CancelReason.ORCHESTRATOR_KILLED,
        CancelReason.TIMED_OUT,
        CancelReason.MARKED_FAILED,
        CancelReason.DEPENDENCY_NEVER_SATISFIED,
    }


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (asyncio.CancelledError(), CancelReason.ORCHESTRATOR_CANCELLED),
        (KeyboardInterrupt(), CancelReason.ORCHESTRATOR_KILLED),
        (WaitTimeoutError([1], 5.0), CancelReason.TIMED_OUT),
        (SystemExit(1), CancelReason.PROCESS_EXITED),
        (GeneratorExit(), CancelReason.PROCESS_EXITED),
        (SlurmConnectionError("down"), CancelReason.CONNECTION_LOST),
        (ValueError("bug"), CancelReason.SUPERVISOR_FAILED),
    ],
)
def test_exceptions_map_to_reasons(exc: BaseException, reason: CancelReason) -> None:
    assert reason_for(exc) is reason


def test_the_cancel_asyncio_run_sends_as_systemexit_ends_the_process_is_an_exit() -> None:
    """A process that exits (``sys.exit`` in a signal handler, a callback) while its loop
    follows a job: ``asyncio.run`` cancels the task on its way out. That is our process
    exiting, not a cancel (a real Prefect async flow cancelled its job this way)."""
    reasons: list[CancelReason] = []

    async def follows() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError as exc:
            reasons.append(reason_for(exc))
            raise

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.01, sys.exit, 3)
        await follows()

    with pytest.raises(SystemExit):
        asyncio.run(main())
    assert reasons == [CancelReason.PROCESS_EXITED]


# --- before anything is sent ------------------------------------------------------------------
def test_a_spec_without_working_directory_is_refused_before_sending(
    fake: FakeSlurmServer, client: SlurmClient
) -> None:
    with pytest.raises(JobSpecError) as caught:
        JobSupervisor(client, JobSpec(script="#!/bin/sh\ntrue"), key="k1")
    assert caught.value.field == "working_directory"
    assert ".working_directory(" in str(caught.value)
    assert "default_working_directory" in str(caught.value)
    assert fake.requests == []


def test_a_configured_default_working_directory_applies(client: SlurmClient) -> None:
    supervisor = JobSupervisor(
        client, JobSpec(script="#!/bin/sh\ntrue"), key="k2", default_working_directory="/scratch"
    )
    job_id = supervisor.start().job_id
    assert client.jobs.get(job_id).working_directory == "/scratch"


def test_attach_needs_a_key(fake: FakeSlurmServer, client: SlurmClient) -> None:
    builder = client.jobs.submit().command(["true"]).working_directory(WORKDIR)
    with pytest.raises(JobSpecError) as caught:
        builder.execute(attach=True)
    assert caught.value.field == "submission_key"
    assert fake.requests == []


@pytest.mark.parametrize("bad", [0, -1, True, "5"])
def test_a_bad_poll_interval_is_refused(client: SlurmClient, bad: object) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        JobSupervisor(client, spec(), poll_interval=bad)  # type: ignore[arg-type]


def test_a_bad_job_is_refused(client: SlurmClient) -> None:
    with pytest.raises(TypeError, match="JobSpec, a builder or a job id"):
        JobSupervisor(client, "42")  # type: ignore[arg-type]


# --- attach by key ----------------------------------------------------------------------------
def test_execute_attach_returns_the_users_job_with_the_key(
    fake: FakeSlurmServer, client: SlurmClient
) -> None:
    builder = client.jobs.submit().command(["sleep", "60"]).working_directory(WORKDIR)
    first = builder.copy().submission_key("run-7").execute(attach=True)
    again = builder.copy().submission_key("run-7").execute(attach=True)
    assert not first.attached
    assert again.attached
    assert again.job_id == first.job_id
    fake.advance(120)  # finished jobs count too
    done = builder.copy().submission_key("run-7").execute(attach=True)
    assert done.job_id == first.job_id
    assert len(client.jobs.list()) == 1


def test_another_users_job_with_the_key_is_not_adopted(fake: FakeSlurmServer) -> None:
    with fake.client(headers={"X-SLURM-USER-NAME": "bob"}) as bob:
        decoy = bob.jobs.submit().command(["true"]).submission_key("run-8").execute()
    with watched(fake) as alice:
        mine = JobSupervisor(alice, spec(), key="run-8").start()
        assert not mine.attached
        assert mine.job_id != decoy.job_id


def test_a_supervisor_attaches_and_reports_it(client: SlurmClient) -> None:
    first = JobSupervisor(client, spec(), key="run-9").run()
    again = JobSupervisor(client, spec(), key="run-9").run()
    assert again.attached
    assert again.job_id == first.job_id
    assert again.ok


def test_a_retry_after_a_real_failure_submits_anew_only_when_asked(
    fake: FakeSlurmServer, client: SlurmClient
) -> None:
    fake.set_job_outcome(name="flaky", state="FAILED", exit_code=2)
    failed = JobSupervisor(client, spec(name="flaky"), key="r1").run(raise_on_failure=False)
    assert failed.state == "FAILED"
    # default: the failed job is the job of this key (a re-attach, no new submission)
    again = JobSupervisor(client, spec(name="flaky"), key="r1").run(raise_on_failure=False)
    assert (again.job_id, again.attached) == (failed.job_id, True)
    # a retry after a real failure: a new job under the same key, later found by the key
    fake.set_job_outcome(name="fixed", state="COMPLETED", exit_code=0)
    retry = JobSupervisor(client, spec(name="fixed"), key="r1", reattach_failed=False).run()
    assert not retry.attached
    assert retry.job_id != failed.job_id
    latest = JobSupervisor(client, spec(name="fixed"), key="r1", reattach_failed=False).run()
    assert (latest.job_id, latest.attached) == (retry.job_id, True)  # completed: adopted
    assert len(client.jobs.list()) == 2


@pytest.mark.anyio
async def test_async_twin_resubmits_after_a_failure(fake: FakeSlurmServer) -> None:
    fake.set_job_outcome(name="flaky", state="FAILED", exit_code=2)
    async with fake.async_client() as client:
        first = await AsyncJobSupervisor(client, spec(name="flaky"), key="r2").start()
        fake.advance(120)
        retry = await AsyncJobSupervisor(
            client, spec(name="flaky"), key="r2", reattach_failed=False
        ).start()
        assert not retry.attached
        assert retry.job_id != first.job_id


# --- following --------------------------------------------------------------------------------
def test_run_returns_the_outcome_and_calls_on_event(client: SlurmClient) -> None:
    seen: list[JobEvent] = []
    result = JobSupervisor(client, spec(), key="f1", on_event=seen.append).run()
    assert result.state == "COMPLETED"
    assert result.exit_code == 0
    assert [e.type.value for e in seen] == ["PENDING", "STARTED", "COMPLETED"]


def test_a_failed_job_raises_or_reports(fake: FakeSlurmServer, client: SlurmClient) -> None:
    fake.set_job_outcome(name="bad", state="FAILED", exit_code=3)
    with pytest.raises(JobFailedError) as caught:
        JobSupervisor(client, spec(name="bad"), key="f2").run()
    assert caught.value.exit_code == 3
    result = JobSupervisor(client, spec(name="bad"), key="f2").run(raise_on_failure=False)
    assert result.state == "FAILED"
    assert not result.ok


def test_a_job_given_by_id_is_followed(client: SlurmClient) -> None:
    job_id = client.jobs.submit_spec(spec()).job_id
    result = JobSupervisor(client, job_id).run()
    assert result.job_id == job_id
    assert result.ok


# --- dependencies -----------------------------------------------------------------------------
def test_afterok_upstream_failure_fails_fast_within_two_polls(
    fake: FakeSlurmServer, client: SlurmClient
) -> None:
    fake.set_job_outcome(name="up", state="FAILED", exit_code=2, runtime=90)
    up = client.jobs.submit_spec(spec(name="up")).job_id
    supervisor = JobSupervisor(client, spec(dependency=f"afterok:{up}"), key="d1", poll_interval=5)
    with pytest.raises(DependencyNeverSatisfiedError) as caught:
        supervisor.run()
    err = caught.value
    assert err.upstream_job_id == up
    assert err.upstream_state == "FAILED"
    assert err.upstream_exit_code == 2
    assert f"job {up}" in str(err)
    ended = client.jobs.get(up).end_time
    assert ended is not None
    assert (fake.now - ended).total_seconds() <= 2 * 5
    assert supervisor.job_id is not None
    assert _state(client, supervisor.job_id) == "CANCELLED"  # it would pend forever


def test_slurmctlds_reason_fails_fast_for_a_job_given_by_id(
    fake: FakeSlurmServer, client: SlurmClient
) -> None:
    fake.set_job_outcome(name="up", state="FAILED", exit_code=1, runtime=10)
    up = client.jobs.submit_spec(spec(name="up")).job_id
    down = client.jobs.submit_spec(spec(dependency=f"afterok:{up}")).job_id
    with pytest.raises(DependencyNeverSatisfiedError) as caught:
        JobSupervisor(client, down, poll_interval=5).run()
    assert caught.value.upstream_job_id == up
    assert caught.value.upstream_state == "FAILED"
    assert caught.value.dependency is not None
    assert _state(client, down) == "CANCELLED"


def test_a_satisfied_afterok_chain_runs(client: SlurmClient) -> None:
    up = client.jobs.submit_spec(spec(name="up")).job_id
    result = JobSupervisor(client, spec(dependency=f"afterok:{up}"), key="d3").run()
    assert result.ok


def test_an_or_dependency_is_not_given_up_for_one_failure(
    fake: FakeSlurmServer, client: SlurmClient
) -> None:
    fake.set_job_outcome(name="bad", state="FAILED", runtime=10)
    bad = client.jobs.submit_spec(spec(name="bad")).job_id
    good = client.jobs.submit_spec(spec(name="good")).job_id
    result = JobSupervisor(client, spec(dependency=f"afterok:{bad}?afterok:{good}"), key="d4").run()
    assert result.ok


# --- the cancel policy ------------------------------------------------------------------------
def test_cancel_follows_the_policy_once(client: SlurmClient) -> None:
    supervisor = JobSupervisor(client, spec(script="#!/bin/sh\nsleep 600"), key="c1")
    assert supervisor.cancel(CancelReason.ORCHESTRATOR_KILLED) is False  # nothing submitted
    job_id = supervisor.start().job_id
    assert supervisor.cancel(CancelReason.PROCESS_EXITED) is False
    assert supervisor.cancel(CancelReason.CONNECTION_LOST) is False
    assert _state(client, job_id) == "PENDING"
    assert supervisor.cancel("marked_failed") is True
    assert supervisor.cancel(CancelReason.ORCHESTRATOR_KILLED) is False  # once
    assert _state(client, job_id) == "CANCELLED"


@pytest.mark.parametrize(
    ("exc", "cancelled"),
    [(SystemExit(1), False), (KeyboardInterrupt(), True), (RuntimeError("bug"), False)],
)
def test_an_exception_that_ends_run_applies_the_policy(
    client: SlurmClient, exc: BaseException, cancelled: bool
) -> None:
    def boom(_: JobEvent) -> None:
        raise exc

    supervisor = JobSupervisor(client, spec(), key=f"c2-{type(exc).__name__}", on_event=boom)
    with pytest.raises(type(exc)):
        supervisor.run()
    assert supervisor.job_id is not None
    assert (_state(client, supervisor.job_id) == "CANCELLED") is cancelled


def test_classify_lets_an_adapter_name_its_orchestrators_exceptions(client: SlurmClient) -> None:
    class TaskMarkedFailed(Exception):
        pass

    def boom(_: JobEvent) -> None:
        raise TaskMarkedFailed

    supervisor = JobSupervisor(
        client,
        spec(),
        key="c3",
        on_event=boom,
        classify=lambda e: CancelReason.MARKED_FAILED if isinstance(e, TaskMarkedFailed) else None,
    )
    with pytest.raises(TaskMarkedFailed):
        supervisor.run()
    assert supervisor.job_id is not None
    assert _state(client, supervisor.job_id) == "CANCELLED"


def test_a_timeout_cancels(fake: FakeSlurmServer, client: SlurmClient) -> None:
    fake.set_job_outcome(name="long", runtime=3600)
    supervisor = JobSupervisor(client, spec(name="long"), key="c4")
    with pytest.raises(WaitTimeoutError):
        supervisor.run(timeout=30)
    assert supervisor.job_id is not None
    assert _state(client, supervisor.job_id) == "CANCELLED"


def test_stopping_to_follow_leaves_the_job(fake: FakeSlurmServer, client: SlurmClient) -> None:
    fake.set_job_outcome(name="long", runtime=3600)
    supervisor = JobSupervisor(client, spec(name="long"), key="c5")
    for _ in supervisor.follow():
        break
    assert supervisor.job_id is not None
    assert _state(client, supervisor.job_id) in ("PENDING", "RUNNING")


# --- the async twin ---------------------------------------------------------------------------
def async_watched(fake: FakeSlurmServer) -> AsyncSlurmClient:
    client = fake.async_client()
    now = [0.0]

    async def sleep(delay: float) -> None:
        now[0] += delay
        fake.advance(delay)
        await anyio.sleep(0.01)  # a cancel from outside can land between polls

    client.jobs._watcher = AsyncWatcher(
        client._core, client._http, OPTIONS, sleep=sleep, clock=lambda: now[0]
    )
    return client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_twin_attaches_follows_and_fails_fast(fake: FakeSlurmServer) -> None:
    fake.set_job_outcome(name="up", state="FAILED", exit_code=5, runtime=20)
    async with async_watched(fake) as client:
        first = await AsyncJobSupervisor(client, spec(), key="a1").run()
        again = AsyncJobSupervisor(client, spec(), key="a1")
        assert (await again.run()).attached
        assert again.job_id == first.job_id
        up = (await client.jobs.submit_spec(spec(name="up"))).job_id
        down = AsyncJobSupervisor(client, spec(dependency=f"afterok:{up}"), key="a2")
        with pytest.raises(DependencyNeverSatisfiedError) as caught:
            await down.run()
        assert caught.value.upstream_job_id == up
        assert down.job_id is not None
        assert str((await client.jobs.get(down.job_id)).state.base) == "CANCELLED"


@pytest.mark.anyio
async def test_async_task_cancel_cancels_the_job_systemexit_does_not(
    fake: FakeSlurmServer,
) -> None:
    fake.set_job_outcome(name="long", runtime=3600)
    async with async_watched(fake) as client:
        supervisor = AsyncJobSupervisor(client, spec(name="long"), key="a3")
        with anyio.move_on_after(0.5):
            await supervisor.run()  # the orchestrator cancels the task
        assert supervisor.job_id is not None
        assert str((await client.jobs.get(supervisor.job_id)).state.base) == "CANCELLED"

        def leave(_: JobEvent) -> None:
            raise SystemExit(0)

        exiting = AsyncJobSupervisor(client, spec(name="long"), key="a4", on_event=leave)
        with pytest.raises(SystemExit):
            await exiting.run()
        assert exiting.job_id is not None
        # Not cancelled: pending still or, on a loaded machine, started by the fake meanwhile.
        assert not (await client.jobs.get(exiting.job_id)).state.is_finished


def test_the_documented_table_is_the_policy() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "lifecycle.md"
    text = doc.read_text().split("<!-- cancel-policy", 1)[1]
    rows = re.findall(r"^\| `([A-Z_]+)` \| (yes|no) \|", text, re.M)
    assert {name: answer == "yes" for name, answer in rows} == {
        reason.name: decision.cancel for reason, decision in CANCEL_POLICY.items()
    }


# --- an interrupt while the submission is on the wire ---------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize("reason_cancels", [True, False])
async def test_a_task_cancelled_mid_submit_still_cancels_the_job_it_created(
    fake: FakeSlurmServer, reason_cancels: bool
) -> None:
    # slurmctld creates the job 1 s after the request arrives; the task is cancelled before.
    fake.set_job_outcome(name="mid", runtime=3600)
    fake.delay_next(1.0, path=r"/job/submit$")
    classify = None if reason_cancels else (lambda _: CancelReason.PROCESS_EXITED)
    with fake.serve() as url:
        async with AsyncSlurmClient(url, auth=StaticToken("t", user_name=fake.app.user)) as c:
            supervisor = AsyncJobSupervisor(c, spec(name="mid"), key="m1", classify=classify)
            with anyio.move_on_after(0.3):
                await supervisor.run()
            await anyio.sleep(1.2)  # the request is processed either way
    (job,) = [j for j in fake.jobs() if j.name == "mid"]
    assert supervisor.job_id == (job.job_id if reason_cancels else None)
    assert str(job.state.base) == ("CANCELLED" if reason_cancels else "PENDING")


def test_a_sync_cancel_during_submit_finds_the_job_by_its_key(fake: FakeSlurmServer) -> None:
    fake.set_job_outcome(name="mid", runtime=3600)
    fake.delay_next(1.0, path=r"/job/submit$")
    with fake.serve() as url, SlurmClient(url, auth=StaticToken("t", user_name=fake.app.user)) as c:
        supervisor = JobSupervisor(c, spec(name="mid"), key="m2")
        starting = threading.Thread(target=supervisor.start)
        starting.start()
        time.sleep(0.3)  # the request is with slurmctld, its answer not back
        assert supervisor.cancel(CancelReason.ORCHESTRATOR_KILLED) is True
        starting.join()
    (job,) = [j for j in fake.jobs() if j.name == "mid"]
    assert str(job.state.base) == "CANCELLED"
