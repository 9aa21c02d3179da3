"""Checkpoint, requeue and resume of a training job on real Slurm 22.05, 24.11 and 26.05.

A tiny "training" program counts steps, writes its step into the checkpoint directory
when it gets SIGUSR2 and exits. The test sends SIGUSR2 to the batch shell (``scancel
--signal=USR2 --batch``, what Slurm's ``--signal=B:USR2@...`` does before the time limit),
the wrapper forwards it, the program checkpoints, the wrapper requeues the job, and the
second run resumes from the checkpoint and completes. Slurm holds a requeued job back for
about two minutes; the test lets it start at once (``scontrol update StartTime=now``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_submit_helpers import batch_step_alive, finished, make_client, unique, until

from slurm_core import JobBaseState, SlurmClient
from slurm_core.jobs import Experiment, ModelTrainer, TrainingJob
from slurm_core.testing.cluster import LocalSlurmCluster

TRAIN = """#!/usr/bin/env python3
import os, pathlib, signal, sys, time
ckpt = pathlib.Path(os.environ["SLURM_CLIENT_CHECKPOINT_DIR"]) / "step"
start = int(ckpt.read_text()) if os.environ["SLURM_CLIENT_RESUME"] == "1" else 0
print(f"start step={start} resume={os.environ['SLURM_CLIENT_RESUME']}"
      f" restarts={os.environ['SLURM_CLIENT_RESTART_COUNT']}"
      f" gpus={os.environ.get('CUDA_VISIBLE_DEVICES')}", flush=True)
stop = []
signal.signal(signal.SIGUSR2, lambda *_: stop.append(1))
progress = pathlib.Path(os.environ["PROGRESS"])
for step in range(start, 12):
    if stop:
        ckpt.write_text(str(step))
        print(f"checkpoint step={step}", flush=True)
        sys.exit(0)
    progress.write_text(str(step))
    time.sleep(0.1)
print(f"completed from step={start}", flush=True)
"""


@pytest.fixture
def client(slurm_cluster: LocalSlurmCluster) -> Iterator[SlurmClient]:
    with make_client(slurm_cluster) as c:
        yield c


def test_signal_checkpoint_requeue_resume(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    shared = Path(slurm_cluster.shared_dir)
    name = unique("train")
    progress = shared / f"{name}.progress"
    plan = (
        ModelTrainer(client)
        .train_models([Experiment(name, script=TRAIN, environment={"PROGRESS": str(progress)})])
        .with_gpus(1)
        .with_checkpointing(str(shared / "ckpt"), signal_before=timedelta(minutes=5))
        .configure(
            lambda b: (
                b.working_directory(str(shared))
                .partition("gpu")
                .time_limit(timedelta(minutes=10))
                .memory_per_cpu("50M")
                .output(str(shared / "%x-%j.out"))
            )
        )
    )
    [job] = plan.execute()
    # Slurm gets the B:USR2 warning, except from 22.05 (v0.0.38), where the wrapper's
    # watchdog stands in; either way the job is requeueable.
    record = client.jobs.get(job.job_id)
    assert record.raw.get("requeue") is True

    until(
        lambda: progress.exists() and int(progress.read_text() or 0) >= 3,
        timeout=180,  # behind other jobs on a busy shared cluster
        what="progress",
    )
    slurm_cluster.run(["scancel", "--signal=USR2", "--batch", str(job.job_id)], check=True)

    def requeued() -> bool:
        j = client.jobs.get(job.job_id)
        return j.state.base is JobBaseState.PENDING and (j.raw.get("restart_cnt") or 0) >= 1

    until(requeued, what="the job to be requeued")
    # Slurm's requeue delay also lets the first run's batch step report its end; forcing
    # the start before that step is gone lets its late report end the second run (a FAILED
    # job on 22.05 under load).
    until(lambda: not batch_step_alive(job.job_id), what="the first run's batch step to end")
    checkpoint = shared / "ckpt" / name / "step"
    assert int(checkpoint.read_text()) >= 3
    # Slurm delays a requeued job's start by about two minutes: start it now.
    slurm_cluster.run(["scontrol", "update", f"JobId={job.job_id}", "StartTime=now"], check=True)
    done = finished(client, job.job_id, timeout=90)
    text = client.jobs.output(job.job_id)  # the second run (Slurm truncates on restart)
    errors = client.jobs.output(job.job_id, stream="stderr")
    assert done.state.base is JobBaseState.COMPLETED, (done.raw.get("exit_code"), text, errors)
    match = re.search(r"start step=(\d+) resume=1 restarts=1 gpus=\d", text)
    assert match is not None, text
    resumed_from = int(match[1])
    assert resumed_from == int(checkpoint.read_text()) > 0
    assert f"completed from step={resumed_from}" in text


def test_training_job_renders_for_the_negotiated_version(client: SlurmClient) -> None:
    body = (
        client.jobs.submit(TrainingJob)
        .command(["python3", "train.py"])
        .name("render")
        .with_gpus(2)
        .with_checkpointing(signal_before=120)
        .dry_run()
    )
    job = body["job"]
    script = body.get("script") or job["script"]
    assert "slurm-client TrainingJob wrapper" in script
    assert "exec python3 train.py" in script
    env = job["environment"]
    pairs = env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)
    assert pairs["SLURM_CLIENT_CHECKPOINT_DIR"] == "checkpoints/%x"
    assert job["requeue"] is True
    if client.negotiate() == "v0.0.38":  # no B: signals: the wrapper's watchdog instead
        assert "signal" not in job
        assert pairs["SLURM_CLIENT_WATCHDOG"] == "1"
        assert job["gpus"] == "2"
    else:
        assert job["kill_warning_signal"] == "USR2"
        assert job["kill_warning_flags"] == ["BATCH_JOB"]
        assert job["kill_warning_delay"]["number"] == 120
        assert pairs["SLURM_CLIENT_WATCHDOG"] == "0"
        assert job["tres_per_job"] == "gres/gpu:2"
