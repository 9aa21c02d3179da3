"""SyncHTTP/AsyncHTTP: retries, Retry-After, error mapping, hooks, logging, pooling, sockets.

Each behaviour runs against both engines (the ``mode`` fixture); fake sleeps record delays.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import gzip
import json
import logging
import os
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slurm_core._body import parse_json
from slurm_core._exceptions import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmConnectionError,
    SlurmError,
    SlurmTimeoutError,
)
from slurm_core._http import AsyncHTTP, SyncHTTP
from slurm_core._options import ClientOptions, RequestHooks, RequestInfo, ResponseInfo
from slurm_core._retry import RetryPolicy, backoff_delay, parse_retry_after
from slurm_core._tracing import Tracing
from slurm_core.auth import CallableAuth, StaticToken

pytestmark = pytest.mark.anyio

BASE_URL = "http://slurm.test:6820"  # what the engine_factory fixture uses
EngineFactory = Callable[..., Any]

NO_BREAKER: dict[str, Any] = {"circuit_breaker": None}
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.SECRET-SIGNATURE-do-not-leak"


class Script:
    """A MockTransport handler that plays a list of outcomes (responses or exceptions)."""

    def __init__(self, *outcomes: httpx.Response | Exception | int) -> None:
        self.outcomes = list(outcomes)
        self.requests: list[httpx.Request] = []
        self.tokens: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.tokens.append(request.headers.get("x-slurm-user-token"))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, int):
            return httpx.Response(outcome, json={"errors": [], "status": outcome})
        return outcome

    @property
    def calls(self) -> int:
        return len(self.requests)


def _exc(cls: type[httpx.TransportError], msg: str = "boom") -> httpx.TransportError:
    return cls(msg)


# --- success and errors ---------------------------------------------------------------------
async def test_success_returns_read_response(engine_factory: EngineFactory) -> None:
    script = Script(httpx.Response(200, json={"jobs": []}))
    eng = engine_factory(script)
    resp = await eng.request("GET", "/slurm/v0.0.40/jobs", params={"update_time": 5})
    assert resp.status_code == 200
    assert parse_json(resp) == {"jobs": []}
    sent = script.requests[0]
    assert str(sent.url) == f"{BASE_URL}/slurm/v0.0.40/jobs?update_time=5"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["user-agent"].startswith("slurm-client/")


async def test_json_body_is_encoded(engine_factory: EngineFactory) -> None:
    script = Script(200)
    eng = engine_factory(script)
    payload = {"job": {"name": "ü", "environment": ["A=1"]}, "script": "#!/bin/sh\n"}
    await eng.request("POST", "/slurm/v0.0.40/job/submit", json=payload, headers={"X-A": "b"})
    sent = script.requests[0]
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-a"] == "b"
    assert json.loads(sent.content) == payload


async def test_error_status_raises_typed_error(engine_factory: EngineFactory) -> None:
    body = {"errors": [{"error_number": 2017, "error": "Invalid job id specified"}]}
    eng = engine_factory(Script(httpx.Response(404, json=body)), **NO_BREAKER)
    with pytest.raises(NotFoundError) as info:
        await eng.request("GET", "/slurm/v0.0.40/job/99")
    err = info.value
    assert (err.status_code, err.method) == (404, "GET")
    assert err.url == f"{BASE_URL}/slurm/v0.0.40/job/99"
    assert err.error_numbers == [2017]


async def test_2205_unknown_job_as_500_is_not_found_and_not_retried(
    engine_factory: EngineFactory,
) -> None:
    body = {"errors": [{"error_number": 2017, "error": "Invalid job id specified"}]}
    script = Script(httpx.Response(500, json=body))
    eng = engine_factory(script, **NO_BREAKER)
    with pytest.raises(NotFoundError):
        await eng.request("GET", "/slurm/v0.0.38/job/99")
    assert script.calls == 1
    assert eng.sleeps == []


async def test_malformed_error_body_is_typed(engine_factory: EngineFactory) -> None:
    eng = engine_factory(Script(httpx.Response(400, content=b'{"errors": [{"err')), **NO_BREAKER)
    with pytest.raises(InvalidRequestError) as info:
        await eng.request("GET", "/x")
    assert info.value.body == '{"errors": [{"err'


# --- retry policy: reads --------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_get_retries_5xx_up_to_max_attempts(
    engine_factory: EngineFactory, status: int
) -> None:
    script = Script(status)
    eng = engine_factory(script, **NO_BREAKER)
    with pytest.raises(ServerError) as info:
        await eng.request("GET", "/slurm/v0.0.40/diag")
    assert info.value.status_code == status
    assert script.calls == 4
    assert len(eng.sleeps) == 3
    # 0.2, 0.6, 1.8 nominal, +-25% jitter
    for nominal, slept in zip((0.2, 0.6, 1.8), eng.sleeps, strict=True):
        assert nominal * 0.75 <= slept <= nominal * 1.25


async def test_get_recovers_after_transient_5xx(engine_factory: EngineFactory) -> None:
    script = Script(503, 502, httpx.Response(200, json={"ok": True}))
    eng = engine_factory(script, **NO_BREAKER)
    resp = await eng.request("GET", "/x")
    assert parse_json(resp) == {"ok": True}
    assert script.calls == 3


async def test_get_survives_slurmrestd_restart(engine_factory: EngineFactory) -> None:
    # Connection refused for a moment, then the restarted slurmrestd answers.
    script = Script(
        httpx.ConnectError("refused"), httpx.ConnectError("refused"), httpx.Response(200)
    )
    eng = engine_factory(script, **NO_BREAKER)
    assert (await eng.request("GET", "/slurm/v0.0.40/ping")).status_code == 200
    assert script.calls == 3
    assert sum(eng.sleeps) >= 0.2 * 0.75 + 0.6 * 0.75


@pytest.mark.parametrize(
    ("exc", "expected", "phase"),
    [
        (httpx.ReadTimeout("slow"), SlurmTimeoutError, "read"),
        (httpx.WriteTimeout("slow"), SlurmTimeoutError, "write"),
        (httpx.ConnectTimeout("slow"), SlurmTimeoutError, "connect"),
        (httpx.PoolTimeout("busy"), SlurmTimeoutError, "pool"),
        (httpx.ReadError("reset"), SlurmConnectionError, None),
        (httpx.RemoteProtocolError("closed"), SlurmConnectionError, None),
        (httpx.ConnectError("refused"), SlurmConnectionError, None),
    ],
)
async def test_get_retries_transport_errors_then_maps_them(
    engine_factory: EngineFactory,
    exc: httpx.TransportError,
    expected: type[SlurmConnectionError],
    phase: str | None,
) -> None:
    script = Script(exc)
    eng = engine_factory(script, **NO_BREAKER)
    with pytest.raises(expected) as info:
        await eng.request("GET", "/slurm/v0.0.40/jobs")
    assert type(info.value) is expected
    assert script.calls == 4
    assert info.value.__cause__ is exc
    assert info.value.method == "GET"
    assert info.value.url == f"{BASE_URL}/slurm/v0.0.40/jobs"
    if phase:
        assert isinstance(info.value, SlurmTimeoutError)
        assert info.value.phase == phase


async def test_deterministic_transport_errors_are_not_retried(
    engine_factory: EngineFactory,
) -> None:
    script = Script(httpx.UnsupportedProtocol("nope"))
    eng = engine_factory(script, **NO_BREAKER)
    with pytest.raises(SlurmConnectionError):
        await eng.request("GET", "/x")
    assert script.calls == 1


async def test_max_attempts_one_disables_retry(engine_factory: EngineFactory) -> None:
    script = Script(503)
    eng = engine_factory(script, retry=RetryPolicy(max_attempts=1), **NO_BREAKER)
    with pytest.raises(ServerError):
        await eng.request("GET", "/x")
    assert script.calls == 1


# --- retry policy: writes -------------------------------------------------------------------
@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH"])
@pytest.mark.parametrize(
    "outcome",
    [
        503,
        500,
        429,
        httpx.ReadTimeout("maybe processed"),
        httpx.WriteTimeout("maybe processed"),
        httpx.RemoteProtocolError("Server disconnected without sending a response"),
        httpx.ReadError("reset"),
    ],
    ids=["503", "500", "429", "read-timeout", "write-timeout", "disconnect", "read-error"],
)
async def test_non_idempotent_not_retried_once_it_may_have_left(
    engine_factory: EngineFactory, method: str, outcome: int | Exception
) -> None:
    script = Script(outcome)
    eng = engine_factory(script, **NO_BREAKER)
    with pytest.raises(SlurmError):
        await eng.request(method, "/slurm/v0.0.40/job/submit", json={"job": {}})
    assert script.calls == 1
    assert eng.sleeps == []


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("syn lost"), httpx.PoolTimeout("busy")],
    ids=["connect-error", "connect-timeout", "pool-timeout"],
)
async def test_post_retried_when_it_never_left(
    engine_factory: EngineFactory, exc: httpx.TransportError
) -> None:
    script = Script(exc, exc, httpx.Response(200, json={"job_id": 7}))
    eng = engine_factory(script, **NO_BREAKER)
    resp = await eng.request("POST", "/slurm/v0.0.40/job/submit", json={"job": {}})
    assert parse_json(resp) == {"job_id": 7}
    assert script.calls == 3
    assert len(eng.sleeps) == 2


async def test_idempotent_flag_overrides_method(engine_factory: EngineFactory) -> None:
    post = Script(503, 200)
    eng = engine_factory(post, **NO_BREAKER)
    await eng.request("POST", "/slurm/v0.0.40/job/1", json={}, idempotent=True)
    assert post.calls == 2

    get = Script(503)
    eng = engine_factory(get, **NO_BREAKER)
    with pytest.raises(ServerError):
        await eng.request("GET", "/x", idempotent=False)
    assert get.calls == 1


async def test_retries_resend_the_real_token_and_errors_carry_none(
    engine_factory: EngineFactory,
) -> None:
    script = Script(503, 503, 200)
    eng = engine_factory(script, auth=StaticToken(TOKEN, user_name="alice"), **NO_BREAKER)
    await eng.request("GET", "/x")
    assert script.tokens == [TOKEN, TOKEN, TOKEN]

    failing = Script(503)
    eng = engine_factory(failing, auth=StaticToken(TOKEN, user_name="alice"), **NO_BREAKER)
    with pytest.raises(ServerError) as info:
        await eng.request("GET", "/x")
    assert failing.tokens == [TOKEN] * 4
    assert info.value.response is not None
    headers = info.value.response.request.headers
    assert headers["x-slurm-user-token"] == "<redacted>"
    assert headers["x-slurm-user-name"] == "alice"


async def test_transport_error_request_carries_no_token(engine_factory: EngineFactory) -> None:
    eng = engine_factory(Script(httpx.ReadTimeout("slow")), auth=StaticToken(TOKEN), **NO_BREAKER)
    with pytest.raises(SlurmTimeoutError) as info:
        await eng.request("POST", "/x", json={})
    cause = info.value.__cause__
    assert isinstance(cause, httpx.ReadTimeout)
    assert cause.request.headers["x-slurm-user-token"] == "<redacted>"


# --- Retry-After ----------------------------------------------------------------------------
async def test_retry_after_seconds_honoured(engine_factory: EngineFactory) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3"}), 200)
    eng = engine_factory(script, **NO_BREAKER)
    await eng.request("GET", "/x")
    assert eng.sleeps == [3.0]


async def test_retry_after_is_obeyed_beyond_max_delay(engine_factory: EngineFactory) -> None:
    """The server's pause is not cut to the backoff cap (which used to retry early)."""
    script = Script(httpx.Response(503, headers={"Retry-After": "20"}), 200)
    eng = engine_factory(script, retry=RetryPolicy(max_delay=5.0), **NO_BREAKER)
    await eng.request("GET", "/x")
    assert eng.sleeps == [20.0]


