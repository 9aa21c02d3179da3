"""Compliance reports: who did what, what it used, and what looks wrong.

Sections (choose with the ``with_*`` steps; none chosen means all three):

* **user activity**: per user, jobs submitted, started, completed, failed, cancelled
  (by themselves / by others), and the list of submissions and cancellations with who
  did them (see :mod:`slurm_core.analytics._findings` for how the canceller is known);
* **resource usage**: CPU-, GPU-, GiB- and node-hours per user and account;
* **security events**: jobs cancelled by another user or an admin, jobs outside a user's
  usual partitions/QOS (against ``baseline`` history before the range) or outside their
  associations' QOS, nodes drained/down with reason and who set it, every mutating call
  this client made (from its :class:`~slurm_core.analytics.AuditLog`), and the audit
  log's own status (``report.audit_log``, and an ``audit_log_<status>`` event): verified
  and authenticated, unauthenticated (no key), tampered at line N, truncated,
  unanchored, or missing. Only entries before the first bad line are listed.

Example::

    from slurm_core.analytics import AuditLog, ComplianceAuditor, TimeRange

    auditor = ComplianceAuditor(client, audit_log=AuditLog("audit.jsonl"))
    html = (auditor.generate_report(TimeRange(start, end))
            .with_user_activity().with_resource_usage().with_security_events()
            .export("html"))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from .._engine import Driven, Op, engine_of, run_async, run_sync
from .._exceptions import SlurmError
from .._http import AsyncHTTP, SyncHTTP
from ..models import AccountingJob, Association, Node, User
from ..resources.accounting import _AccountingOps
from ..resources.nodes import _NodesOps
from ._common import UTC, TimeRange, as_utc
from ._export import csv_text, html_page, json_text, write_text
from ._findings import (
    ActivityEvent,
    AuditLogStatus,
    SecurityEvent,
    UsageRow,
    UserActivity,
    activity,
    audit_events,
    audit_log_status,
    merge_events,
    node_events,
    security_events,
    usage_rows,
)
from .audit import AuditEntry, AuditLog

__all__ = ["ComplianceAuditor", "ComplianceReport", "ReportBuilder"]

Section = Literal["user_activity", "resource_usage", "security_events"]
SECTIONS: Final[tuple[Section, ...]] = ("user_activity", "resource_usage", "security_events")
Format = Literal["json", "csv", "html"]
_CSV_COLUMNS: Final = (
    "section", "time", "kind", "severity", "user", "account", "job_id", "actor", "subject",
    "jobs", "cpu_hours", "gpu_hours", "mem_gb_hours", "node_hours", "detail",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ComplianceReport:
    """A finished report; :meth:`export` renders it. ``notes`` lists data that could not
    be read (e.g. the accounting database refused a query)."""

    range: TimeRange
    generated_at: datetime
    sections: tuple[Section, ...]
    users: tuple[UserActivity, ...] = ()
    activity: tuple[ActivityEvent, ...] = ()
    usage: tuple[UsageRow, ...] = ()
    events: tuple[SecurityEvent, ...] = ()
    notes: tuple[str, ...] = ()
    audit_log: AuditLogStatus | None = None
    """The audit log's status (security section with an audit log only)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (decimals as strings, times ISO 8601)."""
        out: dict[str, Any] = {
            "range": {"start": self.range.start, "end": self.range.end},
            "generated_at": self.generated_at,
            "sections": list(self.sections),
            "notes": list(self.notes),
        }
        if "user_activity" in self.sections:
            out["user_activity"] = {
                "users": [dataclasses.asdict(u) for u in self.users],
                "events": [dataclasses.asdict(e) for e in self.activity],
            }
        if "resource_usage" in self.sections:
            out["resource_usage"] = [dataclasses.asdict(u) for u in self.usage]
        if "security_events" in self.sections:
            out["security_events"] = [dataclasses.asdict(e) for e in self.events]
            out["audit_log"] = dataclasses.asdict(self.audit_log) if self.audit_log else None
        return out

    def _csv_rows(self) -> list[list[Any]]:
        rows: list[list[Any]] = []

        def row(**cells: Any) -> None:
            rows.append([cells.get(c) for c in _CSV_COLUMNS])

        for u in self.users:
            counts = {k: v for k, v in dataclasses.asdict(u).items() if k != "user"}
            summary = ", ".join(f"{k}={v}" for k, v in counts.items())
            row(section="user_activity", kind="summary", user=u.user, detail=summary)
        for a in self.activity:
            row(
                section="user_activity",
                time=a.time,
                kind=a.action,
                user=a.user,
                job_id=a.job_id,
                actor=a.actor,
                detail=a.detail,
            )
        for g in self.usage:
            row(
                section="resource_usage",
                user=g.user,
                account=g.account,
                jobs=g.jobs,
                cpu_hours=g.cpu_hours,
                gpu_hours=g.gpu_hours,
                mem_gb_hours=g.mem_gb_hours,
                node_hours=g.node_hours,
            )
        for e in self.events:
            row(
                section="security_events",
                time=e.time,
                kind=e.kind,
                severity=e.severity,
                job_id=e.job_id,
                actor=e.actor,
                subject=e.subject,
                detail=e.detail,
            )
        return rows

    def _html(self) -> str:
        meta = {
            "Range": f"{self.range.start.isoformat()} .. {self.range.end.isoformat()}",
            "Generated": self.generated_at.isoformat(),
            **{f"Note {i}": n for i, n in enumerate(self.notes, 1)},
        }
        if self.audit_log is not None:
            meta["Audit log"] = f"{self.audit_log.path}: {self.audit_log.summary}"
        tables: list[tuple[str, Sequence[str], Sequence[Sequence[Any]]]] = []
        if "user_activity" in self.sections:
            fields = [f.name for f in dataclasses.fields(UserActivity)]
            tables.append(
                ("User activity", fields, [[getattr(u, f) for f in fields] for u in self.users])
            )
            header = ["time", "action", "user", "job_id", "by", "detail"]
            rows = [[a.time, a.action, a.user, a.job_id, a.actor, a.detail] for a in self.activity]
            tables.append(("Submissions and cancellations", header, rows))
        if "resource_usage" in self.sections:
            fields = [f.name for f in dataclasses.fields(UsageRow)]
            tables.append(
                ("Resource usage", fields, [[getattr(u, f) for f in fields] for u in self.usage])
            )
        if "security_events" in self.sections:
            fields = ["time", "severity", "kind", "subject", "actor", "job_id", "detail"]
            tables.append(
                ("Security events", fields, [[getattr(e, f) for f in fields] for e in self.events])
            )
        return html_page("Compliance report", meta, tables)

    def export(self, fmt: Format = "json", path: str | os.PathLike[str] | None = None) -> str:
        """The report as ``"json"``, ``"csv"`` (one table, a ``section`` column) or
        ``"html"`` (a page with one escaped table per section); written to ``path`` too.

        Example::

            report.export("html", "report.html")
        """
        if fmt == "json":
            text = json_text(self.to_dict())
        elif fmt == "csv":
            text = csv_text(_CSV_COLUMNS, self._csv_rows())
        elif fmt == "html":
            text = self._html()
        else:
            raise ValueError(f"format must be 'json', 'csv' or 'html', got {fmt!r}")
        if path is not None:
            write_text(path, text)
        return text


