"""The core benchmarks' figures for the nearest peer clients from PyPI (not a test).

    .venv/bin/python bench/peers.py            # needs a running 24.11 cluster for nodes.list
    .venv/bin/python bench/peers.py --quick    # fewer calls and rounds
    .venv/bin/python bench/peers.py --only slurmrestapi --only slurm-client

Each client, slurm-client included, is installed into its own throwaway venv under
``$SLURM_CLIENT_PEERS_DIR`` (default ``/tmp/slurm-client-peers``; never the project's
venv) together with httpx, and measured there by one worker process:

1. ``nodes.list`` (the client's call for ``GET /slurm/<v>/nodes``) against the real 24.11
   slurmrestd, alternating call by call with a bare ``httpx.Client`` GET + ``json.loads``
   of the same endpoint in the same process. Ratio = bare median / client median (1.0: as
   fast as bare httpx).
2. Parsing a 10,000-job listing of the client's API version (built from the recorded
   responses in ``tests/data/responses``) into the client's models, alternating with
   ``json.loads`` of the same bytes. Ratio = parse / json.loads.
3. Importing the client in a fresh interpreter, best of N, next to ``import httpx`` in the
   same venv (what a bare-httpx script pays). Ratio = client / httpx.

Clients that cannot run here are listed with the reason (``NOT_RUNNABLE``). Results go to
``bench/results/peers.json`` and ``bench/results/peers.md``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RELEASE = "24.11"
VENVS = Path(os.environ.get("SLURM_CLIENT_PEERS_DIR", "/tmp/slurm-client-peers"))  # noqa: S108


@dataclasses.dataclass(frozen=True)
class Peer:
    """A client to measure: what to install, its REST API version, and worker code.

    ``setup`` is Python run in the worker with ``URL``, ``USER``, ``TOKEN`` and ``VERSION``
    defined; it must define ``nodes()`` (one call, or ``None`` when the client has no such
    call) and ``parse(content: bytes) -> int`` (the number of jobs parsed).
    """

    name: str
    install: str
    kind: str
    version: str
    module: str
    setup: str
    extra: tuple[str, ...] = ()
    """More packages to install beside it (dependencies it needs but does not declare)."""


_OPENAPI = """
from {package} import ApiClient, Configuration, SlurmApi
from {package}.models.{model_module} import {model}
_api = SlurmApi(ApiClient(Configuration(host=URL, api_key={{"user": USER, "token": TOKEN}})))
def nodes():
    return _api.{nodes_call}()
def parse(content):
    return len({model}.from_json(content.decode()).jobs)
"""

PEERS = [
    Peer(
        "slurm-client",
        f"{ROOT}[fast]",
        "this project (httpx, hand-written models; orjson from the fast extra)",
        "v0.0.42",
        "slurm_core; slurm_core.SlurmClient",
        """
import httpx
from slurm_core import SlurmClient, StaticToken
from slurm_core._versions import get_adapter
_client = SlurmClient(URL, auth=StaticToken(TOKEN, user_name=USER), api_version=VERSION)
_adapter = get_adapter(VERSION)
_request = httpx.Request("GET", f"http://slurm/slurm/{VERSION}/jobs")
def nodes():
    return _client.nodes.list()
def parse(content):
    return len(_adapter.parse_jobs(httpx.Response(200, content=content, request=_request)))
""",
    ),
    Peer(
        "slurmrestapi",
        "slurmrestapi==25.11.4.0",
        "openapi-generator (urllib3, pydantic v2), v0.0.41-v0.0.44",
        "v0.0.42",
        "slurmrestapi",
        _OPENAPI.format(
            package="slurmrestapi",
            model_module="v0042_openapi_job_info_resp",
            model="V0042OpenapiJobInfoResp",
            nodes_call="slurm_v0042_get_nodes",
        ),
    ),
    Peer(
        "ebi-slurpy",
        "ebi-slurpy==0.1.1",
        "openapi-generator per version (urllib3 sync, aiohttp async), v0.0.40-v0.0.42; "
        "urllib3 installed by hand (used, not declared)",
        "v0.0.42",
        "slurpy.v0042",
        _OPENAPI.format(
            package="slurpy.v0042",
            model_module="open_api_job_info_resp",
            model="OpenAPIJobInfoResp",
            nodes_call="get_nodes",
        ),
        extra=("urllib3",),
    ),
    Peer(
        "aind-slurm-rest-v2",
        "aind-slurm-rest-v2==0.0.3",
        "openapi-generator (urllib3, pydantic v2), v0.0.39-v0.0.41",
        "v0.0.41",
        "aind_slurm_rest_v2",
        _OPENAPI.format(
            package="aind_slurm_rest_v2",
            model_module="v0041_openapi_job_info_resp",
            model="V0041OpenapiJobInfoResp",
            nodes_call="slurm_v0041_get_nodes",
        ),
    ),
    Peer(
        "pyslurmutils",
        "pyslurmutils==1.7.0",
        "hand-written (requests, generated pydantic models), v0.0.39-v0.0.45",
        "v0.0.42",
        "pyslurmutils.client.rest.api.slurm_access",
        """
