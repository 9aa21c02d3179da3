"""``SlurmJobTrigger``: wait in the triggerer until a SLURM job reaches a state.

The trigger holds plain values only (job id, connection id, interval, state names), opens
its client inside :meth:`SlurmJobTrigger.run`, follows the job with the core's
:class:`~slurm_core.lifecycle.AsyncJobSupervisor` (the project's one polling loop, live
output, the dependency check) and yields ONE event::

    {"status": "success" | "error", "job_id": 42, "state": "COMPLETED",
     "exit_code": 0, "signal": None, "reason": None, "message": "job 42 ended COMPLETED"}

``success``: the job reached one of ``target_states``. ``error``: it reached one of
``failure_states``, or ended (a final state) in a state that is not a target, or it could
not be watched (unknown job, bad credentials...). When the user kills the deferred task,
:meth:`SlurmJobTrigger.on_kill` cancels the job if ``cancel_on_kill`` (the operator's
trigger: the task owns the job; the sensor's does not).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from airflow.triggers.base import BaseTrigger, TriggerEvent

from slurm_airflow._lifecycle import line_logger
from slurm_airflow.hooks.slurm import DEFAULT_CONN_ID, SlurmHook
from slurm_core import JobBaseState, JobFailedError, SlurmError

if TYPE_CHECKING:
    from slurm_core import AsyncSlurmClient, Job
    from slurm_core.lifecycle import CancelReason, OutputLine
    from slurm_core.watch import JobEvent

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "SlurmJobTrigger",
    "event_payload",
    "job_payload",
    "normalize_states",
]

DEFAULT_POLL_INTERVAL = 30.0
_KILL_TIMEOUT = 30.0
_STATE_NAMES = frozenset(s.value for s in JobBaseState)
_RUNTIME = ("slurm_core.config", "slurm_core._client", "slurm_core.lifecycle")
"""What ``run`` needs and a DAG file never imports (see ``__init__``)."""


_imported = False


async def _import_runtime() -> None:
    """Import :data:`_RUNTIME` in a worker thread: the triggerer's first trigger would
    otherwise import the client and the supervisor on its event loop (0.3-1 s of CPU).
    Triggers starting meanwhile wait in threads too (a module being imported is already
    in ``sys.modules``: touching it from the loop would wait there for the import lock)."""
    global _imported
    if not _imported:
        await anyio.to_thread.run_sync(lambda: [importlib.import_module(m) for m in _RUNTIME])
        _imported = True


def normalize_states(states: str | Iterable[str], param: str) -> tuple[str, ...]:
    """State names as upper-case base-state names (``"completed"`` -> ``"COMPLETED"``).

    Raises ``ValueError`` naming ``param`` for an unknown name.
    """
    items = [states] if isinstance(states, str) else list(states)
    out: list[str] = []
    for item in items:
        value = item.value if isinstance(item, JobBaseState) else item
        if not isinstance(value, str) or value.strip().upper() not in _STATE_NAMES:
            known = ", ".join(sorted(_STATE_NAMES))
            raise ValueError(f"{param}: unknown job state {item!r} (known: {known})")
        name = value.strip().upper()
        if name not in out:
            out.append(name)
    return tuple(out)


def event_payload(
    status: str,
    job_id: int | str,
    state: str | None,
    *,
    exit_code: int | None = None,
    signal: int | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """The plain (JSON) payload the trigger yields and the operator/sensor pushes to XCom."""
    if message is None:
        message = (
            str(JobFailedError(job_id, state or "UNKNOWN", exit_code, reason))
            if status == "error"
            else f"job {job_id} reached {state}"
        )
    return {
        "status": status,
        "job_id": job_id,
        "state": state,
        "exit_code": exit_code,
        "signal": signal,
        "reason": reason if reason and reason.lower() != "none" else None,
        "message": message,
    }


def job_payload(status: str, job_id: int | str, job: Job) -> dict[str, Any]:
    """:func:`event_payload` from a job snapshot (``client.jobs.get``/``wait``)."""
    code = job.exit_code
    return event_payload(
        status,
        job_id,
        str(job.state.base),
        exit_code=code.return_code if code else None,
        signal=code.signal if code else None,
        reason=job.state_reason,
    )


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # untyped in Airflow


class SlurmJobTrigger(BaseTrigger):
    """Fire once when SLURM job ``job_id`` reaches one of ``target_states``.

    :param job_id: the job (``42``, ``"42"`` or an array task ``"40_2"``).
    :param conn_id: the ``slurm`` connection.
    :param poll_interval: the longest pause between two looks at the job, in seconds
        (slurm-client's watch polls faster right after a change).
    :param target_states: base-state names that end the wait successfully.
    :param failure_states: base-state names that end it with an error before the job is
        final (a final state that is not a target always does).
    :param cancel_on_kill: cancel the job when the user kills the deferred task.
    :param log_output: write the job's stdout and stderr lines to the log while it runs
        (the triggerer's log of the task).

    Example::

        self.defer(
            trigger=SlurmJobTrigger(job_id=42, conn_id="slurm_default", poll_interval=15),
            method_name="execute_complete",
        )
    """

    def __init__(
        self,
        job_id: int | str,
        conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        target_states: Sequence[str] = ("COMPLETED",),
        failure_states: Sequence[str] = (),
        cancel_on_kill: bool = False,
        log_output: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow
        # Imported here, not at the top: the operator imports this module in every DAG
        # parse, and _versions brings in every response parser (import cost).
        from slurm_core._versions import validate_job_id

        validate_job_id(job_id)
        if not isinstance(conn_id, str) or not conn_id:
            raise ValueError("conn_id must be a non-empty string")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not poll_interval > 0
        ):
            raise ValueError(
                f"poll_interval must be a number of seconds > 0, got {poll_interval!r}"
            )
        self.job_id: int | str = (
            int(job_id) if isinstance(job_id, str) and job_id.isdigit() else job_id
        )
        self.conn_id = conn_id
        self.poll_interval = float(poll_interval)
        self.target_states = normalize_states(target_states, "target_states")
        if not self.target_states:
            raise ValueError("target_states: name at least one state")
        self.failure_states = normalize_states(failure_states, "failure_states")
        both = set(self.target_states) & set(self.failure_states)
        if both:
            raise ValueError(f"states both target and failure: {', '.join(sorted(both))}")
        self.cancel_on_kill = bool(cancel_on_kill)
        self.log_output = bool(log_output)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "conn_id": self.conn_id,
                "poll_interval": self.poll_interval,
                "target_states": list(self.target_states),
                "failure_states": list(self.failure_states),
                "cancel_on_kill": self.cancel_on_kill,
                "log_output": self.log_output,
            },
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SlurmJobTrigger):
            return NotImplemented
        return self.serialize() == other.serialize()

    __hash__ = None  # type: ignore[assignment]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await _import_runtime()
        yield _event(await self._outcome())

    async def _outcome(self) -> dict[str, Any]:
        """Follow the job with the core supervisor until it decides the wait."""
        from slurm_core.lifecycle import DependencyNeverSatisfiedError
        from slurm_core.watch import JobEvent

        emit = line_logger(self.log)
        try:
            client = await SlurmHook(self.conn_id).get_async_client()
            async with client:
                # Leaving this loop early (a target state reached) leaves the job running.
                async for item in self._follow(client):
                    if not isinstance(item, JobEvent):
                        if self.log_output:
                            await anyio.to_thread.run_sync(emit, item)
                        continue
                    payload = await self._decide(item)
                    if payload is not None:
                        return payload
        except DependencyNeverSatisfiedError as exc:
            payload = event_payload("error", self.job_id, exc.state, message=str(exc))
            payload["upstream_job_id"] = exc.upstream_job_id
            payload["reason"] = exc.reason
            return payload
        except SlurmError as exc:
            # Transient trouble is retried inside the watch; what reaches here will not pass.
            message = f"watching job {self.job_id} failed: {type(exc).__name__}: {exc}"
            return event_payload("error", self.job_id, None, message=message)
        message = f"watching job {self.job_id} ended without a final state"
        return event_payload("error", self.job_id, None, message=message)

    def _follow(self, client: AsyncSlurmClient) -> AsyncIterator[JobEvent | OutputLine]:
        from slurm_core.lifecycle import AsyncJobSupervisor

        if isinstance(self.job_id, str):
            # An array task ("40_2"): the supervisor follows whole jobs; the client's one
            # watch loop follows the task.
            return self._watch(client)
        supervisor = AsyncJobSupervisor(
            client, self.job_id, poll_interval=self.poll_interval, classify=_released
        )
        return supervisor.follow()

    async def _watch(self, client: AsyncSlurmClient) -> AsyncIterator[JobEvent | OutputLine]:
        async with client.jobs.watch(self.job_id, max_interval=self.poll_interval) as events:
            async for event in events:
                yield event

    async def _say(self, message: str, *args: object) -> None:
        """``self.log.info`` from a worker thread: the triggerer ships log lines through a
        socket its supervisor may be slow to read, and a write that waits there on the event
        loop stalls every trigger (200 jobs ending together did)."""
        await anyio.to_thread.run_sync(functools.partial(self.log.info, message, *args))

    async def _decide(self, event: JobEvent) -> dict[str, Any] | None:
        # UNKNOWN: the job's fate cannot be learned (purged, no accounting)
        state = str(event.new_state.base) if event.new_state else "UNKNOWN"
        code = event.exit_code
        fields: dict[str, Any] = {
            "exit_code": code.return_code if code else None,
            "signal": code.signal if code else None,
            "reason": event.reason,
        }
        if state in self.target_states:
            await self._say("job %s reached %s", self.job_id, state)
            return event_payload("success", self.job_id, state, **fields)
        if state in self.failure_states or event.final:
            await self._say("job %s ended %s", self.job_id, state)
            return event_payload("error", self.job_id, state, **fields)
        await self._say("job %s is %s", self.job_id, event.new_state)
        return None

    async def on_kill(self) -> None:
        """The user stopped the deferred task (marked it failed, killed it): the core's
        cancel policy applies to the job (if ``cancel_on_kill``)."""
        if not self.cancel_on_kill:
            return
        from slurm_core.lifecycle import AsyncJobSupervisor, CancelReason

        with anyio.fail_after(_KILL_TIMEOUT):
            client = await SlurmHook(self.conn_id).get_async_client()
            async with client:
                if isinstance(self.job_id, str):  # an array task: see _follow
                    await client.jobs.cancel(self.job_id)
                    self.log.info("cancelled SLURM job %s", self.job_id)
                elif await AsyncJobSupervisor(client, self.job_id).cancel(
                    CancelReason.MARKED_FAILED
                ):
                    self.log.info("cancelled SLURM job %s", self.job_id)


def _released(exc: BaseException) -> CancelReason | None:
    """A cancelled trigger was let go by its triggerer (stopping, or handing it to another
    triggerer), not stopped by a user: a user's kill reaches :meth:`SlurmJobTrigger.on_kill`.
    The job runs on; the next trigger follows it."""
    from slurm_core.lifecycle import CancelReason

    if isinstance(exc, asyncio.CancelledError):
        return CancelReason.PROCESS_EXITED
    return None
