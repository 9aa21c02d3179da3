"""What a compliance report finds (pure functions over accounting records, nodes, audit).

**Who cancelled a job.** The accounting database records the name of the user whose
request killed a job in ``kill_request_user``, and slurmrestd reports it in every
version's ``slurmdb`` job object (checked live on dbv0.0.38/22.05, v0.0.40-42/24.11 and
v0.0.42-45/26.05, listed in the OpenAPI documents of v0.0.38-v0.0.45). It is empty for
jobs nobody killed. A cancelled job whose ``kill_request_user`` is neither empty nor the
owner was cancelled by someone else; if that someone is an accounting administrator or
operator (``admin_level``) or ``root``/``slurm``, by an admin. ``state.reason`` and
``derived_exit_code`` say nothing about who: they are not used. When the field is missing
(a job cancelled by a time limit or the system), the canceller is ``None`` (unknown).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from ..models import AccountingJob, Association, JobBaseState, Node, User
from ._common import UTC, TimeRange, has_started
from ._usage import charged_seconds, resource_units
from .audit import AuditEntry, VerifyResult

__all__ = [
    "ActivityEvent",
    "AuditLogStatus",
    "SecurityEvent",
    "UsageRow",
    "UserActivity",
    "activity",
    "audit_events",
    "audit_log_status",
    "cancelled_by",
    "node_events",
    "security_events",
    "usage_rows",
]

Severity = Literal["info", "notice", "warning", "critical"]
_ADMIN_LEVELS: Final = frozenset({"administrator", "operator"})
_ALWAYS_ADMIN: Final = frozenset({"root", "slurm"})
_NODE_FLAGS: Final = ("DRAIN", "FAIL", "MAINTENANCE", "REBOOT_REQUESTED", "POWER_DOWN")


@dataclasses.dataclass(frozen=True)
class ActivityEvent:
    """A submission or a cancellation: ``actor`` is who did it (``None``: unknown)."""

    time: datetime | None
    action: Literal["submitted", "cancelled"]
    user: str | None
    job_id: int
    actor: str | None
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class UserActivity:
    """Counts per user over the range."""

    user: str
    submitted: int = 0
    started: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    cancelled_by_self: int = 0
    cancelled_by_others: int = 0


@dataclasses.dataclass(frozen=True)
class UsageRow:
    """Resource-hours per user and account (allocated TRES x time inside the range)."""

    user: str
    account: str
    jobs: int
    cpu_hours: Decimal
    gpu_hours: Decimal
    mem_gb_hours: Decimal
    node_hours: Decimal


@dataclasses.dataclass(frozen=True)
class SecurityEvent:
    """Something an auditor should look at. ``subject`` is the user or node concerned."""

    time: datetime | None
    kind: str
    severity: Severity
    subject: str | None
    actor: str | None = None
    job_id: int | None = None
    detail: str = ""


def cancelled_by(job: AccountingJob) -> str | None:
    """Who killed ``job`` per the accounting record (``None`` if not recorded)."""
    value = job.raw.get("kill_request_user")
    return value if isinstance(value, str) and value else None


def is_admin(name: str | None, users: Sequence[User]) -> bool:
    if name is None:
        return False
    if name in _ALWAYS_ADMIN:
        return True
    return any(u.name == name and (u.admin_level or "").lower() in _ADMIN_LEVELS for u in users)


def activity(
    jobs: Iterable[AccountingJob], window: TimeRange
) -> tuple[list[UserActivity], list[ActivityEvent]]:
    """Per-user counts and the list of submissions and cancellations inside ``window``."""
    counts: dict[str, dict[str, int]] = {}
    events: list[ActivityEvent] = []
    for job in jobs:
        owner = job.user or "(unknown)"
        c = counts.setdefault(owner, {})
        if job.submit_time is not None and job.submit_time in window:
            c["submitted"] = c.get("submitted", 0) + 1
            events.append(
                ActivityEvent(
                    job.submit_time, "submitted", job.user, job.job_id, job.user, job.name
                )
            )
        if job.start_time is not None and job.start_time in window and has_started(job):
            c["started"] = c.get("started", 0) + 1
        ended = job.end_time is not None and job.end_time in window
        base = job.state.base
        if ended and base is JobBaseState.COMPLETED:
            c["completed"] = c.get("completed", 0) + 1
        elif ended and base in (
            JobBaseState.FAILED,
            JobBaseState.OUT_OF_MEMORY,
            JobBaseState.NODE_FAIL,
            JobBaseState.TIMEOUT,
        ):
            c["failed"] = c.get("failed", 0) + 1
        elif ended and base is JobBaseState.CANCELLED:
            actor = cancelled_by(job)
            who = "cancelled_by_self" if actor == job.user else "cancelled_by_others"
            c["cancelled"] = c.get("cancelled", 0) + 1
            if actor is not None:
                c[who] = c.get(who, 0) + 1
            detail = (
                "by the owner"
                if actor == job.user
                else (f"by {actor}" if actor else "canceller not recorded")
            )
            events.append(
                ActivityEvent(job.end_time, "cancelled", job.user, job.job_id, actor, detail)
            )
    users = [UserActivity(user=u, **c) for u, c in sorted(counts.items())]
    events.sort(key=lambda e: (e.time.timestamp() if e.time else 0.0, e.job_id, e.action))
    return users, events


def usage_rows(jobs: Iterable[AccountingJob], window: TimeRange, now: datetime) -> list[UsageRow]:
    """Resource-hours per (user, account), charged as :mod:`._usage` charges costs."""
    sums: dict[tuple[str, str], dict[str, Decimal]] = {}
    njobs: dict[tuple[str, str], int] = {}
    for job in jobs:
        seconds = charged_seconds(job, window, now)
        if seconds <= 0:
            continue
        key = (job.user or "(unknown)", job.account or "(none)")
        bucket = sums.setdefault(key, {})
        njobs[key] = njobs.get(key, 0) + 1
        for resource, units in resource_units(job).items():
            bucket[resource] = bucket.get(resource, Decimal(0)) + units * seconds / Decimal(3600)
    q = Decimal("0.000001")
    return [
        UsageRow(
            user=user,
            account=account,
            jobs=njobs[(user, account)],
            cpu_hours=b.get("cpu", Decimal(0)).quantize(q),
            gpu_hours=b.get("gpu", Decimal(0)).quantize(q),
            mem_gb_hours=b.get("mem", Decimal(0)).quantize(q),
            node_hours=b.get("node", Decimal(0)).quantize(q),
        )
        for (user, account), b in sorted(sums.items())
    ]


def security_events(
    jobs: Sequence[AccountingJob],
    window: TimeRange,
    *,
    users: Sequence[User] = (),
    associations: Sequence[Association] = (),
    baseline: Sequence[AccountingJob] | None = None,
    min_baseline_jobs: int = 3,
) -> list[SecurityEvent]:
    """Cancellations by others, jobs outside a user's usual partitions/QOS, and QOS
    outside the user's associations."""
    out: list[SecurityEvent] = []
    usual: dict[str, tuple[set[str], set[str], int]] = {}
    for job in baseline or ():
        if job.user and has_started(job):
            parts, qos, n = usual.setdefault(job.user, (set(), set(), 0))
            parts.add(job.partition or "")
            qos.add(job.qos or "")
            usual[job.user] = (parts, qos, n + 1)
    allowed: dict[str, set[str]] = {}
    for assoc in associations:
        if assoc.user and assoc.qos:
            allowed.setdefault(assoc.user, set()).update(assoc.qos)
    for job in jobs:
        owner = job.user
        actor = cancelled_by(job)
        ended_inside = job.end_time is not None and job.end_time in window
        if ended_inside and job.state.base is JobBaseState.CANCELLED and actor and actor != owner:
            admin = is_admin(actor, users)
            out.append(
                SecurityEvent(
                    job.end_time,
                    "job_cancelled_by_admin" if admin else "job_cancelled_by_other_user",
                    "notice" if admin else "warning",
                    owner,
                    actor,
                    job.job_id,
                    f"{actor} cancelled {owner}'s job {job.job_id} ({job.name})",
                )
            )
        ran_inside = has_started(job) and job.start_time in window
        if not (ran_inside and owner):
            continue

        def flag(kind: str, severity: Severity, detail: str, job: AccountingJob = job) -> None:
            out.append(
                SecurityEvent(
                    job.start_time, kind, severity, job.user, job.user, job.job_id, detail
                )
            )

        seen = usual.get(owner)
        if seen is not None and seen[2] >= min_baseline_jobs:
            if (job.partition or "") not in seen[0]:
                flag(
                    "unusual_partition",
                    "notice",
                    f"ran in {job.partition!r}; usual: {sorted(seen[0])}",
                )
            if (job.qos or "") not in seen[1]:
                flag("unusual_qos", "notice", f"ran with QOS {job.qos!r}; usual: {sorted(seen[1])}")
        if owner in allowed and job.qos and job.qos not in allowed[owner]:
            flag(
                "qos_outside_association",
                "warning",
                f"QOS {job.qos!r} not in {sorted(allowed[owner])}",
            )
    return out


