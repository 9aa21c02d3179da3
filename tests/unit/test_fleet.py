"""RedisFleet against a real redis-server (the ``redis_server`` fixture), with in-memory
state sources standing in for ``jobs/state`` (the real one is in the integration test)."""

from __future__ import annotations

import logging
import multiprocessing
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis

from slurm_core._engine import run_async
from slurm_core.testing.redis import LocalRedis
from slurm_core.watch._fleet import RedisFleet, _Answer, namespace

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from fleet_worker import JobsState

CLUSTER, USER = "http://cluster.example:6820", "alice"
KEYS = [str(i) for i in range(1, 21)]


class Table:
    """The cluster's states, as every process's own source would poll them."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, ...]] = {k: ("PENDING",) for k in KEYS}


class Inner:
    """A state source answering from ``table``; counts its polls."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.polls: list[list[str]] = []

    def states(self, job_ids: Sequence[str]) -> Any:
        self.polls.append(list(job_ids))
        if False:  # a generator that sends nothing: the polls are counted, not sent
            yield
        return {k: self.table.states[k] for k in job_ids if k in self.table.states}


def drive(op: Any) -> Mapping[str, Sequence[str]]:
    try:
        op.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("the in-memory source sends no request")


def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.fixture
def fleets(redis_server: LocalRedis) -> Iterator[list[RedisFleet]]:
    made = [
        RedisFleet(redis_server.url, cluster_url=CLUSTER, user=USER, interval=0.2, ttl=1.0)
        for _ in range(3)
    ]
    yield made
    for fleet in made:
        fleet.close()


def run(fleets: list[RedisFleet], inners: list[Inner], seconds: float) -> list[Any]:
    """Each process asks every 50 ms (faster than the fleet interval), like eager watches."""
    sources = [f.source(i) for f, i in zip(fleets, inners, strict=True)]
    end = time.monotonic() + seconds
    answers: list[Any] = []
    while time.monotonic() < end:
        answers = [drive(s.states(KEYS)) for s in sources]
        time.sleep(0.05)
    return answers


def test_three_processes_cost_one_poll_per_interval(fleets: list[RedisFleet]) -> None:
    table = Table()
    inners = [Inner(table) for _ in fleets]
    run(fleets, inners, 1.0)  # warm-up: a leader is chosen, the keys are registered
    before = [len(i.polls) for i in inners]
    table.states["7"] = ("CANCELLED",)
    answers = run(fleets, inners, 2.0)
    polls = [len(i.polls) - b for i, b in zip(inners, before, strict=True)]
    leaders = [f for f in fleets if f.leading]
    assert len(leaders) == 1
    assert sum(polls) == max(polls)  # only the leader polled
    assert 7 <= sum(polls) <= 11  # 2 s at 0.2 s, asked every 50 ms
    for answer in answers:  # everyone saw the change, for every key
        assert answer["7"] == ("CANCELLED",)
        assert set(answer) == set(KEYS)


def test_a_new_leader_takes_over_when_the_leader_goes(fleets: list[RedisFleet]) -> None:
    table = Table()
    inners = [Inner(table) for _ in fleets]
    run(fleets, inners, 1.0)
    (leader,) = [f for f in fleets if f.leading]
    rest = [i for f, i in zip(fleets, inners, strict=True) if f is not leader]
    leader.close()
    table.states["3"] = ("RUNNING",)
    answers = run([f for f in fleets if f is not leader], rest, 1.5)
    assert sum(f.leading for f in fleets) == 1
    assert not leader.leading
    assert all(a["3"] == ("RUNNING",) for a in answers)


def test_a_leader_that_stops_asking_hands_the_lead_on(fleets: list[RedisFleet]) -> None:
    table = Table()
    inners = [Inner(table) for _ in fleets]
    run(fleets, inners, 1.0)
    (leader,) = [f for f in fleets if f.leading]
    rest = [f for f in fleets if f is not leader]
    others = [i for f, i in zip(fleets, inners, strict=True) if f is not leader]
    table.states["4"] = ("RUNNING",)
    answers = run(rest, others, 3.0)  # the leader's watch has ended: it asks no more
    assert not leader.leading
    assert sum(f.leading for f in rest) == 1
    assert all(a["4"] == ("RUNNING",) for a in answers)


