"""Bounds on every exchange: the attempt's deadline, the body's size, and header bytes refused.

:class:`LimitsTransport` (and its async twin) wraps the transport that talks to the network
(or yours) and returns responses whose body is already read, within these bounds:

- **Deadline.** The engine stamps each attempt with ``request.extensions[DEADLINE]`` (a
  ``time.monotonic()`` value). Every connect, write and read waits at most until then --
  the per-operation timeouts are clipped to what is left -- and the body is read chunk by
  chunk against it, so a server trickling one byte a second is cut off at the deadline.
  On the sync side httpcore reads with the timeout it was given at the start of the body,
  so :func:`add_deadline_backend` clips every socket operation of httpx's pool as well.
- **Size.** ``max_response_size`` bounds the body read off the wire (a declared
  ``Content-Length`` beyond it fails before reading) and the body after decoding: gzip and
  deflate are decoded here, incrementally, never producing more than the limit (a gzip
  bomb costs at most the limit). Any other ``Content-Encoding`` is refused; only
  ``gzip, deflate`` are advertised.
- **Header bytes.** A CR, LF or NUL in any header name or value (a token read from a file,
  a header passed by hand) refuses the request before a connection is taken.

Exceeding a bound raises promptly: :class:`~slurm_core.ResponseTooLargeError`,
:class:`DeadlineExceeded` (mapped to ``SlurmTimeoutError(phase="deadline")``) or
:class:`~slurm_core.ConfigurationError`.
"""

from __future__ import annotations

import contextvars
import ssl
import time
import typing
import zlib
from collections.abc import Iterable

import httpcore
import httpx

from slurm_core._errmap import DEADLINE, DeadlineExceeded
from slurm_core._exceptions import (
    ConfigurationError,
    ResponseTooLargeError,
    ResponseValidationError,
)
from slurm_core._redact import redact_url

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "AsyncLimitsTransport",
    "LimitsTransport",
    "add_deadline_backend",
]

DEFAULT_MAX_RESPONSE_SIZE = 256 << 20
"""256 MiB. A 10k-job v0.0.45 listing is ~56 MiB of JSON (and ~180 MiB of Python objects
once decoded), so this admits ~45k jobs in one answer; past that, decoding alone needs well
over a gigabyte and the caller should filter the listing instead."""

ACCEPT_ENCODING = "gzip, deflate"
"""What the engine advertises: the encodings :class:`_Body` decodes with a bound."""

_BAD_HEADER_BYTES = (b"\r", b"\n", b"\0")
# The attempt's deadline, and whether it cut a socket wait short (sync pool only).
_deadline: contextvars.ContextVar[tuple[float, list[bool]] | None] = contextvars.ContextVar(
    "slurm_deadline", default=None
)


def _describe(request: httpx.Request) -> str:
    return f"{request.method} {redact_url(request.url)}"


def _refuse_header_injection(request: httpx.Request) -> None:
    for name, value in request.headers.raw:
        if any(b in name or b in value for b in _BAD_HEADER_BYTES):
            # The name only: the value may be the token that was read with a stray newline.
            shown = name.split(b"\r")[0].split(b"\n")[0][:64].decode("latin-1")
            raise ConfigurationError(
                f"request header {shown!r} contains a CR, LF or NUL byte; "
                f"refused before sending {_describe(request)}"
            )


