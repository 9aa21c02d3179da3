"""Accounting entities: accounts, users, associations and QOS."""

from __future__ import annotations

from ...models import INFINITE, QOS, Account, Association, User
from .._decode import boolean, count, csv, flags, limit, minutes, number, sub, text
from ._common import Wire, _names, _required

__all__ = ["account", "association", "qos", "user"]


def account(d: Wire) -> Account:
    """An account (``GET /slurmdb/<v>/accounts``)."""
    g = d.get
    return Account._build(
        {
            "name": str(_required(d, "name")),
            "description": text(g("description"), "description"),
            "organization": text(g("organization"), "organization"),
            "coordinators": _names(g("coordinators"), "coordinators"),
            "flags": flags(g("flags"), "flags"),
            "raw": d,
        }
    )


def user(d: Wire) -> User:
    """A user (``GET /slurmdb/<v>/users``)."""
    g = d.get
    default = sub(d, "default")
    return User._build(
        {
            "name": str(_required(d, "name")),
            "default_account": text(default.get("account"), "default.account"),
            "default_wckey": text(default.get("wckey"), "default.wckey"),
            "admin_level": text(g("administrator_level"), "administrator_level"),
            "coordinators": _names(g("coordinators"), "coordinators"),
            "flags": flags(g("flags"), "flags") - {"NONE"},
            "raw": d,
        }
    )


def association(d: Wire) -> Association:
    """An association (``GET /slurmdb/<v>/associations``)."""
    g = d.get
    jobs = sub(sub(d, "max"), "jobs")
    assoc_id = g("id")
    if type(assoc_id) is dict:  # some versions nest the id: {"id": {"id": 3, ...}}
        assoc_id = assoc_id.get("id")
    return Association._build(
        {
            "id": count(assoc_id, "id"),
            "cluster": text(g("cluster"), "cluster"),
            "account": text(g("account"), "account"),
            "user": text(g("user"), "user"),
            "partition": text(g("partition"), "partition"),
            "parent_account": text(g("parent_account"), "parent_account"),
            "is_default": bool(boolean(g("is_default"), "is_default")),
            "qos": csv(g("qos"), "qos"),
            "default_qos": text(sub(d, "default").get("qos"), "default.qos"),
            "shares_raw": count(g("shares_raw"), "shares_raw"),
            "priority": limit(g("priority"), "priority"),
            "max_jobs": limit(jobs.get("active"), "max.jobs.active"),
            "max_submit_jobs": limit(jobs.get("total"), "max.jobs.total"),
            "max_wall_per_job": minutes(
                sub(jobs, "per").get("wall_clock"), "max.jobs.per.wall_clock"
            ),
            "raw": d,
        }
    )


def qos(d: Wire) -> QOS:
    """A QOS (``GET /slurmdb/<v>/qos``)."""
    g = d.get
    mx = sub(sub(d, "limits"), "max")
    jobs = sub(mx, "jobs")
    usage = number(g("usage_factor"), "usage_factor")
    return QOS._build(
        {
            "name": str(_required(d, "name")),
            "id": count(g("id"), "id"),
            "description": text(g("description"), "description"),
            "priority": limit(g("priority"), "priority"),
            "flags": flags(g("flags"), "flags"),
            "preempt_mode": csv(sub(d, "preempt").get("mode"), "preempt.mode"),
            "usage_factor": None if usage is None or usage is INFINITE else float(usage),
            "max_wall_per_job": minutes(
                sub(sub(mx, "wall_clock"), "per").get("job"), "limits.max.wall_clock.per.job"
            ),
            "max_jobs_per_user": limit(
                sub(sub(jobs, "active_jobs"), "per").get("user"),
                "limits.max.jobs.active_jobs.per.user",
            ),
            "max_submit_jobs_per_user": limit(
                sub(jobs, "per").get("user"), "limits.max.jobs.per.user"
            ),
            "raw": d,
        }
    )