def test_a_stale_leader_cannot_publish(fleets: list[RedisFleet], redis_server: LocalRedis) -> None:
    table = Table()
    inners = [Inner(table) for _ in fleets]
    run(fleets, inners, 1.0)
    (leader,) = [f for f in fleets if f.leading]
    token = leader._token
    assert token is not None
    r = redis.Redis.from_url(redis_server.url)
    ns = namespace(CLUSTER, USER)
    r.set(f"{ns}:lock", "999:someone-else", px=60_000)  # its lock expired and was taken
    before = r.hgetall(f"{ns}:states")
    stale = {"5": _Answer(("COMPLETED",), time.time(), time.time())}
    leader._publish(r, token, stale, 1000)  # what its thread does with a poll in hand
    assert r.hgetall(f"{ns}:states") == before  # refused: the new leader's states stand
    until(lambda: not leader.leading)


def test_redis_down_each_polls_alone_with_one_warning(
    fleets: list[RedisFleet], redis_server: LocalRedis, caplog: pytest.LogCaptureFixture
) -> None:
    table = Table()
    inners = [Inner(table) for _ in fleets]
    run(fleets, inners, 1.0)
    caplog.set_level(logging.WARNING, "slurm_core.watch")
    redis_server.stop()
    until(lambda: not any(f.connected for f in fleets))
    before = [len(i.polls) for i in inners]
    table.states["9"] = ("FAILED",)
    answers = run(fleets, inners, 1.5)
    assert all(len(i.polls) > b + 10 for i, b in zip(inners, before, strict=True))
    assert all(p == KEYS for i in inners for p in i.polls[-3:])  # every requested key
    assert all(a["9"] == ("FAILED",) and set(a) == set(KEYS) for a in answers)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3  # one per process, however long it lasts
    assert all("unreachable" in r.getMessage() for r in warnings)
    redis_server.start()  # back: sharing again
    until(lambda: all(f.connected for f in fleets) and sum(f.leading for f in fleets) == 1)


def test_keys_are_namespaced_and_hold_no_readable_url_or_user(
    fleets: list[RedisFleet], redis_server: LocalRedis
) -> None:
    table = Table()
    run(fleets, [Inner(table) for _ in fleets], 1.0)
    other = RedisFleet(redis_server.url, cluster_url=CLUSTER, user="bob", interval=0.2, ttl=1.0)
    try:
        drive(other.source(Inner(table)).states(["1"]))
        until(lambda: other.leading)  # bob's fleet is another fleet: it leads its own
    finally:
        other.close()
    r = redis.Redis.from_url(redis_server.url)
    keys = [k.decode() for k in r.keys("*")]
    assert keys
    assert {k.rsplit(":", 1)[0] for k in keys} <= {
        namespace(CLUSTER, USER),
        namespace(CLUSTER, "bob"),
    }
    dump = " ".join(keys) + repr([r.dump(k) for k in keys])
    assert "cluster.example" not in dump
    assert USER not in dump


def test_hostile_entries_are_bounded_and_polled_directly(
    fleets: list[RedisFleet], redis_server: LocalRedis
) -> None:
    table = Table()
    inners = [Inner(table) for _ in fleets]
    run(fleets, inners, 1.0)
    (leader,) = [f for f in fleets if f.leading]
    follower = next(f for f in fleets if f is not leader)
    r = redis.Redis.from_url(redis_server.url)
    ns = namespace(CLUSTER, USER)
    r.hset(f"{ns}:states", mapping={"1": "X" * 5_000_000, "2": "not a state", "3": "\xff\x00"})
    r.zadd(f"{ns}:ids", {"9" * 10_000: 2**60, "evil key": 2**60})
    r.publish(f"{ns}:news", "x")  # everyone reads again
    time.sleep(0.5)
    inner = Inner(table)
    answer = drive(follower.source(inner).states(["1", "2", "3", "4"]))
    assert answer == {k: ("PENDING",) for k in ("1", "2", "3", "4")}
    assert inner.polls == [["1", "2", "3"]]  # "4" came from Redis, the others were bad
    assert set(leader._union) <= set(KEYS)


def test_an_answer_never_goes_back_in_time(fleets: list[RedisFleet]) -> None:
    fleet = fleets[0]
    table = Table()
    source = fleet.source(Inner(table))
    table.states["1"] = ("COMPLETED",)
    assert drive(source.states(["1"]))["1"] == ("COMPLETED",)
    fleet._snap["1"] = _Answer(("RUNNING",), time.time() - 60, time.time() - 59)  # older
    assert drive(source.states(["1"]))["1"] == ("COMPLETED",)