@dataclasses.dataclass(frozen=True)
class _Inputs:
    jobs: list[AccountingJob]
    baseline: list[AccountingJob] | None
    users: list[User]
    associations: list[Association]
    nodes: list[Node]
    notes: list[str]


class ReportBuilder:
    """Chooses the sections of a report; :meth:`build` (sync client) or :meth:`abuild`
    (async client) reads the data, :meth:`export` builds and renders in one step."""

    def __init__(
        self, auditor: ComplianceAuditor, window: TimeRange, sections: tuple[Section, ...] = ()
    ) -> None:
        self._auditor = auditor
        self._window = window
        self._sections = sections

    def _add(self, section: Section) -> ReportBuilder:
        sections = self._sections if section in self._sections else (*self._sections, section)
        return ReportBuilder(self._auditor, self._window, sections)

    def with_user_activity(self) -> ReportBuilder:
        """Include submissions, cancellations and per-user counts."""
        return self._add("user_activity")

    def with_resource_usage(self) -> ReportBuilder:
        """Include resource-hours per user and account."""
        return self._add("resource_usage")

    def with_security_events(self) -> ReportBuilder:
        """Include cancellations by others, unusual placements, node drains, client writes."""
        return self._add("security_events")

    def _op(self, sections: tuple[Section, ...]) -> Op[_Inputs]:
        core, window, notes = self._auditor._client._core, self._window, []
        acct = _AccountingOps(core)
        jobs = yield from acct._jobs(window.start, window.end, None, None)
        baseline: list[AccountingJob] | None = None
        users: list[User] = []
        associations: list[Association] = []
        nodes: list[Node] = []
        if "security_events" in sections:
            start = window.start - self._auditor.baseline
            try:
                baseline = yield from acct._jobs(start, window.start, None, None)
            except SlurmError as exc:
                notes.append(f"baseline history unavailable: {type(exc).__name__}: {exc}")
            try:
                users = yield from acct._users()
                associations = yield from acct._associations()
            except SlurmError as exc:
                notes.append(f"users/associations unavailable: {type(exc).__name__}: {exc}")
            nodes = yield from _NodesOps(core)._list()
        return _Inputs(jobs, baseline, users, associations, nodes, notes)

    def _assemble(self, sections: tuple[Section, ...], data: _Inputs) -> ComplianceReport:
        now = datetime.now(UTC)
        users: list[UserActivity] = []
        events: list[ActivityEvent] = []
        found: list[SecurityEvent] = []
        notes = list(data.notes)
        if "user_activity" in sections:
            users, events = activity(data.jobs, self._window)
        usage = usage_rows(data.jobs, self._window, now) if "resource_usage" in sections else []
        audit: AuditLogStatus | None = None
        if "security_events" in sections:
            entries, audit, status = self._auditor._audit_entries()
            if self._auditor.audit_log is None:
                notes.append("no audit log: the client's own writes are not listed")
            jobs = security_events(
                data.jobs,
                self._window,
                users=data.users,
                associations=data.associations,
                baseline=data.baseline,
            )
            writes = audit_events(entries, self._window)
            found = merge_events(jobs, node_events(data.nodes), writes, status)
        return ComplianceReport(
            self._window,
            now,
            sections,
            tuple(users),
            tuple(events),
            tuple(usage),
            tuple(found),
            tuple(notes),
            audit,
        )

    def build(self) -> ComplianceReport:
        """Read the data (sync client) and assemble the report."""
        http = self._auditor._client._http
        if not isinstance(http, SyncHTTP):
            raise TypeError("this auditor has an AsyncSlurmClient: use 'await builder.abuild()'")
        sections = self._sections or SECTIONS
        return self._assemble(sections, run_sync(http, self._op(sections)))

    async def abuild(self) -> ComplianceReport:
        """Read the data (async client) and assemble the report."""
        http = self._auditor._client._http
        if not isinstance(http, AsyncHTTP):
            raise TypeError("this auditor has a SlurmClient: use builder.build()")
        sections = self._sections or SECTIONS
        return self._assemble(sections, await run_async(http, self._op(sections)))

    def export(self, fmt: Format = "json", path: str | os.PathLike[str] | None = None) -> str:
        """:meth:`build`, then :meth:`ComplianceReport.export`.

        Example::

            text = auditor.generate_report(TimeRange.last(timedelta(days=1))).export("csv")
        """
        return self.build().export(fmt, path)


