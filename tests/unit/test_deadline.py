"""One deadline per call: retries, pauses, reads and waits all end by it (sync and async).

The engine's fake sleeps record pauses without taking them; the servers that never answer
are plain listening sockets nobody accepts from (the kernel completes the handshake, then
nothing is ever read or written).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from slurm_core import (
    AsyncSlurmClient,
    CircuitBreakerConfig,
    ServerError,
    SlurmClient,
    SlurmTimeoutError,
    StaticToken,
)
from slurm_core._engine import Pause, PausingOp, run_async, run_sync
from slurm_core._http import AsyncHTTP, SyncHTTP
from slurm_core._options import ClientOptions
from slurm_core._retry import RetryPolicy, fit_deadline
from slurm_core._versions import Request
from slurm_core._versions.negotiate import clear_cache
from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import WaitTimeoutError

pytestmark = pytest.mark.anyio

BASE = "http://slurm.test:6820"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that takes connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _slow_500(seconds: float, count: list[int] | None = None) -> httpx.MockTransport:
    """slurmrestd with slurmctld down: holds every request, then answers 500."""

    def handler(request: httpx.Request) -> httpx.Response:
        if count is not None:
            count.append(1)
        time.sleep(seconds)
        body = {"errors": [{"error_number": 1800, "error": "Unable to contact slurm controller"}]}
        return httpx.Response(500, json=body)

    return httpx.MockTransport(handler)


async def _run(mode: str, options: ClientOptions, op: PausingOp[Any], sleeps: list[float]) -> Any:
    if mode == "sync":
        with SyncHTTP(options, sleep=sleeps.append) as http:
            return run_sync(http, op)

    async def nap(seconds: float) -> None:
        sleeps.append(seconds)

    async with AsyncHTTP(options, sleep=nap) as engine:
        return await run_async(engine, op)


def _get(path: str = "/x") -> PausingOp[list[int]]:
    response = yield Request("GET", path)
    return [response.status_code]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_no_retry_is_started_that_the_deadline_would_cut(mode: str) -> None:
    """Each attempt takes 0.4 s; with 0.6 s for the call a second one cannot finish, so the
    server's error comes at once instead of after 4 attempts."""
    count: list[int] = []
    options = ClientOptions(
        base_url=BASE,
        transport=_slow_500(0.4, count),
        call_timeout=0.6,
        circuit_breaker=None,
    )
    sleeps: list[float] = []
    with pytest.raises(ServerError):
        await _run(mode, options, _get(), sleeps)
    assert (len(count), sleeps) == (1, [])


async def test_retries_that_fit_are_still_made(mode: str) -> None:
    options = ClientOptions(
        base_url=BASE,
        transport=_slow_500(0.01),
        call_timeout=30.0,
        circuit_breaker=None,
        retry=RetryPolicy(jitter=False),
    )
    sleeps: list[float] = []
    with pytest.raises(ServerError):
        await _run(mode, options, _get(), sleeps)
    assert sleeps == pytest.approx([0.2, 0.6, 1.8])


