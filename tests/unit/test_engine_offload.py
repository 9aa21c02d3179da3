"""The async engine parses large bodies in a worker thread, never on the event loop (#20):
the thread each parse ran on is recorded and compared with the loop's."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Generator
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from slurm_core import ResponseValidationError
from slurm_core._body import parse_json
from slurm_core._engine import OFFLOAD_BYTES, run_async
from slurm_core._http import AsyncHTTP
from slurm_core._options import ClientOptions
from slurm_core._versions._request import Request
from slurm_core._versions._responses import ResponseParser
from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import AsyncWatcher, JobEventType, WatchOptions

pytestmark = pytest.mark.anyio

BIG = b'{"items": [' + b",".join(b'"%06d"' % i for i in range(OFFLOAD_BYTES // 8)) + b"]}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _engine() -> AsyncHTTP:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/small":
            return httpx.Response(200, json={"items": ["a"]})
        if request.url.path == "/broken":
            return httpx.Response(200, content=BIG[:-2])  # a large body, cut short
        return httpx.Response(200, content=BIG)

    return AsyncHTTP(
        ClientOptions(base_url="http://slurm.test", transport=httpx.MockTransport(handler))
    )


def _op(paths: list[str], seen: list[int]) -> Generator[Request, httpx.Response, int]:
    total = 0
    for path in paths:
        response = yield Request("GET", path)
        total += len(parse_json(response, what=path)["items"])
        seen.append(threading.get_ident())
    return total


async def test_large_bodies_are_parsed_off_the_loop_small_ones_on_it() -> None:
    assert len(BIG) >= OFFLOAD_BYTES
    loop = threading.get_ident()
    seen: list[int] = []
    async with _engine() as http:
        # The last step finishes the operation in the thread: its result still comes back.
        total = await run_async(http, _op(["/small", "/big", "/small", "/big"], seen))
    assert total == 2 + 2 * (OFFLOAD_BYTES // 8)
    on_loop = [t == loop for t in seen]
    assert on_loop == [True, False, True, False]


async def test_an_error_parsing_a_large_body_off_the_loop_is_the_typed_error() -> None:
    seen: list[int] = []
    async with _engine() as http:
        with pytest.raises(ResponseValidationError):
            await run_async(http, _op(["/broken"], seen))
    assert seen == []


async def test_the_v0_0_38_watch_parses_its_listings_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # v0.0.38 has no jobs/state: each poll is a GET /jobs listing of every job (~80 here).
    fake = FakeSlurmServer(api_version="v0.0.38", default_runtime=30)
    sync = fake.client()
    ids = [sync.jobs.submit().command(["true"]).execute().job_id for _ in range(80)]
    threads: list[int] = []
    sizes: list[int] = []
    parse_jobs = ResponseParser.parse_jobs

    def recording(self: Any, response: httpx.Response) -> Any:
        threads.append(threading.get_ident())
        sizes.append(len(response.content))
        return parse_jobs(self, response)

    monkeypatch.setattr(ResponseParser, "parse_jobs", recording)
    client = fake.async_client()

    async def sleep(delay: float) -> None:
        fake.advance(delay)
        await anyio.lowlevel.checkpoint()

    watcher = AsyncWatcher(
        client._core, client._http, WatchOptions(min_interval=5, initial_interval=5), sleep=sleep
    )
    loop = threading.get_ident()
    async with client:
        finals = [
            e.job_id
            async for e in watcher.watch(ids[:3], timeout=3600)
            if e.type is JobEventType.COMPLETED
        ]
    assert sorted(finals) == sorted(ids[:3])
    # The full listings (the deltas after them may be small) were parsed off the loop.
    large = [thread for size, thread in zip(sizes, threads, strict=True) if size >= OFFLOAD_BYTES]
    assert large
    assert loop not in large


def test_an_abandoned_coroutine_does_not_keep_the_process_from_exiting() -> None:
    # Dagster abandons an async step's coroutine when SIGINT lands in its event loop: that
    # loop's task never ends, and anyio's worker threads (not daemons) would wait for it,
    # so the process never exited after a large answer was parsed off the loop.
    script = """
import asyncio
from slurm_core.testing import FakeSlurmServer

fake = FakeSlurmServer(api_version="v0.0.42")
with fake.client() as client:
    for _ in range(60):
        client.jobs.submit().script("#!/bin/sh\\\\ntrue\\\\n").execute()

def interrupt():
    raise KeyboardInterrupt

async def step():
    async with fake.async_client() as client:
        assert len(await client.jobs.list()) == 60  # a large answer: parsed off the loop
        asyncio.get_running_loop().call_soon(interrupt)
        await asyncio.sleep(3600)

loop = asyncio.new_event_loop()
try:
    loop.run_until_complete(step())
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the process never exited: a worker thread waited for the abandoned loop")
    assert done.stdout.strip() == "interrupted", done.stderr
