"""Level 2: FakeSlurmServer. The real client, real wire format, an in-memory cluster."""

import pytest
from workload import train

from slurm_core import JobFailedError, SlurmClient, WatchOptions
from slurm_core.jobs import SubmittedJob
from slurm_core.testing import FakeSlurmServer

FAST = WatchOptions(min_interval=0.05, initial_interval=0.05, max_interval=0.2)


# The fake's clock follows the wall clock 100x faster, so jobs.wait() sees jobs finish.
@pytest.mark.slurm_fake(realtime=True, speed=100, default_runtime=30)
@pytest.mark.parametrize("slurm_fake_version", ["v0.0.38", "v0.0.42", "v0.0.45"])
def test_train_on_several_versions(
    slurm_fake: FakeSlurmServer, slurm_fake_client: SlurmClient
) -> None:
    slurm_fake_client.jobs.watch_options = FAST
    job_id = train(slurm_fake_client)
    job = slurm_fake.job(job_id)
    assert job.state.is_success
    assert (job.name, job.partition) == ("train", "debug")
    assert "sleep 2" in slurm_fake.script(job_id)


@pytest.mark.slurm_fake(realtime=True, speed=100)
def test_train_reports_failure(slurm_fake: FakeSlurmServer, slurm_fake_client: SlurmClient) -> None:
    slurm_fake_client.jobs.watch_options = FAST
    slurm_fake.set_job_outcome(name="train", state="FAILED", exit_code=3, runtime=5)
    with pytest.raises(JobFailedError) as info:
        train(slurm_fake_client)
    assert info.value.exit_code == 3


def test_manual_clock_and_faults() -> None:
    fake = FakeSlurmServer("v0.0.42", default_runtime=60)
    with SlurmClient(fake.url, transport=fake.transport()) as client:
        job: SubmittedJob = (
            client.jobs.submit().partition("gpu").gpus(1).command(["nvidia-smi"]).execute()
        )
        assert client.jobs.get(job.job_id).state.is_pending  # the clock has not moved yet
        fake.advance(1)  # the scheduler runs: RUNNING on a GPU node
        assert client.jobs.get(job.job_id).nodes == "gpu1"
        fake.fail_next(status=503, path=r"/job/\d+$")  # one flaky answer: the client retries
        fake.advance(60)
        assert client.jobs.get(job.job_id).state.is_success
        assert [r.status for r in fake.requests_to(r"/job/\d+$")][-2:] == [503, 200]
