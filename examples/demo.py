"""The demo: an ML-style pipeline on a real local SLURM cluster.

    make demo     # or: python examples/demo.py   (SLURM_DEMO_RELEASE, default 24.11)

It starts a real single-machine cluster (slurmctld, slurmd, slurmrestd with JWT auth,
slurmdbd on MariaDB) unless one of that release is already running, builds a three-job
graph -- preprocess -> train (GPUs, checkpointing) -> evaluate -- submits it as Slurm
dependencies, prints every job's progress as it happens, writes the graph as DOT (and PNG
when graphviz is installed), runs a Python function step (``SlurmExecutor.map``: one job
array, results back as Python objects), prints a short cost summary from accounting, and
stops the cluster it started.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from slurm_core import JobBuilder, JobEvent, JobGraph, SlurmClient, SlurmExecutor, StaticToken
from slurm_core.analytics import RateCard
from slurm_core.jobs import TrainingJob
from slurm_core.testing.cluster import LocalSlurmCluster

RELEASE = os.environ.get("SLURM_DEMO_RELEASE", "24.11")
OUT = Path(os.environ.get("SLURM_DEMO_OUTPUT", "demo-output")).resolve()

PREPROCESS = """#!/bin/bash
set -euo pipefail
python3 - <<'PY'
import json, random
random.seed(7)
rows = [[random.gauss(0, 1), random.gauss(0, 1)] for _ in range(2000)]
data = [{"x": r, "y": int(r[0] + r[1] > 0)} for r in rows]
json.dump(data, open("dataset.json", "w"))
print(f"preprocessed {len(data)} rows")
PY
sleep 1  # long enough for accounting to charge it (jobs under a second cost nothing)
"""

# A tiny perceptron "trained" for a few epochs, checkpointing after each one; on SIGUSR2
# (sent by Slurm before the time limit) it saves and exits, and the TrainingJob wrapper
# requeues it so the next run resumes from the checkpoint.
TRAIN = """#!/bin/bash
set -euo pipefail
echo "GPUs: ${CUDA_VISIBLE_DEVICES:-none}  resume: $SLURM_CLIENT_RESUME"
exec python3 - <<'PY'
import json, os, signal, time
ckpt = os.path.join(os.environ["SLURM_CLIENT_CHECKPOINT_DIR"], "model.json")
state = {"epoch": 0, "w": [0.0, 0.0], "b": 0.0}
if os.environ.get("SLURM_CLIENT_RESUME") == "1" and os.path.exists(ckpt):
    state = json.load(open(ckpt))
    print(f"resuming from epoch {state['epoch']}")
stop = []
signal.signal(signal.SIGUSR2, lambda *_: stop.append(1))
data = json.load(open("dataset.json"))
while state["epoch"] < 5 and not stop:
    for row in data:
        x, y = row["x"], row["y"]
        pred = int(state["w"][0] * x[0] + state["w"][1] * x[1] + state["b"] > 0)
        err = y - pred
        state["w"] = [state["w"][0] + 0.1 * err * x[0], state["w"][1] + 0.1 * err * x[1]]
        state["b"] += 0.1 * err
    state["epoch"] += 1
    time.sleep(0.5)  # a "GPU epoch"
    json.dump(state, open(ckpt, "w"))
    print(f"epoch {state['epoch']} checkpointed")