@pytest.mark.parametrize(
    ("asked", "options"),
    [
        ("3600", {}),
        ("30", {"call_timeout": 10.0}),
        ("30", {"retry": RetryPolicy(max_retry_after=5)}),
    ],
)
async def test_a_retry_after_that_does_not_fit_is_not_waited_for(
    engine_factory: EngineFactory, asked: str, options: dict[str, Any]
) -> None:
    """Longer than ``max_retry_after`` or the call's deadline: the error at once, no nap."""
    script = Script(httpx.Response(429, headers={"Retry-After": asked}), 200)
    eng = engine_factory(script, **options, **NO_BREAKER)
    with pytest.raises(RateLimitError) as info:
        await eng.request("GET", "/x")
    assert info.value.retry_after == float(asked)
    assert (eng.sleeps, script.calls) == ([], 1)


async def test_retry_after_http_date(engine_factory: EngineFactory) -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=4)
    header = email.utils.format_datetime(when, usegmt=True)
    script = Script(httpx.Response(503, headers={"Retry-After": header}), 200)
    eng = engine_factory(script, **NO_BREAKER)
    await eng.request("GET", "/x")
    assert len(eng.sleeps) == 1
    assert 2.0 <= eng.sleeps[0] <= 4.0


async def test_rate_limit_error_after_exhaustion(engine_factory: EngineFactory) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "1"}))
    eng = engine_factory(script, **NO_BREAKER)
    with pytest.raises(RateLimitError) as info:
        await eng.request("GET", "/x")
    assert info.value.retry_after == 1.0
    assert eng.sleeps == [1.0, 1.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9))
