"""``SlurmClient`` and ``AsyncSlurmClient``: one brain (:mod:`slurm_core._engine`), two faces.

Both clients build the same :class:`~slurm_core._http.ClientOptions`, share the version
negotiation cache, and run the same operations; they differ only in the engine
(``SyncHTTP``/``AsyncHTTP``) that sends the requests.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from ._base_client import BaseClient, resource
from ._engine import run_async, run_sync
from ._http import AsyncHTTP, SyncHTTP
from ._options import ClientOptions

if TYPE_CHECKING:
    from .analytics.costs import AsyncCosts, Costs
    from .analytics.predictions import AsyncPredictions, Predictions
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


class SlurmClient(BaseClient[httpx.BaseTransport, SyncHTTP]):
    """Blocking client for slurmrestd (REST API v0.0.38 to v0.0.45).

    The REST API version is negotiated on first use (newest both sides speak, cached per
    URL for the process) unless pinned with ``api_version`` (or
    ``SLURM_REST_API_VERSION`` for :meth:`from_env`). :meth:`negotiate` does it now;
    :attr:`api_version` tells what is known without sending anything.

    Example::

        from slurm_core import SlurmClient, StaticToken

        with SlurmClient("http://localhost:6820", auth=StaticToken(jwt, user_name="alice")) as c:
            print(c.negotiate())                 # e.g. "v0.0.42"
            for job in c.jobs.list(user="alice"):
                print(job.job_id, job.state)
    """

    jobs: resource[Jobs] = resource(".resources.jobs:Jobs")
    nodes: resource[Nodes] = resource(".resources.nodes:Nodes")
    partitions: resource[Partitions] = resource(".resources.cluster:Partitions")
    reservations: resource[Reservations] = resource(".resources.cluster:Reservations")
    licenses: resource[Licenses] = resource(".resources.cluster:Licenses")
    accounting: resource[Accounting] = resource(".resources.accounting:Accounting")
    dependencies: resource[Dependencies] = resource(
        "slurm_core.resources.dependencies:Dependencies"
    )
    predictions: resource[Predictions] = resource(".analytics.predictions:Predictions")
    costs: resource[Costs] = resource(".analytics.costs:Costs")

    def _open(self, options: ClientOptions) -> SyncHTTP:
        return SyncHTTP(options)

    def negotiate(self) -> str:
        """The REST API version in use, negotiating it now if it is not known yet
        (otherwise the first request does it); :attr:`api_version` never sends a request.

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

    def ready(self) -> bool:
        """Is slurmrestd ready to serve? Asks ``GET /readyz`` where the server has it
        (Slurm 26.05+, which answers it without checking the token's signature) and
        :meth:`diag` elsewhere; which one is found out once per client.

        ``False`` when it cannot be reached, times out or answers a server error (after
        the client's retries); a refused token (401/403) raises
        :class:`~slurm_core.AuthenticationError` or :class:`~slurm_core.PermissionDeniedError`,
        since waiting will not fix it. Use :meth:`diag` to check credentials.

        Example::

            while not client.ready():
                time.sleep(1)
        """
        return run_sync(self._http, self._ready())

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


class AsyncSlurmClient(BaseClient[httpx.AsyncBaseTransport, AsyncHTTP]):
    """Async twin of :class:`SlurmClient` (asyncio or trio): same methods, awaited.

    Example::

        async with AsyncSlurmClient.from_env() as client:
            jobs = await client.jobs.list(states=["RUNNING"])
            version = client.api_version          # known after the first request
    """

    jobs: resource[AsyncJobs] = resource(".resources.jobs:AsyncJobs")
    nodes: resource[AsyncNodes] = resource(".resources.nodes:AsyncNodes")
    partitions: resource[AsyncPartitions] = resource(".resources.cluster:AsyncPartitions")
    reservations: resource[AsyncReservations] = resource(
        "slurm_core.resources.cluster:AsyncReservations"
    )
    licenses: resource[AsyncLicenses] = resource(".resources.cluster:AsyncLicenses")
    accounting: resource[AsyncAccounting] = resource(
        "slurm_core.resources.accounting:AsyncAccounting"
    )
    dependencies: resource[AsyncDependencies] = resource(
        "slurm_core.resources.dependencies:AsyncDependencies"
    )
    predictions: resource[AsyncPredictions] = resource(
        "slurm_core.analytics.predictions:AsyncPredictions"
    )
    costs: resource[AsyncCosts] = resource(".analytics.costs:AsyncCosts")

    def _open(self, options: ClientOptions) -> AsyncHTTP:
        return AsyncHTTP(options)

    async def negotiate(self) -> str:
        """See :meth:`SlurmClient.negotiate`.

        Example::

            version = await client.negotiate()     # "v0.0.42"
            assert client.api_version == version
        """
        return (await run_async(self._http, self._negotiate())).version

    async def ping(self) -> list[Ping]:
        """See :meth:`SlurmClient.ping`."""
        return await run_async(self._http, self._ping())

    async def diag(self) -> Diag:
        """See :meth:`SlurmClient.diag`."""
        return await run_async(self._http, self._diag())

    async def ready(self) -> bool:
        """See :meth:`SlurmClient.ready`.

        Example::

            while not await client.ready():
                await anyio.sleep(1)
        """
        return await run_async(self._http, self._ready())

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
