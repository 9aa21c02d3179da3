"""slurmctld operations beyond the basic flow: ``jobs/state``, ``job/allocate``...

:class:`CtldHandlers` serves them for one REST API version; :class:`~._app.FakeApp` routes
the ones that version's document has. Shapes and refusals follow answers recorded on
24.11.5 and 26.05.5 (``tests/data/responses/<version>/fidelity/``).
"""

from __future__ import annotations

import re
from typing import Any

from ..._versions import _encode as enc
from ...models import License, Reservation
from . import _wire
from ._call import Call
from ._cluster import FakeCluster, SubmitRequest
from ._state import FakeJob, PlainAnswer, Reject, unknown_job

__all__ = ["CtldHandlers"]

_JOB_ID = re.compile(r"[0-9]+(?:_[0-9]+)?")


class CtldHandlers:
    """Handlers of one version over a :class:`FakeCluster`."""

    def __init__(
        self,
        cluster: FakeCluster,
        version: str,
        *,
        uid: int,
        admins: tuple[str, ...],
        licenses: list[License],
        reservations: list[Reservation],
    ) -> None:
        self.cluster = cluster
        self.version = version
        self.minor = _wire.minor(version)
        self.uid = uid
        self.admins = admins
        self.licenses = licenses
        self.reservations = reservations

    def submit_job(self, call: Call, body: Any = None) -> FakeJob:
        """Decode, check and create a job; refusals as slurmctld and this version send them.

        Recorded: an unknown reservation (2053), license (2048), constraint (2029) or node
        (2018) is refused with 500 by 22.05 and 24.11 and with 422 by 26.05; 22.05's
        v0.0.38 takes no ``required_nodes`` at all.
        """
        body = call.body if body is None else body
        job = body.get("job") if isinstance(body, dict) else None
        if self.minor <= 38 and isinstance(job, dict) and "required_nodes" in job:
            parse = Reject(9001, "Failure during parsing", "Failure during parsing")
            disabled = 'Disabled key: "required_nodes"'
            raise Reject(1, "Operation not permitted", disabled, 400, also=(parse,))
        try:
            request = _wire.decode_submit(body, self.cluster.sync())
            self._check_names(request)
            return self.cluster.submit(request, call.user, self.uid)
        except Reject as reject:
            if self.minor >= 43 and reject.status == 500:
                reject.status = 422
            raise

    def _check_names(self, request: SubmitRequest) -> None:
        failed = "Batch job submission failed"
        names = {r.name for r in self.reservations}
        if request.reservation and request.reservation not in names:
            raise Reject(2053, "Requested reservation is invalid", failed)
        owned = {lic.name for lic in self.licenses}
        for item in (request.licenses or "").split(","):
            name = re.split(r"[:@]", item.strip(), maxsplit=1)[0]
            if name and name not in owned:
                raise Reject(2048, "Invalid license specification", failed)

    def _env(self, call: Call, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _wire.envelope(self.version, call.user, self.cluster.name, body, **kw)

    def jobs_state(self, call: Call) -> tuple[int, dict[str, Any]]:
        """``GET jobs/state``: id and state of every job, or of the ``job_id`` given.

        Several ids are repeated ``job_id`` parameters; a comma list is not read (24.11:
        400 ``Unable to parse query.``, 26.05: 500 ``Unspecified error``, both plain text).
        An unknown id is left out, not refused. As on 24.11 and 26.05, a task that started
        is named by its own job id (``"2003_1"``: task 1 of array 2002), and one task of a
        pending array names every pending task of it, again for each such id asked.
        """
        ids = call.query.get("job_id", [])
        if any("," in value for value in ids):
            if self.minor <= 42:
                raise PlainAnswer(400, "Unable to parse query.")
            raise PlainAnswer(500, "Unspecified error")
        if not all(_JOB_ID.fullmatch(value) for value in ids):
            query = "Query empty or not RFC7320 compliant"
            raise Reject(9000, query, "Rejecting request. Failure parsing query", 422)
        c = self.cluster
        c.sync()
        jobs: list[FakeJob] = []
        if ids:
            for value in ids:
                try:
                    found = c.find(value)
                except Reject:
                    continue
                if "_" in value and [j.state for j in found] == ["PENDING"]:
                    base = found[0].array_job_id
                    found = [j for j in c.visible() if j.array_job_id == base]
                    found = [j for j in found if j.state == "PENDING"]
                jobs.extend(found)
        else:
            jobs = c.visible()
        states = [{"job_id": _state_name(j), "state": [j.state, *sorted(j.flags)]} for j in jobs]
        return 200, self._env(call, {"jobs": states})

    def allocate(self, call: Call) -> tuple[int, dict[str, Any]]:
        """``POST job/allocate``: a job without a batch script (as salloc makes)."""
        body = call.body
        if isinstance(body, dict) and isinstance(body.get("job"), dict):
            body = {**body, "job": {"script": "#!/bin/sh\n# allocation\n", **body["job"]}}
        job = self.submit_job(call, body)
        return 200, self._env(call, {"job_id": job.job_id, "job_submit_user_msg": ""})

    def update(self, call: Call) -> tuple[int, dict[str, Any]]:
        job_id = call.groups["job_id"]
        fields = _wire.decode_update(call.body)
        try:
            self.cluster.update(job_id, fields, admin=call.user in self.admins)
        except Reject as reject:
            minor = _wire.minor(self.version)
            if reject.errno != 2017:
                raise
            reject = unknown_job(job_id, "update")
            reject.description = "Job update requested failed"
            if minor < 40:
                raise reject from None
            extra: dict[str, Any] = {"results": []}  # recorded: it keeps its usual keys
            if minor <= 41:
                extra.update(job_id="", step_id="", job_submit_user_msg="")
            body = _wire.error_body(self.version, call.user, self.cluster.name, reject, **extra)
            return _wire.error_status(self.version, reject), body
        minor = _wire.minor(self.version)
        if minor == 39:
            return 200, self._env(call, {"job_id": int(job_id.split("_")[0]), "step_id": "batch"})
        if minor in (40, 41):
            out = {"results": [], "job_id": "", "step_id": "", "job_submit_user_msg": ""}
            return 200, self._env(call, out)
        if minor >= 42:  # 24.11 sends "results": null; its document says a list
            return 200, self._env(call, {"results": []})
        return 200, self._env(call)

    def cancel(self, call: Call) -> tuple[int, dict[str, Any]]:
        job_id = call.groups["job_id"]
        signal = call.query.get("signal", [None])[0]
        minor = _wire.minor(self.version)
        admin = call.user in self.admins
        try:
            done = self.cluster.cancel(job_id, signal, call.user, admin)
        except Reject as reject:
            if minor <= 39:
                raise
            if minor <= 41:  # v0.0.40/41 report nothing, not even a refusal
                return 200, self._env(call)
            known = None if reject.errno == 2017 else int(job_id.split("_")[0])
            return 200, self._env(call, {"status": [_kill_status(job_id, reject, known)]})
        if minor <= 41:
            return 200, self._env(call)
        already = Reject(2021, "Job/step already completing or completed", "")
        status = [_kill_status(job_id, already, j.job_id) for j in done]
        return 200, self._env(call, {"status": status})

    def requeue(self, call: Call) -> tuple[int, dict[str, Any]]:
        try:
            jobs = self.cluster.requeue(call.groups["job_id"])
        except Reject as reject:
            body = _wire.error_body(self.version, call.user, self.cluster.name, reject, status=[])
            return _wire.error_status(self.version, reject), body
        status = [
            {
                "job_id": j.job_id,
                "step_id": "batch",
                "error": "No error",
                "error_code": 0,
                "why": "",
            }
            for j in jobs
        ]
        return 200, self._env(call, {"status": status})


def _kill_status(job_id: str, reject: Reject, known: int | None) -> dict[str, Any]:
    return {
        "error": {"string": reject.error, "code": reject.errno, "message": reject.error},
        "step_id": job_id,
        "job_id": enc.wrap(known),
        "federation": {"sibling": ""},
    }


def _state_name(job: FakeJob) -> str:
    """The job's name in ``jobs/state``: a started array task goes by its own id."""
    if job.array_job_id is None or job.array_task_id is None or job.state == "PENDING":
        return job.id_string
    return f"{job.job_id}_{job.array_task_id}"
