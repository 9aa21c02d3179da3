"""The slurmdbd half of the fake: accounting jobs and the static database entities.

:class:`SlurmdbHandlers` serves one REST API version; :class:`~._app.FakeApp` routes
``/slurmdb/<v>/...`` to it.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..._versions import _encode as enc
from . import _acctstats, _models, _sched, _shapes, _wire
from ._acctdb import accounting_db, entity_wire
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
        minor = _wire.minor(self.version)
        if minor >= 40:  # slurmdbd keeps the three comments
            wire["comment"] = {"administrator": "", "job": job.comment or "", "system": ""}
            extras = _shapes.only_known(self.version, "db_job", self._job_extras(job))
            wire = _acctstats.lay_over(wire, extras)
        if minor != 39:  # recorded on 22.05 and later; v0.0.39 has no real recording here
            usage = _acctstats.batch_usage(job)
            for step in wire.get("steps") or []:
                node = step.get("nodes", {}).get("range")
                step["nodes"] = {**step.get("nodes", {}), "list": [node] if node else []}
                if minor >= 40:
                    step.update(_acctstats.lay_over(step, _acctstats.STEP_CONSTANTS))
                # unnamed TRES say "" (22.05 sends null, against its own document)
                if usage is not None:
                    step.update(_acctstats.lay_over(step, _acctstats.step_wire(usage)))
        return _shapes.thicken(self.version, "db_job", wire)

    def _job_extras(self, job: FakeJob) -> dict[str, Any]:
        """What slurmdbd keeps of a v0.0.40+ job beyond the model (recorded 24.11, 26.05)."""
        num, minor = self.fmt.num, _wire.minor(self.version)
        db = accounting_db(self.cluster, self.user)
        assoc = next(
            (a for a in db.associations if (a.account, a.user) == (job.account, job.user_name)),
            None,
        )
        named = minor <= 42  # 26.05 names only the association's id
        out_pattern, err_pattern, in_pattern = job.patterns
        default = "slurm-%A_%a.out" if job.array_job_id is not None else "slurm-%j.out"
        if minor <= 42:
            default = f"{job.working_directory.rstrip('/')}/{default}"
        per_cpu = None if job.memory_per_node else job.memory_per_cpu or _sched.DEF_MEM_PER_CPU
        extras: dict[str, Any] = {
            "association": {
                "account": job.account if named else "",
                "cluster": self.cluster.name,
                "partition": "",
                "user": job.user_name if named else "",
                "id": assoc.id if assoc is not None and assoc.id is not None else 0,
            },
            "required": {
                "CPUs": job.cpus,
                "memory_per_cpu": num(per_cpu),
                "memory_per_node": num(job.memory_per_node),
            },
            "stdout": out_pattern or default,
            "stdout_expanded": job.standard_output or "",
            "stderr": err_pattern or "",
            "stderr_expanded": (job.standard_error or "") if err_pattern else "",
            "stdin": in_pattern or "",
            "stdin_expanded": (job.standard_input or "") if in_pattern else "",
        }
        if job.start_time:
            extras["flags"] = ["STARTED_ON_SCHEDULE", "START_RECEIVED"]
            extras["time"] = {"planned": num(job.start_time - job.submit_time)}
        return extras

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

        def handler(call: Call) -> tuple[int, dict[str, Any]]:
            models = accounting_db(self.cluster, self.user).models(kind)
            return 200, self._env(call, {key: [entity_wire(kind, m, self.version) for m in models]})

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