def test_parse_retry_after_seconds(n: int) -> None:
    assert parse_retry_after(str(n)) == float(n)
    assert parse_retry_after(f"  {n} ") == float(n)


@settings(max_examples=100, deadline=None)
@given(st.integers(-86_400, 86_400))
def test_parse_retry_after_http_date(offset: int) -> None:
    now = dt.datetime(2025, 6, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    header = email.utils.format_datetime(now + dt.timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, now=now) == max(0, offset)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_retry_after_garbage_never_raises(value: str) -> None:
    result = parse_retry_after(value)
    assert result is None or result >= 0


@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(1, 200),
    initial=st.floats(0, 10),
    cap=st.floats(0, 60),
    factor=st.floats(1, 10),
    jitter=st.booleans(),
)
def test_backoff_is_within_bounds(
    attempt: int, initial: float, cap: float, factor: float, jitter: bool
) -> None:
    policy = RetryPolicy(initial_delay=initial, max_delay=cap, backoff_factor=factor, jitter=jitter)
    delay = backoff_delay(policy, attempt)
    assert 0.0 <= delay <= cap
    if not jitter:
        assert delay == min(initial * factor ** (attempt - 1), cap)


def test_backoff_grows_without_jitter() -> None:
    policy = RetryPolicy(jitter=False)
    assert [backoff_delay(policy, n) for n in (1, 2, 3, 4, 5)] == pytest.approx(
        [0.2, 0.6, 1.8, 5.4, 8.0]
    )


