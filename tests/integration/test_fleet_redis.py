"""Three processes watch 300 jobs through a real Redis: one ``jobs/state`` poll per interval
in total, counted at a proxy in front of slurmrestd; every event reaches each watcher once;
the leader is killed and another takes over; Redis stops and each falls back on its own.

24.11 only: the fleet is release-agnostic above ``jobs/state`` (v0.0.40+), and the jobs
are held (they never run), cancelled by name, and cancelled again at the end whatever
happens. The processes are real (``fleet_worker.py``); see it for what stands in for the
watch until it polls ``jobs/state`` itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from faultproxy import FaultProxy

from slurm_core import SlurmClient, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.testing.redis import LocalRedis

WORKER = Path(__file__).with_name("fleet_worker.py")
INTERVAL, TTL = 1.0, 3.0
JOBS = 300


class Worker:
    """A fleet process; its JSON lines are collected by a thread."""

    def __init__(self, ids_file: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(ids_file)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.err: list[str] = []
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read(self, stream: Any, out: bool) -> None:
        for line in stream:
            if out:
                self.lines.append(json.loads(line))
            else:
                self.err.append(line.rstrip())

    def states(self, state: str) -> set[str]:
        return {e["job"] for e in list(self.lines) if e.get("state") == state}

    def events(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in list(self.lines):
            if "job" in e:
                out.setdefault(e["job"], []).append(e["state"])
        return out

    @property
    def leading(self) -> bool:
        roles = [e["leading"] for e in list(self.lines) if "leading" in e]
        return bool(roles) and roles[-1]

    def warnings(self) -> list[str]:
        return [line for line in self.err if line.startswith("WARNING")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for t in self._threads:
            t.join(5)


def until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def polls_between(times: list[float], start: float, end: float) -> int:
    return sum(start <= t < end for t in list(times))


@pytest.fixture
def held_jobs(slurm_cluster: LocalSlurmCluster) -> Iterator[tuple[str, list[str]]]:
    """300 held jobs named <tag>-a/-b/-c (100 each), cancelled at the end whatever happens."""
    if slurm_cluster.release != "24.11":
        pytest.skip("played on 24.11 (jobs/state is v0.0.40+, the same on 26.05)")
    tag = f"fleet-{uuid.uuid4().hex[:8]}"
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    ids: list[str] = []
    try:
        with SlurmClient(slurm_cluster.rest_url, auth=auth) as client:
            for i in range(JOBS):
                job = (
                    client.jobs.submit()
                    .script("#!/bin/sh\ntrue\n")
                    .name(f"{tag}-{'abc'[i // 100]}")
                    .working_directory(slurm_cluster.shared_dir)
                    .hold()
                    .time_limit(1)
                )
                ids.append(str(job.execute().job_id))
        yield tag, ids
    finally:
        for part in "abc":
            slurm_cluster.run(["scancel", f"--name={tag}-{part}"], check=False)


def test_three_processes_share_one_poll_through_redis(
    slurm_cluster: LocalSlurmCluster,
    held_jobs: tuple[str, list[str]],
    redis_server: LocalRedis,
    tmp_path: Path,
) -> None:
    tag, ids = held_jobs
    groups = {part: set(ids[i * 100 : (i + 1) * 100]) for i, part in enumerate("abc")}
    ids_file = tmp_path / "ids"
    ids_file.write_text("\n".join(ids))
    token = slurm_cluster.token()
    polls: list[float] = []

    def count(req: Any) -> bool:
        if "/jobs/state" in req.path:
            polls.append(time.monotonic())
        return False  # forwarded untouched

    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        proxy.on(None, match=count)  # type: ignore[arg-type]  # never matches: it counts
        env = {
            **os.environ,
            "FLEET_TOKEN": token,
            "FLEET_USER": slurm_cluster.user_name,
            "FLEET_URL": proxy.url,
            "FLEET_REDIS": redis_server.url,
            "FLEET_INTERVAL": str(INTERVAL),
            "FLEET_TTL": str(TTL),
        }
        workers = [Worker(ids_file, env) for _ in range(3)]
        try:
            # 1. Shared: everyone sees the 300 jobs pending, then a leader polls alone.
            until(lambda: all(len(w.states("PENDING")) == JOBS for w in workers), 60, "PENDING")
            until(lambda: sum(w.leading for w in workers) == 1, 15, "a leader")
            time.sleep(2 * INTERVAL)  # the followers' first keys are published by now
            start = time.monotonic()
            slurm_cluster.run(["scancel", f"--name={tag}-a"], check=True)
            until(lambda: all(groups["a"] <= w.states("CANCELLED") for w in workers), 30, "a")
            time.sleep(3 * INTERVAL)
            end = time.monotonic()
            shared = polls_between(polls, start, end)
            assert shared <= (end - start) / INTERVAL + 1, (shared, end - start)
            assert shared >= (end - start) / INTERVAL / 2 - 1  # the leader did poll
            print(f"shared: {shared} polls in {end - start:.1f} s")

            # No token (nor any part of it) in Redis, in keys or values.
            r = redis.Redis.from_url(redis_server.url)
            stored = b""
            for key in r.scan_iter():
                kind = r.type(key)
                value = {
                    b"string": r.get,
                    b"hash": r.hgetall,
                    b"zset": lambda k: r.zrange(k, 0, -1, withscores=True),
                }[kind](key)
                stored += key + repr(value).encode()
            for piece in token.split("."):
                assert piece.encode() not in stored

            # 2. Kill the leader: another takes over, the survivors lose nothing.
            (leader,) = [w for w in workers if w.leading]
            leader.proc.send_signal(signal.SIGKILL)
            leader.stop()
            rest = [w for w in workers if w is not leader]
            slurm_cluster.run(["scancel", f"--name={tag}-b"], check=True)
            until(lambda: all(groups["b"] <= w.states("CANCELLED") for w in rest), 30, "b")
            until(lambda: sum(w.leading for w in rest) == 1, 3 * TTL, "a new leader")
            time.sleep(INTERVAL)
            start = time.monotonic()
            time.sleep(3 * INTERVAL)
            end = time.monotonic()
            taken = polls_between(polls, start, end)
            print(f"after the takeover: {taken} polls in {end - start:.1f} s")
            assert taken <= (end - start) / INTERVAL + 1

            # 3. Stop Redis: each falls back to its own polls, with one warning, loses nothing.
            redis_server.stop()
            until(lambda: all(w.warnings() for w in rest), 10, "a warning")
            start = time.monotonic()
            time.sleep(2 * INTERVAL)  # on their own: each polls at its own pace
            end = time.monotonic()
            alone = polls_between(polls, start, end)
            print(f"Redis stopped: {alone} polls in {end - start:.1f} s")
            assert alone > (end - start) / INTERVAL + 1  # more than one per interval
            slurm_cluster.run(["scancel", f"--name={tag}-c"], check=True)
            for w in rest:
                w.proc.wait(60)
                assert w.proc.returncode == 0, w.err[-5:]
                assert len(w.warnings()) == 1, w.warnings()
                assert "unreachable" in w.warnings()[0]
        finally:
            for w in workers:
                w.stop()

    # Every event reached each watcher once: PENDING then CANCELLED (the killed leader:
    # each event it printed, once).
    for w in workers:
        for key, states in w.events().items():
            assert states in (["PENDING"], ["PENDING", "CANCELLED"]), (key, states)
    for w in rest:
        assert w.events() == {k: ["PENDING", "CANCELLED"] for k in ids}
