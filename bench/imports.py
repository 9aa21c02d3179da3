"""What importing slurm-client costs, each figure measured side by side in the same run.

    .venv/bin/python -m bench --imports   # or: .venv/bin/python bench/imports.py [--quick]

1. ``from slurm_core import SlurmClient`` vs ``import httpx, pydantic`` (what any client of
   slurmrestd would import anyway), each in a fresh interpreter. Ratio = SDK best / bare
   best (target <= 1.3x). Also ``import slurm_core`` alone (names resolved lazily; target
   <= 0.3 s), and the RSS each adds to an interpreter that imports nothing.
2. An Airflow DAG file's parse, with and without our operator: a tiny DAG holding one
   ``BashOperator``, vs the same DAG plus ``import slurm_airflow.operators.slurm`` and one
   ``SlurmSubmitJobOperator``. Each parse runs in a fresh interpreter that has already
   imported ``airflow.sdk`` (the DAG processor's warm state), and only the file's
   execution is timed. Figure = best with - best without (target <= 0.15 s added).
   Without Airflow installed the figure says why and is skipped.
3. Whether ``from slurm_core import SlurmClient, StaticToken`` plus building a client with
   a static token imports PyJWT (``jwt``) or ``cryptography`` (target: neither; only
   ``JWTKeyAuth`` needs them, when it mints a token).

Every sample is a new interpreter; the contenders alternate sample by sample so that a
machine busy with other work disturbs both alike, and the best of N is the figure (the
least disturbed sample; medians are kept in the results). The interpreters may write
bytecode caches and a warm-up round runs first: an installed program imports from ``.pyc``
files, and compiling sources on every run would measure the compiler instead (it scales
with source size, not with the work done at import). Results go to
``bench/results/imports.json`` and ``imports.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # python bench/imports.py
    sys.path.insert(0, str(ROOT))

from bench._results import save  # noqa: E402

# Each snippet prints "<seconds> <VmRSS kB>" for what it timed.
_TIMED = """
import time
t = time.perf_counter()
{code}
took = time.perf_counter() - t
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
print(took, rss)
"""
_IMPORTS = {
    "nothing": "pass",
    "import httpx, pydantic": "import httpx, pydantic",
    "import slurm_core": "import slurm_core",
    "from slurm_core import SlurmClient": "from slurm_core import SlurmClient",
}

_DAG_HEAD = """\
from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator
"""
_DAG_BODY = """\
with DAG("bench_parse", schedule=None):
    BashOperator(task_id="hello", bash_command="echo hello")
"""
_DAG_OURS = """\
    SlurmSubmitJobOperator(task_id="train", script="#!/bin/bash\\ntrue", partition="debug")
"""
# The DAG processor imports the file as a module: so does this, after importing airflow.sdk.
_PARSE = """
import airflow.sdk
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("bench_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
t = time.perf_counter()
spec.loader.exec_module(module)
took = time.perf_counter() - t
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
print(took, rss)
"""

_CRYPTO = """
import sys
from slurm_core import SlurmClient, StaticToken
SlurmClient("http://slurm.invalid:6820", auth=StaticToken("a.b.c", user_name="alice")).close()
print(" ".join(m for m in ("jwt", "cryptography") if m in sys.modules) or "-")
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # see the module docstring
    return env


def _run(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=_env()
    )
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return done.stdout


def _sample(args: list[str]) -> tuple[float, float]:
    took, rss = _run(args).split()
    return float(took), int(rss) / 1024


def _alternate(contenders: dict[str, list[str]], runs: int) -> dict[str, dict[str, float]]:
    for args in contenders.values():  # warm-up: bytecode caches, the OS's file cache
        _sample(args)
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in contenders}
    for _ in range(runs):
        for name, args in contenders.items():
            samples[name].append(_sample(args))
    return {
        name: {
            "best_s": min(t for t, _ in s),
            "median_s": statistics.median(t for t, _ in s),
            "rss_mib": statistics.median(r for _, r in s),
        }
        for name, s in samples.items()
    }


# -- 1. from slurm_core import SlurmClient ---------------------------------------------------
def bench_client_import(runs: int) -> dict[str, Any]:
    contenders = {k: ["-c", _TIMED.format(code=c)] for k, c in _IMPORTS.items()}
    figures = _alternate(contenders, runs)
    sdk, bare = figures["from slurm_core import SlurmClient"], figures["import httpx, pydantic"]
    ratio = sdk["best_s"] / bare["best_s"]
    return {"runs": runs, **figures, "ratio": ratio, "target": "<= 1.3x", "ok": ratio <= 1.3}