import json
from pyslurmutils.client.rest.api import slurm_access
_model = slurm_access._load_request_model("GET", f"/slurm/{VERSION}/jobs", "200", "default")
nodes = None  # no nodes endpoint: it models job submission and monitoring only
def parse(content):
    return len(_model.model_validate({"content": json.loads(content)}).content.jobs)
""",
    ),
]

NOT_RUNNABLE = {
    "pyslurm": "Cython bindings to libslurm, not REST: builds only against the headers and "
    "library of one installed Slurm release, and talks to slurmctld directly; the clusters "
    "here live in chroots with no libslurm on the host; pip install pyslurm",
    "submitit": "not a REST client: submits with sbatch and polls squeue/sacct as "
    "subprocesses, so there is no nodes.list or JSON parsing to compare",
    "openapi-slurm-0-0-38-client": "openapi-generator client of v0.0.38 only (Slurm 22.05); "
    "24.11 does not serve v0.0.38",
}

_WORKER = r"""
import gc, json, statistics, sys, time
import httpx
cfg = json.loads(sys.argv[1])
URL, USER, TOKEN, VERSION = cfg["url"], cfg["user"], cfg["token"], cfg["version"]
exec(cfg["setup"])
out = {}
if cfg["url"] and nodes is not None:
    bare = httpx.Client(base_url=URL, headers={"X-SLURM-USER-NAME": USER,
                                                "X-SLURM-USER-TOKEN": TOKEN})
    path = f"/slurm/{VERSION}/nodes"
    def bare_call():
        json.loads(bare.get(path).content)
    pairs = (("client", nodes), ("bare", bare_call))
    for _, fn in pairs:
        for _ in range(20):
            fn()
    times = {"client": [], "bare": []}
    for _ in range(cfg["calls"]):
        for name, fn in pairs:
            t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
    out["nodes_client_ms"] = statistics.median(times["client"]) * 1e3
    out["nodes_bare_ms"] = statistics.median(times["bare"]) * 1e3
content = open(cfg["listing"], "rb").read()
parsed = parse(content)
assert parsed == cfg["jobs"], parsed
times = {"client": [], "loads": []}
for _ in range(cfg["rounds"]):
    for name, fn in (("client", lambda: parse(content)), ("loads", lambda: json.loads(content))):
        gc.collect(); t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
