"""Versionless, typed models of SLURM objects.

Every slurmrestd version (v0.0.38 through v0.0.45) is parsed into these same models.
Conventions (see :mod:`slurm_core.models._base`): UTC-aware datetimes, ``timedelta``
durations, memory in MiB, ``None`` for unset, :data:`INFINITE` for unlimited, and the
wire object in ``raw``. All models are frozen.

Example::

    >>> from slurm_core.models import INFINITE, JobBaseState
    >>> [j.job_id for j in client.jobs.list() if j.state.base is JobBaseState.RUNNING]
    [17, 18]
"""

from ._base import INFINITE, Infinite, InfiniteType, SlurmModel, SlurmObject
from .accounting import QOS, TRES, Account, AccountingJob, AccountingStep, Association, User
from .cluster import Diag, License, Node, Partition, Ping, Reservation
from .jobs import ExitCode, Job, JobBaseState, JobState

__all__ = [
    "INFINITE",
    "QOS",
    "TRES",
    "Account",
    "AccountingJob",
    "AccountingStep",
    "Association",
    "Diag",
    "ExitCode",
    "Infinite",
    "InfiniteType",
    "Job",
    "JobBaseState",
    "JobState",
    "License",
    "Node",
    "Partition",
    "Ping",
    "Reservation",
    "SlurmModel",
    "SlurmObject",
    "User",
]
