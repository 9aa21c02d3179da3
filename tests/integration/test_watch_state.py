"""The watch at the cluster's cost floor against real SLURM 22.05, 24.11 and 26.05 (#20).

Two clients of one cluster and user, each waiting in its own thread for its own job,
share one poll loop. Every request is seen at a counting transport: from v0.0.40 a poll
is ``GET jobs/state`` naming the watched jobs (never the unfiltered job list) and a
record is read only when a job's state changed; 22.05 (v0.0.38) lists with
``update_time``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
from test_submit_helpers import until

from slurm_core import SlurmClient, StaticToken
from slurm_core._engine import run_sync
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import JobEventType, WatchOptions
from slurm_core.watch._source import RestStates, states_served

T = JobEventType
QUICK = WatchOptions(min_interval=0.2, initial_interval=0.25, max_interval=1.0, backoff=1.5)


class Seen(httpx.HTTPTransport):
    """An ``httpx`` transport that remembers each request's method, path and query."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[httpx.URL] = []
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append(request.url)
        return super().handle_request(request)


def test_two_clients_share_one_state_poll(slurm_cluster: LocalSlurmCluster) -> None:
    transport = Seen()
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    clients = [
        SlurmClient(slurm_cluster.rest_url, auth=auth, transport=transport) for _ in range(2)
    ]
    clients[0].jobs.watch_options = QUICK
    brain = clients[0].jobs.watcher.brain
    assert clients[1].jobs.watcher.brain is brain
    submit = (
        clients[0]
        .jobs.submit()
        .working_directory(slurm_cluster.shared_dir)
        .hold()
        .time_limit(2)
        .name("watch-state")
    )
    ok = submit.copy().script("#!/bin/sh\ntrue\n").execute().job_id
    bad = submit.copy().script("#!/bin/sh\nexit 3\n").execute().job_id
    mark, polls = len(transport.seen), brain.polls
    events: dict[int, list[Any]] = {ok: [], bad: []}
    pending = threading.Barrier(3)

    def follow(client: SlurmClient, job_id: int) -> None:
        for event in client.jobs.watch(job_id, timeout=120):
            events[job_id].append(event)
            if event.type is T.PENDING:
                pending.wait(60)

    threads = [
        threading.Thread(target=follow, args=(c, j))
        for c, j in zip(clients, (ok, bad), strict=True)
    ]
    for t in threads:
        t.start()
    pending.wait(60)  # both watches saw their job wait: now let them run
    slurm_cluster.run(["scontrol", "release", f"{ok},{bad}"], check=True)
    for j in (ok, bad):
        slurm_cluster.run(["scontrol", "update", f"jobid={j}", "priority=1000000000"])
    for t in threads:
        t.join(150)
    for c in clients:
        c.close()
    assert not any(t.is_alive() for t in threads)
    assert [e.type for e in events[ok]] == [T.PENDING, T.STARTED, T.COMPLETED]
    assert [e.type for e in events[bad]] == [T.PENDING, T.STARTED, T.FAILED]
    assert events[bad][-1].exit_code is not None
    assert events[bad][-1].exit_code.return_code == 3
    assert events[ok][1].nodes
    assert events[ok][0].reason == "JobHeldUser"

    sent = transport.seen[mark:]
    version = clients[0].negotiate()
    polled = brain.polls - polls
    listings = [u for u in sent if u.path == f"/slurm/{version}/jobs"]
    states = [u for u in sent if u.path == f"/slurm/{version}/jobs/state"]
    if version == "v0.0.38":  # 22.05: no jobs/state; update_time listings
        assert len(listings) == polled
        assert states == []
        return
    assert listings == []  # never the unfiltered job list
    assert len(states) == polled  # one loop for both clients: one request per poll
    assert all(set(u.params.get_list("job_id")) <= {str(ok), str(bad)} for u in states)
    records = Counter(u.path.rsplit("/", 1)[-1] for u in sent if "/job/" in u.path)
    # A record per change seen (first sighting, start, end; a start missed between two
    # polls is read from the final record): never one per poll.
    assert set(records) <= {str(ok), str(bad)}
    assert all(2 <= n <= 3 for n in records.values()), records
    assert polled > max(records.values())


def test_the_tasks_of_an_array_cost_one_small_answer(slurm_cluster: LocalSlurmCluster) -> None:
    """Task ids of a pending array each name every pending task (100 ids: 10,000 entries);
    the state source asks for the array once, and names a started task after its array."""
    if not states_served(slurm_cluster.served_versions[-1]):
        pytest.skip("jobs/state is v0.0.40+")
    transport = Seen()
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    with SlurmClient(slurm_cluster.rest_url, auth=auth, transport=transport) as client:
        array = (
            client.jobs.submit()
            .script("#!/bin/sh\nsleep 30\n")
            .working_directory(slurm_cluster.shared_dir)
            .array("0-99%1")  # task 0 starts (under an id of its own), 99 wait
            .time_limit(2)
            .memory_per_cpu("50M")
            .name("watch-array")
            .execute()
            .job_id
        )
        try:
            keys = [f"{array}_{i}" for i in range(100)]
            source = RestStates(client._core)

            def started() -> Mapping[str, Sequence[str]] | None:
                states = run_sync(client._http, source.states(keys))
                return states if "RUNNING" in states.get(f"{array}_0", ()) else None

            mark = len(transport.seen)
            states = until(started, timeout=120, what="the array's first task to start")
            asked = [u for u in transport.seen[mark:] if u.path.endswith("/jobs/state")]
            assert all(u.params.get_list("job_id") == [str(array)] for u in asked)
            assert len(asked) == source.requests  # one request per poll
            assert set(states) == set(keys)  # the started task too, by its array's name
            assert all(list(states[k]) == ["PENDING"] for k in keys[1:])
        finally:
            client.jobs.cancel(array)
