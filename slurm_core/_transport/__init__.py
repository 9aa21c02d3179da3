"""Transports: building the real one (TLS, mTLS, unix socket), the circuit breaker
(:mod:`._breaker`) wrapped around it, and the client-side rate limiter.

The stack, outermost first: circuit breaker -> limits (deadline, body size, refused header
bytes; :mod:`._limits`) -> httpx ``HTTPTransport`` / the lean asyncio transport / yours.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Callable

import httpx

from slurm_core._exceptions import ConfigurationError

from ._breaker import (
    AsyncCircuitBreakerTransport,
    CircuitBreakerConfig,
    CircuitBreakerTransport,
    circuit_state,
    reset_circuit_breakers,
)
from ._limits import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_RESPONSE_SIZE,
    AsyncLimitsTransport,
    LimitsTransport,
    add_deadline_backend,
)

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "AsyncCircuitBreakerTransport",
    "CertTypes",
    "CircuitBreakerConfig",
    "CircuitBreakerTransport",
    "TokenBucket",
    "circuit_state",
    "make_async_transport",
    "make_sync_transport",
    "reset_circuit_breakers",
    "ssl_config",
]

Clock = Callable[[], float]
CertTypes = str | tuple[str, str] | tuple[str, str, str]


def ssl_config(
    verify: bool | str | ssl.SSLContext, cert: CertTypes | None
) -> bool | ssl.SSLContext:
    """``verify``/``cert`` as httpx wants them: we build the SSLContext ourselves, since
    httpx 0.28 deprecates ``verify=<path>`` and ``cert=``."""
    if isinstance(verify, ssl.SSLContext):
        if cert is not None:
            raise ConfigurationError(
                "pass the client certificate inside your SSLContext (load_cert_chain), "
                "not as cert= alongside verify=<SSLContext>"
            )
        return verify
    if cert is None and isinstance(verify, bool):
        return verify
    try:
        if isinstance(verify, str):
            path = os.path.expanduser(verify)
            if os.path.isdir(path):
                ctx = ssl.create_default_context(capath=path)
            else:
                ctx = ssl.create_default_context(cafile=path)
        elif verify:
            import certifi  # what httpx itself trusts by default

            ctx = ssl.create_default_context(cafile=certifi.where())
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if cert is not None:
            if isinstance(cert, str):
                ctx.load_cert_chain(os.path.expanduser(cert))
            else:
                password = cert[2] if len(cert) == 3 else None
                ctx.load_cert_chain(
                    os.path.expanduser(cert[0]), os.path.expanduser(cert[1]), password
                )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"TLS configuration failed: {exc}") from exc
    return ctx


def make_sync_transport(
    *,
    base_url: str,
    transport: object | None,
    breaker: CircuitBreakerConfig | None,
    verify: bool | str | ssl.SSLContext,
    cert: CertTypes | None,
    uds: str | None,
    limits: httpx.Limits,
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
) -> httpx.BaseTransport:
    """The user's transport or a pooled HTTPTransport, inside the limits and the circuit
    breaker if any."""
    if transport is None:
        transport = httpx.HTTPTransport(
            verify=ssl_config(verify, cert), limits=limits, uds=uds, retries=0
        )
        add_deadline_backend(transport)
    elif not isinstance(transport, httpx.BaseTransport):
        raise ConfigurationError("SyncHTTP needs a sync transport (httpx.BaseTransport)")
    bounded = LimitsTransport(transport, max_response_size)
    if breaker is None:
        return bounded
    return CircuitBreakerTransport(bounded, breaker, uds=uds, base_url=base_url)


def make_async_transport(
    *,
    base_url: str,
    transport: object | None,
    breaker: CircuitBreakerConfig | None,
    verify: bool | str | ssl.SSLContext,
    cert: CertTypes | None,
    uds: str | None,
    limits: httpx.Limits,
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
) -> httpx.AsyncBaseTransport:
    """Async twin of :func:`make_sync_transport`: the lean asyncio transport
    (:mod:`slurm_core._aio`; httpx's own under trio) unless the user gave one."""
    if transport is None:
        # Not at import: asyncio and h11 are a cost that sync-only programs need not pay.
        from slurm_core._aio import AsyncioTransport

        transport = AsyncioTransport(
            ssl_context=ssl_config(verify, cert),
            limits=limits,
            uds=uds,
            max_response_size=max_response_size,
        )
    elif not isinstance(transport, httpx.AsyncBaseTransport):
        raise ConfigurationError("AsyncHTTP needs an async transport (httpx.AsyncBaseTransport)")
    bounded = AsyncLimitsTransport(transport, max_response_size)
    if breaker is None:
        return bounded
    return AsyncCircuitBreakerTransport(bounded, breaker, uds=uds, base_url=base_url)


class TokenBucket:
    """Client-side rate limit: ``rate`` requests/second, bursts up to ``burst``.

    :meth:`reserve` takes a token now and returns how long the caller must sleep before
    using it, so the (sync or async) caller does the sleeping. Thread-safe.
    """

    def __init__(self, rate: float, burst: float | None = None, *, clock: Clock | None = None):
        if rate <= 0:
            raise ValueError("rate_limit must be > 0 requests/second")
        self.rate = rate
        self.capacity = max(1.0, burst if burst is not None else rate)
        self._clock: Clock = clock or time.monotonic
        self._tokens = self.capacity
        self._stamp = self._clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
