"""Benchmark (not a test): the cost of a Python function job against a script job.

On a running local cluster (the executor needs this interpreter inside it, which
``share_python`` arranges)::

    .venv/bin/python bench/executor.py --release 24.11 --rounds 5

1. End to end, in the same run and through the same client, alternating: a trivial script
   job submitted and awaited (``jobs.submit().script(...).execute()`` + ``jobs.wait``)
   against ``SlurmExecutor.submit(fn).result()`` for a trivial function. Prints the
   medians and their ratio (goal: within 1.2x).
2. Client CPU per pending future: ``submit_array`` over 1,000 items, held (one array of
   1,000 tasks, one request, nothing runs). The window runs from one completed poll
   (a ``jobs/state`` answer, seen by a response hook) to the last one completed within
   ``--window`` seconds; the process's CPU time between them (all threads: the
   executor's follower and the shared watch loop) is divided by the futures and the
   seconds. Prints the polls counted and slurmrestd's answer time for ``jobs/state``
   (median and max), so a slow or wedged slurmrestd shows instead of a flattering figure.
3. Cancel: the array is cancelled (always, in a ``finally``), then every future must end
   (``JobFailedError``, state CANCELLED) within ``--cancel-timeout``; prints how long that
   took and the requests it cost, then checks ``squeue`` holds none of the bench's jobs.

Exit code 1 if a future did not end after the cancel or a job was left behind.

Figures of 2026-12-07 on the shared 24.11 test cluster (one node, 2 cores, other jobs
running), ``python bench/executor.py --release 24.11 --rounds 5 --window 20``::

    end to end (median of 5): script job 2.52 s, submit(fn).result() 2.52 s, ratio 1.00x
      (fastest of each: 1.99x)
    1000 pending futures (one held array, submitted in 0.15 s; 1000 still pending): 0.068 s
      client CPU over 5 completed polls in 19.8 s = 0.0035 ms CPU per future per second
      (13.67 us per future per poll); slurmrestd answered jobs/state in 12 ms (median),
      18 ms (max); 0 other requests between them
    after cancelling the array: 1000 futures ended in 15.2 s ({'CANCELLED': 1000}), 0 did
      not; 1001 requests
    squeue after shutdown: none of the bench jobs; slurmrestd HTTP 401 in 0.045 s

(``docs/executor.md`` § Cost keeps them too.)
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from slurm_core import (
    JobFailedError,
    RequestHooks,
    ResponseInfo,
    SlurmClient,
    SlurmExecutor,
    StaticToken,
)
from slurm_core.testing.cluster import LocalSlurmCluster

IDLE = 3.0
"""Seconds between the end-to-end jobs (see :func:`end_to_end`)."""


def _trivial(*_: object) -> int:
    return 1


def _by_value() -> None:
    """This module's functions travel by value, however the bench is started: by
    reference (``python -m``, an import), the job would import ``bench.executor`` and so
    ``slurm_core``, seconds of the job's time that are not the executor's."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass
