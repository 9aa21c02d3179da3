"""What the sync and async executors share: job specs from options, payloads, outcomes.

No I/O on the network here: the twins submit the :class:`JobSpec` this builds, follow the
jobs through the client's one watch loop, and hand each final event to :meth:`Plan.outcome`.
"""

from __future__ import annotations

import os
import pwd
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .._exceptions import JobFailedError, JobSpecError
from ..jobs import JobBuilder, JobSpec
from ..jobs.training import TrainingJob
from ..watch import JobEvent, JobEventType
from ._errors import ExecutorError, MissingResultError
from ._files import Batch, Workspace

__all__ = ["ExecutorBase", "ExecutorCore", "Plan", "Task", "as_delta", "settle"]

DEFAULT_MAX_ARRAY_SIZE = 1001
"""Slurm's default ``MaxArraySize`` (indices 0-1000); sites may set less or more."""
DEFAULT_MAX_RESULT_BYTES = 256 * 2**20
_SEPARATE = {"spec", "python", "workspace", "job_user", "max_array_size", "max_result_bytes"}


def _pickle(obj: object) -> bytes:
    import cloudpickle

    return bytes(cloudpickle.dumps(obj))


def _resolve_user(job_user: int | str | None) -> tuple[int, int]:
    if job_user is None:
        return os.geteuid(), os.getegid()
    if isinstance(job_user, bool) or not isinstance(job_user, (int, str)):
        raise TypeError(f"job_user must be a user name or a uid, got {job_user!r}")
    try:
        entry = pwd.getpwuid(job_user) if isinstance(job_user, int) else pwd.getpwnam(job_user)
    except KeyError:
        if isinstance(job_user, int) and job_user >= 0:
            return job_user, -1  # a uid unknown here: files keep this process's group
        raise ValueError(f"job_user: no local user {job_user!r}; pass the uid") from None
    return entry.pw_uid, entry.pw_gid


def _apply(builder: JobBuilder, options: Mapping[str, Any], where: str) -> JobBuilder:
    for name, value in options.items():
        if name in ("script", "command", "array", "output", "error"):
            raise JobSpecError(name, f"is set by the executor and cannot be given in {where}")
        setter = getattr(builder, name, None)
        if name.startswith("_") or not callable(setter) or name in ("execute", "to_spec"):
            raise JobSpecError(name, f"is not a job option ({where})")
        if isinstance(value, (tuple, list)) and name in ("gres", "mail"):
            setter(*value)
        else:
            setter(value)
    return builder


def as_delta(value: timedelta | int) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


