"""Resilience against the real clusters (22.05, 24.11, 26.05), sync and async.

(a) slurmrestd is stopped just as a read starts and comes back about a second later: the
    read succeeds on the client's default retry policy.
(b) A storm of 503s (from a small proxy in front of the real slurmrestd, 127.0.0.1 only)
    opens the circuit breaker; once the storm ends a probe closes it again.
(c) Expired and invalid tokens are replaced without the caller noticing: a short-lived
    ``JWTKeyAuth``, and a ``CallableAuth`` whose first token is expired (or not a JWT).
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import jwt
import pytest
from faultproxy import FaultProxy, Respond

from slurm_core import (
    AsyncSlurmClient,
    CallableAuth,
    CircuitBreakerConfig,
    CircuitOpenError,
    JWTKeyAuth,
    RequestHooks,
    RetryPolicy,
    ServerError,
    SlurmClient,
    StaticToken,
)
from slurm_core._options import RequestInfo
from slurm_core._transport import circuit_state, reset_circuit_breakers
from slurm_core.testing.cluster import LocalSlurmCluster

pytestmark = pytest.mark.anyio

Client = SlurmClient | AsyncSlurmClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _breakers() -> Iterator[None]:
    # Breaker state is process-wide per origin; leave none behind for other tests.
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


def make(mode: str, url: str, **kw: Any) -> Client:
    cls = SlurmClient if mode == "sync" else AsyncSlurmClient
    return cls(url, **kw)


async def call(client: Client, method: str, /, *args: Any, **kw: Any) -> Any:
    target: Any = client
    for part in method.split("."):
        target = getattr(target, part)
    result = target(*args, **kw)
    if inspect.isawaitable(result):
        result = await result
    return result


async def close(client: Client) -> None:
    if isinstance(client, AsyncSlurmClient):
        await client.aclose()
    else:
        client.close()


def alice(cluster: LocalSlurmCluster) -> StaticToken:
    return StaticToken(cluster.token("alice"), user_name="alice")


# ---------------------------------------------------------------------------------------------
# (a) slurmrestd goes away under a read
# ---------------------------------------------------------------------------------------------
async def test_a_read_survives_a_slurmrestd_restart(
    slurm_cluster: LocalSlurmCluster, mode: str
) -> None:
    attempts: list[RequestInfo] = []
    client = make(
        mode,
        slurm_cluster.rest_url,
        auth=alice(slurm_cluster),
        hooks=RequestHooks(on_request=attempts.append),
    )  # the default retry policy and circuit breaker
    try:
        await call(client, "negotiate")  # connected, version known
        stopped = threading.Event()
        failures: list[BaseException] = []

        def outage() -> None:
            try:
                slurm_cluster.stop_daemon("slurmrestd")
                stopped.set()
                time.sleep(1.0)  # the outage, not a wait for a result
                slurm_cluster.start_daemon("slurmrestd")
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)
                stopped.set()

        thread = threading.Thread(target=outage, name="slurmrestd-outage")
        thread.start()
        try:
            await anyio.to_thread.run_sync(stopped.wait)
            nodes = await call(client, "nodes.list")
        finally:
            await anyio.to_thread.run_sync(thread.join)
        assert not failures, failures
        assert [n.name for n in nodes] == ["node1"]
        node_attempts = [a for a in attempts if a.url.endswith("/nodes")]
        assert len(node_attempts) >= 2, "the read should have needed a retry"
        assert node_attempts[-1].attempt == len(node_attempts)
        assert circuit_state(slurm_cluster.rest_url) == "closed"
    finally:
        await close(client)
        if not slurm_cluster.is_running():  # pragma: no cover - leave it as we found it
            slurm_cluster.start_daemon("slurmrestd")


# ---------------------------------------------------------------------------------------------
# (b) a 5xx storm
# ---------------------------------------------------------------------------------------------
async def _wait_out(error: CircuitOpenError) -> None:
    # Wait for the breaker's own deadline (it says when it lets a probe through).
    await anyio.sleep(max(error.retry_after, 0.0) + 0.05)


async def test_a_5xx_storm_opens_the_circuit_and_it_recovers(
    slurm_cluster: LocalSlurmCluster, mode: str
) -> None:
    version = slurm_cluster.served_versions[-1]
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        client = make(
            mode,
            proxy.url,
            auth=alice(slurm_cluster),
            api_version=version,
            retry=RetryPolicy(max_attempts=1),  # one request per call: count them exactly
            circuit_breaker=CircuitBreakerConfig(failure_threshold=3, recovery_timeout=0.5),
        )
        try:
            await call(client, "diag")  # negotiated through the proxy, all well
            assert (len(proxy.seen), len(proxy.forwarded)) == (2, 2)
            proxy.on(Respond(503), times=4)
            for _ in range(3):  # three 503s: the third opens the circuit
                with pytest.raises(ServerError) as storm:
                    await call(client, "diag")
                assert storm.value.status_code == 503
            assert circuit_state(proxy.url) == "open"
            with pytest.raises(CircuitOpenError) as fast:  # failed fast, nothing sent
                await call(client, "diag")
            assert len(proxy.seen) == 5
            assert fast.value.base_url == proxy.url  # the breaker's key: the origin
            await _wait_out(fast.value)
            with pytest.raises(ServerError):  # the probe meets the storm's last 503
                await call(client, "diag")
            assert len(proxy.seen) == 6
            with pytest.raises(CircuitOpenError) as again:  # open again, for a full timeout
                await call(client, "diag")
            await _wait_out(again.value)
            diag = await call(client, "diag")  # the probe gets through: closed
            assert diag.req_time is not None
            assert circuit_state(proxy.url) == "closed"
            assert len(await call(client, "nodes.list")) == 1
            assert (len(proxy.seen), len(proxy.forwarded)) == (8, 4)
        finally:
            await close(client)


# ---------------------------------------------------------------------------------------------
# (c) tokens that expire or are refused
# ---------------------------------------------------------------------------------------------
async def test_a_short_lived_token_is_renewed_unnoticed(
    slurm_cluster: LocalSlurmCluster, mode: str
) -> None:
    auth = JWTKeyAuth(slurm_cluster.jwt_key_path, user_name="alice", lifespan=2, refresh_margin=1)
    client = make(mode, slurm_cluster.rest_url, auth=auth)
    try:
        await call(client, "diag")
        first_expiry = auth.expires_at
        assert first_expiry is not None

        async def first_token_expired() -> bool:
            return time.time() > first_expiry

        deadline = time.monotonic() + 30
        while not await first_token_expired():
            assert time.monotonic() < deadline
            await call(client, "diag")  # keeps working across the token's lifetime
            await anyio.sleep(0.5)
        jobs = await call(client, "jobs.list")
        assert isinstance(jobs, list)
        assert auth.expires_at is not None
        assert auth.expires_at > first_expiry  # renewed, ahead of time
    finally:
        await close(client)


def _expired(cluster: LocalSlurmCluster) -> str:
    now = int(time.time())
    key = cluster.jwt_key_path.read_bytes()
    return jwt.encode({"iat": now - 120, "exp": now - 60, "sun": "alice"}, key, algorithm="HS256")


BAD_FIRST: dict[str, Callable[[LocalSlurmCluster], str]] = {
    "expired": _expired,
    "not a jwt": lambda cluster: "not-a-token",
}


@pytest.mark.parametrize("first", list(BAD_FIRST))
async def test_a_refused_first_token_is_replaced_unnoticed(
    slurm_cluster: LocalSlurmCluster, mode: str, first: str
) -> None:
    tokens = [BAD_FIRST[first](slurm_cluster)]

    def fetch() -> str:
        token = tokens.pop(0) if tokens else slurm_cluster.token("alice", lifespan=600)
        fetched.append(token)
        return token

    fetched: list[str] = []
    client = make(mode, slurm_cluster.rest_url, auth=CallableAuth(fetch, user_name="alice"))
    try:
        diag = await call(client, "diag")
        assert diag.req_time is not None
        qos = await call(client, "accounting.qos")  # slurmdb too
        assert "normal" in {q.name for q in qos}
        assert len(fetched) == 2  # the bad one, then one good one for everything after
    finally:
        await close(client)
