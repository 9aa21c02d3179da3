"""The audit log: hash chain, tamper detection, client hooks, no tokens, concurrent writers."""

from __future__ import annotations

import hashlib
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
    assert AuditLog.verify(tmp_path / "missing.jsonl").ok


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