async def test_every_request_of_an_operation_shares_the_call_deadline(mode: str) -> None:
    """Three requests of 0.3 s each against a 0.5 s deadline: the third is never sent."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        time.sleep(0.3)
        return httpx.Response(200, json={})

    def three() -> PausingOp[None]:
        for path in ("/a", "/b", "/c"):
            yield Request("GET", path)

    options = ClientOptions(
        base_url=BASE,
        transport=httpx.MockTransport(handler),
        call_timeout=0.5,
        circuit_breaker=None,
    )
    with pytest.raises(SlurmTimeoutError) as info:
        await _run(mode, options, three(), [])
    assert info.value.phase == "deadline"
    assert sent == ["/a", "/b"]


async def test_a_pause_is_taken_or_thrown_back_at_the_deadline(mode: str) -> None:
    seen: list[str] = []

    def pacing() -> PausingOp[list[str]]:
        yield Pause(1.0)
        seen.append("slept")
        try:
            yield Pause(100.0, "long wait")
        except SlurmTimeoutError as exc:
            seen.append(f"{exc.phase}: {'long wait' in str(exc)}")
        return seen

    options = ClientOptions(base_url=BASE, transport=_slow_500(0), call_timeout=10.0)
    sleeps: list[float] = []
    assert await _run(mode, options, pacing(), sleeps) == ["slept", "deadline: True"]
    assert sleeps == [1.0]


def test_fit_deadline() -> None:
    assert fit_deadline(None, remaining=10, last=0) is None
    assert fit_deadline(2.0, remaining=None, last=100) == 2.0
    assert fit_deadline(2.0, remaining=10, last=7.9) == 2.0
    assert fit_deadline(2.0, remaining=10, last=8.0) is None


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "5", True])
def test_call_timeout_is_checked(bad: object) -> None:
    with pytest.raises(ValueError, match="call_timeout"):
        ClientOptions(base_url=BASE, call_timeout=bad)  # type: ignore[arg-type]


async def test_wait_returns_at_its_timeout_from_a_silent_server(mode: str, silent: int) -> None:
    """``wait(timeout=1)`` raises WaitTimeoutError after ~1 s, however long the per-attempt
    timeout (10 s here): the poll in flight is cut at the watch's deadline."""
    clear_cache()
    url = f"http://127.0.0.1:{silent}"
    auth = StaticToken("not-a-jwt", user_name="alice")
    start = time.monotonic()
    if mode == "sync":
        client = SlurmClient(url, auth=auth, timeout=10, circuit_breaker=None)
        with client, pytest.raises(WaitTimeoutError):
            client.jobs.wait(42, timeout=1.0)
    else:
        async with AsyncSlurmClient(url, auth=auth, timeout=10, circuit_breaker=None) as ac:
            with pytest.raises(WaitTimeoutError), anyio.fail_after(30):
                await ac.jobs.wait(42, timeout=1.0)
    assert time.monotonic() - start < 2.0  # the contract under test: wait's own timeout
    clear_cache()


async def test_an_ordinary_call_ends_at_call_timeout_from_a_silent_server(
    mode: str, silent: int
) -> None:
    clear_cache()
    url = f"http://127.0.0.1:{silent}"
    auth = StaticToken("not-a-jwt", user_name="alice")
    kw: dict[str, Any] = {"auth": auth, "timeout": 10, "call_timeout": 1.0, "circuit_breaker": None}
    start = time.monotonic()
    if mode == "sync":
        client = SlurmClient(url, api_version="v0.0.42", **kw)
        with client, pytest.raises(SlurmTimeoutError) as info:
            client.jobs.list()
    else:
        async with AsyncSlurmClient(url, api_version="v0.0.42", **kw) as ac:
            with pytest.raises(SlurmTimeoutError) as info:
                await ac.jobs.list()
    assert info.value.phase == "deadline"
    assert time.monotonic() - start < 2.0
    clear_cache()


async def test_a_callers_short_deadline_does_not_open_the_breaker() -> None:
    """A watch slicing its wait into 0.2 s deadlines against a server answering in 0.5 s:
    each cut is the caller's choice, not the server's failure, so the breaker stays shut."""
    clear_cache()
    fake = FakeSlurmServer()
    fake.delay_next(0.5, times=6, path=r"/jobs")
    breaker = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=60)
    with (
        fake.serve() as url,
        SlurmClient(
            url,
            api_version="v0.0.45",
            auth=StaticToken("t", user_name=fake.app.user),
            timeout=10,
            call_timeout=0.2,
            circuit_breaker=breaker,
        ) as client,
    ):
        for _ in range(3):
            with pytest.raises(SlurmTimeoutError):
                client.jobs.list()
        assert client.ping() is not None  # not CircuitOpenError
