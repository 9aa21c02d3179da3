"""Errors of the watcher."""

from __future__ import annotations

from collections.abc import Sequence

from .._exceptions import SlurmTimeoutError

__all__ = ["WaitTimeoutError"]


class WaitTimeoutError(SlurmTimeoutError):
    """``wait``/``watch`` gave up after ``timeout`` seconds; the jobs may still be running.

    ``job_ids`` are the jobs not yet finished; ``phase`` is ``"wait"``.

    Example::

        try:
            job = client.jobs.wait(42, timeout=600)
        except WaitTimeoutError as exc:
            client.jobs.cancel(42)
    """

    def __init__(self, job_ids: Sequence[int | str], timeout: float) -> None:
        self.job_ids = list(job_ids)
        self.timeout = timeout
        names = ", ".join(str(j) for j in self.job_ids) or "(none)"
        super().__init__(f"timed out after {timeout:g}s waiting for job(s) {names}", phase="wait")
