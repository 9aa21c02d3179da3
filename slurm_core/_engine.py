"""The operations engine: operations as sans-I/O generators, and the two drivers that send.

An *operation* is a generator that yields :class:`~slurm_core._versions.Request` objects
and receives each :class:`httpx.Response` (or has the typed error thrown in), then
returns the result. It holds all the logic (negotiation, request building, fallbacks,
parsing); :func:`run_sync` and :func:`run_async` only send. That is how ``SlurmClient``
and ``AsyncSlurmClient`` share one brain.

**No large body parsed on the event loop.** :func:`run_async` resumes an operation with a
response of :data:`OFFLOAD_BYTES` or more in a worker thread: what the operation does with
it (decode, parse, build the next request) does not block the loop. On asyncio the thread
comes from a small pool of our own, whose idle threads never keep the interpreter from
exiting (anyio's worker threads do when their event loop never ends, e.g. a loop left
running in a daemon thread: a test session that never exited).
Operations are plain code, and what they call from there is thread-safe (the watch hands
its wake-ups to each loop).

**One deadline per call.** A driver runs the whole operation against one deadline (a
``time.monotonic()`` value: the one it is given, else ``call_timeout`` from now): every
request the operation yields, with its retries, ends by then. An operation that must wait
between requests (a submission looking for its key) yields :class:`Pause`; the driver
sleeps (``time.sleep`` or ``anyio.sleep``, as the engine does) and, when the pause would
pass the deadline, throws :class:`~slurm_core.SlurmTimeoutError` (phase ``"deadline"``)
into the operation instead of sleeping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.to_thread
import httpx

from . import _versions
from ._exceptions import SlurmError, SlurmTimeoutError
from ._http import AsyncHTTP, SyncHTTP
from ._redact import scrub_error
from ._retry import RetryPolicy
from ._versions._names import CLIENT_VERSIONS
from ._versions._request import Request
from ._versions.negotiate import (
    ServedVersions,
    cached_versions,
    check_pinned,
    forget_version,
    negotiate,
    withdrawn_version,
)

if TYPE_CHECKING:
    from ._versions import Adapter

__all__ = [
    "AsyncResource",
    "BaseResource",
    "ClientCore",
    "Driven",
    "Op",
    "Pause",
    "PausingOp",
    "SyncResource",
    "engine_of",
    "run_async",
    "run_sync",
]

T = TypeVar("T")
OFFLOAD_BYTES = 64 * 1024
"""Bodies from this size on are parsed off the event loop by :func:`run_async` (a 2.6 MB
job listing takes ~0.3 s to decode and parse; 64 KiB about 5 ms)."""
Op = Generator[Request, httpx.Response, T]


@dataclasses.dataclass(frozen=True, slots=True)
class Pause:
    """Yielded by an operation: sleep ``seconds`` before going on (the driver answers with
    no response). Raises ``SlurmTimeoutError(phase="deadline")`` into the operation when
    the pause would end past the call's deadline."""

    seconds: float
    why: str = "pause"


PausingOp = Generator[Request | Pause, httpx.Response, T]
"""An operation that may also yield :class:`Pause`."""
H_co = TypeVar("H_co", SyncHTTP, AsyncHTTP, covariant=True)


class Driven(Protocol[H_co]):
    """A client as code that runs its own operations sees it (the analytics tools do):
    the version core and the request engine. Both clients are one."""

    @property
    def _core(self) -> ClientCore: ...

    @property
    def _http(self) -> H_co: ...


def engine_of(client: object) -> SyncHTTP | AsyncHTTP:
    """``client``'s request engine, or a TypeError naming what was passed instead."""
    http = getattr(client, "_http", None)
    if not isinstance(http, (SyncHTTP, AsyncHTTP)) or not isinstance(
        getattr(client, "_core", None), ClientCore
    ):
        raise TypeError(
            f"client must be a SlurmClient or AsyncSlurmClient, got {type(client).__name__}"
        )
    return http


