"""The lean asyncio transport beneath AsyncSlurmClient (slurm_core._aio), on a scripted
local HTTP server (127.0.0.1): framing, keep-alive, errors mapped to httpx's, pool limits,
cancellation, and the engine's retry rules on top."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from slurm_core import AsyncSlurmClient, StaticToken
from slurm_core._aio import AsyncioTransport
from slurm_core._http import AsyncHTTP
from slurm_core._options import ClientOptions
from slurm_core._retry import RetryPolicy

pytestmark = pytest.mark.anyio

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Server:
    """Answers each request on a connection with the next of ``script``'s raw answers (a
    callable gets the writer and does what it likes). Counts connections and requests."""

    def __init__(self, script: list[bytes | Handler]) -> None:
        self.script = list(script)
        self.connections = 0
        self.requests: list[bytes] = []
        self.got_request = asyncio.Event()
        self.server: asyncio.base_events.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.script:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                self.got_request.set()
                answer = self.script.pop(0)
                if callable(answer):
                    await answer(reader, writer)
                    if writer.is_closing():
                        return
                    continue
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def ok(body: bytes = b'{"ok": true}', *extra: bytes) -> bytes:
    head = [b"HTTP/1.1 200 OK", b"Content-Type: application/json", *extra]
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AsyncioTransport(), timeout=5) as c:
        yield c


async def test_keep_alive_reuses_one_connection(client: httpx.AsyncClient) -> None:
    server = Server([ok(b'{"n": 1}'), ok(b'{"n": 2}'), ok(b'{"n": 3}')])
    async with server as url:
        answers = [(await client.get(f"{url}/x?a=1")).json()["n"] for _ in range(3)]
    assert answers == [1, 2, 3]
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /x?a=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in server.requests[0].lower()


async def test_a_post_body_is_sent_with_its_length(client: httpx.AsyncClient) -> None:
    server = Server([ok()])
    async with server as url:
        await client.post(f"{url}/submit", json={"job": {"name": "x"}})
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert json.loads(body) == {"job": {"name": "x"}}
    assert b"content-length: %d" % len(body) in head.lower()


async def test_chunked_bodies_with_trailers(client: httpx.AsyncClient) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n4;ext=1\r\n 12}\r\n0\r\nX-Trailer: yes\r\n\r\n'
    )
    server = Server([chunked, ok()])
    async with server as url:
        assert (await client.get(f"{url}/c")).json() == {"a": 12}
        assert (await client.get(f"{url}/c")).json() == {"ok": True}  # framing intact
    assert server.connections == 1


async def test_a_body_delimited_by_close_and_an_interim_answer(
    client: httpx.AsyncClient,
) -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        writer.write(b'{"long": ')
        await writer.drain()
        writer.write(b'"body"}')
        writer.close()

    server = Server([until_close, ok()])
    async with server as url:
        response = await client.get(f"{url}/u")
        assert (response.status_code, response.json()) == (200, {"long": "body"})
        assert (await client.get(f"{url}/u")).json() == {"ok": True}
    assert server.connections == 2  # the first one ended with its body


async def test_gzip_is_decoded_by_httpx(client: httpx.AsyncClient) -> None:
    body = gzip.compress(b'{"zipped": true}')
    server = Server([ok(body, b"Content-Encoding: gzip")])
    async with server as url:
        assert (await client.get(f"{url}/z")).json() == {"zipped": True}


async def test_a_connection_the_server_closed_is_not_reused(client: httpx.AsyncClient) -> None:
    async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ok())  # keep-alive promised, then closed anyway
        await writer.drain()
        writer.close()

    server = Server([answer_and_close, ok(b'{"second": true}')])
    async with server as url:
        await client.get(f"{url}/a")
        transport = client._transport
        assert isinstance(transport, AsyncioTransport)
        idle = [c for conns in transport._idle.values() for c in conns]
        for _ in range(200):  # until the loop has delivered the close
            if not idle or idle[0].closed:
                break
            await asyncio.sleep(0.01)
        assert (await client.get(f"{url}/b")).json() == {"second": True}
    assert server.connections == 2


async def test_errors_are_httpx_errors() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SPDY/9 what\r\n\r\n")
        await writer.drain()

    async with httpx.AsyncClient(transport=AsyncioTransport(), timeout=0.3) as client:
        server = Server([hang, hang_up, garbage])
        async with server as url:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"{url}/slow")
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await client.get(f"{url}/gone")
            with pytest.raises(httpx.RemoteProtocolError, match="status line"):
                await client.get(f"{url}/odd")
        with pytest.raises(httpx.ConnectError):  # the server is gone now
            await client.get(f"{url}/refused")
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/x")


async def test_the_pool_limit_and_its_timeout() -> None:
    release = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.write(ok(b'{"slow": true}'))
        await writer.drain()

    transport = AsyncioTransport(limits=httpx.Limits(max_connections=1))
    timeout = httpx.Timeout(5.0, pool=0.2)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        server = Server([slow, ok(b'{"next": true}')])
        async with server as url:
            first = asyncio.ensure_future(client.get(f"{url}/1"))
            await asyncio.sleep(0)  # let it take the only connection
            with pytest.raises(httpx.PoolTimeout):
                await client.get(f"{url}/2")
            release.set()
            assert (await first).json() == {"slow": True}
            assert (await client.get(f"{url}/3")).json() == {"next": True}
        assert server.connections == 1


async def test_a_cancelled_request_frees_its_connection() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    transport = AsyncioTransport(limits=httpx.Limits(max_connections=1))
    async with httpx.AsyncClient(transport=transport, timeout=5) as client:
        server = Server([hang, ok()])
        async with server as url:
            task = asyncio.ensure_future(client.get(f"{url}/h"))
            await server.got_request.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert transport._active == 0
            assert (await client.get(f"{url}/next")).json() == {"ok": True}
        assert server.connections == 2  # the cancelled one was not reused


async def test_the_engine_retries_a_read_over_it() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    sleeps: list[float] = []

    async def no_wait(delay: float) -> None:
        sleeps.append(delay)

    server = Server([hang_up, ok(b'{"pings": []}')])
    async with server as url:
        engine = AsyncHTTP(ClientOptions(base_url=url, retry=RetryPolicy()), sleep=no_wait)
        try:
            response = await engine.request("GET", "/slurm/v0.0.42/ping")
        finally:
            await engine.aclose()
    assert response.json() == {"pings": []}
    assert len(sleeps) == 1


async def test_async_clients_use_it_by_default() -> None:
    server = Server([ok(json.dumps({"pings": [{"hostname": "h", "pinged": "UP"}]}).encode())])
    async with (
        server as url,
        AsyncSlurmClient(
            url, auth=StaticToken("t", user_name="alice"), api_version="v0.0.42"
        ) as client,
    ):
        inner = client._http._client._transport
        assert isinstance(getattr(inner, "inner", inner), AsyncioTransport)
        server.script.insert(0, ok(b'{"paths": {"/slurm/v0.0.42/ping": {}}}'))
        pings = await client.ping()
    assert pings[0].hostname == "h"
    assert b"x-slurm-user-token: t" in server.requests[-1].lower()
