"""The operations engine: operations as sans-I/O generators, and the two drivers that send.

An *operation* is a generator that yields :class:`~slurm_core._versions.Request` objects
and receives each :class:`httpx.Response` (or has the typed error thrown in), then
returns the result. It holds all the logic (negotiation, request building, fallbacks,
parsing); :func:`run_sync` and :func:`run_async` only send. That is how ``SlurmClient``
and ``AsyncSlurmClient`` share one brain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Protocol, TypeVar

import httpx

from . import _versions
from ._exceptions import SlurmError
from ._http import AsyncHTTP, SyncHTTP
from ._redact import scrub_error
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
    "SyncResource",
    "engine_of",
    "run_async",
    "run_sync",
]

T = TypeVar("T")
Op = Generator[Request, httpx.Response, T]
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


Restartable = Op[T] | Callable[[], Op[T]]
"""An operation, or a function making one: only the latter can be run again after a
renegotiation (a generator cannot be restarted)."""


def _first(op: Restartable[T]) -> Op[T]:
    return op() if callable(op) else op


def run_sync(http: SyncHTTP, op: Op[T]) -> T:
    """Drive an operation with the blocking engine."""
    try:
        request = next(op)
        while True:
            try:
                response = http.request(
                    request.method,
                    request.path,
                    params=request.params,
                    json=request.json,
                    idempotent=request.idempotent,
                )
            except SlurmError as exc:
                request = op.throw(exc)
            else:
                request = op.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except SlurmError as exc:
        scrub_error(exc)  # errors raised while parsing still hold a request with the token
        raise
    finally:
        op.close()


async def run_async(http: AsyncHTTP, op: Op[T]) -> T:
    """Drive an operation with the async engine."""
    try:
        request = next(op)
        while True:
            try:
                response = await http.request(
                    request.method,
                    request.path,
                    params=request.params,
                    json=request.json,
                    idempotent=request.idempotent,
                )
            except SlurmError as exc:
                request = op.throw(exc)
            else:
                request = op.send(response)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except SlurmError as exc:
        scrub_error(exc)
        raise
    finally:
        op.close()


class BaseResource:
    def __init__(self, core: ClientCore) -> None:
        self._core = core


class SyncResource(BaseResource):
    """A resource of :class:`~slurm_core.SlurmClient`: runs operations blocking."""

    def __init__(self, core: ClientCore, http: SyncHTTP) -> None:
        super().__init__(core)
        self._http = http

    def _run(self, op: Restartable[T]) -> T:
        make = op if callable(op) else None
        try:
            return run_sync(self._http, _first(op))
        except SlurmError as exc:
            if not self._core.withdrawn(exc) or make is None:
                raise
        return run_sync(self._http, make())  # once, on the renegotiated version


class AsyncResource(BaseResource):
    """A resource of :class:`~slurm_core.AsyncSlurmClient`: runs operations with ``await``."""

    def __init__(self, core: ClientCore, http: AsyncHTTP) -> None:
        super().__init__(core)
        self._http = http

    async def _run(self, op: Restartable[T]) -> T:
        make = op if callable(op) else None
        try:
            return await run_async(self._http, _first(op))
        except SlurmError as exc:
            if not self._core.withdrawn(exc) or make is None:
                raise
        return await run_async(self._http, make())  # once, on the renegotiated version
