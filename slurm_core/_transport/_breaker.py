"""The circuit breaker: a transport wrapper that fails fast while an origin is down.

The breaker wraps any httpx transport (the real one or a ``MockTransport``), so every request
passes it exactly once per attempt. State is shared per origin (scheme, host, port, and the
unix socket if any) and per dependency behind it by every client in the process: ten
``SlurmClient`` objects hammering a dead slurmrestd trip one breaker, not ten. The dependency
is the daemon that answers the path: ``/slurmdb/`` paths need slurmdbd, every other path
slurmctld. A slurmdbd outage opens the slurmdbd circuit only, so submissions and listings go
on; a request fails fast only when its own dependency's circuit is open.

States: *closed* (normal) -> after ``failure_threshold`` consecutive failures -> *open*
(every request raises :class:`CircuitOpenError` at once) -> after ``recovery_timeout`` ->
*half-open* (exactly one probe goes through; others still fail fast) -> closed on success,
open again on failure.

A failure is a transport error (refused, reset, timeout) or a 5xx that is not explained by a
Slurm error number -- 22.05 reports "invalid job id" as HTTP 500, which says nothing about
the server's health. Authentication never counts: neither a 401/511 nor the answer 22.05 gives
a token it never accepted (HTTP 500 -1, see ``_errmap.answer_class``), so one client's bad
token cannot close the server to the other clients of the process.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx

from slurm_core._errmap import DeadlineExceeded, answer_class, decode_body
from slurm_core._errmap import parse_error_entries as _parse_entries
from slurm_core._exceptions import CircuitOpenError, ServerError

Clock = Callable[[], float]
_Inner = TypeVar("_Inner", httpx.BaseTransport, httpx.AsyncBaseTransport)


@dataclasses.dataclass(frozen=True)
class CircuitBreakerConfig:
    """When to stop calling a failing slurmrestd, and when to try again.

    Example::

        ClientOptions(base_url=..., circuit_breaker=CircuitBreakerConfig(failure_threshold=10))
        ClientOptions(base_url=..., circuit_breaker=None)   # disabled
    """

    failure_threshold: int = 5
    """Consecutive failed attempts (across all clients of this origin) that open the circuit."""
    recovery_timeout: float = 10.0
    """Seconds the circuit stays open before one probe request is allowed."""

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("CircuitBreakerConfig.failure_threshold must be >= 1")
        if self.recovery_timeout < 0:
            raise ValueError("CircuitBreakerConfig.recovery_timeout must be >= 0")


class _Circuit:
    """Per-origin state. All methods are short critical sections under one lock."""

    __slots__ = ("dependency", "failures", "lock", "name", "opened_at", "probing")

    def __init__(self, name: str, dependency: str) -> None:
        self.name = name
        self.dependency = dependency
        self.lock = threading.Lock()
        self.failures = 0
        self.opened_at: float | None = None  # None = closed
        self.probing = False

    def before(self, config: CircuitBreakerConfig, clock: Clock) -> bool:
        """Raise if open; return True when this request is the half-open probe."""
        if self.opened_at is None:  # closed: the hot path takes no lock
            return False
        now = clock()
        with self.lock:
            if self.opened_at is None:
                return False
            wait = self.opened_at + config.recovery_timeout - now
            if wait > 0 or self.probing:
                raise CircuitOpenError(
                    self.name, retry_after=max(wait, 0.0), dependency=self.dependency
                )
            self.probing = True
            return True

    def success(self, probe: bool) -> None:
        if not probe and self.failures == 0 and self.opened_at is None:
            return  # nothing to reset; skipping the lock loses no update
        with self.lock:
            self.failures = 0
            self.opened_at = None
            if probe:
                self.probing = False

    def failure(self, config: CircuitBreakerConfig, now: float, probe: bool) -> None:
        with self.lock:
            self.failures += 1
            if probe:
                self.probing = False
                self.opened_at = now
            elif self.failures >= config.failure_threshold:
                # Re-stamp while open so a late failure keeps it open for the full timeout.
                self.opened_at = now

    def abandon(self, probe: bool) -> None:
        """The probe ended without a verdict (cancelled): let the next request probe."""
        if probe:
            with self.lock:
                self.probing = False


SLURMCTLD = "slurmctld"
SLURMDBD = "slurmdbd"
DEPENDENCIES = (SLURMCTLD, SLURMDBD)

_registry: dict[tuple[str, str], _Circuit] = {}
_registry_lock = threading.Lock()


def _circuit_for(key: tuple[str, str]) -> _Circuit:
    circuit = _registry.get(key)
    if circuit is None:
        with _registry_lock:
            circuit = _registry.setdefault(key, _Circuit(*key))
    return circuit


def dependency_of(path: str) -> str:
    """The daemon behind a slurmrestd path: ``"slurmdbd"`` for ``/slurmdb/...``, else
    ``"slurmctld"`` (``/slurm/...``, and ``/openapi`` which slurmrestd answers itself)."""
    return SLURMDBD if path.startswith("/slurmdb/") else SLURMCTLD


def _origin(url: httpx.URL, uds: str | None) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    key = f"{url.scheme}://{url.host}:{port}"
    return f"{key} (unix:{uds})" if uds else key


def circuit_state(base_url: str, *, uds: str | None = None, dependency: str | None = None) -> str:
    """``"closed"``, ``"open"`` or ``"half-open"`` for an origin's circuit to ``dependency``
    (``"slurmctld"`` or ``"slurmdbd"``); without one, the worst of them (diagnostics, tests).

    Example::

        circuit_state("http://127.0.0.1:6820", dependency="slurmdbd")   # 'closed'
    """
    if dependency is not None and dependency not in DEPENDENCIES:
        raise ValueError(f"dependency must be one of {DEPENDENCIES}, got {dependency!r}")
    origin = _origin(httpx.URL(base_url), uds)
    states = ["closed"]
    for name in (dependency,) if dependency else DEPENDENCIES:
        circuit = _registry.get((origin, name))
        if circuit is not None and circuit.opened_at is not None:
            states.append("half-open" if circuit.probing else "open")
    return "open" if "open" in states else states[-1]


def reset_circuit_breakers() -> None:
    """Forget every breaker's state (tests; or after fixing a server by hand)."""
    with _registry_lock:
        _registry.clear()


