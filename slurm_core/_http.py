"""The request engine under the clients: send, retry, map errors, observe (options elsewhere).

One pooled ``httpx.Client``/``AsyncClient`` per engine (keep-alive: a new connection per
call costs ~8x), wrapped as::

    SyncHTTP.request ─ retry loop, rate limit, error mapping, logging, hooks, tracing
      └─ httpx.Client (auth=SlurmAuth: token, refresh once on 401/511)
           └─ CircuitBreakerTransport (per-origin, process-wide)
                └─ LimitsTransport (deadline, max_response_size, CR/LF in headers refused)
                     └─ httpx.HTTPTransport (TLS / mTLS / unix socket)  or a user transport

Each call has a deadline (``call_timeout``, or the one its operation was given: see
``_engine.run_sync``); each attempt gets the nearer of that and ``time.monotonic()`` + the
largest value of ``timeout``, in ``request.extensions[DEADLINE]``; the transports end every
wait by then. Pauses between attempts fit in the call's deadline or are not taken.

:class:`_BaseHTTP` holds every decision (request building, should-retry, delays incl.
``Retry-After``, error mapping, redaction); :class:`SyncHTTP` and :class:`AsyncHTTP` only
send, sleep and call hooks.

Example::

    opts = ClientOptions(base_url="http://slurm:6820", auth=StaticToken(token, "alice"))
    with SyncHTTP(opts) as http:
        resp = http.request("GET", "/slurm/v0.0.40/diag")     # 2xx or a typed SlurmError
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, NoReturn

import anyio
import httpx

from slurm_core._body import check_success_body, encode_json
from slurm_core._errmap import DEADLINE, error_from_exception, error_from_response
from slurm_core._exceptions import (
    ConfigurationError,
    RateLimitError,
    ServerError,
)
from slurm_core._options import (
    ClientOptions,
    HookResult,
    RequestInfo,
    ResponseInfo,
    warn_if_exposed,
)
from slurm_core._redact import (
    install_log_redaction,
    redact_headers,
    redact_url,
    scrub_error,
    scrub_request,
)
from slurm_core._retry import (
    IDEMPOTENT_METHODS,
    delay_after_exception,
    delay_after_status,
    fit_deadline,
)
from slurm_core._tracing import tracing
from slurm_core._transport import (
    ACCEPT_ENCODING,
    TokenBucket,
    make_async_transport,
    make_sync_transport,
)
from slurm_core._version import __version__
from slurm_core.auth import SlurmAuth, TokenProvider

__all__ = ["AsyncHTTP", "SyncHTTP"]

logger = logging.getLogger("slurm_core.http")
install_log_redaction("httpx")  # httpx logs request URLs at INFO


Params = Mapping[str, Any] | None


# --------------------------------------------------------------------------------------------
# The shared brain
# --------------------------------------------------------------------------------------------
class _BaseHTTP:
    def __init__(self, options: ClientOptions) -> None:
        url = httpx.URL(options.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(
                f"base_url must be an absolute http(s) URL, got {redact_url(options.base_url)!r}"
            )
        self.options = options
        self.base_url = redact_url(url)
        self._policy = options.retry
        self._timeout = (
            options.timeout
            if isinstance(options.timeout, httpx.Timeout)
            else httpx.Timeout(options.timeout, connect=min(options.timeout, 5.0))
        )
        self._budget = _attempt_budget(self._timeout)
        self._call_timeout = options.call_timeout
        warn_if_exposed(options, url)
        auth = options.auth
        self._auth: httpx.Auth | None = SlurmAuth(auth) if isinstance(auth, TokenProvider) else auth
        self._headers = {
            "User-Agent": f"slurm-client/{__version__} httpx/{httpx.__version__}",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            **options.headers,
        }
        self._bucket = TokenBucket(options.rate_limit) if options.rate_limit else None
        hooks = options.hooks
        self._on_request = hooks.on_request if hooks else None
        self._on_response = hooks.on_response if hooks else None
        self._hooked = self._on_request is not None or self._on_response is not None
        self._tracing = tracing(options.tracing)

    def _transport_args(self) -> dict[str, Any]:
        o = self.options
        return {
            "base_url": o.base_url,
            "transport": o.transport,
            "breaker": o.circuit_breaker,
            "verify": o.verify,
            "cert": o.cert,
            "uds": o.uds,
            "limits": o.limits,
            "max_response_size": o.max_response_size,
        }

    def _client_args(self) -> dict[str, Any]:
        return {
            "base_url": self.options.base_url,
            "auth": self._auth,
            "headers": self._headers,
            "timeout": self._timeout,
            "follow_redirects": False,
        }

    # -- building ----------------------------------------------------------------------
    def _build(
        self,
        client: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        params: Params,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Request:
        content: bytes | None = None
        if json is not None:
            content = encode_json(json)
            headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            return client.build_request(
                method.upper(), path, params=params, content=content, headers=headers
            )
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"invalid request path {path!r}: {exc}") from None

    def call_deadline(self) -> float | None:
        """The ``time.monotonic()`` by which a call starting now must end (None: unbounded)."""
        call = self._call_timeout
        return None if call is None else time.monotonic() + call

    def _stamp_deadline(self, request: httpx.Request, deadline: float | None) -> None:
        """This attempt's deadline: a fresh one per retry, never past the call's."""
        stamp = deadline
        if self._budget is not None:
            attempt = time.monotonic() + self._budget
            stamp = attempt if deadline is None else min(attempt, deadline)
        if stamp is None:
            request.extensions.pop(DEADLINE, None)
        else:
            request.extensions[DEADLINE] = stamp

    @staticmethod
    def _bounded(pause: float, deadline: float | None) -> float:
        """A client-side pause (the rate limit) cut at the call's deadline."""
        if deadline is None:
            return pause
        return min(pause, max(deadline - time.monotonic(), 0.0))

    def _idempotent(self, method: str, idempotent: bool | None) -> bool:
        return idempotent if idempotent is not None else method in IDEMPOTENT_METHODS

    # -- deciding ----------------------------------------------------------------------
    def _after_exception(
        self,
        exc: httpx.HTTPError,
        request: httpx.Request,
        attempt: int,
        idempotent: bool,
        deadline: float | None,
        elapsed: float,
    ) -> float:
        """The delay before the next attempt, or raise the mapped error."""
        delay = _fit(
            delay_after_exception(self._policy, exc, attempt, idempotent), deadline, elapsed
        )
        if delay is None:
            raise error_from_exception(exc, request) from exc
        self._log_retry(request, type(exc).__name__, attempt, delay)
        return delay

    def _after_response(
        self,
        request: httpx.Request,
        response: httpx.Response,
        elapsed: float,
        attempt: int,
        idempotent: bool,
        deadline: float | None,
    ) -> float | None:
        """None for a 2xx; else the delay before the next attempt, or raise the typed error."""
        status = response.status_code
        if logger.isEnabledFor(logging.DEBUG):
            self._log_response(request, status, elapsed, attempt)
        if 200 <= status < 300:
            if request.method != "GET":
                # Writes can fail with HTTP 200 (24.11+ cancel of another user's job).
                # Reads are checked by the parser that decodes them anyway.
                check_success_body(response)
            return None
        error = error_from_response(response)
        delay = delay_after_status(
            self._policy,
            status,
            transient=isinstance(error, (ServerError, RateLimitError)),
            retry_after=response.headers.get("retry-after"),
            attempt=attempt,
            idempotent=idempotent,
        )
        delay = _fit(delay, deadline, elapsed)
        if delay is None:
            raise error
        self._log_retry(request, f"HTTP {status}", attempt, delay)
        return delay

    # -- observing ---------------------------------------------------------------------
    def _request_info(self, request: httpx.Request, attempt: int) -> RequestInfo:
        return RequestInfo(
            request.method,
            redact_url(request.url),
            redact_headers(request.headers.multi_items()),
            attempt,
        )

    def _response_info(
        self, info: RequestInfo, response: httpx.Response, elapsed: float
    ) -> ResponseInfo:
        return ResponseInfo(
            info, response.status_code, elapsed, redact_headers(response.headers.multi_items())
        )

    def _log_response(
        self, request: httpx.Request, status: int, elapsed: float, attempt: int
    ) -> None:
        logger.debug(
            "%s %s -> %d in %.1f ms%s",
            request.method,
            redact_url(request.url),
            status,
            elapsed * 1000.0,
            f" (attempt {attempt})" if attempt > 1 else "",
        )

    def _log_retry(self, request: httpx.Request, why: str, attempt: int, delay: float) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "retrying %s %s in %.2fs after %s (attempt %d of %d)",
                request.method,
                redact_url(request.url),
                delay,
                why,
                attempt,
                self._policy.max_attempts,
            )

    def _fail(
        self,
        request: httpx.Request,
        span: Any,
        status: int | None,
        attempt: int,
        exc: BaseException,
    ) -> NoReturn:
        scrub_request(request)  # the exception keeps the request reachable
        scrub_error(exc)  # ...and, through its chain, httpcore's copy of the headers
        if span is not None and self._tracing is not None:
            self._tracing.end(span, status, attempt, exc)
        raise exc