out["parse_client_s"] = statistics.median(times["client"])
out["parse_loads_s"] = statistics.median(times["loads"])
print(json.dumps(out))
"""


def _uv() -> str | None:
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def make_venv(peer: Peer) -> Path:
    """A fresh venv with ``peer`` and httpx; returns its python."""
    where = VENVS / peer.name
    shutil.rmtree(where, ignore_errors=True)
    uv = _uv()
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(where)], check=True)
        python = where / "bin" / "python"
        cmd = [uv, "pip", "install", "-q", "--python", str(python), peer.install, "httpx"]
        cmd += peer.extra
    else:
        subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
        python = where / "bin" / "python"
        cmd = [str(python), "-m", "pip", "install", "-q", peer.install, "httpx", *peer.extra]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    return python


def listing(version: str, n: int) -> Path:
    """A ``GET jobs`` body of ``version`` with ``n`` jobs, from the recorded responses."""
    target = VENVS / f"jobs-{version}-{n}.json"
    if not target.exists():
        rec = json.loads((ROOT / f"tests/data/responses/{version}/jobs.json").read_text())
        body = rec["response"]["body"]
        templates = body["jobs"]
        jobs = []
        for i in range(n):
            job = copy.deepcopy(templates[i % len(templates)])
            job["job_id"], job["name"] = i + 1, f"job-{i}"
            jobs.append(job)
        body["jobs"] = jobs
        target.write_text(json.dumps(body))
    return target


def import_time(python: Path, module: str, runs: int) -> float:
    """Best of ``runs`` fresh interpreters importing ``module`` (statements joined by ;)."""
    code = (
        "import time; t = time.perf_counter(); import "
        + module
        + "; print(time.perf_counter() - t)"
    )
    return min(
        float(subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                             check=True, cwd="/").stdout)
        for _ in range(runs)
    )  # fmt: skip


def measure(peer: Peer, cluster: Any, quick: bool, jobs: int) -> dict[str, Any]:
    python = make_venv(peer)
    cfg = {
        "url": cluster.rest_url if cluster is not None else "",
        "user": "alice",
        "token": cluster.token("alice", lifespan=3600) if cluster is not None else "",
        "version": peer.version,
        "setup": peer.setup,
        "calls": 100 if quick else 300,
        "rounds": 3 if quick else 5,
        "listing": str(listing(peer.version, jobs)),
        "jobs": jobs,
    }
    worker = subprocess.run(
        [str(python), "-c", _WORKER, json.dumps(cfg)],
        capture_output=True, text=True, timeout=1800, check=False, cwd="/",
    )  # fmt: skip
    if worker.returncode != 0:
        return {"error": worker.stderr.strip().splitlines()[-1] if worker.stderr else "failed"}
    out: dict[str, Any] = json.loads(worker.stdout)
    runs = 5 if quick else 9
    out["import_s"] = import_time(python, peer.module, runs)
    out["import_httpx_s"] = import_time(python, "httpx", runs)
    if "nodes_client_ms" in out:
        out["nodes_ratio"] = out["nodes_bare_ms"] / out["nodes_client_ms"]
    out["parse_ratio"] = out["parse_client_s"] / out["parse_loads_s"]
    out["import_ratio"] = out["import_s"] / out["import_httpx_s"]
    return out


def try_pyslurm() -> str:
    """Try to install pyslurm into a throwaway venv; why it failed, in one line."""
    where = VENVS / "pyslurm"
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    result = subprocess.run(
        [str(where / "bin" / "python"), "-m", "pip", "install", "pyslurm"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if result.returncode == 0:
        return "installed (unexpected): measure it by hand"
    output = result.stdout + "\n" + result.stderr  # pip shows the build's output on stdout
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    found = [ln for ln in lines if ln.startswith("RuntimeError") or "Cannot locate" in ln]
    return (found or lines or ["install failed"])[0][:200]


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "| client | kind | API | nodes.list: client / bare httpx | ratio | parse 10k jobs: "
        "client / json.loads | ratio | import: client / httpx | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["peers"].items():
        if "error" in r:
            rows.append(f"| {name} | {r['kind']} | {r['version']} | failed: {r['error']} "
                        "| | | | | |")  # fmt: skip
            continue
        nodes = (
            f"{r['nodes_client_ms']:.2f} / {r['nodes_bare_ms']:.2f} ms"
            if "nodes_client_ms" in r
            else "n/a (no such call)"
            if r.get("no_nodes")
            else "n/a (no cluster)"
        )
        ratio = f"{r['nodes_ratio']:.2f}x" if "nodes_ratio" in r else "-"
        rows.append(
            f"| {name} | {r['kind']} | {r['version']} | {nodes} | {ratio} | "
            f"{r['parse_client_s']:.2f} / {r['parse_loads_s']:.2f} s | {r['parse_ratio']:.2f}x | "
            f"{r['import_s'] * 1e3:.0f} / {r['import_httpx_s'] * 1e3:.0f} ms | "
            f"{r['import_ratio']:.1f}x |"
        )
    for name, why in results["not_runnable"].items():
        rows.append(f"| {name} | not measured: {why} | | | | | | | |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="peer clients' benchmarks (not tests)")
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--only", action="append", help="measure only these clients")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in the parse listing")
    parser.add_argument("--skip-pyslurm", action="store_true", help="no pyslurm install try")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from slurm_core.testing.cluster import LocalSlurmCluster

    cluster = LocalSlurmCluster.running(RELEASE)
    VENVS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
        "cluster": f"SLURM {RELEASE}" if cluster is not None else None,
        "peers": {},
        "not_runnable": dict(NOT_RUNNABLE),
    }
    for peer in PEERS:
        if args.only and peer.name not in args.only:
            continue
        print(f"{peer.name}: installing into {VENVS / peer.name} and measuring ...", flush=True)
        figures = measure(peer, cluster, args.quick, args.jobs)
        figures.update(kind=peer.kind, version=peer.version, install=peer.install)
        figures["no_nodes"] = "nodes = None" in peer.setup
        results["peers"][peer.name] = figures
    if not args.skip_pyslurm and (not args.only or "pyslurm" in args.only):
        print("pyslurm: trying to install ...", flush=True)
        results["not_runnable"]["pyslurm"] += f": {try_pyslurm()}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "peers.json").write_text(json.dumps(results, indent=1) + "\n")
    header = (
        f"Peer clients, {results['when']} ({results['machine']}, Python {results['python']}, "
        f"{results['cluster'] or 'no cluster'}); ratios from the same process and run\n\n"
    )
    table = markdown(results)
    (RESULTS / "peers.md").write_text(header + table)
    print()
    print(header + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
