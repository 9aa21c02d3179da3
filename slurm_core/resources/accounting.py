"""``client.accounting``: the slurmdbd side (``sacct``/``sacctmgr`` data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .._engine import AsyncResource, BaseResource, Op, SyncResource
from ..models import QOS, TRES, Account, AccountingJob, Association, User

__all__ = ["Accounting", "AsyncAccounting"]

Time = datetime | int | float
Names = str | Sequence[str]


def _as_set(names: Names | None) -> set[str] | None:
    if names is None:
        return None
    return {names} if isinstance(names, str) else set(names)


class _AccountingOps(BaseResource):
    def _jobs(
        self, start: Time | None, end: Time | None, users: Names | None, accounts: Names | None
    ) -> Op[list[AccountingJob]]:
        a = yield from self._core.adapter()
        request = a.accounting_jobs(start=start, end=end, users=users, accounts=accounts)
        response = yield request
        jobs = a.parse_accounting_jobs(response)
        wanted = _as_set(users)
        if wanted is not None and not a.accounting_users_param:
            # v0.0.38 has no server-side user filter.
            jobs = [j for j in jobs if j.user in wanted]
        return jobs

    def _accounts(self) -> Op[list[Account]]:
        a = yield from self._core.adapter()
        return a.parse_accounts((yield a.accounts()))

    def _users(self) -> Op[list[User]]:
        a = yield from self._core.adapter()
        return a.parse_users((yield a.users()))

    def _associations(self) -> Op[list[Association]]:
        a = yield from self._core.adapter()
        return a.parse_associations((yield a.associations()))

    def _qos(self) -> Op[list[QOS]]:
        a = yield from self._core.adapter()
        return a.parse_qos((yield a.qos()))

    def _tres(self) -> Op[list[TRES]]:
        a = yield from self._core.adapter()
        return a.parse_tres((yield a.tres()))


class Accounting(_AccountingOps, SyncResource):
    """The accounting database, through slurmrestd's ``slurmdb`` endpoints.

    Needs slurmrestd started with ``openapi/slurmdbd`` and a running slurmdbd.

    Example::

        from datetime import datetime, timedelta, timezone
        since = datetime.now(timezone.utc) - timedelta(days=1)
        for job in client.accounting.jobs(start=since, users=["alice"]):
            print(job.job_id, job.state, job.elapsed)
    """

    def jobs(
        self,
        *,
        start: Time | None = None,
        end: Time | None = None,
        users: Names | None = None,
        accounts: Names | None = None,
    ) -> list[AccountingJob]:
        """Jobs recorded by slurmdbd, with their steps and TRES (like ``sacct``).

        ``start``/``end`` are datetimes (naive ones are taken as UTC) or UNIX
        timestamps. Without ``start`` slurmdbd applies its default window (since
        midnight, as ``sacct`` does).

        Example::

            jobs = client.accounting.jobs(start=since, accounts="physics")
        """
        return self._run(self._jobs(start, end, users, accounts))

    def accounts(self) -> list[Account]:
        """All accounts (``sacctmgr show account``).

        Example::

            names = [a.name for a in client.accounting.accounts()]
        """
        return self._run(self._accounts())

    def users(self) -> list[User]:
        """All users (``sacctmgr show user``).

        Example::

            admins = [u.name for u in client.accounting.users() if u.admin_level == "Administrator"]
        """
        return self._run(self._users())

    def associations(self) -> list[Association]:
        """All associations (``sacctmgr show assoc``).

        Example::

            mine = [a for a in client.accounting.associations() if a.user == "alice"]
        """
        return self._run(self._associations())

    def qos(self) -> list[QOS]:
        """All QOS (``sacctmgr show qos``).

        Example::

            prio = {q.name: q.priority for q in client.accounting.qos()}
        """
        return self._run(self._qos())

    def tres(self) -> list[TRES]:
        """The TRES the database tracks (``sacctmgr show tres``).

        Example::

            keys = [t.key for t in client.accounting.tres()]   # ['cpu', 'mem', ..., 'gres/gpu']
        """
        return self._run(self._tres())


class AsyncAccounting(_AccountingOps, AsyncResource):
    """Async twin of :class:`Accounting`."""

    async def jobs(
        self,
        *,
        start: Time | None = None,
        end: Time | None = None,
        users: Names | None = None,
        accounts: Names | None = None,
    ) -> list[AccountingJob]:
        """See :meth:`Accounting.jobs`."""
        return await self._run(self._jobs(start, end, users, accounts))

    async def accounts(self) -> list[Account]:
        """See :meth:`Accounting.accounts`."""
        return await self._run(self._accounts())

    async def users(self) -> list[User]:
        """See :meth:`Accounting.users`."""
        return await self._run(self._users())

    async def associations(self) -> list[Association]:
        """See :meth:`Accounting.associations`."""
        return await self._run(self._associations())

    async def qos(self) -> list[QOS]:
        """See :meth:`Accounting.qos`."""
        return await self._run(self._qos())

    async def tres(self) -> list[TRES]:
        """See :meth:`Accounting.tres`."""
        return await self._run(self._tres())
