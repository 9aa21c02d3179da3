"""client.jobs.watch/wait against real SLURM 22.05, 24.11 and 26.05.

Requests are counted at the transport (a wrapping ``httpx`` transport passed as
``transport=``). Jobs are submitted held and started with ``scontrol`` inside the cluster
(release, then the top priority: the clusters are shared with other tests, whose pending
jobs must not keep these waiting), so no REST request interferes with the counts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from slurm_core import (
    AsyncSlurmClient,
    CircuitBreakerConfig,
    JobFailedError,
    RetryPolicy,
    SlurmClient,
    StaticToken,
)
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import JobEvent, JobEventType, WatchOptions

T = JobEventType
QUICK = WatchOptions(min_interval=0.2, initial_interval=0.25, max_interval=1.0, backoff=1.5)


class CountingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Passes requests on and remembers ``(method, path)`` of each."""

    def __init__(self) -> None:
        self.sync = httpx.HTTPTransport()
        self.async_ = httpx.AsyncHTTPTransport()
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def _note(self, request: httpx.Request) -> None:
        with self.lock:
            self.seen.append((request.method, request.url.path))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._note(request)
        return self.sync.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._note(request)
        return await self.async_.handle_async_request(request)

    def mark(self) -> int:
        with self.lock:
            return len(self.seen)

    def since(self, mark: int) -> list[tuple[str, str]]:
        with self.lock:
            return self.seen[mark:]

    def close(self) -> None:
        self.sync.close()


def make_client(cluster: LocalSlurmCluster, transport: Any = None, **options: Any) -> SlurmClient:
    auth = StaticToken(cluster.token(), user_name=cluster.user_name)
    client = SlurmClient(cluster.rest_url, auth=auth, transport=transport, **options)
    client.jobs.watch_options = QUICK
    return client


def job(
    client: SlurmClient | AsyncSlurmClient,
    cluster: LocalSlurmCluster,
    script: str,
    name: str = "watch-test",
) -> Any:
    """A held, short job (started later by :func:`release`)."""
    return (
        client.jobs.submit()
        .script(f"#!/bin/sh\n{script}\n")
        .name(name)
        .working_directory(cluster.shared_dir)
        .hold()
        .time_limit(2)
    )


def submit(client: SlurmClient, cluster: LocalSlurmCluster, script: str, **kw: Any) -> int:
    job_id: int = job(client, cluster, script, **kw).execute().job_id
    return job_id


def release(cluster: LocalSlurmCluster, *job_ids: int) -> None:
    """Release held jobs at the top priority (ahead of other tests' pending jobs)."""
    ids = ",".join(map(str, job_ids))
    cluster.run(["scontrol", "release", ids], check=True)
    for job_id in job_ids:
        cluster.run(["scontrol", "update", f"jobid={job_id}", "priority=1000000000"], check=True)


@pytest.fixture
def client(slurm_cluster: LocalSlurmCluster) -> Iterator[SlurmClient]:
    with make_client(slurm_cluster) as c:
        yield c


def test_held_job_pending_running_completed(
    slurm_cluster: LocalSlurmCluster, client: SlurmClient
) -> None:
    job_id = submit(client, slurm_cluster, "sleep 1")
    events: list[JobEvent] = []
    for event in client.jobs.watch(job_id, timeout=60):
        events.append(event)
        if event.type is T.PENDING:
            assert event.reason == "JobHeldUser"
            release(slurm_cluster, job_id)
    assert [e.type for e in events] == [T.PENDING, T.STARTED, T.COMPLETED]
    started, done = events[1], events[2]
    assert started.nodes
    assert started.old_state is not None
    assert str(started.old_state.base) == "PENDING"
    assert done.final
    assert done.exit_code is not None
    assert done.exit_code.ok
    assert done.job is not None
    assert done.job.start_time is not None
    assert done.time >= done.job.start_time
    assert client.jobs.watcher.brain.active == 0


def test_failing_job_reports_its_exit_code(
    slurm_cluster: LocalSlurmCluster, client: SlurmClient
) -> None:
    job_id = submit(client, slurm_cluster, "exit 3")
    release(slurm_cluster, job_id)
    events = list(client.jobs.watch(job_id, timeout=60))
    assert events[-1].type is T.FAILED
    assert events[-1].exit_code is not None
    assert events[-1].exit_code.return_code == 3
    with pytest.raises(JobFailedError) as info:
        client.jobs.wait(job_id, timeout=60)
    assert (info.value.job_id, info.value.state, info.value.exit_code) == (job_id, "FAILED", 3)


