"""The fake cluster's configuration and records: nodes, partitions, jobs, the clock.

Everything here is versionless and mutable; :mod:`._models` turns records into the
public models, :mod:`slurm_core._versions._encode` turns those into each version's wire
objects. :mod:`._sched` moves jobs through their states.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from typing import Literal

from ...jobs import Dependency
from ...models import ExitCode, Infinite

__all__ = [
    "FakeJob",
    "FakeNode",
    "FakePartition",
    "Outcome",
    "PlainAnswer",
    "Reject",
    "SubmitRequest",
    "default_nodes",
    "default_partitions",
]

JobStateName = Literal[
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED"
]


@dataclasses.dataclass
class FakeNode:
    """A compute node of the fake cluster.

    Example::

        FakeNode("gpu1", cpus=32, memory=256_000, gpus=4, gpu_type="a100")
    """

    name: str
    cpus: int = 8
    memory: int = 16_000
    """Real memory in MiB."""
    gpus: int = 0
    gpu_type: str = "fake"
    features: tuple[str, ...] = ()
    state: str = "IDLE"
    """Administrative state: ``"IDLE"`` (up; usage makes it MIXED/ALLOCATED) or ``"DOWN"``."""
    flags: set[str] = dataclasses.field(default_factory=set)
    """E.g. ``{"DRAIN"}``."""
    reason: str | None = None
    comment: str | None = None
    weight: int = 1

    @property
    def usable(self) -> bool:
        """Up and not drained: the scheduler may start jobs here."""
        return self.state != "DOWN" and not ({"DRAIN", "FAIL"} & self.flags)


@dataclasses.dataclass
class FakePartition:
    """A partition of the fake cluster. ``max_time`` in minutes (``None``: unlimited).

    Example::

        FakePartition("long", nodes=["node1", "node2"], max_time=7 * 24 * 60)
    """

    name: str
    nodes: list[str]
    default: bool = False
    max_time: int | None = 60
    default_time: int | None = None
    state: str = "UP"


def default_nodes() -> list[FakeNode]:
    """Four nodes: ``node1``-``node2`` (8 CPUs, 16 GB) and ``gpu1``-``gpu2`` (+2 GPUs)."""
    return [
        FakeNode("node1"),
        FakeNode("node2"),
        FakeNode("gpu1", cpus=16, memory=64_000, gpus=2, features=("gpu",)),
        FakeNode("gpu2", cpus=16, memory=64_000, gpus=2, features=("gpu",)),
    ]


def default_partitions(nodes: list[FakeNode]) -> list[FakePartition]:
    """``debug`` (default, every node, 1 hour) and ``gpu`` (GPU nodes, 1 day)."""
    gpu = [n.name for n in nodes if n.gpus] or [n.name for n in nodes]
    return [
        FakePartition("debug", [n.name for n in nodes], default=True, max_time=60),
        FakePartition("gpu", gpu, max_time=24 * 60),
    ]


@dataclasses.dataclass
class SubmitRequest:
    """A decoded ``POST job/submit`` (versionless; see :func:`._wire.decode_submit`)."""

    script: str
    name: str = "sbatch"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    comment: str | None = None
    working_directory: str | None = None
    standard_output: str | None = None
    standard_error: str | None = None
    standard_input: str | None = None
    environment: dict[str, str] = dataclasses.field(default_factory=dict)
    tasks: int | None = None
    cpus_per_task: int | None = None
    min_nodes: int | None = None
    memory_per_cpu: int | None = None
    memory_per_node: int | None = None
    gpus: int = 0
    time_limit: int | Infinite | None = None
    dependency: str | None = None
    array: str | None = None
    begin_time: int = 0
    hold: bool = False
    nice: int | None = None
    priority: int | None = None
    requeue: bool | None = None
    reservation: str | None = None
    licenses: str | None = None
    constraints: str | None = None
    required_nodes: tuple[str, ...] = ()
    tres_per: dict[str, str] = dataclasses.field(default_factory=dict)
    """The GPU (or other TRES) request as sent: ``{"node": "gres/gpu:1"}``."""

    def defaulted(self) -> frozenset[str]:
        """What slurmctld fills in (its ``USING_DEFAULT_*`` flags); the wckey always."""
        given = (("ACCOUNT", self.account), ("QOS", self.qos), ("WCKEY", None))
        return frozenset(name for name, value in given if not value)


class Reject(Exception):
    """slurmctld refused a request: a Slurm error number, its text and a description.

    ``status`` is the HTTP status of slurmrestd 24.11+; :mod:`._wire` adjusts it for the
    older versions (which answer most errors with 500).
    """

    def __init__(
        self,
        errno: int,
        error: str,
        description: str,
        status: int = 500,
        *,
        also: tuple[Reject, ...] = (),
    ) -> None:
        super().__init__(f"[{errno}] {error}: {description}")
        self.errno = errno
        self.error = error
        self.description = description
        self.status = status
        self.also = also
        """Further ``errors`` entries slurmrestd sends after this one (e.g. its 9000)."""


class PlainAnswer(Exception):
    """slurmrestd answers with a bare text body (no JSON envelope), e.g. a query it cannot read."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status} {text}")
        self.status = status
        self.text = text


def unknown_job(job_id: object, what: str = "query") -> Reject:
    """ESLURM_INVALID_JOB_ID as slurmrestd reports it."""
    return Reject(2017, "Invalid job id specified", f"Unable to {what} JobId={job_id}", 404)


