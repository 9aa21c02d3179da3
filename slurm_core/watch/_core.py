"""The watcher's brain: one poll loop per client, shared by every watch, written once.

:class:`WatchCore` holds the watched jobs (one :class:`~._events.Track` each, however many
watches name them), the subscriptions, the ``update_time`` cursor and the adaptive
interval. :meth:`WatchCore.poll` is a sans-I/O operation (it yields requests, like every
resource operation): one ``GET jobs`` per poll for all watched jobs, plus a one-off
accounting lookup for a job slurmctld no longer knows. The sync and async faces
(:mod:`._sync`, :mod:`._async`) only decide who sends and how to sleep.

Events are derived by comparing each job with the last snapshot of it, so a repeated
listing (a retry, a slurmrestd restart) produces no duplicate, and a missed listing
loses no final event: the next one shows where the job is now.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from datetime import datetime, timezone
from typing import Any

import httpx

from .._engine import ClientCore, Op
from .._exceptions import (
    CircuitOpenError,
    InvalidRequestError,
    JobFailedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmAPIError,
    SlurmConnectionError,
    SlurmError,
)
from .._versions import Adapter, Request, validate_job_id
from .._versions._parse import job_from_accounting
from ..models import Job
from ._cursor import Cursor, delta_mode
from ._events import JobEvent, JobEventType, Track
from ._policy import IntervalPolicy, WatchOptions

__all__ = ["Subscription", "WatchCore", "job_key", "outcome"]

logger = logging.getLogger("slurm_core.watch")

_TRANSIENT = (SlurmConnectionError, ServerError, RateLimitError, CircuitOpenError)
_MAX_BAD_BODIES = 3
"""Consecutive malformed listings tolerated (a body cut by a restart) before giving up."""

Delivered = dict[str, tuple[JobEventType, Any]]


def job_key(job_id: int | str) -> str:
    """The canonical key of a job id: ``"42"`` or ``"40_2"`` (validated)."""
    return str(validate_job_id(job_id))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Subscription:
    """One watch's view: its jobs, its queue of events, what it already handed out."""

    def __init__(
        self,
        keys: Iterable[str],
        cap: float | None,
        delivered: Delivered | None = None,
        *,
        ticks: bool = False,
    ) -> None:
        self.keys = tuple(dict.fromkeys(keys))
        self.ticks = ticks
        self.remaining = set(self.keys)
        self.cap = cap
        self.delivered: Delivered = {} if delivered is None else delivered
        self.queue: deque[JobEvent] = deque()
        self.error: BaseException | None = None

    def offer(self, key: str, event: JobEvent) -> None:
        if key not in self.remaining:
            return
        if event.type is JobEventType.POLLED:
            # A heartbeat is never replayed, and one waiting per job is enough.
            if self.ticks and not any(
                e.type is JobEventType.POLLED and e.job_id == event.job_id for e in self.queue
            ):
                self.queue.append(event)
            return
        if self.delivered.get(key) == (event.type, event.new_state):
            return  # already handed out (a replay after re-attaching)
        self.queue.append(event)

    def take(self) -> JobEvent | None:
        """The next event, or ``None``; raises the error that ended the watch."""
        if self.queue:
            event = self.queue.popleft()
            key = job_key(event.job_id)
            if event.type is not JobEventType.POLLED:
                self.delivered[key] = (event.type, event.new_state)
            if event.final:
                self.remaining.discard(key)
            return event
        if self.error is not None:
            raise self.error
        return None

    @property
    def finished(self) -> bool:
        return not self.remaining and not self.queue