# -- 2. DAG parse ----------------------------------------------------------------------------
def bench_dag_parse(runs: int) -> dict[str, Any]:
    try:
        _run(["-c", "import airflow.sdk, airflow.providers.standard.operators.bash"])
    except RuntimeError as exc:
        return {"skipped": f"Airflow is not importable here ({exc})"}
    with tempfile.TemporaryDirectory(prefix="bench-dag-") as tmp:
        bash_only = Path(tmp, "bash_only.py")
        bash_only.write_text(_DAG_HEAD + _DAG_BODY)
        with_ours = Path(tmp, "with_slurm.py")
        ours = "from slurm_airflow.operators.slurm import SlurmSubmitJobOperator\n"
        with_ours.write_text(_DAG_HEAD + ours + _DAG_BODY + _DAG_OURS)
        figures = _alternate(
            {
                "BashOperator only": ["-c", _PARSE, str(bash_only)],
                "plus SlurmSubmitJobOperator": ["-c", _PARSE, str(with_ours)],
            },
            runs,
        )
    added = figures["plus SlurmSubmitJobOperator"]["best_s"]
    added -= figures["BashOperator only"]["best_s"]
    return {"runs": runs, **figures, "added_s": added, "target": "<= 0.15 s", "ok": added <= 0.15}


# -- 3. crypto -------------------------------------------------------------------------------
def bench_crypto() -> dict[str, Any]:
    found = _run(["-c", _CRYPTO]).split()
    imported = [] if found == ["-"] else found
    return {"imported": imported, "target": "neither", "ok": not imported}


# -- report ----------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    rows = ["| benchmark | figures | result | target | met |", "|---|---|---|---|---|"]
    c = results["client_import"]
    bare, sdk = c["import httpx, pydantic"], c["from slurm_core import SlurmClient"]
    lazy, rss0 = c["import slurm_core"], c["nothing"]["rss_mib"]
    rows.append(
        f"| from slurm_core import SlurmClient vs import httpx, pydantic (best of {c['runs']}) | "
        f"SDK {sdk['best_s'] * 1e3:.0f} ms (median {sdk['median_s'] * 1e3:.0f}, RSS "
        f"+{sdk['rss_mib'] - rss0:.0f} MiB), bare {bare['best_s'] * 1e3:.0f} ms (median "
        f"{bare['median_s'] * 1e3:.0f}, RSS +{bare['rss_mib'] - rss0:.0f} MiB) | "
        f"{c['ratio']:.2f}x | {c['target']} | {'yes' if c['ok'] else 'NO'} |"
    )
    rows.append(
        f"| import slurm_core | best {lazy['best_s'] * 1e3:.0f} ms (median "
        f"{lazy['median_s'] * 1e3:.0f}), RSS +{lazy['rss_mib'] - rss0:.0f} MiB | - | <= 0.3 s | "
        f"{'yes' if lazy['best_s'] <= 0.3 else 'NO'} |"
    )
    d = results["dag_parse"]
    if "skipped" in d:
        rows.append(f"| DAG parse with our operator | skipped: {d['skipped']} | - | - | - |")
    else:
        bash, ours = d["BashOperator only"], d["plus SlurmSubmitJobOperator"]
        rows.append(
            f"| DAG parse after import airflow.sdk (best of {d['runs']}) | with our operator "
            f"{ours['best_s'] * 1e3:.0f} ms (median {ours['median_s'] * 1e3:.0f}), "
            f"BashOperator only {bash['best_s'] * 1e3:.0f} ms (median "
            f"{bash['median_s'] * 1e3:.0f}) | +{d['added_s']:.3f} s | {d['target']} | "
            f"{'yes' if d['ok'] else 'NO'} |"
        )
    j = results["crypto"]
    rows.append(
        "| jwt/cryptography imported by a StaticToken client | "
        f"{', '.join(j['imported']) or 'neither'} | - | {j['target']} | "
        f"{'yes' if j['ok'] else 'NO'} |"
    )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="slurm-client import cost (not a test)")
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args(argv)
    runs = 7 if args.quick else 15
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
    }
    print("import time of the client ...", flush=True)
    results["client_import"] = bench_client_import(runs)
    print("DAG parse ...", flush=True)
    results["dag_parse"] = bench_dag_parse(runs)
    results["crypto"] = bench_crypto()
    header = f"slurm-client import cost, {results['when']} ({results['machine']}, Python "
    save("imports", results, header + f"{results['python']})\n\n", markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
