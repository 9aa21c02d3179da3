"""TrainingJob and ModelTrainer: the spec they make, and the bash wrapper run for real.

(Named test_submit_training.py: tests/integration/test_training.py has the real-cluster
scenario, and pytest cannot collect two test modules of the same name without packages.)

The wrapper runs here under bash with a fake ``scontrol`` (``SLURM_CLIENT_SCONTROL``), a
payload in Python, and the environment Slurm would give it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core import AsyncSlurmClient, JobSpecError, SlurmClient
from slurm_core._versions.negotiate import clear_cache
from slurm_core.jobs import (
    AsyncModelTrainer,
    Experiment,
    GresRequest,
    ModelTrainer,
    SignalSpec,
    TrainingJob,
)
from slurm_core.jobs.training import WRAPPER_MARK, wrap_script

PAYLOAD = f"""#!{sys.executable}
import os, pathlib, signal, sys, time
ckpt = pathlib.Path(os.environ["SLURM_CLIENT_CHECKPOINT_DIR"]) / "step"
start = int(ckpt.read_text()) if os.environ["SLURM_CLIENT_RESUME"] == "1" else 0
print("start", start, os.environ["SLURM_CLIENT_RESTART_COUNT"], sys.argv[1:], flush=True)
stop = []
signal.signal(signal.SIGUSR2, lambda *_: stop.append(1))
pathlib.Path("started").write_text("1")
for step in range(start, int(os.environ.get("STEPS", "50"))):
    if stop:
        ckpt.write_text(str(step)); print("checkpoint", step, flush=True); sys.exit(0)
    time.sleep(0.01)
