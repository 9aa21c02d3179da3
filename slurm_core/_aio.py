"""A lean HTTP/1.1 transport for ``AsyncSlurmClient`` on asyncio, its framing done by h11.

httpx stays the public seam (requests, responses, auth flows, ``MockTransport`` in tests);
only the wire beneath it changes. httpcore's async pool costs far more CPU per request than
the HTTP parsing itself (anyio stream wrappers, an O(connections) pool scan per request and,
without ``sniffio`` installed, an import attempt per request): on a 2-core machine shared with
slurmrestd that caps the throughput of 8 concurrent workers. This transport keeps the pool
and the socket work small (one ``transport.write`` per request, an ``asyncio.Protocol``
feeding bytes in) and leaves every byte of HTTP/1.1 to h11, the state machine httpcore uses
too: a malformed chunk size, a conflicting ``Content-Length`` or a CR/LF inside a header
value is refused by h11, never interpreted by hand.

Decision (architecture issue, async transport): the lean path stays, on h11. Figure 2 of
``bench/run.py`` (``AsyncSlurmClient.ping()``, 8 workers, real 24.11 slurmrestd, 2 shared
cores) measured in the same rounds: SDK on this transport 692 req/s, 493 us CPU/request;
SDK on httpx's ``AsyncHTTPTransport`` 209 req/s, 1730 us -- 3.3x (a quieter quick run: 950
vs 450 req/s, 2.1x; the threshold was 1.1x). h11 costs ~130 us/request more than the old
hand parser (365 us), which is the price of not parsing bytes by hand. The parsing is fuzzed
against a plain h11 client connection in tests/unit/test_aio_transport.py.

Scope: what slurmrestd speaks -- HTTP/1.1 keep-alive, ``Content-Length`` or chunked bodies
(or read until close), TCP, unix sockets and TLS. Bodies are read whole (the engine never
streams), up to ``max_response_size`` bytes, and every wait (pool, connect, each read) ends
by the attempt's deadline (``request.extensions[DEADLINE]``). The body is handed on as
received (still gzip-encoded, if so) for the limits wrapper to decode with a bound. Under
trio (no asyncio loop) every request goes to httpx's own transport.

Errors are httpx's: ``ConnectError``/``ConnectTimeout`` (never sent: safe to retry),
``ReadTimeout``, ``ReadError``, ``RemoteProtocolError`` (h11 refused the answer),
``LocalProtocolError`` (h11 refused the request, before any byte was written),
``PoolTimeout``; the engine's retry rules apply unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import typing
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx

from slurm_core._errmap import DEADLINE, DeadlineExceeded
from slurm_core._exceptions import ResponseTooLargeError
from slurm_core._redact import redact_url

__all__ = ["AsyncioTransport"]

_MAX_HEAD = 64 * 1024  # h11 refuses a status line + headers larger than this
_Key = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: an h11 state machine fed by the socket, and a waiter."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.error: BaseException | None = None
        self.received = 0  # bytes since the last request was written

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.closed:  # bytes after a close we initiated: nobody will read them
            return
        self.received += len(data)
        self.h11.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self._closed_by_peer(None)
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed_by_peer(exc)

    def _closed_by_peer(self, exc: BaseException | None) -> None:
        if not self.closed:
            self.closed = True
            self.error = exc
            self.h11.receive_data(b"")  # h11 decides what an EOF here means
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- use ------------------------------------------------------------------------------
    @property
    def reusable(self) -> bool:
        t = self.transport
        if self.closed or t is None or t.is_closing():
            return False
        # Idle and nothing unsolicited buffered: the next bytes belong to the next answer.
        return self.h11.our_state is h11.IDLE and not self.h11.trailing_data[0]

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def next_event(self, timeout: float | None, deadline: float | None) -> h11.Event:
        """h11's next event, waiting for bytes as long as it needs them (``timeout`` for
        each wait, and never past ``deadline``)."""
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                assert isinstance(event, h11.Event)  # PAUSED only follows a protocol switch
                return event
            if self.closed:  # h11 has seen the EOF and still wants bytes: never spin
                raise httpx.RemoteProtocolError("connection closed inside the response")
            wait, cut = _until(deadline, timeout)
            self.waiter = self.loop.create_future()
            try:
                await asyncio.wait_for(self.waiter, wait)
            except asyncio.TimeoutError:
                if cut:
                    raise DeadlineExceeded("answer still arriving at the deadline") from None
                raise httpx.ReadTimeout("timed out waiting for slurmrestd's answer") from None
            finally:
                self.waiter = None


class AsyncioTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive over asyncio, for one origin at a time per connection.

    Example::

        transport = AsyncioTransport(limits=httpx.Limits(max_connections=20))
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://slurm:6820/slurm/v0.0.42/ping")
    """

    def __init__(
        self,
        *,
        ssl_context: bool | ssl.SSLContext = True,
        uds: str | None = None,
        limits: httpx.Limits | None = None,
        fallback: httpx.AsyncBaseTransport | None = None,
        max_response_size: int | None = None,
    ) -> None:
        limits = limits or httpx.Limits()
        self._max_size = max_response_size
        self._ssl = ssl_context
        self._uds = uds
        self._max = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._idle: dict[_Key, deque[_Connection]] = {}
        self._active = 0  # open connections, idle or in use
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limits = limits
        # Made on first use: building it loads the CA bundle (~25 ms), and only trio needs it.
        self._fallback = fallback

    # -- pool -----------------------------------------------------------------------------
    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:  # a new event loop: connections of the old one are dead
            self._drop_idle()
            self._active = 0
            self._waiters = deque()
            self._loop = loop

    def _drop_idle(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                with contextlib.suppress(RuntimeError):  # its loop may be closed
                    conn.close()
        self._idle.clear()

    async def _acquire(
        self, key: _Key, timeouts: dict[str, Any], deadline: float | None
    ) -> _Connection:
        while True:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if conn.reusable:
                    return conn
                conn.close()
                self._active -= 1
            if self._max is None or self._active < self._max:
                break
            if any(self._idle.values()):  # the pool is full of other origins' connections
                for conns in self._idle.values():
                    if conns:
                        conns.popleft().close()
                        self._active -= 1
                        break
                continue
            assert self._loop is not None
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, _until(deadline, timeouts.get("pool"))[0])
            except asyncio.TimeoutError:
                raise httpx.PoolTimeout("no connection free in the pool") from None
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        self._active += 1
        try:
            return await self._connect(key, _until(deadline, timeouts.get("connect"))[0])
        except BaseException:
            self._active -= 1
            self._wake_one()
            raise

    async def _connect(self, key: _Key, timeout: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            ctx = self._ssl
            tls = ctx if isinstance(ctx, ssl.SSLContext) else _default_context(ctx)
        try:
            if self._uds:
                coro = loop.create_unix_connection(
                    lambda: _Connection(loop),
                    self._uds,
                    ssl=tls,
                    server_hostname=host if tls else None,
                )
            else:
                coro = loop.create_connection(lambda: _Connection(loop), host, port, ssl=tls)
            _, conn = await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        return conn

    def _release(self, key: _Key, conn: _Connection, keep: bool) -> None:
        idle = self._idle.setdefault(key, deque())
        if keep and conn.reusable and (self._max_idle is None or len(idle) < self._max_idle):
            idle.append(conn)
        else:
            conn.close()
            self._active -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- requests -------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio: httpx's own transport speaks it
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport(
                    verify=self._ssl, limits=self._limits, uds=self._uds, retries=0
                )
            return await self._fallback.handle_async_request(request)
        self._bind(loop)
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        deadline: float | None = request.extensions.get(DEADLINE)
        body = await request.aread()
        # Built before a connection is taken: h11 refuses CR/LF in a header value (or a bad
        # method, target or name) here, so a refused request costs no connection and no byte.
        head = _request_head(request, body)

        conn = await self._acquire(key, timeouts, deadline)
        keep = False
        try:
            data = _serialize(conn.h11, head, body)
            assert conn.transport is not None
            conn.received = 0
            try:
                conn.transport.write(data)
            except (OSError, RuntimeError) as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
            response, content = await _read_response(
                conn, timeouts.get("read"), deadline, self._max_size, request
            )
            keep = _next_cycle(conn.h11)
        except asyncio.CancelledError:
            raise
        except httpx.HTTPError:
            raise
        except h11.RemoteProtocolError as exc:
            raise _remote_error(conn, exc) from exc
        except (OSError, ValueError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        finally:
            self._release(key, conn, keep)
        return httpx.Response(
            response.status_code,
            headers=response.headers.raw_items(),
            stream=_Received(content),
            extensions={
                "http_version": b"HTTP/" + response.http_version,
                "reason_phrase": response.reason,
            },
        )

    async def aclose(self) -> None:
        self._drop_idle()
        self._active = 0
        if self._fallback is not None:
            await self._fallback.aclose()


def _request_head(request: httpx.Request, body: bytes) -> h11.Request:
    headers = list(request.headers.raw)
    framed = "content-length" in request.headers or "transfer-encoding" in request.headers
    if body and not framed:
        headers.append((b"Content-Length", b"%d" % len(body)))
    try:
        return h11.Request(method=request.method, target=request.url.raw_path, headers=headers)
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc)) from exc


