"""examples/prefect/ml_pipeline.py runs end to end on the real clusters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prefect_helpers import load_module
from slurm_prefect import SlurmCredentials

if TYPE_CHECKING:
    from slurm_core.testing.cluster import LocalSlurmCluster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prefect" / "ml_pipeline.py"


@pytest.mark.anyio
async def test_ml_pipeline_example(
    slurm_cluster: LocalSlurmCluster, cluster_credentials: SlurmCredentials, work_dir: Path
) -> None:
    example = load_module("prefect_ml_pipeline_example", EXAMPLE)
    await cluster_credentials.save("ml-example", overwrite=True)

    outcome = await example.ml_pipeline(
        str(work_dir), credentials_block="ml-example", epochs=2, gpus=1
    )

    assert outcome["evaluation"] == "model trained for 2 epochs on 1000 rows\naccuracy=0.93\n"
    assert (work_dir / "checkpoints" / "last.ckpt").read_text().strip() == "2"
    ids = outcome["job_ids"]
    async with cluster_credentials.get_async_client() as client:
        jobs = {name: await client.jobs.get(job_id) for name, job_id in ids.items()}
    assert "gpu" in (jobs["train"].tres_requested or jobs["train"].tres_allocated or "")
    assert jobs["train"].partition == "gpu"
    for before, after in (("preprocess", "train"), ("train", "evaluate")):
        end, start = jobs[before].end_time, jobs[after].start_time
        assert end is not None
        assert start is not None
        assert start >= end, f"{after} started before {before} ended"
