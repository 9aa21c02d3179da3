"""The request engine under ``SlurmClient``/``AsyncSlurmClient``.

One pooled ``httpx.Client``/``AsyncClient`` per engine (keep-alive: a new connection per
call costs ~8x), wrapped as::

    SyncHTTP.request ─ retry loop, rate limit, error mapping, logging, hooks, tracing
      └─ httpx.Client (auth=SlurmAuth: token, refresh once on 401/511)
           └─ CircuitBreakerTransport (per-origin, process-wide)
                └─ httpx.HTTPTransport (TLS / mTLS / unix socket)  or a user transport

:class:`_BaseHTTP` holds every decision (request building, should-retry, delays incl.
``Retry-After``, error mapping, redaction); :class:`SyncHTTP` and :class:`AsyncHTTP` only
send, sleep and call hooks.

Example::

    opts = ClientOptions(base_url="http://slurm:6820", auth=StaticToken(token, "alice"))
    with SyncHTTP(opts) as http:
        resp = http.request("GET", "/slurm/v0.0.40/diag")     # 2xx or a typed SlurmError
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json as _json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, NoReturn

import anyio
import httpx

from slurm_core._exceptions import (
    ConfigurationError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmConnectionError,
    SlurmError,
    SlurmTimeoutError,
    error_from_response,
    error_from_success,
    success_body_errors,
)
from slurm_core._redact import (
    REDACTED,
    install_log_redaction,
    redact_headers,
    redact_text,
    redact_url,
)
from slurm_core._retry import (
    IDEMPOTENT_METHODS,
    RetryPolicy,
    delay_after_exception,
    delay_after_status,
    tls_failure,
)
from slurm_core._transport import (
    CertTypes,
    CircuitBreakerConfig,
    TokenBucket,
    make_async_transport,
    make_sync_transport,
)
from slurm_core.auth import SlurmAuth, TokenProvider

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "AsyncHTTP",
    "ClientOptions",
    "RequestHooks",
    "RequestInfo",
    "ResponseInfo",
    "SyncHTTP",
    "check_success_body",
    "parse_json",
    "scrub_error",
]

logger = logging.getLogger("slurm_core.http")
install_log_redaction("httpx")  # httpx logs request URLs at INFO

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

Params = Mapping[str, Any] | None


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RequestInfo:
    """What hooks see of a request: redacted URL and headers, never the token."""

    method: str
    url: str
    headers: Mapping[str, str]
    attempt: int


@dataclasses.dataclass(frozen=True)
class ResponseInfo:
    """What hooks see of a response. ``elapsed`` is seconds for this attempt."""

    request: RequestInfo
    status_code: int
    elapsed: float
    headers: Mapping[str, str]


HookResult = None | Awaitable[None]


@dataclasses.dataclass(frozen=True)
class RequestHooks:
    """Callbacks on every attempt. Async engines await them if they return awaitables.

    Example::

        hooks = RequestHooks(on_response=lambda r: metrics.observe(r.status_code, r.elapsed))
    """

    on_request: Callable[[RequestInfo], HookResult] | None = None
    on_response: Callable[[ResponseInfo], HookResult] | None = None


@dataclasses.dataclass(frozen=True, repr=False)
class ClientOptions:
    """Everything the engine needs; immutable and shareable between sync and async engines.

    ``transport`` replaces the network transport (``httpx.MockTransport`` in tests); then
    ``verify``, ``cert``, ``uds`` and ``limits`` are not used. ``auth`` may be any
    ``httpx.Auth`` or a :class:`~slurm_core.auth.TokenProvider` (wrapped in ``SlurmAuth``).

    Example::

        ClientOptions(
            base_url="https://slurm.example.org:6820",
            auth=TokenFile("~/.slurm/token", user_name="alice"),
            verify="/etc/pki/site-ca.pem",
            retry=RetryPolicy(max_attempts=6),
            rate_limit=20.0,
        )
    """

    base_url: str
    auth: httpx.Auth | TokenProvider | None = None
    timeout: httpx.Timeout | float = dataclasses.field(default_factory=lambda: DEFAULT_TIMEOUT)
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    verify: bool | str | ssl.SSLContext = True
    """True (system/certifi CAs), False, a CA bundle file or directory, or an SSLContext."""
    cert: CertTypes | None = None
    """Client certificate for mTLS: ``"both.pem"`` or ``("cert.pem", "key.pem"[, password])``."""
    uds: str | None = None
    """Unix socket path of slurmrestd (``slurmrestd unix:/path``); base_url then names the host."""
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None
    rate_limit: float | None = None
    """Client-side limit in requests/second (token bucket, bursts up to one second's worth)."""
    circuit_breaker: CircuitBreakerConfig | None = dataclasses.field(
        default_factory=CircuitBreakerConfig
    )
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    limits: httpx.Limits = dataclasses.field(default_factory=lambda: DEFAULT_LIMITS)
    hooks: RequestHooks | None = None
    tracing: bool = True
    """OpenTelemetry spans when ``opentelemetry`` is importable (never a hard dependency)."""

    def __repr__(self) -> str:
        # headers may carry credentials set by hand; base_url may carry userinfo.
        fields = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "headers":
                value = redact_headers(value)
            elif f.name == "base_url":
                value = redact_url(value)
            fields.append(f"{f.name}={value!r}")
        return f"ClientOptions({', '.join(fields)})"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
def _user_agent() -> str:
    try:
        from slurm_core import __version__ as version
    except ImportError:  # pragma: no cover
        version = "0"
    return f"slurm-client/{version} httpx/{httpx.__version__}"


def _dumps(value: Any) -> bytes:
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


try:  # orjson is ~5x faster for big job lists; optional ("fast" extra).
    import orjson as _orjson

    def _dumps_fast(value: Any) -> bytes:
        try:
            return _orjson.dumps(value)
        except TypeError:  # e.g. int > 64 bit, non-str keys: the stdlib copes
            return _dumps(value)

    _loads: Callable[[bytes], Any] = _orjson.loads
    _encode: Callable[[Any], bytes] = _dumps_fast
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _loads = _json.loads
    _encode = _dumps


_NO_BODY: Any = object()


def parse_json(response: httpx.Response, *, what: str | None = None) -> Any:
    """Decode a response body as JSON, raising :class:`ResponseValidationError` if it is not.

    Example::

        data = parse_json(http.request("GET", "/slurm/v0.0.40/jobs"), what="jobs")
    """
    content = response.content
    for_what = f" for {what}" if what else ""
    if not content:
        raise ResponseValidationError(f"empty response body{for_what}", response=response)
    try:
        return _loads(content)
    except ValueError as exc:  # json.JSONDecodeError and orjson.JSONDecodeError both are
        hint = " (truncated?)" if content.rstrip()[-1:] not in (b"}", b"]") else ""
        raise ResponseValidationError(
            f"response body is not valid JSON{for_what}{hint}: "
            f"{type(exc).__name__} at byte {getattr(exc, 'pos', '?')}",
            response=response,
        ) from exc


def check_success_body(response: httpx.Response, body: Any = _NO_BODY) -> None:
    """Raise the typed error a 2xx answer reports in its body; log its ``warnings``.

    See :data:`~slurm_core._exceptions.INFORMATIONAL_ERRNOS` for the error numbers that do
    not count. ``body`` is the decoded body if the caller has it; a body that is not JSON
    carries nothing to check.
    """
    if body is _NO_BODY:
        content = response.content
        if not content:
            return
        try:
            body = _loads(content)
        except ValueError:
            return
    if not isinstance(body, dict) or not (
        body.get("errors") or body.get("warnings") or body.get("status")
    ):
        return
    errors, warnings = success_body_errors(body)
    if warnings:
        request = response.request
        # A write's warnings matter ("Required node not available" for a submission); a
        # read's are chatter ("found nothing", "Unable to find partition").
        level = logging.DEBUG if request.method == "GET" else logging.WARNING
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "slurmrestd warns about %s %s: %s",
                request.method,
                redact_url(request.url),
                redact_text("; ".join(str(w) for w in warnings)),
            )
    if errors:
        raise error_from_success(response, body, errors)