class ComplianceAuditor:
    """Builds compliance reports from a client's cluster (sync or async client).

    ``audit_log`` (an :class:`AuditLog` or its path) lists the client's own writes and is
    verified; ``baseline`` is how much history before a report's range defines a user's
    usual partitions and QOS.

    Example::

        report = ComplianceAuditor(client, audit_log="audit.jsonl").generate_report(
            TimeRange.last(timedelta(days=7))).build()
    """

    def __init__(
        self,
        client: Driven[SyncHTTP] | Driven[AsyncHTTP],
        *,
        audit_log: AuditLog | str | os.PathLike[str] | None = None,
        audit_key: bytes | None = None,
        baseline: timedelta = timedelta(days=30),
    ) -> None:
        engine_of(client)  # a TypeError now rather than at build time
        if not isinstance(baseline, timedelta) or baseline < timedelta(0):
            raise ValueError(f"baseline must be a non-negative timedelta, got {baseline!r}")
        self._client = client
        if audit_log is not None and not isinstance(audit_log, AuditLog):
            audit_log = AuditLog(audit_log, key=audit_key)
        self.audit_log = audit_log
        self._audit_key = (
            audit_key if audit_key is not None else (audit_log._key if audit_log else None)
        )
        self.baseline = baseline

    def generate_report(
        self, window: TimeRange | datetime, end: datetime | None = None
    ) -> ReportBuilder:
        """Start a report over ``window`` (a :class:`TimeRange`, or ``start, end``)."""
        if not isinstance(window, TimeRange):
            if end is None:
                raise TypeError("generate_report needs a TimeRange or start and end")
            window = TimeRange(as_utc(window, "start"), as_utc(end, "end"))
        return ReportBuilder(self, window)

    def _audit_entries(
        self,
    ) -> tuple[list[AuditEntry], AuditLogStatus | None, list[SecurityEvent]]:
        """Trustworthy audit entries (those before the first bad line), the log's status,
        and the event stating it."""
        log = self.audit_log
        if log is None:
            return [], None, []
        result = AuditLog.verify(log.path, key=self._audit_key)
        status, event = audit_log_status(str(log.path), result)
        if result.status == "missing":
            return [], status, [event]
        bad = result.first_bad_line
        entries = [e for e in log.entries(verify=False) if bad is None or e.line < bad]
        return entries, status, [event]
