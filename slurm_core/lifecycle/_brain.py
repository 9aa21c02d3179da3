"""What :class:`JobSupervisor` and :class:`AsyncJobSupervisor` share: every decision, no I/O.

The faces (:mod:`._sync`, :mod:`._async`) submit or attach, iterate the client's shared
watch (the only polling loop: the supervisor opens a watch with ``ticks=True`` so it
hears from every poll), read output and send the cancel. For each watch event the brain
says what to do (:class:`Step`): hand the event on, tail output, give up on a dependency
that can never be met, or finish with the outcome.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any, Final

from .._exceptions import JobFailedError, JobSpecError
from ..jobs import AsyncJobBuilder, JobBuilder, JobSpec, SubmittedJob
from ..jobs.dependency import (
    Dependency,
    DependencyKind,
    DependencyOperator,
    DependencyState,
    parse_dependency,
)
from ..jobs.output import OutputReader
from ..models import Job, JobBaseState
from ..watch import JobEvent, JobEventType
from ._errors import DependencyNeverSatisfiedError
from ._output import OutputLine, OutputTail
from ._policy import CANCEL_POLICY, CancelReason, reason_for

__all__ = ["JobOutcome", "Step", "SupervisedJob", "SupervisorBrain"]

SupervisedJob = JobSpec | JobBuilder | AsyncJobBuilder | int
"""What a supervisor is given: a job to submit (spec or builder), or the id of one."""
Classifier = Callable[[BaseException], "CancelReason | None"]

logger = logging.getLogger("slurm_core.lifecycle")

IN_FLIGHT_SETTLE: Final = 5.0
"""How long a cancel looks for a submission whose answer it interrupted (by its key)."""

NEVER_SATISFIED: Final = "DependencyNeverSatisfied"
"""slurmctld's pending reason for a dependency that can never be met (every release)."""


@dataclasses.dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a supervised job ended.

    ``ok`` is true for ``COMPLETED`` (exit code 0); ``state`` is the final base state
    (``"UNKNOWN"`` when it cannot be learned); ``attached`` says the job was found by its
    submission key rather than submitted by this supervisor. ``job`` is the last snapshot.

    Example::

        result = supervisor.run(raise_on_failure=False)
        print(result.job_id, result.state, result.exit_code, result.ok)
    """

    job_id: int
    state: str
    exit_code: int | None
    submission_key: str | None
    attached: bool
    job: Job | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when the job completed successfully."""
        return self.state == "COMPLETED"


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """What the face does with one watch event (in this order)."""

    deliver: bool = False  # hand the event to the caller
    tail: Job | None = None  # read output with this snapshot
    lookup: int | None = None  # fetch this upstream job, then call dependency_error()
    error: DependencyNeverSatisfiedError | None = None  # cancel, then raise
    final: bool = False  # the job ended: outcome is set


def _upstream_key(dep: Dependency) -> list[str]:
    """Jobs whose failure dooms an all-of (``,``) dependency: those of ``afterok`` terms."""
    if dep.kind is not DependencyOperator.AND:
        return []
    keys: list[str] = []
    for term in dep.terms:
        if term.kind is not DependencyKind.AFTEROK:
            continue
        for ref in term.job_ids:
            if ref.array_task_id == "*":
                keys.append(str(ref.job_id))
            elif ref.array_task_id is not None:
                keys.append(f"{ref.job_id}_{ref.array_task_id}")
            else:
                keys.append(str(ref.job_id))
    return list(dict.fromkeys(keys))


