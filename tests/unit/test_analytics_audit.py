"""The audit log: hash chain, tamper detection, client hooks, no tokens, concurrent writers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from pathlib import Path

import pytest
from test_analytics_helpers import MiniSlurm, live_job

from slurm_core import RequestHooks, StaticToken
from slurm_core.analytics import AuditLog
from slurm_core.analytics.audit import GENESIS

# A syntactically real JWT: its parts must never reach the file.
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJyb290IiwiZXhwIjo5OTk5OTk5OTk5fQ.c2lnbmF0dXJlLXBhcnQ"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write(path: Path, rows: list[bytes]) -> None:
    path.write_bytes(b"".join(rows))


def test_chain_format(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    first = log.record("note", text="hello")
    second = log.record("note", text="again")
    raw = lines(log.path)
    assert first["prev"] == GENESIS
    assert second["prev"] == hashlib.sha256(raw[0].rstrip(b"\n")).hexdigest()
    assert [json.loads(r)["seq"] for r in raw] == [1, 2]
    result = AuditLog.verify(log.path)
    assert (result.ok, result.lines, result.head) == (True, 2, second["digest"])
    assert log.head() == second["digest"]
    assert [e.fields["text"] for e in log.entries()] == ["hello", "again"]


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    AuditLog(tmp_path / "a.jsonl").record("one")
    AuditLog(tmp_path / "a.jsonl").record("two")
    assert AuditLog.verify(tmp_path / "a.jsonl").lines == 2


@pytest.fixture
def log5(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "a.jsonl")
    for i in range(5):
        log.record("write", method="DELETE", url=f"/slurm/v0.0.42/job/{i}", status=200)
    return log


def edited(raw: bytes) -> bytes:
    return raw.replace(b'"status":200', b'"status":201')


@pytest.mark.parametrize(
    ("tamper", "bad_line", "why"),
    [
        (lambda r: [*r[:2], edited(r[2]), *r[3:]], 3, "digest"),  # edit one field
        (lambda r: [*r[:4], edited(r[4])], 5, "digest"),  # edit the last line
        (lambda r: [r[0], r[1], r[3], r[4]], 3, "seq"),  # delete a line
        (lambda r: [r[0], r[2], r[1], r[3], r[4]], 2, "seq"),  # swap two lines
        (lambda r: [*r[:4], r[4].rstrip(b"\n")], 5, "incomplete"),  # cut mid-way
        (lambda r: [*r[:1], b"not json\n", *r[2:]], 2, "JSON"),
    ],
)
def test_tampering_is_detected_at_the_first_bad_line(
    log5: AuditLog, tamper: object, bad_line: int, why: str
) -> None:
    write(log5.path, tamper(lines(log5.path)))  # type: ignore[operator]
    result = AuditLog.verify(log5.path)
    assert not result
    assert result.first_bad_line == bad_line
    assert why in (result.reason or "")
    with pytest.raises(ValueError, match=f"line {bad_line}"):
        list(log5.entries())
    trusted = [e.line for e in log5.entries(verify=False) if e.line < bad_line]
    assert trusted == list(range(1, bad_line))


def test_a_rewritten_line_with_a_recomputed_digest_breaks_the_next_prev(log5: AuditLog) -> None:
    raw = lines(log5.path)
    obj = json.loads(raw[1])
    obj["status"] = 500
    body = {k: v for k, v in obj.items() if k != "digest"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    obj["digest"] = hashlib.sha256(canon).hexdigest()
    raw[1] = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    write(log5.path, raw)
    result = AuditLog.verify(log5.path)
    assert (result.first_bad_line, "prev" in (result.reason or "")) == (3, True)


def test_a_keyed_log_needs_the_key(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "k.jsonl", key=b"secret")
    log.record("one")
    assert AuditLog.verify(log.path, key=b"secret").ok
    assert not AuditLog.verify(log.path, key=b"other").ok
    assert not AuditLog.verify(log.path).ok  # plain SHA-256 does not match an HMAC


# ------------------------------------------------------- deletion, truncation, rewrites ---
def test_a_missing_log_fails_verification(tmp_path: Path) -> None:
    never = AuditLog.verify(tmp_path / "never.jsonl")
    assert (never.ok, never.status) == (False, "missing")
    log = AuditLog(tmp_path / "a.jsonl")
    log.record("one")
    log.record("two")
    log.path.unlink()  # deleted to hide what it said
    gone = AuditLog.verify(log.path)
    assert (gone.ok, gone.status) == (False, "missing")
    assert "records 2 lines" in (gone.reason or "")
    with pytest.raises(ValueError, match="no audit log"):
        list(log.entries())


def test_a_log_nobody_wrote_to_yet_is_empty_not_missing(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    log.hooks()
    result = AuditLog.verify(log.path)
    assert (result.ok, result.lines, result.status) == (True, 0, "unauthenticated")


@pytest.mark.parametrize("key", [None, b"secret"])
def test_a_cut_tail_is_detected_and_stays_detected(tmp_path: Path, key: bytes | None) -> None:
    log = AuditLog(tmp_path / "a.jsonl", key=key)
    for i in range(5):
        log.record("write", i=i)
    write(log.path, lines(log.path)[:3])  # the last two entries removed
    result = AuditLog.verify(log.path, key=key)
    assert (result.ok, result.status, result.lines) == (False, "truncated", 3)
    assert "records 5 lines" in (result.reason or "")
    log.record("write", i=99)  # the next append must not paper over the cut
    after = AuditLog.verify(log.path, key=key)
    assert (after.ok, after.status, after.first_bad_line) == (False, "truncated", 4)
    assert [e.event for e in log.entries(verify=False)][3:] == ["audit_anchor_mismatch", "write"]


def test_a_deleted_head_file_is_reported(log5: AuditLog) -> None:
    Path(f"{log5.path}.head").unlink()
    result = AuditLog.verify(log5.path)
    assert (result.ok, result.status) == (False, "unanchored")


def test_an_interrupted_head_update_is_not_tampering(log5: AuditLog) -> None:
    head = Path(f"{log5.path}.head")
    before = head.read_bytes()
    log5.record("write", i=5)
    head.write_bytes(before)  # the process died between the append and the head update
    assert AuditLog.verify(log5.path).ok
    log5.record("write", i=6)
    assert "audit_anchor_mismatch" not in log5.path.read_text()
    assert AuditLog.verify(log5.path).lines == 7


def _rewrite(path: Path, change: dict[str, object], key: bytes | None = None) -> None:
    """Edit line 2 and recompute every prev and digest after it, as an attacker would."""
    rows = [json.loads(r) for r in lines(path)]
    rows[1].update(change)
    prev, out = GENESIS, []
    for row in rows:
        row["prev"] = prev
        body = json.dumps(
            {k: v for k, v in row.items() if k != "digest"}, sort_keys=True, separators=(",", ":")
        ).encode()
        row["digest"] = (
            hmac.new(key, body, hashlib.sha256) if key else hashlib.sha256(body)
        ).hexdigest()
        line = json.dumps(row, sort_keys=True, separators=(",", ":")).encode()
        prev = hashlib.sha256(line).hexdigest()
        out.append(line + b"\n")
    write(path, out)
    head = json.loads(Path(f"{path}.head").read_text())
    head["tail"] = prev
    Path(f"{path}.head").write_text(json.dumps(head))


def test_an_unkeyed_log_is_never_reported_as_authenticated(log5: AuditLog) -> None:
    _rewrite(log5.path, {"url": "/slurm/v0.0.42/job/innocent"})
    result = AuditLog.verify(log5.path)
    # a whole rewrite with recomputed hashes cannot be told apart: the result says so
    assert (result.status, result.authenticated) == ("unauthenticated", False)


def test_a_keyed_log_rewritten_without_the_key_fails(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "k.jsonl", key=b"secret")
    for i in range(4):
        log.record("write", i=i)
    intact = AuditLog.verify(log.path, key=b"secret")
    assert (intact.ok, intact.status, intact.authenticated) == (True, "verified", True)
    _rewrite(log.path, {"i": 100}, key=b"guess")
    result = AuditLog.verify(log.path, key=b"secret")
    assert (result.ok, result.status) == (False, "tampered")
    unkeyed = AuditLog.verify(log.path)  # the key is needed to vouch for a keyed log
    assert (unkeyed.ok, unkeyed.authenticated) == (False, False)


def test_a_keyed_logs_head_file_cannot_be_forged(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "k.jsonl", key=b"secret")
    for i in range(4):
        log.record("write", i=i)
    rows = lines(log.path)[:2]
    write(log.path, rows)
    head = json.loads(Path(f"{log.path}.head").read_text())
    head.update(lines=2, tail=hashlib.sha256(rows[-1].rstrip(b"\n")).hexdigest())
    Path(f"{log.path}.head").write_text(json.dumps(head))  # the MAC no longer matches
    result = AuditLog.verify(log.path, key=b"secret")
    assert (result.ok, result.status) == (False, "tampered")
    assert "MAC" in (result.reason or "")


def test_reserved_fields_and_bad_events_are_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    with pytest.raises(ValueError, match="reserved"):
        log.record("x", prev="0")
    with pytest.raises(ValueError, match="event"):
        log.record("")


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    logs = [AuditLog(path) for _ in range(4)]  # separate objects: the file lock serializes

    def work(log: AuditLog, n: int) -> None:
        for i in range(50):
            log.record("w", writer=n, i=i)

    threads = [threading.Thread(target=work, args=(log, n)) for n, log in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = AuditLog.verify(path)
    assert (result.ok, result.lines) == (True, 200)


def _client_writes(site: MiniSlurm, audit: AuditLog, *, bearer: bool = False) -> None:
    auth = StaticToken(TOKEN, user_name=None if bearer else "root")
    seen: list[str] = []
    chained = RequestHooks(on_request=lambda info: seen.append(info.method))
    with site.client(auth=auth, hooks=audit.hooks(chain=chained, auth=auth)) as client:
        client.jobs.list()
        client.jobs.cancel(42)
        client.nodes.update("n1", state="DRAIN", reason="disk")
    assert seen.count("GET") >= 2  # the chained hooks still see everything


def test_client_hooks_record_mutating_calls_and_never_tokens(tmp_path: Path) -> None:
    site = MiniSlurm(jobs=[live_job(42)])
    audit = AuditLog(tmp_path / "audit.jsonl")
    _client_writes(site, audit)
    entries = list(audit.entries())
    assert [
        (e.event, e.fields["method"], e.fields["url"].rsplit("/", 2)[-2:]) for e in entries
    ] == [
        ("request", "DELETE", ["job", "42"]),
        ("response", "DELETE", ["job", "42"]),
        ("request", "POST", ["node", "n1"]),
        ("response", "POST", ["node", "n1"]),
    ]
    assert {e.fields["user"] for e in entries} == {"root"}
    assert entries[1].fields["status"] == 200
    text = audit.path.read_text()
    for part in TOKEN.split("."):
        assert part not in text
    assert "Bearer" not in text
    assert "x-slurm-user-token" not in text.lower()


def test_the_user_comes_from_the_token_claim_or_the_configured_actor(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    _client_writes(MiniSlurm(jobs=[live_job(42)]), audit, bearer=True)
    assert {e.fields["user"] for e in audit.entries()} == {"root"}  # the JWT's sun claim
    anonymous = AuditLog(tmp_path / "anon.jsonl", actor="ops-bot")
    with MiniSlurm(jobs=[live_job(42)]).client(hooks=anonymous.hooks()) as client:
        client.jobs.cancel(42)
    assert {e.fields["user"] for e in anonymous.entries()} == {"ops-bot"}


@pytest.mark.anyio
async def test_hooks_work_with_the_async_client(tmp_path: Path) -> None:
    site = MiniSlurm(jobs=[live_job(42)])
    audit = AuditLog(tmp_path / "audit.jsonl")
    async with site.async_client(hooks=audit.hooks()) as client:
        await client.jobs.cancel(42)
        await client.jobs.list()
    assert [e.event for e in audit.entries()] == ["request", "response"]
