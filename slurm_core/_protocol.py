"""``SlurmClientProtocol``: the public surface of :class:`~slurm_core.SlurmClient`, as a type.

Type your own functions against the protocol and pass them a real client in production
and a :class:`~slurm_core.testing.MockSlurmClient` in tests; mypy checks that both fit
(``tests/unit/test_protocol_typing.py`` proves it for both).

Example::

    from slurm_core import SlurmClientProtocol

    def submit_workload(client: SlurmClientProtocol) -> int:
        job = client.jobs.submit().partition("test").command(["./run.sh"]).execute()
        return client.jobs.wait(job.job_id).job_id
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeVar, overload

from .jobs import JobBuilder, JobSpec, SubmittedJob
from .models import (
    QOS,
    TRES,
    Account,
    AccountingJob,
    Association,
    Diag,
    Infinite,
    Job,
    JobBaseState,
    License,
    Node,
    Partition,
    Ping,
    Reservation,
    User,
)
from .watch import JobEvent

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AccountingProtocol",
    "JobsProtocol",
    "LicensesProtocol",
    "NodesProtocol",
    "PartitionsProtocol",
    "ReservationsProtocol",
    "SlurmClientProtocol",
]

JobId = int | str
TimeLimit = timedelta | int | Infinite
States = JobBaseState | str | Iterable[JobBaseState | str]
Time = datetime | int | float
Names = str | Sequence[str]
_B = TypeVar("_B", bound=JobBuilder)


class JobsProtocol(Protocol):
    """``client.jobs``: see :class:`slurm_core.resources.Jobs`."""

    def list(
        self,
        *,
        user: str | int | None = None,
        states: States | None = None,
        partition: str | None = None,
    ) -> builtins.list[Job]: ...

    def get(self, job_id: JobId) -> Job: ...

    def cancel(self, job_id: JobId, signal: int | str | None = None) -> None: ...

    def hold(self, job_id: JobId) -> None: ...

    def release(self, job_id: JobId) -> None: ...

    def requeue(self, job_id: JobId) -> None: ...

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
    ) -> None: ...

    @overload
    def submit(self) -> JobBuilder: ...

    @overload
    def submit(self, builder: type[_B]) -> _B: ...

    def submit_spec(
        self, spec: JobSpec, *, attach: bool = False, reattach_failed: bool = True
    ) -> SubmittedJob: ...

    def find_submission(self, key: str, *, since: datetime | None = None) -> int | None: ...

    def watch(
        self,
        job_ids: JobId | Iterable[JobId],
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
    ) -> Iterator[JobEvent]: ...

    def wait(
        self, job_id: JobId, *, timeout: float | None = None, max_interval: float | None = None
    ) -> Job: ...


class NodesProtocol(Protocol):
    """``client.nodes``: see :class:`slurm_core.resources.Nodes`."""

    def list(self) -> builtins.list[Node]: ...

    def get(self, name: str) -> Node: ...

    def update(
        self,
        name: str,
        *,
        state: str | Sequence[str] | None = None,
        reason: str | None = None,
        comment: str | None = None,
        features: Sequence[str] | None = None,
        weight: int | None = None,
    ) -> None: ...


class PartitionsProtocol(Protocol):
    """``client.partitions``."""

    def list(self) -> builtins.list[Partition]: ...

    def get(self, name: str) -> Partition: ...


class ReservationsProtocol(Protocol):
    """``client.reservations``."""

    def list(self) -> builtins.list[Reservation]: ...


class LicensesProtocol(Protocol):
    """``client.licenses``."""

    def list(self) -> builtins.list[License]: ...


class AccountingProtocol(Protocol):
    """``client.accounting``: see :class:`slurm_core.resources.Accounting`."""

    def jobs(
        self,
        *,
        start: Time | None = None,
        end: Time | None = None,
        users: Names | None = None,
        accounts: Names | None = None,
    ) -> list[AccountingJob]: ...

    def accounts(self) -> list[Account]: ...

    def users(self) -> list[User]: ...

    def associations(self) -> list[Association]: ...

    def qos(self) -> list[QOS]: ...

    def tres(self) -> list[TRES]: ...


class SlurmClientProtocol(Protocol):
    """What :class:`~slurm_core.SlurmClient` offers; :class:`~slurm_core.testing.MockSlurmClient`
    offers the same, so code typed against this runs with either.

    Example::

        def running_jobs(client: SlurmClientProtocol) -> list[int]:
            return [j.job_id for j in client.jobs.list(states="RUNNING")]
    """

    @property
    def api_version(self) -> str | None: ...

    def negotiate(self) -> str: ...

    @property
    def jobs(self) -> JobsProtocol: ...

    @property
    def nodes(self) -> NodesProtocol: ...

    @property
    def partitions(self) -> PartitionsProtocol: ...

    @property
    def reservations(self) -> ReservationsProtocol: ...

    @property
    def licenses(self) -> LicensesProtocol: ...

    @property
    def accounting(self) -> AccountingProtocol: ...

    def ping(self) -> list[Ping]: ...

    def diag(self) -> Diag: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
