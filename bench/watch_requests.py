"""Benchmark (not a test): requests per poll interval while watching many jobs.

Counts every request at the transport while one ``client.jobs.watch`` follows N jobs to
the end, and compares with polling each job on its own (one ``GET job/{id}`` per
unfinished job per interval).

On the fake server (default) the watcher's sleep advances the fake cluster's clock, so
hours of scheduling take a second and the numbers are deterministic::

    .venv/bin/python bench/watch_requests.py                      # 1000 jobs, 4 versions
    .venv/bin/python bench/watch_requests.py --jobs 200 --version v0.0.38

On a running local cluster (``python -m slurm_core.testing.cluster up --release 24.11``)
the jobs are submitted held and cancelled in ten batches, one batch per poll::

    .venv/bin/python bench/watch_requests.py --release 24.11 --jobs 300
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from slurm_core import SlurmClient, StaticToken
from slurm_core.jobs import JobBuilder
from slurm_core.watch import SyncWatcher, WatchOptions

OPTIONS = WatchOptions(min_interval=5, initial_interval=5, max_interval=60, backoff=1.5)


class CountingTransport(httpx.BaseTransport):
    """Counts requests (by method and path kind) and response bytes."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: Counter[str] = Counter()
        self.bytes = 0
        self.recording = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.recording:
            path = request.url.path
            kind = (
                "GET jobs" if path.endswith("/jobs") else f"{request.method} {path.split('/')[-1]}"
            )
            if request.url.params.get("update_time"):
                kind += " (update_time)"
            self.requests[kind] += 1
            self.bytes += len(response.read())
        return response


@dataclass
class Result:
    label: str
    jobs: int
    polls: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    naive: int = 0
    events: int = 0
    seconds: float = 0.0

    def show(self) -> None:
        total = sum(self.requests.values())
        print(
            f"{self.label:<18} jobs={self.jobs:<5} polls={self.polls:<4} requests={total:<5} "
            f"per poll={total / max(self.polls, 1):.2f}  per-job polling would send "
            f"{self.naive}  events={self.events}  received={self.bytes / 1e6:.1f} MB  "
            f"wall={self.seconds:.1f}s"
        )
        for kind, count in sorted(self.requests.items()):
            print(f"{'':<18}   {kind}: {count}")


def _watch(
    client: SlurmClient,
    ids: list[int],
    result: Result,
    sleep: Any,
    clock: Any,
    options: WatchOptions = OPTIONS,
) -> None:
    remaining: list[int] = []
    counted = [0]

    def counting_sleep(delay: float) -> None:
        if watcher.brain.polls != counted[0]:  # a new interval
            counted[0] = watcher.brain.polls
            result.naive += remaining[0]  # one GET job/{id} per unfinished job
        sleep(delay)

    watcher = SyncWatcher(client._core, client._http, options, sleep=counting_sleep, clock=clock)
    client.jobs._watcher = watcher  # the bench owns the clock
    start = time.perf_counter()
    with client.jobs.watch(ids) as events:
        remaining.append(len(ids))
        for _event in events:
            result.events += 1
            remaining[0] = len(events.job_ids)
    result.seconds = time.perf_counter() - start
    result.polls = watcher.brain.polls


def on_fake(version: str, n: int) -> Result:
    from slurm_core.testing import FakeSlurmServer
    from slurm_core.testing.fake import FakeNode

    nodes = [FakeNode(f"n{i}", cpus=64, memory=1_000_000) for i in range(8)]
    fake = FakeSlurmServer(api_version=version, nodes=nodes, default_runtime=60)
    for group in range(10):
        fake.set_job_outcome(name=f"bench-{group}", runtime=60 * (group + 1))
    fake.set_job_outcome(name="bench-9", state="FAILED", exit_code=1, runtime=30)
    counting = CountingTransport(fake.transport())
    client = SlurmClient(fake.url, transport=counting)
    ids: list[int] = [
        client.jobs.submit().command(["true"]).name(f"bench-{i % 10}").execute().job_id
        for i in range(n)
    ]
    now = [0.0]

    def sleep(delay: float) -> None:
        now[0] += delay
        fake.advance(delay)

    result = Result(f"fake {version}", n)
    counting.recording = True
    _watch(client, ids, result, sleep, lambda: now[0])
    result.requests, result.bytes = counting.requests, counting.bytes
    return result


def on_cluster(release: str, n: int) -> Result:
    from slurm_core.testing.cluster import LocalSlurmCluster

    cluster = LocalSlurmCluster.running(release)
    if cluster is None:
        raise SystemExit(
            f"SLURM {release} is not running (python -m slurm_core.testing.cluster up)"
        )
    counting = CountingTransport(httpx.HTTPTransport())
    auth = StaticToken(cluster.token(), user_name=cluster.user_name)
    client = SlurmClient(cluster.rest_url, auth=auth, transport=counting)
    tag = uuid.uuid4().hex[:6]
    builder: JobBuilder = client.jobs.submit().command(["true"])
    builder = builder.working_directory(cluster.shared_dir).hold()
    ids: list[int] = [
        builder.copy().name(f"bench-{tag}-{i % 10}").execute().job_id for i in range(n)
    ]
    batches = iter(range(10))
    watcher_polls = [-1]

    def sleep(delay: float) -> None:  # one batch cancelled per interval, from the second
        polls = client.jobs.watcher.brain.polls
        if polls != watcher_polls[0] and polls > 1:
            batch = next(batches, None)
            if batch is not None:
                cluster.run(["scancel", f"--name=bench-{tag}-{batch}"], check=True)
        watcher_polls[0] = polls
        time.sleep(delay)

    result = Result(f"SLURM {release}", n)
    counting.recording = True
    fast = WatchOptions(min_interval=1, initial_interval=1, max_interval=4, backoff=2)
    _watch(client, ids, result, sleep, time.monotonic, fast)
    result.requests, result.bytes = counting.requests, counting.bytes
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--version", action="append", help="fake REST API version(s)")
    parser.add_argument("--release", help="use the running local cluster of this release")
    args = parser.parse_args()
    if args.release:
        on_cluster(args.release, args.jobs).show()
        return
    for version in args.version or ["v0.0.38", "v0.0.40", "v0.0.42", "v0.0.45"]:
        on_fake(version, args.jobs).show()


if __name__ == "__main__":
    main()
