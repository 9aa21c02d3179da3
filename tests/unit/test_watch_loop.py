"""client.jobs.watch/wait against a scripted slurmrestd, through both faces.

Time is fake: the watcher's clock and sleep are replaced (``FakeTime``), so intervals are
asserted from the delays the loop asked for, never by sleeping. Jobs move when the n-th
listing arrives (``SimSlurm.script``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_watch_sim import Face, SimSlurm

from slurm_core import (
    AuthenticationError,
    ExitCode,
    JobFailedError,
)
from slurm_core._versions.negotiate import clear_cache
from slurm_core.watch import (
    JobEvent,
    JobEventType,
    WaitTimeoutError,
    WatchOptions,
)
from slurm_core.watch._policy import MIN_INTERVAL_ENV

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


def kinds(events: list[JobEvent]) -> list[tuple[Any, T]]:
    return [(e.job_id, e.type) for e in events]


async def test_lifecycle_events_one_listing_per_poll(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    sim.script = {3: lambda: sim.set(jid, "RUNNING"), 6: lambda: sim.set(jid, "COMPLETED")}
    face = Face(mode, sim)
    events = await face.events(jid)
    assert kinds(events) == [(jid, T.PENDING), (jid, T.STARTED), (jid, T.COMPLETED)]
    assert events[1].nodes == "node1"
    assert events[2].final
    assert events[2].exit_code is not None
    assert events[2].exit_code.ok
    assert len(sim.listings()) == face.watcher.brain.polls == 6
    assert face.watcher.brain.active == 0
    assert face.watcher.brain.watched == frozenset()


async def test_many_jobs_cost_one_request_per_interval(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    ids = [sim.add() for _ in range(50)]

    def move(jobs: list[int], state: str) -> None:
        for j in jobs:
            sim.set(j, state)

    sim.script = {
        2: lambda: move(ids, "RUNNING"),
        4: lambda: move(ids[:25], "COMPLETED"),
        7: lambda: move(ids[25:], "FAILED"),
    }
    face = Face(mode, sim)
    events = await face.events(ids)
    assert len(events) == 150
    assert sum(e.final for e in events) == 50
    listings = sim.listings()
    assert len(listings) == face.watcher.brain.polls == 7
    assert all(r.url.path.endswith("/jobs/state") for r in listings)
    assert sorted(r.url.params.get_list("job_id") for r in listings)[0] == [str(j) for j in ids]
    # A job's full record only when its state changed: first sighting, start, end.
    records = sim.records()
    assert len(records) == 3 * len(ids)
    others = [
        r for r in sim.requests if r not in listings + records and r.url.path != "/openapi/v3"
    ]
    assert others == []


@pytest.mark.parametrize(
    ("version", "sent"),
    [
        ("v0.0.38", "epoch-2"),
        ("v0.0.39", None),
    ],
)
async def test_update_time_per_version(mode: str, version: str, sent: str | None) -> None:
    sim = SimSlurm(version)
    jid = sim.add()
    # quiet long enough (intervals 1, 2, 4, 8 s) for "nothing changed" answers
    sim.script = {6: lambda: sim.set(jid, "RUNNING"), 9: lambda: sim.set(jid, "COMPLETED")}
    face = Face(mode, sim)
    events = await face.events(jid)
    assert kinds(events) == [(jid, T.PENDING), (jid, T.STARTED), (jid, T.COMPLETED)]
    # Every update_time names the server time of the last complete listing.
    assert sim.log[0][0] is None  # the first listing is always a full one
    last_full = sim.log[0][1]
    for raw, now, full in sim.log[1:]:
        if sent is None:
            assert raw is None
        elif sent == "now-":
            assert raw == f"now-{int(now - last_full) + 2}"
        else:
            assert raw == str(int(last_full) - (2 if sent == "epoch-2" else 0))
        if full:
            last_full = now
    assert (sim.unchanged > 0) is (sent is not None)  # "nothing changed" answers were handled
    diags = [r for r in sim.requests if r.url.path.endswith("/diag")]
    assert len(diags) == (1 if version == "v0.0.38" else 0)  # v0.0.38 learns the server clock


@pytest.mark.parametrize(("answers", "deltas"), [([503], True), ([403], False)])
async def test_v38_clock_check_retried_or_given_up(
    mode: str, answers: list[int], deltas: bool
) -> None:
    sim = SimSlurm("v0.0.38")
    sim.diag_answers = list(answers)
    jid = sim.add()
    sim.script = {5: lambda: sim.set(jid, "COMPLETED")}
    face = Face(mode, sim)
    assert [e.type for e in await face.events(jid)] == [T.PENDING, T.COMPLETED]
    diags = [r for r in sim.requests if r.url.path.endswith("/diag")]
    params = [r.url.params.get("update_time") for r in sim.listings()]
    if deltas:  # a 503 fails the poll; the next one checks the clock again
        assert len(diags) == 2
        assert params[0] is None
        assert all(p is not None for p in params[1:])
    else:  # refused: full listings, and the watch goes on
        assert len(diags) == 1
        assert set(params) == {None}


async def test_refused_update_time_falls_back_to_full_listings(mode: str) -> None:
    sim = SimSlurm("v0.0.38")
    sim.refuse_update_time = True
    jid = sim.add()
    sim.script = {4: lambda: sim.set(jid, "COMPLETED", start_time=None)}
    face = Face(mode, sim)
    assert kinds(await face.events(jid)) == [(jid, T.PENDING), (jid, T.COMPLETED)]
    assert [(raw, full) for raw, _, full in sim.log] == [
        (None, True),
        (f"{int(sim.log[0][1]) - 2}", False),  # refused with 422: full listings from now on
        (None, True),
        (None, True),
    ]


async def test_interval_backs_off_and_resets_on_change(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    sim.script = {5: lambda: sim.set(jid, "RUNNING"), 8: lambda: sim.set(jid, "COMPLETED")}
    face = Face(mode, sim)
    await face.events(jid)
    # first poll immediate; then 1 (after the first sighting), 2, 4, 8 (capped), 1 after the
    # start, then 2, and the final poll.
    assert face.time.sleeps == [1, 2, 4, 8, 1, 2, 4]


async def test_admin_floor_wins(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MIN_INTERVAL_ENV, "5")
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    sim.script = {3: lambda: sim.set(jid, "COMPLETED")}
    face = Face(mode, sim, WatchOptions(min_interval=0, initial_interval=0.1, max_interval=1))
    await face.events(jid, max_interval=0.5)
    assert face.time.sleeps
    assert min(face.time.sleeps) >= 5


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42"])
async def test_restart_and_errors_lose_and_duplicate_nothing(mode: str, version: str) -> None:
    sim = SimSlurm(version)
    ids = [sim.add(), sim.add()]

    def outage() -> None:  # slurmrestd goes away; meanwhile both jobs run and one ends
        sim.down = True
        sim.set(ids[0], "RUNNING")
        sim.set(ids[1], "RUNNING")
        sim.set(ids[0], "COMPLETED")

    def answers_500() -> None:
        sim.down, sim.fail_status = False, 500

    def back() -> None:
        sim.fail_status = None
        sim.set(ids[1], "COMPLETED")

    sim.script = {2: outage, 4: answers_500, 5: back}
    face = Face(mode, sim)
    events = await face.events(ids)
    assert kinds(events) == [
        (ids[0], T.PENDING),
        (ids[1], T.PENDING),
        (ids[0], T.STARTED),
        (ids[0], T.COMPLETED),
        (ids[1], T.STARTED),
        (ids[1], T.COMPLETED),
    ]
    # failed polls back off (doubling); the listing after a failure is a full one
    assert face.time.sleeps == [1, 2, 4, 8]
    if version == "v0.0.38":
        params = [r.url.params.get("update_time") for r in sim.listings()]
        assert params[1] is not None
        assert params[2:] == [None, None, None]


async def test_purged_job_resolved_from_accounting(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()

    def run_and_purge() -> None:
        sim.set(jid, "RUNNING")
        sim.set(jid, "FAILED", exit_code=None)
        sim.purge(jid)

    sim.script = {2: run_and_purge}
    face = Face(mode, sim)
    events = await face.events(jid)
    assert kinds(events) == [(jid, T.PENDING), (jid, T.STARTED), (jid, T.FAILED)]
    assert events[-1].job is not None
    assert events[-1].job.source == "accounting"
    lookups = [r for r in sim.requests if r.url.path.startswith("/slurmdb/")]
    assert len(lookups) == 1  # resolved once


@pytest.mark.parametrize("why", ["accounting down", "not served", "never existed"])
async def test_purged_without_accounting_is_unknown(mode: str, why: str) -> None:
    sim = SimSlurm("v0.0.42", accounting=why != "not served")
    sim.accounting_down = why == "accounting down"
    jid = sim.add()
    if why == "never existed":
        sim.jobs.pop(jid)
    else:
        sim.script = {2: lambda: sim.purge(jid)}
    face = Face(mode, sim)
    events = await face.events(jid)
    assert events[-1].type is T.UNKNOWN
    assert events[-1].final
    assert events[-1].new_state is None
    with pytest.raises(JobFailedError) as info:
        await face.wait(jid)
    assert info.value.state == "UNKNOWN"
    assert "slurmctld" in (info.value.reason or "")


async def test_wait_returns_job_or_raises(mode: str) -> None:
    sim = SimSlurm("v0.0.38")
    ok, bad = sim.add(), sim.add()
    sim.set(ok, "COMPLETED")
    sim.set(bad, "FAILED", exit_code=None)
    sim.jobs[bad] = sim.jobs[bad].model_copy(
        update={
            "exit_code": ExitCode.from_wait_status(768),
            "state_reason": "NonZeroExitCode",
        }
    )
    face = Face(mode, sim)
    job = await face.wait(ok)
    assert job.job_id == ok
    assert job.state.is_success
    with pytest.raises(JobFailedError) as info:
        await face.wait(bad)
    assert (info.value.job_id, info.value.state, info.value.exit_code) == (bad, "FAILED", 3)
    assert info.value.reason == "NonZeroExitCode"


async def test_wait_timeout(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    face = Face(mode, sim)
    with pytest.raises(WaitTimeoutError) as info:
        await face.wait(jid, timeout=20)
    assert info.value.job_ids == [jid]
    assert info.value.timeout == 20
    assert 20 <= face.time.t - 1000 < 21
    assert face.watcher.brain.active == 0


async def test_fatal_error_ends_the_watch(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    sim.script = {2: lambda: setattr(sim, "fail_status", 401)}
    face = Face(mode, sim)
    with pytest.raises(AuthenticationError):
        await face.events(jid)
    assert face.watcher.brain.active == 0


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.41", "v0.0.42"])
async def test_a_later_wait_looks_at_a_quiet_job_at_once(mode: str, version: str) -> None:
    """A job newly watched on a client whose cursor is past it (it has not changed since)
    is looked at by the next poll: a full listing, not an update_time delta that omits it."""
    sim = SimSlurm(version)
    a, b = sim.add(), sim.add()
    sim.set(b, "COMPLETED")
    sim.script = {3: lambda: sim.set(a, "COMPLETED")}
    face = Face(mode, sim)
    await face.wait(a)
    sim.tick(30)  # quiet: nothing changes any more
    polls = face.watcher.brain.polls
    done = await face.wait(b, timeout=20)
    assert str(done.state.base) == "COMPLETED"
    assert face.watcher.brain.polls == polls + 1  # the first poll found it
    assert sim.listings()[-1].url.params.get("update_time") is None
