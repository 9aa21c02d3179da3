"""What the blocking and the async faces of the watcher share: every decision, no waiting.

:class:`WatcherBase` attaches and detaches subscriptions, tells how long the leader may
sleep and when a deadline has passed; :class:`JobWatchBase` validates a watch, keeps its
bookkeeping (the jobs left, the events already handed out) and re-attaches after an
exception. :mod:`._sync` and :mod:`._async` only block or await.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from .._engine import ClientCore
from .._http import AsyncHTTP, SyncHTTP
from ._core import Delivered, Subscription, WatchCore, job_key
from ._errors import WaitTimeoutError
from ._policy import WatchOptions
from ._source import Fleet

__all__ = ["DeadlinePassed", "JobWatchBase", "WatcherBase"]


class DeadlinePassed(Exception):
    """Raised by a watcher's ``_next`` at the deadline; the watch turns it into
    :class:`WaitTimeoutError` (which names the jobs, something the watcher does not know)."""


class WatcherBase:
    """The part of ``SyncWatcher``/``AsyncWatcher`` that does not depend on how they wait."""

    def __init__(
        self,
        core: ClientCore,
        options: WatchOptions | None,
        *,
        clock: Callable[[], float],
        wall: Callable[[], float],
        brain: WatchCore | None = None,
    ) -> None:
        # A shared brain (one loop for the clients of one cluster and user) or our own.
        self.brain = brain or WatchCore(core, options, clock=clock, wall=wall)
        self._core = core
        self._clock = clock
        self.brain.listen(self)

    def share_through(self, fleet: Fleet | None) -> None:
        """Share the ``jobs/state`` polls of this cluster and user with other processes
        through ``fleet`` (a :class:`~slurm_core.watch.RedisFleet`); ``None`` stops.

        The loop is the process's one for this cluster and user, so every client of it
        shares through the fleet from the next poll (v0.0.40+; v0.0.38 lists jobs).

        Example::

            fleet = RedisFleet(redis_url, cluster_url=client.base_url, user="alice")
            client.jobs.watcher.share_through(fleet)
        """
        self.brain.fleet = fleet

    def _attach(
        self, keys: Iterable[str], cap: float | None, delivered: Delivered, ticks: bool = False
    ) -> Subscription:
        sub = self.brain.subscribe(keys, cap, delivered, ticks=ticks, owner=self)
        self._wake_leader()  # a sleeping leader re-plans: a new job is polled soon
        return sub

    def _wake_leader(self) -> None:
        raise NotImplementedError

    def _notify(self) -> None:
        """Called by the brain after any client's poll (from any thread): wake up."""
        raise NotImplementedError

    def _detach(self, sub: Subscription) -> None:
        self.brain.unsubscribe(sub)

    def _remaining(self, deadline: float | None) -> float | None:
        """Seconds left until ``deadline`` (``None``: no deadline); raises once it passed."""
        if deadline is None:
            return None
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise DeadlinePassed
        return remaining

    @staticmethod
    def _poll_deadline(http: SyncHTTP | AsyncHTTP, remaining: float | None) -> float | None:
        """The deadline of one poll (engine clock): the call's, or the waiting watch's if
        nearer, so ``wait(timeout=5)`` returns on time whatever the server does."""
        call = http.call_deadline()
        if remaining is None:
            return call
        mine = time.monotonic() + remaining
        return mine if call is None else min(call, mine)

    def _pause(self, remaining: float | None) -> float:
        """How long the leader sleeps before polling (0: poll now), never past the deadline."""
        delay = self.brain.delay()
        if delay > 0 and remaining is not None:
            delay = min(delay, remaining)
        return delay


W = TypeVar("W", bound=WatcherBase)


class JobWatchBase(Generic[W]):
    """The bookkeeping of ``JobWatch``/``AsyncJobWatch``; the twins only iterate."""

    def __init__(
        self,
        watcher: W,
        keys: list[str],
        timeout: float | None,
        max_interval: float | None,
        ticks: bool = False,
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
        self._ticks = ticks
        self._sub: Subscription | None = watcher._attach(keys, max_interval, self._delivered, ticks)
        self._keys = self._sub.keys
        self._left = self._sub.remaining

    @property
    def job_ids(self) -> list[int | str]:
        """The jobs this watch has not seen finish yet.

        Example::

            print(events.job_ids)                 # [42, 43]
        """
        return [int(k) if k.isdigit() else k for k in self._keys if k in self._left]

    def add(self, job_ids: Iterable[int | str]) -> bool:
        """Follow more jobs with this watch: they are polled from the next poll and their
        events come through here. A blocking watch takes them from any thread, even while
        another waits on it; an async one from its event loop. ``False`` (nothing added)
        once the watch is closed or has ended.

        Example::

            events = client.jobs.watch([41])
            events.add([42, 43])
        """
        keys = [job_key(j) for j in job_ids]
        if self._closed:
            return False
        new = [k for k in dict.fromkeys(keys) if k not in self._keys]
        self._keys += tuple(new)
        self._left.update(new)
        sub = self._sub
        if sub is not None:  # else the next wait re-attaches with every job left
            self._watcher.brain.extend(sub, new)
            self._watcher._wake_leader()
        return True

    @contextmanager
    def _waiting(self) -> Iterator[Subscription]:
        """The subscription to wait on, attached again if an exception detached it.

        Any exception while waiting (the deadline, a failed poll, ``KeyboardInterrupt``,
        a cancelled task) detaches the watch, so nothing keeps polling for it.
        """
        sub = self._sub
        if sub is None:  # detached by an exception: pick up where it left off
            keys = [k for k in self._keys if k in self._left]
            sub = self._sub = self._watcher._attach(keys, self._cap, self._delivered, self._ticks)
            self._left = sub.remaining
        try:
            yield sub
        except DeadlinePassed:
            self._detach()
            raise WaitTimeoutError(self.job_ids, self._timeout or 0.0) from None
        except BaseException:
            self._detach()
            raise

    def _detach(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            self._watcher._detach(sub)

    def close(self) -> None:
        """Stop watching (idempotent; detaching needs no I/O, so even the async watch's
        ``close`` is not a coroutine).

        Example::

            events.close()
        """
        self._closed = True
        self._detach()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state} job_ids={self.job_ids}>"

    def __del__(self) -> None:
        # A watch dropped without being closed must not keep its jobs polled.
        if not getattr(self, "_closed", True):
            self.close()
