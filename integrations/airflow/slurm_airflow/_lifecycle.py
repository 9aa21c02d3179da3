"""Airflow's side of the core job supervisor: keys, comments, reasons and log lines.

Nothing here decides about a job: the task instance becomes a durable key and a comment,
Airflow's exceptions become :class:`~slurm_core.lifecycle.CancelReason` values, and the
supervisor's output lines become task log lines. :mod:`slurm_core.lifecycle` does the rest.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowTaskTerminated, AirflowTaskTimeout

if TYPE_CHECKING:
    from slurm_core.lifecycle import CancelReason, OutputLine

__all__ = [
    "GONE",
    "ResumableJobMixin",
    "classify",
    "is_active",
    "is_succeeded",
    "line_logger",
    "task_comment",
    "task_key",
]

try:
    from airflow.sdk import ResumableJobMixin
except ImportError:  # Airflow < 3.3: no task state store; the core's key alone re-attaches

    class ResumableJobMixin:  # type: ignore[no-redef]
        """Stand-in for Airflow 3.3's mixin: submit (or re-attach by key), follow, result."""

        external_id_key = "remote_job_id"

        def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)  # ``durable`` means nothing without a state store
            self.durable = durable

        def execute_resumable(self, context: Any) -> Any:
            job_id = self.submit_job(context)  # type: ignore[attr-defined]
            self.poll_until_complete(job_id, context)  # type: ignore[attr-defined]
            return self.get_job_result(job_id, context)  # type: ignore[attr-defined]


GONE = "GONE"
"""The status of a stored job id Slurm no longer knows (never active: a new job is due)."""


def _state(status: str) -> Any:
    from slurm_core.models import JobState

    return JobState.parse(status.split("+"))


def is_active(status: str) -> bool:
    """Whether a job in ``status`` (``str(job.state)``) still runs or waits: re-attach."""
    return status != GONE and not _state(status).is_finished


def is_succeeded(status: str) -> bool:
    """Whether a job in ``status`` completed (exit code 0): its result, no new job."""
    return status != GONE and bool(_state(status).is_success)


# A comment is for people (squeue -o %k, sacct): keep each id readable but bounded.
_MAX_ID = 200


def _ids(ti: Any) -> tuple[str, str, str, int]:
    map_index = getattr(ti, "map_index", -1)
    return (
        str(ti.dag_id),
        str(ti.run_id),
        str(ti.task_id),
        -1 if map_index is None else int(map_index),
    )


def task_key(ti: Any) -> str:
    """The durable submission key of a task instance: its dag, run, task and map index.

    Not the try number: every try of the task instance (a retry, a re-run after a killed
    worker) finds the same job. Run ids carry characters a key may not (``+``, ``:``...),
    hence a digest.

    Example::

        task_key(context["ti"])      # "airflow-3f2a...": the same for every try
    """
    raw = "\x1f".join(str(part) for part in _ids(ti))
    return "airflow-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def task_comment(ti: Any, comment: str | None = None) -> str:
    """The job comment naming the task instance, for administrators (``squeue -o %k``).

    Example::

        task_comment(ti, "nightly")  # "nightly airflow dag_id=etl run_id=... task_id=..."
    """
    dag_id, run_id, task_id, map_index = _ids(ti)
    parts = [f"dag_id={dag_id[:_MAX_ID]}", f"run_id={run_id[:_MAX_ID]}"]
    parts.append(f"task_id={task_id[:_MAX_ID]}")
    if map_index >= 0:
        parts.append(f"map_index={map_index}")
    ours = "airflow " + " ".join(parts)
    return f"{comment} {ours}" if comment else ours


def classify(exc: BaseException) -> CancelReason | None:
    """Airflow's exceptions as cancel reasons (the core's ``reason_for`` reads the rest)."""
    from slurm_core.lifecycle import CancelReason

    if isinstance(exc, AirflowTaskTimeout):
        return CancelReason.TIMED_OUT
    if isinstance(exc, AirflowTaskTerminated):
        return CancelReason.ORCHESTRATOR_KILLED
    return None


def line_logger(log: logging.Logger | Any) -> Callable[[OutputLine], None]:
    """An ``on_output`` callback writing each job line to ``log`` (stderr as a warning)."""

    def emit(line: OutputLine) -> None:
        if line.stream == "stderr":
            log.warning("[job %s stderr] %s", line.job_id, line.text)
        else:
            log.info("[job %s stdout] %s", line.job_id, line.text)

    return emit