# --- rate limit, hooks, logging -------------------------------------------------------------
async def test_client_side_rate_limit_spaces_requests(engine_factory: EngineFactory) -> None:
    eng = engine_factory(Script(200), rate_limit=2.0)
    for _ in range(4):
        await eng.request("GET", "/x")
    # Burst of 2, then one token every 0.5 s (the fake sleep does not refill the bucket).
    # Real time passing between requests can only shorten the waits.
    assert len(eng.sleeps) == 2
    assert 0.3 < eng.sleeps[0] <= 0.5
    assert 0.8 < eng.sleeps[1] <= 1.0


async def test_hooks_see_redacted_views_per_attempt(
    engine_factory: EngineFactory, mode: str
) -> None:
    seen: list[RequestInfo | ResponseInfo] = []

    if mode == "async":

        async def on_request(info: RequestInfo) -> None:
            seen.append(info)

    else:

        def on_request(info: RequestInfo) -> None:  # type: ignore[misc]
            seen.append(info)

    hooks = RequestHooks(on_request=on_request, on_response=seen.append)
    script = Script(503, httpx.Response(200, headers={"Set-Cookie": "s=1"}))
    eng = engine_factory(
        script,
        hooks=hooks,
        headers={"Authorization": f"Bearer {TOKEN}"},
        **NO_BREAKER,
    )
    await eng.request("GET", f"/x?token={TOKEN}&a=1")
    assert [type(x).__name__ for x in seen] == [
        "RequestInfo",
        "ResponseInfo",
        "RequestInfo",
        "ResponseInfo",
    ]
    req1, resp1, _req2, resp2 = seen
    assert isinstance(req1, RequestInfo)
    assert isinstance(resp2, ResponseInfo)
    assert (req1.attempt, resp1.status_code, resp2.status_code) == (1, 503, 200)  # type: ignore[union-attr]
    assert req1.headers["authorization"] == "<redacted>"
    assert resp2.headers["set-cookie"] == "<redacted>"
    assert "a=1" in req1.url
    assert TOKEN not in repr(seen)


