"""examples/dagster/ml_pipeline.py's GPU step written as a Python function (``fit`` through
``SlurmExecutor`` with ``checkpoint=``) materializes on the real cluster's gpu partition,
preempted midway (as near its time limit): its job is requeued and ``fit`` resumes from its
newest checkpoint. A slow scenario (a GPU job): on 24.11 only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from dagster import materialize
from slurm_dagster import SlurmResource

from slurm_core.testing.cluster import LocalSlurmCluster, Preemption

EXAMPLE = Path(__file__).parents[2] / "examples" / "dagster" / "ml_pipeline.py"
EPOCHS = 1500  # ~10 ms of work each: long enough to be preempted midway


def test_the_gpu_function_step_resumes_from_its_checkpoint_after_a_preemption(
    slurm_cluster: LocalSlurmCluster,
    slurm: SlurmResource,
    work_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if slurm_cluster.release != "24.11":
        pytest.skip("a slow orchestrator scenario, run on 24.11 only")
    slurm_cluster.share_python()  # the function runs this interpreter in the job
    monkeypatch.setenv("SLURM_DAGSTER_IO_KEY", "an-example-key-for-the-io-manager-0123")
    # this process is root; the function's files go to the jobs' user
    monkeypatch.setenv("SLURM_FUNCTION_JOB_USER", str(slurm_cluster.uid()))
    spec = importlib.util.spec_from_file_location("ml_pipeline_function_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    base = work_dir / "ml"
    resources = example.resources(str(base), slurm)
    resources["ml"] = example.MLSettings(
        base_dir=str(base), job_user=str(slurm_cluster.uid()), epochs=EPOCHS
    )

    def job_id() -> int | None:  # the function's job, writing under this test's directory
        with slurm.get_client() as client:
            jobs = client.jobs.list(user=slurm_cluster.user_name)
        return next(
            (
                j.job_id
                for j in jobs
                if j.state.is_running
                and str(j.standard_output or "").startswith(str(base))
                and j.partition == "gpu"
            ),
            None,
        )

    def epochs_done(_: int) -> bool:  # fit's checkpoint after each epoch
        return len(list(base.rglob("epoch-*"))) >= 3

    with Preemption(slurm_cluster, job_id, epochs_done) as preempted:
        result = materialize([example.preprocess, *example.FUNCTION_ASSETS], resources=resources)
    assert result.success
    model = result.output_for_node("train_function")
    assert model["epochs"] == EPOCHS
    assert 3 <= model["resumed_after"] < EPOCHS, model  # from its checkpoint, not from scratch
    assert abs(model["w"] - 3) < 0.2
    assert abs(model["b"] - 1) < 0.2
    assert model["gpus"] not in ("", "none")  # Slurm gave the job its GPU
    job_id = result.asset_materializations_for_node("train_function")[0].metadata["slurm_job_id"]
    assert int(str(job_id.value)) == preempted.job_id
    with slurm.get_client() as client:
        job = client.jobs.get(int(str(job_id.value)))
    assert job.partition == "gpu"
    assert (job.raw.get("restart_cnt") or 0) >= 1