def test_the_site_floor_raises_the_interval(
    redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CLIENT_MIN_POLL_INTERVAL", "7")
    fleet = RedisFleet(redis_server.url, cluster_url=CLUSTER, user=USER, interval=0.2)
    assert fleet.interval == 7
    assert fleet.ttl >= 21


def test_bad_input_is_refused_before_anything_is_sent(redis_server: LocalRedis) -> None:
    with pytest.raises(ValueError, match="interval"):
        RedisFleet(redis_server.url, cluster_url=CLUSTER, user=USER, interval=float("nan"))
    with pytest.raises(ValueError, match="cluster_url and user"):
        RedisFleet(redis_server.url, cluster_url=CLUSTER, user="")
    fleet = RedisFleet(redis_server.url, cluster_url=CLUSTER, user=USER)
    inner = Inner(Table())
    with pytest.raises(ValueError, match="job_ids"):
        drive(fleet.source(inner).states(["1", "1;DROP"]))
    assert inner.polls == []
    fleet.close()


def test_the_repr_and_logs_show_no_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "slurm_core.watch")
    url = "redis://:s3cr3t-pass@127.0.0.1:1/0"  # nothing listens on port 1
    fleet = RedisFleet(url, cluster_url=CLUSTER, user=USER, interval=0.2, ttl=1.0)
    inner = Inner(Table())
    assert drive(fleet.source(inner).states(["1"])) == {"1": ("PENDING",)}
    until(lambda: bool(caplog.records))
    fleet.close()
    assert "s3cr3t" not in repr(fleet) + caplog.text
    assert "127.0.0.1:1" in caplog.text


def test_the_source_never_waits_for_redis(caplog: pytest.LogCaptureFixture) -> None:
    """A Redis that accepts and never answers: questions are answered at once (directly),
    while the fleet's thread is still waiting for the silent server."""
    caplog.set_level(logging.WARNING, "slurm_core.watch")
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        fleet = RedisFleet(url, cluster_url=CLUSTER, user=USER, interval=0.2, ttl=6.0)
        inner = Inner(Table())
        source = fleet.source(inner)
        answers = [drive(source.states(KEYS)) for _ in range(5)]
        assert not caplog.records  # the thread has not given up on Redis yet...
        assert len(inner.polls) == 5  # ...and every question was answered, directly
        assert all(set(a) == set(KEYS) for a in answers)
        until(lambda: bool(caplog.records))  # then the outage is noticed, once
        fleet.close()


class Counted:
    """A real ``jobs/state`` source, counting its polls."""

    def __init__(self, version: str) -> None:
        self.inner = JobsState(version)
        self.polls = 0

    def states(self, job_ids: Sequence[str]) -> Any:
        self.polls += 1
        return (yield from self.inner.states(job_ids))


@pytest.mark.anyio
async def test_async_watchers_share_through_the_engine(
    redis_server: LocalRedis, slurm_fake: Any
) -> None:
    """Two async clients (two processes' worth) drive the fleet's source with run_async."""
    async with slurm_fake.async_client() as a, slurm_fake.async_client() as b:
        job = (await a.jobs.submit().script("#!/bin/sh\ntrue\n").hold().execute()).job_id
        version = await a.negotiate()
        made = [
            RedisFleet(redis_server.url, cluster_url=CLUSTER, user=USER, interval=0.2, ttl=1.0)
            for _ in range(2)
        ]
        inners = [Counted(version), Counted(version)]
        sources = [f.source(i) for f, i in zip(made, inners, strict=True)]
        try:
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                for client, source in zip((a, b), sources, strict=True):
                    states = await run_async(client._http, source.states([str(job)]))
                    assert list(states) == [str(job)]
                    assert states[str(job)][0] == "PENDING"
                await anyio.sleep(0.05)
        finally:
            for fleet in made:
                fleet.close()
    polls = sum(i.polls for i in inners)
    # one per 0.2 s for both (+ each one's first questions, before Redis answered), not
    # one per question (about 70)
    assert 8 <= polls <= 2.5 / 0.2 + 6


def _child(fleet: RedisFleet, out: Any) -> None:
    answer = drive(fleet.source(Inner(Table())).states(KEYS))
    out.put((fleet.leading, set(answer) == set(KEYS)))


def test_a_forked_child_is_not_its_parents_leader(redis_server: LocalRedis) -> None:
    """Worker pools fork: the child must not inherit the parent's lock and publish with it."""
    fleet = RedisFleet(redis_server.url, cluster_url=CLUSTER, user=USER, interval=0.2, ttl=2.0)
    try:
        run([fleet], [Inner(Table())], 1.0)
        assert fleet.leading
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        child = ctx.Process(target=_child, args=(fleet, out))
        child.start()
        leading, complete = out.get(timeout=30)
        child.join(30)
        assert (leading, complete) == (False, True)
        assert fleet.leading
    finally:
        fleet.close()