async def test_debug_log_line(
    engine_factory: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    eng = engine_factory(Script(503, 200), **NO_BREAKER)
    with caplog.at_level(logging.DEBUG, logger="slurm_core.http"):
        await eng.request("GET", "/slurm/v0.0.40/diag")
    lines = [r.getMessage() for r in caplog.records if r.name == "slurm_core.http"]
    assert any(
        line.startswith(f"GET {BASE_URL}/slurm/v0.0.40/diag -> 200 in ") and "(attempt 2)" in line
        for line in lines
    )
    assert any(line.startswith("retrying GET") and "HTTP 503" in line for line in lines)


# --- JSON parsing ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "hint"),
    [
        (b'{"jobs": [{"job_id": 1', "truncated"),
        (b"<html>oops</html>", "not valid JSON"),
        (b"", "empty"),
    ],
)
def test_parse_json_wraps_decoder_errors(content: bytes, hint: str) -> None:
    resp = httpx.Response(200, content=content)
    with pytest.raises(ResponseValidationError, match=hint) as info:
        parse_json(resp, what="jobs")
    assert info.value.response is resp
    assert "jobs" in str(info.value)


async def test_undecodable_body_is_response_validation_error(
    engine_factory: EngineFactory,
) -> None:
    # A stream, so decoding happens when the engine reads the body, as on the wire.
    bad = httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip at all")
    )
    eng = engine_factory(Script(bad), **NO_BREAKER)
    with pytest.raises(ResponseValidationError):
        await eng.request("GET", "/x")


async def test_gzip_body_is_decoded(engine_factory: EngineFactory) -> None:
    good = httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, content=gzip.compress(b'{"a": 1}')
    )
    eng = engine_factory(Script(good))
    assert parse_json(await eng.request("GET", "/x")) == {"a": 1}


# --- configuration --------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["slurm:6820", "ftp://h/", "/relative", ""])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(ConfigurationError):
        SyncHTTP(ClientOptions(base_url=url))


def test_transport_kind_must_match() -> None:
    class OnlySync(httpx.BaseTransport):
        pass

    class OnlyAsync(httpx.AsyncBaseTransport):
        pass

    with pytest.raises(ConfigurationError):
        AsyncHTTP(ClientOptions(base_url=BASE_URL, transport=OnlySync()))
    with pytest.raises(ConfigurationError):
        SyncHTTP(ClientOptions(base_url=BASE_URL, transport=OnlyAsync()))


