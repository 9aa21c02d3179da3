"""The fake slurmdbd's database: accounts, users, associations, QOS, wckeys, clusters.

One :class:`AccountingDB` per :class:`~._cluster.FakeCluster` (shared by every version the
server serves), seeded with the entities of :func:`._models.static_accounting`. The write
handlers (:mod:`._dbwrite`) change it and the reads (:mod:`._db`, :mod:`._more`) list it,
so what a test adds or removes shows in its later reads, as with slurmdbd.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ...models import QOS, TRES, Account, Association, User
from . import _models
from ._cluster import FakeCluster

__all__ = ["AccountingDB", "WCKey", "accounting_db"]


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
