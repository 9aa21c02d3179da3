"""Job events: what changed, decided once from two snapshots of a job.

A job's state is reduced to a *phase* (``PENDING``, ``RUNNING``, ``SUSPENDED``, a final
state, ...); an event is emitted when the phase changes. Transitional states (a job
``COMPLETING`` or ``CONFIGURING``) emit nothing: the event comes when the job settles.
A final state carrying a requeue flag (``PREEMPTED`` then requeued) is reported but not
final; the job is watched on through its ``REQUEUED`` event.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

from ..models import ExitCode, Job, JobBaseState, JobState
from ..models._base import SlurmModel

__all__ = ["JobEvent", "JobEventType", "Track"]


class JobEventType(str, enum.Enum):
    """What happened to a watched job.

    ``SUBMITTED`` is another name for ``PENDING`` (the first sighting of a waiting job).
    ``STATE_CHANGED`` covers everything without a type of its own (suspended, resumed,
    ``BOOT_FAIL``, ``DEADLINE``...); ``UNKNOWN`` means the final state cannot be learned
    (slurmctld purged the job and accounting is absent or down). ``POLLED`` is no change:
    a heartbeat after each poll with the latest snapshot, handed only to a watch opened
    with ``ticks=True`` (the job supervisor tails output and checks dependencies on it).

    Example::

        >>> JobEventType.SUBMITTED is JobEventType.PENDING
        True
    """

    PENDING = "PENDING"
    SUBMITTED = "PENDING"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    PREEMPTED = "PREEMPTED"
    REQUEUED = "REQUEUED"
    NODE_FAIL = "NODE_FAIL"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    STATE_CHANGED = "STATE_CHANGED"
    UNKNOWN = "UNKNOWN"
    POLLED = "POLLED"

    def __str__(self) -> str:
        return self.value


class JobEvent(SlurmModel):
    """One change of a watched job (frozen).

    ``job_id`` is the id as it was passed to ``watch`` (``42`` or ``"40_2"``);
    ``old_state`` is ``None`` on the first sighting, ``new_state`` ``None`` for
    ``UNKNOWN``. ``time`` is when it happened (start/end time from Slurm when known,
    else when it was observed). ``exit_code`` is set on final events. ``job`` is the
    snapshot the event was derived from (``source == "accounting"`` for purged jobs).

    Example::

        for event in client.jobs.watch([41, 42]):
            if event.type is JobEventType.STARTED:
                print(event.job_id, "runs on", event.nodes)
            elif event.final:
                print(event.job_id, event.type, event.exit_code)
    """

    type: JobEventType
    job_id: int | str
    old_state: JobState | None
    new_state: JobState | None
    time: datetime
    nodes: str | None = None
    exit_code: ExitCode | None = None
    reason: str | None = None
    final: bool = False
    job: Job | None = None

    def __repr__(self) -> str:
        return (
            f"JobEvent({self.type.value} job={self.job_id} {self.old_state} -> "
            f"{self.new_state}{' final' if self.final else ''})"
        )

    __str__ = __repr__


_REQUEUE_FLAGS = frozenset({"REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT"})
# v0.0.38 sends one string, and a flag wins over the base state there ("COMPLETING").
_TRANSITIONAL = frozenset(
    {"COMPLETING", "CONFIGURING", "RESIZING", "SIGNALING", "STAGE_OUT", "POWER_UP_NODE"}
)
_PENDING_LIKE = _REQUEUE_FLAGS | {"RESV_DEL_HOLD"}
_RUNNING = (JobBaseState.RUNNING, JobBaseState.SUSPENDED)
_FINAL_TYPE = {
    t.value: t
    for t in (
        JobEventType.COMPLETED,
        JobEventType.FAILED,
        JobEventType.CANCELLED,
        JobEventType.TIMEOUT,
        JobEventType.PREEMPTED,
        JobEventType.NODE_FAIL,
        JobEventType.OUT_OF_MEMORY,
    )
}


@dataclasses.dataclass(frozen=True, slots=True)
class Phase:
    """A job state reduced to what events are about."""

    name: str
    final: bool = False
    requeue: bool = dataclasses.field(default=False, compare=False)  # PENDING+REQUEUED = PENDING


def phase_of(state: JobState) -> Phase | None:
    """The phase of ``state``, or ``None`` while it is transitional (no event yet)."""
    base, flags = state.base, state.flags
    requeue = bool(flags & _REQUEUE_FLAGS)
    if isinstance(base, JobBaseState):
        if base is JobBaseState.PENDING:
            return Phase("PENDING", requeue=requeue)
        if base in _RUNNING:
            return Phase(base.value)
        if requeue:  # e.g. PREEMPTED on its way back to the queue
            return Phase(base.value, requeue=True)
        if "COMPLETING" in flags or "STAGE_OUT" in flags:
            return None
        return Phase(base.value, final=True)
    name = str(base).upper()
    if name in _TRANSITIONAL:
        return None
    if name in _PENDING_LIKE:
        return Phase("PENDING", requeue=True)
    if name == "REVOKED":  # federation: the job runs on another cluster
        return Phase(name, final=True)
    return Phase(name)


def _event_type(old: Phase | None, new: Phase) -> JobEventType:
    if new.name == "PENDING":
        if new.requeue or (old is not None and old.name != "PENDING"):
            return JobEventType.REQUEUED
        return JobEventType.PENDING
    if new.name == "RUNNING":
        return (
            JobEventType.STATE_CHANGED if old and old.name == "SUSPENDED" else JobEventType.STARTED
        )
    return _FINAL_TYPE.get(new.name, JobEventType.STATE_CHANGED)


@dataclasses.dataclass(slots=True)
class Track:
    """Everything the watcher remembers about one watched job (shared by all watches)."""

    key: str
    phase: Phase | None = None
    state: JobState | None = None
    started: bool = False
    last: JobEvent | None = None
    job: Job | None = None  # the latest snapshot, changed or not (for POLLED)

    @property
    def done(self) -> bool:
        return self.last is not None and self.last.final

    def observe(self, job: Job, now: datetime) -> list[JobEvent]:
        """The events that ``job`` (a fresh snapshot) means since the last one."""
        self.job = job
        new = phase_of(job.state)
        if new is None or new == self.phase:
            return []
        old_phase, old_state = self.phase, self.state
        events: list[JobEvent] = []
        if (
            new.final
            and not self.started
            and old_phase is not None
            and old_phase.name == "PENDING"
            and job.start_time is not None
            and job.nodes
        ):
            # It ran between two polls: report the start that was not seen.
            events.append(
                self._event(JobEventType.STARTED, job, old_state, _RUNNING_STATE, job.start_time)
            )
            old_state = _RUNNING_STATE
        kind = _event_type(old_phase, new)
        when = now
        if kind is JobEventType.STARTED:
            when = job.start_time or now
        elif new.final:
            when = job.end_time or now
        elif kind is JobEventType.PENDING:
            when = job.submit_time or now
        events.append(self._event(kind, job, old_state, job.state, when, final=new.final))
        self.phase, self.state = new, job.state
        if kind is JobEventType.STARTED or events[0].type is JobEventType.STARTED:
            self.started = True
        elif new.name == "PENDING":
            self.started = False
        self.last = events[-1]
        return events

    def _event(
        self,
        kind: JobEventType,
        job: Job,
        old_state: JobState | None,
        new_state: JobState,
        when: datetime,
        *,
        final: bool = False,
    ) -> JobEvent:
        return JobEvent._build(
            {
                "type": kind,
                "job_id": _external(self.key),
                "old_state": old_state,
                "new_state": new_state,
                "time": when,
                "nodes": job.nodes or None,
                "exit_code": job.exit_code if final else None,
                "reason": job.state_reason,
                "final": final,
                "job": job,
            }
        )

    def polled(self, now: datetime) -> JobEvent:
        """A ``POLLED`` heartbeat: no change, the latest snapshot (``None`` before one)."""
        job = self.job
        return JobEvent._build(
            {
                "type": JobEventType.POLLED,
                "job_id": _external(self.key),
                "old_state": self.state,
                "new_state": self.state,
                "time": now,
                "nodes": (job.nodes or None) if job is not None else None,
                "exit_code": None,
                "reason": job.state_reason if job is not None else None,
                "final": False,
                "job": job,
            }
        )

    def unknown(self, now: datetime, reason: str, job: Job | None = None) -> JobEvent:
        """The final ``UNKNOWN`` event (the job's fate cannot be learned)."""
        event = JobEvent._build(
            {
                "type": JobEventType.UNKNOWN,
                "job_id": _external(self.key),
                "old_state": self.state,
                "new_state": None,
                "time": now,
                "nodes": None,
                "exit_code": None,
                "reason": reason,
                "final": True,
                "job": job,
            }
        )
        self.last = event
        return event


_RUNNING_STATE = JobState.parse("RUNNING")


def _external(key: str) -> int | str:
    return int(key) if key.isdigit() else key