def node_events(nodes: Iterable[Node]) -> list[SecurityEvent]:
    """Nodes that are down, drained or failing now, with the reason and who set it."""
    out = []
    for node in nodes:
        flags = sorted(f for f in node.state_flags if f.startswith(_NODE_FLAGS))
        if node.state not in ("DOWN", "FAIL", "ERROR") and not flags:
            continue
        state = "+".join([node.state, *flags])
        kind = "node_down" if node.state in ("DOWN", "FAIL", "ERROR") else "node_drained"
        out.append(
            SecurityEvent(
                node.reason_changed_at,
                kind,
                "warning" if kind == "node_down" else "notice",
                node.name,
                node.reason_set_by_user,
                None,
                f"{state}: {node.reason or 'no reason given'}",
            )
        )
    return out


def audit_events(entries: Iterable[AuditEntry], window: TimeRange) -> list[SecurityEvent]:
    """Every mutating call the client made inside ``window``, from its audit log: one
    event per request, with the status of its last answer (``no answer`` if none)."""
    requests: dict[tuple[str, str, Any], AuditEntry] = {}
    answered: dict[int, AuditEntry] = {}
    order: list[AuditEntry] = []
    for entry in entries:
        f = entry.fields
        key = (str(f.get("method")), str(f.get("url")), f.get("attempt"))
        if entry.event == "request":
            requests[key] = entry
            order.append(entry)
        elif entry.event == "response" and key in requests:
            answered[requests.pop(key).seq] = entry
    out = []
    for req in order:
        if req.time not in window:
            continue
        resp = answered.get(req.seq)
        status = resp.fields.get("status") if resp else None
        f = req.fields
        out.append(
            SecurityEvent(
                req.time,
                "client_write",
                "info",
                str(f.get("user")) if f.get("user") else None,
                str(f.get("user")) if f.get("user") else None,
                None,
                f"{f.get('method')} {f.get('url')} -> {'no answer' if status is None else status}",
            )
        )
    return out


