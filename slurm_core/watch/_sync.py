"""The blocking face of the watcher: no thread of its own.

Every thread that waits for an event may become the *leader*: the one that sleeps until
the next poll is due and then runs it (:meth:`WatchCore.poll`) for all watches of the
client; the others wait on a condition until the leader hands events out. With one watch,
the loop simply runs in the caller's thread. When a watch ends, is closed, or its consumer
stops iterating, nothing keeps running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType

from .._engine import ClientCore, run_sync
from .._http import SyncHTTP
from ..models import Job
from ._base import JobWatchBase, WatcherBase
from ._core import Subscription, WatchCore, job_key, outcome
from ._events import JobEvent
from ._policy import WatchOptions

__all__ = ["JobWatch", "SyncWatcher"]

_OTHERS_POLL = 1.0
"""Longest wait for another client's poll before looking again (it notifies when done)."""
_FOLLOWER_WAIT = 30.0
"""Longest a waiting thread sleeps before looking again (a safety net, not the mechanism)."""


class SyncWatcher(WatcherBase):
    """One per :class:`~slurm_core.SlurmClient` (``client.jobs``): all its watches share it.

    ``sleep``, ``clock`` and ``wall`` replace ``time.sleep``/``time.monotonic``/``time.time``
    (tests).

    Example::

        watcher = client.jobs.watcher            # made on first use
        print(watcher.brain.active, watcher.brain.polls)
    """

    def __init__(
        self,
        core: ClientCore,
        http: SyncHTTP,
        options: WatchOptions | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        brain: WatchCore | None = None,
    ) -> None:
        super().__init__(core, options, clock=clock, wall=wall, brain=brain)
        self._http = http
        self._sleep = sleep
        self._poll_lock = threading.Lock()
        self._cond = threading.Condition(self.brain.lock)
        self._wake = threading.Event()

    def watch(
        self,
        job_ids: Iterable[int | str],
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
        ticks: bool = False,
    ) -> JobWatch:
        """See :meth:`slurm_core.resources.Jobs.watch`."""
        return JobWatch(self, [job_key(j) for j in job_ids], timeout, max_interval, ticks)

    def wait(
        self, job_id: int | str, *, timeout: float | None = None, max_interval: float | None = None
    ) -> Job:
        """See :meth:`slurm_core.resources.Jobs.wait`."""
        with self.watch([job_id], timeout=timeout, max_interval=max_interval) as events:
            for event in events:
                if event.final:
                    return outcome(event)
        raise AssertionError("a watch ended without a final event")  # pragma: no cover

    # -- used by JobWatch ------------------------------------------------------------------
    def _wake_leader(self) -> None:
        self._wake.set()

    def _notify(self) -> None:
        self._wake.set()
        with self._cond:
            self._cond.notify_all()

    def _next(self, sub: Subscription, deadline: float | None) -> JobEvent | None:
        """The next event of ``sub``; ``None`` when it has no more jobs to watch."""
        while True:
            with self._cond:
                event = sub.take()
                if event is not None:
                    return event
                if sub.finished:
                    return None
            remaining = self._remaining(deadline)
            if self._poll_lock.acquire(blocking=False):
                try:
                    self._lead(remaining)
                finally:
                    self._poll_lock.release()
                    with self._cond:
                        self._cond.notify_all()
            else:
                with self._cond:
                    if not sub.queue and sub.error is None:
                        wait = (
                            _FOLLOWER_WAIT if remaining is None else min(remaining, _FOLLOWER_WAIT)
                        )
                        self._cond.wait(wait)

    def _lead(self, remaining: float | None) -> None:
        self._wake.clear()
        delay = self._pause(remaining)
        if delay > 0:
            if self._sleep is not None:
                self._sleep(delay)
            else:
                self._wake.wait(delay)
            return
        if not self.brain.polling.acquire(blocking=False):
            # Another client of this cluster is polling for us too: wait for its answer.
            self._wake.wait(_OTHERS_POLL if remaining is None else min(remaining, _OTHERS_POLL))
            return
        try:
            run_sync(
                self._http,
                self.brain.poll(self._core, self),
                deadline=self._poll_deadline(self._http, remaining),
            )
        finally:
            self.brain.polling.release()


class JobWatch(JobWatchBase[SyncWatcher], Iterator[JobEvent]):
    """An iterator of :class:`JobEvent` for some jobs; ends after each job's final event.

    Close it (``with``, :meth:`close`, or just stop iterating and drop it) to detach.
    An exception raised while waiting (a timeout, ``KeyboardInterrupt``) detaches it too;
    iterating again re-attaches without repeating an event already handed out.

    Example::

        with client.jobs.watch([41, 42], timeout=3600) as events:
            for event in events:
                print(event.job_id, event.type, event.new_state)
    """

    def __iter__(self) -> JobWatch:
        return self

    def __next__(self) -> JobEvent:
        if self._closed:
            raise StopIteration
        with self._waiting() as sub:
            event = self._watcher._next(sub, self._deadline)
        if event is None:
            self.close()
            raise StopIteration
        return event

    def __enter__(self) -> JobWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
