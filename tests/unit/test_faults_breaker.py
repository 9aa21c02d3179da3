"""Issue 16, findings 4 and 5: breakers per dependency, and authentication never counts.

Both clients (sync and async) against a scripted slurmrestd behind ``httpx.MockTransport``;
the bodies are the ones real 22.05 and 24.11 servers gave (``tests/data/live-errors``).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from slurm_core import (
    AsyncSlurmClient,
    AuthenticationError,
    CircuitBreakerConfig,
    NotFoundError,
    RetryPolicy,
    ServerError,
    SlurmClient,
    StaticToken,
)
from slurm_core._exceptions import CircuitOpenError
from slurm_core._transport import circuit_state
from slurm_core._versions.negotiate import clear_cache

pytestmark = pytest.mark.anyio
URL = "http://breaker.test:6820"
V = "v0.0.38"
# 22.05's answer to a token it does not accept, and to any request while slurmctld is
# unreachable (it does not say which; HTTP 500, error -1).
UNSPECIFIED = {
    "errors": [
        {
            "description": "Failed while looking for jobs",
            "error_number": -1,
            "error": "Unspecified error",
            "source": "slurm_load_jobs",
        }
    ],
    "jobs": [],
}
INVALID_JOB = {"errors": [{"error_number": 2017, "error": "Invalid job id specified"}]}
DB_DOWN = {"errors": [{"error_number": 7000, "error": "Unable to connect to database"}]}


def jwt(exp: float) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'exp': int(exp), 'sun': 'alice'})}.c2ln"


GOOD = jwt(time.time() + 3600)
BAD = jwt(time.time() + 3600) + "x"


class Slurm:
    """A 22.05-like slurmrestd: GOOD is accepted, any other token gets HTTP 500 -1."""

    def __init__(self) -> None:
        self.ctld_down = False
        self.dbd_down = False
        self.sent: list[str] = []
        self.accepted = {GOOD}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.sent.append(f"{request.method} {path}")
        if path == "/openapi/v3":
            return httpx.Response(
                200, json={"paths": {f"/slurm/{V}/jobs": {}, f"/slurmdb/{V}/job/{{job_id}}": {}}}
            )
        if request.headers.get("x-slurm-user-token") not in self.accepted or (
            self.ctld_down and path.startswith("/slurm/")
        ):
            return httpx.Response(500, json=UNSPECIFIED)
        if path.startswith("/slurmdb/"):
            if self.dbd_down:
                return httpx.Response(500, json=DB_DOWN)
            return httpx.Response(200, json={"jobs": []})
        if path == f"/slurm/{V}/jobs":
            return httpx.Response(200, json={"jobs": []})
        if path == f"/slurm/{V}/job/submit":
            return httpx.Response(200, json={"job_id": 7, "errors": []})
        if path.startswith(f"/slurm/{V}/job/"):
            return httpx.Response(500, json=INVALID_JOB)
        return httpx.Response(404, json={"errors": []})


@pytest.fixture(autouse=True)
def _fresh() -> Any:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``await call(server, token, "list")``: one client per token, on either face."""
    mode = request.param
    clients: dict[tuple[int, str], Any] = {}

    async def run(server: Slurm, token: str, method: str, *args: Any) -> Any:
        key = (id(server), token)
        options: dict[str, Any] = {
            "transport": httpx.MockTransport(server),
            "auth": StaticToken(token),
            "retry": RetryPolicy(max_attempts=2, initial_delay=0, max_delay=0),
            "circuit_breaker": CircuitBreakerConfig(failure_threshold=4, recovery_timeout=60),
        }
        if key not in clients:
            clients[key] = (SlurmClient if mode == "sync" else AsyncSlurmClient)(URL, **options)
        client = clients[key]
        fn = {
            "list": lambda: client.jobs.list(),
            "get": lambda: client.jobs.get(*args),
            "accounting": lambda: client.accounting.job(*args),
        }[method]
        result = fn()
        return await result if mode == "async" else result

    return run


async def test_a_rejected_token_on_2205_is_an_authentication_error_and_never_counts(
    call: Callable[..., Any],
) -> None:
    server = Slurm()
    for _ in range(10):
        with pytest.raises(AuthenticationError, match="never accepted"):
            await call(server, BAD, "list")
    assert circuit_state(URL) == "closed"
    assert await call(server, GOOD, "list") == []  # another client of the process works
    assert server.sent.count(f"GET /slurm/{V}/jobs") == 11  # no retry of a rejection


async def test_an_expired_token_that_worked_is_an_authentication_error(
    call: Callable[..., Any],
) -> None:
    """Once its ``exp`` passes, 22.05's HTTP 500 -1 for a token it accepted is a rejection."""
    server = Slurm()
    short = jwt(time.time() + 1)
    server.accepted.add(short)
    assert await call(server, short, "list") == []
    exp = json.loads(base64.urlsafe_b64decode(short.split(".")[1] + "=="))["exp"]
    await anyio.sleep(max(0.0, exp - time.time()) + 0.05)
    server.accepted.discard(short)  # slurmctld now refuses it
    with pytest.raises(AuthenticationError):
        await call(server, short, "list")
    assert circuit_state(URL) == "closed"


async def test_slurmctld_down_still_opens_the_breaker_for_an_accepted_token(
    call: Callable[..., Any],
) -> None:
    server = Slurm()
    assert await call(server, GOOD, "list") == []
    server.ctld_down = True
    for _ in range(2):  # two attempts each: four failures
        with pytest.raises(ServerError):
            await call(server, GOOD, "list")
    assert circuit_state(URL, dependency="slurmctld") == "open"
    with pytest.raises(CircuitOpenError) as info:
        await call(server, GOOD, "list")
    assert info.value.dependency == "slurmctld"


async def test_slurmdbd_down_opens_only_its_own_breaker(call: Callable[..., Any]) -> None:
    server = Slurm()
    server.dbd_down = True
    for _ in range(2):
        with pytest.raises(ServerError, match="Unable to connect to database"):
            await call(server, GOOD, "get", 41)  # slurmctld: purged; accounting: down
    assert circuit_state(URL, dependency="slurmdbd") == "open"
    assert circuit_state(URL, dependency="slurmctld") == "closed"
    with pytest.raises(CircuitOpenError) as info:
        await call(server, GOOD, "get", 41)
    assert info.value.dependency == "slurmdbd"
    assert await call(server, GOOD, "list") == []  # slurmctld's work goes on


async def test_a_purged_job_missing_from_working_accounting_is_not_found(
    call: Callable[..., Any],
) -> None:
    with pytest.raises(NotFoundError):
        await call(Slurm(), GOOD, "get", 41)
