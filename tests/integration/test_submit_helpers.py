"""Helpers of the submission integration tests (test_submit*.py, test_training.py); no tests.

* :func:`make_client` gives a client of the default user (alice) for a running cluster,
  :func:`auth_of` a token of that user.
* :func:`until` polls a condition against a deadline (a bounded wait, never an assertion
  on timing).
* :func:`unique` makes names that do not collide with other tests' jobs on the shared
  clusters.
* :func:`jobs_with_key` lists the jobs carrying a submission key, as squeue sees them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from slurm_core import Job, SlurmClient, StaticToken
from slurm_core.jobs import split_comment
from slurm_core.testing.cluster import LocalSlurmCluster

__all__ = [
    "auth_of",
    "batch_step_alive",
    "finished",
    "jobs_with_key",
    "make_client",
    "unique",
    "until",
]

T = TypeVar("T")


def auth_of(cluster: LocalSlurmCluster) -> StaticToken:
    """A fresh token of the cluster's default user (alice)."""
    return StaticToken(cluster.token(), user_name=cluster.user_name)


def make_client(cluster: LocalSlurmCluster, **options: object) -> SlurmClient:
    return SlurmClient(cluster.rest_url, auth=auth_of(cluster), timeout=30, **options)  # type: ignore[arg-type]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def until(
    probe: Callable[[], T | None], *, timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> T:
    """``probe()``'s first truthy result; ``AssertionError`` naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(interval)


def finished(client: SlurmClient, job_id: int | str, timeout: float = 60.0) -> Job:
    """The job once it reached a final state (whatever it is)."""

    def probe() -> Job | None:
        job = client.jobs.get(job_id)
        return job if job.state.is_finished else None

    return until(probe, timeout=timeout, what=f"job {job_id} to finish")


def jobs_with_key(cluster: LocalSlurmCluster, key: str) -> list[str]:
    """Job ids whose comment carries ``key``, as squeue (not the client) sees them."""
    out = cluster.run(["squeue", "-h", "-t", "all", "-o", "%i|%k"], check=True).stdout
    return [
        line.split("|", 1)[0]
        for line in out.splitlines()
        if "|" in line and split_comment(line.split("|", 1)[1])[1] == key
    ]


def batch_step_alive(job_id: int) -> bool:
    """Whether a ``slurmstepd: [<id>.batch]`` process runs (all nodes share this host)."""
    title = f"slurmstepd: [{job_id}.batch]".encode()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(title):
                return True
        except OSError:  # gone meanwhile
            continue
    return False