def _serialize(conn: h11.Connection, head: h11.Request, body: bytes) -> bytes:
    """The whole request as h11 frames it, for one write."""
    events: list[h11.Event] = [head, h11.Data(data=body)] if body else [head]
    events.append(h11.EndOfMessage())
    try:
        return b"".join(conn.send(event) or b"" for event in events)
    except h11.LocalProtocolError as exc:  # e.g. a body longer than its Content-Length
        raise httpx.LocalProtocolError(str(exc)) from exc


def _until(deadline: float | None, timeout: float | None) -> tuple[float | None, bool]:
    """How long one wait may last (``timeout``, or less to end by the deadline), and
    whether the deadline is what bounds it."""
    if deadline is None:
        return timeout, False
    remaining = max(deadline - time.monotonic(), 0.0)
    cut = timeout is None or timeout - remaining > 0.05
    return (remaining, True) if cut else (timeout, False)


class _Received(httpx.AsyncByteStream):
    """The body as received. Not an ``httpx.ByteStream``: httpx would decode that at once,
    without a bound, where the limits wrapper decodes it with one."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._content


async def _read_response(
    conn: _Connection,
    timeout: float | None,
    deadline: float | None,
    limit: int | None,
    request: httpx.Request,
) -> tuple[h11.Response, bytes]:
    """The final answer (interim 1xx skipped) and its whole body; trailers are dropped."""
    response: h11.Response | None = None
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await conn.next_event(timeout, deadline)
        if isinstance(event, h11.Data):
            if deadline is not None and time.monotonic() > deadline:  # a fast endless stream
                raise DeadlineExceeded("answer still arriving at the deadline")
            size += len(event.data)
            if limit is not None and size > limit:
                _too_large(request, limit)
            chunks.append(event.data)
        elif isinstance(event, h11.EndOfMessage):
            break
        elif isinstance(event, h11.Response):
            response = event
            declared = dict(event.headers).get(b"content-length", b"")
            if limit is not None and declared.isdigit() and int(declared) > limit:
                _too_large(request, limit)
        elif not isinstance(event, h11.InformationalResponse):
            raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} from the server")
    assert response is not None  # h11 yields Response before any Data or EndOfMessage
    return response, b"".join(chunks)


def _too_large(request: httpx.Request, limit: int) -> typing.NoReturn:
    url = redact_url(request.url)
    raise ResponseTooLargeError(
        f"the answer to {request.method} {url} has more than max_response_size "
        f"({limit} bytes); reading stopped",
        limit=limit,
        method=request.method,
        url=url,
    )


def _next_cycle(conn: h11.Connection) -> bool:
    """Ready the connection for the next request; False when it must close instead."""
    if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
        conn.start_next_cycle()
        return True
    return False


def _remote_error(conn: _Connection, exc: h11.RemoteProtocolError) -> httpx.TransportError:
    if isinstance(conn.error, OSError):  # reset by the peer, not a framing fault
        return httpx.ReadError(str(conn.error) or type(conn.error).__name__)
    if conn.closed and conn.received == 0:
        # A keep-alive connection the server dropped while idle: httpcore's words, so
        # callers that recognise them keep working.
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    return httpx.RemoteProtocolError(str(exc))


def _default_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        import certifi

        ctx.load_verify_locations(certifi.where())
    return ctx
