"""The supervisor's own error: a job whose dependency can never be satisfied."""

from __future__ import annotations

from .._exceptions import JobFailedError

__all__ = ["DependencyNeverSatisfiedError"]


class DependencyNeverSatisfiedError(JobFailedError):
    """The job waits on a dependency that can never be met, so it would pend forever.

    ``upstream_job_id`` is the job it depends on and ``upstream_state`` how that one ended
    (``"FAILED"``, ``"CANCELLED"``..., or ``"UNKNOWN"``); ``upstream_exit_code`` its exit
    code when known. A :class:`~slurm_core.JobFailedError` (``state`` is the job's own
    state when it was given up, ``reason`` ``"DependencyNeverSatisfied"``).

    Example::

        try:
            supervisor.run()
        except DependencyNeverSatisfiedError as exc:
            print(exc.job_id, "never starts:", exc.upstream_job_id, exc.upstream_state)
    """

    def __init__(
        self,
        job_id: int,
        upstream_job_id: int | str,
        upstream_state: str,
        *,
        state: str = "PENDING",
        upstream_exit_code: int | None = None,
        dependency: str | None = None,
    ) -> None:
        self.upstream_job_id = upstream_job_id
        self.upstream_state = upstream_state
        self.upstream_exit_code = upstream_exit_code
        self.dependency = dependency
        super().__init__(job_id, state, None, "DependencyNeverSatisfied")
        code = f" with exit code {upstream_exit_code}" if upstream_exit_code is not None else ""
        dep = f" ({dependency})" if dependency else ""
        self.args = (
            f"job {job_id} can never start: it depends on job {upstream_job_id}{dep}, "
            f"which ended {upstream_state}{code}",
        )

    def __str__(self) -> str:
        return str(self.args[0])
