"""Shared fixtures for the request-layer unit tests.

Every behaviour runs against both engines: ``engine_factory`` builds a SyncHTTP or an
AsyncHTTP (parametrized by ``mode``) over an ``httpx.MockTransport``, with a fake sleep that
records delays instead of waiting. Tests are ``async def`` so one body drives both twins.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from slurm_core._http import AsyncHTTP, SyncHTTP
from slurm_core._options import ClientOptions
from slurm_core._transport import reset_circuit_breakers

BASE_URL = "http://slurm.test:6820"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_circuit_breakers() -> Any:
    # Breaker state is process-wide by design; tests must not leak it to each other.
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


class Engine:
    """One face over SyncHTTP/AsyncHTTP so a test body exercises both."""

    def __init__(self, mode: str, options: ClientOptions) -> None:
        self.mode = mode
        self.sleeps: list[float] = []
        if mode == "sync":
            self.http: SyncHTTP | AsyncHTTP = SyncHTTP(options, sleep=self.sleeps.append)
        else:

            async def fake_sleep(delay: float) -> None:
                self.sleeps.append(delay)

            self.http = AsyncHTTP(options, sleep=fake_sleep)

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        result = self.http.request(method, path, **kw)
        if inspect.isawaitable(result):
            return await result
        return result

    async def close(self) -> None:
        if isinstance(self.http, AsyncHTTP):
            await self.http.aclose()
        else:
            self.http.close()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


EngineFactory = Callable[..., Engine]


@pytest.fixture
async def engine_factory(mode: str) -> AsyncIterator[EngineFactory]:
    engines: list[Engine] = []

    def make(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> Engine:
        options.setdefault("base_url", BASE_URL)
        options.setdefault("transport", httpx.MockTransport(handler))
        engine = Engine(mode, ClientOptions(**options))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()