class ClientCore:
    """What a client and its resources share: the URL key and the negotiated adapter."""

    def __init__(self, base_url: str, uds: str | None, pinned: str | None) -> None:
        check_pinned(pinned)
        self.key = (str(httpx.URL(base_url)).rstrip("/"), uds)
        self.pinned = pinned
        self._adapter: Adapter | None = None
        self._served: ServedVersions | None = None
        self._lock = threading.Lock()
        self.readyz: bool | None = None
        """Whether the server serves ``/readyz`` (None: not asked yet)."""

    @property
    def known_version(self) -> str | None:
        """The version in use if already negotiated (here or by another client)."""
        if self._adapter is not None:
            return self._adapter.version
        served = cached_versions(self.key)
        if served is None:
            return None
        if self.pinned is not None:
            return self.pinned if self.pinned in served.slurm else None
        return next((v for v in served.slurm if v in CLIENT_VERSIONS), None)

    def accounting_served(self) -> bool:
        """False only when the server is known not to serve slurmdb at our version."""
        served = self._served
        if served is None or served.slurmdb is None or self._adapter is None:
            return True
        return self._adapter.version in served.slurmdb

    def adapter(self) -> Op[Adapter]:
        """The adapter, negotiating first if needed (yields the negotiation requests)."""
        adapter = self._adapter
        if adapter is None:
            version, served = yield from negotiate(self.key, self.pinned)
            # The adapters (and the models they parse into) load here, at the first request.
            adapter = _versions.get_adapter(version, served.slurm)
            with self._lock:
                if self._adapter is None:
                    self._adapter, self._served = adapter, served
                adapter = self._adapter
        return adapter

    def withdrawn(self, exc: SlurmError) -> bool:
        """True if ``exc`` says the version in use is no longer served (an upgrade): the
        version is forgotten here and, once for all clients, in the process-wide cache, so
        the next request renegotiates."""
        adapter = self._adapter
        version = withdrawn_version(exc)
        if adapter is None or version is None or version != adapter.version:
            return False
        forget_version(self.key, version)
        with self._lock:
            if self._adapter is adapter:
                self._adapter = self._served = None
        return True


Restartable = PausingOp[T] | Callable[[], PausingOp[T]]
"""An operation, or a function making one: only the latter can be run again after a
renegotiation (a generator cannot be restarted)."""


def _first(op: Restartable[T]) -> PausingOp[T]:
    return op() if callable(op) else op


def _overrun(pause: Pause, deadline: float | None) -> SlurmTimeoutError | None:
    """The error to throw instead of a pause that would pass the deadline."""
    if deadline is None or time.monotonic() + pause.seconds < deadline:
        return None
    return SlurmTimeoutError(
        f"deadline timeout: the call's deadline passes before its {pause.why} "
        f"({pause.seconds:.1f} s) would end",
        phase="deadline",
    )


def _options(request: Request, deadline: float | None) -> dict[str, Any]:
    return {
        "params": request.params,
        "json": request.json,
        "idempotent": request.idempotent,
        "deadline": deadline,
    }


def run_sync(http: SyncHTTP, op: PausingOp[T], *, deadline: float | None = None) -> T:
    """Drive an operation with the blocking engine, all of it by ``deadline``
    (a ``time.monotonic()`` value; default: the client's ``call_timeout`` from now)."""
    if deadline is None:
        deadline = http.call_deadline()
    try:
        step = next(op)
        while True:
            if isinstance(step, Pause):
                late = _overrun(step, deadline)
                if late is None:
                    http.sleep(step.seconds)
                # a pause has no response: None goes back
                step = op.throw(late) if late else op.send(None)  # type: ignore[arg-type]
                continue
            try:
                response = http.request(step.method, step.path, **_options(step, deadline))
            except SlurmError as exc:
                step = op.throw(exc)
            else:
                step = op.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except SlurmError as exc:
        scrub_error(exc)  # errors raised while parsing still hold a request with the token
        raise
    finally:
        op.close()