def _chunks(items: list[tuple[Any, ...]], size: int) -> list[list[tuple[Any, ...]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class _ChunkCall:
    """Runs one chunk of a ``map`` in the job: ``[fn(*args) for args in chunk]``."""

    def __init__(self, fn: Callable[..., Any], chunk: list[tuple[Any, ...]]) -> None:
        self.fn, self.chunk = fn, chunk

    def __call__(self) -> list[Any]:
        return [self.fn(*args) for args in self.chunk]


@dataclass
class Task:
    """One task of a batch: its job id key (``"42"`` or ``"40_3"``) once submitted."""

    batch: Batch
    index: int
    key: str = ""


@dataclass
class Plan:
    """A submission to make: the spec, the batch and its tasks."""

    spec: JobSpec
    batch: Batch
    tasks: list[Task] = field(default_factory=list)

    def bind(self, job_id: int) -> None:
        array = self.spec.array is not None
        for t in self.tasks:
            t.key = f"{job_id}_{t.index}" if array else str(job_id)


def settle(
    files: Workspace,
    task: Task,
    state: str,
    completed: bool,
    exit_code: int | None,
    reason: str | None,
) -> tuple[bool, Any]:
    """``(True, value)`` or ``(False, exception)`` for a task whose job ended in ``state``:
    its authenticated result if it wrote one, else why there is none."""
    try:
        if files.has_result(task.batch, task.index):
            return files.read_result(task.batch, task.index, task.key)
    except ExecutorError as exc:
        return False, exc
    if completed:
        tail = files.log_tail(task.batch, task.index)
        return False, MissingResultError(task.key, state, tail or "no output")
    return False, JobFailedError(task.key, state, exit_code, reason)


class ExecutorCore:
    """Options, workspace and the decisions of one executor (sync or async)."""

    def __init__(
        self,
        *,
        workspace: str | os.PathLike[str],
        python: str | None,
        spec: JobSpec | None,
        job_user: int | str | None,
        max_array_size: int,
        max_result_bytes: int,
        options: Mapping[str, Any],
    ) -> None:
        if max_array_size < 1:
            raise ValueError(f"max_array_size must be >= 1, got {max_array_size!r}")
        self.python = python or sys.executable
        if not os.path.isabs(self.python):
            raise ValueError(f"python must be an absolute path, got {self.python!r}")
        self.max_array_size = max_array_size
        base = JobBuilder.from_spec(spec) if spec is not None else JobBuilder()
        if spec is None:
            base.script("#!/bin/sh\n")
        self._base = _apply(base, options, "the executor's options")
        self._base.to_spec()  # validate now, naming the field
        uid, gid = _resolve_user(job_user)
        self.files = Workspace(workspace, uid=uid, gid=gid, max_result_bytes=max_result_bytes)

    # -- planning ---------------------------------------------------------------------------
    def _spec(
        self,
        batch: Batch,
        indices: Sequence[int] | None,
        throttle: int | None,
        slurm_options: Mapping[str, Any] | None,
        checkpoint: timedelta | None,
    ) -> JobSpec:
        d = shlex.quote(str(self.files.path))
        argv = [self.python, str(self.files.runner), str(self.files.path), batch.id]
        if indices is None:
            argv.append("0")
        line = " ".join(shlex.quote(a) for a in argv)
        script = f"#!/bin/sh\numask 077\ncd {d} || exit 3\nexec {line}\n"
        if checkpoint is not None:
            builder: JobBuilder = TrainingJob.from_spec(self._base.to_spec())
        else:
            builder = self._base.copy()
        builder.script(script)
        if "name" not in (slurm_options or {}) and self._base.to_spec().name is None:
            builder.name("python-function")
        builder.working_directory(str(self.files.path))
        builder.output(self.files.log_path(batch, indices is not None))
        if indices is not None:
            last = len(indices) - 1
            builder.array(f"0-{last}" + (f"%{throttle}" if throttle else ""))
        if slurm_options:
            _apply(builder, slurm_options, "slurm_options")
        if checkpoint is not None:
            assert isinstance(builder, TrainingJob)
            builder.with_checkpointing(
                str(self.files.path / f"{batch.id}.ckpt"), signal_before=checkpoint
            )
        return builder.to_spec()

    def plan_call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        slurm_options: Mapping[str, Any] | None = None,
        checkpoint: timedelta | None = None,
    ) -> Plan:
        """Write one call's payload; the spec submits it as a single job."""
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        body = _pickle((fn, args, kwargs))
        batch = self.files.new_batch(1, checkpoint=checkpoint is not None)
        self.files.write_call(batch, 0, body)
        spec = self._spec(batch, None, None, slurm_options, checkpoint)
        return Plan(spec, batch, [Task(batch, 0)])

    def plan_map(
        self,
        fn: Callable[..., Any],
        iterables: Iterable[Iterable[Any]],
        chunksize: int,
        throttle: int | None,
        slurm_options: Mapping[str, Any] | None = None,
        *,
        per_item: bool = False,
    ) -> tuple[list[Plan], list[int]]:
        """Payloads for ``map``: one array per ``max_array_size`` chunks.

        Returns the plans and, per chunk in input order, how many items it holds.
        ``per_item`` (chunks of one) makes each task's result the item's own value
        rather than a list of one.
        """
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if chunksize < 1 or (per_item and chunksize != 1):
            raise ValueError(f"chunksize must be >= 1, got {chunksize!r}")
        if throttle is not None and throttle < 1:
            raise ValueError(f"throttle must be >= 1, got {throttle!r}")
        chunks = _chunks(list(zip(*iterables, strict=False)), chunksize)
        plans: list[Plan] = []
        for start in range(0, len(chunks), self.max_array_size):
            group = chunks[start : start + self.max_array_size]
            if per_item:
                bodies = [_pickle((fn, c[0], {})) for c in group]
            else:
                bodies = [_pickle((_ChunkCall(fn, c), (), {})) for c in group]
            batch = self.files.new_batch(len(group))
            for i, body in enumerate(bodies):
                self.files.write_call(batch, i, body)
            indices = list(range(len(group)))
            spec = self._spec(batch, indices, throttle, slurm_options, None)
            plans.append(Plan(spec, batch, [Task(batch, i) for i in indices]))
        return plans, [len(c) for c in chunks]

    # -- outcomes ---------------------------------------------------------------------------
    def outcome(self, task: Task, event: JobEvent) -> tuple[bool, Any]:
        """``(True, value)`` or ``(False, exception)`` for a task's final event."""
        state = str(event.new_state.base) if event.new_state is not None else "UNKNOWN"
        code = event.exit_code.return_code if event.exit_code is not None else None
        completed = event.type is JobEventType.COMPLETED
        return settle(self.files, task, state, completed, code, event.reason)

    def close(self) -> None:
        self.files.close()


class ExecutorBase:
    """What both executor twins hold: the core, the shutdown flag, the directory."""

    def __init__(self, keep_files: bool, **settings: Any) -> None:
        self._core = ExecutorCore(**settings)
        self._keep_files = keep_files
        self._shutdown = False

    @property
    def directory(self) -> str:
        """This executor's private directory under the workspace (mode 0700)."""
        return str(self._core.files.path)

    def _check_open(self) -> None:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
