"""The retry policy, readable in one screen.

* Reads (GET/HEAD/OPTIONS, and anything passed ``idempotent=True``) retry on connection
  errors, timeouts and ``retry_statuses`` -- unless the body carries a Slurm error number
  that explains the failure (22.05's "invalid job id" as HTTP 500 is not worth retrying).
* Everything else (POST job submission, DELETE) retries only when the request provably
  never left this process: connect errors, connect timeouts, pool timeouts. Never after a
  read timeout or a 5xx, because the job may exist already.
* Never retried: TLS failures (a bad CA or certificate stays bad), unsupported protocol,
  local protocol errors, and any status a Slurm error number explains.
* Delay: ``initial_delay * backoff_factor ** (retry - 1)``, capped at ``max_delay``, with
  +-25% jitter. A ``Retry-After`` header (seconds or HTTP date) replaces it and is obeyed as
  given (never cut short: the server asked for that pause), up to ``max_retry_after``; a
  longer one is not waited for at all.
* The call's deadline (``call_timeout``) bounds everything: a retry whose pause, plus as
  long again as the last attempt took, does not fit in what is left of it is not started
  (:func:`fit_deadline`); the last error is raised instead.

Defaults give 0.2 s, 0.6 s, 1.8 s: a read rides out ~2.5 s of "connection refused", i.e. a
restart of slurmrestd, while a dead server is given up on within ~3 s (plus timeouts).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import email.utils
import math
import random
import ssl

import httpx

__all__ = [
    "IDEMPOTENT_METHODS",
    "RetryPolicy",
    "backoff_delay",
    "delay_after_exception",
    "delay_after_status",
    "fit_deadline",
    "never_left",
    "parse_retry_after",
    "tls_failure",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "TRACE"})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    Example::

        RetryPolicy(max_attempts=6, max_delay=4.0)   # more patience
        RetryPolicy(max_attempts=1)                  # never retry
    """

    max_attempts: int = 4
    """Total attempts including the first; 1 disables retrying."""
    initial_delay: float = 0.2
    max_delay: float = 8.0
    """Longest backoff pause (a ``Retry-After`` is not bound by it)."""
    jitter: bool = True
    retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    backoff_factor: float = 3.0
    max_retry_after: float = 60.0
    """Longest ``Retry-After`` obeyed; a server asking for more is not retried (a hostile
    or confused one cannot park a call). The call's deadline bounds it further."""
    submit_settle: float = 15.0
    """Seconds a submission whose outcome is unknown (its answer lost) is looked up by its
    key before it is presumed lost and sent again: a late request may still create the job
    (slurmrestd holds a request ~10 s while slurmctld does not answer). Within the call's
    deadline; widen it behind proxies that may hold requests longer."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be >= 1")
        delays = (self.initial_delay, self.max_delay, self.max_retry_after, self.submit_settle)
        if min(delays) < 0:
            raise ValueError("RetryPolicy delays must be >= 0")
        if self.backoff_factor < 1:
            raise ValueError("RetryPolicy.backoff_factor must be >= 1")


def backoff_delay(
    policy: RetryPolicy, retry_number: int, *, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

    Always within ``[0, policy.max_delay]``.
    """
    exponent = max(retry_number - 1, 0)
    if policy.initial_delay == 0:
        delay = 0.0
    else:
        try:
            delay = policy.initial_delay * policy.backoff_factor**exponent
        except OverflowError:  # absurd attempt counts
            delay = math.inf
        delay = min(delay, policy.max_delay)
    if policy.jitter and delay > 0:
        delay *= 0.75 + 0.5 * (rng or random).random()
        delay = min(delay, policy.max_delay)
    return delay


def parse_retry_after(value: str | None, *, now: _dt.datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or an HTTP date); ``None`` if invalid.

    Example::

        >>> parse_retry_after("3"), parse_retry_after("soon")
        (3.0, None)
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.replace(".", "", 1).isdigit():
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    current = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, (when - current).total_seconds())


def never_left(exc: BaseException) -> bool:
    """True when ``exc`` proves the request was never sent (safe to retry anything)."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


# Transport errors that will fail the same way every time: not worth a retry.
_DETERMINISTIC = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The ssl error behind a transport error (certificate refused, handshake failed)."""
    cur: BaseException | None = exc
    for _ in range(8):  # httpx -> httpcore -> ssl; bounded in case of cycles
        if cur is None:
            return None
        if isinstance(cur, ssl.SSLError):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def delay_after_exception(
    policy: RetryPolicy, exc: httpx.HTTPError, attempt: int, idempotent: bool
) -> float | None:
    """Seconds to wait before retrying after ``exc`` on attempt ``attempt``; None: give up."""
    if attempt >= policy.max_attempts:
        return None
    if not isinstance(exc, httpx.TransportError) or isinstance(exc, _DETERMINISTIC):
        return None
    if tls_failure(exc) is not None:
        return None
    if idempotent or never_left(exc):
        return backoff_delay(policy, attempt)
    return None


def delay_after_status(
    policy: RetryPolicy,
    status: int,
    *,
    transient: bool,
    retry_after: str | None,
    attempt: int,
    idempotent: bool,
) -> float | None:
    """Seconds to wait before retrying an error status; None: give up.

    ``transient`` is False when a Slurm error number explains the failure (22.05 sends
    "invalid job id" as HTTP 500): that is the caller's problem, not a passing one.
    """
    if not idempotent or not transient or attempt >= policy.max_attempts:
        return None
    if status not in policy.retry_statuses:
        return None
    asked = parse_retry_after(retry_after)
    if asked is None:
        return backoff_delay(policy, attempt)
    return asked if asked <= policy.max_retry_after else None


def fit_deadline(delay: float | None, *, remaining: float | None, last: float) -> float | None:
    """``delay`` if a retry after it can still finish before the call's deadline; else None.

    ``remaining`` is what is left of the call (None: no deadline); ``last`` how long the
    attempt that just failed took, the best guess of how long the next one needs (a
    slurmrestd that holds each request ~10 s while slurmctld is down will hold the next one
    as long): starting an attempt the deadline would cut is pointless.

    Example::

        >>> fit_deadline(0.6, remaining=30.0, last=10.0)
        0.6
        >>> fit_deadline(0.6, remaining=8.0, last=10.0) is None
        True
    """
    if delay is None or remaining is None:
        return delay
    return delay if delay + last < remaining else None
