"""Level 1: MockSlurmClient. No HTTP at all: declare the calls and their answers."""

import pytest
from workload import train

from slurm_core import JobFailedError
from slurm_core.testing import MockSlurmClient, make_job


def test_train_submits_to_the_partition_and_waits(slurm_mock: MockSlurmClient) -> None:
    # the fixture verifies at the end that every expected call happened
    slurm_mock.expect_job_submit().with_partition("gpu").with_name("train").return_job(7)
    slurm_mock.expect_job_wait(7).return_job(make_job(job_id=7, state="COMPLETED"))
    assert train(slurm_mock, partition="gpu") == 7


def test_train_raises_when_the_job_fails(slurm_mock: MockSlurmClient) -> None:
    slurm_mock.expect_job_submit().return_job(8)
    slurm_mock.expect_job_wait(8).fail(state="FAILED", exit_code=3)
    with pytest.raises(JobFailedError):
        train(slurm_mock)


def test_without_the_fixture() -> None:
    mock = MockSlurmClient()
    mock.expect_job_submit().with_partition("debug").return_job(9)
    mock.expect_job_wait(9).return_job(make_job(job_id=9, state="COMPLETED"))
    assert train(mock) == 9
    mock.verify()  # AssertionError with a diff if a call is missing
    assert mock.calls[0]["spec"].time_limit.total_seconds() == 600
