"""A compliance report on a real cluster: bob's job cancelled by root, the client's own
writes from its audit log, and an edited audit log caught."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from test_analytics_live_helpers import Live, poll, spec, utcnow

from slurm_core.analytics import AuditLog, ComplianceAuditor, TimeRange
from slurm_core.testing.cluster import LocalSlurmCluster


@pytest.fixture
def live(slurm_cluster: LocalSlurmCluster) -> Iterator[Live]:
    here = Live(slurm_cluster)
    yield here
    here.close()


def test_cancellation_by_an_admin_and_the_clients_own_writes(live: Live, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    bob, root = live.client("bob", audit), live.client("root", audit)
    since = utcnow()
    job_id = live.submit(bob, spec(120, name="an-live-cancelled"))
    try:
        poll(lambda: bob.jobs.get(job_id).state.is_running, f"bob's job {job_id} running")
    finally:
        root.jobs.cancel(job_id)  # by the admin, not by bob
    records = live.recorded(root, [job_id], since)
    # What the accounting database says about who cancelled (see analytics._findings).
    assert records[job_id].raw.get("kill_request_user") == "root"

    window = TimeRange(since - timedelta(minutes=1), utcnow() + timedelta(minutes=1))
    auditor = ComplianceAuditor(root, audit_log=audit)
    report = (
        auditor.generate_report(window)
        .with_user_activity()
        .with_resource_usage()
        .with_security_events()
        .build()
    )
    cancel = next(e for e in report.activity if e.job_id == job_id and e.action == "cancelled")
    assert (cancel.user, cancel.actor) == ("bob", "root")
    bob_counts = next(u for u in report.users if u.user == "bob")
    assert bob_counts.cancelled_by_others >= 1
    event = next(e for e in report.events if e.job_id == job_id)
    assert (event.kind, event.severity, event.subject, event.actor) == (
        "job_cancelled_by_admin",
        "notice",
        "bob",
        "root",
    )
    writes = [e for e in report.events if e.kind == "client_write"]
    details = [(w.actor, w.detail) for w in writes]
    submitted = [d for a, d in details if a == "bob" and d.startswith("POST ")]
    assert any(d.endswith("/job/submit -> 200") for d in submitted), details
    cancelled = [d for a, d in details if a == "root" and d.startswith("DELETE ")]
    assert any(d.endswith(f"/job/{job_id} -> 200") for d in cancelled), details
    ran = records[job_id].elapsed
    if ran is not None and ran.total_seconds() >= 1:  # cancelled within the first second: 0 s
        assert any(u.user == "bob" and u.cpu_hours > 0 for u in report.usage)
    data = json.loads(report.export("json"))
    mine = [e for e in data["security_events"] if e["job_id"] == job_id]
    assert [e["kind"] for e in mine] == ["job_cancelled_by_admin"]
    assert f"cancelled,,bob,,{job_id},root" in report.export("csv")
    assert "job_cancelled_by_admin" in report.export("html")
    print(f"{live.release}: {len(report.events)} events, {len(writes)} client writes: {mine}")

    # Someone edits the log to hide the cancellation: the next report says where.
    lines = audit.path.read_bytes().splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if b'"DELETE"' in line)
    lines[target] = lines[target].replace(b'"user":"root"', b'"user":"bob"')
    audit.path.write_bytes(b"".join(lines))
    again = auditor.generate_report(window).with_security_events().build()
    tampered = [e for e in again.events if e.kind == "audit_log_tampered"]
    assert [e.detail.split(":")[0] for e in tampered] == [f"line {target + 1}"]
    assert not AuditLog.verify(audit.path)
