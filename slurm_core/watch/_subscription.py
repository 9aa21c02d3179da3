"""One watch's view of the shared loop (:class:`Subscription`), and job keys."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .._versions import validate_job_id
from ..models import Job
from ._events import JobEvent, JobEventType

__all__ = ["Delivered", "Subscription", "index_jobs", "job_key"]

Delivered = dict[str, tuple[JobEventType, Any]]


def job_key(job_id: int | str) -> str:
    """The canonical key of a job id: ``"42"`` or ``"40_2"`` (validated)."""
    return str(validate_job_id(job_id))


class Subscription:
    """One watch's view: its jobs, its queue of events, what it already handed out."""

    def __init__(
        self,
        keys: Iterable[str],
        cap: float | None,
        delivered: Delivered | None = None,
        *,
        ticks: bool = False,
        owner: object = None,
    ) -> None:
        self.keys = tuple(dict.fromkeys(keys))
        self.owner = owner
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


def index_jobs(jobs: list[Job]) -> Callable[[str], Job | None]:
    """A lookup of job key -> record in a listing (``"40_2"`` finds a task not started yet
    in its array's shared record)."""
    by_id: dict[str, Job] = {}
    arrays: dict[int, Job] = {}
    for j in jobs:
        by_id.setdefault(str(j.job_id), j)
        if j.array_job_id and j.array_task_id is not None:
            by_id[f"{j.array_job_id}_{j.array_task_id}"] = j
        elif j.array_job_id and j.array_task_string:
            arrays[j.array_job_id] = j  # tasks not started yet share one record

    def find(key: str) -> Job | None:
        job = by_id.get(key)
        if job is None and "_" in key:
            job = arrays.get(int(key.split("_", 1)[0]))
        return job

    return find
