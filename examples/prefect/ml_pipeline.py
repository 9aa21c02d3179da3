"""An ML pipeline on SLURM, orchestrated by Prefect: preprocess -> train (GPUs) -> evaluate.

The three steps are one :class:`~slurm_core.graph.JobGraph`, submitted at once with Slurm
dependencies (``afterok``): Slurm starts training the moment preprocessing succeeds and
evaluation the moment training does, without waiting for the flow to look. The flow then
follows the graph, logging every job's state changes to the Prefect run.

Training is a :class:`~slurm_core.jobs.training.TrainingJob`: it asks for GPUs and
checkpoints. Slurm signals the job (``SIGUSR2``) before its time limit; the trainer saves a
checkpoint and exits, the job is requeued, and the next run resumes from the checkpoint
(``SLURM_CLIENT_RESUME=1``). The "trainer" here is a few lines of bash standing in for
your ``python train.py``.

A second flow, :func:`gpu_training`, writes the training step as a Python function instead:
under :class:`~slurm_prefect.SlurmTaskRunner` the task runs as its own job on the gpu
partition (tags ``slurm:partition=gpu``, ``slurm:gpus=1``), checkpoints into
:func:`~slurm_core.executor.checkpoint_dir` and resumes when :func:`resuming` says a requeued
run left a checkpoint there (``slurm:checkpoint=120``: signalled two minutes before its
time limit, the job requeues itself).

Run it (the credentials block must exist, see docs/prefect.md)::

    python examples/prefect/ml_pipeline.py /shared/ml-demo --credentials-block hpc
    python examples/prefect/ml_pipeline.py /shared/ml-demo --credentials-block hpc --python-step

``work_dir`` must be on a filesystem the cluster's nodes share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from typing import Any

import cloudpickle
from prefect import flow, task
from slurm_prefect import SlurmCredentials, SlurmTaskRunner
from slurm_prefect.flows import run_slurm_graph

from slurm_core.graph import JobGraph
from slurm_core.jobs import JobBuilder
from slurm_core.jobs.training import TrainingJob

PREPROCESS = """#!/bin/bash
set -euo pipefail
mkdir -p data
seq 1 1000 > data/train.csv
echo "preprocessed $(wc -l < data/train.csv) rows"
"""

# Stands in for `python train.py`: one "epoch" a second, a checkpoint after each, resuming
# from the last checkpoint, and on SIGUSR2 (time limit near) save and exit so the job can be
# requeued.
TRAIN = """#!/bin/bash
set -euo pipefail
ckpt="$SLURM_CLIENT_CHECKPOINT_DIR/last.ckpt"
epoch=0
if [ "$SLURM_CLIENT_RESUME" = 1 ] && [ -f "$ckpt" ]; then
    epoch=$(cat "$ckpt")
    echo "resuming from epoch $epoch"
fi
trap 'echo "$epoch" > "$ckpt"; echo "checkpointed at epoch $epoch"; exit 0' USR2
echo "training on GPUs: ${CUDA_VISIBLE_DEVICES:-${SLURM_JOB_GPUS:-none}}"
while [ "$epoch" -lt "$EPOCHS" ]; do
    sleep 1
    epoch=$((epoch + 1))
    echo "$epoch" > "$ckpt"
    echo "epoch $epoch/$EPOCHS done"
done
echo "$epoch" > model.txt
"""

EVALUATE = """#!/bin/bash
set -euo pipefail
echo "model trained for $(cat model.txt) epochs on $(wc -l < data/train.csv) rows"
echo "accuracy=0.93"
"""


def build_graph(work_dir: str, *, epochs: int = 3, gpus: int = 1) -> JobGraph:
    """The pipeline's jobs: every step runs in ``work_dir`` and logs to ``<step>-<id>.out``."""

    def common(builder: Any, name: str) -> Any:
        return (
            builder.name(name)
            .partition("debug")
            .time_limit("10:00")
            .working_directory(work_dir)
            .output(f"{work_dir}/%x-%j.out")
        )

    graph = JobGraph("ml-pipeline")
    preprocess = graph.add("preprocess", common(JobBuilder().script(PREPROCESS), "preprocess"))
    train = graph.add(
        "train",
        common(TrainingJob().script(TRAIN), "train")
        .partition("gpu")
        .environment({"EPOCHS": str(epochs)})
        .with_gpus(gpus)
        .with_checkpointing(f"{work_dir}/checkpoints", signal_before=timedelta(minutes=2)),
        after_ok=[preprocess],
    )
    graph.add("evaluate", common(JobBuilder().script(EVALUATE), "evaluate"), after_ok=[train])
    return graph


@flow(name="ml-pipeline")
async def ml_pipeline(
    work_dir: str, credentials_block: str = "slurm", epochs: int = 3, gpus: int = 1
) -> dict[str, Any]:
    """Preprocess, train on ``gpus`` GPUs with checkpointing, evaluate; return the metrics."""
    credentials = await SlurmCredentials.aload(credentials_block)
    results = await run_slurm_graph(
        credentials, build_graph(work_dir, epochs=epochs, gpus=gpus), wait_timeout=3600
    )
    return {
        "job_ids": {name: result.job_id for name, result in results.items()},
        "evaluation": results["evaluate"].stdout,
    }


# This script's functions travel to the jobs by value: the nodes need not import it.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@task(tags=["slurm:partition=gpu", "slurm:gpus=1", "slurm:checkpoint=120"])
def train_model(epochs: int) -> dict[str, Any]:
    """One "epoch" a second, a checkpoint after each; a requeued run resumes from it."""
    from slurm_core.executor import checkpoint_dir, resuming

    state = checkpoint_dir() / "state.json"
    epoch = json.loads(state.read_text())["epoch"] if resuming() and state.exists() else 0
    resumed_at = epoch
    while epoch < epochs:
        time.sleep(1)  # your training step
        epoch += 1
        state.write_text(json.dumps({"epoch": epoch}))
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("SLURM_JOB_GPUS")
    return {"epochs": epoch, "resumed_at": resumed_at, "gpus": gpus}


@flow(name="gpu-training")
def gpu_training(epochs: int = 3) -> dict[str, Any]:
    """The training step as a Python function: its own SLURM job on a GPU."""
    return train_model.submit(epochs).result()


def run_gpu_training(
    work_dir: str, credentials: SlurmCredentials | str, epochs: int = 3, **options: Any
) -> dict[str, Any]:
    """:func:`gpu_training` under a :class:`SlurmTaskRunner` writing its calls in ``work_dir``
    (``options``: more job options, or ``job_user=``)."""
    runner = SlurmTaskRunner(credentials, workspace=work_dir, time_limit="10:00", **options)
    result: dict[str, Any] = gpu_training.with_options(task_runner=runner)(epochs)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work_dir", help="a directory on the cluster's shared filesystem")
    parser.add_argument("--credentials-block", default="slurm")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--gpus", type=int, default=1)
    parser.add_argument("--python-step", action="store_true", help="run gpu_training instead")
    args = parser.parse_args()
    if args.python_step:
        print(run_gpu_training(args.work_dir, args.credentials_block, epochs=args.epochs))
        return
    print(
        asyncio.run(
            ml_pipeline(args.work_dir, args.credentials_block, epochs=args.epochs, gpus=args.gpus)
        )
    )


if __name__ == "__main__":
    main()
