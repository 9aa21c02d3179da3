"""Wire object -> public model, written once for every slurmrestd version.

The decoders in :mod:`.._decode` accept every encoding a field has had since v0.0.38,
so these functions need no version switches except where an object changed shape
entirely (the v0.0.38 partition, see :func:`partition_v38`). Field-path errors are
raised as :class:`~.._decode.WireError` with the path relative to the object; the
adapter prefixes the list index (``jobs[3].time_limit``).
"""

from __future__ import annotations

from .accounting import account, association, qos, user
from .cluster import diag, license_, node, partition, partition_v38, ping, reservation
from .jobs import accounting_job, accounting_step, job, job_from_accounting

__all__ = [
    "account",
    "accounting_job",
    "accounting_step",
    "association",
    "diag",
    "job",
    "job_from_accounting",
    "license_",
    "node",
    "partition",
    "partition_v38",
    "ping",
    "qos",
    "reservation",
    "user",
]