@dataclasses.dataclass
class Outcome:
    """How a job ends once it has run for ``runtime`` seconds."""

    state: str = "COMPLETED"
    exit_code: int = 0
    signal: int | None = None
    runtime: float | None = None
    """Seconds; ``None``: the server's ``default_runtime``."""
    cpu_load: float = 0.9
    """Share of the allocated CPUs the batch step kept busy (slurmdbd's CPU times)."""
    memory_load: float = 0.25
    """Its maximum RSS as a share of the memory allocated on its node."""

    def exit(self) -> ExitCode:
        """The exit code slurmctld reports for this outcome."""
        if self.signal is not None:
            return ExitCode.of("SIGNALED", None, self.signal, _SIGNAL_NAMES.get(self.signal))
        if self.exit_code == 0:
            return ExitCode.of("SUCCESS", 0)
        return ExitCode.of("ERROR", self.exit_code)


_SIGNAL_NAMES = {1: "HUP", 2: "INT", 6: "ABRT", 9: "KILL", 10: "USR1", 12: "USR2", 15: "TERM"}


@dataclasses.dataclass
class FakeJob:
    """One job record (an array task is its own record, as once slurmctld splits it)."""

    job_id: int
    name: str
    user_name: str
    user_id: int
    partition: str
    account: str
    script: str
    submit_time: int
    qos: str = "normal"
    comment: str | None = None
    working_directory: str = "/tmp"  # noqa: S108 - slurmctld's default, never written to
    standard_output: str | None = None
    standard_error: str | None = None
    standard_input: str | None = None
    patterns: tuple[str | None, str | None, str | None] = (None, None, None)
    """``--output``, ``--error`` and ``--input`` as submitted (22.05 and 26.05 show these)."""
    environment: dict[str, str] = dataclasses.field(default_factory=dict)
    tasks: int = 1
    cpus_per_task: int = 1
    min_nodes: int = 1
    memory_per_cpu: int | None = None
    memory_per_node: int | None = None
    gpus: int = 0
    time_limit: int | Infinite | None = None
    """Minutes; ``None``: the partition's default."""
    dependency: Dependency | None = None
    begin_time: int = 0
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_throttle: int | None = None
    nice: int = 0
    requeue: bool = True
    features: str = ""
    """``constraints`` as submitted."""
    licenses: str = ""
    reservation: str = ""
    required_nodes: tuple[str, ...] = ()
    tres_per: dict[str, str] = dataclasses.field(default_factory=dict)
    """``tres_per_job``/``_node``/``_task``/``_socket`` as submitted, by suffix."""
    defaulted: frozenset[str] = frozenset()
    """What slurmctld filled in: ``{"ACCOUNT", "QOS", "WCKEY"}`` (its ``USING_DEFAULT_*``)."""
    # -- what the scheduler changes --------------------------------------------------
    state: str = "PENDING"
    flags: set[str] = dataclasses.field(default_factory=set)
    reason: str = "None"
    priority: int = 1
    hold: bool = False
    eligible_time: int = 0
    start_time: int = 0
    end_time: int = 0
    finish_at: float | None = None
    final_state: str | None = None
    exit_code: ExitCode | None = None
    derived_exit_code: ExitCode | None = None
    alloc: dict[str, int] = dataclasses.field(default_factory=dict)
    """CPUs per allocated node while running."""
    alloc_memory: dict[str, int] = dataclasses.field(default_factory=dict)
    alloc_gpus: dict[str, int] = dataclasses.field(default_factory=dict)
    cores: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    """Core indexes held on each allocated node (the first free ones when it started)."""
    dependency_text: str = ""
    outcome: Outcome | None = None
    restart_count: int = 0
    signals: list[str] = dataclasses.field(default_factory=list)
    last_update: int = 0
    purged: bool = False
    """Forgotten by slurmctld (after ``min_job_age``); the accounting database still has it."""

    @property
    def cpus(self) -> int:
        """CPUs the job asks for in total."""
        return self.tasks * self.cpus_per_task

    @property
    def finished(self) -> bool:
        """In a final state."""
        return self.state not in ("PENDING", "RUNNING", "SUSPENDED")

    @property
    def id_string(self) -> str:
        """``"17"`` or, for an array task, ``"15_2"``."""
        if self.array_job_id is not None and self.array_task_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return str(self.job_id)


class Clock:
    """The fake's time: manual (moved by ``advance``) or following the wall clock.

    Times are whole UNIX seconds, as slurmctld reports them.
    """

    def __init__(self, start: datetime | float | None, realtime: bool, speed: float) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
        self._start = float(start if start is not None else int(time.time()))
        self._offset = 0.0
        self._realtime = realtime
        self._speed = speed
        self._t0 = time.monotonic()

    def advance(self, seconds: float) -> None:
        """Move the clock forward (in both modes)."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward, got {seconds}")
        self._offset += seconds

    def now_float(self) -> float:
        """Now, with fractions of a second."""
        wall = (time.monotonic() - self._t0) * self._speed if self._realtime else 0.0
        return self._start + self._offset + wall

    def now(self) -> int:
        """Now, in whole UNIX seconds."""
        return int(self.now_float())

    def datetime(self) -> datetime:
        """Now as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), timezone.utc)