def test_tls_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="TLS"):
        SyncHTTP(ClientOptions(base_url="https://h", verify=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigurationError, match="TLS"):
        SyncHTTP(ClientOptions(base_url="https://h", cert=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigurationError, match="SSLContext"):
        SyncHTTP(
            ClientOptions(base_url="https://h", verify=ssl.create_default_context(), cert="c.pem")
        )


def test_ca_directory_and_float_timeout(tmp_path: Path) -> None:
    with SyncHTTP(ClientOptions(base_url="https://h", verify=str(tmp_path), timeout=2.5)) as http:
        assert http._client.timeout == httpx.Timeout(2.5, connect=2.5)


def test_default_timeouts() -> None:
    with SyncHTTP(ClientOptions(base_url=BASE_URL)) as http:
        timeout = http._client.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (5.0, 30.0, 30.0, 30.0)


# --- real sockets: keep-alive, unix socket, timeouts, refused -------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Buffered: headers and body leave in one segment (else Nagle + delayed ACK add 40 ms).
    wbufsize = 65536
    server: Any

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests += 1
        delay = float(self.headers.get("X-Delay", "0"))
        if delay:
            time.sleep(delay)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(server: socketserver.BaseServer) -> Iterator[Any]:
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.connections = 0  # type: ignore[attr-defined]
    server.requests = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # e.g. writing to a client that timed out: expected in the timeout test


@pytest.fixture
def tcp_server() -> Iterator[Any]:
    yield from _serve(_QuietHTTPServer(("127.0.0.1", 0), _Handler))


class _UnixHTTPServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def unix_server() -> Iterator[Any]:
    # AF_UNIX paths are short (108 bytes): use a short temp dir, not pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="sc") as tmp:
        path = os.path.join(tmp, "rest.sock")
        server = _UnixHTTPServer(path, _Handler)
        server.path = path  # type: ignore[attr-defined]
        yield from _serve(server)


def _engine_for(mode: str, options: ClientOptions) -> SyncHTTP | AsyncHTTP:
    return SyncHTTP(options) if mode == "sync" else AsyncHTTP(options)


async def _call(http: SyncHTTP | AsyncHTTP, method: str, path: str, **kw: Any) -> httpx.Response:
    if isinstance(http, AsyncHTTP):
        return await http.request(method, path, **kw)
    return http.request(method, path, **kw)


async def _close(http: SyncHTTP | AsyncHTTP) -> None:
    if isinstance(http, AsyncHTTP):
        await http.aclose()
    else:
        http.close()


async def test_keep_alive_reuses_one_connection(tcp_server: Any, mode: str) -> None:
    host, port = tcp_server.server_address
    http = _engine_for(mode, ClientOptions(base_url=f"http://{host}:{port}"))
    try:
        for _ in range(20):
            assert (await _call(http, "GET", "/slurm/v0.0.40/ping")).status_code == 200
    finally:
        await _close(http)
    assert tcp_server.requests == 20
    assert tcp_server.connections == 1


async def test_unix_socket(unix_server: Any, mode: str) -> None:
    http = _engine_for(mode, ClientOptions(base_url="http://localhost", uds=unix_server.path))
    try:
        resp = await _call(http, "GET", "/slurm/v0.0.40/ping")
        assert parse_json(resp) == {"ok": True}
    finally:
        await _close(http)


async def test_real_read_timeout_post_not_retried(tcp_server: Any, mode: str) -> None:
    host, port = tcp_server.server_address
    opts = ClientOptions(
        base_url=f"http://{host}:{port}",
        timeout=httpx.Timeout(0.2),
        circuit_breaker=None,
    )
    http = _engine_for(mode, opts)
    try:
        with pytest.raises(SlurmTimeoutError) as info:
            await _call(
                http, "POST", "/slurm/v0.0.40/job/submit", json={}, headers={"X-Delay": "0.5"}
            )
    finally:
        await _close(http)
    assert info.value.phase == "read"
    assert tcp_server.requests == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_real_connection_refused(mode: str) -> None:
    opts = ClientOptions(
        base_url=f"http://127.0.0.1:{_free_port()}",
        retry=RetryPolicy(max_attempts=2, initial_delay=0.0),
        circuit_breaker=None,
    )
    http = _engine_for(mode, opts)
    try:
        with pytest.raises(SlurmConnectionError) as info:
            await _call(http, "GET", "/slurm/v0.0.40/ping")
    finally:
        await _close(http)
    assert not isinstance(info.value, SlurmTimeoutError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# --- the token never leaks ------------------------------------------------------------------
async def test_token_never_appears_in_logs_reprs_or_errors(
    engine_factory: EngineFactory, caplog: pytest.LogCaptureFixture
) -> None:
    texts: list[str] = []
    hooks = RequestHooks(
        on_request=lambda i: texts.append(repr(i)), on_response=lambda r: texts.append(repr(r))
    )
    calls = {"n": 0}

    def rotating() -> str:
        calls["n"] += 1
        return f"{TOKEN}-{calls['n']}"

    scenarios: list[tuple[Script, dict[str, Any], str]] = [
        (Script(200), {"auth": StaticToken(TOKEN, user_name="alice")}, "GET"),
        (Script(503, 503, 503, 503), {"auth": StaticToken(TOKEN)}, "GET"),
        (
            Script(httpx.Response(401, text="Authentication failure")),
            {"auth": StaticToken(TOKEN)},
            "GET",
        ),
        (
            Script(httpx.Response(511, json={"errors": [{"error_number": 1007}]})),
            {"auth": CallableAuth(rotating)},
            "GET",
        ),
        (
            Script(httpx.Response(500, text=f"echoing {TOKEN} back")),
            {"auth": StaticToken(TOKEN)},
            "POST",
        ),
        (Script(httpx.ReadTimeout(f"timeout {TOKEN}")), {"auth": StaticToken(TOKEN)}, "POST"),
        (Script(httpx.ConnectError("refused")), {"auth": StaticToken(TOKEN)}, "GET"),
        (Script(200), {"headers": {"Authorization": f"Bearer {TOKEN}"}}, "GET"),
    ]
    with caplog.at_level(logging.DEBUG):
        for script, opts, method in scenarios:
            eng = engine_factory(script, hooks=hooks, **opts)
            texts.append(repr(eng.http.options))
            texts.append(repr(opts.get("auth")))
            texts.append(str(opts.get("auth")))
            try:
                resp = await eng.request(method, f"/slurm/v0.0.40/jobs?token={TOKEN}")
                # A successful response's request keeps its headers, as in plain httpx
                # (scrubbing costs ~5 us a request); its repr and the response's are checked.
                texts.append(repr(resp))
            except SlurmError as exc:
                texts.extend([str(exc), repr(exc), repr(vars(exc))])
                response = getattr(exc, "response", None)
                if response is not None:
                    texts.append(repr(response.request.headers))
    texts.extend(record.getMessage() for record in caplog.records)
    texts.extend(repr(record.args) for record in caplog.records)
    assert len(texts) > 40
    leaked = [t[:200] for t in texts if "SECRET-SIGNATURE" in t]
    assert leaked == []


# --- misc -----------------------------------------------------------------------------------
async def test_auth_rejection_surfaces_as_authentication_error(
    engine_factory: EngineFactory,
) -> None:
    eng = engine_factory(Script(httpx.Response(401, text="Authentication failure")))
    with pytest.raises(AuthenticationError, match="Authentication failure"):
        await eng.request("GET", "/x")


def test_options_are_immutable_and_reusable() -> None:
    opts = ClientOptions(base_url=BASE_URL)
    with pytest.raises(AttributeError):
        opts.base_url = "http://other"  # type: ignore[misc]
    assert ClientOptions(base_url=BASE_URL).retry == opts.retry


def test_sync_context_manager_closes() -> None:
    with SyncHTTP(
        ClientOptions(base_url=BASE_URL, transport=httpx.MockTransport(Script(200)))
    ) as h:
        h.request("GET", "/x")
    assert h._client.is_closed


# --- tracing (OpenTelemetry is optional: a fake module stands in for opentelemetry.trace) ---
class _FakeSpan:
    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind
        self.attributes: dict[str, Any] = {}
        self.status: tuple[str, str] | None = None
        self.ended = False

    def is_recording(self) -> bool:
        return True

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_status(self, status: tuple[str, str]) -> None:
        self.status = status

    def end(self) -> None:
        self.ended = True


class _FakeOtel:
    class SpanKind:
        CLIENT = "client"

    class StatusCode:
        ERROR = "error"

    def __init__(self) -> None:
        self.spans: list[_FakeSpan] = []

    @staticmethod
    def Status(code: str, description: str) -> tuple[str, str]:
        return (code, description)

    def get_tracer(self, name: str) -> _FakeOtel:
        return self

    def start_span(self, name: str, kind: str) -> _FakeSpan:
        span = _FakeSpan(name, kind)
        self.spans.append(span)
        return span


async def test_one_span_per_request_with_redacted_url(engine_factory: EngineFactory) -> None:
    eng = engine_factory(Script(503, 200, httpx.Response(404)), **NO_BREAKER)
    otel = _FakeOtel()
    eng.http._tracing = Tracing(otel)
    await eng.request("GET", f"/slurm/v0.0.40/jobs?token={TOKEN}")
    with pytest.raises(NotFoundError):
        await eng.request("DELETE", "/slurm/v0.0.40/job/1")
    ok, failed = otel.spans
    assert (ok.name, ok.kind, ok.ended, ok.status) == ("slurmrestd GET", "client", True, None)
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.attributes["http.request.resend_count"] == 1
    assert ok.attributes["server.port"] == 6820
    assert TOKEN not in ok.attributes["url.full"]
    assert failed.ended
    assert failed.status == ("error", "NotFoundError")
    assert failed.attributes["error.type"] == "NotFoundError"


def test_tracing_off_or_absent() -> None:
    assert SyncHTTP(ClientOptions(base_url=BASE_URL, tracing=False))._tracing is None


# --- TLS: custom CA, mutual TLS (certificates made with the openssl CLI) --------------------
def _openssl(*args: str, cwd: Path) -> None:
    import subprocess

    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=test-ca", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                 "-extfile", "san.ext", cwd=d)  # fmt: skip
    return d


@pytest.fixture
def mtls_server(pki: Path) -> Iterator[Any]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    ctx.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    ctx.verify_mode = ssl.CERT_REQUIRED

    class TLSServer(ThreadingHTTPServer):
        daemon_threads = True

        accepts = 0

        def get_request(self) -> tuple[socket.socket, Any]:
            sock, addr = super().get_request()
            self.accepts += 1  # counted before the handshake, which may fail
            return ctx.wrap_socket(sock, server_side=True), addr

    server = TLSServer(("127.0.0.1", 0), _Handler)
    yield from _serve(server)


async def test_mutual_tls_with_custom_ca(mtls_server: Any, pki: Path, mode: str) -> None:
    port = mtls_server.server_address[1]
    opts = ClientOptions(
        base_url=f"https://localhost:{port}",
        verify=str(pki / "ca.pem"),
        cert=(str(pki / "client.pem"), str(pki / "client.key")),
    )
    http = _engine_for(mode, opts)
    try:
        assert parse_json(await _call(http, "GET", "/slurm/v0.0.40/ping")) == {"ok": True}
    finally:
        await _close(http)


async def test_untrusted_server_certificate_fails_fast(mtls_server: Any, mode: str) -> None:
    port = mtls_server.server_address[1]
    http = _engine_for(mode, ClientOptions(base_url=f"https://localhost:{port}"))
    try:
        with pytest.raises(SlurmConnectionError, match=r"TLS handshake .* failed") as info:
            await _call(http, "GET", "/slurm/v0.0.40/ping")
    finally:
        await _close(http)
    assert "certificate" in str(info.value)
    assert mtls_server.accepts == 1  # a certificate problem is not retried


async def test_missing_client_certificate(mtls_server: Any, pki: Path, mode: str) -> None:
    port = mtls_server.server_address[1]
    opts = ClientOptions(
        base_url=f"https://localhost:{port}",
        verify=str(pki / "ca.pem"),
        retry=RetryPolicy(max_attempts=1),
    )
    http = _engine_for(mode, opts)
    try:
        with pytest.raises(SlurmConnectionError):
            await _call(http, "GET", "/slurm/v0.0.40/ping")
    finally:
        await _close(http)
    assert mtls_server.requests == 0