class SupervisorBrain:
    """The state of one supervised job and the decisions about it (see the module)."""

    def __init__(
        self,
        job: SupervisedJob,
        *,
        key: str | None,
        poll_interval: float | None,
        default_working_directory: str | os.PathLike[str] | None,
        reader: OutputReader,
        classify: Classifier | None,
    ) -> None:
        if poll_interval is not None and (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not poll_interval > 0
        ):
            raise ValueError(
                f"poll_interval must be a number of seconds > 0, got {poll_interval!r}"
            )
        self.poll_interval = None if poll_interval is None else float(poll_interval)
        self.classify = classify
        self.tail = OutputTail(reader)
        self.submitted: SubmittedJob | None = None
        self.spec: JobSpec | None = None
        if isinstance(job, bool):
            raise TypeError("job must be a JobSpec, a builder or a job id, got a bool")
        if isinstance(job, int):
            self.submitted = SubmittedJob(job_id=job, submission_key=key, attached=True)
        elif isinstance(job, (JobBuilder, AsyncJobBuilder)):
            self.spec = job.to_spec()
        elif isinstance(job, JobSpec):
            self.spec = job
        else:
            raise TypeError(
                f"job must be a JobSpec, a builder or a job id, got {type(job).__name__}"
            )
        if self.spec is not None:
            self.spec = _with_defaults(self.spec, key, default_working_directory)
        self.upstreams: list[str] = []
        if self.spec is not None and self.spec.dependency is not None:
            self.upstreams = _upstream_key(self.spec.dependency)
        self.upstream_jobs: dict[str, JobEvent] = {}
        self.started = False
        self.submitting = False
        self.last_job: Job | None = None
        self.dependency: str | None = (
            None if self.spec is None or self.spec.dependency is None else str(self.spec.dependency)
        )
        self.outcome: JobOutcome | None = None
        self.final_event: JobEvent | None = None
        self.cancelled: CancelReason | None = None
        self._stopped_by: BaseException | None = None

    # -- before the watch ------------------------------------------------------------------
    def record(self, submitted: SubmittedJob) -> None:
        self.submitted = submitted
        self.submitting = False

    def in_flight_key(self, reason: CancelReason | str) -> str | None:
        """The key of a submission sent but unanswered, if ``reason`` would cancel its job.

        An interrupt can land between slurmctld creating the job and the answer reaching
        us; the job is then found by its key so the cancel still reaches it.
        """
        if self.submitted is not None or not self.submitting or self.spec is None:
            return None
        if not CANCEL_POLICY[CancelReason(reason)].cancel:
            return None
        return self.spec.submission_key

    def in_flight_missing(self, key: str) -> None:
        logger.warning(
            "no job with submission key %s found after an interrupted submission; if it "
            "still arrives it runs: a supervisor with the same key re-attaches to it",
            key,
        )

    @property
    def job_id(self) -> int | None:
        return None if self.submitted is None else self.submitted.job_id

    def watch_keys(self) -> list[str]:
        assert self.submitted is not None
        own = str(self.submitted.job_id)
        return [own, *(k for k in self.upstreams if k != own)]

    # -- each event ------------------------------------------------------------------------
    def observe(self, event: JobEvent) -> Step:
        assert self.submitted is not None
        if str(event.job_id) != str(self.submitted.job_id):
            return self._upstream(event)
        job = event.job
        if job is not None:
            self.last_job = job
        deliver = event.type is not JobEventType.POLLED
        if event.type is JobEventType.STARTED or (
            job is not None and job.state.base is JobBaseState.RUNNING
        ):
            self.started = True
        elif event.type is JobEventType.REQUEUED:
            self.started = False
        if event.final:
            self.final_event = event
            self.outcome = self._outcome(event)
            return Step(deliver=True, tail=self.last_job, final=True)
        if job is not None and not self.started and job.state_reason == NEVER_SATISFIED:
            return self._never_satisfied(job, deliver)
        return Step(deliver=deliver, tail=self.last_job if self.started else None)

    def _never_satisfied(self, job: Job, deliver: bool) -> Step:
        self.dependency = job.dependency
        upstream = _failed_upstream(job)
        if upstream is None:
            return Step(deliver=deliver, error=self._never("unknown", "UNKNOWN", None))
        seen = self.upstream_jobs.get(upstream)
        if seen is not None and seen.final:
            return Step(deliver=deliver, error=self._from_event(upstream, seen))
        return Step(deliver=deliver, lookup=int(upstream.split("_", 1)[0]))

    def dependency_error(
        self, upstream_id: int, upstream: Job | None
    ) -> DependencyNeverSatisfiedError:
        """The error for a never-satisfied dependency once its upstream was looked up."""
        if upstream is None:
            return self._never(upstream_id, "UNKNOWN", None)
        code = upstream.exit_code.return_code if upstream.exit_code is not None else None
        return self._never(upstream_id, str(upstream.state.base), code)

    def _upstream(self, event: JobEvent) -> Step:
        key = str(event.job_id)
        self.upstream_jobs[key] = event
        if not event.final or event.type in (JobEventType.COMPLETED, JobEventType.UNKNOWN):
            return Step()
        if self.started or self.outcome is not None:
            return Step()
        return Step(error=self._from_event(key, event))

    def _from_event(self, key: str, event: JobEvent) -> DependencyNeverSatisfiedError:
        state = str(event.new_state.base) if event.new_state is not None else "UNKNOWN"
        code = event.exit_code.return_code if event.exit_code is not None else None
        upstream: int | str = int(key) if key.isdigit() else key
        return self._never(upstream, state, code)

    def _never(
        self, upstream: int | str, state: str, code: int | None
    ) -> DependencyNeverSatisfiedError:
        assert self.submitted is not None
        return DependencyNeverSatisfiedError(
            self.submitted.job_id,
            upstream,
            state,
            upstream_exit_code=code,
            dependency=self.dependency,
        )

    def _outcome(self, event: JobEvent) -> JobOutcome:
        assert self.submitted is not None
        state = str(event.new_state.base) if event.new_state is not None else "UNKNOWN"
        code = event.exit_code.return_code if event.exit_code is not None else None
        return JobOutcome(
            job_id=self.submitted.job_id,
            state=state if event.type is not JobEventType.UNKNOWN else "UNKNOWN",
            exit_code=code,
            submission_key=self.submitted.submission_key,
            attached=self.submitted.attached,
            job=event.job,
            reason=event.reason,
        )

    # -- stopping --------------------------------------------------------------------------
    def reason_for(self, exc: BaseException) -> CancelReason:
        """The adapter's reading of ``exc`` first (``classify``), then the core's."""
        if self.classify is not None:
            found = self.classify(exc)
            if found is not None:
                return CancelReason(found)
        return reason_for(exc)

    def decide(self, reason: CancelReason | str) -> bool:
        """Whether to send a cancel for ``reason`` now (the policy, the job's state, once)."""
        reason = CancelReason(reason)
        decision = CANCEL_POLICY[reason]
        if not decision.cancel:
            logger.info("job %s left running (%s): %s", self.job_id, reason, decision.why)
            return False
        if self.job_id is None or self.outcome is not None or self.cancelled is not None:
            return False
        self.cancelled = reason
        logger.warning("cancelling job %s (%s): %s", self.job_id, reason, decision.why)
        return True

    def stop_reason(self, exc: BaseException) -> CancelReason | None:
        """The reason to apply for ``exc`` ending supervision; ``None`` if already applied."""
        if exc is self._stopped_by:
            return None
        self._stopped_by = exc
        return self.reason_for(exc)

    def lines(self, job: Job | None, final: bool) -> list[OutputLine]:
        return [] if job is None else self.tail.poll(job, final=final)