def _is_failure_status(response: httpx.Response, request: httpx.Request) -> bool:
    """5xx and not explained by a client-side Slurm error number nor by a rejected token
    (the same decision as the error mapping's). Body must be read."""
    errors, _ = _parse_entries(decode_body(response.content))
    return answer_class(response, errors, request) is ServerError


class _Attempt:
    """One request's passage through a breaker: every verdict on it, none of the I/O."""

    __slots__ = ("circuit", "clock", "config", "probe", "settled")

    def __init__(self, circuit: _Circuit, config: CircuitBreakerConfig, clock: Clock) -> None:
        self.circuit = circuit
        self.config = config
        self.clock = clock
        self.probe = circuit.before(config, clock)  # raises CircuitOpenError when open
        self.settled = False

    @staticmethod
    def must_read(response: httpx.Response) -> bool:
        """A 5xx is judged by its body (a Slurm error number excuses it): read it first."""
        return response.status_code >= 500

    def error(self, exc: BaseException) -> None:
        """Sending, reading or judging raised: a transport error counts, anything else
        (cancelled, the caller's own deadline cutting the wait short, an oversized body, a
        bug) leaves no verdict: a short deadline says nothing of the server's health."""
        if self.settled:
            return
        self.settled = True
        if isinstance(exc, httpx.TransportError) and not isinstance(exc, DeadlineExceeded):
            self.circuit.failure(self.config, self.clock(), self.probe)
        else:
            self.circuit.abandon(self.probe)

    def done(self, response: httpx.Response, request: httpx.Request) -> None:
        failed = self.must_read(response) and _is_failure_status(response, request)
        self.settled = True
        if failed:
            self.circuit.failure(self.config, self.clock(), self.probe)
        else:
            self.circuit.success(self.probe)

    def release(self) -> None:
        """Whatever escaped, a probe never keeps its slot: a held slot would keep the
        circuit half-open for every client of the origin, for good."""
        if not self.settled:
            self.settled = True
            self.circuit.abandon(self.probe)


class _BreakerBase(Generic[_Inner]):
    """What the sync and async breakers share: the origin's circuit and every decision;
    the twins only send the request and read a 5xx body."""

    def __init__(
        self,
        inner: _Inner,
        config: CircuitBreakerConfig,
        *,
        uds: str | None = None,
        clock: Clock | None = None,
        base_url: str | None = None,
    ) -> None:
        self.inner: _Inner = inner
        self.config = config
        self._uds = uds
        self._clock: Clock = clock or time.monotonic
        # With a base_url (the engines pass theirs) the key is computed once, not per request.
        self._origin = _origin(httpx.URL(base_url), uds) if base_url else None

    def _begin(self, request: httpx.Request) -> _Attempt:
        key = (self._origin or _origin(request.url, self._uds), dependency_of(request.url.path))
        # A dict lookup, not a cached object: reset_circuit_breakers() must take effect.
        circuit = _registry.get(key) or _circuit_for(key)
        return _Attempt(circuit, self.config, self._clock)


class CircuitBreakerTransport(_BreakerBase[httpx.BaseTransport], httpx.BaseTransport):
    """Wraps a sync transport with the process-wide circuit breakers (per origin and
    dependency).

    Example::

        transport = CircuitBreakerTransport(httpx.HTTPTransport(), CircuitBreakerConfig())
        httpx.Client(transport=transport)
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempt = self._begin(request)
        try:
            response = self.inner.handle_request(request)
            if attempt.must_read(response):
                response.read()
            attempt.done(response, request)
        except BaseException as exc:
            attempt.error(exc)
            raise
        finally:
            attempt.release()
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncCircuitBreakerTransport(
    _BreakerBase[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport
):
    """Async twin of :class:`CircuitBreakerTransport` (same shared state)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempt = self._begin(request)
        try:
            response = await self.inner.handle_async_request(request)
            if attempt.must_read(response):
                await response.aread()
            attempt.done(response, request)
        except BaseException as exc:
            attempt.error(exc)
            raise
        finally:
            attempt.release()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
