"""Accounting (slurmdbd) models: jobs and steps from the database, TRES, and associations."""

from __future__ import annotations

from datetime import datetime, timedelta

from ._base import InfiniteType, SlurmModel, SlurmObject
from .jobs import ExitCode, JobState

__all__ = [
    "QOS",
    "TRES",
    "Account",
    "AccountingJob",
    "AccountingStep",
    "Association",
    "User",
]


class TRES(SlurmModel):
    """A trackable resource and a count: ``cpu=4``, ``mem=2000`` (MiB), ``gres/gpu=2``.

    Example::

        >>> t = TRES(type="gres", name="gpu", id=1001, count=2)
        >>> t.key
        'gres/gpu'
    """

    type: str
    name: str | None = None
    id: int | None = None
    count: int | None = None

    @property
    def key(self) -> str:
        """The name Slurm uses in TRES strings: ``"cpu"`` or ``"gres/gpu"``."""
        return f"{self.type}/{self.name}" if self.name else self.type


class AccountingStep(SlurmObject):
    """One step of an accounted job (``batch``, ``extern``, ``0``...).

    Example::

        >>> [(s.step_id, s.state.base) for s in acct_job.steps]
        [('batch', <JobBaseState.COMPLETED: 'COMPLETED'>)]
    """

    step_id: str
    name: str | None = None
    state: JobState
    exit_code: ExitCode | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    elapsed: timedelta | None = None
    nodes: str | None = None
    node_count: int | None = None
    task_count: int | None = None
    cpu_time_user: timedelta | None = None
    cpu_time_system: timedelta | None = None
    tres_allocated: tuple[TRES, ...] = ()


class AccountingJob(SlurmObject):
    """A job as the accounting database (``sacct``) records it, with its steps and TRES.

    Example::

        >>> [j.job_id for j in client.accounting.jobs(users=["alice"])]
        [1, 2, 3]
        >>> {t.key: t.count for t in j.tres_allocated}
        {'cpu': 1, 'mem': 100, 'node': 1, 'billing': 1}
    """

    job_id: int
    name: str
    state: JobState
    state_reason: str | None = None
    exit_code: ExitCode | None = None
    derived_exit_code: ExitCode | None = None
    user: str | None = None
    group: str | None = None
    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    cluster: str | None = None
    nodes: str | None = None
    node_count: int | None = None
    array_job_id: int | None = None
    array_task_id: int | None = None
    submit_time: datetime | None = None
    eligible_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    elapsed: timedelta | None = None
    time_limit: timedelta | InfiniteType | None = None
    priority: int | None = None
    working_directory: str | None = None
    tres_allocated: tuple[TRES, ...] = ()
    tres_requested: tuple[TRES, ...] = ()
    steps: tuple[AccountingStep, ...] = ()
    flags: frozenset[str] = frozenset()


class Account(SlurmObject):
    """A bank account (``sacctmgr show account``).

    Example::

        >>> [a.name for a in client.accounting.accounts()]
        ['root', 'physics']
    """

    name: str
    description: str | None = None
    organization: str | None = None
    coordinators: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()


class User(SlurmObject):
    """A database user (``sacctmgr show user``).

    Example::

        >>> u = next(u for u in client.accounting.users() if u.name == "alice")
        >>> u.default_account, u.admin_level
        ('physics', 'None')
    """

    name: str
    default_account: str | None = None
    default_wckey: str | None = None
    admin_level: str | None = None
    coordinators: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()


class Association(SlurmObject):
    """An association of cluster, account, user and partition, with its limits.

    Example::

        >>> [(a.account, a.user) for a in client.accounting.associations()]
        [('root', None), ('root', 'root')]
    """

    id: int | None = None
    cluster: str | None = None
    account: str | None = None
    user: str | None = None
    partition: str | None = None
    parent_account: str | None = None
    is_default: bool = False
    qos: tuple[str, ...] = ()
    default_qos: str | None = None
    shares_raw: int | None = None
    priority: int | InfiniteType | None = None
    max_jobs: int | InfiniteType | None = None
    max_submit_jobs: int | InfiniteType | None = None
    max_wall_per_job: timedelta | InfiniteType | None = None


class QOS(SlurmObject):
    """A quality of service (``sacctmgr show qos``).

    Example::

        >>> [(q.name, q.priority) for q in client.accounting.qos()]
        [('normal', 0)]
    """

    name: str
    id: int | None = None
    description: str | None = None
    priority: int | InfiniteType | None = None
    flags: frozenset[str] = frozenset()
    preempt_mode: tuple[str, ...] = ()
    usage_factor: float | None = None
    max_wall_per_job: timedelta | InfiniteType | None = None
    max_jobs_per_user: int | InfiniteType | None = None
    max_submit_jobs_per_user: int | InfiniteType | None = None