def _clip_timeouts(request: httpx.Request, deadline: float) -> bool:
    """Every per-operation timeout of this attempt ends by the deadline at the latest."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded(f"deadline passed before {_describe(request)} was sent")
    # The client's own timeouts, kept aside once: a retry clips them afresh.
    base = request.extensions.setdefault("slurm_timeout", request.extensions.get("timeout", {}))
    request.extensions["timeout"] = {
        phase: remaining if base.get(phase) is None else min(base[phase], remaining)
        for phase in ("connect", "read", "write", "pool")
    }
    return any(cut_short(base.get(p), remaining) for p in ("connect", "read", "write", "pool"))


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _deadline_error(
    exc: httpx.TimeoutException, request: httpx.Request, cut: bool
) -> httpx.TimeoutException:
    """A timeout on a wait the deadline cut short is the deadline's; any other keeps its
    own phase (``timeout=0.2`` and a 0.5 s silence is a read timeout)."""
    if isinstance(exc, DeadlineExceeded) or not cut:
        return exc
    return DeadlineExceeded(f"no complete answer by the deadline: {exc}", request=request)


def cut_short(timeout: float | None, remaining: float) -> bool:
    """Whether the deadline, not ``timeout``, bounds a wait (by more than scheduling noise)."""
    return timeout is None or timeout - remaining > 0.05


class _Body:
    """Accumulates a body off the wire, decoding it, within ``limit`` bytes either way."""

    def __init__(self, response: httpx.Response, request: httpx.Request, limit: int) -> None:
        self.limit = limit
        self.request = request
        self.parts: list[bytes] = []
        self.size = 0
        self.wire = 0
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            self._too_large(f"declares {int(declared)} bytes")
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        self.decoded = coding not in ("", "identity")
        self._z: typing.Any = None
        if coding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self._z = zlib.decompressobj()
        elif self.decoded:
            raise ResponseValidationError(
                f"unsupported Content-Encoding {coding[:40]!r} in the answer to "
                f"{_describe(request)} (only {ACCEPT_ENCODING} are accepted)"
            )

    def _too_large(self, how: str) -> typing.NoReturn:
        raise ResponseTooLargeError(
            f"the answer to {_describe(self.request)} {how}, more than max_response_size "
            f"({self.limit} bytes); reading stopped",
            limit=self.limit,
            method=self.request.method,
            url=redact_url(self.request.url),
        )

    def _add(self, data: bytes) -> None:
        if data:
            self.size += len(data)
            if self.size > self.limit:
                self._too_large("decodes to more bytes" if self.decoded else "has more bytes")
            self.parts.append(data)

    def feed(self, data: bytes) -> None:
        self.wire += len(data)
        if self.wire > self.limit:
            self._too_large("has more bytes")
        if self._z is None:
            self._add(data)
            return
        try:
            while data:
                # Never more output than one byte past the limit, however small the input.
                self._add(self._z.decompress(data, self.limit - self.size + 1))
                data = self._z.unconsumed_tail
        except zlib.error as exc:
            raise ResponseValidationError(
                f"undecodable compressed answer to {_describe(self.request)}: {exc}"
            ) from exc

    def finish(self) -> bytes:
        if self._z is not None:
            try:
                self._add(self._z.flush(self.limit - self.size + 1))
            except zlib.error as exc:  # pragma: no cover - flush rarely finds new faults
                raise ResponseValidationError(
                    f"undecodable compressed answer to {_describe(self.request)}: {exc}"
                ) from exc
        return b"".join(self.parts)

    def response(self, response: httpx.Response) -> httpx.Response:
        content = self.finish()
        headers: Iterable[tuple[bytes, bytes]] = response.headers.raw
        if self.decoded:  # what the caller gets is no longer encoded
            headers = [
                (k, v)
                for k, v in headers
                if k.lower() not in (b"content-encoding", b"content-length")
            ]
        return httpx.Response(
            response.status_code,
            headers=list(headers),
            stream=httpx.ByteStream(content),
            extensions=response.extensions,
        )


def _already_read(response: httpx.Response, limit: int, request: httpx.Request) -> bool:
    """A response built in memory (``MockTransport``): only its size is left to check."""
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return False
    if len(content) > limit:
        _Body(httpx.Response(200), request, limit)._too_large("has more bytes")
    return True


class LimitsTransport(httpx.BaseTransport):
    """Wraps a sync transport with the deadline, size and header bounds (module docstring).

    Example::

        transport = LimitsTransport(httpx.HTTPTransport(), max_response_size=64 << 20)
    """

    def __init__(self, inner: httpx.BaseTransport, max_response_size: int) -> None:
        self.inner = inner
        self.max_response_size = max_response_size

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _refuse_header_injection(request)
        deadline: float | None = request.extensions.get(DEADLINE)
        cut = [False]
        token = _deadline.set(None if deadline is None else (deadline, cut))
        try:
            if deadline is not None:
                cut[0] = _clip_timeouts(request, deadline)
            response = self.inner.handle_request(request)
            if _already_read(response, self.max_response_size, request):
                return response
            try:
                body = _Body(response, request, self.max_response_size)
                for chunk in response.iter_raw():
                    body.feed(chunk)
                    if _past(deadline):
                        raise DeadlineExceeded("answer still arriving at the deadline")
            finally:
                response.close()
            return body.response(response)
        except httpx.TimeoutException as exc:
            mapped = _deadline_error(exc, request, cut[0])
            if mapped is exc:
                raise
            raise mapped from exc
        finally:
            _deadline.reset(token)

    def close(self) -> None:
        self.inner.close()


class AsyncLimitsTransport(httpx.AsyncBaseTransport):
    """Async twin of :class:`LimitsTransport` (the lean transport reads the deadline itself)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, max_response_size: int) -> None:
        self.inner = inner
        self.max_response_size = max_response_size

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _refuse_header_injection(request)
        deadline: float | None = request.extensions.get(DEADLINE)
        cut = False
        try:
            if deadline is not None:
                cut = _clip_timeouts(request, deadline)
            response = await self.inner.handle_async_request(request)
            if _already_read(response, self.max_response_size, request):
                return response
            try:
                body = _Body(response, request, self.max_response_size)
                async for chunk in response.aiter_raw():
                    body.feed(chunk)
                    if _past(deadline):
                        raise DeadlineExceeded("answer still arriving at the deadline")
            finally:
                await response.aclose()
            return body.response(response)
        except httpx.TimeoutException as exc:
            mapped = _deadline_error(exc, request, cut)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- the sync pool's sockets, clipped to the deadline ---------------------------------------------
def _left(timeout: float | None, error: type[Exception]) -> float | None:
    state = _deadline.get()
    if state is None:
        return timeout
    deadline, cut = state
    remaining = deadline - time.monotonic()
    if cut_short(timeout, remaining):
        cut[0] = True
    if remaining <= 0:
        raise error("deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def add_deadline_backend(transport: httpx.HTTPTransport) -> None:
    """Clip every socket operation of ``transport``'s pool to the attempt's deadline.

    httpcore reads a response (headers, then body) with the read timeout it was handed at
    the start, so a trickle of one byte per read timeout would never end; its network
    backend is the one seam below that. httpx does not expose it: this wraps the pool's
    backend in place, and leaves the transport as it is if httpx ever builds it otherwise
    (the hostile-server tests then fail on the sync trickle).
    """
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
