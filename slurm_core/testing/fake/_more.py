"""Operations of the documents beyond the basic flow, read-mostly (issue #22).

slurmctld: ``reconfigure``, ``reservation/{name}``, ``DELETE node/{name}``; slurmdbd:
``ping``, ``clusters`` and ``cluster/{name}``, ``wckeys``, ``instances`` and the single
``account``/``user``/``qos`` reads. Shapes follow the recorded 24.11/26.05 answers
(``/work/shared/slurmrestd-live``); a name nothing matches gives an empty list, as the
slurmdbd listings do.
"""

from __future__ import annotations

from typing import Any

from ..._versions import _encode as enc
from ...models import Reservation
from . import _records, _shapes, _wire
from ._acctdb import accounting_db, cluster_wire, entity_wire
from ._call import Call, Handler
from ._cluster import FakeCluster
from ._state import Reject

__all__ = ["MoreHandlers"]

Answer = tuple[int, dict[str, Any]]


class MoreHandlers:
    """The handlers of one version over a :class:`FakeCluster`."""

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
        self.fmt = enc.wire_format(version)
        self.user = user
        self.reservations = reservations
        self.admins = admins

    def routes(self, s: str, d: str, *, accounting: bool) -> list[tuple[str, str, Handler]]:
        """``(method, path, handler)`` of what this version's document has."""
        minor = _wire.minor(self.version)
        out: list[tuple[str, str, Handler]] = [
            ("GET", f"{s}/reservation/{{reservation_name}}", self.reservation),
        ]
        if minor >= 39:
            out.append(("DELETE", f"{s}/node/{{node_name}}", self.delete_node))
        if minor >= 40:
            out.append(("GET", f"{s}/reconfigure", self.reconfigure))
        if not accounting:
            return out
        out += [
            ("GET", f"{d}/clusters", self.clusters),
            ("GET", f"{d}/cluster/{{cluster_name}}", self.clusters),
            ("GET", f"{d}/account/{{account_name}}", self._one("accounts", "accounts")),
        ]
        if minor >= 40:
            out += [
                ("GET", f"{d}/instances", self.instances),
                ("GET", f"{d}/instance", self.instances),
                ("GET", f"{d}/user/{{name}}", self._one("users", "users")),
                ("GET", f"{d}/qos/{{qos}}", self._one("qos", "qos")),
            ]
        if minor >= 42:
            out.append(("GET", f"{d}/ping", self.db_ping))
        return out

    def _env(self, call: Call, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _wire.envelope(self.version, call.user, self.cluster.name, body, **kw)

    # ------------------------------------------------------------------ slurmctld --------
    def reconfigure(self, call: Call) -> Answer:
        """``scontrol reconfigure``: only an admin; nothing changes in the fake."""
        if call.user not in self.admins:
            raise Reject(2010, "Invalid user id", "reconfigure request failed", 500)
        return 200, self._env(call)

    def reservation(self, call: Call) -> Answer:
        name = call.groups["reservation_name"]
        found = [r for r in self.reservations if r.name == name]
        if not found:  # 24.11 and 26.05: 200, no "reservations", an error numbered 0
            error = Reject(0, "No error", "Unable to query reservations")
            return 200, self._env(call, errors=[_wire.error_entry(error)])
        wires = [self.reservation_wire(r) for r in found]
        return 200, self._env(call, {"reservations": wires}, last_update=self.cluster.applied)

    def reservation_wire(self, r: Reservation) -> dict[str, Any]:
        """A reservation record with every key a real one of this version has."""
        wire = enc.encode_reservation(r, self.fmt)
        extras = _records.reservation_extras(self.cluster, r)
        return _shapes.thicken(self.version, "reservation", wire, extras)

    def delete_node(self, call: Call) -> Answer:
        """``scontrol delete node``: an admin, a node no job runs on, in no partition's way."""
        name = call.groups["node_name"]
        c = self.cluster
        if call.user not in self.admins:
            raise Reject(2010, "Invalid user id", f"Failure to delete node {name}")
        if name not in c.nodes:  # recorded: 24.11 says "update", 500; 26.05 "delete", 422
            if _wire.minor(self.version) >= 43:
                raise Reject(
                    2018, "Invalid node name specified", f"Failure to delete node {name}", 422
                )
            raise Reject(2018, "Invalid node name specified", f"Failure to update node {name}")
        c.sync()
        if c.usage(name)[0]:
            raise Reject(2172, "Node is in use", f"Failure to delete node {name}")
        del c.nodes[name]
        for part in c.partitions.values():
            if name in part.nodes:
                part.nodes.remove(name)
        return 200, self._env(call)

    # -------------------------------------------------------------------- slurmdbd --------
    def db_ping(self, call: Call) -> Answer:
        ping: dict[str, Any] = {
            "hostname": "fake-slurmdbd",
            "responding": True,
            "latency": 100,
            "primary": True,
        }
        if _wire.minor(self.version) >= 45:  # required from v0.0.45
            ping["status"] = "UP"
        return 200, self._env(call, {"pings": [ping]})

    def clusters(self, call: Call) -> Answer:
        c = self.cluster
        wanted = call.groups.get("cluster_name")
        if wanted is not None and wanted != c.name:
            return 200, self._env(call, {"clusters": []})
        return 200, self._env(call, {"clusters": [cluster_wire(c, c.name, self.version)]})

    def instances(self, call: Call) -> Answer:
        """The fake runs no cloud instances: recorded, no ``instances`` and a warning."""
        warning = {"description": "slurmdb_instances_get() found nothing", "source": "fake"}
        return 200, self._env(call, warnings=[warning])

    def _one(self, kind: str, key: str) -> Handler:
        def handler(call: Call) -> Answer:
            name = next(iter(call.groups.values()))
            models = accounting_db(self.cluster, self.user).models(kind)
            found = [
                entity_wire(kind, m, self.version)
                for m in models
                if getattr(m, "name", None) == name
            ]
            if not found:  # recorded: an empty list and a warning
                warning = {"description": f"slurmdb_{kind}_get() found nothing", "source": "fake"}
                return 200, self._env(call, {key: []}, warnings=[warning])
            return 200, self._env(call, {key: found})

        return handler
