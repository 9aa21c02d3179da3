"""``SlurmClient`` and ``AsyncSlurmClient``: one brain (:mod:`slurm_core.resources`), two faces.

Both clients build the same :class:`~slurm_core._http.ClientOptions`, share the version
negotiation cache, and run the same operations; they differ only in the engine
(``SyncHTTP``/``AsyncHTTP``) that sends the requests.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from ._engine import ClientCore, Op, run_async, run_sync
from ._exceptions import ConfigurationError
from ._http import AsyncHTTP, SyncHTTP
from ._options import ClientOptions, RequestHooks
from ._retry import RetryPolicy
from ._transport import CircuitBreakerConfig
from ._versions import Adapter
from .analytics.costs import AsyncCosts, Costs
from .analytics.predictions import AsyncPredictions, Predictions
from .auth import TokenProvider
from .models import Diag, Ping
from .resources import (
    Accounting,
    AsyncAccounting,
    AsyncJobs,
    AsyncLicenses,
    AsyncNodes,
    AsyncPartitions,
    AsyncReservations,
    Jobs,
    Licenses,
    Nodes,
    Partitions,
    Reservations,
)
from .resources.dependencies import AsyncDependencies, Dependencies

__all__ = ["AsyncSlurmClient", "SlurmClient"]


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()
"""Marks an option the caller did not pass (so ``ClientOptions``' default applies)."""


def _options(url: str | None, **given: Any) -> ClientOptions:
    if not url:
        raise ConfigurationError(
            "a slurmrestd URL is required: SlurmClient(url=...) or SlurmClient.from_env()"
        )
    kwargs = {k: v for k, v in given.items() if v is not NOT_GIVEN}
    return ClientOptions(base_url=url, **kwargs)


class _Ops:
    """Client-level operations (``ping``, ``diag``, negotiation)."""

    _core: ClientCore

    def _ping(self) -> Op[list[Ping]]:
        a = yield from self._core.adapter()
        return a.parse_pings((yield a.ping()))

    def _diag(self) -> Op[Diag]:
        a = yield from self._core.adapter()
        return a.parse_diag((yield a.diag()))

    def _negotiate(self) -> Op[Adapter]:
        return (yield from self._core.adapter())


class SlurmClient(_Ops):
    """Blocking client for slurmrestd (REST API v0.0.38 to v0.0.45).

    The REST API version is negotiated on first use (newest both sides speak, cached per
    URL for the process) unless pinned with ``api_version`` (or
    ``SLURM_REST_API_VERSION`` for :meth:`from_env`).

    Example::

        from slurm_core import SlurmClient, StaticToken

        with SlurmClient("http://localhost:6820", auth=StaticToken(jwt, user_name="alice")) as c:
            print(c.api_version)                 # e.g. "v0.0.42"
            for job in c.jobs.list(user="alice"):
                print(job.job_id, job.state)
    """

    jobs: Jobs
    nodes: Nodes
    partitions: Partitions
    reservations: Reservations
    licenses: Licenses
    accounting: Accounting
    dependencies: Dependencies
    predictions: Predictions
    costs: Costs

    def __init__(
        self,
        url: str | None = None,
        *,
        auth: httpx.Auth | TokenProvider | None = None,
        api_version: str | None = None,
        timeout: httpx.Timeout | float = NOT_GIVEN,
        retry: RetryPolicy = NOT_GIVEN,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = NOT_GIVEN,
        cert: str | tuple[str, str] | tuple[str, str, str] | None = None,
        uds: str | None = None,
        rate_limit: float | None = None,
        circuit_breaker: CircuitBreakerConfig | None = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        limits: httpx.Limits = NOT_GIVEN,
        hooks: RequestHooks | None = None,
    ) -> None:
        options = _options(
            url,
            auth=auth,
            timeout=timeout,
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
        )
        self._setup(options, api_version)

    def _setup(self, options: ClientOptions, api_version: str | None) -> None:
        self._core = ClientCore(options.base_url, options.uds, api_version)
        self._http = SyncHTTP(options)
        self.jobs = Jobs(self._core, self._http)
        self.nodes = Nodes(self._core, self._http)
        self.partitions = Partitions(self._core, self._http)
        self.reservations = Reservations(self._core, self._http)
        self.licenses = Licenses(self._core, self._http)
        self.accounting = Accounting(self._core, self._http)
        self.dependencies = Dependencies(self._core, self._http)
        self.predictions = Predictions(self._core, self._http)
        self.costs = Costs(self._core, self._http)

    @classmethod
    def from_env(
        cls,
        profile: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> SlurmClient:
        """A client configured from the environment and the config file.

        See :func:`slurm_core.config.resolve_settings` for where each setting comes from
        (``SLURM_REST_URL``, ``SLURM_JWT``, ``SLURM_REST_API_VERSION``, ...). Keyword
        ``options`` (``timeout``, ``retry``, ``transport``...) override it.

        Example::

            with SlurmClient.from_env() as client:
                client.diag()
        """
        from .config import resolve_settings

        settings = resolve_settings(profile=profile, env=env)
        api_version = options.pop("api_version", None) or settings.api_version
        client = cls.__new__(cls)
        client._setup(settings.client_options(**options), api_version)
        return client

    @property
    def api_version(self) -> str:
        """The REST API version in use, e.g. ``"v0.0.42"`` (negotiates on first access)."""
        return run_sync(self._http, self._negotiate()).version

    def negotiate(self) -> str:
        """Negotiate the REST API version now (otherwise the first request does it).

        Example::

            version = client.negotiate()     # "v0.0.42"
        """
        return run_sync(self._http, self._negotiate()).version

    def ping(self) -> list[Ping]:
        """Ping the controllers. Any non-empty token gets an answer: use :meth:`diag`
        to check credentials.

        Example::

            assert all(p.responding for p in client.ping())
        """
        return run_sync(self._http, self._ping())

    def diag(self) -> Diag:
        """Scheduler statistics (``sdiag``); fails on bad credentials, so a good
        readiness check.

        Example::

            print(client.diag().jobs_running)
        """
        return run_sync(self._http, self._diag())

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> SlurmClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SlurmClient {self._http.base_url} api_version={self._core.known_version}>"


class AsyncSlurmClient(_Ops):
    """Async twin of :class:`SlurmClient` (asyncio or trio): same methods, awaited.

    Example::

        async with AsyncSlurmClient.from_env() as client:
            jobs = await client.jobs.list(states=["RUNNING"])
            version = client.api_version          # known after the first request
    """

    jobs: AsyncJobs
    nodes: AsyncNodes
    partitions: AsyncPartitions
    reservations: AsyncReservations
    licenses: AsyncLicenses
    accounting: AsyncAccounting
    dependencies: AsyncDependencies
    predictions: AsyncPredictions
    costs: AsyncCosts

    def __init__(
        self,
        url: str | None = None,
        *,
        auth: httpx.Auth | TokenProvider | None = None,
        api_version: str | None = None,
        timeout: httpx.Timeout | float = NOT_GIVEN,
        retry: RetryPolicy = NOT_GIVEN,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str | ssl.SSLContext = NOT_GIVEN,
        cert: str | tuple[str, str] | tuple[str, str, str] | None = None,
        uds: str | None = None,
        rate_limit: float | None = None,
        circuit_breaker: CircuitBreakerConfig | None = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        limits: httpx.Limits = NOT_GIVEN,
        hooks: RequestHooks | None = None,
    ) -> None:
        options = _options(
            url,
            auth=auth,
            timeout=timeout,
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
        )
        self._setup(options, api_version)

    def _setup(self, options: ClientOptions, api_version: str | None) -> None:
        self._core = ClientCore(options.base_url, options.uds, api_version)
        self._http = AsyncHTTP(options)
        self.jobs = AsyncJobs(self._core, self._http)
        self.nodes = AsyncNodes(self._core, self._http)
        self.partitions = AsyncPartitions(self._core, self._http)
        self.reservations = AsyncReservations(self._core, self._http)
        self.licenses = AsyncLicenses(self._core, self._http)
        self.accounting = AsyncAccounting(self._core, self._http)
        self.dependencies = AsyncDependencies(self._core, self._http)
        self.predictions = AsyncPredictions(self._core, self._http)
        self.costs = AsyncCosts(self._core, self._http)

    @classmethod
    def from_env(
        cls,
        profile: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> AsyncSlurmClient:
        """See :meth:`SlurmClient.from_env`.

        Example::

            async with AsyncSlurmClient.from_env(profile="lab") as client:
                await client.diag()
        """
        from .config import resolve_settings

        settings = resolve_settings(profile=profile, env=env)
        api_version = options.pop("api_version", None) or settings.api_version
        client = cls.__new__(cls)
        client._setup(settings.client_options(**options), api_version)
        return client

    @property
    def api_version(self) -> str | None:
        """The REST API version in use, or ``None`` until negotiated (by the first request,
        by another client of the same URL, or by ``await client.negotiate()``).

        Example::

            await client.negotiate()
            assert client.api_version == "v0.0.45"
        """
        return self._core.known_version

    async def negotiate(self) -> str:
        """Negotiate the REST API version now (otherwise the first request does it).

        Example::

            version = await client.negotiate()     # "v0.0.42"
        """
        return (await run_async(self._http, self._negotiate())).version

    async def ping(self) -> list[Ping]:
        """See :meth:`SlurmClient.ping`."""
        return await run_async(self._http, self._ping())

    async def diag(self) -> Diag:
        """See :meth:`SlurmClient.diag`."""
        return await run_async(self._http, self._diag())

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncSlurmClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncSlurmClient {self._http.base_url} api_version={self._core.known_version}>"
