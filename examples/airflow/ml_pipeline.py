"""An ML pipeline on SLURM, run from Airflow: preprocess -> train (GPU, checkpointed) -> evaluate.

The three SLURM jobs are chained by SLURM itself: each downstream job is submitted at once
with ``--dependency=afterok:<upstream job id>`` (the id comes from the upstream task's XCom
``job_id``), so the cluster starts it the moment its input is ready. Only ``evaluate``
waits for the end, deferred (no worker slot held): it succeeds when the whole chain did.

Training is a slurm-client ``TrainingJob`` (``checkpoint_dir=``): it writes a checkpoint
after every epoch into ``$SLURM_CLIENT_CHECKPOINT_DIR``; five minutes before its time limit
it gets ``SIGUSR2`` (on Slurm 22.05, whose REST API cannot ask for that, from the job's own
watchdog), stops, and is requeued; the next run sees ``SLURM_CLIENT_RESUME=1`` and continues
from the checkpoint.

``finetune`` is the same kind of GPU step written as a Python function: ``@task.slurm`` runs
it as its own SLURM job on the gpu partition (``checkpoint=`` makes it a checkpointed,
requeued job: it saves into ``checkpoint_dir()`` and continues where ``resuming()`` says a
previous run stopped), and its return value goes to XCom. The cluster's Python needs
cloudpickle in the workers' version, and slurm-client for ``checkpoint_dir()``.

``workdir`` (a DAG param) must be on a filesystem shared by the Airflow workers and the
cluster nodes (job output is read back into the task log from there). Use a connection
``slurm_default`` of type ``slurm``.

Run it locally with ``python examples/airflow/ml_pipeline.py`` (``dag.test()``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task
from slurm_airflow.operators.slurm import SlurmSubmitJobOperator

WORKDIR = os.environ.get("SLURM_PIPELINE_DIR", "/shared/ml-pipeline")

PREPROCESS = """#!/bin/bash
set -euo pipefail
mkdir -p data checkpoints
for i in $(seq 1 100); do echo "$i,$(( (i * 37) % 11 ))"; done > data/train.csv
echo "preprocessed $(wc -l < data/train.csv) rows on $(hostname)"
"""

TRAIN = """#!/bin/bash
set -euo pipefail
# slurm-client's TrainingJob wrapper sets SLURM_CLIENT_CHECKPOINT_DIR and SLURM_CLIENT_RESUME,
# and forwards SIGUSR2 when the time limit is near; after we exit it requeues the job.
ckpt="$SLURM_CLIENT_CHECKPOINT_DIR/last_epoch"
epoch=0
if [ "$SLURM_CLIENT_RESUME" = 1 ] && [ -f "$ckpt" ]; then
    epoch=$(cat "$ckpt")
    echo "resuming after epoch $epoch (restart $SLURM_CLIENT_RESTART_COUNT)"
fi
stop=0
trap 'stop=1' USR2
echo "training on GPU(s) ${CUDA_VISIBLE_DEVICES:-${SLURM_JOB_GPUS:-none}}"
while [ "$epoch" -lt "$EPOCHS" ]; do
    sleep 1 & wait $! || true      # one epoch of work (SIGUSR2 interrupts the wait)
    if [ "$stop" = 1 ]; then
        echo "time limit near: epoch $epoch is checkpointed, stopping for the requeue"
        exit 0
    fi
    epoch=$((epoch + 1))
    echo "$epoch" > "$ckpt"
    echo "epoch $epoch/$EPOCHS loss=0.$((100 - epoch * 10))"
done
echo "model-after-epoch-$epoch" > "$SLURM_CLIENT_CHECKPOINT_DIR/model.bin"
"""

EVALUATE = """#!/bin/bash
set -euo pipefail
test -f checkpoints/model.bin
rows=$(wc -l < data/train.csv)
echo "{\\"model\\": \\"$(cat checkpoints/model.bin)\\", \\"rows\\": $rows, \\"accuracy\\": 0.93}" \\
    > metrics.json
echo "evaluation: $(cat metrics.json)"
"""


def finetune_model(epochs: int | str) -> dict[str, object]:
    """Fine-tune on one GPU, one checkpoint per epoch; a requeued run resumes."""
    import json
    import time

    from slurm_core.executor import checkpoint_dir, resuming

    state = checkpoint_dir() / "finetune.json"
    done = json.loads(state.read_text())["epoch"] if resuming() and state.exists() else 0
    start = done
    while done < int(epochs):  # a rendered template is text
        time.sleep(1)  # one epoch of work on the GPU
        done += 1
        state.write_text(json.dumps({"epoch": done}))
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES") or os.environ.get("SLURM_JOB_GPUS")
    return {"epochs": done, "resumed_from": start, "gpus": gpus}


with DAG(
    dag_id="slurm_ml_pipeline",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={
        "workdir": Param(WORKDIR, type="string", description="shared directory of the run"),
        "epochs": Param(3, type="integer", minimum=1),
        "partition": Param("debug", type="string"),
        "gpu_partition": Param("gpu", type="string"),
        "job_user": Param(
            "", type="string", description="the jobs' user when the worker runs as root"
        ),
    },
    tags=["slurm", "example"],
) as dag:
    preprocess = SlurmSubmitJobOperator(
        task_id="preprocess",
        name="preprocess",
        script=PREPROCESS,
        partition="{{ params.partition }}",
        working_directory="{{ params.workdir }}",
        output_path="{{ params.workdir }}/preprocess-%j.out",
        time_limit="10:00",
        wait_for_completion=False,  # SLURM chains the jobs; evaluate waits for all
    )

    train = SlurmSubmitJobOperator(
        task_id="train",
        name="train",
        script=TRAIN,
        partition="{{ params.gpu_partition }}",
        gpus=1,
        cpus_per_task=1,
        time_limit="30:00",
        # a TrainingJob: SIGUSR2 5 minutes before the time limit, then requeue and resume
        checkpoint_dir="{{ params.workdir }}/checkpoints",
        checkpoint_signal_before=timedelta(minutes=5),
        environment={"EPOCHS": "{{ params.epochs }}"},
        working_directory="{{ params.workdir }}",
        output_path="{{ params.workdir }}/train-%j.out",
        afterok=[preprocess.output["job_id"]],
        wait_for_completion=False,
    )

    evaluate = SlurmSubmitJobOperator(
        task_id="evaluate",
        name="evaluate",
        script=EVALUATE,
        partition="{{ params.partition }}",
        time_limit="10:00",
        working_directory="{{ params.workdir }}",
        output_path="{{ params.workdir }}/evaluate-%j.out",
        afterok=[train.output["job_id"]],
        deferrable=True,
        poll_interval=5,
        log_output=True,
        # If an upstream job fails, SLURM never starts this one: give up (and cancel it).
        execution_timeout=timedelta(hours=2),
    )

    finetune = task.slurm(
        finetune_model,
        task_id="finetune",
        partition="{{ params.gpu_partition }}",
        gpus=1,
        time_limit="30:00",
        checkpoint=timedelta(minutes=5),  # asked to save 5 minutes before the limit
        workspace="{{ params.workdir }}",
        job_user="{{ params.job_user }}",
        deferrable=True,
    )("{{ params.epochs }}")

    preprocess >> train >> evaluate >> finetune


if __name__ == "__main__":
    dag.test()
