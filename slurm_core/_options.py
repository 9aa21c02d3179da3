"""Client options: what the request engine is given, the types its hooks receive, and the
warning for options that would expose the token.

Example::

    ClientOptions(base_url="http://slurm:6820", auth=StaticToken(token, "alice"),
                  hooks=RequestHooks(on_response=lambda r: print(r.status_code, r.elapsed)))
"""

from __future__ import annotations

import dataclasses
import math
import ssl
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping

import httpx

from slurm_core._exceptions import SlurmSecurityWarning
from slurm_core._redact import is_loopback, redact_headers, redact_url
from slurm_core._retry import RetryPolicy
from slurm_core._transport import DEFAULT_MAX_RESPONSE_SIZE, CertTypes, CircuitBreakerConfig
from slurm_core.auth import TokenProvider

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "ClientOptions",
    "HookResult",
    "RequestHooks",
    "RequestInfo",
    "ResponseInfo",
    "warn_if_exposed",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_CALL_TIMEOUT = 60.0
"""Seconds one call may take in all, retries and pauses included (``call_timeout``)."""
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


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
    ``verify``, ``cert``, ``uds`` and ``limits`` are not used (``max_response_size`` and
    the deadline still are).

    ``timeout`` is also the deadline of one attempt: connecting, sending and reading the
    whole answer end within the largest of its values (30 s by default; ``timeout=None``:
    no deadline), however slowly the server trickles. Each retry gets a fresh deadline.

    ``call_timeout`` is the deadline of one call (``client.jobs.list()``, a submission with
    its lookups, one poll of a watch): every attempt, backoff pause, ``Retry-After`` and
    read ends by then (60 s by default; ``None``: no bound but the attempts'). An attempt's
    own deadline is the nearer of the two. ``wait(timeout=...)`` bounds its polls by its
    own timeout too.

    ``auth`` may be any ``httpx.Auth`` or a :class:`~slurm_core.auth.TokenProvider`
    (wrapped in ``SlurmAuth``).

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
    call_timeout: float | None = DEFAULT_CALL_TIMEOUT
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
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE
    """Largest answer body accepted, in bytes, on the wire and once decompressed (256 MiB);
    beyond it reading stops with :class:`~slurm_core._exceptions.ResponseTooLargeError`."""
    hooks: RequestHooks | None = None
    tracing: bool = True
    """OpenTelemetry spans when ``opentelemetry`` is importable (never a hard dependency)."""
    watch_fleet: str | None = None
    """A Redis URL: the client's watches share their polls with other processes through
    it (:class:`~slurm_core.watch.RedisFleet`). It may carry a password: never shown."""

    def __post_init__(self) -> None:
        if not isinstance(self.max_response_size, int) or self.max_response_size < 1:
            raise ValueError("max_response_size must be a positive number of bytes")
        call = self.call_timeout
        if call is not None and (
            isinstance(call, bool)
            or not isinstance(call, (int, float))
            or not math.isfinite(call)
            or call <= 0
        ):
            raise ValueError(
                f"call_timeout must be a positive number of seconds or None, got {call!r}"
            )

    def __repr__(self) -> str:
        # headers may carry credentials set by hand; base_url may carry userinfo.
        fields = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "headers":
                value = redact_headers(value)
            elif f.name in ("base_url", "watch_fleet") and value is not None:
                value = redact_url(value)
            fields.append(f"{f.name}={value!r}")
        return f"ClientOptions({', '.join(fields)})"


def warn_if_exposed(options: ClientOptions, url: httpx.URL) -> None:
    """Once per client: a token that would travel unprotected. With a transport of your
    own (a fake, a mock) where the bytes go is yours to say, and nothing is said."""
    if options.transport is not None:
        return
    verify = options.verify
    unverified = verify is False or (
        isinstance(verify, ssl.SSLContext) and verify.verify_mode == ssl.CERT_NONE
    )
    if url.scheme == "https" and unverified:
        warnings.warn(
            f"TLS certificate verification is off for {redact_url(url)}: anyone on the path "
            "can impersonate slurmrestd and read the token (pass verify=<CA bundle> instead)",
            SlurmSecurityWarning,
            stacklevel=_caller_level(),
        )
    elif (
        url.scheme == "http"
        and options.auth is not None
        and options.uds is None
        and not is_loopback(url.host)
    ):
        warnings.warn(
            f"the token would be sent in clear text to {redact_url(url)} (plain http to a "
            "host that is not loopback): use https, or a unix socket",
            SlurmSecurityWarning,
            stacklevel=_caller_level(),
        )


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside slurm_core: the line that made the
    client, whichever way (constructor, ``from_env``, an adapter) it was made."""
    frame, level = sys._getframe(2), 2  # 1: warnings.warn's caller (_warn_if_exposed)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        "slurm_core."
    ):
        frame, level = frame.f_back, level + 1
    return level
