"""FakeSlurmServer behind the real clients: the job state machine on the clock, resources,
dependencies, arrays, hold/release/requeue/update/cancel, accounting and purging.

Every test runs with the sync and the async client (``mode``) on one version; the
version-sensitive ones run on every version.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from slurm_core import (
    AsyncSlurmClient,
    InvalidRequestError,
    JobBaseState,
    NotFoundError,
    PermissionDeniedError,
    SlurmClient,
    UnsupportedOperationError,
)
from slurm_core._versions import CLIENT_VERSIONS
from slurm_core.jobs import JobBuilder
from slurm_core.models import Job
from slurm_core.testing import FakeNode, FakePartition, FakeSlurmServer

pytestmark = pytest.mark.anyio
T = TypeVar("T")


class Api:
    """One face over SlurmClient/AsyncSlurmClient: ``await api(lambda c: c.jobs.get(1))``."""

    def __init__(self, fake: FakeSlurmServer, mode: str, **options: Any) -> None:
        self.fake = fake
        self.client: SlurmClient | AsyncSlurmClient = (
            fake.client(**options) if mode == "sync" else fake.async_client(**options)
        )

    async def __call__(self, fn: Callable[[Any], T | Awaitable[T]]) -> T:
        result = fn(self.client)
        if inspect.isawaitable(result):
            return await result
        return result

    async def submit(self, build: Callable[[Any], Any] = lambda b: b) -> int:
        builder = build(self.client.jobs.submit().command(["sleep", "10"]))
        result = builder.execute()
        if inspect.isawaitable(result):
            result = await result
        return int(result.job_id)

    async def get(self, job_id: int | str) -> Job:
        return await self(lambda c: c.jobs.get(job_id))

    async def close(self) -> None:
        result = self.client.close()
        if inspect.isawaitable(result):
            await result


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def make_api(mode: str) -> AsyncIterator[Callable[..., Api]]:
    apis: list[Api] = []

    def make(fake: FakeSlurmServer | None = None, **options: Any) -> Api:
        api = Api(fake or FakeSlurmServer(), mode, **options)
        apis.append(api)
        return api

    yield make
    for api in apis:
        await api.close()


# ------------------------------------------------------------------ lifecycle -----------
@pytest.mark.parametrize("version", CLIENT_VERSIONS)
async def test_pending_running_completed_on_the_clock(
    make_api: Callable[..., Api], version: str
) -> None:
    api = make_api(FakeSlurmServer(api_version=version, default_runtime=30))
    job_id = await api.submit(lambda b: b.name("hello").partition("debug"))
    job = await api.get(job_id)
    assert job.state.base is JobBaseState.PENDING
    assert job.name == "hello"
    api.fake.advance(0)  # the scheduler runs when the clock does
    job = await api.get(job_id)
    assert job.state.base is JobBaseState.RUNNING
    assert job.nodes == "node1"
    assert job.start_time is not None
    api.fake.advance(29)
    assert (await api.get(job_id)).state.base is JobBaseState.RUNNING
    api.fake.advance(1)
    job = await api.get(job_id)
    assert job.state.is_success
    assert job.exit_code is not None
    assert job.exit_code.return_code == 0
    assert job.end_time is not None
    assert job.start_time is not None
    assert job.end_time - job.start_time == timedelta(seconds=30)
    assert job == api.fake.job(job_id).model_copy(update={"raw": job.raw})


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
async def test_outcome_failed_with_exit_code(make_api: Callable[..., Api], version: str) -> None:
    api = make_api(FakeSlurmServer(api_version=version))
    job_id = await api.submit()
    api.fake.set_job_outcome(job_id, state="FAILED", exit_code=3, runtime=5)
    api.fake.advance(10)
    job = await api.get(job_id)
    assert job.state.base is JobBaseState.FAILED
    assert job.exit_code is not None
    assert job.exit_code.return_code == 3


async def test_outcome_by_name_and_timeout(make_api: Callable[..., Api]) -> None:
    api = make_api(FakeSlurmServer())
    api.fake.set_job_outcome(name="long-*", runtime=timedelta(hours=2))
    job_id = await api.submit(lambda b: b.name("long-1").time_limit("30"))
    api.fake.advance(timedelta(hours=1))
    job = await api.get(job_id)
    assert job.state.base is JobBaseState.TIMEOUT
    assert job.end_time is not None
    assert job.start_time is not None
    assert job.end_time - job.start_time == timedelta(minutes=30)


async def test_resources_queue_jobs_and_fit_nodes(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(
        nodes=[FakeNode("a", cpus=4), FakeNode("b", cpus=4, gpus=2)],
        partitions=[FakePartition("p", ["a", "b"], default=True, max_time=None)],
        default_runtime=100,
    )
    api = make_api(fake)
    big = await api.submit(lambda b: b.cpus_per_task(4))
    gpu = await api.submit(lambda b: b.gpus(2))
    waits = await api.submit(lambda b: b.cpus_per_task(4))
    fake.advance(1)
    assert (await api.get(big)).nodes == "a"
    assert (await api.get(gpu)).nodes == "b"
    waiting = await api.get(waits)
    assert (waiting.state.base, waiting.state_reason) == (JobBaseState.PENDING, "Resources")
    fake.advance(100)
    assert (await api.get(waits)).state.base is JobBaseState.RUNNING
    with pytest.raises(InvalidRequestError) as info:  # more CPUs than any node has
        await api.submit(lambda b: b.cpus_per_task(64))
    assert info.value.error_numbers == [2014]
    with pytest.raises(InvalidRequestError) as info:
        await api.submit(lambda b: b.partition("nope"))
    assert info.value.error_numbers == [2000]


# --------------------------------------------------------------- dependencies -----------
async def test_dependencies(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(default_runtime=10)
    api = make_api(fake)
    ok = await api.submit()
    bad = await api.submit()
    fake.set_job_outcome(bad, state="FAILED", exit_code=1)
    after_ok = await api.submit(lambda b: b.depends_on(afterok=[ok]))
    after_bad = await api.submit(lambda b: b.depends_on(afterok=[bad]))
    not_ok = await api.submit(lambda b: b.depends_on(afternotok=[bad]))
    any_ = await api.submit(lambda b: b.depends_on(afterany=[bad]))
    either = await api.submit(lambda b: b.depends_on(f"afterok:{bad}?afterok:{ok}"))
    fake.advance(1)
    job = await api.get(after_ok)
    assert (job.state.base, job.state_reason) == (JobBaseState.PENDING, "Dependency")
    assert job.dependency == f"afterok:{ok}(unfulfilled)"
    fake.advance(10)  # ok and bad end at t=11; their dependents start at once
    for job_id in (after_ok, not_ok, any_, either):
        assert (await api.get(job_id)).state.base is JobBaseState.RUNNING, job_id
    never = await api.get(after_bad)
    assert (never.state.base, never.state_reason) == (
        JobBaseState.PENDING,
        "DependencyNeverSatisfied",
    )
    assert never.dependency == f"afterok:{bad}(failed)"
    fake.advance(3600)
    assert (await api.get(after_bad)).state.base is JobBaseState.PENDING
    with pytest.raises(Exception, match=r"2038|dependency"):  # unknown job: refused
        await api.submit(lambda b: b.depends_on(afterok=[9999]))


async def test_singleton_runs_one_at_a_time(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(default_runtime=10)
    api = make_api(fake)
    first = await api.submit(lambda b: b.name("solo").depends_on(singleton=True))
    second = await api.submit(lambda b: b.name("solo").depends_on(singleton=True))
    fake.advance(1)
    assert (await api.get(first)).state.base is JobBaseState.RUNNING
    assert (await api.get(second)).state_reason == "Dependency"
    fake.advance(10)
    assert (await api.get(second)).state.base is JobBaseState.RUNNING


# --------------------------------------------------------------------- arrays -----------
async def test_array_tasks_and_throttle(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(default_runtime=10)
    api = make_api(fake)
    array_id = await api.submit(lambda b: b.array("0-3%2"))
    fake.advance(1)
    tasks = await api(lambda c: c.jobs.list())
    assert [(j.array_job_id, j.array_task_id) for j in tasks] == [(array_id, t) for t in range(4)]
    states = [str(j.state.base) for j in tasks]
    assert states == ["RUNNING", "RUNNING", "PENDING", "PENDING"]
    assert tasks[2].state_reason == "JobArrayTaskLimit"
    task2 = await api.get(f"{array_id}_2")
    assert task2.array_task_id == 2
    fake.advance(20)
    after = await api.get(f"{array_id}_3")
    assert after.state.is_success


# --------------------------------------------------- hold, release, update, cancel -------
async def test_hold_release_update_cancel(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(default_runtime=100)
    api = make_api(fake)
    job_id = await api.submit()
    await api(lambda c: c.jobs.hold(job_id))
    fake.advance(5)
    held = await api.get(job_id)
    assert (held.state.base, held.state_reason, held.hold) == (
        JobBaseState.PENDING,
        "JobHeldUser",
        True,
    )
    await api(lambda c: c.jobs.release(job_id))
    await api(lambda c: c.jobs.update(job_id, time_limit=timedelta(minutes=7), comment="x"))
    fake.advance(1)
    job = await api.get(job_id)
    assert job.state.base is JobBaseState.RUNNING
    assert (job.time_limit, job.comment) == (timedelta(minutes=7), "x")
    await api(lambda c: c.jobs.cancel(job_id, signal="USR1"))
    assert fake.signals(job_id) == ["USR1"]
    assert (await api.get(job_id)).state.base is JobBaseState.RUNNING
    await api(lambda c: c.jobs.cancel(job_id))
    cancelled = await api.get(job_id)
    assert cancelled.state.base is JobBaseState.CANCELLED
    assert cancelled.exit_code is not None
    assert cancelled.exit_code.signal == 15
    await api(lambda c: c.jobs.cancel(job_id))  # again: harmless, as on slurmrestd
    with pytest.raises(NotFoundError):
        await api.get(4242)


@pytest.mark.parametrize("version", ["v0.0.42", "v0.0.45"])
async def test_requeue_only_where_the_version_has_it(
    make_api: Callable[..., Api], version: str
) -> None:
    fake = FakeSlurmServer(api_version=version, default_runtime=5)
    api = make_api(fake)
    job_id = await api.submit()
    fake.advance(10)
    if version == "v0.0.42":
        with pytest.raises(UnsupportedOperationError):
            await api(lambda c: c.jobs.requeue(job_id))
        return
    await api(lambda c: c.jobs.requeue(job_id))
    job = await api.get(job_id)
    assert (job.state.base, "REQUEUED" in job.state.flags) == (JobBaseState.PENDING, True)
    fake.advance(1)
    assert (await api.get(job_id)).state.base is JobBaseState.RUNNING


async def test_cancelling_another_users_job_is_refused(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    owner = make_api(fake, headers={"X-SLURM-USER-NAME": "alice"})
    other = make_api(fake, headers={"X-SLURM-USER-NAME": "bob"})
    job_id = await owner.submit()
    with pytest.raises(PermissionDeniedError):
        await other(lambda c: c.jobs.cancel(job_id))
    assert (await owner.get(job_id)).user_name == "alice"


# ------------------------------------------------------------------ nodes -----------------
async def test_drained_nodes_take_no_jobs_and_need_an_admin(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    admin = make_api(fake, headers={"X-SLURM-USER-NAME": "root"})
    user = make_api(fake)
    with pytest.raises(PermissionDeniedError):
        await user(lambda c: c.nodes.update("node1", state="DRAIN", reason="x"))
    await admin(lambda c: c.nodes.update("node1", state="DRAIN", reason="disk"))
    node = await user(lambda c: c.nodes.get("node1"))
    assert node.is_drained
    assert node.reason == "disk"
    job_id = await user.submit()
    fake.advance(1)
    assert (await user.get(job_id)).nodes == "node2"
    assert (await user(lambda c: c.nodes.get("node2"))).state in ("MIXED", "ALLOCATED")


# ------------------------------------------------------------- accounting ----------------
async def test_accounting_and_purged_jobs(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer(default_runtime=10, min_job_age=60)
    api = make_api(fake)
    job_id = await api.submit(lambda b: b.name("acct"))
    fake.advance(15)
    (record,) = await api(lambda c: c.accounting.jobs())
    assert (record.job_id, record.name, str(record.state.base)) == (job_id, "acct", "COMPLETED")
    assert record.elapsed == timedelta(seconds=10)
    assert [s.step_id for s in record.steps] == ["batch"]
    fake.advance(120)  # slurmctld forgets it; the client falls back to the database
    assert await api(lambda c: c.jobs.list()) == []
    job = await api.get(job_id)
    assert (job.source, job.state.is_success) == ("accounting", True)


async def test_builder_is_real_and_the_fake_keeps_what_was_submitted(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(FakeSlurmServer())
    builder: Any = api.client.jobs.submit()
    assert isinstance(builder, JobBuilder) or type(builder).__name__ == "AsyncJobBuilder"
    job_id = await api.submit(lambda b: b.environment({"FOO": "bar"}))
    assert api.fake.script(job_id).startswith("#!/bin/bash")
    assert api.fake.environment(job_id)["FOO"] == "bar"


async def test_only_an_admin_may_raise_a_time_limit(make_api: Callable[..., Api]) -> None:
    fake = FakeSlurmServer()
    user = make_api(fake)
    admin = make_api(fake, headers={"X-SLURM-USER-NAME": "root"})
    job_id = await user.submit(lambda b: b.time_limit("10"))
    await user(lambda c: c.jobs.update(job_id, time_limit=5))  # lowering is fine
    with pytest.raises(PermissionDeniedError):
        await user(lambda c: c.jobs.update(job_id, time_limit=20))
    await admin(lambda c: c.jobs.update(job_id, time_limit=20))
    assert (await user.get(job_id)).time_limit == timedelta(minutes=20)


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42"])
async def test_accounting_time_window(make_api: Callable[..., Api], version: str) -> None:
    """v0.0.38 sends the window as now-<seconds>, later versions as epochs: both filter."""
    fake = FakeSlurmServer(version, default_runtime=10)
    api = make_api(fake)
    old = await api.submit()
    fake.advance(3600)
    new = await api.submit()
    fake.advance(20)
    since = fake.now - timedelta(minutes=10)
    recent = await api(lambda c: c.accounting.jobs(start=since))
    assert [j.job_id for j in recent] == [new]
    everything = await api(lambda c: c.accounting.jobs(start=fake.now - timedelta(days=1)))
    assert [j.job_id for j in everything] == [old, new]
