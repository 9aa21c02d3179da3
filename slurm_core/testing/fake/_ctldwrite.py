"""The slurmctld writes and reads beyond the basic flow (issue #22).

Bulk ``DELETE jobs``, ``POST nodes``, ``shares``, reservation and partition create/delete,
``resources/{job_id}``, ``new/node``, ``conf`` and ``jobs/requeue``. Semantics recorded on
24.11 and 26.05 (``tests/data/responses/<v>/fidelity/w_*.json``): changes need an
administrator (2010 "Invalid user id" otherwise); a bulk cancel lists only the jobs it could
not signal; a cancel with neither ids nor filters is refused with 2173.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from ..._versions import _encode as enc
from ...models import Reservation
from . import _wire
from ._acctdb import accounting_db
from ._call import Call, Handler
from ._cluster import FakeCluster
from ._state import FakeNode, FakePartition, Reject

__all__ = ["CtldWriteHandlers"]

Answer = tuple[int, dict[str, Any]]
_UID = "Invalid user id"
_KILL_FILTERS = ("account", "job_name", "partition", "qos", "reservation", "user_name", "wckey")


class CtldWriteHandlers:
    """The ``/slurm/<v>`` handlers of this module for one version."""

    def __init__(
        self,
        cluster: FakeCluster,
        version: str,
        *,
        user: str,
        reservations: list[Reservation],
        admins: tuple[str, ...],
    ) -> None:
        self.cluster = cluster
        self.version = version
        self.minor = _wire.minor(version)
        self.fmt = enc.wire_format(version)
        self.user = user
        self.reservations = reservations
        self.admins = admins

    def routes(self, s: str) -> list[tuple[str, str, Handler]]:
        out: list[tuple[str, str, Handler]] = []
        if self.minor >= 40:
            out += [("DELETE", f"{s}/jobs", self.kill_jobs), ("GET", f"{s}/shares", self.shares)]
        if self.minor >= 40:  # in the v0.0.40 and v0.0.41 documents too
            out.append(("POST", f"{s}/nodes", self.update_nodes))
        if self.minor >= 43:
            out += [
                ("POST", f"{s}/reservation", self.add_reservation),
                ("POST", f"{s}/reservations", self.add_reservations),
                ("DELETE", f"{s}/reservation/{{reservation_name}}", self.delete_reservation),
            ]
        if self.minor >= 44:
            out += [
                ("GET", f"{s}/resources/{{job_id}}", self.resources),
                ("POST", f"{s}/new/node", self.new_node),
            ]
        if self.minor >= 45:
            out += [
                ("GET", f"{s}/conf", self.conf),
                ("POST", f"{s}/jobs/requeue", self.requeue_jobs),
                ("POST", f"{s}/partitions", self.add_partitions),
                ("DELETE", f"{s}/partition/{{partition_name}}", self.delete_partition),
            ]
        return out

    def _env(self, call: Call, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _wire.envelope(self.version, call.user, self.cluster.name, body, **kw)

    def _status(self) -> int:
        return 422 if self.minor >= 43 else 500

    def _admin(self, call: Call, description: str) -> None:
        if call.user not in self.admins:
            raise Reject(2010, _UID, description, self._status())

    def _body(self, call: Call) -> dict[str, Any]:
        if call.body is None:
            return {}
        if not isinstance(call.body, dict):
            raise Reject(9001, "Unable to parse request", "expected an object", 400)
        return call.body

    # ---------------------------------------------------------------------- jobs ---------
    def kill_jobs(self, call: Call) -> Answer:
        """``scancel`` with ids and/or filters; answers only the jobs that failed."""
        try:
            return self._kill_jobs(call)
        except Reject as reject:  # every answer carries "status" (recorded)
            error = _wire.error_body(self.version, call.user, self.cluster.name, reject)
            return _wire.error_status(self.version, reject), {"status": [], **error}

    def _kill_jobs(self, call: Call) -> Answer:
        body = self._body(call)
        ids = [str(i) for i in _list(body.get("jobs"))]
        filters = {k: str(body[k]) for k in _KILL_FILTERS if isinstance(body.get(k), str)}
        states = {str(s).upper() for s in _list(body.get("job_state"))}
        if not ids and not filters and not states:
            reject = Reject(
                2173,
                "Invalid signal jobs request, at least one job id or filter is required.",
                "Signal request failed",
                self._status(),
            )
            error = _wire.error_body(self.version, call.user, self.cluster.name, reject)
            return reject.status, {"status": [], **error}
        signal = body.get("signal") if isinstance(body.get("signal"), str) else None
        admin = call.user in self.admins
        status: list[dict[str, Any]] = []
        targets = ids or [str(j.job_id) for j in self.cluster.visible() if _matches(j, filters)]
        for ref in targets:
            try:
                jobs = self.cluster.find(ref, what="kill")
                if states and not any(j.state in states for j in jobs):
                    continue
                self.cluster.cancel(ref, signal, call.user, admin)
            except Reject as reject:
                status.append(self._kill_failure(ref, reject))
        return 200, self._env(call, {"status": status})

    def _kill_failure(self, ref: str, reject: Reject) -> dict[str, Any]:
        number = int(ref) if ref.isdigit() else 0
        return {
            "error": {"string": reject.error, "code": reject.errno, "message": reject.error},
            "step_id": ref,
            "job_id": self.fmt.num(number) if number else enc.wrap(None),
            "federation": {"sibling": ""},
        }

    def requeue_jobs(self, call: Call) -> Answer:
        """``scontrol requeue``; recorded: an unknown job fails the request (404, 2017)."""
        try:
            for ref in (str(i) for i in _list(self._body(call).get("jobs"))):
                try:
                    jobs = self.cluster.find(ref, what="requeue")
                except Reject as reject:
                    why = f"Requeue JobId={ref} failed"
                    raise Reject(reject.errno, reject.error, why, reject.status) from None
                if call.user not in self.admins and any(j.user_name != call.user for j in jobs):
                    raise Reject(2002, "Access/permission denied", f"Requeue JobId={ref} failed")
                self.cluster.requeue(ref)
        except Reject as reject:
            error = _wire.error_body(self.version, call.user, self.cluster.name, reject)
            return _wire.error_status(self.version, reject), {"status": [], **error}
        return 200, self._env(call, {"status": []})

    def resources(self, call: Call) -> Answer:
        ref = call.groups["job_id"]
        self.cluster.sync()
        try:
            jobs = self.cluster.find(ref)
        except Reject as reject:
            return self._no_layout(call, reject, ref, 404)
        job = jobs[0]
        if job.state != "RUNNING" or not job.alloc:
            not_running = Reject(2085, "Job is not running", "")
            return self._no_layout(call, not_running, ref, 422)
        nodes = [
            self._layout(job.alloc_memory.get(name, 0), name, cpus)
            for name, cpus in job.alloc.items()
        ]
        return 200, self._env(call, {"nodes": nodes})

    def _layout(self, memory: int, name: str, cpus: int) -> dict[str, Any]:
        node = self.cluster.nodes.get(name)
        return {
            "node": name,
            "mem_alloc": memory,
            "core_bitmap": f"0-{max(cpus - 1, 0)}",
            "sockets_per_node": 1,
            "cores_per_socket": node.cpus if node is not None else cpus,
        }

    def _no_layout(self, call: Call, reject: Reject, ref: str, status: int) -> Answer:
        why = Reject(reject.errno, reject.error, f"Unable to query JobId={ref}", status)
        return status, _wire.error_body(self.version, call.user, self.cluster.name, why, nodes=[])

    # --------------------------------------------------------------------- nodes ---------
    def update_nodes(self, call: Call) -> Answer:
        body = self._body(call)
        names = [str(n) for n in _list(body.get("name"))]
        label = names[0] if len(names) == 1 else ",".join(names) or "(null)"
        self._admin(call, f"Failure to update node {label}")
        fields = {k: v for k, v in body.items() if k != "name"}
        for name in names or ["(null)"]:
            if name not in self.cluster.nodes:
                raise Reject(
                    2018, "Invalid node name specified", f"Failure to update node {name}",
                    self._status(),
                )  # fmt: skip
        for name in names:
            self.cluster.update_node(name, _wire.decode_node_update(self.version, name, fields))
        return 200, self._env(call)

    def new_node(self, call: Call) -> Answer:
        """``scontrol create node``: ``NodeName=`` plus CPUs, RealMemory and Features."""
        self._admin(call, "Failure to create node")
        conf = self._body(call).get("node_conf")
        words = dict(w.split("=", 1) for w in str(conf or "").split() if "=" in w)
        name = words.get("NodeName", "")
        cpus = words.get("CPUs", "1")
        memory = words.get("RealMemory", "1")
        valid = re.fullmatch(r"[A-Za-z0-9_.-]+", name) and name not in self.cluster.nodes
        if not valid or not cpus.isdigit() or not memory.isdigit():  # recorded: 500, -1
            raise Reject(-1, "Unspecified error", "Failure to create node", 500)
        features = tuple(f for f in words.get("Features", "").split(",") if f)
        self.cluster.nodes[name] = FakeNode(
            name=name, cpus=int(cpus), memory=int(memory), features=features
        )
        return 200, self._env(call)

    def shares(self, call: Call) -> Answer:
        """``sshare``: one row per association, no usage in the fake."""
        db = accounting_db(self.cluster, self.user)
        rows = []
        for index, assoc in enumerate(db.associations, start=1):
            zero = self.fmt.num(0)
            rows.append(
                {
                    "id": assoc.id or index,
                    "cluster": assoc.cluster or self.cluster.name,
                    "name": assoc.user or assoc.account or "",
                    "parent": assoc.parent_account or "",
                    "partition": assoc.partition or "",
                    "shares_normalized": self.fmt.num(1.0),
                    "shares": self.fmt.num(1),
                    "tres": {"run_seconds": [], "group_minutes": [], "usage": []},
                    "effective_usage": 0.0 if self.minor <= 41 else zero,
                    "usage_normalized": zero,
                    "usage": 0,
                    "fairshare": {
                        "factor": 1.0 if self.minor <= 41 else self.fmt.num(1.0),
                        "level": 1.0 if self.minor <= 41 else self.fmt.num(1.0),
                    },
                    "type": ["USER" if assoc.user else "ASSOCIATION"],
                }
            )
        return 200, self._env(call, {"shares": {"shares": rows, "total_shares": 0}})

    def conf(self, call: Call) -> Answer:
        c = self.cluster
        conf = {
            "ClusterName": c.name,
            "SlurmctldHost": ["fake-slurmctld"],
            "SelectType": "select/cons_tres",
            "AuthType": "auth/munge",
            "AuthAltTypes": ["auth/jwt"],
            "MinJobAge": c.min_job_age,
        }
        meta = {"LastUpdate": c.applied, "NEXT_JOB_ID": self.fmt.num(c.next_job_id),
                "SLURM_CONF": "/etc/slurm/slurm.conf"}  # fmt: skip
        return 200, self._env(call, {"slurm_conf": conf, "slurm_conf_meta": meta})

    # -------------------------------------------------------------- reservations ---------
    def add_reservation(self, call: Call) -> Answer:
        self._admin(call, "Error creating reservation")
        made = self._reservation(self._body(call))
        return 200, self._env(call, {"reservations": [self._echo(made)]})

    def add_reservations(self, call: Call) -> Answer:
        self._admin(call, "Error creating reservation")
        made = [self._reservation(d) for d in _list(self._body(call).get("reservations"))]
        return 200, self._env(call, {"reservations": [self._echo(r) for r in made]})

    def _echo(self, r: Reservation) -> dict[str, Any]:
        """What was created, as the request's ``reservation_desc_msg`` (recorded 26.05)."""
        start = int(r.start_time.timestamp()) if r.start_time else 0
        end = int(r.end_time.timestamp()) if r.end_time else 0
        num, unset = self.fmt.num, {"set": False, "infinite": False, "number": 0}
        return {
            "accounts": list(r.accounts), "burst_buffer": "", "comment": "",
            "core_count": unset, "duration": num((end - start) // 60), "end_time": num(end),
            "features": "", "flags": sorted(r.flags), "groups": list(r.groups),
            "licenses": [], "max_start_delay": unset, "name": r.name, "node_count": unset,
            "node_list": r.node_list.split(",") if r.node_list else [], "partition": "",
            "purge_completed": {"time": unset}, "start_time": num(start), "tres": [],
            "users": list(r.users),
        }  # fmt: skip

    def _reservation(self, desc: object) -> Reservation:
        if not isinstance(desc, dict):
            raise Reject(9001, "Unable to parse request", "expected a reservation", 400)
        name = desc.get("name") if isinstance(desc.get("name"), str) else None
        name = name or f"resv{len(self.reservations) + 1}"
        start = _number(desc.get("start_time")) or self.cluster.clock.now()
        duration = _number(desc.get("duration"))
        end = _number(desc.get("end_time")) or (start + 60 * (duration or 0))
        nodes = [str(n) for n in _list(desc.get("node_list"))]
        # recorded on 26.05 (tests/data/responses/<v>/fidelity/r_resv_*.json)
        if any(n not in self.cluster.nodes for n in nodes):
            unknown = f"Error creating reservation  {name}"  # sic, two spaces
            raise Reject(2018, "Invalid node name specified", unknown, 422)
        if end <= start:
            backwards = "Start time cannot be after end time.  No reservation created."
            raise Reject(2053, "Requested reservation is invalid", backwards, 422)
        # an existing name is not refused: the POST updates that reservation (recorded)
        self.reservations[:] = [r for r in self.reservations if r.name != name]
        made = Reservation(
            name=name,
            start_time=datetime.fromtimestamp(start, timezone.utc),
            end_time=datetime.fromtimestamp(end, timezone.utc) if end else None,
            node_list=",".join(nodes) or None,
            users=tuple(str(u) for u in _list(desc.get("users"))),
            accounts=tuple(str(a) for a in _list(desc.get("accounts"))),
            flags=frozenset(str(f) for f in _list(desc.get("flags"))),
        )
        self.reservations.append(made)
        return made

    def delete_reservation(self, call: Call) -> Answer:
        name = call.groups["reservation_name"]
        self._admin(call, f"Error deleting reservation {name}")
        found = [r for r in self.reservations if r.name == name]
        if not found:
            error = f"Error deleting reservation {name}"
            raise Reject(2053, "Requested reservation is invalid", error, 422)
        self.reservations.remove(found[0])
        return 200, self._env(call)

    # ---------------------------------------------------------------- partitions ---------
    def add_partitions(self, call: Call) -> Answer:
        self._admin(call, "Unable to create partition")
        for desc in _list(self._body(call).get("partitions")):
            if not isinstance(desc, dict) or not isinstance(desc.get("name"), str):
                raise Reject(2000, "Invalid partition name specified", "", 422)
            nodes = desc["nodes"] if isinstance(desc.get("nodes"), dict) else {}
            names = str(nodes.get("configured") or "").split(",")
            names = [n for n in names if n]
            if any(n not in self.cluster.nodes for n in names):
                raise Reject(2018, "Invalid node name specified", "Unable to create partition", 422)
            self.cluster.partitions[desc["name"]] = FakePartition(desc["name"], nodes=names)
        return 200, self._env(call)

    def delete_partition(self, call: Call) -> Answer:
        self._admin(call, "Unable to delete partition")
        name = call.groups["partition_name"]
        if name not in self.cluster.partitions:
            raise Reject(
                2000, "Invalid partition name specified", "Unable to delete partition", 422
            )
        if any(j.partition == name and not j.finished for j in self.cluster.jobs.values()):
            raise Reject(2075, "Partition is in use", "Unable to delete partition", 422)
        del self.cluster.partitions[name]
        return 200, self._env(call)


def _list(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return [] if value is None else [value]


def _number(value: object) -> int | None:
    if isinstance(value, dict):
        value = value.get("number") if value.get("set", True) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _matches(job: Any, filters: dict[str, str]) -> bool:
    names = {"job_name": "name", "user_name": "user_name"}
    return all(str(getattr(job, names.get(k, k), "") or "") == v for k, v in filters.items())