async def run_async(http: AsyncHTTP, op: PausingOp[T], *, deadline: float | None = None) -> T:
    """Drive an operation with the async engine (see :func:`run_sync`)."""
    if deadline is None:
        deadline = http.call_deadline()
    try:
        step = next(op)
        while True:
            if isinstance(step, Pause):
                late = _overrun(step, deadline)
                if late is None:
                    await http.sleep(step.seconds)
                # a pause has no response: None goes back
                step = op.throw(late) if late else op.send(None)  # type: ignore[arg-type]
                continue
            try:
                response = await http.request(step.method, step.path, **_options(step, deadline))
            except SlurmError as exc:
                step = op.throw(exc)
                continue
            if len(response.content) < OFFLOAD_BYTES:
                step = op.send(response)
                continue
            # A large body: its decoding and parsing (what the operation does next) run in a
            # worker thread, so the event loop goes on. Not abandoned on cancellation: the
            # operation is never closed while the thread still runs it.
            finished, value = await _off_loop(op, response)
            if finished:
                return value  # type: ignore[no-any-return]
            step = value
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except SlurmError as exc:
        scrub_error(exc)
        raise
    finally:
        op.close()


_pool: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _parse_pool() -> concurrent.futures.ThreadPoolExecutor:
    """This process's pool (a forked child makes its own: its parent's threads are gone)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="slurm-parse")
            _pool = (os.getpid(), pool)
        return _pool[1]


async def _off_loop(op: PausingOp[T], response: httpx.Response) -> tuple[bool, Any]:
    """:func:`_resume` in a worker thread, waited for even when cancelled (shielded)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another anyio backend
        return await anyio.to_thread.run_sync(_resume, op, response)
    future = loop.run_in_executor(_parse_pool(), _resume, op, response)
    with anyio.CancelScope(shield=True):
        result = await future
    return result


def _resume(op: PausingOp[T], response: httpx.Response) -> tuple[bool, Any]:
    """``op.send(response)`` as ``(finished, next step or result)``: a StopIteration must
    not cross into a coroutine (it would become a RuntimeError there)."""
    try:
        return False, op.send(response)
    except StopIteration as stop:
        return True, stop.value


class BaseResource:
    _retry: RetryPolicy  # the engine's, for operations that pace themselves

    def __init__(self, core: ClientCore) -> None:
        self._core = core


class SyncResource(BaseResource):
    """A resource of :class:`~slurm_core.SlurmClient`: runs operations blocking."""

    def __init__(self, core: ClientCore, http: SyncHTTP) -> None:
        super().__init__(core)
        self._http = http
        self._retry = http.options.retry

    def _run(self, op: Restartable[T]) -> T:
        make = op if callable(op) else None
        deadline = self._http.call_deadline()  # one deadline, renegotiation included
        try:
            return run_sync(self._http, _first(op), deadline=deadline)
        except SlurmError as exc:
            if not self._core.withdrawn(exc) or make is None:
                raise
        return run_sync(self._http, make(), deadline=deadline)  # once, on the new version


class AsyncResource(BaseResource):
    """A resource of :class:`~slurm_core.AsyncSlurmClient`: runs operations with ``await``."""

    def __init__(self, core: ClientCore, http: AsyncHTTP) -> None:
        super().__init__(core)
        self._http = http
        self._retry = http.options.retry

    async def _run(self, op: Restartable[T]) -> T:
        make = op if callable(op) else None
        deadline = self._http.call_deadline()  # one deadline, renegotiation included
        try:
            return await run_async(self._http, _first(op), deadline=deadline)
        except SlurmError as exc:
            if not self._core.withdrawn(exc) or make is None:
                raise
        return await run_async(self._http, make(), deadline=deadline)  # once, on the new version
