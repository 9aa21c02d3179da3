"""Preempting a checkpointed job on a local cluster: what Slurm does near a time limit, now.

A job submitted with requeue-on-signal checkpointing (``--signal=B:USR2@...``, e.g.
``SlurmExecutor.submit(..., checkpoint=120)`` or a ``TrainingJob``) gets ``SIGUSR2`` in its
batch shell before its time limit, saves a checkpoint and requeues itself. :func:`preempt`
sends that signal at once and waits until the second run can start cleanly, so a test of a
user's own checkpointing takes seconds instead of a time limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from subprocess import CompletedProcess
from types import TracebackType
from typing import Protocol, TypeVar

from ._errors import ClusterError
from ._proc import pids_in_root

__all__ = ["PreemptTimeoutError", "Preemption", "batch_step_alive", "job_fields", "preempt"]

T = TypeVar("T")

# Slurm's final states: a preempted job that reaches one was not requeued.
_FINAL = frozenset(
    {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT",
    }
)  # fmt: skip


class PreemptTimeoutError(ClusterError, TimeoutError):
    """A preempted job did not reach the next stage in time (``stage`` says which).

    Example::

        try:
            cluster.preempt(job_id, timeout=60)
        except PreemptTimeoutError as exc:
            print(exc.job_id, exc.stage)
    """

    def __init__(self, job_id: int, stage: str, timeout: float, seen: str) -> None:
        self.job_id = job_id
        self.stage = stage
        super().__init__(f"job {job_id}: timed out after {timeout:g} s waiting for {stage}{seen}")


class _Runs(Protocol):
    root: Path

    def run(
        self, cmd: Sequence[str], *, timeout: float = ..., check: bool = ...
    ) -> CompletedProcess[str]: ...


def job_fields(scontrol_oneliner: str) -> dict[str, str]:
    """The ``Key=Value`` fields of ``scontrol -o show job <id>`` (values without spaces).

    >>> job_fields("JobId=7 JobName=a b JobState=PENDING Reason=BeginTime Restarts=1")["Restarts"]
    '1'
    """
    fields: dict[str, str] = {}
    for word in scontrol_oneliner.split():
        key, sep, value = word.partition("=")
        if sep and key and key not in fields:  # the first JobState=, not a command's words
            fields[key] = value
    return fields


def batch_step_alive(root: Path, job_id: int) -> bool:
    """Whether ``slurmstepd: [<job_id>.batch]`` still runs in this cluster's root."""
    title = f"slurmstepd: [{job_id}.batch]".encode()
    for pid in pids_in_root(root):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title):
                return True
        except OSError:  # gone meanwhile
            continue
    return False


def _requeued(cluster: _Runs, job_id: int) -> tuple[bool, str]:
    out = cluster.run(["scontrol", "-o", "show", "job", str(job_id)], timeout=30).stdout
    fields = job_fields(out)
    state, restarts = fields.get("JobState", "?"), fields.get("Restarts", "0")
    if state in _FINAL:
        raise ClusterError(
            f"job {job_id} ended {state} instead of being requeued: was it submitted with "
            "checkpointing (requeue on SIGUSR2), and had it installed its handler yet?"
        )
    return state == "PENDING" and restarts.isdigit() and int(restarts) >= 1, state


def preempt(cluster: _Runs, job_id: int, *, timeout: float = 120.0, interval: float = 0.2) -> None:
    """``SIGUSR2`` to the batch shell, wait for the requeue and the first run's end, start it.

    The second run starts only once the first run's batch step is gone: its late end report
    would otherwise end the second run. Slurm would hold the requeued job about two minutes;
    ``StartTime=now+1`` lets it start within a second. Raises :class:`PreemptTimeoutError`
    when a stage does not come within ``timeout``, :class:`ClusterError` when the job ends
    instead of being requeued (not submitted with checkpointing, or signalled before its
    handler).

    Example::

        preempt(cluster, job_id)  # cluster.preempt(job_id) does the same
    """
    cluster.run(["scancel", "--signal=USR2", "--batch", str(job_id)], check=True)
    deadline = time.monotonic() + timeout
    state = "?"
    while True:
        done, state = _requeued(cluster, job_id)
        if done:
            break
        if time.monotonic() > deadline:
            raise PreemptTimeoutError(job_id, "the requeue", timeout, f" (state {state})")
        time.sleep(interval)
    while batch_step_alive(cluster.root, job_id):
        if time.monotonic() > deadline:
            raise PreemptTimeoutError(job_id, "the first run's batch step to end", timeout, "")
        time.sleep(interval)
    # now+1: the new run's credential carries its start second and slurmd refuses it if
    # that is not after the second it revoked the first run's ("Job credential revoked",
    # seen on 24.11 when signal, requeue and start fell in one second).
    cluster.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now+1"], check=True)


class Preemption:
    """Preempts a job in the background once it made progress, while a pipeline runs.

    ``find()`` returns the job's id once it exists (else ``None``); ``ready(job_id)`` says it
    has made enough progress (e.g. wrote its first checkpoint). Leaving the ``with`` block
    stops the thread and re-raises what went wrong in it.

    Example::

        with Preemption(cluster, find=lambda: my_job_id(), ready=lambda j: saved() >= 3) as p:
            run_my_pipeline()
        assert p.job_id is not None  # it was preempted, and the pipeline still succeeded
    """

    def __init__(
        self,
        cluster: _Runs,
        find: Callable[[], int | None],
        ready: Callable[[int], bool],
        *,
        timeout: float = 300.0,
        interval: float = 0.5,
    ) -> None:
        self._cluster, self._find, self._ready = cluster, find, ready
        self._timeout, self._interval = timeout, interval
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="preemption", daemon=True)
        self.job_id: int | None = None  # set once the job was preempted

    def __enter__(self) -> Preemption:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(self._timeout)
        if exc is None and self._error is not None:
            raise self._error

    def _wait(self, what: str, probe: Callable[[], T | None]) -> T:
        deadline = time.monotonic() + self._timeout
        failed = ""
        while not self._stop.is_set():
            try:
                value = probe()
            except Exception as exc:  # a busy shared cluster's slow answer: ask again
                value, failed = None, f" (last probe failed: {type(exc).__name__}: {exc})"
            if value:
                return value
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {self._timeout:g} s waiting for {what}{failed}"
                )
            self._stop.wait(self._interval)
        raise ClusterError(f"the pipeline ended before {what}{failed}")

    def _run(self) -> None:
        try:
            job_id = self._wait("the job to preempt", self._find)
            self._wait(f"job {job_id}'s progress", lambda: self._ready(job_id) or None)
            preempt(self._cluster, job_id, timeout=self._timeout)
            self.job_id = job_id
        except BaseException as exc:  # handed to the test thread on exit
            self._error = exc
