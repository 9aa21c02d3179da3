"""Public model -> wire object for each slurmrestd version: the inverse of :mod:`.._parse`.

Used by the fake slurmrestd (:mod:`slurm_core.testing.fake`) to answer in the exact shapes
of each REST API version, so the fake cannot drift from what the client parses: the
round-trip property tests check ``parse(encode(model, fmt)) == model`` for every version.

Example::

    >>> from slurm_core._versions._encode import encode_job, wire_format
    >>> wire = encode_job(job, wire_format("v0.0.38"))
    >>> wire["job_state"], wire["time_limit"]
    ('RUNNING', 30)
"""

from __future__ import annotations

from ._common import NO_VAL, UNLIMITED, Wire, WireFormat, drop_none, wire_format, wrap
from .accounting import account as encode_account
from .accounting import association as encode_association
from .accounting import qos as encode_qos
from .accounting import tres as encode_tres
from .accounting import user as encode_user
from .cluster import diag as encode_diag
from .cluster import license_ as encode_license
from .cluster import node as encode_node
from .cluster import partition as encode_partition
from .cluster import ping as encode_ping
from .cluster import reservation as encode_reservation
from .jobs import accounting_job as encode_accounting_job
from .jobs import job as encode_job

__all__ = [
    "NO_VAL",
    "UNLIMITED",
    "Wire",
    "WireFormat",
    "drop_none",
    "encode_account",
    "encode_accounting_job",
    "encode_association",
    "encode_diag",
    "encode_job",
    "encode_license",
    "encode_node",
    "encode_partition",
    "encode_ping",
    "encode_qos",
    "encode_reservation",
    "encode_tres",
    "encode_user",
    "wire_format",
    "wrap",
]
