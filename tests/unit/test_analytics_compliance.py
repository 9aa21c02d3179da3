"""Compliance reports: who cancelled, unusual placements, node drains, client writes, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_analytics_helpers import T0, MiniSlurm, acct_job, live_job, node, tres

from slurm_core.analytics import AuditLog, ComplianceAuditor, TimeRange
from slurm_core.analytics._findings import activity, cancelled_by, node_events, security_events
from slurm_core.models import Association, User

# From the records' day until after the audit log's real timestamps.
RANGE = TimeRange(T0 - timedelta(hours=1), datetime.now(timezone.utc) + timedelta(days=1))
USERS = [
    User.model_validate({"name": "root", "admin_level": "Administrator"}),
    User.model_validate({"name": "alice", "admin_level": "None"}),
    User.model_validate({"name": "bob", "admin_level": "None"}),
]
ASSOCS = [Association.model_validate({"user": "bob", "account": "research", "qos": ["normal"]})]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def records() -> list:  # type: ignore[type-arg]
    return [
        acct_job(job_id=1, user="bob", state="CANCELLED", killed_by="root", seconds=30),
        acct_job(job_id=2, user="bob", state="CANCELLED", killed_by="alice", seconds=30),
        acct_job(job_id=3, user="alice", state="CANCELLED", killed_by="alice", seconds=30),
        acct_job(job_id=4, user="alice", state="TIMEOUT", seconds=60),
        acct_job(job_id=5, user="alice", state="COMPLETED", alloc=tres(cpu=2, gpu=1, node=1)),
        acct_job(job_id=6, user="bob", state="CANCELLED", seconds=10),  # not recorded who
        acct_job(job_id=7, user="bob", partition="gpu", qos="high", name="<script>x</script>"),
    ]


def test_who_cancelled_comes_from_kill_request_user() -> None:
    by_id = {j.job_id: cancelled_by(j) for j in records()}
    assert by_id == {1: "root", 2: "alice", 3: "alice", 4: None, 5: None, 6: None, 7: None}


def test_user_activity_counts_and_events() -> None:
    users, events = activity(records(), RANGE)
    counts = {u.user: u for u in users}
    assert (counts["bob"].submitted, counts["bob"].cancelled) == (4, 3)
    assert (counts["bob"].cancelled_by_others, counts["bob"].cancelled_by_self) == (2, 0)
    assert (counts["alice"].cancelled_by_self, counts["alice"].failed) == (1, 1)
    assert counts["alice"].completed == 1
    cancels = sorted((e.job_id, e.actor, e.detail) for e in events if e.action == "cancelled")
    assert cancels == [
        (1, "root", "by root"),
        (2, "alice", "by alice"),
        (3, "alice", "by the owner"),
        (6, None, "canceller not recorded"),
    ]
    assert sum(e.action == "submitted" for e in events) == 7


def test_security_events_for_jobs() -> None:
    baseline = [acct_job(user="bob", start=T0 - timedelta(days=3)) for _ in range(3)]
    found = security_events(records(), RANGE, users=USERS, associations=ASSOCS, baseline=baseline)
    kinds = sorted((e.kind, e.job_id, e.actor) for e in found)
    assert kinds == [
        ("job_cancelled_by_admin", 1, "root"),
        ("job_cancelled_by_other_user", 2, "alice"),
        ("qos_outside_association", 7, "bob"),
        ("unusual_partition", 7, "bob"),
        ("unusual_qos", 7, "bob"),
    ]
    severity = {e.kind: e.severity for e in found}
    assert severity["job_cancelled_by_other_user"] == "warning"
    # Without enough baseline history nobody is "unusual".
    thin = security_events(records(), RANGE, baseline=baseline[:2])
    assert not [e for e in thin if e.kind.startswith("unusual")]


def test_node_events_name_reason_and_who_set_it() -> None:
    nodes = [
        node("n1"),
        node("n2", flags=["DRAIN"], reason="bad disk", set_by="root", changed=T0),
        node("n3", state="DOWN", flags=["NOT_RESPONDING"], reason="Not responding"),
    ]
    events = node_events(nodes)
    assert [(e.kind, e.subject, e.actor, e.time) for e in events] == [
        ("node_drained", "n2", "root", T0),
        ("node_down", "n3", None, None),
    ]
    assert events[0].detail == "IDLE+DRAIN: bad disk"


def _site() -> MiniSlurm:
    return MiniSlurm(
        accounting=records(),
        jobs=[live_job(42)],
        nodes=[node("n1", flags=["DRAIN"], reason="maint", set_by="root", changed=T0)],
        users=USERS,
        associations=ASSOCS,
    )


def test_report_through_the_client_with_the_audit_log(tmp_path: Path) -> None:
    site = _site()
    audit = AuditLog(tmp_path / "audit.jsonl")
    with site.client(hooks=audit.hooks(), headers={"X-SLURM-USER-NAME": "root"}) as client:
        client.jobs.cancel(42)
        auditor = ComplianceAuditor(client, audit_log=audit.path)
        report = (
            auditor.generate_report(RANGE.start, RANGE.end)
            .with_user_activity()
            .with_resource_usage()
            .with_security_events()
            .build()
        )
    kinds = [e.kind for e in report.events]
    assert "client_write" in kinds
    write = next(e for e in report.events if e.kind == "client_write")
    assert write.detail.endswith("/slurm/v0.0.42/job/42 -> 200")
    assert write.actor == "root"
    assert "node_drained" in kinds
    assert {"job_cancelled_by_admin", "job_cancelled_by_other_user"} <= set(kinds)
    usage = {(u.user, u.account): u for u in report.usage}
    assert usage[("alice", "research")].gpu_hours == Decimal("1.000000")
    assert report.notes == ()

    # Edit the log: the report names the first bad line and keeps only what precedes it.
    raw = audit.path.read_bytes().splitlines(keepends=True)
    raw[1] = raw[1].replace(b'"status":200', b'"status":404')
    audit.path.write_bytes(b"".join(raw))
    with site.client() as client:
        again = ComplianceAuditor(client, audit_log=audit.path).generate_report(RANGE).build()
    tampered = [e for e in again.events if e.kind == "audit_log_tampered"]
    assert len(tampered) == 1
    assert tampered[0].severity == "critical"
    assert tampered[0].detail.startswith("line 2:")
    writes = [e for e in again.events if e.kind == "client_write"]
    assert [w.detail.rsplit("-> ", 1)[1] for w in writes] == ["no answer"]  # response untrusted


@pytest.mark.anyio
async def test_async_build_and_sections() -> None:
    site = _site()
    async with site.async_client() as client:
        auditor = ComplianceAuditor(client)
        report = await auditor.generate_report(RANGE).with_resource_usage().abuild()
        assert report.sections == ("resource_usage",)
        assert report.users == ()
        assert not [p for _, p, _, _ in site.requests if p.endswith("/nodes")]
        with pytest.raises(TypeError, match="abuild"):
            auditor.generate_report(RANGE).build()
        full = await auditor.generate_report(RANGE).abuild()  # nothing chosen: all sections
    assert full.sections == ("user_activity", "resource_usage", "security_events")
    assert "no audit log: the client's own writes are not listed" in full.notes


def test_exports_json_csv_html_escaped(tmp_path: Path) -> None:
    with _site().client() as client:
        builder = ComplianceAuditor(client).generate_report(RANGE)
        report = builder.build()
        html = builder.export("html", tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == html
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert html.count("<table>") == 4
    data = json.loads(report.export("json"))
    assert set(data) >= {"user_activity", "resource_usage", "security_events", "range"}
    assert any(e["kind"] == "job_cancelled_by_admin" for e in data["security_events"])
    rows = list(csv.DictReader(io.StringIO(report.export("csv"))))
    assert {r["section"] for r in rows} == {"user_activity", "resource_usage", "security_events"}
    cancel = next(r for r in rows if r["kind"] == "cancelled" and r["job_id"] == "1")
    assert (cancel["user"], cancel["actor"]) == ("bob", "root")
    with pytest.raises(ValueError, match="format"):
        report.export("pdf")  # type: ignore[arg-type]


def _audit_status(tmp_path: Path, damage: str) -> tuple[Any, list[Any], dict[str, Any]]:
    key = b"k" * 32 if damage == "keyed" else None
    audit = AuditLog(tmp_path / "audit.jsonl", key=key)
    for i in range(4):
        audit.record("request", method="DELETE", url=f"/slurm/v0.0.42/job/{i}", attempt=1)
    if damage == "deleted":
        audit.path.unlink()
    elif damage == "truncated":
        audit.path.write_bytes(b"".join(audit.path.read_bytes().splitlines(True)[:2]))
    with _site().client() as client:
        auditor = ComplianceAuditor(client, audit_log=audit.path, audit_key=key)
        report = auditor.generate_report(RANGE).with_security_events().build()
    events = [e for e in report.events if e.kind.startswith("audit_log_")]
    return report.audit_log, events, json.loads(report.export("json"))["audit_log"]


@pytest.mark.parametrize(
    ("damage", "status", "severity", "kept"),
    [
        ("keyed", "verified", "info", 4),
        ("none", "unauthenticated", "warning", 4),
        ("truncated", "truncated", "critical", 2),
        ("deleted", "missing", "critical", 0),
    ],
)
def test_the_report_states_the_audit_logs_status(
    tmp_path: Path, damage: str, status: str, severity: str, kept: int
) -> None:
    audit_log, events, exported = _audit_status(tmp_path, damage)
    assert [(e.kind, e.severity) for e in events] == [(f"audit_log_{status}", severity)]
    assert audit_log.status == status
    assert exported["status"] == status
    assert exported["authenticated"] is (status == "verified")
    assert exported["lines"] == kept
