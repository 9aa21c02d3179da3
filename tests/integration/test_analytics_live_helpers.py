"""Helpers of the analytics integration tests (test_analytics_live_*.py); no tests here.

* :class:`Live` holds one release's cluster and hands out sync clients per user (alice,
  bob, root = admin), optionally hooked into an audit log.
* :meth:`Live.submit` submits a :class:`JobSpec` (``client.jobs.submit_spec``).
* :func:`poll` retries a check until it holds or a deadline passes (never a fixed sleep
  before an assertion).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from slurm_core import SlurmClient, StaticToken
from slurm_core.analytics import AuditLog
from slurm_core.jobs import JobSpec
from slurm_core.models import AccountingJob
from slurm_core.testing.cluster import LocalSlurmCluster

__all__ = ["Live", "poll", "utcnow"]

T = TypeVar("T")
UTC = timezone.utc


def utcnow() -> datetime:
    return datetime.now(UTC)


def poll(
    check: Callable[[], T | None], what: str, timeout: float = 45.0, interval: float = 0.25
) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Live:
    """One release's running cluster, as the analytics tests use it."""

    def __init__(self, cluster: LocalSlurmCluster) -> None:
        self.cluster = cluster
        self.release = cluster.release
        self._tokens: dict[str, str] = {}
        self._clients: list[SlurmClient] = []

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = (
                self.cluster.admin_token() if user == "root" else self.cluster.token(user)
            )
        return self._tokens[user]

    def client(self, user: str = "alice", audit: AuditLog | None = None) -> SlurmClient:
        auth = StaticToken(self.token(user), user_name=user)
        hooks = audit.hooks(auth=auth) if audit is not None else None
        client = SlurmClient(self.cluster.rest_url, auth=auth, timeout=30.0, hooks=hooks)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def submit(self, client: SlurmClient, spec: JobSpec) -> int:
        """Submit ``spec`` (output to /dev/null, run in the shared directory)."""
        spec = spec.model_copy(
            update={
                "working_directory": spec.working_directory or str(self.cluster.shared_dir),
                "output": spec.output or "/dev/null",
            }
        )
        return client.jobs.submit_spec(spec).job_id

    def recorded(
        self, client: SlurmClient, job_ids: Iterable[int], since: datetime
    ) -> dict[int, AccountingJob]:
        """Wait until slurmdbd has every job finished (with its end time); the records."""
        wanted = set(job_ids)

        def check() -> dict[int, AccountingJob] | None:
            found = {
                j.job_id: j
                for j in client.accounting.jobs(start=since - timedelta(minutes=1))
                if j.job_id in wanted and j.state.is_finished and j.end_time is not None
            }
            return found if set(found) == wanted else None

        return poll(check, f"jobs {sorted(wanted)} finished in the accounting database")

    def cancel_quietly(self, client: SlurmClient, job_ids: Iterable[int]) -> None:
        for job_id in job_ids:
            try:
                client.jobs.cancel(job_id)
            except Exception as exc:  # cleanup only: the job may be gone already
                print(f"cleanup: cancel {job_id}: {exc}")


def script(seconds: float) -> str:
    return f"#!/bin/sh\nsleep {seconds}\n"


def spec(seconds: float = 1, **fields: Any) -> JobSpec:
    """A batch job sleeping ``seconds``."""
    fields.setdefault("name", "an-live")
    return JobSpec(script=script(seconds), **fields)
