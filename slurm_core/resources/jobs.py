"""``client.jobs``: submit, list, get, cancel, hold, release, requeue and update jobs.

Submission (``submit``, ``submit_spec``, ``submit_het``, ``find_submission``,
``array_tasks``, ``output``) lives in :mod:`._submission`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import timedelta

from .._engine import AsyncResource, BaseResource, Op, SyncResource
from .._exceptions import NotFoundError, SlurmError
from .._versions import validate_job_id
from .._versions._parse import job_from_accounting
from .._versions.base import JobId
from .._versions.negotiate import withdrawn_version
from ..models import Infinite, Job, JobBaseState
from ._submission import AsyncSubmitMixin, SubmitMixin
from ._watch import AsyncWatchMixin, WatchMixin

__all__ = ["AsyncJobs", "Jobs"]

TimeLimit = timedelta | int | Infinite


def _state_set(states: JobBaseState | str | Iterable[JobBaseState | str] | None) -> set[str] | None:
    if states is None:
        return None
    items = [states] if isinstance(states, str) else list(states)
    out = set()
    for s in items:
        if not isinstance(s, str):
            raise TypeError(f"states must be JobBaseState or str values, got {s!r}")
        out.add(str(s.value if isinstance(s, JobBaseState) else s).upper())
    return out


def _filter(
    jobs: list[Job], user: str | int | None, states: set[str] | None, partition: str | None
) -> list[Job]:
    if user is None and states is None and partition is None:
        return jobs
    out = []
    for j in jobs:
        if user is not None:
            if isinstance(user, int) and not isinstance(user, bool):
                if j.user_id != user:
                    continue
            elif j.user_name != user:
                continue
        if states is not None and str(j.state.base) not in states and not (j.state.flags & states):
            continue
        if partition is not None and partition not in (j.partition or "").split(","):
            continue
        out.append(j)
    return out


class _JobsOps(BaseResource):
    def _list(
        self,
        user: str | int | None,
        states: JobBaseState | str | Iterable[JobBaseState | str] | None,
        partition: str | None,
    ) -> Op[list[Job]]:
        wanted = _state_set(states)
        a = yield from self._core.adapter()
        response = yield a.jobs_list()
        return _filter(a.parse_jobs(response), user, wanted, partition)

    def _get(self, job_id: JobId) -> Op[Job]:
        validate_job_id(job_id)
        a = yield from self._core.adapter()
        try:
            response = yield a.job_get(job_id)
            return a.parse_job(response, job_id)
        except NotFoundError as missing:
            # slurmctld forgets finished jobs after MinJobAge; the database remembers them.
            # (Not for a withdrawn version's 404: that is for the engine to renegotiate.)
            if not self._core.accounting_served() or withdrawn_version(missing):
                raise
            try:
                response = yield a.accounting_job(job_id)
                record = a.parse_accounting_job(response, job_id)
            except NotFoundError:
                raise missing from None
            except SlurmError as outage:
                # The database cannot answer (slurmdbd down, its circuit open): say so, a
                # NotFoundError would claim the job never existed.
                raise outage from missing
            return job_from_accounting(record)

    def _cancel(self, job_id: JobId, signal: int | str | None) -> Op[None]:
        validate_job_id(job_id)
        a = yield from self._core.adapter()
        yield a.job_cancel(job_id, signal)

    def _hold(self, job_id: JobId) -> Op[None]:
        validate_job_id(job_id)
        a = yield from self._core.adapter()
        yield a.job_hold(job_id)

    def _release(self, job_id: JobId) -> Op[None]:
        validate_job_id(job_id)
        a = yield from self._core.adapter()
        yield a.job_release(job_id)

    def _requeue(self, job_id: JobId) -> Op[None]:
        validate_job_id(job_id)
        a = yield from self._core.adapter()
        yield a.job_requeue(job_id)

    def _update(
        self,
        job_id: JobId,
        time_limit: TimeLimit | None,
        name: str | None,
        partition: str | None,
        comment: str | None,
        account: str | None,
        qos: str | None,
        nice: int | None,
        priority: int | None,
    ) -> Op[None]:
        validate_job_id(job_id)
        a = yield from self._core.adapter()
        fields = a.job_update_fields(
            time_limit=time_limit,
            name=name,
            partition=partition,
            comment=comment,
            account=account,
            qos=qos,
            nice=nice,
            priority=priority,
        )
        yield a.job_update(job_id, fields)


class Jobs(_JobsOps, WatchMixin, SubmitMixin, SyncResource):
    """Jobs known to slurmctld (and, for ``get``, to the accounting database); submission.

    Example::

        with SlurmClient.from_env() as client:
            for job in client.jobs.list(user="alice", states=["RUNNING"]):
                print(job.job_id, job.name, job.state)
    """

    def list(
        self,
        *,
        user: str | int | None = None,
        states: JobBaseState | str | Iterable[JobBaseState | str] | None = None,
        partition: str | None = None,
    ) -> builtins.list[Job]:
        """All jobs slurmctld knows, optionally filtered (client side).

        ``user`` is a user name or a uid; ``states`` matches the base state or a flag
        (``"RUNNING"``, ``JobBaseState.PENDING``, ``"REQUEUED"``); ``partition`` matches
        any of a job's partitions.

        Example::

            pending = client.jobs.list(states=JobBaseState.PENDING, partition="gpu")
        """
        return self._run(lambda: self._list(user, states, partition))

    def get(self, job_id: JobId) -> Job:
        """One job by id (``42`` or an array task ``"40_2"``).

        Falls back to the accounting database when slurmctld has already purged the
        job; the result then has ``source == "accounting"``. Raises
        :class:`~slurm_core.NotFoundError` if neither knows it.

        Example::

            job = client.jobs.get(42)
            if job.state.is_finished and job.exit_code and not job.exit_code.ok: ...
        """
        return self._run(lambda: self._get(job_id))

    def cancel(self, job_id: JobId, signal: int | str | None = None) -> None:
        """Cancel a job, or send it ``signal`` (``15``, ``"SIGTERM"``, ``"USR1"``).

        Example::

            client.jobs.cancel(42)                    # like scancel 42
            client.jobs.cancel(42, signal="SIGUSR1")  # like scancel -s USR1 42
        """
        self._run(lambda: self._cancel(job_id, signal))

    def hold(self, job_id: JobId) -> None:
        """Hold a pending job (priority 0) until :meth:`release`.

        Example::

            client.jobs.hold(42)
        """
        self._run(lambda: self._hold(job_id))

    def release(self, job_id: JobId) -> None:
        """Release a held job. Not possible with REST API v0.0.38
        (:class:`~slurm_core.UnsupportedOperationError`).

        Example::

            client.jobs.release(42)
        """
        self._run(lambda: self._release(job_id))

    def requeue(self, job_id: JobId) -> None:
        """Requeue a job. slurmrestd only offers this from REST API v0.0.45 (Slurm 26.05);
        older versions raise :class:`~slurm_core.UnsupportedOperationError`.

        Example::

            client.jobs.requeue(42)
        """
        self._run(lambda: self._requeue(job_id))

    def update(
        self,
        job_id: JobId,
        *,
        time_limit: TimeLimit | None = None,
        name: str | None = None,
        partition: str | None = None,
        comment: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        nice: int | None = None,
        priority: int | None = None,
    ) -> None:
        """Change fields of a job (like ``scontrol update job``).

        ``time_limit`` is a ``timedelta`` (rounded up to whole minutes), whole minutes as
        an ``int``, or :data:`~slurm_core.models.INFINITE`.

        Example::

            client.jobs.update(42, time_limit=timedelta(hours=2), comment="extended")
        """
        self._run(
            self._update(job_id, time_limit, name, partition, comment, account, qos, nice, priority)
        )


class AsyncJobs(_JobsOps, AsyncWatchMixin, AsyncSubmitMixin, AsyncResource):
    """Async twin of :class:`Jobs`.

    Example::

        async with AsyncSlurmClient.from_env() as client:
            job = await client.jobs.get(42)
    """

    async def list(
        self,
        *,
        user: str | int | None = None,
        states: JobBaseState | str | Iterable[JobBaseState | str] | None = None,
        partition: str | None = None,
    ) -> builtins.list[Job]:
        """See :meth:`Jobs.list`."""
        return await self._run(lambda: self._list(user, states, partition))

    async def get(self, job_id: JobId) -> Job:
        """See :meth:`Jobs.get`."""
        return await self._run(lambda: self._get(job_id))

    async def cancel(self, job_id: JobId, signal: int | str | None = None) -> None:
        """See :meth:`Jobs.cancel`."""
        await self._run(lambda: self._cancel(job_id, signal))

    async def hold(self, job_id: JobId) -> None:
        """See :meth:`Jobs.hold`."""
        await self._run(lambda: self._hold(job_id))

    async def release(self, job_id: JobId) -> None:
        """See :meth:`Jobs.release`."""
        await self._run(lambda: self._release(job_id))

    async def requeue(self, job_id: JobId) -> None:
        """See :meth:`Jobs.requeue`."""
        await self._run(lambda: self._requeue(job_id))

    async def update(
        self,
        job_id: JobId,
        *,
        time_limit: TimeLimit | None = None,
        name: str | None = None,
        partition: str | None = None,
        comment: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        nice: int | None = None,
        priority: int | None = None,
    ) -> None:
        """See :meth:`Jobs.update`."""
        await self._run(
            self._update(job_id, time_limit, name, partition, comment, account, qos, nice, priority)
        )
