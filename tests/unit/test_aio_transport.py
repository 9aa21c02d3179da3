"""The lean asyncio transport beneath AsyncSlurmClient (slurm_core._aio), on a scripted
local HTTP server (127.0.0.1): framing, keep-alive, errors mapped to httpx's, pool limits,
cancellation, the engine's retry rules on top, and its parsing fuzzed against plain h11."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import h11
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_core import AsyncSlurmClient, ConfigurationError, StaticToken
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
        while not isinstance(inner, AsyncioTransport) and hasattr(inner, "inner"):
            inner = inner.inner  # the breaker, the limits
        assert isinstance(inner, AsyncioTransport)
        server.script.insert(0, ok(b'{"paths": {"/slurm/v0.0.42/ping": {}}}'))
        pings = await client.ping()
    assert pings[0].hostname == "h"
    assert b"x-slurm-user-token: t" in server.requests[-1].lower()


# --- security regressions -----------------------------------------------------------------
def test_a_negative_chunk_size_is_refused_promptly() -> None:
    """``-6`` as a chunk size once sent the parser into a loop that never yielded to the event
    loop (so no timeout could fire): the request runs in a daemon thread, bounded by join()."""
    outcome: list[BaseException | httpx.Response] = []

    async def evil(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-6\r\nabc\r\n")
        await writer.drain()
        await asyncio.sleep(30)  # keep the connection open: only the parser can end this

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(transport=AsyncioTransport(), timeout=30) as client,
            Server([evil]) as url,
        ):
            try:
                outcome.append(await asyncio.wait_for(client.get(f"{url}/chunks"), 20))
            except BaseException as exc:
                outcome.append(exc)

    thread = threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(25)
    assert not thread.is_alive(), "the transport spun on a negative chunk size"
    assert time.monotonic() - started < 5  # refused, not timed out
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.RemoteProtocolError)
    assert "chunk" in str(outcome[0])


async def test_cr_lf_in_a_header_value_is_refused_before_anything_is_written() -> None:
    server = Server([ok(), ok()])
    async with (
        httpx.AsyncClient(transport=AsyncioTransport(), timeout=5) as client,
        server as url,
    ):
        with pytest.raises(httpx.LocalProtocolError, match="header value"):
            await client.get(f"{url}/x", headers={"X-Token": "t\r\nX-Injected: 1"})
        assert server.connections == 0  # refused before a connection was even taken
        assert (await client.get(f"{url}/next")).json() == {"ok": True}
    assert len(server.requests) == 1
    assert b"x-injected" not in server.requests[0].lower()


async def test_an_injected_token_is_a_typed_error_and_never_sent() -> None:
    server = Server([ok(b'{"pings": []}')])
    async with (
        server as url,
        AsyncSlurmClient(
            url, auth=StaticToken("t\r\nX-Injected: 1", user_name="alice"), api_version="v0.0.42"
        ) as client,
    ):
        with pytest.raises(ConfigurationError, match="X-SLURM-USER-TOKEN") as info:
            await client.ping()
    assert "X-Injected" not in str(info.value)
    assert server.connections == 0
    assert server.requests == []


# --- fuzz: the same verdict as a plain h11 client ------------------------------------------
_Verdict = tuple[int, list[tuple[bytes, bytes]], bytes] | None  # None: refused


@st.composite
def raw_responses(draw: st.DrawFn) -> bytes:
    """An answer as slurmrestd (or something pretending to be it) might write it: framed by
    Content-Length, chunked (extensions, trailers) or by closing, and often malformed."""
    status = draw(
        st.sampled_from(
            [b"HTTP/1.1 200 OK"] * 4
            + [b"HTTP/1.0 200 OK", b"HTTP/1.1 500 ", b"HTTP/1.1 204 No Content"]
            + [b"SPDY/9 what", b"HTTP/1.1 20 OK", b"HTTP/1.1 200OK", b"HTTP/1.1 200 OK\n"]
        )
    )
    headers = draw(
        st.lists(
            st.sampled_from(
                [
                    *(b"Server: slurmrestd", b"X-Sp:  padded  ", b"X-Empty:", b"Connection: close"),
                    *(b"Bad Name: x", b"NoColon", b"X-Fold: a\r\n folded"),
                ]
            ),
            max_size=3,
        )
    )
    body = draw(st.binary(max_size=24))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        good = b"%d" % len(body)
        lengths = st.sampled_from([good] * 4 + [b"%d" % (len(body) + 3), b"-6", b"0x10", b""])
        headers += [
            b"Content-Length: " + v for v in draw(st.lists(lengths, min_size=1, max_size=2))
        ]
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        parts = []
        for data in draw(st.lists(st.binary(min_size=1, max_size=12), max_size=3)):
            n = len(data)
            size = draw(
                st.sampled_from(
                    [
                        *(b"%x" % n, b"%X" % n, b"%x;ext=1" % n, b'%x ; a="b"' % n),
                        *(b"-6", b"0x10", b"fffffffffffffffffffff", b"g", b""),
                    ]
                )
            )
            end = draw(st.sampled_from([b"\r\n"] * 4 + [b"", b"\n"]))
            parts.append(size + b"\r\n" + data + end)
        trailer = draw(st.sampled_from([b"", b"X-Trailer: yes\r\n", b"bad trailer\r\n"]))
        body = b"".join(parts) + b"0\r\n" + trailer + b"\r\n"
    interim = draw(st.sampled_from([b"", b"", b"HTTP/1.1 100 Continue\r\n\r\n"]))
    raw = interim + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    cut = draw(st.none() | st.integers(0, len(raw)))
    return raw if cut is None else raw[:cut]


def h11_verdict(raw: bytes) -> _Verdict:
    """What a plain h11 client connection makes of ``raw`` followed by the server's close."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/fuzz", headers=[("Host", "127.0.0.1")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    head: h11.Response | None = None
    body = b""
    try:
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return head.status_code, list(head.headers.raw_items()), body
            elif not isinstance(event, h11.InformationalResponse):
                return None
    except h11.RemoteProtocolError:
        return None


async def transport_verdict(raw: bytes) -> _Verdict:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)
        await writer.drain()
        writer.close()

    async with (
        httpx.AsyncClient(transport=AsyncioTransport(), timeout=5) as client,
        Server([answer]) as url,
    ):
        try:
            response = await asyncio.wait_for(client.get(f"{url}/fuzz"), 10)
        except httpx.TransportError:
            return None
    return response.status_code, list(response.headers.raw), response.content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_responses())
def test_it_parses_answers_as_h11_does(raw: bytes) -> None:
    assert asyncio.run(transport_verdict(raw)) == h11_verdict(raw)
