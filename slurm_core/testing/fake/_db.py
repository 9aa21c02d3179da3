"""The slurmdbd half of the fake: accounting jobs and the static database entities.

:class:`SlurmdbHandlers` serves one REST API version; :class:`~._app.FakeApp` routes
``/slurmdb/<v>/...`` to it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from ..._versions import _encode as enc
from . import _models, _shapes, _wire
from ._acctdb import accounting_db
from ._call import Call, Handler
from ._cluster import FakeCluster
from ._state import FakeJob, PlainAnswer, Reject

__all__ = ["SlurmdbHandlers"]


class SlurmdbHandlers:
    """``GET /slurmdb/<v>/...`` handlers for one version, over a :class:`FakeCluster`."""

    def __init__(
        self, cluster: FakeCluster, version: str, *, user: str, admins: tuple[str, ...] = ()
    ) -> None:
        self.admins = admins
        self.cluster = cluster
        self.version = version
        self.fmt = enc.wire_format(version)
        self.user = user

    def _env(self, call: Call, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _wire.envelope(self.version, call.user, self.cluster.name, body, **kw)

    def _db_wire(self, job: FakeJob, now: int) -> dict[str, Any]:
        wire = enc.encode_accounting_job(_models.accounting_model(self.cluster, job, now), self.fmt)
        if _wire.minor(self.version) >= 40:  # slurmdbd keeps the three comments
            wire["comment"] = {"administrator": "", "job": job.comment or "", "system": ""}
        return _shapes.thicken(self.version, "db_job", wire)

    def modify_job(self, call: Call) -> tuple[int, dict[str, Any]]:
        """``sacctmgr modify job`` (v0.0.44+): the job's comment of one job."""
        return self._modify(call, [call.groups["job_id"]], call.body)

    def modify_jobs(self, call: Call) -> tuple[int, dict[str, Any]]:
        """The same for ``job_id_list``, with ``job_rec`` as the change."""
        body = call.body if isinstance(call.body, dict) else {}
        ids = body.get("job_id_list")
        refs = [str(i) for i in ids] if isinstance(ids, list) else []
        return self._modify(call, refs, body.get("job_rec"))

    def _modify(self, call: Call, refs: list[str], change: object) -> tuple[int, dict[str, Any]]:
        if not isinstance(change, dict):
            raise Reject(9001, "Failure during parsing", "expected a job_modify object", 400)
        self.cluster.sync()
        done = []
        for ref in refs:
            try:
                found = self.cluster.find(ref, visible=False)
            except Reject:
                continue
            for job in found:
                if call.user not in self.admins and job.user_name != call.user:
                    raise Reject(
                        2002, "Access/permission denied", "slurmdb_job_modify() failed", 422
                    )
                comment = change.get("comment")  # {administrator, job, system}
                if isinstance(comment, dict) and isinstance(comment.get("job"), str):
                    job.comment = comment["job"]
                done.append(str(job.job_id))
        if not done:  # recorded: nothing modified is 304 without a body
            raise PlainAnswer(304, "")
        return 200, self._env(call, {"results": done})

    def db_jobs(self, call: Call) -> tuple[int, dict[str, Any]]:
        now = self.cluster.sync()
        q = call.query
        start = _time(q.get("start_time"))
        end = _time(q.get("end_time"))
        users = _names(q.get("users"))
        accounts = _names(q.get("account"))
        out = []
        for job in self.cluster.jobs.values():
            if users and job.user_name not in users:
                continue
            if accounts and job.account not in accounts:
                continue
            if start is not None and (job.end_time or now) < start:
                continue
            if end is not None and job.submit_time > end:
                continue
            out.append(self._db_wire(job, now))
        return 200, self._env(call, {"jobs": out})

    def db_job(self, call: Call) -> tuple[int, dict[str, Any]]:
        now = self.cluster.sync()
        try:
            found = self.cluster.find(call.groups["job_id"], visible=False)
        except Reject:  # what slurmdbd says: nothing found is a warning
            warning = {"description": "slurmdb_jobs_get() found nothing", "source": "_dump_jobs"}
            return 200, self._env(call, {"jobs": []}, warnings=[warning])
        return 200, self._env(call, {"jobs": [self._db_wire(j, now) for j in found]})

    def static(self, kind: str, key: str) -> Handler:
        """A handler listing one kind of static entity under ``key``."""
        encoders: dict[str, Callable[[Any, enc.WireFormat], dict[str, Any]]] = {
            "accounts": enc.encode_account,
            "users": enc.encode_user,
            "associations": enc.encode_association,
            "qos": enc.encode_qos,
            "tres": enc.encode_tres,
        }

        def handler(call: Call) -> tuple[int, dict[str, Any]]:
            models = accounting_db(self.cluster, self.user).models(kind)
            return 200, self._env(call, {key: [encoders[kind](m, self.fmt) for m in models]})

        return handler


def _time(values: list[str] | None) -> int | None:
    """An epoch, or dbv0.0.38's ``now-<seconds>``; ``None`` when absent or unreadable.

    The client turns a datetime into ``now-<seconds>`` with its own wall clock, so the
    offset is applied to the wall clock too: that gives back the time the caller meant,
    even when the fake's clock is far from the wall clock.
    """
    text = values[0].strip() if values else ""
    relative = re.fullmatch(r"now(?:([+-])(\d+))?", text)
    if relative:
        sign = -1 if relative.group(1) == "-" else 1
        return int(time.time()) + sign * int(relative.group(2) or 0)
    return int(text) if text.lstrip("-").isdigit() else None


def _names(values: list[str] | None) -> set[str]:
    return {n for v in values or () for n in v.split(",") if n}
