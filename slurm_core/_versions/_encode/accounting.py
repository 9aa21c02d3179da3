"""Accounting entities: accounts, users, associations, QOS and TRES.

The inverse of :mod:`.._parse.accounting` for the fields the models carry.
"""

from __future__ import annotations

from ...models import QOS, TRES, Account, Association, User
from ._common import Wire, WireFormat, drop_none, minutes, text

__all__ = ["account", "association", "qos", "tres", "user"]


def _minor(fmt: WireFormat) -> int:
    return int(fmt.version.rsplit(".", 1)[1])


def _coordinators(names: tuple[str, ...]) -> list[Wire]:
    return [{"name": n, "direct": True} for n in names]


def account(a: Account, fmt: WireFormat) -> Wire:
    """An account (``GET /slurmdb/<v>/accounts``)."""
    return {
        "name": a.name,
        "description": text(a.description),
        "organization": text(a.organization),
        "coordinators": _coordinators(a.coordinators),
        "flags": sorted(a.flags),
    }


def user(u: User, fmt: WireFormat) -> Wire:
    """A user (``GET /slurmdb/<v>/users``); the admin level is a list from v0.0.39."""
    level = u.admin_level or "None"
    return {
        "name": u.name,
        "default": {"account": text(u.default_account), "wckey": text(u.default_wckey)},
        "administrator_level": level if not fmt.number_wrappers else [level],
        "coordinators": _coordinators(u.coordinators),
        "flags": sorted(u.flags) or (["NONE"] if fmt.number_wrappers else []),
    }


def association(a: Association, fmt: WireFormat) -> Wire:
    """An association (``GET /slurmdb/<v>/associations``); its id changed shape twice."""
    minor = _minor(fmt)
    out: Wire = {
        "account": text(a.account),
        "cluster": text(a.cluster),
        "user": text(a.user),
        "partition": text(a.partition),
        "parent_account": text(a.parent_account),
        "shares_raw": a.shares_raw,
        "priority": fmt.num(a.priority),
        "default": {"qos": text(a.default_qos)},
        "max": {
            "jobs": drop_none(
                {
                    "active": fmt.num(a.max_jobs),
                    "total": fmt.num(a.max_submit_jobs),
                    "per": drop_none({"wall_clock": fmt.num(minutes(a.max_wall_per_job))}),
                }
            )
        },
    }
    if minor >= 39:
        out["is_default"] = a.is_default
        out["qos"] = list(a.qos)
    if minor >= 41:
        out["id"] = a.id
    elif minor == 40 and a.id is not None:  # an object naming the association
        out["id"] = {
            "id": a.id,
            "account": text(a.account),
            "cluster": text(a.cluster),
            "user": text(a.user),
        }
    return drop_none(out)


def qos(q: QOS, fmt: WireFormat) -> Wire:
    """A QOS (``GET /slurmdb/<v>/qos``)."""
    return drop_none(
        {
            "name": q.name,
            # dbv0.0.38 documents the id as a string
            "id": q.id if fmt.number_wrappers or q.id is None else str(q.id),
            "description": text(q.description),
            "priority": fmt.num(q.priority),
            "flags": sorted(q.flags),
            "usage_factor": fmt.num(q.usage_factor),
            "preempt": {"mode": list(q.preempt_mode)},
        }
    )


def tres(t: TRES, fmt: WireFormat) -> Wire:
    """A TRES the database tracks (``GET /slurmdb/<v>/tres``)."""
    return drop_none({"type": t.type, "name": text(t.name), "id": t.id, "count": t.count})
