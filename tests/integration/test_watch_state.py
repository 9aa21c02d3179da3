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
from typing import Any

import httpx

from slurm_core import SlurmClient, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import JobEventType, WatchOptions

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
