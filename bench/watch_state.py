"""Benchmark (not a test): what one watch poll costs the cluster, against the real 24.11.

M held jobs are queued (submitted one by one over REST: an array would be one record in
slurmctld's table until its tasks start, and ``MaxArraySize`` is 1001 by default), then
for N = 1, 50, 1000 of them, P polls of each contender in turn:

- ``watch``: our watcher's poll (:meth:`WatchCore.poll`, steady state: no job changed);
- ``job/{id}``: one ``GET job/{id}`` per watched job (what a per-job poller sends);
- ``update_time``: ``GET jobs?update_time=T`` as the old watcher sent it (T = the last
  listing's ``last_update``): tiny while no job in the whole cluster changed, else the
  whole table; ``update_time*`` is the same with one unwatched job changed before each
  poll (``scontrol update``: a busy cluster, where something always changed);
- ``bare``: a bare ``httpx`` ``GET jobs/state?job_id=...`` for the same ids (same chunks),
  decoded with ``json.loads``: the floor.

Per poll (median; the contenders take turns poll by poll): bytes received, requests,
slurmctld RPC time (the delta of ``diag``'s ``rpcs_by_message_type`` total_time over the
job-information RPCs, µs) and client CPU; ratios against ``bare``. The cluster is shared,
so RPC time carries others' noise::

    .venv/bin/python -m bench --watch-state                # M = 2000
    .venv/bin/python bench/watch_state.py --jobs 10000     # if MaxJobCount allows
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # python bench/watch_state.py
    sys.path.insert(0, str(ROOT))

from slurm_core import SlurmClient, StaticToken  # noqa: E402
from slurm_core._engine import run_sync  # noqa: E402
from slurm_core.watch import WatchOptions  # noqa: E402
from slurm_core.watch._source import chunks  # noqa: E402

RELEASE = "24.11"
VERSION = "v0.0.42"
JOB_RPCS = {
    "REQUEST_JOB_STATE",
    "REQUEST_JOB_INFO",
    "REQUEST_JOB_INFO_SINGLE",
    "REQUEST_JOB_USER_INFO",
}
SCRIPT = "#!/bin/sh\ntrue\n"


class Counting(httpx.BaseTransport):
    """Counts requests and response bytes."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests = 0
        self.bytes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(3):  # the shared slurmrestd may be restarted by others' tests
            try:
                response = self.inner.handle_request(request)
                break
            except httpx.TransportError:
                if attempt == 2:
                    raise
                time.sleep(2)
        self.requests += 1
        self.bytes += len(response.read())
        return response


def rpc_time(http: httpx.Client) -> int:
    """Microseconds slurmctld spent so far on job-information RPCs (``diag``)."""
    stats = http.get(f"/slurm/{VERSION}/diag").json()["statistics"]["rpcs_by_message_type"]
    return sum(int(r["total_time"]) for r in stats if r["message_type"] in JOB_RPCS)


def queue_held(http: httpx.Client, count: int, name: str, cwd: str) -> list[int]:
    ids = []
    job = {
        "script": SCRIPT,
        "name": name,
        "hold": True,
        "current_working_directory": cwd,
        "environment": ["PATH=/bin:/usr/bin"],
    }
    for _ in range(count):
        answer = http.post(f"/slurm/{VERSION}/job/submit", json={"job": job}).json()
        if answer.get("errors"):
            raise SystemExit(f"submission refused after {len(ids)} jobs: {answer['errors']}")
        ids.append(int(answer["job_id"]))
    return ids


def measure(
    fns: dict[str, Callable[[], None]], counter: Counting, http: httpx.Client, polls: int
) -> dict[str, dict[str, float]]:
    """Per-poll medians, the contenders taking turns poll by poll (the cluster is shared:
    a burst of others' RPCs then lands on one poll of one contender, not on all of its)."""
    for fn in fns.values():
        fn()  # warm: the watcher reads each record once, on first sight
    per: dict[str, dict[str, list[float]]] = {
        k: {"bytes": [], "requests": [], "rpc_us": [], "cpu_ms": []} for k in fns
    }
    for _ in range(polls):
        for name, fn in fns.items():
            rpc0 = rpc_time(http)
            counter.requests = counter.bytes = 0
            cpu0 = time.process_time()
            fn()
            cpu = time.process_time() - cpu0
            rpc = rpc_time(http) - rpc0
            row = per[name]
            row["bytes"].append(counter.bytes)
            row["requests"].append(counter.requests)
            row["rpc_us"].append(rpc)
            row["cpu_ms"].append(cpu * 1000)
    return {k: {m: statistics.median(v) for m, v in row.items()} for k, row in per.items()}


