"""Performance of the core client, each figure a ratio measured in the same run (not a test).

    .venv/bin/python -m bench             # or: .venv/bin/python bench/run.py
    .venv/bin/python -m bench --quick     # fewer rounds

1. ``nodes.list()`` with ``SlurmClient`` vs a bare ``httpx.Client`` GET of the same endpoint
   parsed with ``json.loads``, against the real 24.11 slurmrestd, keep-alive in both, call
   by call in turn. Ratio = bare median / SDK median (1.0: as fast; target >= 0.89, the
   fastest peer's).
2. Async throughput, 8 concurrent workers: ``AsyncSlurmClient.ping()`` vs a bare
   ``httpx.AsyncClient`` GET + ``json.loads``. Ratio = SDK req/s / bare req/s (target >= 1.1).
   In the same rounds, the SDK on its default lean transport (``slurm_core._aio``, framing by
   h11) vs the SDK on httpx's own ``AsyncHTTPTransport``: the ratio that justifies keeping
   the lean transport (target >= 1.1).
3. Parsing a 10,000-job listing (v0.0.45) into models vs ``json.loads`` of the same bytes;
   ratio = parse time / json.loads time (target <= 2), and the memory growth of the parse
   (tracemalloc peak; target <= 300 MiB).

Import time (``import slurm_core`` and the clients) is :mod:`bench.imports`.

Calls (1) and rounds (2, 3) alternate between the contenders so that a machine busy with
other work (the clusters are shared) disturbs both alike; medians are reported. Results go to
``bench/results/latest.json`` and ``latest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import importlib.util
import json
import platform
import statistics
import sys
import time
import tracemalloc
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # python bench/run.py
    sys.path.insert(0, str(ROOT))

from slurm_core import AsyncSlurmClient, SlurmClient, StaticToken  # noqa: E402
from slurm_core._options import DEFAULT_LIMITS  # noqa: E402
from slurm_core._versions import get_adapter  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RELEASE = "24.11"
VERSION = "v0.0.42"
MiB = 1 << 20


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _cluster() -> Any:
    from slurm_core.testing.cluster import LocalSlurmCluster

    return LocalSlurmCluster.running(RELEASE)


# -- 1. nodes.list ----------------------------------------------------------------------------
def bench_nodes_list(cluster: Any, rounds: int, calls: int) -> dict[str, Any]:
    token = cluster.token("alice", lifespan=3600)
    headers = {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": token}
    path = f"/slurm/{VERSION}/nodes"
    sdk = SlurmClient(
        cluster.rest_url, auth=StaticToken(token, user_name="alice"), api_version=VERSION
    )
    bare = httpx.Client(base_url=cluster.rest_url, headers=headers)

    def run_sdk() -> None:
        sdk.nodes.list()

    def run_bare() -> None:
        json.loads(bare.get(path).content)

    contenders: dict[str, Callable[[], None]] = {"sdk": run_sdk, "bare httpx": run_bare}
    try:
        for fn in contenders.values():  # connect, negotiate, warm up
            for _ in range(20):
                fn()
        # Alternate call by call: the server's load drifts (shared machine), and a drift
        # between two rounds would show as a difference between the contenders.
        per_call: dict[str, list[float]] = {k: [] for k in contenders}
        cpu: dict[str, list[float]] = {k: [] for k in contenders}
        for _ in range(rounds * calls):
            for name, fn in contenders.items():
                t, p = time.perf_counter(), time.process_time()
                fn()
                per_call[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - p)
    finally:
        sdk.close()
        bare.close()
    sdk_t, bare_t = _median(per_call["sdk"]), _median(per_call["bare httpx"])
    return {
        "sdk_ms": sdk_t * 1e3,
        "bare_ms": bare_t * 1e3,
        "sdk_cpu_us": _median(cpu["sdk"]) * 1e6,
        "bare_cpu_us": _median(cpu["bare httpx"]) * 1e6,
        "ratio": bare_t / sdk_t,
        "target": ">= 0.89",
        "ok": bare_t / sdk_t >= 0.89,
    }


# -- 2. async throughput ----------------------------------------------------------------------
async def _async_ping(cluster: Any, rounds: int, per_worker: int, workers: int) -> dict[str, Any]:
    token = cluster.token("alice", lifespan=3600)
    headers = {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": token}
    path = f"/slurm/{VERSION}/ping"
    sdk = AsyncSlurmClient(
        cluster.rest_url, auth=StaticToken(token, user_name="alice"), api_version=VERSION
    )
    bare = httpx.AsyncClient(base_url=cluster.rest_url, headers=headers)
    # The same SDK on httpx's own transport (what it would use without slurm_core._aio),
    # with the pool limits the default transport gets.
    sdk_httpx = AsyncSlurmClient(
        cluster.rest_url,
        auth=StaticToken(token, user_name="alice"),
        api_version=VERSION,
        transport=httpx.AsyncHTTPTransport(limits=DEFAULT_LIMITS, retries=0),
    )

    async def run_sdk() -> None:
        await sdk.ping()

    async def run_sdk_httpx() -> None:
        await sdk_httpx.ping()

    async def run_bare() -> None:
        json.loads((await bare.get(path)).content)

    contenders = {"sdk": run_sdk, "bare httpx": run_bare, "sdk on httpx transport": run_sdk_httpx}
    # httpcore tries "import sniffio" on every request; without sniffio installed (anyio 4
    # no longer needs it) each failed import costs ~0.4 ms. Measure bare httpx with a
    # stand-in as well, to show how much of the gap is that.
    shim = None
    if importlib.util.find_spec("sniffio") is None:
        shim = types.ModuleType("sniffio")
        shim.current_async_library = lambda: "asyncio"  # type: ignore[attr-defined]

        contenders["bare httpx + sniffio"] = run_bare  # run with the stand-in, see below

    async def worker(fn: Callable[[], Any], n: int) -> None:
        for _ in range(n):
            await fn()

    async def measure(name: str, fn: Callable[[], Any], n: int) -> tuple[float, float]:
        if name == "bare httpx + sniffio":
            sys.modules["sniffio"] = shim  # type: ignore[assignment]
        try:
            t, p = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker(fn, n) for _ in range(workers)))
            return time.perf_counter() - t, time.process_time() - p
        finally:
            if shim is not None:
                sys.modules.pop("sniffio", None)

    try:
        for name, fn in contenders.items():
            await measure(name, fn, 5)
        rps: dict[str, list[float]] = {k: [] for k in contenders}
        cpu: dict[str, list[float]] = {k: [] for k in contenders}
        total = per_worker * workers
        for _ in range(rounds):
            for name, fn in contenders.items():
                wall, used = await measure(name, fn, per_worker)
                rps[name].append(total / wall)
                cpu[name].append(used / total)
    finally:
        await sdk.aclose()
        await sdk_httpx.aclose()
        await bare.aclose()
    sdk_r, bare_r = _median(rps["sdk"]), _median(rps["bare httpx"])
    sdk_httpx_r = _median(rps["sdk on httpx transport"])
    extra: dict[str, Any] = {}
    if shim is not None:
        shim_r = _median(rps["bare httpx + sniffio"])
        extra = {
            "bare_with_sniffio_rps": shim_r,
            "bare_with_sniffio_cpu_us": _median(cpu["bare httpx + sniffio"]) * 1e6,
            "ratio_vs_bare_with_sniffio": sdk_r / shim_r,
        }
    return {
        "workers": workers,
        "sdk_rps": sdk_r,
        "bare_rps": bare_r,
        "sdk_cpu_us": _median(cpu["sdk"]) * 1e6,
        "bare_cpu_us": _median(cpu["bare httpx"]) * 1e6,
        **extra,
        "sdk_httpx_transport_rps": sdk_httpx_r,
        "sdk_httpx_transport_cpu_us": _median(cpu["sdk on httpx transport"]) * 1e6,
        "lean_vs_httpx_transport_ratio": sdk_r / sdk_httpx_r,
        "ratio": sdk_r / bare_r,
        "target": ">= 1.1",
        "ok": sdk_r / bare_r >= 1.1,
    }


# -- 3. parsing 10k jobs ----------------------------------------------------------------------
def _listing(n: int) -> bytes:
    rec = json.loads((ROOT / "tests/data/responses/v0.0.45/jobs.json").read_text())
    body = rec["response"]["body"]
    templates = body["jobs"]
    jobs = []
    for i in range(n):
        job = copy.deepcopy(templates[i % len(templates)])
        job["job_id"] = i + 1
        job["name"] = f"job-{i}"
        jobs.append(job)
    body["jobs"] = jobs
    return json.dumps(body).encode()


def bench_parse(n: int, rounds: int) -> dict[str, Any]:
    content = _listing(n)
    adapter = get_adapter("v0.0.45")
    request = httpx.Request("GET", "http://slurm/slurm/v0.0.45/jobs")

    def parse() -> Any:
        return adapter.parse_jobs(httpx.Response(200, content=content, request=request))

    def loads() -> Any:
        return json.loads(content)

    times: dict[str, list[float]] = {"models": [], "json.loads": []}
    for _ in range(rounds):
        for name, fn in (("models", parse), ("json.loads", loads)):
            gc.collect()
            t = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - t)
            del result
    assert len(parse()) == n
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    jobs = parse()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del jobs
    gc.collect()
    tracemalloc.start()
    base_j = tracemalloc.get_traced_memory()[0]
    decoded = loads()
    kept_j, peak_j = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del decoded
    models_t, loads_t = _median(times["models"]), _median(times["json.loads"])
    return {
        "jobs": n,
        "body_mib": len(content) / MiB,
        "models_s": models_t,
        "json_loads_s": loads_t,
        "ratio": models_t / loads_t,
        "peak_growth_mib": (peak - base) / MiB,
        "retained_mib": (kept - base) / MiB,
        "json_loads_peak_mib": (peak_j - base_j) / MiB,
        "json_loads_retained_mib": (kept_j - base_j) / MiB,
        "target": "<= 2x, <= 300 MiB",
        "ok": models_t / loads_t <= 2 and (peak - base) / MiB <= 300,
    }


# -- report -----------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    rows = ["| benchmark | figures | ratio | target | met |", "|---|---|---|---|---|"]
    n = results.get("nodes_list")
    if n:
        rows.append(
            f"| nodes.list (sync, {RELEASE} {VERSION}) | SDK {n['sdk_ms']:.2f} ms, bare httpx "
            f"{n['bare_ms']:.2f} ms per call; CPU {n['sdk_cpu_us']:.0f} vs "
            f"{n['bare_cpu_us']:.0f} us | {n['ratio']:.2f}x | {n['target']} | "
            f"{'yes' if n['ok'] else 'NO'} |"
        )
    a = results.get("async_ping")
    if a:
        rows.append(
            f"| async ping, {a['workers']} workers | SDK {a['sdk_rps']:.0f} req/s, bare httpx "
            f"{a['bare_rps']:.0f} req/s; CPU {a['sdk_cpu_us']:.0f} vs {a['bare_cpu_us']:.0f} "
            f"us/req | {a['ratio']:.2f}x | {a['target']} | {'yes' if a['ok'] else 'NO'} |"
        )
        if "bare_with_sniffio_rps" in a:
            r = a["ratio_vs_bare_with_sniffio"]
            rows.append(
                "| ... vs bare httpx with sniffio importable | "
                f"bare {a['bare_with_sniffio_rps']:.0f} req/s, CPU "
                f"{a['bare_with_sniffio_cpu_us']:.0f} us/req | {r:.2f}x | >= 1.1 | "
                f"{'yes' if r >= 1.1 else 'NO'} |"
            )
        if "lean_vs_httpx_transport_ratio" in a:
            r = a["lean_vs_httpx_transport_ratio"]
            rows.append(
                "| ... SDK lean h11 transport vs SDK on httpx AsyncHTTPTransport | "
                f"lean {a['sdk_rps']:.0f} req/s, httpx transport "
                f"{a['sdk_httpx_transport_rps']:.0f} req/s; CPU {a['sdk_cpu_us']:.0f} vs "
                f"{a['sdk_httpx_transport_cpu_us']:.0f} us/req | {r:.2f}x | >= 1.1 | "
                f"{'yes' if r >= 1.1 else 'NO'} |"
            )
    p = results["parse_10k"]
    rows.append(
        f"| parse {p['jobs']} jobs ({p['body_mib']:.0f} MiB) | models {p['models_s']:.2f} s, "
        f"json.loads {p['json_loads_s']:.2f} s; peak +{p['peak_growth_mib']:.0f} MiB "
        f"(retained {p['retained_mib']:.0f}; json.loads peak {p['json_loads_peak_mib']:.0f}) | "
        f"{p['ratio']:.2f}x | {p['target']} | {'yes' if p['ok'] else 'NO'} |"
    )
    for skipped in results.get("skipped", []):
        rows.append(f"| {skipped} | skipped: no running {RELEASE} cluster | - | - | - |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="slurm-client benchmarks (not tests)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    quick = args.quick
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "httpx": httpx.__version__,
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs",
        "skipped": [],
    }
    cluster = _cluster()
    if cluster is None:
        results["skipped"] += ["nodes.list", "async ping"]
    else:
        print(f"nodes.list against SLURM {RELEASE} ...", flush=True)
        results["nodes_list"] = bench_nodes_list(cluster, 5 if quick else 9, 40)
        print("async ping, 8 workers ...", flush=True)
        results["async_ping"] = asyncio.run(
            _async_ping(cluster, 3 if quick else 7, 50 if quick else 100, 8)
        )
    print("parsing 10,000 jobs ...", flush=True)
    results["parse_10k"] = bench_parse(10_000, 3 if quick else 5)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    header = f"slurm-client benchmarks, {results['when']} ({results['machine']}, Python "
    header += f"{results['python']}, httpx {results['httpx']})\n\n"
    (RESULTS / "latest.md").write_text(header + table)
    print()
    print(header + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
