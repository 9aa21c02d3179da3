"""MockSlurmClient: expectations, matchers, ordering, verify's diff, unexpected calls,
the real JobBuilder on ``jobs.submit()``, and the model factories."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from slurm_core import JobFailedError, NotFoundError
from slurm_core.jobs import JobBuilder, JobSpec, SubmittedJob
from slurm_core.models import INFINITE, JobBaseState
from slurm_core.testing import (
    ANY,
    MockSlurmClient,
    instance_of,
    make_accounting_job,
    make_api_error,
    make_job,
    make_node,
    make_partition,
    make_submitted,
    matching,
)


def submit_workload(client: object) -> int:
    """User code under test: typed against the protocol in real life."""
    job = (
        client.jobs.submit()  # type: ignore[attr-defined]
        .name("train")
        .partition("test")
        .memory_per_cpu("4G")
        .command(["python", "train.py"])
        .execute()
    )
    return int(job.job_id)


# ----------------------------------------------------------------- expectations ---------
def test_submit_sugar_with_the_real_builder() -> None:
    mock = MockSlurmClient()
    mock.expect_job_submit().with_partition("test").with_spec(memory_per_cpu="4G").return_job(
        make_job(job_id=7)
    )
    assert submit_workload(mock) == 7
    mock.verify()
    (call,) = mock.calls
    assert call.method == "jobs.submit"
    spec = call["spec"]
    assert isinstance(spec, JobSpec)
    assert (spec.name, spec.memory_per_cpu) == ("train", 4096)
    assert isinstance(mock.jobs.submit(), JobBuilder)


def test_submit_spec_is_the_same_expectation() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.submit_spec").with_args(instance_of(JobSpec)).returns(make_submitted(3))
    result = mock.jobs.submit_spec(JobSpec(script="#!/bin/sh\ntrue"))
    assert result == SubmittedJob(job_id=3, step_id="batch")
    mock.verify()


def test_submit_with_the_wrong_partition_fails_at_once_listing_expectations() -> None:
    mock = MockSlurmClient()
    mock.expect_job_submit().with_partition("gpu").return_job(1)
    with pytest.raises(AssertionError) as info:
        submit_workload(mock)
    text = str(info.value)
    assert "unexpected call jobs.submit(JobSpec(" in text
    assert "jobs.submit(*) where JobSpec(partition='gpu')  [called 0, expected 1]" in text


def test_expect_every_resource_method() -> None:
    mock = MockSlurmClient()
    job = make_job(job_id=5)
    mock.expect("jobs.get").with_args(5).returns(job)
    mock.expect("jobs.list").with_args(states="RUNNING").returns([job])
    mock.expect("nodes.get").with_args("node1").returns(make_node("node1"))
    mock.expect("partitions.list").returns([make_partition("debug", is_default=True)])
    mock.expect("accounting.jobs").with_args(users=["alice"]).returns([make_accounting_job(5)])
    mock.expect("jobs.hold").with_args(5)
    mock.expect("ping").returns([])
    assert mock.jobs.get(job_id=5) is job  # keyword or positional: the same call
    assert mock.jobs.list(states="RUNNING") == [job]
    assert mock.nodes.get("node1").name == "node1"
    assert mock.partitions.list()[0].is_default
    assert mock.accounting.jobs(users=["alice"])[0].job_id == 5
    mock.jobs.hold(5)
    assert mock.ping() == []
    mock.verify()


def test_raises_and_calls() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.get").with_args(9).raises(make_api_error(NotFoundError))
    mock.expect("jobs.get").with_args(matching(lambda i: i > 100, "id > 100")).calls(
        lambda job_id: make_job(job_id=job_id)
    )
    with pytest.raises(NotFoundError) as info:
        mock.jobs.get(9)
    assert (info.value.status_code, info.value.error_numbers) == (404, [2017])
    assert mock.jobs.get(101).job_id == 101
    mock.verify()


def test_find_submission() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.find_submission").with_args("sck-1", since=ANY).returns(12)
    assert mock.jobs.find_submission("sck-1") == 12
    mock.verify()


def test_unknown_method_and_bad_arguments_are_refused_early() -> None:
    mock = MockSlurmClient()
    with pytest.raises(ValueError, match=r"unknown method 'jobs\.gett'"):
        mock.expect("jobs.gett")
    with pytest.raises(TypeError, match=r"jobs\.get"):
        mock.expect("jobs.get").with_args(1, 2)


def test_defaults_count_and_any_does_not_care() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.cancel").with_args(3)
    with pytest.raises(AssertionError):
        mock.jobs.cancel(3, signal="USR1")
    mock.expect("jobs.cancel").with_args(3, signal=ANY)
    mock.jobs.cancel(3, signal="USR1")
    assert [str(c) for c in mock.calls_to("jobs.cancel")] == [
        "jobs.cancel(3, 'USR1')",
        "jobs.cancel(3, 'USR1')",
    ]


def test_times_and_any_times() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.get").with_args(1).returns(make_job(1)).times(2)
    mock.expect("nodes.list").returns([]).any_times()
    mock.jobs.get(1)
    with pytest.raises(AssertionError, match=r"called 1, expected 2"):
        mock.verify()
    mock.jobs.get(1)
    mock.verify()  # nodes.list never called: fine
    with pytest.raises(AssertionError, match=r"unexpected call jobs\.get"):
        mock.jobs.get(1)


def test_a_return_value_is_required_for_methods_that_return_something() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.get").with_args(1)
    with pytest.raises(AssertionError, match="says nothing to return"):
        mock.jobs.get(1)


# ---------------------------------------------------------------- order and verify -------
def test_ordered_calls() -> None:
    mock = MockSlurmClient(ordered=True)
    mock.expect("jobs.hold").with_args(1)
    mock.expect("jobs.release").with_args(1)
    with pytest.raises(AssertionError, match=r"next in order: jobs.hold\(1\)"):
        mock.jobs.release(1)
    mock.jobs.hold(1)
    mock.jobs.release(1)
    with pytest.raises(AssertionError):  # the early release is remembered
        mock.verify()


def test_unordered_calls_match_in_any_order() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.hold").with_args(1)
    mock.expect("jobs.release").with_args(1)
    mock.jobs.release(1)
    mock.jobs.hold(1)
    mock.verify()


def test_verify_shows_a_diff_of_expected_and_actual_calls() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.get").with_args(1).returns(make_job(1))
    mock.expect("jobs.cancel").with_args(1)
    mock.jobs.get(1)
    with pytest.raises(AssertionError) as info:
        mock.verify()
    text = str(info.value)
    assert "1 expectation(s) not met, 0 unexpected call(s)" in text
    assert "ok   jobs.get(1)  [called 1, expected 1]" in text
    assert "MISS jobs.cancel(1)  [called 0, expected 1]" in text
    assert "  1. jobs.get(1)" in text
    assert "- jobs.cancel(1)" in text


def test_an_unexpected_call_swallowed_by_user_code_still_fails_verify() -> None:
    mock = MockSlurmClient()
    with contextlib.suppress(Exception):  # user code that hides errors
        mock.jobs.get(4)
    with pytest.raises(AssertionError) as info:
        mock.verify()
    assert "1. jobs.get(4)   <- unexpected" in str(info.value)
    assert "+ jobs.get(4)" in str(info.value)


def test_wait_sugar_success_and_failure() -> None:
    mock = MockSlurmClient()
    mock.expect_job_wait(1).return_job(make_job(1, state="COMPLETED"))
    mock.expect_job_wait(2).fail(state="FAILED", exit_code=3)
    assert mock.jobs.wait(1, timeout=60).state.is_success
    with pytest.raises(JobFailedError) as info:
        mock.jobs.wait(2)
    assert (info.value.job_id, info.value.state, info.value.exit_code) == (2, "FAILED", 3)
    mock.verify()


def test_watch_returns_an_iterator_of_the_given_events() -> None:
    mock = MockSlurmClient()
    mock.expect("jobs.watch").with_args([1], timeout=ANY, max_interval=ANY).returns([])
    assert list(mock.jobs.watch([1])) == []
    mock.verify()


def test_context_manager_reset_and_api_version() -> None:
    with MockSlurmClient(api_version="v0.0.40") as mock:
        assert mock.api_version == "v0.0.40"
        assert mock.negotiate() == "v0.0.40"
        mock.expect("diag").returns(None)
        mock.reset()
        mock.verify()


# ------------------------------------------------------------------------ factories ------
def test_factories_make_consistent_models() -> None:
    pending = make_job(2, state="PENDING")
    assert pending.state.is_pending
    assert pending.start_time is None
    assert pending.exit_code is None
    failed = make_job(3, state="FAILED", exit_code=3, partition="gpu")
    assert failed.exit_code is not None
    assert failed.exit_code.return_code == 3
    assert failed.end_time is not None
    assert failed.partition == "gpu"
    done = make_job(4, state="COMPLETED")
    assert done.state.base is JobBaseState.COMPLETED
    assert done.exit_code
    assert done.exit_code.ok
    assert make_job(5, time_limit=INFINITE).time_limit is INFINITE
    assert make_node("n", state_flags={"DRAIN"}).is_drained
    assert make_partition("gpu", max_time=timedelta(days=1)).max_time == timedelta(days=1)
    assert make_accounting_job(6, state="FAILED").exit_code is not None
    with pytest.raises(ValueError, match="job_idd"):
        make_job(job_idd=1)
