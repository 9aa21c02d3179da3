"""The blocking face of the job supervisor: it only sends and reads (see :mod:`._brain`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from .._client import SlurmClient
from .._exceptions import SlurmError
from ..jobs import SubmittedJob
from ..jobs.output import OutputReader
from ..watch import JobEvent
from . import _brain
from ._brain import Classifier, JobOutcome, Step, SupervisedJob, SupervisorFace
from ._output import OutputLine
from ._policy import CancelReason

__all__ = ["JobSupervisor"]

logger = _brain.logger


class JobSupervisor(SupervisorFace):
    """Runs one job to its end: submit or re-attach, follow, tail output, cancel by policy.

    ``job`` is a :class:`~slurm_core.JobSpec` or builder to submit, or the id of a job
    already submitted. ``key`` is the durable submission key (e.g. the orchestrator's task
    run id): the job is submitted with ``execute(attach=True)`` semantics, so a second
    supervisor with the same key (a retry, a restarted worker) finds the calling user's
    job carrying it, running or finished, instead of submitting another. With
    ``reattach_failed=False`` (an orchestrator's retry after a real failure) a found job
    that ended other than COMPLETED is left alone and a new job is submitted under the
    same key; later lookups find the newest.

    Following uses the client's shared watch loop (``poll_interval`` caps its interval).
    ``on_output`` gets each line of stdout/stderr while the job runs (read through
    ``reader``, default ``client.jobs.output_reader``); ``on_event`` each job event.
    A job that waits on a dependency that can never be met (an ``afterok`` upstream that
    failed, or slurmctld's ``DependencyNeverSatisfied``) is cancelled and
    :class:`DependencyNeverSatisfiedError` names the upstream job and its state.

    Stopping early follows :data:`CANCEL_POLICY`: an adapter calls :meth:`cancel` with a
    :class:`CancelReason`; exceptions that end :meth:`run` are read by ``classify`` (the
    adapter's mapping of its orchestrator's exceptions) and then :func:`reason_for`.

    Example::

        spec = JobSpec(script="#!/bin/sh\\necho hi", working_directory="/tmp")
        supervisor = JobSupervisor(client, spec, key="nightly-2026-12-07",
                                   on_output=lambda line: print(line.stream, line.text))
        result = supervisor.run()              # JobFailedError unless it completed
        print(result.job_id, result.exit_code, result.attached)
    """

    def __init__(
        self,
        client: SlurmClient,
        job: SupervisedJob,
        *,
        key: str | None = None,
        poll_interval: float | None = None,
        reader: OutputReader | None = None,
        on_output: Callable[[OutputLine], None] | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        default_working_directory: str | os.PathLike[str] | None = None,
        classify: Classifier | None = None,
        reattach_failed: bool = True,
    ) -> None:
        super().__init__(
            job,
            key=key,
            poll_interval=poll_interval,
            reader=reader or client.jobs.output_reader,
            on_output=on_output,
            on_event=on_event,
            default_working_directory=default_working_directory,
            classify=classify,
        )
        self._client = client
        self._reattach_failed = reattach_failed

    def start(self) -> SubmittedJob:
        """Submit the job, or attach to the calling user's job with the same key (once)."""
        brain = self._brain
        if brain.submitted is None:
            assert brain.spec is not None
            brain.submitting = True
            brain.record(
                self._client.jobs.submit_spec(
                    brain.spec, attach=True, reattach_failed=self._reattach_failed
                )
            )
        assert brain.submitted is not None
        return brain.submitted

    def follow(self, *, timeout: float | None = None) -> Iterator[JobEvent | OutputLine]:
        """Job events and output lines, in order, until the job ends (starts it if needed).

        Raises :class:`DependencyNeverSatisfiedError` (after cancelling the job) or
        :class:`~slurm_core.watch.WaitTimeoutError` (the job is cancelled: a time-out is
        the task's); does not raise for a failed job (see :attr:`outcome`).

        Example::

            for item in supervisor.follow():
                print(item)
        """
        brain = self._brain
        try:
            self.start()
            with self._client.jobs.watcher.watch(
                brain.watch_keys(), timeout=timeout, max_interval=brain.poll_interval, ticks=True
            ) as events:
                for event in events:
                    step = brain.observe(event)
                    yield from self._act(step, event)
                    if step.final:
                        return
        except GeneratorExit:
            raise  # the caller stopped following: the job runs on
        except BaseException as exc:
            self._stop(exc)
            raise

    def _act(self, step: Step, event: JobEvent) -> Iterator[JobEvent | OutputLine]:
        brain = self._brain
        if step.deliver and not step.final:
            yield event  # a start before the lines it led to, the end after the last ones
        yield from brain.lines(step.tail, step.final)
        if step.final:
            yield event
        error = step.error
        if step.lookup is not None:
            try:
                upstream = self._client.jobs.get(step.lookup)
            except SlurmError:
                upstream = None
            error = brain.dependency_error(step.lookup, upstream)
        if error is not None:
            self.cancel(CancelReason.DEPENDENCY_NEVER_SATISFIED)
            raise error

    def run(self, *, timeout: float | None = None, raise_on_failure: bool = True) -> JobOutcome:
        """Follow the job to its end, calling ``on_output``/``on_event``; its outcome.

        Raises :class:`~slurm_core.JobFailedError` when it did not complete (unless
        ``raise_on_failure=False``), and what :meth:`follow` raises.

        Example::

            result = JobSupervisor(client, job_id).run(timeout=3600)
        """
        try:
            for item in self.follow(timeout=timeout):
                self._deliver(item)
        except BaseException as exc:
            self._stop(exc)
            raise
        return self._result(raise_on_failure)

    def cancel(self, reason: CancelReason | str) -> bool:
        """Apply the cancel policy for ``reason``; True when a cancel was sent.

        Sends ``scancel`` only when :data:`CANCEL_POLICY` says so, the job exists and has
        not ended; at most once.

        Example::

            def on_kill(self):                        # an Airflow operator
                self.supervisor.cancel(CancelReason.ORCHESTRATOR_KILLED)
        """
        key = self._brain.in_flight_key(reason)
        if key is not None:
            self._resolve_in_flight(key)
        if not self._brain.decide(reason):
            return False
        assert self._brain.job_id is not None
        self._client.jobs.cancel(self._brain.job_id)
        return True

    def _resolve_in_flight(self, key: str) -> None:
        """Find the job of an interrupted submission by its key (bounded)."""
        found: int | None = None
        deadline = time.monotonic() + _brain.IN_FLIGHT_SETTLE
        while found is None:
            try:
                found = self._client.jobs.find_submission(key)
            except SlurmError as failed:
                logger.error("could not look up submission key %s: %s", key, failed)
                break
            if found is None and time.monotonic() + 0.5 < deadline:
                time.sleep(0.5)
            elif found is None:
                break
        if found is None:
            self._brain.in_flight_missing(key)
        else:
            self._brain.record(SubmittedJob(job_id=found, submission_key=key, attached=True))

    def _stop(self, exc: BaseException) -> None:
        """The policy for an exception that ends supervision (a failed cancel is logged)."""
        reason = self._brain.stop_reason(exc)
        if reason is None:
            return
        try:
            self.cancel(reason)
        except SlurmError as failed:
            logger.error("could not cancel job %s: %s", self._brain.job_id, failed)
