"""The cancel policy: when a supervised job is cancelled, decided once for every adapter.

An adapter translates what its orchestrator did into a :class:`CancelReason` and calls
``supervisor.cancel(reason)``; this table alone decides whether the job is cancelled. The
rule: cancel when someone *decided* the work should stop (the orchestrator cancelled,
killed, timed out or marked the task, or the job can never run); never merely because our
own process died, exited or lost its connection, since the next attempt re-attaches to
the job by its submission key.

Example::

    >>> CANCEL_POLICY[CancelReason.ORCHESTRATOR_CANCELLED].cancel
    True
    >>> CANCEL_POLICY[CancelReason.CONNECTION_LOST].cancel
    False
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from .._exceptions import (
    CircuitOpenError,
    ServerError,
    SlurmConnectionError,
    SlurmTimeoutError,
)
from ..watch import WaitTimeoutError

__all__ = ["CANCEL_POLICY", "CancelDecision", "CancelReason", "reason_for"]


class CancelReason(str, enum.Enum):
    """Why supervision of a job stops early (see :data:`CANCEL_POLICY` for the verdicts)."""

    ORCHESTRATOR_CANCELLED = "orchestrator_cancelled"
    """A user or the orchestrator cancelled the run or task (UI, API, async cancel)."""
    ORCHESTRATOR_KILLED = "orchestrator_killed"
    """The orchestrator killed the task (``on_kill``, a terminate request, Ctrl-C)."""
    TIMED_OUT = "timed_out"
    """The task's own time limit passed (execution timeout, ``run(timeout=...)``)."""
    MARKED_FAILED = "marked_failed"
    """Someone marked the task failed (or otherwise finished) while the job ran."""
    DEPENDENCY_NEVER_SATISFIED = "dependency_never_satisfied"
    """The job waits on a dependency that can never be met: it would pend forever."""
    PROCESS_EXITED = "process_exited"
    """Our own process is exiting (``SystemExit``, interpreter shutdown, a worker restart)."""
    CONNECTION_LOST = "connection_lost"
    """slurmrestd could not be reached or answered with a server error."""
    SUPERVISOR_FAILED = "supervisor_failed"
    """Our own code failed (a callback raised, a bug): not a decision about the job."""

    def __str__(self) -> str:
        return self.value


class CancelDecision(NamedTuple):
    """One row of the policy: whether to cancel, and why (what the docs and logs say)."""

    cancel: bool
    why: str


CANCEL_POLICY: Mapping[CancelReason, CancelDecision] = MappingProxyType(
    {
        CancelReason.ORCHESTRATOR_CANCELLED: CancelDecision(True, "the run was cancelled"),
        CancelReason.ORCHESTRATOR_KILLED: CancelDecision(True, "the task was killed"),
        CancelReason.TIMED_OUT: CancelDecision(True, "the task's time limit passed"),
        CancelReason.MARKED_FAILED: CancelDecision(True, "the task was marked finished"),
        CancelReason.DEPENDENCY_NEVER_SATISFIED: CancelDecision(
            True, "the job can never start: it would pend forever"
        ),
        CancelReason.PROCESS_EXITED: CancelDecision(
            False, "our process exited; the next attempt re-attaches by submission key"
        ),
        CancelReason.CONNECTION_LOST: CancelDecision(
            False, "slurmrestd is unreachable; the next attempt re-attaches by submission key"
        ),
        CancelReason.SUPERVISOR_FAILED: CancelDecision(
            False, "our own code failed, not the job; the next attempt re-attaches"
        ),
    }
)
"""The cancel policy, one row per :class:`CancelReason` (docs/concepts/lifecycle.md)."""


def reason_for(exc: BaseException) -> CancelReason:
    """The :class:`CancelReason` an exception that ends supervision stands for.

    What the core can tell by itself: a cancelled task (``asyncio.CancelledError``, which
    anyio's cancellation is too) is a cancel, ``KeyboardInterrupt`` a kill,
    :class:`~slurm_core.watch.WaitTimeoutError` a time-out, ``SystemExit`` and
    ``GeneratorExit`` our exit, transport failures a lost connection, anything else our
    own failure. A cancel raised while a ``SystemExit`` propagates is our exit too:
    ``asyncio.run`` cancels every task when the process exits through its loop. An
    adapter maps its orchestrator's own exceptions first (``classify=``).

    Example::

        >>> reason_for(SystemExit(0))
        <CancelReason.PROCESS_EXITED: 'process_exited'>
    """
    if isinstance(exc, asyncio.CancelledError):
        return (
            CancelReason.PROCESS_EXITED
            if _while_exiting(exc)
            else CancelReason.ORCHESTRATOR_CANCELLED
        )
    if isinstance(exc, KeyboardInterrupt):
        return CancelReason.ORCHESTRATOR_KILLED
    if isinstance(exc, WaitTimeoutError):
        return CancelReason.TIMED_OUT
    if isinstance(exc, (SystemExit, GeneratorExit)):
        return CancelReason.PROCESS_EXITED
    if isinstance(exc, (SlurmConnectionError, SlurmTimeoutError, ServerError, CircuitOpenError)):
        return CancelReason.CONNECTION_LOST
    return CancelReason.SUPERVISOR_FAILED


def _while_exiting(exc: BaseException) -> bool:
    """True if ``exc`` was raised while a ``SystemExit`` was being handled."""
    context = exc.__context__
    for _ in range(8):  # a short chain: the exit is the cancel's direct context in practice
        if context is None:
            return False
        if isinstance(context, SystemExit):
            return True
        context = context.__context__
    return False
