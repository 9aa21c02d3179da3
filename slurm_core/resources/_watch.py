"""``client.jobs.watch`` and ``client.jobs.wait``: mixins for :class:`Jobs`/:class:`AsyncJobs`.

Each client gets one watcher (made on first use, kept on ``client.jobs``) that every
watch and wait of that client shares, and the watchers of all clients of one cluster and
user in the process share one poll loop; see :mod:`slurm_core.watch`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .._engine import ClientCore
from .._http import AsyncHTTP, SyncHTTP
from .._versions.base import JobId
from ..models import Job
from ..watch import AsyncJobWatch, AsyncWatcher, JobWatch, SyncWatcher, WatchOptions
from ..watch._hub import shared_brain

__all__ = ["AsyncWatchMixin", "WatchMixin"]

_create_lock = threading.Lock()


def _ids(job_ids: JobId | Iterable[JobId]) -> list[JobId]:
    if isinstance(job_ids, (int, str)):
        return [job_ids]
    return list(job_ids)


class WatchMixin:
    """``watch``/``wait`` for :class:`~slurm_core.resources.Jobs`."""

    _core: ClientCore
    _http: SyncHTTP
    _watcher: SyncWatcher | None = None

    @property
    def watcher(self) -> SyncWatcher:
        """The client's shared watcher (created on first use)."""
        watcher = self._watcher
        if watcher is None:
            with _create_lock:
                watcher = self._watcher
                if watcher is None:
                    brain = shared_brain(self._core, self._http)
                    watcher = self._watcher = SyncWatcher(self._core, self._http, brain=brain)
        return watcher

    @property
    def watch_options(self) -> WatchOptions:
        """Poll-loop settings shared by every watch of this client (and of the other
        clients of this cluster and user in the process: they share the loop; the last
        settings given win, and ``min_interval`` stays the floor for all).

        Example::

            client.jobs.watch_options = WatchOptions(initial_interval=5, max_interval=120)
        """
        return self.watcher.brain.options

    @watch_options.setter
    def watch_options(self, options: WatchOptions) -> None:
        if not isinstance(options, WatchOptions):
            raise TypeError(f"watch_options must be a WatchOptions, got {type(options).__name__}")
        self.watcher.brain.set_options(options)

    def watch(
        self,
        job_ids: JobId | Iterable[JobId],
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
    ) -> JobWatch:
        """Iterate over the events of one job or several, until each has finished.

        Every watch of this client (and of the process's other clients of this cluster and
        user) shares one poll loop: one ``jobs/state`` request per interval for all
        watched jobs, and a job's record when its state changed. The first event of each
        job reports its current state (``old_state`` is ``None``). ``timeout`` raises
        :class:`~slurm_core.watch.WaitTimeoutError` once passed; ``max_interval`` caps
        the backoff for this watch (never below the floor).

        Example::

            for event in client.jobs.watch([41, 42]):
                if event.type is JobEventType.STARTED:
                    print(event.job_id, "on", event.nodes)
                elif event.type is JobEventType.COMPLETED:
                    print(event.job_id, "exit", event.exit_code)
        """
        return self.watcher.watch(_ids(job_ids), timeout=timeout, max_interval=max_interval)

    def wait(
        self, job_id: JobId, *, timeout: float | None = None, max_interval: float | None = None
    ) -> Job:
        """Block until the job finishes; return it, or raise if it did not complete.

        Raises :class:`~slurm_core.JobFailedError` (``state``, ``exit_code``, ``reason``)
        for FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, a final PREEMPTED and
        other failures, or ``state == "UNKNOWN"`` when the outcome cannot be learned;
        :class:`~slurm_core.watch.WaitTimeoutError` after ``timeout`` seconds.

        Example::

            job = client.jobs.wait(42, timeout=3600)
            print(job.exit_code, job.end_time)
        """
        return self.watcher.wait(job_id, timeout=timeout, max_interval=max_interval)


class AsyncWatchMixin:
    """``watch``/``wait`` for :class:`~slurm_core.resources.AsyncJobs`."""

    _core: ClientCore
    _http: AsyncHTTP
    _watcher: AsyncWatcher | None = None

    @property
    def watcher(self) -> AsyncWatcher:
        """The client's shared watcher (created on first use)."""
        watcher = self._watcher
        if watcher is None:
            with _create_lock:
                watcher = self._watcher
                if watcher is None:
                    brain = shared_brain(self._core, self._http)
                    watcher = self._watcher = AsyncWatcher(self._core, self._http, brain=brain)
        return watcher

    @property
    def watch_options(self) -> WatchOptions:
        """See :attr:`WatchMixin.watch_options`."""
        return self.watcher.brain.options

    @watch_options.setter
    def watch_options(self, options: WatchOptions) -> None:
        if not isinstance(options, WatchOptions):
            raise TypeError(f"watch_options must be a WatchOptions, got {type(options).__name__}")
        self.watcher.brain.set_options(options)

    def watch(
        self,
        job_ids: JobId | Iterable[JobId],
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
    ) -> AsyncJobWatch:
        """Async twin of :meth:`WatchMixin.watch` (iterate with ``async for``).

        Example::

            async for event in client.jobs.watch([1, 2, 3]):
                print(event.job_id, event.type)
        """
        return self.watcher.watch(_ids(job_ids), timeout=timeout, max_interval=max_interval)

    async def wait(
        self,
        job_id: JobId,
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
    ) -> Job:
        """Async twin of :meth:`WatchMixin.wait`.

        Example::

            job = await client.jobs.wait(42, timeout=600)
        """
        return await self.watcher.wait(job_id, timeout=timeout, max_interval=max_interval)
