"""The request engine against hostile answers, in-process: the breaker's probe slot, JSON too
deep to decode, the token copies a failed exchange leaves behind, security warnings, and
the size limit over a mock transport. (Real sockets: test_hostile.py.)"""

from __future__ import annotations

import gc
import socket
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from slurm_core import SlurmClient, StaticToken
from slurm_core._body import check_success_body, parse_json
from slurm_core._errmap import error_from_response
from slurm_core._exceptions import (
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    SlurmAPIError,
    SlurmError,
    SlurmSecurityWarning,
)
from slurm_core._redact import Secret
from slurm_core._retry import RetryPolicy
from slurm_core._transport import CircuitBreakerConfig, circuit_state
from slurm_core.auth import is_auth_rejection, maybe_auth_rejection
from slurm_core.resources._submission import _created_despite

pytestmark = pytest.mark.anyio

BASE_URL = "http://slurm.test:6820"
ONE_SHOT = RetryPolicy(max_attempts=1)
DEEP = b"[" * 100_000 + b"]" * 100_000
TOKEN = "eyJhbGciOiJIUzI1NiJ9.hostile-test-secret-token.c2ln"


# --- JSON nested too deep for the stdlib decoder ----------------------------------------------
def test_deep_json_is_a_response_validation_error_on_every_decode_path() -> None:
    request = httpx.Request("POST", f"{BASE_URL}/slurm/v0.0.40/job/submit")
    ok = httpx.Response(200, content=DEEP, request=request)
    with pytest.raises(ResponseValidationError):
        parse_json(ok, what="jobs")
    check_success_body(ok)  # nothing it can read, so nothing to report
    error = error_from_response(httpx.Response(500, content=DEEP, request=request))
    assert type(error) is ServerError  # the class comes from the status alone
    # The token's rejection checks and the 2xx-with-errors submission check read bodies too.
    assert is_auth_rejection(httpx.Response(400, content=DEEP, request=request)) is False
    assert maybe_auth_rejection(httpx.Response(500, content=DEEP, request=request)) is False
    failed = SlurmAPIError("2xx with errors", status_code=200, response=ok)
    assert _created_despite(failed, "key") is None


async def test_half_open_probe_on_an_undecodable_5xx_does_not_wedge_the_breaker(
    engine_factory: Callable[..., Any],
) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(502, content=DEEP if calls["n"] > 1 else b"down")

    config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=0.0)
    eng = engine_factory(handler, retry=ONE_SHOT, circuit_breaker=config)
    with pytest.raises(ServerError):
        await eng.request("GET", "/x")
    assert circuit_state(BASE_URL) == "open"
    for _ in range(3):  # each one is the probe: a wedged slot would make these fail fast
        with pytest.raises(ServerError):
            await eng.request("GET", "/x")
    assert calls["n"] == 4
    assert circuit_state(BASE_URL) == "open"  # the probe failed: open, not half-open for good


# --- the size limit, whatever the transport ---------------------------------------------------
async def test_oversized_answer_is_refused(engine_factory: Callable[..., Any]) -> None:
    eng = engine_factory(
        lambda r: httpx.Response(200, content=b"x" * 2000), retry=ONE_SHOT, max_response_size=1000
    )
    with pytest.raises(ResponseTooLargeError) as info:
        await eng.request("GET", "/slurm/v0.0.40/jobs")
    assert info.value.limit == 1000
    assert isinstance(info.value, ResponseValidationError)


# --- no token survives in what a failed exchange leaves reachable ---------------------------
def _reachable_strings(root: object, limit: int = 300_000) -> list[str]:
    """Every str/bytes reachable from ``root``: exception chains, args, attributes, containers
    and the locals of traceback frames. A :class:`Secret` is opaque (its value is only ever
    read through ``get()``); modules, classes and functions are not followed."""
    found: list[str] = []
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (str, bytes, bytearray)):
            found.append(obj.decode("latin-1") if not isinstance(obj, str) else obj)
            continue
        if isinstance(obj, (Secret, type, types.ModuleType, types.FunctionType, int, float)):
            continue
        if isinstance(obj, BaseException):
            stack += [obj.__cause__, obj.__context__, obj.__traceback__, *obj.args]
        if isinstance(obj, types.TracebackType):
            stack += [obj.tb_next, obj.tb_frame]
            continue
        if isinstance(obj, types.FrameType):
            stack += list(obj.f_locals.values())
            continue
        if isinstance(obj, dict):
            stack += [*obj.keys(), *obj.values()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack += list(obj)
        stack += list(getattr(obj, "__dict__", {}).values())
        for cls in type(obj).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if isinstance(slot, str) and slot != "__dict__":
                    stack.append(getattr(obj, slot, None))
    return found


def test_no_token_copy_is_reachable_from_a_failed_exchange() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:  # read the request, answer nothing
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    server = threading.Thread(target=hang_up, daemon=True)
    server.start()
    client = SlurmClient(
        f"http://127.0.0.1:{port}",
        auth=StaticToken(TOKEN, "alice"),
        api_version="v0.0.40",
        retry=ONE_SHOT,
        circuit_breaker=None,
    )
    try:
        with pytest.raises(SlurmError) as info:
            client.ping()
    finally:
        client.close()
        server.join(5)
        listener.close()
    gc.collect()
    leaks = [s for s in _reachable_strings(info.value) if "hostile-test-secret" in s]
    assert leaks == [], f"{len(leaks)} token copies reachable, e.g. {leaks[0][:80]!r}"


# --- security warnings ------------------------------------------------------------------------
def _warnings_for(url: str, **options: Any) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SlurmClient(url, **options).close()
    return [w for w in caught if issubclass(w.category, SlurmSecurityWarning)]


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("https://slurm.example.org:6820", {"verify": False}),
        ("http://slurm.example.org:6820", {"auth": StaticToken("t", "alice")}),
        ("http://10.0.0.7:6820", {"auth": StaticToken("t", "alice")}),
    ],
)
def test_unprotected_token_warns_once(url: str, options: dict[str, Any]) -> None:
    caught = _warnings_for(url, **options)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # points at the caller's line
    assert "t" not in str(caught[0].message).split()  # the token is never in it


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("http://127.0.0.1:6820", {"auth": StaticToken("t", "alice")}),
        ("http://localhost:6820", {"auth": StaticToken("t", "alice")}),
        ("http://[::1]:6820", {"auth": StaticToken("t", "alice")}),
        ("http://slurm:6820", {"auth": StaticToken("t", "alice"), "uds": "/run/slurmrestd.sock"}),
        ("http://slurm.example.org:6820", {}),  # no token to expose
        ("https://slurm.example.org:6820", {"auth": StaticToken("t", "alice")}),
    ],
)
def test_protected_or_local_setups_do_not_warn(url: str, options: dict[str, Any]) -> None:
    assert _warnings_for(url, **options) == []
