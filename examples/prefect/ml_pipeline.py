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

Run it (the credentials block must exist, see docs/prefect.md)::

    python examples/prefect/ml_pipeline.py /shared/ml-demo --credentials-block hpc

``work_dir`` must be on a filesystem the cluster's nodes share.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from typing import Any

from prefect import flow
from slurm_prefect import SlurmCredentials
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work_dir", help="a directory on the cluster's shared filesystem")
    parser.add_argument("--credentials-block", default="slurm")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--gpus", type=int, default=1)
    args = parser.parse_args()
    print(
        asyncio.run(
            ml_pipeline(args.work_dir, args.credentials_block, epochs=args.epochs, gpus=args.gpus)
        )
    )


if __name__ == "__main__":
    main()