_CREDENTIAL_HEADERS = ("x-slurm-user-token", "authorization")


def scrub_error(exc: BaseException) -> None:
    """Drop credentials from every request reachable from ``exc`` and its chain.

    The engine scrubs the request that failed; an error raised later, while parsing a 2xx
    answer (a malformed body, an object missing from it), still holds that answer and its
    request. Tokens are only replaced on such paths: a header write costs ~5 us.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attr in ("response", "request"):
            try:
                value = getattr(current, attr, None)
            except RuntimeError:  # httpx errors without a request raise on access
                continue
            if isinstance(value, httpx.Response):
                try:
                    value = value.request
                except RuntimeError:
                    continue
            if isinstance(value, httpx.Request):
                headers = value.headers
                for name in _CREDENTIAL_HEADERS:
                    if name in headers:
                        headers[name] = REDACTED
        current = current.__cause__ or current.__context__


_TIMEOUT_PHASE: dict[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}

_otel_cache: list[Any] = []  # [the opentelemetry.trace module, or None], looked up once


def _otel_trace() -> Any:
    """``opentelemetry.trace`` if importable, else None. Imported lazily, never required."""
    if not _otel_cache:
        try:
            _otel_cache.append(importlib.import_module("opentelemetry.trace"))
        except ImportError:
            _otel_cache.append(None)
    return _otel_cache[0]


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
        auth = options.auth
        self._auth: httpx.Auth | None = SlurmAuth(auth) if isinstance(auth, TokenProvider) else auth
        self._headers = {
            "User-Agent": _user_agent(),
            "Accept": "application/json",
            **options.headers,
        }
        self._bucket = TokenBucket(options.rate_limit) if options.rate_limit else None
        hooks = options.hooks
        self._on_request = hooks.on_request if hooks else None
        self._on_response = hooks.on_response if hooks else None
        self._hooked = self._on_request is not None or self._on_response is not None
        self._otel: Any = _otel_trace() if options.tracing else None
        self._tracer: Any = self._otel.get_tracer("slurm_core.http") if self._otel else None

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
            content = _encode(json)
            headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            return client.build_request(
                method.upper(), path, params=params, content=content, headers=headers
            )
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"invalid request path {path!r}: {exc}") from None

    def _idempotent(self, method: str, idempotent: bool | None) -> bool:
        return idempotent if idempotent is not None else method in IDEMPOTENT_METHODS

    # -- deciding ----------------------------------------------------------------------
    def _after_exception(
        self, exc: httpx.HTTPError, request: httpx.Request, attempt: int, idempotent: bool
    ) -> float:
        """The delay before the next attempt, or raise the mapped error."""
        delay = delay_after_exception(self._policy, exc, attempt, idempotent)
        if delay is None:
            raise self._map_exception(exc, request) from exc
        self._log_retry(request, type(exc).__name__, attempt, delay)
        return delay

    def _after_response(
        self,
        request: httpx.Request,
        response: httpx.Response,
        elapsed: float,
        attempt: int,
        idempotent: bool,
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
        if delay is None:
            raise error
        self._log_retry(request, f"HTTP {status}", attempt, delay)
        return delay

    def _map_exception(self, exc: httpx.HTTPError, request: httpx.Request) -> SlurmError:
        method, url = request.method, redact_url(request.url)
        detail = redact_text(str(exc)) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            phase = _TIMEOUT_PHASE.get(type(exc), "unknown")
            return SlurmTimeoutError(
                f"{phase} timeout for {method} {url}: {detail}", method=method, url=url, phase=phase
            )
        tls = tls_failure(exc)
        if tls is not None:
            reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or tls
            return SlurmConnectionError(
                f"TLS handshake with {url} failed: {reason} (check verify=/ca_bundle and cert=)",
                method=method,
                url=url,
            )
        if isinstance(exc, httpx.DecodingError):
            return ResponseValidationError(
                f"undecodable response body for {method} {url}: {detail}"
            )
        return SlurmConnectionError(
            f"cannot reach slurmrestd for {method} {url}: {type(exc).__name__}: {detail}",
            method=method,
            url=url,
        )

    # -- observing ---------------------------------------------------------------------
    @staticmethod
    def _scrub(request: httpx.Request) -> None:
        """Drop credentials from a failed request (reachable from the exception)."""
        headers = request.headers
        for name in _CREDENTIAL_HEADERS:
            if name in headers:
                headers[name] = REDACTED

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

    def _start_span(self, request: httpx.Request) -> Any:
        if self._tracer is None:
            return None
        span = self._tracer.start_span(
            f"slurmrestd {request.method}", kind=self._otel.SpanKind.CLIENT
        )
        # Without an SDK configured spans do not record: skip building attributes.
        if span.is_recording():
            url = request.url
            span.set_attributes(
                {
                    "http.request.method": request.method,
                    "url.full": redact_url(url),
                    "server.address": url.host,
                    "server.port": url.port or (443 if url.scheme == "https" else 80),
                }
            )
        return span

    def _end_span(
        self, span: Any, status: int | None, attempt: int, exc: BaseException | None
    ) -> None:
        try:
            if span.is_recording():
                if status is not None:
                    span.set_attribute("http.response.status_code", status)
                if attempt > 1:
                    span.set_attribute("http.request.resend_count", attempt - 1)
                if exc is not None:
                    span.set_attribute("error.type", type(exc).__name__)
                    span.set_status(
                        self._otel.Status(self._otel.StatusCode.ERROR, type(exc).__name__)
                    )
        finally:
            span.end()

    def _fail(
        self,
        request: httpx.Request,
        span: Any,
        status: int | None,
        attempt: int,
        exc: BaseException,
    ) -> NoReturn:
        self._scrub(request)  # the exception keeps the request reachable
        if span is not None:
            self._end_span(span, status, attempt, exc)
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
    ) -> httpx.Response:
        """Send a request; return the 2xx response or raise a typed :class:`SlurmError`.

        ``idempotent`` overrides the method's default (GET retries freely, POST/DELETE only
        when the request never left). The response body is already read.
        """
        request = self._build(self._client, method, path, params, json, headers)
        idempotent = self._idempotent(request.method, idempotent)
        span = self._start_span(request)
        attempt, status = 0, None
        try:
            while True:
                attempt += 1
                if self._bucket is not None and (wait := self._bucket.reserve()) > 0:
                    self._sleep(wait)
                info = self._request_info(request, attempt) if self._hooked else None
                if info is not None and self._on_request is not None:
                    self._on_request(info)
                start = time.perf_counter()
                try:
                    response = self._client.send(request)
                except httpx.HTTPError as exc:
                    self._sleep(self._after_exception(exc, request, attempt, idempotent))
                    continue
                elapsed = time.perf_counter() - start
                status = response.status_code
                if info is not None and self._on_response is not None:
                    self._on_response(self._response_info(info, response, elapsed))
                delay = self._after_response(request, response, elapsed, attempt, idempotent)
                if delay is None:
                    if span is not None:
                        self._end_span(span, status, attempt, None)
                    return response
                response.close()
                self._sleep(delay)
        except BaseException as exc:
            self._fail(request, span, status, attempt, exc)

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
    ) -> httpx.Response:
        """Async :meth:`SyncHTTP.request`."""
        request = self._build(self._client, method, path, params, json, headers)
        idempotent = self._idempotent(request.method, idempotent)
        span = self._start_span(request)
        attempt, status = 0, None
        try:
            while True:
                attempt += 1
                if self._bucket is not None and (wait := self._bucket.reserve()) > 0:
                    await self._sleep(wait)
                info = self._request_info(request, attempt) if self._hooked else None
                if info is not None and self._on_request is not None:
                    await _maybe_await(self._on_request(info))
                start = time.perf_counter()
                try:
                    response = await self._client.send(request)
                except httpx.HTTPError as exc:
                    await self._sleep(self._after_exception(exc, request, attempt, idempotent))
                    continue
                elapsed = time.perf_counter() - start
                status = response.status_code
                if info is not None and self._on_response is not None:
                    await _maybe_await(
                        self._on_response(self._response_info(info, response, elapsed))
                    )
                delay = self._after_response(request, response, elapsed, attempt, idempotent)
                if delay is None:
                    if span is not None:
                        self._end_span(span, status, attempt, None)
                    return response
                await response.aclose()
                await self._sleep(delay)
        except BaseException as exc:
            self._fail(request, span, status, attempt, exc)

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


async def _maybe_await(result: HookResult) -> None:
    if inspect.isawaitable(result):
        await result