class Requests:
    """Every answer the client got: when, the process's CPU time then, and how long
    slurmrestd took (a response hook; runs in whichever thread sent the request)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: list[tuple[float, float, float, str, str]] = field(default_factory=list)

    def on_response(self, info: ResponseInfo) -> None:
        path = info.request.url.split("?", 1)[0]
        kind = "state" if path.endswith("/jobs/state") else path.rsplit("/", 2)[-2]
        with self.lock:
            self.seen.append(
                (time.perf_counter(), time.process_time(), info.elapsed, info.request.method, kind)
            )

    def since(self, start: int, kind: str | None = None) -> list[tuple[float, float, float]]:
        with self.lock:
            rows = self.seen[start:]
        return [(t, c, e) for t, c, e, _, k in rows if kind is None or k == kind]

    def __len__(self) -> int:
        with self.lock:
            return len(self.seen)


def end_to_end(client: SlurmClient, ex: SlurmExecutor, workdir: str, rounds: int) -> dict[str, Any]:
    script, function = [], []
    for _ in range(rounds):
        # Each job starts on an idle node: one submitted as the previous one ends waits
        # for slurmctld's next scheduling pass (the node is still completing), which
        # would charge whichever kind of job comes second.
        time.sleep(IDLE)
        t0 = time.perf_counter()
        job = (
            client.jobs.submit()
            .script("#!/bin/sh\ntrue\n")
            .name("bench-script")
            .working_directory(workdir)
            .time_limit("5:00")
            .memory_per_cpu("50M")
            .execute()
        )
        client.jobs.wait(job.job_id, timeout=300)
        script.append(time.perf_counter() - t0)
        time.sleep(IDLE)
        t0 = time.perf_counter()
        assert ex.submit(_trivial).result(timeout=300) == 1
        function.append(time.perf_counter() - t0)
    s, f = statistics.median(script), statistics.median(function)
    return {
        "script_s": s,
        "function_s": f,
        "ratio": f / s,
        "rounds": rounds,
        "min_ratio": min(function) / min(script),  # the least disturbed by others' jobs
    }


def _wait_polls(seen: Requests, start: int, count: int, limit: float) -> None:
    end = time.perf_counter() + limit
    while len(seen.since(start, "state")) < count:
        if time.perf_counter() > end:
            raise SystemExit(f"fewer than {count} polls answered in {limit:.0f} s")
        time.sleep(0.05)


def pending_cpu(
    ex: SlurmExecutor, seen: Requests, futures: list[cf.Future[Any]], window: float
) -> dict[str, Any]:
    """CPU between two completed polls while every future is pending (see the docstring)."""
    start = len(seen)
    # From the second finished poll: the first one's answer is followed by a read of every
    # task's record (their first event, PENDING), which is not the steady state.
    _wait_polls(seen, start, 2, 120)
    first = seen.since(start, "state")[1]
    time.sleep(window)
    polls = [p for p in seen.since(start, "state") if p[0] >= first[0]]
    last = polls[-1]
    if last is first:
        raise SystemExit(f"no poll completed within {window:.0f} s: slurmrestd is too slow")
    wall, cpu = last[0] - first[0], last[1] - first[1]
    answers = [e for _, _, e in polls[1:]]
    n = len(futures)
    return {
        "futures": n,
        "pending": sum(1 for f in futures if not f.done()),
        "polls": len(polls) - 1,
        "window_s": wall,
        "cpu_s": cpu,
        "cpu_ms_per_future_per_s": 1000 * cpu / wall / n,
        "cpu_us_per_future_per_poll": 1e6 * cpu / (len(polls) - 1) / n,
        "answer_median_s": statistics.median(answers),
        "answer_max_s": max(answers),
        "other_requests": sum(1 for t, _, _ in seen.since(start) if first[0] < t <= last[0])
        - len(polls)
        + 1,
    }


def after_cancel(seen: Requests, futures: list[cf.Future[Any]], limit: float) -> dict[str, Any]:
    """How long until every future of the cancelled array has ended, and with what."""
    start, t0 = len(seen), time.perf_counter()
    done, not_done = cf.wait(futures, timeout=limit)
    states: dict[str, int] = {}
    for f in done:
        exc = f.exception(0) if not f.cancelled() else None
        state = exc.state if isinstance(exc, JobFailedError) else type(exc).__name__
        states[state] = states.get(state, 0) + 1
    return {
        "ended": len(done),
        "not_ended": len(not_done),
        "seconds": time.perf_counter() - t0,
        "states": states,
        "requests": len(seen.since(start)),
    }


def _squeue(cluster: LocalSlurmCluster, name: str) -> list[str]:
    out = cluster.run(["squeue", "-h", "-o", "%i %T", "-n", name], check=True).stdout
    return out.split()


def _slurmrestd_alive(url: str) -> str:
    import httpx

    t0 = time.perf_counter()
    try:
        code = httpx.get(f"{url}/openapi/v3", timeout=10).status_code
    except httpx.HTTPError as exc:
        return f"no answer ({type(exc).__name__})"
    return f"HTTP {code} in {time.perf_counter() - t0:.3f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="24.11")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--futures", type=int, default=1000)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--cancel-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    cluster = LocalSlurmCluster.running(args.release)
    if cluster is None:
        raise SystemExit(f"SLURM {args.release} is not running")
    cluster.share_python()
    _by_value()
    auth = StaticToken(cluster.token(), user_name=cluster.user_name)
    seen = Requests()
    name = f"bench-executor-{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"time_limit": "5:00", "memory_per_cpu": "50M", "name": name}
    status = 0
    with (
        SlurmClient(
            cluster.rest_url,
            auth=auth,
            timeout=30,
            hooks=RequestHooks(on_response=seen.on_response),
        ) as client,
        SlurmExecutor(
            client, workspace=str(cluster.shared_dir), job_user=cluster.uid(), **options
        ) as ex,
    ):
        e2e = end_to_end(client, ex, str(cluster.shared_dir), args.rounds)
        print(
            f"end to end (median of {e2e['rounds']}): script job {e2e['script_s']:.2f} s, "
            f"submit(fn).result() {e2e['function_s']:.2f} s, ratio {e2e['ratio']:.2f}x "
            f"(fastest of each: {e2e['min_ratio']:.2f}x)"
        )
        t0 = time.perf_counter()
        futures: list[cf.Future[Any]] = []
        try:
            futures = list(
                ex.submit_array(_trivial, range(args.futures), slurm_options={"hold": True})
            )
            submit_s = time.perf_counter() - t0
            cpu = pending_cpu(ex, seen, futures, args.window)
            print(
                f"{cpu['futures']} pending futures (one held array, submitted in {submit_s:.2f} s;"
                f" {cpu['pending']} still pending): {cpu['cpu_s']:.3f} s client CPU over "
                f"{cpu['polls']} completed polls in {cpu['window_s']:.1f} s = "
                f"{cpu['cpu_ms_per_future_per_s']:.4f} ms CPU per future per second "
                f"({cpu['cpu_us_per_future_per_poll']:.2f} us per future per poll); "
                f"slurmrestd answered jobs/state in {cpu['answer_median_s'] * 1000:.0f} ms "
                f"(median), {cpu['answer_max_s'] * 1000:.0f} ms (max); "
                f"{cpu['other_requests']} other requests between them"
            )
        finally:
            if futures:
                client.jobs.cancel(futures[0].job_id.split("_")[0])  # type: ignore[attr-defined]
        end = after_cancel(seen, futures, args.cancel_timeout)
        print(
            f"after cancelling the array: {end['ended']} futures ended in "
            f"{end['seconds']:.1f} s ({end['states']}), {end['not_ended']} did not; "
            f"{end['requests']} requests"
        )
        if end["not_ended"]:
            status = 1
            ex.shutdown(wait=False, cancel_futures=True)
    left = _squeue(cluster, name)
    print(
        f"squeue after shutdown: {left or 'none of the bench jobs'}; slurmrestd "
        f"{_slurmrestd_alive(cluster.rest_url)}"
    )
    return 1 if left else status


if __name__ == "__main__":
    raise SystemExit(main())
