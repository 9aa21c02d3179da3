"""The async face of the job supervisor: it only sends, awaits and reads (see :mod:`._brain`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Final

import anyio
import anyio.to_thread

from .._client import AsyncSlurmClient
from .._exceptions import SlurmError
from ..jobs import SubmittedJob
from ..jobs.output import OutputReader
from ..watch import JobEvent
from . import _brain
from ._brain import Classifier, JobOutcome, SupervisedJob, SupervisorFace
from ._output import OutputLine
from ._policy import CancelReason

__all__ = ["AsyncJobSupervisor"]

logger = _brain.logger

CANCEL_TIMEOUT: Final = 30.0
"""Longest a cancel sent while the task itself is being cancelled may take (shielded)."""


class AsyncJobSupervisor(SupervisorFace):
    """The async twin of :class:`JobSupervisor` (same arguments, ``await`` the methods).

    Example::

        supervisor = AsyncJobSupervisor(client, builder, key=f"prefect-{task_run_id}")
        async for item in supervisor.follow():
            print(item)
        print(supervisor.outcome)
    """

    def __init__(
        self,
        client: AsyncSlurmClient,
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

    async def start(self) -> SubmittedJob:
        """See :meth:`JobSupervisor.start`."""
        brain = self._brain
        if brain.submitted is None:
            assert brain.spec is not None
            brain.submitting = True
            brain.record(
                await self._client.jobs.submit_spec(
                    brain.spec, attach=True, reattach_failed=self._reattach_failed
                )
            )
        assert brain.submitted is not None
        return brain.submitted

    async def follow(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline for the job, cancels it
    ) -> AsyncIterator[JobEvent | OutputLine]:
        """See :meth:`JobSupervisor.follow` (``async for``)."""
        brain = self._brain
        try:
            await self.start()
            async with self._client.jobs.watcher.watch(
                brain.watch_keys(), timeout=timeout, max_interval=brain.poll_interval, ticks=True
            ) as events:
                async for event in events:
                    step = brain.observe(event)
                    if step.deliver and not step.final:
                        yield event  # see JobSupervisor._act for the order
                    if step.tail is not None:
                        lines = await anyio.to_thread.run_sync(brain.lines, step.tail, step.final)
                        for line in lines:
                            yield line
                    if step.final:
                        yield event
                    error = step.error
                    if step.lookup is not None:
                        try:
                            upstream = await self._client.jobs.get(step.lookup)
                        except SlurmError:
                            upstream = None
                        error = brain.dependency_error(step.lookup, upstream)
                    if error is not None:
                        await self.cancel(CancelReason.DEPENDENCY_NEVER_SATISFIED)
                        raise error
                    if step.final:
                        return
        except GeneratorExit:
            raise  # the caller stopped following: the job runs on
        except BaseException as exc:
            await self._stop(exc)
            raise

    async def run(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline for the job, cancels it
        raise_on_failure: bool = True,
    ) -> JobOutcome:
        """See :meth:`JobSupervisor.run`."""
        try:
            async for item in self.follow(timeout=timeout):
                self._deliver(item)
        except BaseException as exc:
            await self._stop(exc)
            raise
        return self._result(raise_on_failure)

    async def cancel(self, reason: CancelReason | str) -> bool:
        """See :meth:`JobSupervisor.cancel` (shielded: it completes inside a cancelled task)."""
        key = self._brain.in_flight_key(reason)
        if key is not None:
            await self._resolve_in_flight(key)
        if not self._brain.decide(reason):
            return False
        assert self._brain.job_id is not None
        with anyio.fail_after(CANCEL_TIMEOUT, shield=True):
            await self._client.jobs.cancel(self._brain.job_id)
        return True

    async def _resolve_in_flight(self, key: str) -> None:
        """Find the job of an interrupted submission by its key (shielded, bounded)."""
        found: int | None = None
        with anyio.move_on_after(_brain.IN_FLIGHT_SETTLE, shield=True):
            while found is None:
                try:
                    found = await self._client.jobs.find_submission(key)
                except SlurmError as failed:
                    logger.error("could not look up submission key %s: %s", key, failed)
                    break
                if found is None:
                    await anyio.sleep(0.5)
        if found is None:
            self._brain.in_flight_missing(key)
        else:
            self._brain.record(SubmittedJob(job_id=found, submission_key=key, attached=True))

    async def _stop(self, exc: BaseException) -> None:
        reason = self._brain.stop_reason(exc)
        if reason is None:
            return
        try:
            await self.cancel(reason)
        except (SlurmError, TimeoutError) as failed:
            logger.error("could not cancel job %s: %s", self._brain.job_id, failed)