def contenders(
    cluster: Any, token: str, ids: list[int], bystander: int, counter: Counting
) -> dict[str, Callable[[], None]]:
    headers = {"X-SLURM-USER-NAME": cluster.user_name, "X-SLURM-USER-TOKEN": token}
    raw = httpx.Client(base_url=cluster.rest_url, headers=headers, transport=counter, timeout=300)
    client = SlurmClient(
        cluster.rest_url,
        auth=StaticToken(token, user_name=cluster.user_name),
        api_version=VERSION,
        transport=counter,
    )
    brain = client.jobs.watcher.brain
    brain.set_options(WatchOptions(min_interval=0, initial_interval=0, max_interval=0))
    keys = [str(j) for j in ids]
    sub = brain.subscribe(keys)
    last = [0]

    def watch() -> None:
        run_sync(client._http, brain.poll())
        while sub.take() is not None:
            pass

    def per_job() -> None:
        for key in keys:
            raw.get(f"/slurm/{VERSION}/job/{key}").json()

    def update_time() -> None:
        params = {"update_time": last[0]} if last[0] else None
        body = json.loads(raw.get(f"/slurm/{VERSION}/jobs", params=params).content)
        stamp = (body.get("last_update") or {}).get("number", 0)
        last[0] = stamp or last[0]

    def busy_update_time() -> None:
        stamp = str(time.monotonic_ns())
        cluster.run(["scontrol", "update", f"jobid={bystander}", f"comment={stamp}"])
        update_time()

    def bare() -> None:
        for chunk in chunks(keys):
            json.loads(raw.get(f"/slurm/{VERSION}/jobs/state", params={"job_id": chunk}).content)

    return {
        "watch": watch,
        "job/{id}": per_job,
        "update_time": update_time,
        "update_time*": busy_update_time,
        "bare": bare,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="M held jobs queued")
    parser.add_argument("--watched", default="1,50,1000", help="N values, comma separated")
    parser.add_argument("--polls", type=int, default=5, help="polls per contender and N")
    args = parser.parse_args(argv)
    from slurm_core.testing.cluster import LocalSlurmCluster

    cluster = LocalSlurmCluster.running(RELEASE)
    token = cluster.token(cluster.user_name, lifespan=3600)
    headers = {"X-SLURM-USER-NAME": cluster.user_name, "X-SLURM-USER-TOKEN": token}
    http = httpx.Client(base_url=cluster.rest_url, headers=headers, timeout=60)
    name = f"bench-ws-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    try:
        ids = queue_held(http, args.jobs, name, str(cluster.shared_dir))
        print(f"M = {len(ids)} held jobs queued in {time.monotonic() - started:.1f} s", flush=True)
        rows = []
        for n in (int(x) for x in args.watched.split(",")):
            counter = Counting()
            fns = contenders(cluster, token, ids[:n], ids[-1], counter)
            result = measure(fns, counter, http, args.polls)
            rows.append((n, result))
            floor = result["bare"]
            print(f"\nN = {n} watched of M = {len(ids)} (medians of {args.polls} polls each)")
            print(f"{'':12} {'bytes':>11} {'requests':>9} {'rpc µs':>9} {'cpu ms':>8}  ratios")
            for k, r in result.items():
                ratio = " ".join(
                    f"{m}x{r[m] / floor[m]:.2f}" if floor[m] else f"{m}x-"
                    for m in ("bytes", "rpc_us")
                )
                print(
                    f"{k:12} {r['bytes']:11.0f} {r['requests']:9.1f} {r['rpc_us']:9.0f} "
                    f"{r['cpu_ms']:8.1f}  {ratio}",
                    flush=True,
                )
    finally:
        cluster.run(["scancel", f"--name={name}"])
        http.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