def _failed_upstream(job: Job) -> str | None:
    """The upstream job of the first record slurmctld marks ``(failed)``, if any."""
    if not job.dependency:
        return None
    try:
        dep = parse_dependency(job.dependency)
    except JobSpecError:
        return None
    for term in dep.terms:
        if term.state is DependencyState.FAILED and term.job_ids:
            ref = term.job_ids[0]
            if isinstance(ref.array_task_id, int):
                return f"{ref.job_id}_{ref.array_task_id}"
            return str(ref.job_id)
    return None


_NO_WORKDIR = (
    "the job has no working directory, and it must have one (slurmrestd refuses a job "
    "without it, and a relative output path would be resolved against it): set it with "
    ".working_directory(path) on the builder, or give the supervisor a default with "
    "default_working_directory=path (the 'working_directory' setting of "
    "slurm_core.config.settings_from_mapping)"
)


def _with_defaults(spec: JobSpec, key: str | None, workdir: Any) -> JobSpec:
    changes: dict[str, Any] = {}
    if key is not None:
        changes["submission_key"] = key
    if spec.working_directory is None:
        if workdir is None or not os.fspath(workdir):
            raise JobSpecError("working_directory", _NO_WORKDIR)
        changes["working_directory"] = os.fspath(workdir)
    return spec.replace(**changes) if changes else spec


class SupervisorFace:
    """What both faces keep: the brain, the callbacks and the read-only views."""

    def __init__(
        self,
        job: SupervisedJob,
        *,
        key: str | None,
        poll_interval: float | None,
        reader: OutputReader,
        on_output: Callable[[OutputLine], None] | None,
        on_event: Callable[[JobEvent], None] | None,
        default_working_directory: str | os.PathLike[str] | None,
        classify: Classifier | None,
    ) -> None:
        self._brain = SupervisorBrain(
            job,
            key=key,
            poll_interval=poll_interval,
            default_working_directory=default_working_directory,
            reader=reader,
            classify=classify,
        )
        self.on_output = on_output
        self.on_event = on_event

    @property
    def job_id(self) -> int | None:
        """The job's id once submitted or attached (``None`` before ``start``)."""
        return self._brain.job_id

    @property
    def outcome(self) -> JobOutcome | None:
        """How the job ended, once it did."""
        return self._brain.outcome

    def _deliver(self, item: JobEvent | OutputLine) -> None:
        if isinstance(item, OutputLine):
            if self.on_output is not None:
                self.on_output(item)
        elif self.on_event is not None:
            self.on_event(item)

    def _result(self, raise_on_failure: bool) -> JobOutcome:
        result = self._brain.outcome
        assert result is not None
        if raise_on_failure and not result.ok:
            raise JobFailedError(result.job_id, result.state, result.exit_code, result.reason)
        return result