@dataclasses.dataclass(frozen=True)
class AuditLogStatus:
    """What verifying the client's audit log found (see :class:`~.audit.VerifyResult`):
    ``status`` is ``verified`` (intact and authenticated with its key),
    ``unauthenticated``, ``tampered``, ``truncated``, ``unanchored`` or ``missing``."""

    path: str
    status: str
    authenticated: bool
    lines: int
    first_bad_line: int | None
    detail: str

    @property
    def summary(self) -> str:
        """One line for a reader: ``"tampered at line 3: digest does not match ..."``."""
        where = f" at line {self.first_bad_line}" if self.first_bad_line else ""
        return f"{self.status}{where} ({self.lines} lines): {self.detail}"


_AUDIT_SEVERITY: Final[dict[str, Severity]] = {
    "verified": "info",
    "unauthenticated": "warning",
    "unanchored": "warning",
}
_AUDIT_DETAIL: Final = {
    "verified": "chain, head file and HMACs check out with the log's key",
    "unauthenticated": (
        "the chain is intact, but the log has no key: whoever can write it could have "
        "rewritten it with recomputed hashes"
    ),
}


def audit_log_status(path: str, result: VerifyResult) -> tuple[AuditLogStatus, SecurityEvent]:
    """The audit log's status for a report, and the security event stating it (critical
    when tampered, truncated or missing)."""
    detail = result.reason or _AUDIT_DETAIL.get(result.status, "")
    status = AuditLogStatus(
        path, result.status, result.authenticated, result.lines, result.first_bad_line, detail
    )
    where = f"line {result.first_bad_line}: " if result.first_bad_line else ""
    event = SecurityEvent(
        time=datetime.now(UTC),
        kind=f"audit_log_{result.status}",
        severity=_AUDIT_SEVERITY.get(result.status, "critical"),
        subject=path,
        detail=where + detail,
    )
    return status, event


def merge_events(*groups: Iterable[SecurityEvent]) -> list[SecurityEvent]:
    """All events, oldest first (undated last)."""
    events = [e for g in groups for e in g]
    return sorted(events, key=lambda e: (e.time is None, e.time.timestamp() if e.time else 0.0))
