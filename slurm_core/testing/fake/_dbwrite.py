"""The slurmdbd writes of the fake (issue #22): add and remove database entities.

The reads that look into the same database (wckeys, associations, diag, config) are in
:mod:`._dbread`.

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

from collections.abc import Callable
from typing import Any

from ...models import QOS, Account, Association, User
from . import _wire
from ._acctdb import WCKey
from ._call import Call, Handler
from ._dbread import DbReads, names_of
from ._state import PlainAnswer, Reject

__all__ = ["DbWriteHandlers"]

Answer = tuple[int, dict[str, Any]]


class DbWriteHandlers(DbReads):
    """The ``/slurmdb/<v>`` writes of one version (and the reads of :class:`DbReads`)."""

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
        clusters = names_of(cond.get("clusters")) or [self.cluster.name]
        for name in names_of(cond.get("accounts")):
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
        added = ",".join(names_of(cond.get("accounts")))
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
        clusters = names_of(cond.get("clusters")) or [self.cluster.name]
        added = 0
        for user in names_of(cond.get("users")):
            self.db.users.setdefault(user, User(name=user))
            for account in names_of(cond.get("accounts")):
                for cluster in clusters:
                    added += self._associate(account, user, cluster, None)
        if not added:
            raise PlainAnswer(304, "")
        return 200, self._env(call, {"added_users": ",".join(names_of(cond.get("users")))})

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
            above = [a for a in db.associations if a.account == parent and a.user is None]
            if not above:
                return 0
            db.associations.append(  # the parent's QOS are inherited (slurmdbd lists them)
                Association(
                    id=db.new_id(),
                    cluster=cluster,
                    account=account,
                    parent_account=parent,
                    qos=above[0].qos,
                )
            )
            return 1
        if user not in db.users or not any(a.user is None for a in mine):
            return 0
        if any(a.user == user for a in mine):
            return 0
        first = not any(a.user == user for a in db.associations)
        own = next(a for a in mine if a.user is None)
        db.associations.append(  # the account's QOS are inherited (slurmdbd lists them)
            Association(
                id=db.new_id(),
                cluster=cluster,
                account=account,
                user=user,
                is_default=first,
                qos=own.qos,
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
            self.db.qos[name] = QOS(  # preemption off until asked, as slurmdbd's "normal"
                name=name,
                id=qid,
                description=_text(item.get("description")),
                preempt_mode=("DISABLED",),
            )
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
                qos = ("normal",) if "normal" in self.db.qos else ()  # sacctmgr's default
                self.db.associations.append(
                    Association(id=self.db.new_id(), cluster=name, account="root", qos=qos)
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

    # ------------------------------------------------------------------- removals --------
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


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _missing(key: str, minor: int) -> Reject:
    """Recorded: 500 on 24.11 (v0.0.40-42), 422 on 26.05."""
    missing = f"Missing required field '{key}' in dictionary"
    return Reject(9200, "Unable to resolve path", missing, 422 if minor >= 43 else 500)
