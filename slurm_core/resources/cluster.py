"""``client.partitions``, ``client.reservations`` and ``client.licenses``."""

from __future__ import annotations

import builtins

from .._engine import AsyncResource, BaseResource, Op, SyncResource
from .._exceptions import InvalidRequestError, NotFoundError
from .._versions import validate_name
from ..models import License, Partition, Reservation

__all__ = [
    "AsyncLicenses",
    "AsyncPartitions",
    "AsyncReservations",
    "Licenses",
    "Partitions",
    "Reservations",
]


class _PartitionsOps(BaseResource):
    def _list(self) -> Op[builtins.list[Partition]]:
        a = yield from self._core.adapter()
        response = yield a.partitions_list()
        return a.parse_partitions(response)

    def _get(self, name: str) -> Op[Partition]:
        validate_name(name, "name")
        a = yield from self._core.adapter()
        try:
            response = yield a.partition_get(name)
        except InvalidRequestError as exc:
            # An unknown partition: 22.05 answers HTTP 500 with 2000 "Invalid partition name
            # specified", 24.11 HTTP 422 with 9000 "Unable to find partition <name>".
            if not set(exc.error_numbers) & {2000, 9000}:
                raise
            raise NotFoundError(
                f"partition {name!r} not found: {exc}",
                status_code=exc.status_code,
                errors=exc.errors,
                warnings=exc.warnings,
                method=exc.method,
                url=exc.url,
                request_id=exc.request_id,
                body=exc.body,
                response=exc.response,
            ) from exc
        return a.parse_partition(response, name)


class Partitions(_PartitionsOps, SyncResource):
    """Partitions (queues).

    Example::

        default = next(p for p in client.partitions.list() if p.is_default)
    """

    def list(self) -> builtins.list[Partition]:
        """All partitions.

        Example::

            names = [p.name for p in client.partitions.list()]
        """
        return self._run(self._list())

    def get(self, name: str) -> Partition:
        """One partition by name (:class:`~slurm_core.NotFoundError` if unknown).

        Example::

            limit = client.partitions.get("debug").max_time
        """
        return self._run(self._get(name))


class AsyncPartitions(_PartitionsOps, AsyncResource):
    """Async twin of :class:`Partitions`."""

    async def list(self) -> builtins.list[Partition]:
        """See :meth:`Partitions.list`."""
        return await self._run(self._list())

    async def get(self, name: str) -> Partition:
        """See :meth:`Partitions.get`."""
        return await self._run(self._get(name))


class _ReservationsOps(BaseResource):
    def _list(self) -> Op[builtins.list[Reservation]]:
        a = yield from self._core.adapter()
        response = yield a.reservations_list()
        return a.parse_reservations(response)


class Reservations(_ReservationsOps, SyncResource):
    """Advance reservations.

    Example::

        maint = [r for r in client.reservations.list() if "MAINT" in r.flags]
    """

    def list(self) -> builtins.list[Reservation]:
        """All reservations.

        Example::

            for r in client.reservations.list():
                print(r.name, r.start_time, r.end_time, r.node_list)
        """
        return self._run(self._list())


class AsyncReservations(_ReservationsOps, AsyncResource):
    """Async twin of :class:`Reservations`."""

    async def list(self) -> builtins.list[Reservation]:
        """See :meth:`Reservations.list`."""
        return await self._run(self._list())


class _LicensesOps(BaseResource):
    def _list(self) -> Op[builtins.list[License]]:
        a = yield from self._core.adapter()
        response = yield a.licenses_list()
        return a.parse_licenses(response)


class Licenses(_LicensesOps, SyncResource):
    """License counters.

    Example::

        free = {lic.name: lic.free for lic in client.licenses.list()}
    """

    def list(self) -> builtins.list[License]:
        """All licenses.

        Example::

            matlab = next(lic for lic in client.licenses.list() if lic.name == "matlab")
        """
        return self._run(self._list())


class AsyncLicenses(_LicensesOps, AsyncResource):
    """Async twin of :class:`Licenses`."""

    async def list(self) -> builtins.list[License]:
        """See :meth:`Licenses.list`."""
        return await self._run(self._list())
