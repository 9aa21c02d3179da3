"""The watcher's brain: one poll loop per client, shared by every watch, written once.

:class:`WatchCore` holds the watched jobs (one :class:`~._events.Track` each, however many
watches name them), the subscriptions, the ``update_time`` cursor and the adaptive
interval. :meth:`WatchCore.poll` is a sans-I/O operation (it yields requests, like every
resource operation). From v0.0.40 a poll asks a :class:`~._source.StateSource` for the
states of the watched jobs (``GET jobs/state?job_id=...``: bytes grow with the jobs
watched, not with the queue) and reads the full record (``GET job/{id}``) only of a job
whose state changed, for the event's nodes, exit code and reason. v0.0.38/39 list
``GET jobs`` with ``update_time`` deltas (:mod:`._cursor`). A job slurmctld no longer
knows is looked up once in accounting. The sync and async faces (:mod:`._sync`,
:mod:`._async`) only decide who sends and how to sleep.

Events are derived by comparing each job with the last snapshot of it, so a repeated
answer (a retry, a slurmrestd restart) produces no duplicate, and a missed poll loses
no final event: the next one shows where the job is now.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx

from .._engine import ClientCore, Op
from .._exceptions import (
    CircuitOpenError,
    InvalidRequestError,
    JobFailedError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmAPIError,
    SlurmConnectionError,
    SlurmError,
)
from .._versions import Adapter, Request
from .._versions._parse import job_from_accounting
from ..models import Job, JobState
from ._cursor import Cursor, delta_mode
from ._events import JobEvent, JobEventType, Track, phase_of
from ._policy import IntervalPolicy, WatchOptions, server_hint
from ._source import Fleet, RestStates, StateSource, states_served
from ._subscription import Delivered, Subscription, index_jobs, job_key

__all__ = ["Delivered", "Subscription", "WatchCore", "job_key", "outcome"]

logger = logging.getLogger("slurm_core.watch")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


_TRANSIENT = (SlurmConnectionError, ServerError, RateLimitError, CircuitOpenError)
_MAX_BAD_BODIES = 3
"""Consecutive malformed listings tolerated (a body cut by a restart) before giving up."""


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
        self._alias: dict[str, str] = {}  # a task's own id -> "array_task" (its jobs/state name)
        self.source: StateSource | None = None  # None: jobs/state through the polling client
        self.fleet: Fleet | None = None  # shares that jobs/state with other processes
        self.polling = threading.Lock()  # held by the one leader polling, whichever client
        self._active = core  # the core of the client driving the current poll
        self._listeners: weakref.WeakSet[Any] = weakref.WeakSet()
        self.polls = 0
        self.records = 0
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
        owner: object = None,
    ) -> Subscription:
        """Attach a watch; jobs already tracked replay their latest event to it.

        With ``ticks`` the watch also gets a ``POLLED`` event per job after every poll.
        ``owner`` (the client's watcher) scopes errors only that client's poll can cause.
        """
        sub = Subscription(keys, cap, delivered, ticks=ticks, owner=owner)
        with self.lock:
            self._subs[sub] = None
        self._track(sub, sub.keys)
        return sub

    def extend(self, sub: Subscription, keys: Iterable[str]) -> None:
        """Have an attached watch follow more jobs (from any thread): they are polled
        soon, and a job already tracked replays its latest event to it."""
        with self.lock:
            if sub not in self._subs:
                return  # detached: it re-attaches with all its keys
            new = [k for k in dict.fromkeys(keys) if k not in sub.keys]
            sub.keys += tuple(new)
            sub.remaining.update(new)
        self._track(sub, new)

    def _track(self, sub: Subscription, keys: Iterable[str]) -> None:
        with self.lock:
            fresh = False
            for key in keys:
                track = self._tracks.get(key)
                if track is None:
                    self._tracks[key] = track = Track(key)
                    self._unseen.add(key)
                    fresh = True
                self._refs[key] = self._refs.get(key, 0) + 1
                if track.last is not None:
                    sub.offer(key, track.last)
            if fresh:  # poll soon, but never faster than the floor
                self.policy.reset()
                self._due = max(self._clock(), self._last_poll + self.policy.floor)
        if fresh:
            self.notify()  # a leader sleeping in another client re-plans

    def listen(self, watcher: Any) -> None:
        """Have ``watcher._notify()`` called after every poll and new job (weakly held)."""
        self._listeners.add(watcher)

    def notify(self) -> None:
        """Wake every client's waiting watches (their events may be in; re-plan)."""
        for watcher in list(self._listeners):
            watcher._notify()

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
                        self._alias.pop(key, None)

    def delay(self) -> float:
        """Seconds until the next poll is due (0: now)."""
        return max(0.0, self._due - self._clock())

    def _cap(self) -> float | None:
        caps = [s.cap for s in self._subs if s.cap is not None]
        return min(caps) if caps else None

    # -- the poll --------------------------------------------------------------------------
    def poll(self, core: ClientCore | None = None, owner: object = None) -> Op[None]:
        """One poll: the states (or a listing) once, derive and dispatch the events, plan
        the next poll. ``core``/``owner``: the client polling, when the loop is shared.

        Transient failures (slurmrestd restarting, 5xx, timeouts) only delay the next
        poll; other errors end the watches of ``owner`` (all of them without an owner).
        """
        self._active = core or self._core
        try:
            yield from self._poll_once(owner)
        finally:
            self.notify()

    def _poll_once(self, owner: object) -> Op[None]:
        started = self._clock()
        self._last_poll = started
        self.polls += 1
        with self.lock:
            before = set(self._tracks)
        try:
            changed = yield from self._poll()
        except SlurmError as exc:
            self._failed(exc, started, owner)
            self._tick()
        else:
            self._tick()
            self._bad_bodies = 0
            with self.lock:
                self._due = started + self.policy.after_poll(changed=changed, cap=self._cap())
                if not before.issuperset(self._tracks):  # a job was added meanwhile
                    self._due = min(self._due, started + self.policy.floor)

    def _poll(self) -> Generator[Request, httpx.Response, bool]:
        a = yield from self._active.adapter()
        if states_served(a.version):
            return (yield from self._poll_states(a))
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

    def _poll_states(self, a: Adapter) -> Generator[Request, httpx.Response, bool]:
        """v0.0.40+: the states of the watched jobs (small), then the full record of only
        the jobs whose state changed (or that ``jobs/state`` does not name)."""
        with self.lock:
            keys = [k for k, t in self._tracks.items() if not t.done]
            asked = {k: self._alias.get(k, k) for k in keys}
            self._unseen.difference_update(keys)
        if not keys:
            return False
        source = self.source or RestStates(self._active)
        if self.fleet is not None and self.source is None:
            source = self.fleet.source(source)
        answer = yield from source.states(list(dict.fromkeys(asked.values())))
        tasks: dict[str, set[tuple[str, ...]]] = {}  # array id -> the states of its tasks
        for name, seen in answer.items():
            if "_" in name:
                tasks.setdefault(name.split("_", 1)[0], set()).add(tuple(seen))
        fetch: list[str] = []
        with self.lock:
            for key in keys:
                track = self._tracks.get(key)
                if track is None or track.done:
                    continue
                flags: Sequence[str] | None = answer.get(asked[key])
                group = tasks.get(asked[key], set())
                if flags is None and len(group) == 1:
                    flags = next(iter(group))  # an array whose tasks all wait alike
                if flags is None:
                    fetch.append(key)  # purged, a task's own id, or an array in motion
                    continue
                new = phase_of(JobState.parse(flags))
                if (new is not None and new != track.phase) or self._refresh(key, track):
                    fetch.append(key)
        now = _utcnow()
        changed = False
        for key in fetch:
            # Handed out at once: a poll cut short later (its deadline) has already
            # moved these tracks on, and the next poll would not show the change again.
            events = yield from self._record(a, key, now)
            self._dispatch(events)
            changed = changed or bool(events)
        return changed

    def _refresh(self, key: str, track: Track) -> bool:
        """A waiting job with a dependency, followed by a watch with ticks (the supervisor
        reads its reason for "DependencyNeverSatisfied"): its record is read every poll."""
        if track.phase is None or track.phase.name != "PENDING":
            return False
        if track.job is not None and not track.job.dependency:
            return False
        return any(s.ticks and key in s.remaining for s in self._subs)

    def _record(
        self, a: Adapter, key: str, now: datetime
    ) -> Generator[Request, httpx.Response, list[JobEvent]]:
        """The full record of one job (``GET job/{id}``); accounting if slurmctld has none."""
        asked = self._alias.get(key, key)
        self.records += 1
        try:
            jobs = a.parse_jobs((yield a.job_get(asked)))
        except NotFoundError:
            jobs = []
        job = index_jobs(jobs)(asked)
        with self.lock:
            track = self._tracks.get(key)
            if track is None or track.done:
                return []
            if job is None:
                track_missing = track
            else:
                if job.array_job_id and job.array_task_id is not None:
                    self._alias[key] = f"{job.array_job_id}_{job.array_task_id}"
                return track.observe(job, now)
        return (yield from self._from_accounting(a, track_missing, now))

    def _observe(
        self, a: Adapter, keys: list[str], jobs: list[Job]
    ) -> Generator[Request, httpx.Response, bool]:
        find = index_jobs(jobs)
        now = _utcnow()
        events: list[JobEvent] = []
        missing: list[Track] = []
        with self.lock:
            for key in keys:
                track = self._tracks.get(key)
                if track is None or track.done:
                    continue
                job = find(key)
                if job is None:
                    missing.append(track)
                else:
                    events.extend(track.observe(job, now))
        self._dispatch(events)  # before the lookups below, which may be cut short
        changed = bool(events)
        for track in missing:
            found = yield from self._from_accounting(a, track, now)
            self._dispatch(found)
            changed = changed or bool(found)
        return changed

    def _from_accounting(
        self, a: Adapter, track: Track, now: datetime
    ) -> Generator[Request, httpx.Response, list[JobEvent]]:
        """A job slurmctld does not list: ask accounting once; else its fate is UNKNOWN."""
        if not self._active.accounting_served():
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

    def _failed(self, exc: SlurmError, started: float, owner: object) -> None:
        if self._cursor is not None:
            self._cursor.reset()
        # An upgrade withdrew the version: the next poll renegotiates (once per server).
        fatal = not isinstance(exc, _TRANSIENT) and not self._active.withdrawn(exc)
        if isinstance(exc, ResponseValidationError):
            self._bad_bodies += 1
            fatal = self._bad_bodies >= _MAX_BAD_BODIES
        with self.lock:
            if fatal:
                # Another client's credentials may still be good: only the poller's
                # watches end, and the next poll (by another client) is not delayed.
                logger.error("watch failed: %s", exc)
                for sub in self._subs:
                    if owner is None or sub.owner is owner:
                        sub.error = exc
                if owner is not None and any(s.owner is not owner for s in self._subs):
                    self._due = started
                    return
            else:
                logger.info("watch poll failed, will retry: %s", exc)
            self._due = started + self.policy.after_error(self._cap(), server_hint(exc))


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
