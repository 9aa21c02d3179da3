"""The async driver parses no large answer on the event loop (#20: Airflow's triggerer).

A large response (an OpenAPI document, a full job listing) reaches the operation in a
worker thread, so the other tasks of the loop keep running while it is parsed; a small one
(a ``jobs/state`` poll, a job record) is handed over on the loop, as before.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import httpx
import pytest

from slurm_core import ResponseValidationError
from slurm_core._engine import OFFLOAD_BYTES, PausingOp, run_async, run_sync
from slurm_core._http import AsyncHTTP, SyncHTTP
from slurm_core._options import ClientOptions
from slurm_core._versions import Request

pytestmark = pytest.mark.anyio

BIG = b"x" * OFFLOAD_BYTES
SMALL = b"{}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _options(body: bytes) -> ClientOptions:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    return ClientOptions(base_url="http://slurm.test", transport=httpx.MockTransport(handler))


def _parse(threads: list[int], work: float = 0.0, fail: bool = False) -> PausingOp[int]:
    """Two requests; each answer is 'parsed' (``work`` seconds of blocking CPU)."""
    total = 0
    for _ in range(2):
        response = yield Request("GET", "/x")
        threads.append(threading.get_ident())
        time.sleep(work)
        if fail:
            raise ResponseValidationError("bad body", path="<root>", response=response)
        total += len(response.content)
    return total


async def test_a_large_answer_is_parsed_off_the_loop_while_the_loop_runs() -> None:
    ticks: list[float] = []
    threads: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await anyio.sleep(0.01)

    async with AsyncHTTP(_options(BIG)) as http, anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.sleep(0.05)
        started = time.monotonic()
        total = await run_async(http, _parse(threads, work=0.3))
        ended = time.monotonic()
        tg.cancel_scope.cancel()
    assert total == 2 * len(BIG)
    assert threading.get_ident() not in threads
    # The loop ticked all along the 0.6 s of parsing (it would have stalled on it).
    during = [t for t in ticks if started < t < ended]
    assert len(during) >= 10, len(during)


async def test_a_small_answer_is_parsed_on_the_loop() -> None:
    threads: list[int] = []
    async with AsyncHTTP(_options(SMALL)) as http:
        assert await run_async(http, _parse(threads)) == 2 * len(SMALL)
    assert threads == [threading.get_ident()] * 2


async def test_an_error_raised_while_parsing_off_the_loop_reaches_the_caller() -> None:
    threads: list[Any] = []
    async with AsyncHTTP(_options(BIG)) as http:
        with pytest.raises(ResponseValidationError, match="bad body"):
            await run_async(http, _parse(threads, fail=True))
    assert len(threads) == 1


def test_the_blocking_driver_parses_in_the_calling_thread() -> None:
    threads: list[int] = []
    with SyncHTTP(_options(BIG)) as http:
        assert run_sync(http, _parse(threads)) == 2 * len(BIG)
    assert threads == [threading.get_ident()] * 2