# --------------------------------------------------------------------------------------------
# The twins: send, sleep, call hooks. Nothing else.
# --------------------------------------------------------------------------------------------
class SyncHTTP(_BaseHTTP):
    """Blocking engine: one pooled ``httpx.Client``, retries, typed errors.

    ``sleep`` is injectable so tests never wait.

    Example::

        with SyncHTTP(ClientOptions(base_url="http://slurm:6820", auth=auth)) as http:
            jobs = parse_json(http.request("GET", "/slurm/v0.0.40/jobs"))
    """

    def __init__(
        self, options: ClientOptions, *, sleep: Callable[[float], None] | None = None
    ) -> None:
        super().__init__(options)
        self._sleep = sleep or time.sleep
        transport = make_sync_transport(**self._transport_args())
        self._client = httpx.Client(transport=transport, **self._client_args())

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        deadline: float | None = None,
    ) -> httpx.Response:
        """Send a request; return the 2xx response or raise a typed :class:`SlurmError`.

        ``idempotent`` overrides the method's default (GET retries freely, POST/DELETE only
        when the request never left). ``deadline`` (a ``time.monotonic()`` value) ends the
        call, retries included; by default ``call_timeout`` from now. The response body is
        already read.
        """
        if deadline is None:
            deadline = self.call_deadline()
        request = self._build(self._client, method, path, params, json, headers)
        idempotent = self._idempotent(request.method, idempotent)
        span = self._tracing.start(request) if self._tracing is not None else None
        attempt, status = 0, None
        try:
            while True:
                attempt += 1
                if self._bucket is not None and (wait := self._bucket.reserve()) > 0:
                    self._sleep(self._bounded(wait, deadline))
                info = self._request_info(request, attempt) if self._hooked else None
                if info is not None and self._on_request is not None:
                    self._on_request(info)
                start = time.perf_counter()
                self._stamp_deadline(request, deadline)
                try:
                    response = self._client.send(request)
                except httpx.HTTPError as exc:
                    elapsed = time.perf_counter() - start
                    self._sleep(
                        self._after_exception(exc, request, attempt, idempotent, deadline, elapsed)
                    )
                    continue
                elapsed = time.perf_counter() - start
                status = response.status_code
                if info is not None and self._on_response is not None:
                    self._on_response(self._response_info(info, response, elapsed))
                delay = self._after_response(
                    request, response, elapsed, attempt, idempotent, deadline
                )
                if delay is None:
                    if span is not None and self._tracing is not None:
                        self._tracing.end(span, status, attempt, None)
                    return response
                response.close()
                self._sleep(delay)
        except BaseException as exc:
            self._fail(request, span, status, attempt, exc)

    def sleep(self, seconds: float) -> None:
        """Pause as this engine does between attempts (the injected ``sleep`` in tests)."""
        self._sleep(seconds)

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __enter__(self) -> SyncHTTP:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncHTTP(_BaseHTTP):
    """Async twin of :class:`SyncHTTP` (asyncio or trio, through anyio).

    Hooks may be coroutine functions here; they are awaited.

    Example::

        async with AsyncHTTP(ClientOptions(base_url="http://slurm:6820", auth=auth)) as http:
            resp = await http.request("GET", "/slurm/v0.0.40/diag")
    """

    def __init__(
        self,
        options: ClientOptions,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(options)
        self._sleep = sleep or anyio.sleep
        transport = make_async_transport(**self._transport_args())
        self._client = httpx.AsyncClient(transport=transport, **self._client_args())

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        deadline: float | None = None,
    ) -> httpx.Response:
        """Async :meth:`SyncHTTP.request`."""
        if deadline is None:
            deadline = self.call_deadline()
        request = self._build(self._client, method, path, params, json, headers)
        idempotent = self._idempotent(request.method, idempotent)
        span = self._tracing.start(request) if self._tracing is not None else None
        attempt, status = 0, None
        try:
            while True:
                attempt += 1
                if self._bucket is not None and (wait := self._bucket.reserve()) > 0:
                    await self._sleep(self._bounded(wait, deadline))
                info = self._request_info(request, attempt) if self._hooked else None
                if info is not None and self._on_request is not None:
                    await _maybe_await(self._on_request(info))
                start = time.perf_counter()
                self._stamp_deadline(request, deadline)
                try:
                    response = await self._client.send(request)
                except httpx.HTTPError as exc:
                    elapsed = time.perf_counter() - start
                    await self._sleep(
                        self._after_exception(exc, request, attempt, idempotent, deadline, elapsed)
                    )
                    continue
                elapsed = time.perf_counter() - start
                status = response.status_code
                if info is not None and self._on_response is not None:
                    await _maybe_await(
                        self._on_response(self._response_info(info, response, elapsed))
                    )
                delay = self._after_response(
                    request, response, elapsed, attempt, idempotent, deadline
                )
                if delay is None:
                    if span is not None and self._tracing is not None:
                        self._tracing.end(span, status, attempt, None)
                    return response
                await response.aclose()
                await self._sleep(delay)
        except BaseException as exc:
            self._fail(request, span, status, attempt, exc)

    async def sleep(self, seconds: float) -> None:
        """Async :meth:`SyncHTTP.sleep`."""
        await self._sleep(seconds)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncHTTP:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _fit(delay: float | None, deadline: float | None, elapsed: float) -> float | None:
    remaining = None if deadline is None else deadline - time.monotonic()
    return fit_deadline(delay, remaining=remaining, last=elapsed)


def _attempt_budget(timeout: httpx.Timeout) -> float | None:
    """Seconds one attempt may take in all: the largest of the timeouts (None: no bound)."""
    values = [t for t in (timeout.connect, timeout.read, timeout.write, timeout.pool) if t]
    return max(values) if values else None


async def _maybe_await(result: HookResult) -> None:
    if inspect.isawaitable(result):
        await result
