"""The slurmdbd writes of the fake (issue #22): add and remove database entities.

Semantics recorded on 24.11 and 26.05 (``tests/data/responses/<v>/fidelity/w_*.json``,
written by ``tests/data/record_writes.py``):
- only an administrator writes, or lists wckeys or statistics: anyone else gets 2002
  "Access/permission denied" (500, 422 from v0.0.43);
- a removal that matches nothing answers 304 with no body (QOS up to v0.0.42: 200 and a
  "found nothing" warning); a read that matches nothing warns "found nothing";
- an account association needs a parent account and a user association needs its account's
  association on that cluster (otherwise nothing is added), as slurmdbd's tree does;
- adding TRES is refused with 2036.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..._versions import _encode as enc
from ...models import QOS, Account, Association, User
from . import _shapes, _wire
from ._acctdb import AccountingDB, WCKey, accounting_db, cluster_wire, entity_wire
from ._call import Call, Handler
from ._cluster import FakeCluster
from ._state import PlainAnswer, Reject

__all__ = ["DbWriteHandlers"]

Answer = tuple[int, dict[str, Any]]
_CONFIG_KINDS = ("tres", "accounts", "users", "qos", "associations")
_DENIED = "Access/permission denied"


class DbWriteHandlers:
    """The ``/slurmdb/<v>`` writes of one version."""

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

    def routes(self, d: str) -> list[tuple[str, str, Handler]]:
        """``(method, path, handler)``; reads of the same paths are routed before these."""
        out: list[tuple[str, str, Handler]] = [
            ("POST", f"{d}/accounts", self.add_accounts),
            ("POST", f"{d}/accounts_association", self.add_accounts_association),
            ("POST", f"{d}/users", self.add_users),
            ("POST", f"{d}/users_association", self.add_users_association),
            ("POST", f"{d}/associations", self.add_associations),
            ("POST", f"{d}/qos", self.add_qos),
            ("POST", f"{d}/wckeys", self.add_wckeys),
            ("POST", f"{d}/tres", self.add_tres),
            ("POST", f"{d}/clusters", self.add_clusters),
            ("POST", f"{d}/config", self.load_config),
            ("GET", f"{d}/config", self.config),
            ("GET", f"{d}/diag", self.diag),
            ("GET", f"{d}/wckeys", self.wckeys),
            ("GET", f"{d}/wckey/{{id}}", self.wckeys),
            ("GET", f"{d}/association", self.associations),
            ("DELETE", f"{d}/account/{{account_name}}", self.remove_account),
            ("DELETE", f"{d}/user/{{name}}", self.remove_user),
            ("DELETE", f"{d}/qos/{{qos}}", self.remove_qos),
            ("DELETE", f"{d}/wckey/{{id}}", self.remove_wckey),
            ("DELETE", f"{d}/cluster/{{cluster_name}}", self.remove_cluster),
            ("DELETE", f"{d}/association", self.remove_associations),
            ("DELETE", f"{d}/associations", self.remove_associations),
        ]
        if self.minor >= 45:
            out.append(("GET", f"{d}/conf", self.conf))
        return out

    # ------------------------------------------------------------------ plumbing ---------
    def _env(self, call: Call, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return _wire.envelope(self.version, call.user, self.cluster.name, body, **kw)

    def _admin(self, call: Call, what: str) -> None:
        if call.user not in self.admins:
            raise Reject(2002, _DENIED, f"{what} failed", 422 if self.minor >= 43 else 500)

    def _nothing(self, call: Call, what: str, key: str) -> Answer:
        warning = {"description": f"{what} found nothing", "source": "fake-slurmdbd"}
        return 200, self._env(call, {key: []}, warnings=[warning])

    def _items(self, call: Call, *keys: str) -> list[dict[str, Any]]:
        """The list under ``keys[0]`` (or an older spelling); recorded: 9200 when missing."""
        body = call.body if isinstance(call.body, dict) else {}
        for key in keys:
            items = body.get(key)
            if items is not None:
                if not isinstance(items, list):
                    expected = f"{key}: expected a list"
                    raise Reject(9208, "Data parser expected a list", expected, 400)
                return [i for i in items if isinstance(i, dict)]
        raise _missing(keys[0], self.minor)

    def _name(self, item: dict[str, Any], key: str) -> str:
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise _missing(key, self.minor)
        return value

    def _clusters(self) -> set[str]:
        return {self.cluster.name, *self.db.clusters}

    # ---------------------------------------------------------------------- adds ---------
    def add_accounts(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_accounts_add()")
        for item in self._items(call, "accounts"):
            name = self._name(item, "name")
            self.db.accounts.setdefault(
                name,
                Account(
                    name=name,
                    description=_text(item.get("description")),
                    organization=_text(item.get("organization")),
                ),
            )
        return 200, self._env(call)

    def add_accounts_association(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_accounts_add_cond()")
        body = call.body if isinstance(call.body, dict) else {}
        cond = _dict(body.get("association_condition"))
        info = _dict(body.get("account"))
        clusters = _names(cond.get("clusters")) or [self.cluster.name]
        for name in _names(cond.get("accounts")):
            self.db.accounts.setdefault(
                name,
                Account(
                    name=name,
                    description=_text(info.get("description")),
                    organization=_text(info.get("organization")),
                ),
            )
            for cluster in clusters:
                self._associate(name, None, cluster, "root")
        added = ",".join(_names(cond.get("accounts")))
        return 200, self._env(call, {"added_accounts": added})

    def add_users(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_users_add()")
        for item in self._items(call, "users"):
            name = self._name(item, "name")
            self.db.users.setdefault(name, User(name=name))
        return 200, self._env(call)

    def add_users_association(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_users_add_cond()")
        body = call.body if isinstance(call.body, dict) else {}
        cond = _dict(body.get("association_condition"))
        clusters = _names(cond.get("clusters")) or [self.cluster.name]
        added = 0
        for user in _names(cond.get("users")):
            self.db.users.setdefault(user, User(name=user))
            for account in _names(cond.get("accounts")):
                for cluster in clusters:
                    added += self._associate(account, user, cluster, None)
        if not added:
            raise PlainAnswer(304, "")
        return 200, self._env(call, {"added_users": ",".join(_names(cond.get("users")))})

    def add_associations(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_associations_add()")
        for item in self._items(call, "associations"):
            account = self._name(item, "account")
            cluster = _text(item.get("cluster")) or self.cluster.name
            self._associate(account, _text(item.get("user")), cluster, item.get("parent_account"))
        return 200, self._env(call)

    def _associate(self, account: str, user: str | None, cluster: str, parent: object) -> int:
        """Add one association if slurmdbd's tree allows it; 1 when added."""
        db = self.db
        if account not in db.accounts or cluster not in self._clusters():
            return 0
        mine = [a for a in db.associations if a.account == account and a.cluster == cluster]
        if user is None:  # an account's own association hangs under its parent's
            if any(a.user is None for a in mine) or not isinstance(parent, str) or not parent:
                return 0
            if not any(a.account == parent and a.user is None for a in db.associations):
                return 0
            db.associations.append(
                Association(id=db.new_id(), cluster=cluster, account=account, parent_account=parent)
            )
            return 1
        if user not in db.users or not any(a.user is None for a in mine):
            return 0
        if any(a.user == user for a in mine):
            return 0
        first = not any(a.user == user for a in db.associations)
        db.associations.append(
            Association(
                id=db.new_id(), cluster=cluster, account=account, user=user, is_default=first
            )
        )
        if first:
            db.users[user] = db.users[user].model_copy(update={"default_account": account})
        return 1

    def add_qos(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_qos_add()")
        for item in self._items(call, "qos", "QOS"):
            name = self._name(item, "name")
            old = self.db.qos.get(name)
            qid = old.id if old is not None else self.db.new_id()
            self.db.qos[name] = QOS(name=name, id=qid, description=_text(item.get("description")))
        return 200, self._env(call)

    def add_wckeys(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_wckeys_add()")
        for item in self._items(call, "wckeys"):
            name, user = self._name(item, "name"), self._name(item, "user")
            cluster = _text(item.get("cluster")) or self.cluster.name
            row = (name, user, cluster)
            if not any((k.name, k.user, k.cluster) == row for k in self.db.wckeys):
                self.db.wckeys.append(WCKey(self.db.new_id(), name, user, cluster))
        return 200, self._env(call)

    def add_tres(self, call: Call) -> Answer:
        status = 422 if self.minor >= 43 else 500
        raise Reject(
            2036,
            "Requested operation not supported on this system",
            "Updating TRES is not currently supported",
            status,
        )

    def add_clusters(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_clusters_add()")
        for item in self._items(call, "clusters"):
            name = self._name(item, "name")
            if name not in self._clusters():
                self.db.clusters.append(name)
                self.db.associations.append(
                    Association(id=self.db.new_id(), cluster=name, account="root")
                )
        return 200, self._env(call)

    def load_config(self, call: Call) -> Answer:
        """``sacctmgr load``: every kind the document lists, in dependency order."""
        self._admin(call, "slurmdbd config load")
        steps: list[Callable[[Call], Answer]] = [
            self.add_clusters,
            self.add_accounts,
            self.add_users,
            self.add_qos,
            self.add_associations,
            self.add_wckeys,
        ]
        for step in steps:
            try:
                step(call)
            except Reject as reject:
                if reject.errno != 9200 or "' in dictionary" not in reject.description:
                    raise
        return 200, self._env(call)

    # --------------------------------------------------------------------- reads ---------
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

    # ------------------------------------------------------------------- removals --------
    def _matching(self, call: Call) -> list[Association]:
        q = call.query
        filters = {k: set(_names(q.get(k))) for k in ("account", "cluster", "user", "partition")}
        return [
            a
            for a in self.db.associations
            if all(not want or (getattr(a, k) or "") in want for k, want in filters.items())
        ]

    def remove_associations(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_associations_remove()")
        gone = [a for a in self._matching(call) if a.account != "root"]
        if not gone:
            raise PlainAnswer(304, "")
        self.db.associations = [a for a in self.db.associations if a not in gone]
        names = [f"{a.cluster}/{a.account}/{a.user or ''}/{a.partition or ''}" for a in gone]
        return 200, self._env(call, {"removed_associations": names})

    def remove_account(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_accounts_remove()")
        name = call.groups["account_name"]
        if name not in self.db.accounts or name == "root":
            raise PlainAnswer(304, "")
        del self.db.accounts[name]
        self.db.associations = [a for a in self.db.associations if a.account != name]
        return 200, self._env(call, {"removed_accounts": [name]})

    def remove_user(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_users_remove()")
        name = call.groups["name"]
        if name not in self.db.users:
            raise PlainAnswer(304, "")
        del self.db.users[name]
        self.db.associations = [a for a in self.db.associations if a.user != name]
        self.db.wckeys = [k for k in self.db.wckeys if k.user != name]
        return 200, self._env(call, {"removed_users": [name]})

    def remove_qos(self, call: Call) -> Answer:
        name = call.groups["qos"]
        try:
            self._admin(call, "slurmdb_qos_remove()")
        except Reject as reject:
            body = _wire.error_body(self.version, call.user, self.cluster.name, reject)
            return reject.status, {"removed_qos": [], **body}
        if name not in self.db.qos:
            if self.minor >= 43:
                raise PlainAnswer(304, "")
            return self._nothing(call, "slurmdb_qos_remove()", "removed_qos")
        del self.db.qos[name]
        return 200, self._env(call, {"removed_qos": [name]})

    def remove_wckey(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_wckeys_remove()")
        wanted = call.groups["id"]
        gone = [k for k in self.db.wckeys if str(k.id) == wanted]
        if not gone:
            return self._nothing(call, "slurmdb_wckeys_remove()", "deleted_wckeys")
        self.db.wckeys = [k for k in self.db.wckeys if k not in gone]
        return 200, self._env(call, {"deleted_wckeys": [k.name for k in gone]})

    def remove_cluster(self, call: Call) -> Answer:
        self._admin(call, "slurmdb_clusters_remove()")
        name = call.groups["cluster_name"]
        if name not in self.db.clusters:  # the fake's own cluster stays
            return self._nothing(call, "slurmdb_clusters_remove()", "deleted_clusters")
        self.db.clusters.remove(name)
        self.db.associations = [a for a in self.db.associations if a.cluster != name]
        return 200, self._env(call, {"deleted_clusters": [name]})


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


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _missing(key: str, minor: int) -> Reject:
    """Recorded: 500 on 24.11 (v0.0.40-42), 422 on 26.05."""
    missing = f"Missing required field '{key}' in dictionary"
    return Reject(9200, "Unable to resolve path", missing, 422 if minor >= 43 else 500)


def _names(value: object) -> list[str]:
    """A list of names, or a comma list (queries give lists of strings)."""
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return [n for i in items if isinstance(i, str) for n in i.split(",") if n]
