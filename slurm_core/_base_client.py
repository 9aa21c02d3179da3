"""What ``SlurmClient`` and ``AsyncSlurmClient`` share: everything but sending and closing.

:class:`BaseClient` turns the constructor's arguments (or the environment, in
:meth:`~BaseClient.from_env`) into :class:`~slurm_core._http.ClientOptions`, owns the
version-negotiation state (:class:`~slurm_core._engine.ClientCore`), wires the
resources and answers ``api_version`` and ``repr`` without I/O. A twin only says which
engine sends (:meth:`BaseClient._open`) and how its operations are run.
"""

from __future__ import annotations

import importlib
import ssl
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import httpx

from ._engine import ClientCore, Op
from ._exceptions import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    SlurmAPIError,
    SlurmError,
    UnsupportedAPIVersionError,
)
from ._http import AsyncHTTP, SyncHTTP
from ._options import ClientOptions, RequestHooks
from ._retry import RetryPolicy
from ._transport import CircuitBreakerConfig
from ._versions._request import Request
from .auth import TokenProvider
from .config import ClientSettings, resolve_settings

if TYPE_CHECKING:
    from ._versions import Adapter
    from .models import Diag, Ping

__all__ = ["NOT_GIVEN", "BaseClient", "resource"]


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()
"""Marks an option the caller did not pass (so ``ClientOptions``' default applies)."""

TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)
HTTPT = TypeVar("HTTPT", SyncHTTP, AsyncHTTP)
R = TypeVar("R")
C = TypeVar("C", bound="BaseClient[Any, Any]")
READYZ_PATH = "/readyz"
"""slurmrestd's readiness endpoint (26.05+; not in its OpenAPI document)."""


class resource(Generic[R]):  # lower case: reads as a field declaration
    """Declares a resource of a client: ``jobs: resource[Jobs] = resource(".resources.jobs:Jobs")``
    (a module relative to ``slurm_core``, then the class) makes ``client.jobs`` a ``Jobs``
    bound to that client's core and engine.

    A resource is built, and its module imported, on first access: the resources pull in
    the models and the wire translation, most of what importing the client would cost.
    A per-client lock makes two threads touching ``client.jobs`` first see the same one
    (``jobs`` owns the watcher all watches share).
    """

    def __init__(self, where: str) -> None:
        self._module, _, self._attr = where.partition(":")
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, client: None, owner: type) -> resource[R]: ...
    @overload
    def __get__(self, client: BaseClient[Any, Any], owner: type) -> R: ...
    def __get__(self, client: BaseClient[Any, Any] | None, owner: type) -> resource[R] | R:
        if client is None:
            return self
        with client._resources_lock:
            value: R | None = client.__dict__.get(self._name)
            if value is None:
                kind = getattr(importlib.import_module(self._module, "slurm_core"), self._attr)
                # Stored in the instance's __dict__, which wins over this (non-data)
                # descriptor from now on.
                value = client.__dict__[self._name] = kind(client._core, client._http)
        return value


def _options(url: str | None, **given: Any) -> ClientOptions:
    if not url:
        raise ConfigurationError(
            "a slurmrestd URL is required: SlurmClient(url=...) or SlurmClient.from_env()"
        )
    kwargs = {k: v for k, v in given.items() if v is not NOT_GIVEN}
    return ClientOptions(base_url=url, **kwargs)


