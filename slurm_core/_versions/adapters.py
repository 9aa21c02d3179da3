"""One adapter per supported slurmrestd REST API version, as small overrides of the base.

What changes between versions (checked against each version's OpenAPI document and,
where we have them, real requests and responses from Slurm 22.05, 24.11 and 26.05):

========  ==========================================================================
v0.0.38   Slurm 22.05-23.11 plugin ``openapi/v0.0.38``: plain numbers; state as one
          string (node state lower case + ``state_flags``); exit codes as raw wait
          status; flat partition objects; ``environment`` as an object; script beside
          ``job``; updates are sbatch options (``hold: true/false`` holds and releases;
          a new ``name`` is silently ignored, so refused); no ``POST node``;
          ``slurmdb/jobs`` has no ``users`` filter and no UNIX timestamps.
v0.0.39   Slurm 23.02-24.05 ``openapi/v0.0.39``: first data_parser version: number
          wrappers, nested partitions, ``POST node``; still one state string and the raw
          wait status; script beside ``job``; job updates flat like every version.
v0.0.40   Slurm 23.11-24.11: state lists, verbose exit codes, script inside ``job``,
          updates flat (``job_desc_msg``); ``slurmdb/jobs`` times not as UNIX timestamps
          (like v0.0.38: sent as ``now-<seconds>``).
v0.0.41   same shapes as v0.0.40 (adds ``job/allocate``).
v0.0.42   ``*_no_val_struct`` names, ``POST nodes``; job ``exclusive``/``oversubscribe``
          folded into ``shared`` (not modelled).
v0.0.43   adds reservations POST, ``stdout_expanded`` etc. (kept in ``raw``).
v0.0.44   adds ``POST slurmdb/job``, ``submit_line``/``step_id`` (kept in ``raw``).
v0.0.45   adds ``GET job/{id}/requeue``.
========  ==========================================================================

Shape differences of *responses* are absorbed by the tolerant decoders in
:mod:`._decode`; only the v0.0.38 partition needs its own parser.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from .._exceptions import UnsupportedOperationError
from ..models import Partition
from . import _parse
from ._names import CLIENT_VERSIONS
from .base import Adapter, Request

__all__ = ["ADAPTERS", "CLIENT_VERSIONS", "get_adapter"]


class _RelativeTimes(Adapter):
    """Accounting start/end times as ``now-<seconds>``, for the versions that refuse UNIX
    timestamps ("Unable to parse time format" on 22.05.8 dbv0.0.38, 9202 "Parsing of ... for
    timestamp failed" on 24.11.5 v0.0.40/v0.0.41). Their date formats are read in the
    server's time zone; a relative time is exact up to the clocks' skew, whatever the zone.
    """

    relative_times: ClassVar[bool] = True

    def accounting_jobs(
        self,
        *,
        start: datetime | int | float | None = None,
        end: datetime | int | float | None = None,
        users: str | Sequence[str] | None = None,
        accounts: str | Sequence[str] | None = None,
    ) -> Request:
        request = super().accounting_jobs(start=start, end=end, users=users, accounts=accounts)
        if not self.relative_times or not request.params:
            return request
        params = dict(request.params)
        now = time.time()
        for key in ("start_time", "end_time"):
            if key in params:
                delta = round(int(params[key]) - now)
                params[key] = f"now{delta:+d}" if delta else "now"
        return dataclasses.replace(request, params=params)


class V0038(_RelativeTimes):
    version = "v0.0.38"
    number_wrappers = False
    environment_as_object = True
    script_in_job = False
    has_node_update = False
    accounting_users_param = False
    users_with_assocs = False

    def partition_item(self, item: dict[str, Any]) -> Partition:
        return _parse.partition_v38(item)

    def job_update_fields(self, **fields: Any) -> dict[str, Any]:
        if fields.get("name") is not None:
            # slurmrestd 22.05 answers 200 to {"name": ...} and never renames the job
            # (checked on 22.05.8; every other field of jobs.update is applied).
            later = [v for v in ADAPTERS if v != self.version]
            raise UnsupportedOperationError(
                "jobs.update(name=...)", self.version, later, self.server_versions
            )
        return super().job_update_fields(**fields)


class V0039(Adapter):
    version = "v0.0.39"
    script_in_job = False
    users_with_assocs = False


class V0040(_RelativeTimes):
    version = "v0.0.40"


class V0041(V0040):
    version = "v0.0.41"


class V0042(V0041):
    version = "v0.0.42"
    relative_times = False  # UNIX timestamps work from v0.0.42 (24.11 and 26.05)


class V0043(V0042):
    version = "v0.0.43"


class V0044(V0043):
    version = "v0.0.44"


class V0045(V0044):
    version = "v0.0.45"
    has_requeue = True


ADAPTERS: dict[str, type[Adapter]] = {
    cls.version: cls for cls in (V0038, V0039, V0040, V0041, V0042, V0043, V0044, V0045)
}
"""Adapter class by version string, oldest first."""

if tuple(ADAPTERS) != CLIENT_VERSIONS:  # pragma: no cover - a development mistake
    raise RuntimeError(f"_names.CLIENT_VERSIONS {CLIENT_VERSIONS} != adapters {tuple(ADAPTERS)}")


def get_adapter(version: str, server_versions: Sequence[str] = ()) -> Adapter:
    """The adapter for ``version`` (e.g. ``"v0.0.42"``); KeyError if unsupported."""
    return ADAPTERS[version](server_versions)
