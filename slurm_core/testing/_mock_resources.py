"""The resource objects of :class:`~slurm_core.testing.MockSlurmClient` (``mock.jobs``...).

Their signatures equal :class:`~slurm_core.SlurmClientProtocol`'s (a test compares them);
every method turns into one recorded call, answered by the mock's expectations: each
resource is given the mock's ``call`` function, never the mock itself.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .._protocol import JobId, Names, States, Time, TimeLimit
from ..jobs import JobBuilder, JobSpec, SubmittedJob
from ..models import (
    QOS,
    TRES,
    Account,
    AccountingJob,
    Association,
    Job,
    License,
    Node,
    Partition,
    Reservation,
    User,
)

if TYPE_CHECKING:  # annotation only: importing slurm_core.watch costs ~80 ms (anyio), no cycle
    from ..watch import JobEvent

_B = TypeVar("_B", bound=JobBuilder)

__all__ = [
    "CallFn",
    "MockAccounting",
    "MockJobs",
    "MockLicenses",
    "MockNodes",
    "MockPartitions",
    "MockReservations",
]


CallFn = Callable[..., Any]
"""``call(method, *args, **kwargs)``: record the call ``method`` and return its answer."""


class _Resource:
    def __init__(self, call: CallFn) -> None:
        self._call = call


class MockJobs(_Resource):
    def list(
        self,
        *,
        user: str | int | None = None,
        states: States | None = None,
        partition: str | None = None,
    ) -> builtins.list[Job]:
        return self._call("jobs.list", user=user, states=states, partition=partition)  # type: ignore[no-any-return]

    def get(self, job_id: JobId) -> Job:
        return self._call("jobs.get", job_id)  # type: ignore[no-any-return]

    def cancel(self, job_id: JobId, signal: int | str | None = None) -> None:
        self._call("jobs.cancel", job_id, signal)

    def hold(self, job_id: JobId) -> None:
        self._call("jobs.hold", job_id)

    def release(self, job_id: JobId) -> None:
        self._call("jobs.release", job_id)

    def requeue(self, job_id: JobId) -> None:
        self._call("jobs.requeue", job_id)

    def update(
        self,
        job_id: JobId,
        *,
        time_limit: TimeLimit | None = None,
        name: str | None = None,
        partition: str | None = None,
        comment: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        nice: int | None = None,
        priority: int | None = None,
    ) -> None:
        self._call(
            "jobs.update",
            job_id,
            time_limit=time_limit,
            name=name,
            partition=partition,
            comment=comment,
            account=account,
            qos=qos,
            nice=nice,
            priority=priority,
        )

    def submit(self, builder: type[_B] = JobBuilder) -> _B:  # type: ignore[assignment]
        """A real :class:`JobBuilder` (or ``builder`` subclass); ``execute()`` is the
        expected call ``jobs.submit``."""
        return builder(submitter=self.submit_spec)

    def submit_spec(
        self, spec: JobSpec, *, attach: bool = False, reattach_failed: bool = True
    ) -> SubmittedJob:
        if attach and not reattach_failed:
            return self._call(  # type: ignore[no-any-return]
                "jobs.submit", spec, attach=True, reattach_failed=False
            )
        if attach:
            return self._call("jobs.submit", spec, attach=True)  # type: ignore[no-any-return]
        return self._call("jobs.submit", spec)  # type: ignore[no-any-return]

    def submit_script(
        self,
        script_or_path: str | os.PathLike[str],
        *sbatch_args: str,
        environ: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> SubmittedJob:
        """Read as sbatch reads it (``JobSpec.from_sbatch``); then the call ``jobs.submit``."""
        return self.submit_spec(JobSpec.from_sbatch(script_or_path, sbatch_args, environ, cwd=cwd))

    def find_submission(self, key: str, *, since: datetime | None = None) -> int | None:
        return self._call("jobs.find_submission", key, since=since)  # type: ignore[no-any-return]

    def watch(
        self,
        job_ids: JobId | Iterable[JobId],
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
    ) -> Iterator[JobEvent]:
        events = self._call("jobs.watch", job_ids, timeout=timeout, max_interval=max_interval)
        return iter(events)

    def wait(
        self, job_id: JobId, *, timeout: float | None = None, max_interval: float | None = None
    ) -> Job:
        return self._call("jobs.wait", job_id, timeout=timeout, max_interval=max_interval)  # type: ignore[no-any-return]


class MockNodes(_Resource):
    def list(self) -> builtins.list[Node]:
        return self._call("nodes.list")  # type: ignore[no-any-return]

    def get(self, name: str) -> Node:
        return self._call("nodes.get", name)  # type: ignore[no-any-return]

    def update(
        self,
        name: str,
        *,
        state: str | Sequence[str] | None = None,
        reason: str | None = None,
        comment: str | None = None,
        features: Sequence[str] | None = None,
        weight: int | None = None,
    ) -> None:
        self._call(
            "nodes.update",
            name,
            state=state,
            reason=reason,
            comment=comment,
            features=features,
            weight=weight,
        )


class MockPartitions(_Resource):
    def list(self) -> builtins.list[Partition]:
        return self._call("partitions.list")  # type: ignore[no-any-return]

    def get(self, name: str) -> Partition:
        return self._call("partitions.get", name)  # type: ignore[no-any-return]


class MockReservations(_Resource):
    def list(self) -> builtins.list[Reservation]:
        return self._call("reservations.list")  # type: ignore[no-any-return]


class MockLicenses(_Resource):
    def list(self) -> builtins.list[License]:
        return self._call("licenses.list")  # type: ignore[no-any-return]


class MockAccounting(_Resource):
    def jobs(
        self,
        *,
        start: Time | None = None,
        end: Time | None = None,
        users: Names | None = None,
        accounts: Names | None = None,
    ) -> list[AccountingJob]:
        return self._call("accounting.jobs", start=start, end=end, users=users, accounts=accounts)  # type: ignore[no-any-return]

    def accounts(self) -> list[Account]:
        return self._call("accounting.accounts")  # type: ignore[no-any-return]

    def users(self) -> list[User]:
        return self._call("accounting.users")  # type: ignore[no-any-return]

    def associations(self) -> list[Association]:
        return self._call("accounting.associations")  # type: ignore[no-any-return]

    def qos(self) -> list[QOS]:
        return self._call("accounting.qos")  # type: ignore[no-any-return]

    def tres(self) -> list[TRES]:
        return self._call("accounting.tres")  # type: ignore[no-any-return]
