"""Benchmark (not a test): what one watch poll costs the cluster, against the real 24.11.

M held jobs are queued (submitted over REST by a few threads: an array would be one record
in slurmctld's table until its tasks start, and ``MaxArraySize`` is 1001 by default); for
each M of ``--jobs`` (the queue is topped up from one to the next) and N = 1, 50, 1000 of
them, P polls of each contender in turn:

- ``watch``: our watcher's poll (:meth:`WatchCore.poll`, steady state: no job changed);
- ``job/{id}``: one ``GET job/{id}`` per watched job (what a per-job poller sends);
- ``update_time``: ``GET jobs?update_time=T`` as the old watcher sent it (T = the last
  listing's ``last_update``): tiny while no job in the whole cluster changed, else the
  whole table; ``update_time*`` is the same with one unwatched job changed before each
  poll (``scontrol update``: a busy cluster, where something always changed);
  Both list the whole table whatever N: they are measured at the least N only, and only
  ``--listing-polls`` times (1) (a 10,000-job listing is ~100 MB that slurmrestd builds in
  memory: the cluster is shared);
- ``bare``: a bare ``httpx`` ``GET jobs/state?job_id=...`` for the same ids (same chunks),
  decoded with ``json.loads``: the floor.

Per poll (median; the contenders take turns poll by poll, ``watch`` and ``bare`` 20 more
times): bytes received, requests, slurmctld RPC time, client CPU and wall time, with
ratios against ``bare``. RPC time is the delta of
``diag``'s ``rpcs_by_message_type`` total_time over the job-information RPCs (``rpc µs``:
the cluster is shared, so it carries others' noise) and of ``rpcs_by_user`` for the
bench's own user, ``bob`` (``own µs``: only the contender's RPCs; ``diag`` is read as
``alice``). RPC time is heavy-tailed: an RPC waiting for slurmctld's job lock (a
scheduling pass, someone's listing) counts the wait, and two identical ``bare`` contenders
were seen 1.2-1.4x apart in medians of 25 polls. Verdict lines close the run: the watch's
bytes grow with N and not with M, and its slurmctld time per poll stays within 1.5x of
``bare``'s, judged on lower quartiles (what a poll costs when no one else holds the lock;
medians beside them). The jobs are cancelled
with one ``scancel --name`` at the end, also on an error, Ctrl-C or SIGTERM::

    .venv/bin/python -m bench --watch-state                    # M = 2000 then 10000
    .venv/bin/python -m bench --watch-state --jobs 300 --watched 1,50 --polls 3

The cluster needs ``MaxJobCount`` above the largest M (30000 in the test clusters). Cancelled
jobs stay in slurmctld's table for ``MinJobAge`` (600 s there): until then every full
listing, anyone's, still carries them (78 MB for 10,000), and a slurmrestd answering many
such listings at once was seen to stall. Figures are in ``docs/concepts/watching.md``; the
run also leaves ``bench/results/watch_state.json``.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # python bench/watch_state.py
    sys.path.insert(0, str(ROOT))

from bench._results import RESULTS  # noqa: E402
from slurm_core import SlurmClient, StaticToken  # noqa: E402
from slurm_core._engine import run_sync  # noqa: E402
from slurm_core.watch import WatchOptions  # noqa: E402
from slurm_core.watch._source import chunks  # noqa: E402

RELEASE = "24.11"
VERSION = "v0.0.42"
USER = "bob"  # the jobs' and the contenders' user: its RPC time is the bench's own
JOB_RPCS = {
    "REQUEST_JOB_STATE",
    "REQUEST_JOB_INFO",
    "REQUEST_JOB_INFO_SINGLE",
    "REQUEST_JOB_USER_INFO",
}
SCRIPT = "#!/bin/sh\ntrue\n"
SUBMITTERS = 4  # slurmctld serialises submissions; a few in flight hide slurmrestd's latency
BYTES_VS_M = 1.10  # "bytes do not grow with M": at most this ratio from the least to most M
RPC_VS_BARE = 1.5  # the goal for slurmctld time per poll
FLOOR = ("watch", "bare")  # polled more often: their RPC time ratio is a goal
LISTINGS = ("update_time", "update_time*")  # the same request whatever N: measured at the least
METRICS = ("bytes", "requests", "rpc_us", "own_us", "cpu_ms", "wall_ms")
Result = dict[str, dict[str, float]]


class Counting(httpx.BaseTransport):
    """Counts requests and response bytes."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests = 0
        self.bytes = 0
        self.listed = 0  # jobs in the last full listing

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