@pytest.mark.anyio
async def test_async_wait(slurm_cluster: LocalSlurmCluster) -> None:
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    async with AsyncSlurmClient(slurm_cluster.rest_url, auth=auth) as aclient:
        aclient.jobs.watch_options = QUICK
        ok = (await job(aclient, slurm_cluster, "true").execute()).job_id
        bad = (await job(aclient, slurm_cluster, "exit 3").execute()).job_id
        release(slurm_cluster, ok, bad)
        done = await aclient.jobs.wait(ok, timeout=60)
        assert done.job_id == ok
        assert done.state.is_success
        with pytest.raises(JobFailedError) as info:
            await aclient.jobs.wait(bad, timeout=60)
        assert info.value.exit_code == 3


def test_fifty_jobs_one_state_request_per_interval(slurm_cluster: LocalSlurmCluster) -> None:
    transport = CountingTransport()
    name = f"fifty-{uuid.uuid4().hex[:8]}"
    with make_client(slurm_cluster, transport) as client:
        ids = [submit(client, slurm_cluster, "true", name=name) for _ in range(50)]
        mark = transport.mark()
        # The loop is the process's one for this cluster and user: count from here.
        polls_before = client.jobs.watcher.brain.polls
        types: dict[int, list[T]] = {j: [] for j in ids}
        pending = 0
        for event in client.jobs.watch(ids, timeout=90):
            types[int(event.job_id)].append(event.type)
            pending += event.type is T.PENDING
            if pending == 50 and event.type is T.PENDING:
                slurm_cluster.run(["scancel", f"--name={name}"], check=True)
        sent = transport.since(mark)
        polls = client.jobs.watcher.brain.polls - polls_before
    assert types == {j: [T.PENDING, T.CANCELLED] for j in ids}
    version = client.negotiate()
    assert 2 <= polls < 60
    if version == "v0.0.38":
        listings = [r for r in sent if r == ("GET", f"/slurm/{version}/jobs")]
        assert len(listings) == polls
        assert len(sent) == polls + 1  # + the clock check (diag)
        return
    # One jobs/state per poll (50 ids fit one request), and each job's record only when
    # its state changed: first sighting and cancellation.
    states = [r for r in sent if r == ("GET", f"/slurm/{version}/jobs/state")]
    assert len(states) == polls
    records = Counter(path for _, path in sent if path.startswith(f"/slurm/{version}/job/"))
    assert records == {f"/slurm/{version}/job/{j}": 2 for j in ids}
    assert len(sent) == polls + 100


def test_slurmrestd_restart_mid_watch_loses_and_repeats_nothing(
    slurm_cluster: LocalSlurmCluster,
) -> None:
    # The default breaker waits 10 s before probing a slurmrestd that went away.
    client = make_client(
        slurm_cluster,
        circuit_breaker=CircuitBreakerConfig(recovery_timeout=1),
        retry=RetryPolicy(max_attempts=2, max_delay=0.5),
    )
    ids = [submit(client, slurm_cluster, "sleep 1") for _ in range(3)]
    events: list[JobEvent] = []
    first_three = threading.Event()
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            for event in client.jobs.watch(ids, timeout=120):
                events.append(event)
                if len(events) == 3:
                    first_three.set()
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            first_three.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert first_three.wait(60)
    slurm_cluster.stop_daemon("slurmrestd")
    try:
        release(slurm_cluster, *ids)  # the jobs run and end while slurmrestd is away
        deadline = time.monotonic() + 60
        squeue = ["squeue", "-h", "-j", ",".join(map(str, ids))]
        while slurm_cluster.run(squeue).stdout.strip() and time.monotonic() < deadline:
            threading.Event().wait(0.3)
    finally:
        slurm_cluster.start_daemon("slurmrestd")
    worker.join(120)
    client.close()
    assert not worker.is_alive()
    assert failure == []
    counts = Counter((int(e.job_id), e.type) for e in events)
    assert all(n == 1 for n in counts.values()), counts
    for job_id in ids:
        assert [e.type for e in events if e.job_id == job_id] == [
            T.PENDING,
            T.STARTED,
            T.COMPLETED,
        ]
