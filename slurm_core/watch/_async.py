"""The async face of the watcher (asyncio or trio, through anyio): no task of its own.

Like the blocking face, the task that waits for an event may become the leader that
sleeps and polls for every watch of the client; the others wait for the leader to hand
events out. Nothing is spawned, so cancelling a watching task or leaving an
``async for`` early leaves nothing behind: a cancelled leader's successor takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType

import anyio

from .._engine import ClientCore, run_async
from .._http import AsyncHTTP
from ..models import Job
from ._base import JobWatchBase, WatcherBase
from ._core import Subscription, WatchCore, job_key, outcome
from ._events import JobEvent
from ._policy import WatchOptions

__all__ = ["AsyncJobWatch", "AsyncWatcher"]

_OTHERS_POLL = 1.0
"""Longest wait for another client's poll before looking again (it notifies when done)."""


def _call_soon() -> Callable[[Callable[[], None]], None] | None:
    """A thread-safe "run this soon in the current event loop" (asyncio), else ``None``:
    under trio a watch sees another thread's poll when it next looks (within a second)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None

    def soon(fn: Callable[[], None]) -> None:
        loop.call_soon_threadsafe(fn)

    return soon


class AsyncWatcher(WatcherBase):
    """One per :class:`~slurm_core.AsyncSlurmClient` (``client.jobs``).

    ``sleep``, ``clock`` and ``wall`` replace ``anyio.sleep``/``time.monotonic``/``time.time``
    (tests).

    Example::

        watcher = async_client.jobs.watcher
        print(watcher.brain.active)
    """

    def __init__(
        self,
        core: ClientCore,
        http: AsyncHTTP,
        options: WatchOptions | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        brain: WatchCore | None = None,
    ) -> None:
        super().__init__(core, options, clock=clock, wall=wall, brain=brain)
        self._http = http
        self._sleep = sleep
        # anyio primitives need a running event loop: made on first use.
        self._lock: anyio.Lock | None = None
        self._changed: anyio.Event | None = None
        self._wake: anyio.Event | None = None
        self._soon: Callable[[Callable[[], None]], None] | None = None  # into our loop
        self._thread: int | None = None  # the event loop's thread

    def watch(
        self,
        job_ids: Iterable[int | str],
        *,
        timeout: float | None = None,
        max_interval: float | None = None,
        ticks: bool = False,
    ) -> AsyncJobWatch:
        """See :meth:`slurm_core.resources.AsyncJobs.watch`."""
        return AsyncJobWatch(self, [job_key(j) for j in job_ids], timeout, max_interval, ticks)

    async def wait(
        self,
        job_id: int | str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline, not a cancel scope
        max_interval: float | None = None,
    ) -> Job:
        """See :meth:`slurm_core.resources.AsyncJobs.wait`."""
        async with self.watch([job_id], timeout=timeout, max_interval=max_interval) as events:
            async for event in events:
                if event.final:
                    return outcome(event)
        raise AssertionError("a watch ended without a final event")  # pragma: no cover

    # -- used by AsyncJobWatch -------------------------------------------------------------
    def _wake_leader(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _notify(self) -> None:
        # From a thread polling for another client: hand the wake-up to our event loop.
        if self._thread is None or self._thread == threading.get_ident():
            self._woken()
        elif self._soon is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits there
                self._soon(self._woken)

    def _woken(self) -> None:
        self._wake_leader()
        if self._changed is not None:
            self._signal()

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        if changed is not None:
            changed.set()

    async def _next(self, sub: Subscription, deadline: float | None) -> JobEvent | None:
        if self._thread is None:
            self._soon = _call_soon()
            self._thread = threading.get_ident()
        if self._lock is None:
            self._lock = anyio.Lock()
        if self._changed is None:
            self._changed = anyio.Event()
        lock = self._lock
        while True:
            # No await between looking at the queue and picking the event to wait on.
            event = sub.take()
            if event is not None:
                return event
            if sub.finished:
                return None
            remaining = self._remaining(deadline)
            try:
                lock.acquire_nowait()
            except anyio.WouldBlock:
                changed = self._changed
                with anyio.move_on_after(remaining):
                    await changed.wait()
                continue
            try:
                await self._lead(remaining)
            finally:
                lock.release()
                self._signal()

    async def _lead(self, remaining: float | None) -> None:
        wake = self._wake = anyio.Event()
        delay = self._pause(remaining)
        if delay > 0:
            if self._sleep is not None:
                await self._sleep(delay)
            else:
                with anyio.move_on_after(delay):
                    await wake.wait()
            return
        if not self.brain.polling.acquire(blocking=False):
            # Another client of this cluster is polling for us too: wait for its answer.
            with anyio.move_on_after(
                _OTHERS_POLL if remaining is None else min(remaining, _OTHERS_POLL)
            ):
                await wake.wait()
            return
        try:
            deadline = self._poll_deadline(self._http, remaining)
            await run_async(self._http, self.brain.poll(self._core, self), deadline=deadline)
        finally:
            self.brain.polling.release()


class AsyncJobWatch(JobWatchBase[AsyncWatcher], AsyncIterator[JobEvent]):
    """An async iterator of :class:`JobEvent`; ends after each job's final event.

    Leaving the loop early, cancelling the task or an ``async with`` block detaches it;
    iterating again after an exception re-attaches without repeating an event.

    Example::

        async with client.jobs.watch([1, 2, 3]) as events:
            async for event in events:
                print(event.job_id, event.type)
    """

    def __aiter__(self) -> AsyncJobWatch:
        return self

    async def __anext__(self) -> JobEvent:
        if self._closed:
            raise StopAsyncIteration
        with self._waiting() as sub:
            event = await self._watcher._next(sub, self._deadline)
        if event is None:
            self.close()
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """Same as :meth:`close`."""
        self.close()

    async def __aenter__(self) -> AsyncJobWatch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