def rpc_time(diag: httpx.Client) -> tuple[int, int]:
    """Microseconds slurmctld spent so far on job-information RPCs (anyone's), and on
    every RPC of :data:`USER` (``diag``)."""
    stats = diag.get(f"/slurm/{VERSION}/diag").json()["statistics"]
    by_type = sum(
        int(r["total_time"]) for r in stats["rpcs_by_message_type"] if r["message_type"] in JOB_RPCS
    )
    own = sum(int(r["total_time"]) for r in stats["rpcs_by_user"] if r.get("user") == USER)
    return by_type, own


def queue_held(http: httpx.Client, count: int, name: str, cwd: str) -> list[int]:
    """Submit ``count`` held jobs named ``name``, :data:`SUBMITTERS` at a time; every one
    submitted has returned when this does (so a later ``scancel --name`` sees them all)."""
    job = {
        "script": SCRIPT,
        "name": name,
        "hold": True,
        "current_working_directory": cwd,
        "environment": ["PATH=/bin:/usr/bin"],
    }

    refused = threading.Event()

    def one(_: int) -> int:
        if refused.is_set():  # one refusal (MaxJobCount...): the rest would be refused too
            raise SystemExit("submission refused")
        answer = http.post(f"/slurm/{VERSION}/job/submit", json={"job": job}).json()
        if answer.get("errors"):
            refused.set()
            raise SystemExit(f"submission refused: {answer['errors']}")
        return int(answer["job_id"])

    pool = ThreadPoolExecutor(SUBMITTERS)
    try:
        return list(pool.map(one, range(count)))
    finally:  # on an error or Ctrl-C, drop what has not started and wait for the rest
        pool.shutdown(wait=True, cancel_futures=True)


def measure(
    fns: dict[str, Callable[[], None]],
    counter: Counting,
    diag: httpx.Client,
    counts: dict[str, int],
) -> Result:
    """Per-poll medians of ``counts[name]`` polls each, the contenders taking turns poll by
    poll (the cluster is shared: a burst of others' RPCs, or a scheduling pass holding
    slurmctld's job lock, then lands on one poll of one contender, not on all of its)."""
    for name, fn in fns.items():
        if name != "update_time*":  # that one lists the whole table anyway
            fn()  # warm: the watcher reads each record once, on first sight
    per: dict[str, dict[str, list[float]]] = {k: {m: [] for m in METRICS} for k in fns}
    for turn in range(max(counts[k] for k in fns)):
        for name in [k for k in fns if turn < counts[k]]:
            rpc0, own0 = rpc_time(diag)
            counter.requests = counter.bytes = 0
            cpu0, wall0 = time.process_time(), time.perf_counter()
            fns[name]()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            rpc1, own1 = rpc_time(diag)
            row = per[name]
            row["bytes"].append(counter.bytes)
            row["requests"].append(counter.requests)
            row["rpc_us"].append(rpc1 - rpc0)
            row["own_us"].append(own1 - own0)
            row["cpu_ms"].append(cpu * 1000)
            row["wall_ms"].append(wall * 1000)
    out = {k: {m: statistics.median(v) for m, v in row.items()} for k, row in per.items()}
    for name, row in per.items():  # lock waits make RPC time heavy-tailed: the quiet cost
        for metric in ("rpc_us", "own_us"):
            out[name][f"{metric}_p25"] = quartile(row[metric])
    return out


def quartile(values: list[float]) -> float:
    """The lower quartile (the value itself for one)."""
    return statistics.quantiles(values, n=4)[0] if len(values) > 1 else values[0]


