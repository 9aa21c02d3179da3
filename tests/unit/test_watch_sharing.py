"""The watcher shares one loop between threads and tasks, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator

import pytest
from test_watch_sim import URL, Face, SimSlurm

from slurm_core import SlurmClient
from slurm_core._versions.negotiate import clear_cache
from slurm_core.watch import JobEventType, JobWatch, WaitTimeoutError, WatchOptions

pytestmark = pytest.mark.anyio
T = JobEventType


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_negotiation() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_break_detaches_and_leaves_no_thread() -> None:
    sim = SimSlurm("v0.0.42")
    ids = [sim.add(), sim.add()]
    face = Face("sync", sim)
    threads = threading.active_count()
    for event in face.client.jobs.watch(ids):
        assert event.type is T.PENDING
        break
    gc.collect()
    assert face.watcher.brain.active == 0
    assert face.watcher.brain.watched == frozenset()
    assert threading.active_count() == threads


def test_threads_share_one_loop() -> None:
    sim = SimSlurm("v0.0.42")
    a, b = sim.add(), sim.add()
    sim.script = {3: lambda: sim.set(a, "COMPLETED"), 5: lambda: sim.set(b, "COMPLETED")}
    client = SlurmClient(URL, transport=sim.transport())
    client.jobs.watch_options = WatchOptions(
        min_interval=0, initial_interval=0.01, max_interval=0.02
    )
    results: dict[int, list[T]] = {}
    barrier = threading.Barrier(2)

    def consume(jid: int) -> None:
        with client.jobs.watch(jid, timeout=30) as events:
            barrier.wait()
            results[jid] = [e.type for e in events]

    workers = [threading.Thread(target=consume, args=(j,)) for j in (a, b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert results == {a: [T.PENDING, T.COMPLETED], b: [T.PENDING, T.COMPLETED]}
    assert len(sim.listings()) == client.jobs.watcher.brain.polls
    assert client.jobs.watcher.brain.active == 0


async def test_tasks_share_one_loop_and_cancel_cleanly() -> None:
    sim = SimSlurm("v0.0.42")
    a, b = sim.add(), sim.add()
    sim.script = {3: lambda: sim.set(a, "COMPLETED")}
    face = Face("async", sim)
    tasks_before = len(asyncio.all_tasks())
    got: dict[str, list[T]] = {"a": [], "b": []}

    async def consume(jid: int, key: str) -> None:
        async for event in face.client.jobs.watch(jid):
            got[key].append(event.type)

    ta = asyncio.create_task(consume(a, "a"))
    tb = asyncio.create_task(consume(b, "b"))
    await ta  # a completes; b's job never does
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb
    assert got == {"a": [T.PENDING, T.COMPLETED], "b": [T.PENDING]}
    assert len(sim.listings()) == face.watcher.brain.polls
    assert face.watcher.brain.active == 0
    assert face.watcher.brain.watched == frozenset()
    assert len(asyncio.all_tasks()) == tasks_before


async def test_reattach_after_an_exception_repeats_nothing(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    sim.script = {2: lambda: sim.set(jid, "RUNNING"), 4: lambda: sim.set(jid, "COMPLETED")}
    face = Face(mode, sim)
    watch = face.client.jobs.watch(jid, timeout=1.5)
    seen: list[T] = []

    async def drain() -> None:
        while True:
            seen.append((next(watch) if mode == "sync" else await watch.__anext__()).type)

    with pytest.raises(WaitTimeoutError):
        await drain()
    assert face.watcher.brain.active == 0  # detached by the exception
    watch._deadline = None
    rest = list(watch) if mode == "sync" else [e async for e in watch]
    assert seen + [e.type for e in rest] == [T.PENDING, T.STARTED, T.COMPLETED]


def test_a_new_watch_is_polled_soon_but_not_below_the_floor() -> None:
    sim = SimSlurm("v0.0.42")
    a = sim.add()
    face = Face("sync", sim, WatchOptions(min_interval=3, initial_interval=3, max_interval=60))
    first = face.client.jobs.watch(a)
    assert next(first).type is T.PENDING
    for _ in range(8):  # nothing changes: the interval grows
        face.watcher._lead(None)
    brain = face.watcher.brain
    assert brain.delay() > 10
    b = sim.add()
    second = face.client.jobs.watch(b)
    assert brain.delay() == 3  # due one floor after the last poll (the clock did not move)
    assert next(second).type is T.PENDING
    assert face.time.sleeps[-1] == 3
    first.close()
    second.close()
    assert brain.active == 0


def test_a_watch_added_during_a_poll_is_polled_soon() -> None:
    sim = SimSlurm("v0.0.42")
    a, b = sim.add(), sim.add()
    face = Face("sync", sim, WatchOptions(min_interval=1, initial_interval=4, max_interval=60))
    later: list[JobWatch] = []
    sim.script = {  # another thread starts watching b while a poll is under way
        2: lambda: later.append(face.client.jobs.watch(b)),
        3: lambda: sim.set(a, "COMPLETED"),
    }
    assert [e.type for e in face.client.jobs.watch(a)] == [T.PENDING, T.COMPLETED]
    assert face.time.sleeps == [4, 1]  # not 6: b is new, so the next poll comes at the floor
    first = next(later[0])  # b's sighting was queued for its watch by that poll
    assert (first.job_id, first.type) == (b, T.PENDING)
    later[0].close()