print("done", flush=True)
"""

needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    scontrol = tmp_path / "scontrol"
    scontrol.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/scontrol.log"\n')
    scontrol.chmod(0o755)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLURM_JOB_ID": "77",
        "SLURM_JOB_NAME": "exp",
        "SLURM_CLIENT_CHECKPOINT_DIR": "ckpt/%x-%j",
        "SLURM_CLIENT_SCONTROL": str(scontrol),
        **extra,
    }


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 20
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@needs_bash
def test_signal_checkpoints_requeues_and_the_next_run_resumes(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(wrap_script(PAYLOAD))
    env = _run_env(tmp_path)
    run = subprocess.Popen(
        ["bash", "job.sh", "--flag"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    _wait_for(tmp_path / "started")
    run.send_signal(signal.SIGUSR2)  # what Slurm's B:USR2 does
    out, _ = run.communicate(timeout=20)
    assert run.returncode == 0
    assert out.startswith("start 0 0 ['--flag']\ncheckpoint ")
    step = int((tmp_path / "ckpt" / "exp-77" / "step").read_text())
    assert (tmp_path / "scontrol.log").read_text() == "requeue 77\n"

    (tmp_path / "started").unlink()
    again = subprocess.run(
        ["bash", "job.sh"],
        cwd=tmp_path,
        env={**env, "SLURM_RESTART_COUNT": "1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert again.returncode == 0
    assert again.stdout == f"start {step} 1 []\ndone\n"
    assert (tmp_path / "scontrol.log").read_text() == "requeue 77\n"  # not requeued again
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("slurm-client-payload.*"))


@needs_bash
def test_payload_exit_code_passes_through_without_a_signal(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(wrap_script("#!/bin/sh\necho $SLURM_CLIENT_RESUME\nexit 3"))
    done = subprocess.run(
        ["bash", "job.sh"], cwd=tmp_path, env=_run_env(tmp_path), capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (3, "0\n")
    assert not (tmp_path / "scontrol.log").exists()


@needs_bash
def test_watchdog_signals_before_the_end_where_slurm_cannot(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(wrap_script(PAYLOAD))
    # The watchdog fires 2 s before the end: ~4 s in, time for the payload to have set its
    # USR2 trap even on a loaded machine, and long before its 10 s of steps are done.
    end = int(time.time()) + 6
    env = _run_env(
        tmp_path,
        STEPS="1000",
        SLURM_CLIENT_WATCHDOG="1",
        SLURM_CLIENT_SIGNAL_BEFORE="2",
        SLURM_JOB_END_TIME=str(end),
    )
    done = subprocess.run(
        ["bash", "job.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert "checkpoint" in done.stdout  # not "done": the watchdog stopped it
    assert (tmp_path / "scontrol.log").read_text() == "requeue 77\n"


def test_wrapping_is_idempotent_and_quotes_nothing() -> None:
    script = "#!/bin/bash\necho '$HOME' \"$(date)\" <<'EOF'\nEOF\n"
    wrapped = wrap_script(script)
    assert wrapped.split("\n")[1].startswith(WRAPPER_MARK)
    assert script.rstrip("\n") in wrapped  # verbatim inside a quoted heredoc
    assert wrap_script(wrapped) == wrapped


def test_training_spec() -> None:
    builder = (
        TrainingJob()
        .command(["python", "train.py"])
        .name("resnet")
        .with_gpus(8, type="a100")
        .with_checkpointing("/ckpt/%x", signal_before=timedelta(minutes=10))
        .environment({"LR": "0.1"})
    )
    spec = builder.to_spec()
    assert spec.gpus == GresRequest(name="gpu", type="a100", count=8)
    assert spec.signal == SignalSpec(signal="USR2", delay=600, batch_only=True)
    assert spec.requeue is True
    assert spec.environment == {
        "SLURM_CLIENT_CHECKPOINT_DIR": "/ckpt/%x",
        "SLURM_CLIENT_SIGNAL_BEFORE": "600",
        "SLURM_CLIENT_WATCHDOG": "0",
        "LR": "0.1",
    }
    assert "exec python train.py" in spec.script
    assert spec.script.split("\n")[1].startswith(WRAPPER_MARK)
    per_node = TrainingJob().command(["x"]).with_gpus(4, per_node=True).to_spec()
    assert (per_node.gpus, per_node.gres) == (None, (GresRequest(name="gpu", count=4),))
    plain = TrainingJob().command(["x"]).to_spec()  # without checkpointing: as given
    assert (plain.signal, plain.requeue, plain.script) == (None, None, "#!/bin/bash\nexec x\n")
    with pytest.raises(JobSpecError, match="signal"):
        TrainingJob().with_checkpointing(signal_before=0)
    with pytest.raises(JobSpecError):
        Experiment("neither")


class Rest:
    def __init__(self, version: str) -> None:
        self.version = version
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi/v3":
            return httpx.Response(200, json={"paths": {f"/slurm/{self.version}/ping": {}}})
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"job_id": 100 + len(self.bodies), "step_id": "batch"})


def _env(job: dict[str, Any]) -> dict[str, str]:
    env = job["environment"]
    return env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42"])
def test_model_trainer_submits_one_job_per_experiment(version: str) -> None:
    clear_cache()
    rest = Rest(version)
    with SlurmClient("http://slurm.test", transport=httpx.MockTransport(rest)) as client:
        plan = (
            ModelTrainer(client)
            .train_models({"lr-3": ["python", "train.py", "--lr=1e-3"], "lr-4": ["python", "x"]})
            .with_gpus(2)
            .with_checkpointing("/ckpt", signal_before=120)
            .configure(lambda b: b.partition("gpu").time_limit("1:00:00"))
        )
        assert [b.to_spec().name for b in plan.builders()] == ["lr-3", "lr-4"]
        jobs = plan.execute()
    assert [j.job_id for j in jobs] == [101, 102]
    assert len(rest.bodies) == 2  # the v0.0.38 fallback is decided before sending
    job = rest.bodies[0]["job"]
    env = _env(job)
    assert env["SLURM_CLIENT_CHECKPOINT_DIR"] == "/ckpt/lr-3"
    assert job["partition"] == "gpu"
    if version == "v0.0.38":  # B: refused by 22.05: no --signal, the watchdog instead
        assert ("signal" not in job, env["SLURM_CLIENT_WATCHDOG"]) == (True, "1")
        assert job["gpus"] == "2"
    else:
        assert (job["kill_warning_flags"], env["SLURM_CLIENT_WATCHDOG"]) == (["BATCH_JOB"], "0")
        assert job["kill_warning_delay"]["number"] == 120


@pytest.mark.anyio
async def test_async_model_trainer() -> None:
    clear_cache()
    rest = Rest("v0.0.38")
    async with AsyncSlurmClient("http://slurm.test", transport=httpx.MockTransport(rest)) as c:
        experiments = [Experiment("a", script="#!/bin/sh\ntrue", environment={"X": "1"})]
        jobs = await AsyncModelTrainer(c).train_models(experiments).with_checkpointing().execute()
    assert [j.job_id for j in jobs] == [101]
    env = _env(rest.bodies[0]["job"])
    assert (env["X"], env["SLURM_CLIENT_CHECKPOINT_DIR"]) == ("1", "checkpoints/a")
    assert env["SLURM_CLIENT_WATCHDOG"] == "1"