@contextmanager
def contenders(
    cluster: Any, token: str, ids: list[int], bystander: int, counter: Counting
) -> Iterator[dict[str, Callable[[], None]]]:
    """The contenders' polls of ``ids``; on exit the watch lets go of them (the process's
    one poll loop outlives the client: a later N must not poll these too)."""
    headers = {"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": token}
    raw = httpx.Client(base_url=cluster.rest_url, headers=headers, transport=counter, timeout=600)
    client = SlurmClient(
        cluster.rest_url,
        auth=StaticToken(token, user_name=USER),
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
        counter.listed = len(body.get("jobs") or []) or counter.listed
        stamp = (body.get("last_update") or {}).get("number", 0)
        last[0] = stamp or last[0]

    def busy_update_time() -> None:
        stamp = str(time.monotonic_ns())
        cluster.run(["scontrol", "update", f"jobid={bystander}", f"comment={stamp}"])
        update_time()

    def bare() -> None:
        for chunk in chunks(keys):
            json.loads(raw.get(f"/slurm/{VERSION}/jobs/state", params={"job_id": chunk}).content)

    try:
        yield {
            "watch": watch,
            "job/{id}": per_job,
            "update_time": update_time,
            "update_time*": busy_update_time,
            "bare": bare,
        }
    finally:
        brain.unsubscribe(sub)
        client.close()
        raw.close()


def table(m: int, n: int, counts: dict[str, int], result: Result, first: int) -> str:
    floor = result["bare"]
    polls = ", ".join(f"{k} {c}" for k, c in counts.items())
    lines = [
        f"N = {n} watched of M = {m} held jobs (medians of {polls} polls)",
        f"{'':12} {'bytes':>11} {'requests':>9} {'rpc µs':>9} {'own µs':>9} {'cpu ms':>8}"
        f" {'wall ms':>8}  ratios to bare",
    ]
    for k, r in result.items():
        ratio = " ".join(
            f"{x}x{r[x] / floor[x]:.2f}" if floor[x] else f"{x}x-"
            for x in ("bytes", "rpc_us", "own_us")
        )
        lines.append(
            f"{k:12} {r['bytes']:11.0f} {r['requests']:9.1f} {r['rpc_us']:9.0f} "
            f"{r['own_us']:9.0f} {r['cpu_ms']:8.1f} {r['wall_ms']:8.1f}  {ratio}"
            + (f" (as N={first})" if k in LISTINGS and n != first else "")
        )
    return "\n".join(lines)


def verdicts(rows: dict[tuple[int, int], Result]) -> list[str]:
    """One line per goal of issue #20: bytes grow with N, not M; RPC time within 1.5x bare."""
    ms = sorted({m for m, _ in rows})
    ns = sorted({n for _, n in rows})
    watch = {k: r["watch"] for k, r in rows.items()}
    lines = []
    per_n = [(n, watch[ms[-1], n]["bytes"] / max(watch[ms[0], n]["bytes"], 1)) for n in ns]
    by_n = watch[ms[-1], ns[-1]]["bytes"] / max(watch[ms[-1], ns[0]]["bytes"], 1)
    flat = all(x <= BYTES_VS_M for _, x in per_n)
    grows = len(ns) == 1 or by_n > 1
    ok = flat and grows and len(ms) > 1
    lines.append(
        f"{'PASS' if ok else 'FAIL'} bytes grow with N, not M: watch bytes per poll "
        f"M {ms[0]}->{ms[-1]}: "
        + ", ".join(f"N={n} x{x:.2f}" for n, x in per_n)
        + f" (<= x{BYTES_VS_M}); N {ns[0]}->{ns[-1]} at M={ms[-1]}: x{by_n:.1f}"
        + ("" if len(ms) > 1 else " (only one M: give --jobs two values)")
    )
    for metric, label in (("rpc_us", "all job RPCs"), ("own_us", "own RPCs")):
        low = {
            k: r["watch"][f"{metric}_p25"] / max(r["bare"][f"{metric}_p25"], 1)
            for k, r in rows.items()
        }
        mid = {k: r["watch"][metric] / max(r["bare"][metric], 1) for k, r in rows.items()}
        ok = all(x <= RPC_VS_BARE for x in low.values())
        lines.append(
            f"{'PASS' if ok else 'FAIL'} slurmctld time per poll within x{RPC_VS_BARE} of bare "
            f"({label}; lower quartiles, medians in brackets): "
            + ", ".join(f"M={m} N={n} x{low[m, n]:.2f} (x{mid[m, n]:.2f})" for m, n in sorted(low))
        )
    return lines


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`KeyboardInterrupt`, so ``finally`` cancels the jobs."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", default="2000,10000", help="M held jobs queued, comma list")
    parser.add_argument("--watched", default="1,50,1000", help="N values, comma separated")
    parser.add_argument("--polls", type=int, default=5, help="polls per contender and N")
    parser.add_argument(
        "--floor-polls", type=int, default=20, help="more polls of watch and bare per N"
    )
    parser.add_argument(
        "--listing-polls",
        type=int,
        default=1,
        help="polls of each update_time contender per M (each lists the whole table)",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(x) for x in args.jobs.split(","))
    watched = sorted(int(x) for x in args.watched.split(","))
    if watched[-1] > sizes[0]:
        parser.error(f"--watched {watched[-1]} is more than the least --jobs {sizes[0]}")
    from slurm_core.testing.cluster import LocalSlurmCluster

    cluster = LocalSlurmCluster.running(RELEASE)
    if cluster is None:
        raise SystemExit(f"SLURM {RELEASE} is not running")
    token = cluster.token(USER, lifespan=3600)
    http = httpx.Client(
        base_url=cluster.rest_url,
        headers={"X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": token},
        timeout=60,
        limits=httpx.Limits(max_connections=SUBMITTERS),
    )
    diag = httpx.Client(
        base_url=cluster.rest_url,
        headers={"X-SLURM-USER-NAME": cluster.user_name, "X-SLURM-USER-TOKEN": cluster.token()},
        timeout=60,
    )
    name = f"bench-ws-{uuid.uuid4().hex[:8]}"
    counts = {k: args.polls for k in ("watch", "job/{id}", "bare")}
    counts.update({k: args.polls + args.floor_polls for k in FLOOR})
    counts.update({k: args.listing_polls for k in LISTINGS})
    rows: dict[tuple[int, int], Result] = {}
    ids: list[int] = []
    try:
        with sigterm_as_interrupt():
            for m in sizes:
                started = time.monotonic()
                ids += queue_held(http, m - len(ids), name, str(cluster.shared_dir))
                took = time.monotonic() - started
                print(f"\nM = {len(ids)} held jobs queued (+{took:.1f} s)", flush=True)
                for n in watched:
                    counter = Counting()
                    with contenders(cluster, token, ids[:n], ids[-1], counter) as fns:
                        if n != watched[0]:  # a listing of M jobs costs alike for any N
                            fns = {k: f for k, f in fns.items() if k not in LISTINGS}
                        result = measure(fns, counter, diag, counts)
                    first = rows.get((m, watched[0]), result)
                    order = ("watch", "job/{id}", *LISTINGS, "bare")
                    rows[m, n] = {k: result.get(k) or first[k] for k in order}
                    report = table(m, n, counts, rows[m, n], watched[0])
                    print("\n" + report, flush=True)
                    if n == watched[0]:  # slurmctld keeps finished jobs MinJobAge seconds
                        print(f"(a full listing named {counter.listed} jobs)", flush=True)
                print(f"M = {m} measured {time.monotonic() - started:.0f} s after queueing")
    finally:
        done = cluster.run(["scancel", f"--name={name}"], timeout=300)
        left = cluster.run(["squeue", "-h", "-o", "%i", f"--name={name}"], timeout=120)
        queued = len(left.stdout.split())
        print(f"\ncancelled (scancel rc {done.returncode}); still queued: {queued}")
        http.close()
        diag.close()
    print()
    for line in verdicts(rows):
        print(line)
    RESULTS.mkdir(parents=True, exist_ok=True)
    dump = [{"M": m, "N": n, "contenders": r} for (m, n), r in sorted(rows.items())]
    (RESULTS / "watch_state.json").write_text(json.dumps(dump, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
