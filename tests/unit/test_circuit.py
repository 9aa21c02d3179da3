"""The per-origin circuit breaker (a transport wrapper) and the client-side token bucket."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from slurm_core._exceptions import CircuitOpenError, NotFoundError, ServerError, SlurmError
from slurm_core._http import AsyncHTTP, SyncHTTP
from slurm_core._options import ClientOptions
from slurm_core._retry import RetryPolicy
from slurm_core._transport import (
    AsyncCircuitBreakerTransport,
    CircuitBreakerConfig,
    CircuitBreakerTransport,
    TokenBucket,
    circuit_state,
)

pytestmark = pytest.mark.anyio

EngineFactory = Callable[..., Any]
BASE_URL = "http://slurm.test:6820"
ONE_SHOT = RetryPolicy(max_attempts=1)


class Server:
    """Counts calls; answers with ``status`` (mutable), or raises ``error`` if set."""

    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status = status
        self.body = body if body is not None else {"errors": []}
        self.error: BaseException | None = None
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return httpx.Response(self.status, json=self.body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- through the engines (sync and async) ---------------------------------------------------
async def test_opens_after_5xx_storm_and_fails_fast(engine_factory: EngineFactory) -> None:
    server = Server(503)
    config = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=30)
    eng = engine_factory(server, retry=ONE_SHOT, circuit_breaker=config)
    for _ in range(3):
        with pytest.raises(ServerError):
            await eng.request("GET", "/slurm/v0.0.40/diag")
    assert circuit_state(BASE_URL) == "open"
    for _ in range(5):
        with pytest.raises(CircuitOpenError) as info:
            await eng.request("GET", "/slurm/v0.0.40/diag")
    assert server.calls == 3  # nothing more reached the server
    assert info.value.base_url == BASE_URL
    assert 29 < info.value.retry_after <= 30


async def test_half_open_probe_then_recovery(engine_factory: EngineFactory) -> None:
    server = Server(502)
    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=0.05)
    eng = engine_factory(server, retry=ONE_SHOT, circuit_breaker=config)
    for _ in range(2):
        with pytest.raises(ServerError):
            await eng.request("GET", "/x")
    with pytest.raises(CircuitOpenError):
        await eng.request("GET", "/x")
    await anyio.sleep(0.06)
    server.status = 200
    assert (await eng.request("GET", "/x")).status_code == 200  # the probe
    assert circuit_state(BASE_URL) == "closed"
    assert (await eng.request("GET", "/x")).status_code == 200
    assert server.calls == 4


async def test_retry_loop_stops_when_circuit_opens(engine_factory: EngineFactory) -> None:
    server = Server(503)
    eng = engine_factory(
        server, circuit_breaker=CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30)
    )
    with pytest.raises(CircuitOpenError):
        await eng.request("GET", "/x")  # attempts 1 and 2 fail, attempt 3 fails fast
    assert server.calls == 2
    assert len(eng.sleeps) == 2


async def test_connect_errors_count(engine_factory: EngineFactory) -> None:
    server = Server()
    server.error = httpx.ConnectError("refused")
    eng = engine_factory(
        server,
        retry=ONE_SHOT,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30),
    )
    for _ in range(2):
        with pytest.raises(SlurmError):
            await eng.request("GET", "/x")
    with pytest.raises(CircuitOpenError):
        await eng.request("GET", "/x")
    assert server.calls == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"errors": [{"error_number": 2017, "error": "Invalid job id specified"}]}),
        (404, {"errors": []}),
        (429, {"errors": []}),
        (400, {"errors": []}),
    ],
    ids=["2205-unknown-job-as-500", "404", "429", "400"],
)
async def test_client_errors_do_not_trip(
    engine_factory: EngineFactory, status: int, body: dict[str, Any]
) -> None:
    server = Server(status, body)
    eng = engine_factory(
        server,
        retry=ONE_SHOT,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30),
    )
    for _ in range(6):
        with pytest.raises(SlurmError) as info:
            await eng.request("GET", "/x")
        assert not isinstance(info.value, CircuitOpenError)
    assert server.calls == 6
    assert circuit_state(BASE_URL) == "closed"


async def test_success_resets_the_count(engine_factory: EngineFactory) -> None:
    server = Server(503)
    eng = engine_factory(
        server,
        retry=ONE_SHOT,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3, recovery_timeout=30),
    )
    for _ in range(4):
        for status in (503, 503, 200):
            server.status = status
            with contextlib.suppress(ServerError):
                await eng.request("GET", "/x")
    assert circuit_state(BASE_URL) == "closed"
    assert server.calls == 12


async def test_state_is_shared_per_origin_across_clients(engine_factory: EngineFactory) -> None:
    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30)
    bad = Server(503)
    first = engine_factory(bad, retry=ONE_SHOT, circuit_breaker=config)
    second = engine_factory(Server(200), retry=ONE_SHOT, circuit_breaker=config)
    other_port = engine_factory(
        Server(200), retry=ONE_SHOT, circuit_breaker=config, base_url="http://slurm.test:6821"
    )
    for _ in range(2):
        with pytest.raises(ServerError):
            await first.request("GET", "/x")
    with pytest.raises(CircuitOpenError):
        await second.request("GET", "/x")  # same origin, different client
    assert (await other_port.request("GET", "/x")).status_code == 200


async def test_disabled_breaker(engine_factory: EngineFactory) -> None:
    server = Server(503)
    eng = engine_factory(server, retry=ONE_SHOT, circuit_breaker=None)
    for _ in range(10):
        with pytest.raises(ServerError):
            await eng.request("GET", "/x")
    assert server.calls == 10


# --- the transport itself, with an injected clock -------------------------------------------
def _sync_breaker(server: Server, clock: Clock, threshold: int = 2) -> httpx.Client:
    config = CircuitBreakerConfig(failure_threshold=threshold, recovery_timeout=10)
    transport = CircuitBreakerTransport(httpx.MockTransport(server), config, clock=clock)
    return httpx.Client(transport=transport, base_url=BASE_URL)


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    entered, release = threading.Event(), threading.Event()
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return httpx.Response(503)
        entered.set()
        release.wait(5)
        return httpx.Response(200)

    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=10)
    transport = CircuitBreakerTransport(httpx.MockTransport(handler), config, clock=clock)
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        client.get("/x")
        client.get("/x")
        with pytest.raises(CircuitOpenError):
            client.get("/x")
        clock.now += 10
        probe_result: list[int] = []
        probe = threading.Thread(target=lambda: probe_result.append(client.get("/x").status_code))
        probe.start()
        assert entered.wait(5)
        assert circuit_state(BASE_URL) == "half-open"
        with pytest.raises(CircuitOpenError):
            client.get("/x")  # while the probe is in flight
        release.set()
        probe.join(5)
        assert probe_result == [200]
        assert client.get("/x").status_code == 200
    assert calls["n"] == 4


def test_failed_probe_reopens_for_a_full_timeout() -> None:
    clock = Clock()
    server = Server(503)
    with _sync_breaker(server, clock) as client:
        client.get("/x")
        client.get("/x")
        clock.now += 10
        assert client.get("/x").status_code == 503  # probe fails
        with pytest.raises(CircuitOpenError) as info:
            client.get("/x")
        assert info.value.retry_after == pytest.approx(10)
        clock.now += 9.9
        with pytest.raises(CircuitOpenError):
            client.get("/x")
        clock.now += 0.1
        server.status = 200
        assert client.get("/x").status_code == 200
    assert server.calls == 4


def test_abandoned_probe_frees_the_slot() -> None:
    clock = Clock()
    server = Server(503)
    with _sync_breaker(server, clock) as client:
        client.get("/x")
        client.get("/x")
        clock.now += 10
        server.error = KeyboardInterrupt()  # not a verdict on the server
        with pytest.raises(KeyboardInterrupt):
            client.get("/x")
        server.error = None
        server.status = 200
        assert client.get("/x").status_code == 200


async def test_async_half_open_single_probe() -> None:
    clock = Clock()
    gate = anyio.Event()
    entered = anyio.Event()
    calls = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return httpx.Response(500)
        entered.set()
        await gate.wait()
        return httpx.Response(200)

    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=10)
    transport = AsyncCircuitBreakerTransport(httpx.MockTransport(handler), config, clock=clock)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        await client.get("/x")
        await client.get("/x")
        clock.now += 10
        results: list[int] = []

        async def probe() -> None:
            results.append((await client.get("/x")).status_code)

        async with anyio.create_task_group() as tg:
            tg.start_soon(probe)
            await entered.wait()
            with pytest.raises(CircuitOpenError):
                await client.get("/x")
            gate.set()
        assert results == [200]
        assert (await client.get("/x")).status_code == 200


async def test_async_cancelled_probe_frees_the_slot() -> None:
    clock = Clock()
    calls = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return httpx.Response(500)
        if calls["n"] == 3:
            await anyio.sleep(10)
        return httpx.Response(200)

    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=10)
    transport = AsyncCircuitBreakerTransport(httpx.MockTransport(handler), config, clock=clock)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        await client.get("/x")
        await client.get("/x")
        clock.now += 10
        with anyio.move_on_after(0.05):
            await client.get("/x")  # the probe, cancelled
        assert (await client.get("/x")).status_code == 200


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreakerConfig(failure_threshold=0)
    with pytest.raises(ValueError, match="recovery_timeout"):
        CircuitBreakerConfig(recovery_timeout=-1)


def test_engines_share_state_sync_and_async() -> None:
    server = Server(503)
    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30)
    opts = ClientOptions(
        base_url=BASE_URL,
        transport=httpx.MockTransport(server),
        retry=ONE_SHOT,
        circuit_breaker=config,
    )
    with SyncHTTP(opts) as http:
        for _ in range(2):
            with pytest.raises(ServerError):
                http.request("GET", "/x")

    async def async_call() -> None:
        async with AsyncHTTP(opts) as ahttp:
            await ahttp.request("GET", "/x")

    with pytest.raises(CircuitOpenError):
        anyio.run(async_call)
    assert server.calls == 2


def test_unknown_job_storm_on_2205_keeps_circuit_closed() -> None:
    body = {"errors": [{"error_number": 2017, "error": "Invalid job id specified"}]}
    server = Server(500, body)
    opts = ClientOptions(
        base_url=BASE_URL,
        transport=httpx.MockTransport(server),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2),
    )
    with SyncHTTP(opts) as http:
        for _ in range(10):
            with pytest.raises(NotFoundError):
                http.request("GET", "/slurm/v0.0.38/job/1")
    assert server.calls == 10


# --- token bucket ---------------------------------------------------------------------------
def test_token_bucket() -> None:
    clock = Clock()
    bucket = TokenBucket(4.0, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.25)
    assert bucket.reserve() == pytest.approx(0.5)
    clock.now += 10  # refills, but never above capacity
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="rate_limit"):
        TokenBucket(0)


def test_token_bucket_slow_rate_has_burst_of_one() -> None:
    clock = Clock()
    bucket = TokenBucket(0.5, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(2.0)
