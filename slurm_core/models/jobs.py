"""Job models: :class:`Job`, its :class:`JobState` and :class:`ExitCode`."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from pydantic import field_validator

from ._base import InfiniteType, SlurmModel, SlurmObject

__all__ = ["ExitCode", "Job", "JobBaseState", "JobState"]


class JobBaseState(str, enum.Enum):
    """The base state of a job (Slurm's ``JOB_STATE_BASE`` values)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"

    def __str__(self) -> str:
        return self.value


_BASE_BY_NAME = {s.value: s for s in JobBaseState}
_TERMINAL = frozenset(JobBaseState) - {
    JobBaseState.PENDING,
    JobBaseState.RUNNING,
    JobBaseState.SUSPENDED,
}


class JobState(SlurmModel):
    """A job state: one base state plus a set of flags.

    slurmrestd v0.0.38 sends a single string (``"COMPLETED"``); later versions send a list
    whose first item is the base state and the rest are flags
    (``["PENDING", "REQUEUED"]``). Both parse to the same value. A state name this client
    does not know is kept as a plain string, never rejected.

    Example::

        >>> st = JobState.parse(["PENDING", "REQUEUED"])
        >>> st.base is JobBaseState.PENDING, "REQUEUED" in st.flags, st.is_finished
        (True, True, False)
    """

    base: JobBaseState | str
    flags: frozenset[str] = frozenset()

    @field_validator("base", mode="before")
    @classmethod
    def _known_base(cls, value: object) -> object:
        # model_validate({"base": "PENDING"}) gives the enum member, like parse() does.
        if isinstance(value, str) and not isinstance(value, JobBaseState):
            return _BASE_BY_NAME.get(value.upper(), value)
        return value

    @classmethod
    def parse(cls, value: str | Iterable[str] | None) -> JobState:
        """Parse the wire form (a string, a list of strings, or ``None``)."""
        if value is None:
            return _parse_state(())
        if isinstance(value, str):
            return _parse_state((value,))
        return _parse_state(tuple(value))

    @property
    def is_pending(self) -> bool:
        """True while the job waits to start (base state ``PENDING``)."""
        return self.base is JobBaseState.PENDING

    @property
    def is_running(self) -> bool:
        """True while the job runs or is suspended."""
        return self.base in (JobBaseState.RUNNING, JobBaseState.SUSPENDED)

    @property
    def is_finished(self) -> bool:
        """True once the job reached a final state and is no longer completing."""
        return self.base in _TERMINAL and "COMPLETING" not in self.flags

    @property
    def is_success(self) -> bool:
        """True for a job that ``COMPLETED`` (exit code 0)."""
        return self.base is JobBaseState.COMPLETED and "COMPLETING" not in self.flags

    def __str__(self) -> str:
        return "+".join([str(self.base), *sorted(self.flags)])


@lru_cache(maxsize=512)
def _parse_state(tokens: tuple[str, ...]) -> JobState:
    # States repeat across a listing: caching returns one shared frozen instance per
    # distinct wire value, which saves both time and memory on 10k-job listings.
    names = [t.upper() for t in tokens if isinstance(t, str) and t]
    base: JobBaseState | str | None = None
    flags: list[str] = []
    for name in names:
        known = _BASE_BY_NAME.get(name)
        if base is None and known is not None:
            base = known
        else:
            flags.append(name)
    if base is None:
        # No known base state: keep the first token as an (unknown) base, as sent.
        base = flags.pop(0) if flags else "UNKNOWN"
    return JobState._build({"base": base, "flags": frozenset(flags)})


class ExitCode(SlurmModel):
    """How a process ended.

    ``status`` is Slurm's verdict (``"SUCCESS"``, ``"ERROR"``, ``"SIGNALED"``,
    ``"CORE_DUMPED"``, ``"PENDING"``, ``"INVALID"``...), ``return_code`` the exit status
    (``None`` if the process was killed by a signal), ``signal`` the signal number.

    slurmrestd v0.0.38/v0.0.39 report the raw wait status (``exit 3`` shows ``768``);
    :meth:`from_wait_status` decodes it.

    Example::

        >>> ExitCode.from_wait_status(768)
        ExitCode(status='ERROR', return_code=3, signal=None, signal_name=None)
    """

    status: str
    return_code: int | None = None
    signal: int | None = None
    signal_name: str | None = None

    @property
    def ok(self) -> bool:
        """True when the process exited with status 0."""
        return self.status == "SUCCESS" or (self.return_code == 0 and self.signal is None)

    @classmethod
    def from_wait_status(cls, status: int) -> ExitCode:
        """Decode a POSIX wait status (``WIFEXITED``/``WEXITSTATUS``/``WTERMSIG``)."""
        return _from_wait_status(int(status))

    @classmethod
    def of(
        cls,
        status: str,
        return_code: int | None = None,
        signal: int | None = None,
        signal_name: str | None = None,
    ) -> ExitCode:
        """Return a shared instance for these values (exit codes repeat across listings)."""
        return _exit_code(status, return_code, signal, signal_name)


@lru_cache(maxsize=1024)
def _exit_code(
    status: str, return_code: int | None, signal: int | None, signal_name: str | None
) -> ExitCode:
    return ExitCode._build(
        {
            "status": status,
            "return_code": return_code,
            "signal": signal,
            "signal_name": signal_name,
        }
    )


def _from_wait_status(status: int) -> ExitCode:
    term = status & 0x7F
    if term == 0:
        rc = (status >> 8) & 0xFF
        return _exit_code("SUCCESS" if rc == 0 else "ERROR", rc, None, None)
    verdict = "CORE_DUMPED" if status & 0x80 else "SIGNALED"
    return _exit_code(verdict, None, term, None)


class Job(SlurmObject):
    """A job as slurmctld (or, for purged jobs, the accounting database) reports it.

    Example::

        >>> job = client.jobs.get(42)
        >>> job.state.base, job.exit_code.return_code if job.exit_code else None
        (<JobBaseState.COMPLETED: 'COMPLETED'>, 0)
        >>> job.time_limit          # timedelta, INFINITE, or None
        datetime.timedelta(seconds=300)
    """

    job_id: int
    name: str
    state: JobState
    state_reason: str | None = None
    state_description: str | None = None
    user_name: str | None = None
    user_id: int | None = None
    group_name: str | None = None
    group_id: int | None = None
    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    cluster: str | None = None
    comment: str | None = None
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_task_string: str | None = None
    het_job_id: int | None = None
    het_job_offset: int | None = None
    nodes: str | None = None
    node_count: int | None = None
    cpus: int | None = None
    tasks: int | None = None
    cpus_per_task: int | None = None
    memory_per_node: int | None = None
    memory_per_cpu: int | None = None
    time_limit: timedelta | InfiniteType | None = None
    submit_time: datetime | None = None
    eligible_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_code: ExitCode | None = None
    derived_exit_code: ExitCode | None = None
    priority: int | None = None
    hold: bool | None = None
    dependency: str | None = None
    working_directory: str | None = None
    standard_output: str | None = None
    standard_error: str | None = None
    standard_input: str | None = None
    batch_host: str | None = None
    tres_requested: str | None = None
    tres_allocated: str | None = None
    flags: frozenset[str] = frozenset()
    source: Literal["slurmctld", "accounting"] = "slurmctld"

    @property
    def id_string(self) -> str:
        """The job id as Slurm prints it: ``"123"``, or ``"120_3"`` for an array task."""
        if self.array_job_id and self.array_task_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return str(self.job_id)
