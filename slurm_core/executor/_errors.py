"""Errors of the function executor.

::

    SlurmError
    └── ExecutorError                  a function job's outcome cannot be handed back
        ├── ResultAuthenticationError  a result file that this executor did not have signed
        ├── VersionMismatchError       Python or cloudpickle differ between client and job
        └── MissingResultError         the job ended without writing a result

A job that dies (TIMEOUT, OUT_OF_MEMORY, CANCELLED...) fails its future with
:class:`~slurm_core.JobFailedError` (job id, state, exit code, reason). The function's own
exception is re-raised as itself, with the remote traceback as its ``__cause__``.
"""

from __future__ import annotations

from .._exceptions import SlurmError

__all__ = [
    "ExecutorError",
    "MissingResultError",
    "RemoteTraceback",
    "ResultAuthenticationError",
    "VersionMismatchError",
]


class ExecutorError(SlurmError):
    """A function job's outcome cannot be handed back; ``job_id`` names the job."""

    def __init__(self, message: str, job_id: int | str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class ResultAuthenticationError(ExecutorError):
    """A result file is not one this executor's job wrote (altered, planted, or another
    task's): it was refused and never unpickled."""


class VersionMismatchError(ExecutorError):
    """Python major.minor or cloudpickle differ between the client and the job.

    ``client`` and ``job`` map ``"python"`` and ``"cloudpickle"`` to each side's version.
    Nothing was unpickled on either side.
    """

    def __init__(
        self, job_id: int | str | None, client: dict[str, str | None], job: dict[str, str | None]
    ) -> None:
        def show(side: dict[str, str | None]) -> str:
            return f"Python {side.get('python')}, cloudpickle {side.get('cloudpickle')}"

        super().__init__(
            f"job {job_id}: version mismatch, nothing unpickled: the client runs {show(client)}, "
            f"the job runs {show(job)}; use the same interpreter and cloudpickle on both sides",
            job_id,
        )
        self.client = client
        self.job = job


class MissingResultError(ExecutorError):
    """The job finished (``state``) without writing a result file."""

    def __init__(self, job_id: int | str, state: str, detail: str) -> None:
        super().__init__(f"job {job_id} ended {state} without a result: {detail}", job_id)
        self.state = state


class RemoteTraceback(Exception):
    """The traceback of an exception raised inside the job (set as its ``__cause__``)."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'
