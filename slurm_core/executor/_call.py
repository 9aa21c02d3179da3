"""One function call as one job whose outcome any process can read back.

:class:`SlurmExecutor` keeps its master key in memory, so only the process that submitted
can read a result. An orchestrator task is not one process: a deferred task resumes in
another one, and a retry re-attaches (by the task's durable key) to a job an earlier try
submitted. :class:`FunctionCall` is the executor's planning and result reading for that
case: a directory of its own per call, found again from the job's working directory, its
result still HMAC-checked (with the batch key read back from the 0600 key file, owned by
the job's user) before anything is unpickled.

Example::

    call = FunctionCall.plan(train, (cfg,), {}, workspace="/shared/runs", partition="gpu")
    supervisor = JobSupervisor(client, call.spec, key=task_key)
    call = call.adopt(client, supervisor.start())    # the earlier try's call if attached
    outcome = supervisor.run(raise_on_failure=False)
    ok, value = call.outcome(outcome.job_id, outcome.state, outcome.exit_code)
    call.close()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..jobs import JobSpec, SubmittedJob
from ._core import DEFAULT_MAX_RESULT_BYTES, ExecutorCore, Task, _resolve_user, as_delta, settle
from ._errors import ExecutorError
from ._files import Workspace

if TYPE_CHECKING:
    from .._client import SlurmClient

__all__ = ["FunctionCall"]


class FunctionCall:
    """A call written for one job (:meth:`plan`), or found again (:meth:`reopen`).

    ``spec`` is what to submit (``None`` once reopened); ``directory`` is the call's
    private directory, also the job's working directory, which is how :meth:`reopen`
    and :meth:`adopt` find it again. Nothing in it is secret: it can go into an
    orchestrator's state (a deferred task's resume arguments).
    """

    def __init__(self, files: Workspace, task: Task, spec: JobSpec | None) -> None:
        self._files = files
        self._task = task
        self.spec = spec

    @classmethod
    def plan(
        cls,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        workspace: str | os.PathLike[str],
        python: str | None = None,
        spec: JobSpec | None = None,
        job_user: int | str | None = None,
        checkpoint: timedelta | int | None = None,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        **job_options: Any,
    ) -> FunctionCall:
        """Write ``fn(*args, **kwargs)`` into a new directory under ``workspace``; the
        options are :class:`~slurm_core.executor.SlurmExecutor`'s (a bad one raises
        :class:`~slurm_core.JobSpecError` naming it, before anything is written)."""
        core = ExecutorCore(
            workspace=workspace,
            python=python,
            spec=spec,
            job_user=job_user,
            max_array_size=1,
            max_result_bytes=max_result_bytes,
            options=job_options,
        )
        try:
            before = None if checkpoint is None else as_delta(checkpoint)
            plan = core.plan_call(fn, args, dict(kwargs), None, before)
        except BaseException:
            core.close()
            raise
        return cls(core.files, plan.tasks[0], plan.spec)

    @classmethod
    def reopen(
        cls,
        workspace: str | os.PathLike[str],
        directory: str | os.PathLike[str],
        *,
        job_user: int | str | None = None,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> FunctionCall:
        """The call planned in ``directory`` (under ``workspace``) by another process.

        Raises :class:`~slurm_core.executor.ExecutorError` when it is not such a directory
        (elsewhere, a link, another owner, a loose mode).
        """
        uid, gid = _resolve_user(job_user)
        files, batch = Workspace.reopen(
            workspace, directory, uid=uid, gid=gid, max_result_bytes=max_result_bytes
        )
        return cls(files, Task(batch, 0), None)

    @property
    def directory(self) -> str:
        """The call's private directory (the job's working directory)."""
        return str(self._files.path)

    def adopt(self, client: SlurmClient, submitted: SubmittedJob) -> FunctionCall:
        """This call if ``submitted`` is its job; when the submission attached to an
        earlier job (same key), that job's call (this one's files are removed).

        Example::

            call = call.adopt(client, supervisor.start())
        """
        self._task.key = str(submitted.job_id)
        if not submitted.attached:
            return self
        self.close()
        return FunctionCall.of_job(
            client,
            submitted.job_id,
            self._files.path.parent,
            job_user=self._files.uid,
            max_result_bytes=self._files.max_result_bytes,
        )

    @classmethod
    def of_job(
        cls,
        client: SlurmClient,
        job_id: int,
        workspace: str | os.PathLike[str],
        *,
        job_user: int | str | None = None,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> FunctionCall:
        """The call job ``job_id`` runs, found by its working directory (see :meth:`reopen`).

        Example::

            call = FunctionCall.of_job(client, event["job_id"], "/shared/runs")
        """
        job = client.jobs.get(job_id)
        if not job.working_directory:
            raise ExecutorError(
                f"job {job_id}: no working directory, its call cannot be found", job_id
            )
        found = cls.reopen(
            workspace, job.working_directory, job_user=job_user, max_result_bytes=max_result_bytes
        )
        found._task.key = str(job_id)
        return found

    def outcome(
        self,
        job_id: int | str,
        state: str,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> tuple[bool, Any]:
        """``(True, value)`` or ``(False, exception)`` once job ``job_id`` ended in
        ``state``: the function's own exception (its remote traceback as ``__cause__``),
        :class:`~slurm_core.JobFailedError` for a job that died, or an
        :class:`~slurm_core.executor.ExecutorError` (a refused or missing result)."""
        self._task.key = str(job_id)
        completed = state == "COMPLETED"
        return settle(self._files, self._task, state, completed, exit_code, reason)

    def output(self) -> str:
        """The end of the job's output (stdout and stderr), empty if there is none."""
        return self._files.log_tail(self._task.batch, self._task.index)

    def close(self) -> None:
        """Remove the call's directory (its result is read, or never will be)."""
        self._files.close()
