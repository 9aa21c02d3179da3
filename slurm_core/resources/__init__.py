"""The resource tree of the clients (``client.jobs``, ``client.nodes``, ...).

Each resource has a sync and an async class with the same method names; both run the
same operations (see :mod:`slurm_core._engine`).
"""

from .accounting import Accounting, AsyncAccounting
from .cluster import (
    AsyncLicenses,
    AsyncPartitions,
    AsyncReservations,
    Licenses,
    Partitions,
    Reservations,
)
from .jobs import AsyncJobs, Jobs
from .nodes import AsyncNodes, Nodes

__all__ = [
    "Accounting",
    "AsyncAccounting",
    "AsyncJobs",
    "AsyncLicenses",
    "AsyncNodes",
    "AsyncPartitions",
    "AsyncReservations",
    "Jobs",
    "Licenses",
    "Nodes",
    "Partitions",
    "Reservations",
]
