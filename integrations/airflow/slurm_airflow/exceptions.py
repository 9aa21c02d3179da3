"""Task failures raised by the SLURM provider.

Hierarchy::

    AirflowException
    └── SlurmJobFailedException          the job ended badly; the task may be retried
        └── SlurmJobSensorFailedException    (also AirflowFailException) a watched job ended
                                             badly: no retry (the state will not change);
                                             ``soft_fail=True`` skips instead

Both carry ``job_id``, ``state``, ``exit_code`` and ``reason``; the message is
slurm-client's :class:`~slurm_core.JobFailedError` text.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from slurm_core import JobFailedError

__all__ = ["SlurmJobFailedException", "SlurmJobSensorFailedException"]


class SlurmJobFailedException(AirflowException):
    """A SLURM job ended in a failure state (``FAILED``, ``CANCELLED``, ``TIMEOUT``...).

    Example::

        try:
            operator.execute(context)
        except SlurmJobFailedException as exc:
            print(exc.job_id, exc.state, exc.exit_code, exc.reason)
    """

    def __init__(
        self,
        job_id: int | str,
        state: str,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.exit_code = exit_code
        self.reason = reason
        super().__init__(str(JobFailedError(job_id, state, exit_code, reason)))

    @classmethod
    def from_error(cls, error: JobFailedError) -> SlurmJobFailedException:
        """The task failure for slurm-client's :class:`~slurm_core.JobFailedError`."""
        return cls(error.job_id, error.state, error.exit_code, error.reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.job_id, self.state, self.exit_code, self.reason))


class SlurmJobSensorFailedException(SlurmJobFailedException, AirflowFailException):
    """A job watched by :class:`~slurm_airflow.sensors.slurm.SlurmJobSensor` ended badly."""