class WatchCore:
    """Shared state and decisions of one client's watcher (thread-safe via ``lock``).

    Example::

        brain = client.jobs.watcher.brain
        print(brain.active, sorted(brain.watched), brain.delay())
    """

    def __init__(
        self,
        core: ClientCore,
        options: WatchOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._core = core
        self.lock = threading.RLock()
        self._clock, self._wall = clock, wall
        self._subs: dict[Subscription, None] = {}
        self._tracks: dict[str, Track] = {}
        self._refs: dict[str, int] = {}
        self._unseen: set[str] = set()  # tracked, not yet looked at by a complete listing
        self._cursor: Cursor | None = None
        self._due = -float("inf")
        self._last_poll = -float("inf")
        self._bad_bodies = 0
        self.polls = 0
        self.set_options(options or WatchOptions())

    # -- configuration and bookkeeping ---------------------------------------------------
    @property
    def options(self) -> WatchOptions:
        """The poll-loop settings in force."""
        return self.policy.options

    def set_options(self, options: WatchOptions) -> None:
        """Replace the settings (the interval starts over from ``initial_interval``)."""
        with self.lock:
            self.policy = IntervalPolicy(options)
            self._cursor = None  # rebuilt with the new full_refresh

    @property
    def active(self) -> int:
        """How many watches are attached."""
        return len(self._subs)

    @property
    def watched(self) -> frozenset[str]:
        """The job keys currently tracked."""
        return frozenset(self._tracks)

    def subscribe(
        self,
        keys: Iterable[str],
        cap: float | None = None,
        delivered: Delivered | None = None,
        *,
        ticks: bool = False,
    ) -> Subscription:
        """Attach a watch; jobs already tracked replay their latest event to it.

        With ``ticks`` the watch also gets a ``POLLED`` event per job after every poll.
        """
        sub = Subscription(keys, cap, delivered, ticks=ticks)
        with self.lock:
            fresh = False
            for key in sub.keys:
                track = self._tracks.get(key)
                if track is None:
                    self._tracks[key] = track = Track(key)
                    self._unseen.add(key)
                    fresh = True
                self._refs[key] = self._refs.get(key, 0) + 1
                if track.last is not None:
                    sub.offer(key, track.last)
            self._subs[sub] = None
            if fresh:  # poll soon, but never faster than the floor
                self.policy.reset()
                self._due = max(self._clock(), self._last_poll + self.policy.floor)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Detach a watch; jobs no watch names any more are dropped."""
        with self.lock:
            if sub in self._subs:
                del self._subs[sub]
                for key in sub.keys:
                    left = self._refs.get(key, 1) - 1
                    if left > 0:
                        self._refs[key] = left
                    else:
                        self._refs.pop(key, None)
                        self._tracks.pop(key, None)
                        self._unseen.discard(key)

    def delay(self) -> float:
        """Seconds until the next poll is due (0: now)."""
        return max(0.0, self._due - self._clock())

    def _cap(self) -> float | None:
        caps = [s.cap for s in self._subs if s.cap is not None]
        return min(caps) if caps else None

    # -- the poll --------------------------------------------------------------------------
    def poll(self) -> Op[None]:
        """One poll: list jobs once, derive and dispatch the events, plan the next poll.

        Transient failures (slurmrestd restarting, 5xx, timeouts) only delay the next
        poll; other errors end every attached watch with that error.
        """
        started = self._clock()
        self._last_poll = started
        self.polls += 1
        with self.lock:
            before = set(self._tracks)
        try:
            changed = yield from self._poll()
        except SlurmError as exc:
            self._failed(exc, started)
            self._tick()
        else:
            self._tick()
            self._bad_bodies = 0
            with self.lock:
                self._due = started + self.policy.after_poll(changed=changed, cap=self._cap())
                if not before.issuperset(self._tracks):  # a job was added meanwhile
                    self._due = min(self._due, started + self.policy.floor)

    def _poll(self) -> Generator[Request, httpx.Response, bool]:
        a = yield from self._core.adapter()
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = Cursor(delta_mode(a.version), self.options.full_refresh)
        if cursor.needs_calibration():
            # v0.0.38: learn the server clock once. A transient failure fails this poll
            # (calibration is retried with the next); a refusal means no deltas.
            sent = self._wall()
            try:
                diag = a.parse_diag((yield a.diag()))
                stamp = diag.req_time.timestamp() if diag.req_time else None
            except (SlurmAPIError, ResponseValidationError) as exc:
                if isinstance(exc, _TRANSIENT):
                    raise
                stamp = None
            cursor.calibrate(stamp, sent, self._wall())
        with self.lock:
            keys = [k for k, t in self._tracks.items() if not t.done]
            unseen = self._unseen.intersection(keys)
        if not keys:
            return False
        sent_mono, sent_wall = self._clock(), self._wall()
        # A job watched since the last complete listing may not have changed since then, so
        # an update_time delta would never show it: list in full once to look at it now.
        params = None if unseen else cursor.params(sent_mono)
        path = f"{a.slurm}/jobs"
        try:
            response = yield Request("GET", path, params=params)
        except SlurmAPIError as exc:
            if params is not None and exc.status_code == 304:
                return False  # v0.0.38: nothing changed
            if params is None or not isinstance(exc, InvalidRequestError):
                raise
            logger.warning("slurmrestd %s refused update_time (%s): full listings", a.version, exc)
            cursor.disable()
            response = yield Request("GET", path)
            params = None
        if params is not None and cursor.unchanged(response):
            return False
        jobs = a.parse_jobs(response)
        cursor.after_listing(response, sent_mono, sent_wall)
        with self.lock:
            self._unseen.difference_update(keys)
        return (yield from self._observe(a, keys, jobs))

    def _observe(
        self, a: Adapter, keys: list[str], jobs: list[Job]
    ) -> Generator[Request, httpx.Response, bool]:
        by_id: dict[str, Job] = {}
        arrays: dict[int, Job] = {}
        for j in jobs:
            by_id.setdefault(str(j.job_id), j)
            if j.array_job_id and j.array_task_id is not None:
                by_id[f"{j.array_job_id}_{j.array_task_id}"] = j
            elif j.array_job_id and j.array_task_string:
                arrays[j.array_job_id] = j  # tasks not started yet share one record
        now = _utcnow()
        events: list[JobEvent] = []
        missing: list[Track] = []
        with self.lock:
            for key in keys:
                track = self._tracks.get(key)
                if track is None or track.done:
                    continue
                job = by_id.get(key)
                if job is None and "_" in key:
                    job = arrays.get(int(key.split("_", 1)[0]))
                if job is None:
                    missing.append(track)
                else:
                    events.extend(track.observe(job, now))
        for track in missing:
            events.extend((yield from self._from_accounting(a, track, now)))
        self._dispatch(events)
        return bool(events)

    def _from_accounting(
        self, a: Adapter, track: Track, now: datetime
    ) -> Generator[Request, httpx.Response, list[JobEvent]]:
        """A job slurmctld does not list: ask accounting once; else its fate is UNKNOWN."""
        if not self._core.accounting_served():
            return [track.unknown(now, "not known to slurmctld and accounting is not served")]
        try:
            record = a.parse_accounting_job((yield a.accounting_job(track.key)), track.key)
        except SlurmError as exc:
            return [track.unknown(now, f"not known to slurmctld; accounting lookup failed: {exc}")]
        job = job_from_accounting(record)
        events = track.observe(job, now)
        if not track.done:
            reason = f"not known to slurmctld; accounting reports it {job.state}"
            events.append(track.unknown(now, reason, job))
        return events

    def _dispatch(self, events: list[JobEvent]) -> None:
        if not events:
            return
        with self.lock:
            for event in events:
                key = job_key(event.job_id)
                for sub in self._subs:
                    sub.offer(key, event)

    def _tick(self) -> None:
        """A ``POLLED`` heartbeat to every watch that asked for ticks (after each poll, even a
        failed one: the output of a job can be read while slurmrestd is away)."""
        now = _utcnow()
        with self.lock:
            for sub in self._subs:
                if not sub.ticks or sub.error is not None:
                    continue
                for key in sub.remaining:
                    track = self._tracks.get(key)
                    if track is not None and not track.done:
                        sub.offer(key, track.polled(now))

    def _failed(self, exc: SlurmError, started: float) -> None:
        if self._cursor is not None:
            self._cursor.reset()
        # An upgrade withdrew the version: the next poll renegotiates (once per server).
        fatal = not isinstance(exc, _TRANSIENT) and not self._core.withdrawn(exc)
        if isinstance(exc, ResponseValidationError):
            self._bad_bodies += 1
            fatal = self._bad_bodies >= _MAX_BAD_BODIES
        with self.lock:
            if fatal:
                logger.error("watch failed: %s", exc)
                for sub in self._subs:
                    sub.error = exc
            else:
                logger.info("watch poll failed, will retry: %s", exc)
            self._due = started + self.policy.after_error(self._cap())


def outcome(event: JobEvent) -> Job:
    """What ``wait`` returns for a final event: the job, or :class:`JobFailedError`.

    For callers that follow a watch themselves (logging every event) and want ``wait``'s
    verdict on the last one without starting a second watch.

    Example::

        for event in client.jobs.watch(job_id):
            log.info("%s", event.type.value)
            if event.final:
                job = outcome(event)         # raises JobFailedError unless COMPLETED
    """
    if event.type is JobEventType.COMPLETED and event.job is not None:
        return event.job
    state = str(event.new_state.base) if event.new_state is not None else "UNKNOWN"
    code = event.exit_code
    raise JobFailedError(
        event.job_id, state, code.return_code if code is not None else None, event.reason
    )
