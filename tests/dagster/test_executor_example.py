"""examples/dagster/ml_pipeline.py's GPU step written as a Python function (``fit`` through
``SlurmExecutor`` with ``checkpoint=``) materializes on the real cluster's gpu partition.
A slow scenario (a GPU job): on 24.11 only."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from dagster import materialize
from slurm_dagster import SlurmResource

from slurm_core.testing.cluster import LocalSlurmCluster

EXAMPLE = Path(__file__).parents[2] / "examples" / "dagster" / "ml_pipeline.py"


def test_the_gpu_function_step_trains_with_checkpoints(
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
    resources = example.resources(str(work_dir / "ml"), slurm)
    assets = [example.preprocess, *example.FUNCTION_ASSETS]
    result = materialize(assets, resources=resources)
    assert result.success
    model = result.output_for_node("train_function")
    assert model["epochs"] == 3
    assert model["resumed_after"] == 0
    assert abs(model["w"] - 3) < 0.2
    assert abs(model["b"] - 1) < 0.2
    assert model["gpus"] not in ("", "none")  # Slurm gave the job its GPU
    job_id = result.asset_materializations_for_node("train_function")[0].metadata["slurm_job_id"]
    with slurm.get_client() as client:
        job = client.jobs.get(int(str(job_id.value)))
    assert job.partition == "gpu"
