"""The fake slurmdbd's database: accounts, users, associations, QOS, wckeys, clusters.

One :class:`AccountingDB` per :class:`~._cluster.FakeCluster` (shared by every version the
server serves), seeded with the entities of :func:`._models.static_accounting`. The write
handlers (:mod:`._dbwrite`) change it and the reads (:mod:`._db`, :mod:`._more`) list it,
so what a test adds or removes shows in its later reads, as with slurmdbd.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any

from ..._versions import _encode as enc
from ...models import QOS, TRES, Account, Association, User
from . import _models, _shapes, _wire
from ._cluster import FakeCluster

__all__ = ["AccountingDB", "WCKey", "accounting_db", "cluster_wire", "entity_wire"]

_ENCODERS: dict[str, Callable[[Any, enc.WireFormat], dict[str, Any]]] = {
    "accounts": enc.encode_account,
    "users": enc.encode_user,
    "associations": enc.encode_association,
    "qos": enc.encode_qos,
    "tres": enc.encode_tres,
}
_RPC_NOUNS = {
    "job": "JOBS_COND", "account": "ACCOUNTS", "user": "USERS", "association": "ASSOCS",
    "qo": "QOS", "tre": "TRES", "wckey": "WCKEYS", "cluster": "CLUSTERS", "config": "CONFIG",
    "instance": "INSTANCES",
}  # fmt: skip
_KINDS = {"accounts": "account", "users": "user", "associations": "association"}


def entity_wire(kind: str, model: Any, version: str) -> dict[str, Any]:
    """One ``accounts``/``users``/``associations``/``qos``/``tres`` row as ``version`` sends it:
    the encoded model laid over the real record's shape (every key slurmdbd sends)."""
    wire = _ENCODERS[kind](model, enc.wire_format(version))
    if kind == "associations" and isinstance(model, Association):
        top = "" if model.account == "root" else f"/{model.account}"
        usual = {  # slurmdbd's default fairshare; the path from root, a user's leaf "0-"
            "shares_raw": 1,
            "lineage": f"{top}/0-{model.user}/" if model.user else f"{top}/",
        }
        known = _shapes.only_known(version, "association", usual)
        wire.update((k, v) for k, v in known.items() if k not in wire)
    preempt = wire.get("preempt")
    if kind == "qos" and _wire.minor(version) <= 39 and isinstance(preempt, dict):
        # recorded: 22.05 and 23.11 name no mode for "off" (later ones say "DISABLED")
        preempt["mode"] = [m for m in preempt.get("mode") or [] if m != "DISABLED"]
    return _shapes.thicken(version, _KINDS.get(kind, kind), wire)


@dataclasses.dataclass
class WCKey:
    """A workload characterization key of one user on one cluster."""

    id: int
    name: str
    user: str
    cluster: str


@dataclasses.dataclass
class AccountingDB:
    """The rows slurmdbd keeps; deleted accounts, users and QOS stay, flagged."""

    accounts: dict[str, Account]
    users: dict[str, User]
    associations: list[Association]
    qos: dict[str, QOS]
    tres: list[TRES]
    wckeys: list[WCKey] = dataclasses.field(default_factory=list)
    clusters: list[str] = dataclasses.field(default_factory=list)
    """Clusters added through the REST API (the fake's own is always there)."""
    next_id: int = 100
    rpcs: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    """slurmdbd RPCs served, by name (what ``diag`` reports)."""
    rpc_users: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def count(self, method: str, path: str, user: str) -> None:
        """Count one ``/slurmdb/<v>/...`` request as the RPC slurmrestd sends slurmdbd."""
        parts = path.strip("/").split("/")
        noun = parts[2] if len(parts) > 2 else ""
        if noun in ("diag", "ping"):
            rpc = "DBD_GET_STATS"
        else:
            verb = {"GET": "GET", "POST": "ADD", "DELETE": "REMOVE"}.get(method, method)
            kind = _RPC_NOUNS.get(noun.rstrip("s").removesuffix("_association"), noun.upper())
            rpc = f"DBD_{verb}_{kind}"
        self.rpcs[rpc] += 1
        self.rpc_users[user] += 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def models(self, kind: str) -> list[Any]:
        """The live rows of ``kind`` (``accounts``, ``users``, ...), as public models."""
        rows: dict[str, list[Any]] = {
            "accounts": list(self.accounts.values()),
            "users": list(self.users.values()),
            "associations": list(self.associations),
            "qos": list(self.qos.values()),
            "tres": list(self.tres),
        }
        return rows[kind]


def accounting_db(cluster: FakeCluster, user: str) -> AccountingDB:
    """The database of ``cluster``, made on first use from the static entities."""
    db = cluster.accounting_db
    if not isinstance(db, AccountingDB):
        seed = _models.static_accounting(cluster, user)
        db = AccountingDB(
            accounts={a.name: a for a in seed["accounts"] if isinstance(a, Account)},
            users={u.name: u for u in seed["users"] if isinstance(u, User)},
            associations=[a for a in seed["associations"] if isinstance(a, Association)],
            qos={q.name: q for q in seed["qos"] if isinstance(q, QOS)},
            tres=[t for t in seed["tres"] if isinstance(t, TRES)],
        )
        cluster.accounting_db = db
    return db


def cluster_wire(c: FakeCluster, name: str, version: str) -> dict[str, Any]:
    """A ``clusters`` row: the fake's own with its nodes and TRES, or one added by name."""
    own = name == c.name
    nodes = list(c.nodes.values()) if own else []
    tres = [
        {"type": "cpu", "name": "", "id": 1, "count": sum(n.cpus for n in nodes)},
        {"type": "mem", "name": "", "id": 2, "count": sum(n.memory for n in nodes)},
        {"type": "node", "name": "", "id": 4, "count": len(nodes)},
        {"type": "gres", "name": "gpu", "id": 1001, "count": sum(n.gpus for n in nodes)},
    ]
    root = {"account": "root", "cluster": name, "partition": "", "user": "", "id": 1}
    entry = {
        "controller": {"host": "127.0.0.1", "port": 6817 if own else 0},
        "flags": ["REGISTERING"] if own else [],
        "name": name,
        "nodes": ",".join(c.nodes) if own else "",
        "associations": {"root": root},
        "rpc_version": 10752 if own else 0,
        "tres": tres if own else [],
    }
    return _shapes.thicken(version, "cluster", entry)
