"""The slurmdbd reads of the fake beyond the listings: wckeys, associations, diag, config.

Recorded on 24.11 and 26.05 (``tests/data/responses/<v>/slurmdb_*.json`` and
``fidelity/w_*.json``): only an administrator lists wckeys or statistics (2002 otherwise);
a read that matches nothing warns "found nothing"; ``diag`` counts the RPCs slurmrestd sent
and who sent them; ``config`` lists every entity, accounts and users with their
associations. :class:`~._dbwrite.DbWriteHandlers` adds the writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..._versions import _encode as enc
from ...models import Association
from . import _shapes, _wire
from ._acctdb import AccountingDB, WCKey, accounting_db, cluster_wire, entity_wire
from ._call import Call
from ._cluster import FakeCluster
from ._state import Reject

__all__ = ["DbReads", "names_of"]

Answer = tuple[int, dict[str, Any]]
_CONFIG_KINDS = ("tres", "accounts", "users", "qos", "associations")
_DENIED = "Access/permission denied"


class DbReads:
    """The ``/slurmdb/<v>`` reads of one version that look into the database."""

    def __init__(
        self, cluster: FakeCluster, version: str, *, user: str, admins: tuple[str, ...]
    ) -> None:
        self.cluster = cluster
        self.version = version
        self.minor = _wire.minor(version)
        self.fmt = enc.wire_format(version)
        self.user = user
        self.admins = admins

    @property
    def db(self) -> AccountingDB:
        return accounting_db(self.cluster, self.user)

    # ------------------------------------------------------------------ plumbing ---------
    def _env(self, call: Call, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _wire.envelope(self.version, call.user, self.cluster.name, body, **kw)

    def _admin(self, call: Call, what: str) -> None:
        if call.user not in self.admins:
            raise Reject(2002, _DENIED, f"{what} failed", 422 if self.minor >= 43 else 500)

    def _nothing(self, call: Call, what: str, key: str) -> Answer:
        warning = {"description": f"{what} found nothing", "source": "fake-slurmdbd"}
        return 200, self._env(call, {key: []}, warnings=[warning])

    def _clusters(self) -> set[str]:
        return {self.cluster.name, *self.db.clusters}

    def _matching(self, call: Call) -> list[Association]:
        q = call.query
        filters = {k: set(names_of(q.get(k))) for k in ("account", "cluster", "user", "partition")}
        return [
            a
            for a in self.db.associations
            if all(not want or (getattr(a, k) or "") in want for k, want in filters.items())
        ]

    def _wckey_wires(self, keys: Iterable[WCKey]) -> list[dict[str, Any]]:
        return [
            {"accounting": [], "cluster": k.cluster, "id": k.id, "name": k.name, "user": k.user}
            for k in keys
        ]

    def wckeys(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_wckeys_get()")
        keys = list(self.db.wckeys)
        wanted = call.groups.get("id")
        if wanted is not None:
            keys = [k for k in keys if str(k.id) == wanted]
        if not keys:  # recorded: an empty list and a warning
            warning = {
                "description": "slurmdb_wckeys_get() found nothing",
                "source": "_dump_wckeys",
            }
            return 200, self._env(call, {"wckeys": []}, warnings=[warning])
        return 200, self._env(call, {"wckeys": self._wckey_wires(keys)})

    def associations(self, call: Call) -> Answer:
        found = [entity_wire("associations", a, self.version) for a in self._matching(call)]
        if not found:
            return self._nothing(call, "slurmdb_associations_get()", "associations")
        return 200, self._env(call, {"associations": found})

    def diag(self, call: Call) -> Answer:
        try:
            self._admin(call, "stats query")
        except Reject as reject:  # recorded: the refusal still carries "statistics"
            body = _wire.error_body(self.version, call.user, self.cluster.name, reject)
            return reject.status, {"statistics": {}, **body}
        start, db = self.cluster.applied, self.db

        def timed(count: int) -> dict[str, int]:  # the fake answers each in ~100 µs
            return {"average": 100 if count else 0, "total": 100 * count}

        stats = {
            "time_start": start,
            "rollups": _rollups(start, self.minor),
            "RPCs": [{"rpc": r, "count": n, "time": timed(n)} for r, n in db.rpcs.items()],
            "users": [{"user": u, "count": n, "time": timed(n)} for u, n in db.rpc_users.items()],
        }
        return 200, self._env(call, {"statistics": _shapes.thicken(self.version, "db_diag", stats)})

    def config(self, call: Call) -> Answer:
        db, v = self.db, self.version
        body = {
            "clusters": [cluster_wire(self.cluster, n, v) for n in sorted(self._clusters())],
            **{kind: [entity_wire(kind, m, v) for m in db.models(kind)] for kind in _CONFIG_KINDS},
            "wckeys": self._wckey_wires(db.wckeys),
        }
        # accounts and users list their associations here (not the root account's: recorded)
        for row in body["accounts"]:
            mine = [a for a in db.associations if a.account == row["name"] != "root"]
            row["associations"] = [_assoc_ref(a) for a in mine]
        for row in body["users"]:
            row["associations"] = [_assoc_ref(a) for a in db.associations if a.user == row["name"]]
        if self.minor <= 44:  # gone from v0.0.45
            body["instances"] = []
        return 200, self._env(call, body)

    def conf(self, call: Call) -> Answer:
        """slurmdbd.conf (v0.0.45)."""
        conf = {"DbdHost": "fake-slurmdbd", "StorageType": "accounting_storage/mysql"}
        return 200, self._env(call, {"slurmdbd_conf": conf})


def _assoc_ref(a: Association) -> dict[str, Any]:
    return {
        "account": a.account or "",
        "cluster": a.cluster or "",
        "partition": a.partition or "",
        "user": a.user or "",
        "id": a.id or 0,
    }


def _rollups(start: int, minor: int) -> Any:
    """The usage roll-ups slurmdbd ran: one hourly at start (v0.0.40 lists them flat)."""
    if minor <= 40:
        cycle = {"last_cycle": 0, "max_cycle": 0, "total_time": 0, "mean_cycles": 0}
        return [{"type": "internal", "last_run": start, "total_cycles": 1, **cycle}]
    runs = {"hourly": (1, start), "daily": (0, 0), "monthly": (0, 0)}
    return {
        name: {"count": n, "last_run": last, "duration": {"last": 0, "max": 0, "time": 0}}
        for name, (n, last) in runs.items()
    }


def names_of(value: object) -> list[str]:
    """A list of names, or a comma list (queries give lists of strings)."""
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return [n for i in items if isinstance(i, str) for n in i.split(",") if n]
