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
from ._core import Delivered, Subscription, WatchCore, job_key, outcome
from ._errors import WaitTimeoutError
from ._events import JobEvent
from ._policy import WatchOptions

__all__ = ["JobWatch", "SyncWatcher"]

_FOLLOWER_WAIT = 30.0
"""Longest a waiting thread sleeps before looking again (a safety net, not the mechanism)."""


class SyncWatcher:
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
    ) -> None:
        self.brain = WatchCore(core, options, clock=clock, wall=wall)
        self._http = http
        self._sleep = sleep
        self._clock = clock
        self._poll_lock = threading.Lock()
        self._cond = threading.Condition(self.brain.lock)
        self._wake = threading.Event()

    def watch(
        self,
        job_ids: Iterable[int | str],
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
    ) -> JobWatch:
        """See :meth:`slurm_core.resources.Jobs.watch`."""
        return JobWatch(self, [job_key(j) for j in job_ids], timeout, max_interval)

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
    def _attach(self, keys: Iterable[str], cap: float | None, delivered: Delivered) -> Subscription:
        sub = self.brain.subscribe(keys, cap, delivered)
        self._wake.set()  # a sleeping leader re-plans: a new job is polled soon
        return sub

    def _detach(self, sub: Subscription) -> None:
        self.brain.unsubscribe(sub)

    def _next(self, sub: Subscription, deadline: float | None) -> JobEvent | None:
        """The next event of ``sub``; ``None`` when it has no more jobs to watch."""
        while True:
            with self._cond:
                event = sub.take()
                if event is not None:
                    return event
                if sub.finished:
                    return None
            remaining = None if deadline is None else deadline - self._clock()
            if remaining is not None and remaining <= 0:
                raise _DeadlinePassed
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
        delay = self.brain.delay()
        if delay > 0:
            if remaining is not None:
                delay = min(delay, remaining)
            if self._sleep is not None:
                self._sleep(delay)
            else:
                self._wake.wait(delay)
            return
        run_sync(self._http, self.brain.poll())


class _DeadlinePassed(Exception):
    """Raised by ``_next`` at the deadline; the watch turns it into WaitTimeoutError."""


class JobWatch(Iterator[JobEvent]):
    """An iterator of :class:`JobEvent` for some jobs; ends after each job's final event.

    Close it (``with``, :meth:`close`, or just stop iterating and drop it) to detach.
    An exception raised while waiting (a timeout, ``KeyboardInterrupt``) detaches it too;
    iterating again re-attaches without repeating an event already handed out.

    Example::

        with client.jobs.watch([41, 42], timeout=3600) as events:
            for event in events:
                print(event.job_id, event.type, event.new_state)
    """

    def __init__(
        self,
        watcher: SyncWatcher,
        keys: list[str],
        timeout: float | None,
        max_interval: float | None,
    ) -> None:
        if not keys:
            raise ValueError("watch needs at least one job id")
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        self._watcher = watcher
        self._cap = max_interval
        self._timeout = timeout
        self._deadline = None if timeout is None else watcher._clock() + timeout
        self._delivered: Delivered = {}
        self._closed = False
        self._sub: Subscription | None = watcher._attach(keys, max_interval, self._delivered)
        self._keys = self._sub.keys
        self._left = self._sub.remaining

    @property
    def job_ids(self) -> list[int | str]:
        """The jobs this watch has not seen finish yet.

        Example::

            print(events.job_ids)                 # [42, 43]
        """
        return [int(k) if k.isdigit() else k for k in self._keys if k in self._left]

    def __iter__(self) -> JobWatch:
        return self

    def __next__(self) -> JobEvent:
        if self._closed:
            raise StopIteration
        sub = self._sub
        if sub is None:  # detached by an exception: pick up where it left off
            keys = [k for k in self._keys if k in self._left]
            sub = self._sub = self._watcher._attach(keys, self._cap, self._delivered)
            self._left = sub.remaining
        try:
            event = self._watcher._next(sub, self._deadline)
        except _DeadlinePassed:
            self._detach()
            raise WaitTimeoutError(self.job_ids, self._timeout or 0.0) from None
        except BaseException:
            self._detach()
            raise
        if event is None:
            self.close()
            raise StopIteration
        return event

    def _detach(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            self._watcher._detach(sub)

    def close(self) -> None:
        """Stop watching (idempotent).

        Example::

            events.close()
        """
        self._closed = True
        self._detach()

    def __enter__(self) -> JobWatch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()
