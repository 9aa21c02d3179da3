"""Routing and handlers: one HTTP request in, one slurmrestd-shaped reply out.

Handlers call the versionless :class:`~._cluster.FakeCluster`, build public models
(:mod:`._models`) and encode them for the version in the path with the encoders the
round-trip tests prove against the client's parsers (:mod:`slurm_core._versions._encode`).
Where slurmrestd's behaviour was observed on a real 24.11 (unknown node: 200 without
``nodes``; unknown partition: 422 with error 9000; deleting an unknown job: 200 with a
``status`` entry from v0.0.42), the fake does the same.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from ..._versions import _encode as enc
from ...models import License, Reservation
from . import _models, _openapi, _records, _shapes, _wire
from ._acctdb import accounting_db
from ._call import Call, Handler
from ._cluster import FakeCluster
from ._ctld import CtldHandlers
from ._ctldwrite import CtldWriteHandlers
from ._db import SlurmdbHandlers
from ._dbwrite import DbWriteHandlers
from ._more import MoreHandlers
from ._state import FakeJob, FakeNode, PlainAnswer, Reject

__all__ = ["FakeApp", "Reply", "TokenCheck"]

TokenCheck = Callable[[str], bool]
_NOT_FOUND = b"Unable find requested URL. Please view /openapi/v3 for API reference."
_NOT_FOUND_26 = (
    b"Unable to find requested URL endpoint. Please query the '/openapi/v3' endpoint or visit "
    b"'https://slurm.schedmd.com/rest_api.html' for the OpenAPI specification which includes "
    b"a list of all possible slurmrestd endpoints."
)
HEALTH_PATHS = ("/readyz", "/livez", "/healthz")
"""Served by slurmrestd 26.05 (204 to any token, 401 without one; not in ``/openapi/v3``)."""
HEALTH_MINOR = 45
"""The REST API minor only a 26.05 serves: older servers (22.05, 24.11) answer 404 there."""
_NO_METHOD = (
    b"Requested REST method is not defined at URL. Please view /openapi/v3 for API reference."
)


@dataclasses.dataclass
class Reply:
    """A response: status, body bytes and content type."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class FakeApp:
    """slurmrestd for one REST API version, over a :class:`FakeCluster`."""

    def __init__(
        self,
        cluster: FakeCluster,
        version: str,
        *,
        user: str,
        uid: int,
        token: str | TokenCheck | None,
        require_token: bool,
        accounting: bool,
        licenses: list[License],
        reservations: list[Reservation],
        admins: tuple[str, ...] = ("root", "slurm"),
    ) -> None:
        self.cluster = cluster
        self.version = version
        self.fmt = enc.wire_format(version)
        self.user = user
        self.uid = uid
        self.token = token
        self.require_token = require_token or token is not None
        self.accounting = accounting
        self.licenses = licenses
        self.reservations = reservations
        self.admins = admins
        self.ctld = CtldHandlers(
            cluster, version, uid=uid, admins=admins, licenses=licenses, reservations=reservations
        )
        """More slurmctld handlers (``jobs/state``, ``job/allocate``...)."""
        self.db = SlurmdbHandlers(cluster, version, user=user, admins=admins)
        self.dbwrite = DbWriteHandlers(cluster, version, user=user, admins=admins)
        self.ctldwrite = CtldWriteHandlers(
            cluster, version, user=user, reservations=reservations, admins=admins
        )
        self.more = MoreHandlers(
            cluster, version, user=user, reservations=reservations, admins=admins
        )
        """The ``/slurmdb`` handlers (routed only with ``accounting``)."""
        self.routes = self._routes()
        self.siblings: list[FakeApp] = [self]
        """The apps of every version the server serves (all listed by ``/openapi/v3``)."""

    # ---------------------------------------------------------------- plumbing -----------
    def _routes(self) -> list[tuple[str, str, re.Pattern[str], Handler]]:
        s, d = f"/slurm/{self.version}", f"/slurmdb/{self.version}"
        minor = _wire.minor(self.version)
        table: list[tuple[str, str, Handler]] = [
            ("GET", f"{s}/ping", self.ping),
            ("GET", f"{s}/diag", self.diag),
            ("GET", f"{s}/jobs", self.jobs),
            ("POST", f"{s}/job/submit", self.submit),
            ("GET", f"{s}/job/{{job_id}}", self.job),
            ("POST", f"{s}/job/{{job_id}}", self.ctld.update),
            ("DELETE", f"{s}/job/{{job_id}}", self.ctld.cancel),
            ("GET", f"{s}/nodes", self.nodes),
            ("GET", f"{s}/node/{{node_name}}", self.node),
            ("GET", f"{s}/partitions", self.partitions),
            ("GET", f"{s}/partition/{{partition_name}}", self.partition),
            ("GET", f"{s}/reservations", self.reservations_list),
            ("GET", f"{s}/licenses", self.licenses_list),
        ]
        if minor >= 39:
            table.append(("POST", f"{s}/node/{{node_name}}", self.update_node))
        if minor >= 41:  # before job/{job_id}, which would take "allocate" for an id
            table.insert(4, ("POST", f"{s}/job/allocate", self.ctld.allocate))
        if minor >= 40:
            table.append(("GET", f"{s}/jobs/state", self.ctld.jobs_state))
        if minor >= 45:
            table.insert(4, ("GET", f"{s}/job/{{job_id}}/requeue", self.ctld.requeue))
        if self.accounting:
            db = self.db
            table += [
                ("GET", f"{d}/jobs", db.db_jobs),
                ("GET", f"{d}/job/{{job_id}}", db.db_job),
                ("GET", f"{d}/accounts", db.static("accounts", "accounts")),
                ("GET", f"{d}/users", db.static("users", "users")),
                ("GET", f"{d}/associations", db.static("associations", "associations")),
                ("GET", f"{d}/qos", db.static("qos", "qos")),
                ("GET", f"{d}/tres", db.static("tres", "TRES" if minor >= 40 else "tres")),
            ]
            if minor >= 44:
                table += [("POST", f"{d}/job/{{job_id}}", db.modify_job),
                          ("POST", f"{d}/jobs", db.modify_jobs)]  # fmt: skip
        table += self.more.routes(s, d, accounting=self.accounting)
        table += self.ctldwrite.routes(s)
        if self.accounting and minor >= 40:  # what this version's document has
            table += [
                r for r in self.dbwrite.routes(d) if _openapi.documented(self.version, *r[:2])
            ]
        return [
            (m, path, re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)), h)
            for m, path, h in table
        ]

    def paths(self) -> list[tuple[str, str]]:
        """``(method, OpenAPI path template)`` of every endpoint served."""
        return [(method, template) for method, template, _, _ in self.routes]

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Reply:
        """Answer one request (``headers`` with lower-case names)."""
        path = path.rstrip("/") or "/"
        token = headers.get("x-slurm-user-token") or _bearer(headers.get("authorization"))
        if self.require_token and not token:
            return Reply(401, b"Authentication failure", "text/plain")
        token_ok = self._check(token)
        user = headers.get("x-slurm-user-name") or _token_user(token) or self.user
        if method == "GET" and path in self._openapi_paths():
            served = tuple(app.version for app in self.siblings)
            return Reply(200, _openapi.document_bytes(served))
        if method == "GET" and path in HEALTH_PATHS and self._serves_health():
            return Reply(204, b"", "")
        if method == "HEAD" and _wire.minor(self.version) <= 42:
            return Reply(411, b"", "text/plain")  # 22.05 and 24.11 want a body length
        path_known = False
        for route_method, template, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            path_known = True
            if route_method != method:
                continue
            _records.count_rpc(self.cluster, method, template, user if token_ok else None)
            if not token_ok and handler != self.ping:
                return self._auth_failure(user, diag=handler == self.diag)
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                reject = Reject(9001, "Unable to parse request body", "Failed to parse JSON", 400)
                return self._reject(reject, user)
            call = Call(match.groupdict(), query, body, user, token_ok)
            if path.startswith("/slurmdb/") and self.accounting:  # diag's RPC counts
                accounting_db(self.cluster, self.user).count(method, path, user)
            try:
                status, out = handler(call)
            except Reject as reject:
                return self._reject(reject, user)
            except PlainAnswer as plain:  # 304: no body and no content type (recorded)
                kind = "" if plain.status == 304 else "text/plain"
                return Reply(plain.status, plain.text.encode(), kind)
            except Exception as exc:  # a bug here must still answer, not hang up
                bug = Reject(-1, "Unspecified error", f"fake slurmrestd: {type(exc).__name__}")
                return self._reject(bug, user)
            return self._json(status, out)
        return self._not_found(path_known)

    def _not_found(self, path_known: bool) -> Reply:
        """22.05 tells a missing method (405) from a missing path; 24.11+ answer 404."""
        minor = _wire.minor(self.version)
        if path_known and minor <= 38:
            return Reply(405, _NO_METHOD, "text/plain")
        return Reply(404, _NOT_FOUND if minor <= 42 else _NOT_FOUND_26, "text/plain")

    def _check(self, token: str | None) -> bool:
        if self.token is None:
            return True
        if not token:
            return False
        return self.token(token) if callable(self.token) else token == self.token

    def _auth_failure(self, user: str, *, diag: bool = False) -> Reply:
        if _wire.minor(self.version) >= 40:  # 24.11+: 511 and an authentication error
            reject = Reject(1007, "Protocol authentication error", "authentication failed", 511)
        else:  # 22.05: 500 and "Unspecified error"
            reject = Reject(-1, "Unspecified error", "request failed")
        status = _wire.error_status(self.version, reject)
        extra: dict[str, Any] = {}
        if diag and _wire.minor(self.version) <= 38:  # 22.05 still sends empty statistics
            extra["statistics"] = {"rpcs_by_message_type": [], "rpcs_by_user": []}
        body = _wire.error_body(self.version, user, self.cluster.name, reject, **extra)
        return self._json(status, body)

    def _reject(self, reject: Reject, user: str, **extra: Any) -> Reply:
        body = _wire.error_body(self.version, user, self.cluster.name, reject, **extra)
        return self._json(_wire.error_status(self.version, reject), body)

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> Reply:
        return Reply(status, json.dumps(body).encode() if status != 304 else b"")

    def _env(self, call: Call, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _wire.envelope(self.version, call.user, self.cluster.name, body, **kw)

    def _serves_health(self) -> bool:
        """A 26.05 answers the health paths whichever versions it serves (and the fake
        knows its release by the newest)."""
        return max(_wire.minor(app.version) for app in self.siblings) >= HEALTH_MINOR

    def _openapi_paths(self) -> tuple[str, ...]:
        if _wire.minor(self.version) <= 38:  # 22.05 also has the older names
            return ("/openapi/v3", "/openapi", "/openapi.json")
        return ("/openapi/v3",)

    # ---------------------------------------------------------------- slurmctld ----------
    def ping(self, call: Call) -> tuple[int, dict[str, Any]]:
        pings = [enc.encode_ping(p, self.fmt) for p in _models.ping_models(call.token_ok)]
        return 200, self._env(call, {"pings": pings})

    def diag(self, call: Call) -> tuple[int, dict[str, Any]]:
        now = self.cluster.sync()
        stats = enc.encode_diag(_models.diag_model(self.cluster, now), self.fmt)
        extras = _records.diag_extras(self.cluster, now, {"root": 0, self.user: self.uid})
        stats = _shapes.thicken(self.version, "diag", stats, extras)
        body = self._env(call, {"statistics": stats})
        if _wire.minor(self.version) == 39:  # recorded: 23.11's diag has no "warnings"
            del body["warnings"]
        return 200, body

    def _job_wire(self, job: FakeJob) -> dict[str, Any]:
        return _records.job_wire(self.cluster, job, self.version)

    def jobs(self, call: Call) -> tuple[int, dict[str, Any]]:
        c = self.cluster
        now = c.sync()
        try:
            since = _wire.update_time(self.version, call.query.get("update_time", [""])[0], now)
        except Reject:
            if _wire.minor(self.version) <= 38:  # 22.05: 400, no error entry, no jobs
                return 400, self._env(call, {"jobs": []})
            raise
        previous, c.last_listing = c.last_listing, now
        if since is not None and previous is not None:
            # Clients compute update_time from their own clocks, which do not follow a
            # manual fake clock: never hide a change made since the previous listing.
            since = min(since, previous)
        if since is not None and c.last_job_update < since:
            if _wire.minor(self.version) <= 38:
                return 304, {}
            warning = {"description": f"No job changes since update_time[{since}]"}
            return 200, self._env(call, {"jobs": []}, warnings=[warning], last_update=0)
        body = {"jobs": [self._job_wire(j) for j in c.visible()]}
        return 200, self._env(call, body, last_update=c.last_job_update)

    def job(self, call: Call) -> tuple[int, dict[str, Any]]:
        self.cluster.sync()
        try:
            found = self.cluster.find(call.groups["job_id"])
        except Reject as reject:
            body = _wire.error_body(
                self.version, call.user, self.cluster.name, reject, last_update=0, jobs=[]
            )
            return _wire.error_status(self.version, reject), body
        body = {"jobs": [self._job_wire(j) for j in found]}
        return 200, self._env(call, body, last_update=self.cluster.last_job_update)

    def submit(self, call: Call) -> tuple[int, dict[str, Any]]:
        job = self.ctld.submit_job(call)
        job_id = job.array_job_id or job.job_id
        minor = _wire.minor(self.version)
        out: dict[str, Any] = {
            "job_id": job_id,
            "step_id": "BATCH" if minor <= 38 else "batch",
            "job_submit_user_msg": "",
        }
        if minor in (40, 41):
            out["result"] = {**out, "error_code": 0, "error": "No error"}
        held = "Job is in held state, pending scheduler release"
        if job.hold and minor <= 38:  # 22.05 reports it as an error (of a 200)
            return 200, self._env(call, out, errors=[{"error_code": 2042, "error": held}])
        warnings = []
        if job.hold:
            warnings.append({"description": held, "source": "slurm_submit_batch_job()"})
        return 200, self._env(call, out, warnings=warnings)

    # ------------------------------------------------------------------ cluster ----------
    def nodes(self, call: Call) -> tuple[int, dict[str, Any]]:
        c = self.cluster
        c.sync()
        nodes = [self._node_wire(n) for n in c.nodes.values()]
        return 200, self._env(call, {"nodes": nodes}, last_update=c.applied)

    def node(self, call: Call) -> tuple[int, dict[str, Any]]:
        c = self.cluster
        c.sync()
        node = c.nodes.get(call.groups["node_name"])
        if node is None:  # what 24.11 does: 200, no "nodes", an error entry numbered 0
            error = Reject(0, "No error", f"Failure to query node {call.groups['node_name']}")
            return 200, self._env(call, errors=[_wire.error_entry(error)])
        return 200, self._env(call, {"nodes": [self._node_wire(node)]}, last_update=c.applied)

    def _node_wire(self, node: FakeNode) -> dict[str, Any]:
        wire = enc.encode_node(_models.node_model(self.cluster, node), self.fmt)
        release, minor = _wire.release(self.version), _wire.minor(self.version)
        extras = _records.node_extras(self.cluster, node, release, minor)
        return _shapes.thicken(self.version, "node", wire, extras)

    def update_node(self, call: Call) -> tuple[int, dict[str, Any]]:
        if call.user not in self.admins:
            name = call.groups["node_name"]
            status = 422 if _wire.minor(self.version) >= 43 else 500  # 26.05: 422
            raise Reject(2010, "Invalid user id", f"Failure to update node {name}", status)
        name = call.groups["node_name"]
        self.cluster.update_node(name, _wire.decode_node_update(self.version, name, call.body))
        return 200, self._env(call)

    def _partition_wire(self, name: str) -> dict[str, Any]:
        part = self.cluster.partitions[name]
        model = _models.partition_model(
            self.cluster, part, report_state=_wire.minor(self.version) != 39
        )
        extras = _records.partition_extras(part, _wire.minor(self.version))
        return _shapes.thicken(
            self.version, "partition", enc.encode_partition(model, self.fmt), extras
        )

    def partitions(self, call: Call) -> tuple[int, dict[str, Any]]:
        wires = [self._partition_wire(p) for p in self.cluster.partitions]
        return 200, self._env(call, {"partitions": wires}, last_update=self.cluster.applied)

    def partition(self, call: Call) -> tuple[int, dict[str, Any]]:
        name = call.groups["partition_name"]
        if name not in self.cluster.partitions:
            if _wire.minor(self.version) >= 43:  # 26.05: 200 with nothing at all
                return 200, self._env(call)
            query = "Query empty or not RFC7320 compliant"
            raise Reject(9000, query, f"Unable to find partition {name}", 422)
        body = {"partitions": [self._partition_wire(name)]}
        return 200, self._env(call, body, last_update=self.cluster.applied)

    def reservations_list(self, call: Call) -> tuple[int, dict[str, Any]]:
        wires = [self.more.reservation_wire(r) for r in self.reservations]
        return 200, self._env(call, {"reservations": wires}, last_update=self.cluster.applied)

    def licenses_list(self, call: Call) -> tuple[int, dict[str, Any]]:
        wires = [
            _shapes.thicken(self.version, "license", enc.encode_license(lic, self.fmt))
            for lic in self.licenses
        ]
        return 200, self._env(call, {"licenses": wires}, last_update=self.cluster.applied)


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip() or None
    return None


def _token_user(token: str | None) -> str | None:
    if not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    user = claims.get("sun") or claims.get("username")
    return str(user) if user else None
