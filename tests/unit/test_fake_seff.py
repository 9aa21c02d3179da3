"""seff-style efficiency from the fake's slurmdbd records, through the public client.

What a user's own ``seff`` replacement does against slurmdbd: CPU efficiency is the steps'
user + system time over elapsed x allocated CPUs, memory efficiency the largest RSS sample
(``tres.requested.max``, type ``mem``, bytes) over the allocated memory. The fake records
its batch steps as jobacct_gather does (``tests/data/responses/<v>/slurmdb_job_stats.json``),
from the loads a test sets with ``set_job_outcome`` (v0.0.39 has no recording to follow).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from slurm_core.models import AccountingJob
from slurm_core.testing import FakeSlurmServer

VERSIONS = ["v0.0.38", "v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"]


def seff(job: AccountingJob) -> tuple[float, float]:
    """(CPU efficiency, memory efficiency), as seff computes them."""
    cpus = sum(t.count or 0 for t in job.tres_allocated if t.type == "cpu")
    memory_mib = sum(t.count or 0 for t in job.tres_allocated if t.type == "mem")
    used = sum(
        ((s.cpu_time_user or timedelta()) + (s.cpu_time_system or timedelta()) for s in job.steps),
        timedelta(),
    )
    assert job.elapsed is not None
    max_rss = max(
        sample["count"]
        for step in job.steps
        for sample in step.raw["tres"]["requested"]["max"]
        if sample["type"] == "mem"
    )
    return used / (job.elapsed * cpus), max_rss / (memory_mib * 1024 * 1024)


@pytest.mark.parametrize("version", VERSIONS)
def test_efficiency_of_a_finished_job_is_what_it_ran(version: str) -> None:
    fake = FakeSlurmServer(version)
    fake.set_job_outcome(name="train", runtime=600, cpu_load=0.5, memory_load=0.4)
    with fake.client() as client:
        submitted = (
            client.jobs.submit()
            .name("train")
            .command(["python", "train.py"])
            .cpus_per_task(4)
            .memory_per_node("2G")
            .time_limit(timedelta(minutes=30))
            .execute()
        )
        fake.advance(700)
        (job,) = [j for j in client.accounting.jobs(start=0) if j.job_id == submitted.job_id]
    cpu, memory = seff(job)
    assert job.elapsed == timedelta(seconds=600)
    assert cpu == pytest.approx(0.5, abs=0.01)
    assert memory == pytest.approx(0.4, abs=0.01)
    (batch,) = job.steps
    assert batch.step_id == "batch"
    assert batch.nodes == job.nodes  # the allocation is kept once the job has ended
    assert batch.exit_code is not None
    assert batch.exit_code.return_code == 0
    assert batch.cpu_time_user is not None
    assert batch.cpu_time_system is not None
    assert batch.cpu_time_user > 10 * batch.cpu_time_system  # mostly user time, as measured


def test_a_failed_job_records_its_exit_code_and_the_time_it_ran() -> None:
    fake = FakeSlurmServer("v0.0.42")
    fake.set_job_outcome(name="crash", state="FAILED", exit_code=3, runtime=60, cpu_load=1.0)
    with fake.client() as client:
        submitted = client.jobs.submit().name("crash").command(["false"]).execute()
        fake.advance(120)
        (job,) = [j for j in client.accounting.jobs(start=0) if j.job_id == submitted.job_id]
    cpu, memory = seff(job)
    assert cpu == pytest.approx(1.0, abs=0.01)
    assert 0 < memory <= 1
    (batch,) = job.steps
    assert batch.exit_code is not None
    assert batch.exit_code.return_code == 3
    assert str(batch.state) == "FAILED"


def test_loads_outside_zero_to_one_are_refused_by_name() -> None:
    fake = FakeSlurmServer("v0.0.42")
    with pytest.raises(ValueError, match="cpu_load"):
        fake.set_job_outcome(name="x", cpu_load=1.5)
    with pytest.raises(ValueError, match="memory_load"):
        fake.set_job_outcome(name="x", memory_load=-0.1)