json.dump(state, open("model.json", "w"))
PY
"""

EVALUATE = """#!/bin/bash
set -euo pipefail
python3 - <<'PY'
import json
m = json.load(open("model.json"))
data = json.load(open("dataset.json"))
ok = sum(int(m["w"][0] * r["x"][0] + m["w"][1] * r["x"][1] + m["b"] > 0) == r["y"] for r in data)
print(f"accuracy: {ok / len(data):.3f} after {m['epoch']} epochs")
PY
sleep 1
"""


def main() -> int:
    """Run the pipeline; the exit status is 0 only if every job completed."""
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"== starting a real SLURM {RELEASE} cluster (first run builds its root) ...")
    with LocalSlurmCluster(RELEASE) as cluster:
        ours = cluster.started_here  # leaving the block stops only a cluster started here
        token = StaticToken(cluster.token(lifespan=3600), user_name=cluster.user_name)
        work = cluster.shared_dir / f"demo-{int(time.time())}"
        work.mkdir(mode=0o777)
        work.chmod(0o777)  # jobs run as an unprivileged user; umask would narrow mkdir's mode
        with SlurmClient(url=cluster.rest_url, auth=token) as client:
            print(f"== slurmrestd at {cluster.rest_url}, REST API {client.negotiate()}")
            started = datetime.now(timezone.utc)
            ok, job_ids = run_pipeline(client, work)
            ok = function_step(client, cluster, work) and ok
            summarize_costs(client, cluster.user_name, started, job_ids)
    print(f"== cluster {'stopped' if ours else 'left running'}; output in {OUT}")
    return 0 if ok else 1


def run_pipeline(client: SlurmClient, work: Path) -> tuple[bool, set[int]]:
    """Submit the graph, follow it live, draw it; (every job completed?, the job ids)."""

    def job(name: str) -> JobBuilder:
        return (
            client.jobs.submit()
            .name(name)
            .working_directory(str(work))
            .output(str(work / "%x-%j.out"))
            .time_limit("5:00")
        )

    train = (
        client.jobs.submit(TrainingJob)
        .script(TRAIN)
        .name("train")
        .partition("gpu")
        .working_directory(str(work))
        .output(str(work / "%x-%j.out"))
        .time_limit("5:00")
        .with_gpus(1)
        .with_checkpointing(signal_before=timedelta(seconds=60))
    )
    graph = JobGraph("ml-pipeline")
    prep = graph.add("preprocess", job("preprocess").script(PREPROCESS))
    fit = graph.add("train", train, after_ok=[prep])
    graph.add("evaluate", job("evaluate").script(EVALUATE), after_ok=[fit])

    run = graph.submit(client)
    print("== submitted:", ", ".join(f"{n}={i}" for n, i in run.job_ids.items()))
    t0 = time.monotonic()

    def progress(name: str, event: JobEvent) -> None:
        line = f"  [{time.monotonic() - t0:6.1f}s] {name:<10} {event.type.value:<9}"
        if event.nodes:
            line += f" on {event.nodes}"
        if event.final and event.exit_code is not None:
            line += f" exit={event.exit_code.return_code}"
        print(line, flush=True)

    result = run.wait(timeout=600, cancel_unrunnable=True, on_event=progress)
    for name, job_id in run.job_ids.items():
        lines = client.jobs.output(job_id).strip().splitlines()
        print(f"== {name} ({result.states[name]}): {lines[-1] if lines else '(no output)'}")

    dot = OUT / "pipeline.dot"
    dot.write_text(run.to_dot())
    print(f"== graph written to {dot}")
    try:
        png = graph.render(str(OUT / "pipeline.png"), states=run.states)
        print(f"== picture written to {png}")
    except ImportError as missing:
        print(f"== no PNG ({missing})")
    return bool(result.ok), set(run.job_ids.values())


def function_step(client: SlurmClient, cluster: LocalSlurmCluster, work: Path) -> bool:
    """Python functions as jobs: label balance per shard of the dataset, one job array."""
    cluster.share_python()  # this interpreter, visible inside the cluster at the same path
    dataset = str(work / "dataset.json")

    def positives(shard: int) -> tuple[int, int]:
        import json

        with open(dataset) as fh:
            rows = json.load(fh)[shard::4]
        return sum(r["y"] for r in rows), len(rows)

    with SlurmExecutor(
        client,
        workspace=str(work),
        job_user=cluster.uid(),
        time_limit="5:00",
        memory_per_cpu="100M",
    ) as ex:
        counts = list(ex.map(positives, range(4), timeout=300))
    pos, total = map(sum, zip(*counts, strict=True))
    print(f"== function step (one job array of 4): {pos} of {total} rows positive, {counts}")
    return total == 2000


def summarize_costs(client: SlurmClient, user: str, since: datetime, jobs: set[int]) -> None:
    """What the pipeline's jobs cost, from accounting, at example rates."""
    rates = RateCard(cpu_hour=0.02, gpu_hour=1.5, mem_gb_hour=0.005)
    deadline = time.monotonic() + 30
    while True:  # slurmdbd records a finished job a moment after slurmctld does
        report = (
            client.costs.for_user(user)
            .in_time_range(since - timedelta(minutes=1), datetime.now(timezone.utc))
            .with_rates(rates)
            .get()
        )
        rows = [r for r in report.rows if r.job_id in jobs]
        if len(rows) == len(jobs) or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"== cost at {rates}: {sum(r.total for r in rows)} for {len(rows)} of {len(jobs)} jobs")
    for row in rows:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(row.usage.items()) if v)
        print(f"   {row.name:<10} {row.seconds:>4}s  {detail}  -> {row.total}")


if __name__ == "__main__":
    sys.exit(main())
