"""Watching jobs: events from one shared poll loop per client, and ``wait``.

Example::

    from slurm_core.watch import JobEventType

    for event in client.jobs.watch([41, 42]):
        if event.type is JobEventType.STARTED:
            print(event.job_id, "started on", event.nodes)
        elif event.final:
            print(event.job_id, "ended", event.type, event.exit_code)

    job = client.jobs.wait(43, timeout=3600)    # JobFailedError / WaitTimeoutError

Every watch of a client shares one poll loop: per interval, one ``GET jobs/state`` for
the watched jobs (chunked for URL length; v0.0.40+) and a job's full record only when its
state changed; v0.0.38 lists ``GET jobs`` with ``update_time`` deltas (:mod:`._cursor`).
The interval adapts (:class:`WatchOptions`); the floor is raised by
``$SLURM_CLIENT_MIN_POLL_INTERVAL``. The loop runs in whichever thread or task is waiting
for an event, so nothing is left running when the watches end.
"""

from ._async import AsyncJobWatch, AsyncWatcher
from ._core import WatchCore, outcome
from ._cursor import DeltaMode, delta_mode
from ._errors import WaitTimeoutError
from ._events import JobEvent, JobEventType
from ._policy import MIN_INTERVAL_ENV, IntervalPolicy, WatchOptions
from ._source import RestStates, StateSource
from ._sync import JobWatch, SyncWatcher

__all__ = [
    "MIN_INTERVAL_ENV",
    "AsyncJobWatch",
    "AsyncWatcher",
    "DeltaMode",
    "IntervalPolicy",
    "JobEvent",
    "JobEventType",
    "JobWatch",
    "RestStates",
    "StateSource",
    "SyncWatcher",
    "WaitTimeoutError",
    "WatchCore",
    "WatchOptions",
    "delta_mode",
    "outcome",
]
