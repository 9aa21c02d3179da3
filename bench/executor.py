"""Benchmark (not a test): the cost of a Python function job against a script job.

On a running local cluster (the executor needs this interpreter inside it, which
``share_python`` arranges)::

    .venv/bin/python bench/executor.py --release 26.05 --rounds 5

1. End to end, in the same run and through the same client, alternating: a trivial script
   job submitted and awaited (``jobs.submit().script(...).execute()`` + ``jobs.wait``)
   against ``SlurmExecutor.submit(fn).result()`` for a trivial function. Prints the
   medians and their ratio (goal: within 1.2x).
2. Client CPU per pending future: ``map`` over 1,000 items submitted held (one array of
   1,000 tasks, one request, nothing runs), then the process's CPU time (all threads:
   the executor's follower and the shared watch loop) over a window while the 1,000
   futures are pending, per future and per second. The array is cancelled afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from slurm_core import SlurmClient, SlurmExecutor, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster


def _trivial() -> int:
    return 1


def end_to_end(client: SlurmClient, ex: SlurmExecutor, workdir: str, rounds: int) -> dict[str, Any]:
    script, function = [], []
    for _ in range(rounds):
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
        t0 = time.perf_counter()
        assert ex.submit(_trivial).result(timeout=300) == 1
        function.append(time.perf_counter() - t0)
    s, f = statistics.median(script), statistics.median(function)
    return {"script_s": s, "function_s": f, "ratio": f / s, "rounds": rounds}


def pending_cpu(client: SlurmClient, ex: SlurmExecutor, n: int, window: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    results = ex.map(_trivial, range(n), slurm_options={"hold": True}, timeout=window * 10)
    futures = list(ex._follower.pending.values())
    submit_s = time.perf_counter() - t0
    array_id = futures[0].job_id.split("_")[0]
    time.sleep(2.0)  # the follower attaches and the first polls happen
    cpu0, wall0, polls0 = time.process_time(), time.perf_counter(), client.jobs.watcher.brain.polls
    time.sleep(window)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    polls = client.jobs.watcher.brain.polls - polls0
    pending = sum(1 for f in futures if not f.done())
    client.jobs.cancel(array_id)
    del results
    return {
        "futures": n,
        "pending_during_window": pending,
        "submit_s": submit_s,
        "window_s": wall,
        "polls": polls,
        "cpu_s": cpu,
        "cpu_ms_per_future_per_s": 1000 * cpu / wall / n,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", default="26.05")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--futures", type=int, default=1000)
    parser.add_argument("--window", type=float, default=20.0)
    args = parser.parse_args(argv)
    cluster = LocalSlurmCluster.running(args.release)
    if cluster is None:
        raise SystemExit(f"SLURM {args.release} is not running")
    cluster.share_python()
    auth = StaticToken(cluster.token(), user_name=cluster.user_name)
    options = {"time_limit": "5:00", "memory_per_cpu": "50M"}
    with (
        SlurmClient(cluster.rest_url, auth=auth, timeout=30) as client,
        SlurmExecutor(
            client, workspace=str(cluster.shared_dir), job_user=cluster.uid(), **options
        ) as ex,
    ):
        e2e = end_to_end(client, ex, str(cluster.shared_dir), args.rounds)
        print(
            f"end to end (median of {e2e['rounds']}): script job {e2e['script_s']:.2f} s, "
            f"submit(fn).result() {e2e['function_s']:.2f} s, ratio {e2e['ratio']:.2f}x"
        )
        cpu = pending_cpu(client, ex, args.futures, args.window)
        print(
            f"{cpu['futures']} pending futures (one held array, submitted in "
            f"{cpu['submit_s']:.2f} s): {cpu['cpu_s']:.3f} s client CPU over "
            f"{cpu['window_s']:.1f} s and {cpu['polls']} polls = "
            f"{cpu['cpu_ms_per_future_per_s']:.4f} ms CPU per future per second"
        )
        ex.shutdown(wait=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
