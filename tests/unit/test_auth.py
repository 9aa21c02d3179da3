"""Token providers and SlurmAuth: headers, expiry, refresh-before-expiry, refresh-once on 401."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from slurm_core._exceptions import AuthenticationError, ConfigurationError
from slurm_core._redact import Secret
from slurm_core.auth import (
    CallableAuth,
    JWTKeyAuth,
    SlurmAuth,
    StaticToken,
    TokenCommand,
    TokenFile,
    token_expiry,
)

pytestmark = pytest.mark.anyio

EngineFactory = Callable[..., Any]
KEY = os.urandom(32)
NOW = 1_750_000_000.0


def make_jwt(exp: float | None, user: str = "alice", key: bytes = b"k" * 32) -> str:
    claims: dict[str, Any] = {"sun": user, "iat": int(NOW)}
    if exp is not None:
        claims["exp"] = int(exp)
    return jwt.encode(claims, key, algorithm="HS256")


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Counter:
    """A token source returning t1, t2, ... (or JWTs expiring ``ttl`` after the clock)."""

    def __init__(self, clock: Clock | None = None, ttl: float | None = None) -> None:
        self.calls = 0
        self.clock = clock
        self.ttl = ttl
        self.threads: list[str] = []

    def __call__(self) -> str:
        self.calls += 1
        self.threads.append(threading.current_thread().name)
        if self.clock is not None and self.ttl is not None:
            return make_jwt(self.clock() + self.ttl, user=f"u{self.calls}")
        return f"t{self.calls}"


class Recorder:
    """MockTransport handler: records tokens, answers from a status list (last one repeats)."""

    def __init__(self, *statuses: int | httpx.Response) -> None:
        self.statuses = list(statuses) or [200]
        self.headers: list[httpx.Headers] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(httpx.Headers(request.headers))
        outcome = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(outcome, httpx.Response):
            return outcome
        return httpx.Response(outcome, text="Authentication failure" if outcome == 401 else "{}")

    @property
    def tokens(self) -> list[str | None]:
        return [h.get("x-slurm-user-token") for h in self.headers]


# --- headers --------------------------------------------------------------------------------
async def test_x_slurm_headers_with_user_name(engine_factory: EngineFactory) -> None:
    rec = Recorder(200)
    eng = engine_factory(rec, auth=StaticToken("tok", user_name="alice"))
    await eng.request("GET", "/x")
    assert rec.headers[0]["x-slurm-user-token"] == "tok"
    assert rec.headers[0]["x-slurm-user-name"] == "alice"
    assert "authorization" not in rec.headers[0]


async def test_user_name_header_only_when_known(engine_factory: EngineFactory) -> None:
    rec = Recorder(200)
    eng = engine_factory(rec, auth=StaticToken("tok"))
    await eng.request("GET", "/x")
    assert "x-slurm-user-name" not in rec.headers[0]


async def test_user_name_header_from_the_tokens_sun_claim(engine_factory: EngineFactory) -> None:
    rec = Recorder(200)
    eng = engine_factory(rec, auth=StaticToken(make_jwt(NOW + 3600, user="carol")))
    await eng.request("GET", "/x")
    assert rec.headers[0]["x-slurm-user-name"] == "carol"  # slurmrestd 22.05 needs it

    rec = Recorder(200)
    explicit = StaticToken(make_jwt(NOW + 3600, user="carol"), user_name="dave")
    eng = engine_factory(rec, auth=explicit)
    await eng.request("GET", "/x")
    assert rec.headers[0]["x-slurm-user-name"] == "dave"  # configured name wins


async def test_bearer_style(engine_factory: EngineFactory) -> None:
    rec = Recorder(200)
    auth = SlurmAuth(StaticToken("tok", user_name="bob"), header_style="bearer")
    eng = engine_factory(rec, auth=auth)
    await eng.request("GET", "/x")
    assert rec.headers[0]["authorization"] == "Bearer tok"
    assert rec.headers[0]["x-slurm-user-name"] == "bob"
    assert "x-slurm-user-token" not in rec.headers[0]


def test_unknown_header_style() -> None:
    with pytest.raises(ConfigurationError):
        SlurmAuth(StaticToken("t"), header_style="cookie")  # type: ignore[arg-type]


# --- refresh on rejection -------------------------------------------------------------------
@pytest.mark.parametrize(
    "rejection",
    [
        lambda: httpx.Response(401, text="Authentication failure"),
        lambda: httpx.Response(511, json={"errors": [{"error_number": 1007}]}),
        # 22.05: a rejected token comes back as HTTP 500 with an auth error number
        lambda: httpx.Response(500, json={"errors": [{"error_number": 1007, "error": "auth"}]}),
    ],
    ids=["401", "511", "2205-500-1007"],
)
async def test_refresh_once_on_rejection_then_succeed(
    engine_factory: EngineFactory, rejection: Callable[[], httpx.Response]
) -> None:
    source = Counter()
    rec = Recorder(rejection(), 200)
    eng = engine_factory(rec, auth=CallableAuth(source), circuit_breaker=None)
    resp = await eng.request("GET", "/x")
    assert resp.status_code == 200
    assert rec.tokens == ["t1", "t2"]
    assert source.calls == 2


async def test_second_rejection_surfaces(engine_factory: EngineFactory) -> None:
    source = Counter()
    rec = Recorder(401)
    eng = engine_factory(rec, auth=CallableAuth(source))
    with pytest.raises(AuthenticationError) as info:
        await eng.request("GET", "/x")
    assert info.value.status_code == 401
    assert rec.tokens == ["t1", "t2"]  # one refresh, no loop, no retry
    assert source.calls == 2


async def test_static_token_cannot_refresh(engine_factory: EngineFactory) -> None:
    rec = Recorder(401)
    eng = engine_factory(rec, auth=StaticToken("tok"))
    with pytest.raises(AuthenticationError):
        await eng.request("GET", "/x")
    assert rec.tokens == ["tok"]


async def test_other_errors_do_not_refresh(engine_factory: EngineFactory) -> None:
    source = Counter()
    rec = Recorder(httpx.Response(404, json={"errors": [{"error_number": 2017}]}))
    eng = engine_factory(rec, auth=CallableAuth(source))
    with pytest.raises(Exception, match="404"):
        await eng.request("GET", "/x")
    assert source.calls == 1


# --- refresh before expiry ------------------------------------------------------------------
async def test_refresh_before_expiry(engine_factory: EngineFactory) -> None:
    clock = Clock()
    source = Counter(clock, ttl=300)
    provider = CallableAuth(source, refresh_margin=60, clock=clock)
    rec = Recorder(200)
    eng = engine_factory(rec, auth=provider)

    await eng.request("GET", "/x")
    first = rec.tokens[-1]
    assert provider.expires_at == int(NOW + 300)

    clock.now = NOW + 200  # 100 s left: more than the margin, keep it
    await eng.request("GET", "/x")
    assert rec.tokens[-1] == first
    assert source.calls == 1

    clock.now = NOW + 241  # 59 s left: inside the margin, refresh before sending
    await eng.request("GET", "/x")
    assert rec.tokens[-1] != first
    assert jwt.decode(rec.tokens[-1] or "", options={"verify_signature": False})["sun"] == "u2"
    assert source.calls == 2


def test_short_lived_tokens_refresh_half_way_not_every_request() -> None:
    clock = Clock()
    source = Counter(clock, ttl=30)  # shorter than the 60 s margin
    provider = CallableAuth(source, refresh_margin=60, clock=clock)
    first = provider.token()
    clock.now = NOW + 14
    assert provider.token() == first
    assert source.calls == 1
    clock.now = NOW + 16
    assert provider.token() != first
    assert source.calls == 2


async def test_async_refresh_runs_in_worker_thread(
    engine_factory: EngineFactory, mode: str
) -> None:
    source = Counter()
    eng = engine_factory(Recorder(200), auth=CallableAuth(source))
    await eng.request("GET", "/x")
    main = threading.main_thread().name
    if mode == "async":
        assert source.threads[0] != main
    else:
        assert source.threads[0] == main


def test_failed_early_refresh_keeps_valid_token(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("vault unavailable")
        return make_jwt(NOW + 300)

    provider = CallableAuth(flaky, refresh_margin=60, clock=clock)
    first = provider.token()
    clock.now = NOW + 250  # inside the margin, not yet expired
    with caplog.at_level(logging.WARNING, logger="slurm_core.auth"):
        assert provider.token() == first
    assert "refresh failed" in caplog.text
    clock.now = NOW + 301  # expired: now the failure is an error
    with pytest.raises(ConfigurationError, match="vault unavailable") as info:
        provider.token()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_concurrent_rejections_refresh_once() -> None:
    source = Counter()
    provider = CallableAuth(source)
    stale = provider.token()
    barrier = threading.Barrier(8)
    results: list[Secret] = []

    def worker() -> None:
        barrier.wait()
        results.append(provider.token(force_refresh=True, rejected=stale))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert source.calls == 2  # the initial fetch and exactly one refresh
    assert {r.get() for r in results} == {"t2"}


# --- providers ------------------------------------------------------------------------------
def test_token_expiry() -> None:
    assert token_expiry(make_jwt(NOW + 10)) == int(NOW + 10)
    assert token_expiry(make_jwt(None)) is None
    assert token_expiry("opaque-token") is None
    assert token_expiry("a.b.c") is None


def test_static_token_repr_and_expiry() -> None:
    token = make_jwt(NOW + 10)
    provider = StaticToken(token, user_name="alice")
    assert repr(provider) == "StaticToken(user_name='alice', token=<redacted>)"
    assert token not in str(provider)
    assert provider.expires_at == int(NOW + 10)
    assert provider.token().get() == token
    with pytest.raises(ConfigurationError):
        StaticToken("  ")


def _write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


async def test_token_file_reread_on_change(engine_factory: EngineFactory, tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    _write(path, "first\n", 1_000_000_000_000_000_000)
    rec = Recorder(200)
    eng = engine_factory(rec, auth=TokenFile(path, user_name="alice"))
    await eng.request("GET", "/x")
    await eng.request("GET", "/x")
    _write(path, "SLURM_JWT=second\n", 1_000_000_001_000_000_000)
    await eng.request("GET", "/x")
    assert rec.tokens == ["first", "first", "second"]


def test_token_file_vanishing_keeps_token(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    path.write_text("abc")
    provider = TokenFile(path)
    assert provider.token().get() == "abc"
    path.unlink()  # mid-rotation
    assert provider.token().get() == "abc"


def test_token_file_missing(tmp_path: Path) -> None:
    provider = TokenFile(tmp_path / "nope")
    with pytest.raises(ConfigurationError, match="cannot read"):
        provider.token()
    assert repr(provider) == f"TokenFile(path={str(tmp_path / 'nope')!r}, user_name=None)"


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_token_command(engine_factory: EngineFactory) -> None:
    rec = Recorder(200)
    cmd = TokenCommand(_py("print('SLURM_JWT=cmdtoken')"), user_name="alice")
    eng = engine_factory(rec, auth=cmd)
    await eng.request("GET", "/x")
    await eng.request("GET", "/x")
    assert rec.tokens == ["cmdtoken", "cmdtoken"]


def test_token_command_bare_output_and_failures() -> None:
    assert TokenCommand(_py("print('  bare-token ')")).token().get() == "bare-token"
    failing = TokenCommand(
        _py(
            "import sys; print('SLURM_JWT=' + 'le' + 'aky'); "
            "sys.stderr.write('no slurmctld'); sys.exit(3)"
        )
    )
    with pytest.raises(ConfigurationError, match="exited with 3: no slurmctld") as info:
        failing.token()
    assert "leaky" not in str(info.value)
    with pytest.raises(ConfigurationError, match="no recognisable token"):
        TokenCommand(_py("print('two words')")).token()
    with pytest.raises(ConfigurationError, match="failed to run"):
        TokenCommand(["/nonexistent/scontrol", "token"]).token()
    with pytest.raises(ConfigurationError):
        TokenCommand("scontrol token")  # a str is a Sequence[str]: rejected at runtime


def test_token_command_timeout() -> None:
    slow = TokenCommand(_py("import time; time.sleep(5)"), timeout=0.2)
    start = time.monotonic()
    with pytest.raises(ConfigurationError, match="failed to run"):
        slow.token()
    assert time.monotonic() - start < 3


def test_jwt_key_auth_mints_tokens_slurmctld_accepts(tmp_path: Path) -> None:
    key_file = tmp_path / "jwt_hs256.key"
    key_file.write_bytes(KEY)
    key_file.chmod(0o600)  # a key others can read is refused
    clock = Clock()
    provider = JWTKeyAuth(key_file, "slurm", lifespan=600, clock=clock)
    token = provider.token().get()
    claims = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"sun": "slurm", "iat": int(NOW), "exp": int(NOW) + 600}
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, b"x" * 32, algorithms=["HS256"], options={"verify_exp": False})
    assert provider.expires_at == NOW + 600
    assert "key_path=" in repr(provider)

    clock.now = NOW + 545  # inside the default 60 s margin
    assert provider.token().get() != token


def test_jwt_key_auth_from_bytes_and_validation() -> None:
    provider = JWTKeyAuth(KEY, "alice")
    claims = jwt.decode(provider.token().get(), KEY, algorithms=["HS256"])
    assert claims["sun"] == "alice"
    assert claims["exp"] - claims["iat"] == 1800
    assert "key=<redacted>" in repr(provider)
    assert KEY.decode("latin-1") not in repr(provider)
    with pytest.raises(ConfigurationError):
        JWTKeyAuth(KEY, "")
    with pytest.raises(ConfigurationError, match="lifespan must be >= 2"):
        JWTKeyAuth(KEY, "a", lifespan=1)
    with pytest.raises(ConfigurationError, match="exceed refresh_margin"):
        JWTKeyAuth(KEY, "a", lifespan=30, refresh_margin=60)
    with pytest.raises(ConfigurationError, match="cannot read key"):
        JWTKeyAuth("/nonexistent/key", "a")


def test_callable_auth_validation() -> None:
    with pytest.raises(ConfigurationError, match="expected str"):
        CallableAuth(lambda: 42).token()  # type: ignore[arg-type, return-value]
    with pytest.raises(ConfigurationError, match="empty"):
        CallableAuth(lambda: "").token()
    assert CallableAuth(lambda: Secret("s")).token().get() == "s"  # type: ignore[arg-type, return-value]


def test_secret_never_renders() -> None:
    secret = Secret("hunter2")
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret:>20}" == "<redacted>"
    assert "hunter2" not in repr([secret, {"k": secret}])
    assert secret.get() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != "hunter2"


def test_slurm_auth_repr() -> None:
    auth = SlurmAuth(StaticToken("tok", user_name="alice"), header_style="bearer")
    assert repr(auth) == (
        "SlurmAuth(StaticToken(user_name='alice', token=<redacted>), header_style='bearer')"
    )


def test_plain_httpx_client_accepts_slurm_auth() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["x-slurm-user-token"])
        return httpx.Response(200)

    auth = SlurmAuth(CallableAuth(Counter()))
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        client.get("http://h/")
    assert seen == ["t1"]


@pytest.mark.parametrize("style", ["x-slurm", "bearer"])
def test_plain_httpx_transport_error_leaves_no_token(style: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    auth = SlurmAuth(StaticToken("zz-secret-zz"), header_style=style)  # type: ignore[arg-type]
    client = httpx.Client(transport=httpx.MockTransport(handler), auth=auth)
    with client, pytest.raises(httpx.ConnectError) as info:
        client.get("http://h/")
    assert "zz-secret-zz" not in str(info.value.request.headers.raw)


# ------------------------------------------------------------------ files and secrets -------
def test_a_writable_token_or_key_file_is_refused_naming_the_fix(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(make_jwt(NOW + 600))
    token.chmod(0o666)
    with pytest.raises(ConfigurationError, match=r"writable by others.*chmod 600") as info:
        TokenFile(token).token()
    assert str(token) in str(info.value)
    key = tmp_path / "jwt_hs256.key"
    key.write_bytes(KEY)
    key.chmod(0o620)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        JWTKeyAuth(key, "slurm")
    key.chmod(0o604)  # world-readable: every local user could mint root's tokens
    with pytest.raises(ConfigurationError, match="readable by others"):
        JWTKeyAuth(key, "slurm")
    key.chmod(0o600)
    assert JWTKeyAuth(key, "slurm").token()


def test_a_readable_token_file_works_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = tmp_path / "token"
    token.write_text("opaque-token-value")
    token.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="slurm_core.auth"):
        assert TokenFile(token).token().get() == "opaque-token-value"
    assert "chmod 600" in caplog.text
    assert "opaque-token-value" not in caplog.text


def test_symlinked_token_and_key_files_are_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_bytes(KEY)
    real.chmod(0o600)
    (tmp_path / "token").symlink_to(real)
    (tmp_path / "key").symlink_to(real)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        TokenFile(tmp_path / "token").token()
    with pytest.raises(ConfigurationError, match="symbolic link"):
        JWTKeyAuth(tmp_path / "key", "slurm")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ConfigurationError, match=r"FIFO|not a regular file"):
        TokenFile(tmp_path / "fifo").token()
    big = tmp_path / "big"
    big.write_bytes(b"x" * (2 << 20))
    big.chmod(0o600)
    with pytest.raises(ConfigurationError, match="too large"):
        TokenFile(big).token()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file away")
def test_a_token_file_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc")
    token.chmod(0o600)
    os.chown(token, 12345, 12345)
    with pytest.raises(ConfigurationError, match="owned by uid 12345"):
        TokenFile(token).token()
    key = tmp_path / "jwt_hs256.key"  # owned by SlurmUser, as Slurm's setup has it
    key.write_bytes(KEY)
    key.chmod(0o600)
    os.chown(key, 12345, 12345)
    assert JWTKeyAuth(key, "slurm").token()


def test_token_command_repr_and_errors_hide_its_arguments() -> None:
    cmd = TokenCommand(
        [sys.executable, "-c", "import sys; sys.exit(2)", "--password=hunter2"], timeout=5
    )
    assert "hunter2" not in repr(cmd)
    assert os.path.basename(sys.executable) in repr(cmd)
    with pytest.raises(ConfigurationError) as info:
        cmd.token()
    assert "hunter2" not in str(info.value)
    slow = TokenCommand([*_py("import time; time.sleep(5)"), "--token=s3cr3t"], timeout=0.2)
    with pytest.raises(ConfigurationError, match="timed out") as timed_out:
        slow.token()
    assert "s3cr3t" not in str(timed_out.value)


def test_an_opaque_token_is_redacted_where_jwts_are() -> None:
    from slurm_core._redact import redact_text

    provider = CallableAuth(lambda: "opaque-0123456789abcdef")
    provider.token()
    message = "upstream said: bad credential opaque-0123456789abcdef for alice"
    assert "opaque-0123456789abcdef" not in redact_text(message)
    assert "alice" in redact_text(message)


# --- error bodies arrive as streams over real transports --------------------------------------
def _streamed_error(request: httpx.Request) -> httpx.Response:
    body = b'{"errors": [{"error_number": 2084, "error": "Job has already finished"}]}'
    return httpx.Response(500, stream=httpx.ByteStream(body), request=request)


def test_a_static_token_flow_reads_a_streamed_error_body() -> None:
    auth = SlurmAuth(StaticToken("a.b.c", user_name="alice"))
    with httpx.Client(transport=httpx.MockTransport(_streamed_error), auth=auth) as client:
        response = client.post("http://h/slurm/v0.0.42/job/1", json={})
    assert response.status_code == 500
    assert response.json()["errors"][0]["error_number"] == 2084


@pytest.mark.anyio
async def test_the_async_flow_reads_a_streamed_error_body_too() -> None:
    auth = SlurmAuth(StaticToken("a.b.c", user_name="alice"))
    transport = httpx.MockTransport(_streamed_error)
    async with httpx.AsyncClient(transport=transport, auth=auth) as client:
        response = await client.post("http://h/slurm/v0.0.42/job/1", json={})
    assert response.status_code == 500
