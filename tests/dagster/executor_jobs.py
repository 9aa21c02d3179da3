"""Dagster jobs for tests/dagster/test_executor_dagster.py, run under ``slurm_executor``.

A module of its own (not a test module): each step's SLURM job reconstructs the job from
this file, on the cluster's interpreter, so it imports only Dagster and slurm_dagster. The
executor's settings come with the run config (see the test's ``_run_config``).
"""

import os
import time

from dagster import Backoff, OpExecutionContext, RetryPolicy, job, op
from slurm_dagster import slurm_executor


@op
def first(context: OpExecutionContext) -> int:
    context.log.info("first runs in SLURM job %s", os.environ.get("SLURM_JOB_ID"))
    return int(os.environ["SLURM_JOB_ID"])


@op
def second(context: OpExecutionContext, a: int) -> list[int]:
    context.log.info("second runs in SLURM job %s", os.environ.get("SLURM_JOB_ID"))
    return [a, int(os.environ["SLURM_JOB_ID"])]


@op(tags={"slurm/time_limit": "3:00", "slurm/comment": "third-op"})
def third(context: OpExecutionContext, ids: list[int]) -> list[int]:
    print(f"third sees jobs {ids}")  # the step's captured stdout
    return [*ids, int(os.environ["SLURM_JOB_ID"])]


@job(executor_def=slurm_executor)
def three_ops() -> None:
    third(second(first()))


class OpBroke(RuntimeError):
    """The op's own exception: the event log must show it by name."""


def _broken_helper(attempt: int) -> None:
    raise OpBroke(f"attempt {attempt} broke in job {os.environ.get('SLURM_JOB_ID')}")


@op(retry_policy=RetryPolicy(max_retries=1, delay=0.1, backoff=Backoff.LINEAR))
def flaky(context: OpExecutionContext) -> None:
    _broken_helper(context.retry_number)


@job(executor_def=slurm_executor)
def failing() -> None:
    flaky()


@op
def sleeper() -> None:
    time.sleep(300)


@job(executor_def=slurm_executor)
def sleepy() -> None:
    sleeper()


@op(tags={"slurm/gpus": "two"})
def bad_tag() -> None:
    raise AssertionError("never runs")


@job(executor_def=slurm_executor)
def badly_tagged() -> None:
    bad_tag()