class BaseClient(Generic[TransportT, HTTPT]):
    """The shared half of the two clients; see :class:`~slurm_core.SlurmClient`."""

    _core: ClientCore
    _http: HTTPT
    _resources_lock: threading.Lock

    def __init__(
        self,
        url: str | None = None,
        *,
        auth: httpx.Auth | TokenProvider | None = None,
        api_version: str | None = None,
        timeout: httpx.Timeout | float = NOT_GIVEN,
        call_timeout: float | None = NOT_GIVEN,
        retry: RetryPolicy = NOT_GIVEN,
        transport: TransportT | None = None,
        verify: bool | str | ssl.SSLContext = NOT_GIVEN,
        cert: str | tuple[str, str] | tuple[str, str, str] | None = None,
        uds: str | None = None,
        rate_limit: float | None = None,
        circuit_breaker: CircuitBreakerConfig | None = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        limits: httpx.Limits = NOT_GIVEN,
        hooks: RequestHooks | None = None,
        max_response_size: int = NOT_GIVEN,
    ) -> None:
        options = _options(
            url,
            auth=auth,
            timeout=timeout,
            call_timeout=call_timeout,
            retry=retry,
            transport=transport,
            verify=verify,
            cert=cert,
            uds=uds,
            rate_limit=rate_limit,
            circuit_breaker=circuit_breaker,
            headers=dict(headers or {}),
            limits=limits,
            hooks=hooks,
            max_response_size=max_response_size,
        )
        self._setup(options, api_version)

    def _open(self, options: ClientOptions) -> HTTPT:
        """The engine that sends this client's requests (the one thing a twin decides)."""
        raise NotImplementedError

    def _setup(self, options: ClientOptions, api_version: str | None) -> None:
        self._core = ClientCore(options.base_url, options.uds, api_version)
        self._http = self._open(options)
        self._resources_lock = threading.Lock()

    @classmethod
    def from_env(
        cls: type[C],
        profile: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> C:
        """A client configured from the environment and the config file.

        See :func:`slurm_core.config.resolve_settings` for where each setting comes from
        (``SLURM_REST_URL``, ``SLURM_JWT``, ``SLURM_REST_API_VERSION``, ...). Keyword
        ``options`` (``timeout``, ``retry``, ``transport``...) override it.

        Example::

            with SlurmClient.from_env() as client:
                client.diag()

            async with AsyncSlurmClient.from_env(profile="lab") as client:
                await client.diag()
        """
        return cls.from_settings(resolve_settings(profile=profile, env=env), **options)

    @classmethod
    def from_settings(cls: type[C], settings: ClientSettings, **options: Any) -> C:
        """A client for resolved settings (``options`` override them).

        What the adapters use: their connection, block or resource fields go through
        :func:`slurm_core.config.settings_from_mapping`, then here.

        Example::

            settings = settings_from_mapping({"url": "http://h:6820", "token_file": "~/jwt"})
            with SlurmClient.from_settings(settings, timeout=10) as client:
                client.diag()
        """
        api_version = options.pop("api_version", None) or settings.api_version
        client = cls.__new__(cls)
        client._setup(settings.client_options(**options), api_version)
        return client

    @property
    def api_version(self) -> str | None:
        """The REST API version this client uses, as far as it is known without asking the
        server: the pinned one, or the one negotiated (by a request of this client or of
        another client of the same URL); ``None`` until then. ``negotiate()`` asks.

        Example::

            client.api_version                    # None: nothing sent yet
            client.negotiate()                    # "v0.0.42" (await it on AsyncSlurmClient)
            client.api_version                    # "v0.0.42"
        """
        # A pinned version is the only one this client will speak (or it fails), so it is
        # known before the server is asked.
        return self._core.known_version or self._core.pinned

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._http.base_url} api_version={self.api_version}>"

    # -- operations both twins run, each with its own engine ---------------------------------
    def _ping(self) -> Op[list[Ping]]:
        a = yield from self._core.adapter()
        return a.parse_pings((yield a.ping()))

    def _diag(self) -> Op[Diag]:
        a = yield from self._core.adapter()
        return a.parse_diag((yield a.diag()))

    def _ready(self) -> Op[bool]:
        core = self._core
        try:
            if core.readyz is not False:
                try:
                    yield Request("GET", READYZ_PATH)
                except SlurmAPIError as exc:
                    if exc.status_code not in (404, 405):
                        raise
                    core.readyz = False  # before 26.05: never served, so never asked again
                else:
                    core.readyz = True
                    return True
            a = yield from core.adapter()
            a.parse_diag((yield a.diag()))
        except (
            AuthenticationError,
            PermissionDeniedError,
            ConfigurationError,
            UnsupportedAPIVersionError,
        ):
            raise  # waiting will not fix these
        except SlurmError:
            return False
        return True

    def _negotiate(self) -> Op[Adapter]:
        return (yield from self._core.adapter())
