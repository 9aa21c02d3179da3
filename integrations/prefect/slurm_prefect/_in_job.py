"""The job side of :class:`~slurm_prefect.task_runner.SlurmTaskRunner`: Prefect's task engine
inside the SLURM job, as Prefect's ``ProcessPoolTaskRunner`` runs it in a worker process.

This module travels to the job by value (cloudpickle), so the cluster's interpreter needs
Prefect and cloudpickle, not slurm_prefect. It imports only the standard library at module
level.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

__all__ = ["JOB_TAG_PREFIX", "job_key", "run_task_in_job"]

JOB_TAG_PREFIX = "slurm-job:"
"""Each task run carries the tag ``slurm-job:<job id>`` (``slurm-job:40_3`` in an array)."""


def job_key(environ: dict[str, str] | os._Environ[str]) -> str | None:
    """This job's id as the executor names it: ``"42"``, or ``"40_3"`` for an array task."""
    array, index = environ.get("SLURM_ARRAY_JOB_ID"), environ.get("SLURM_ARRAY_TASK_ID")
    if array and index:
        return f"{array}_{index}"
    return environ.get("SLURM_JOB_ID")


def run_task_in_job(call: dict[str, Any]) -> Any:
    """Run one task run's engine here; returns its final Prefect ``State``.

    ``call`` holds the engine's arguments (task, task run id, resolved parameters, upstream
    states), the serialized context, and ``env`` (Prefect settings without secrets).
    """
    call = dict(call)
    os.environ.update(call.pop("env"))
    context = call.pop("context")

    import asyncio

    from prefect import tags
    from prefect.context import SettingsContext, hydrated_context
    from prefect.settings import Settings
    from prefect.task_engine import run_task_async, run_task_sync

    try:  # Prefect >= 3.1: abort/pause signals from the API end the run cleanly
        from prefect.engine import handle_engine_signals

        signals: Any = handle_engine_signals(call.get("task_run_id"))
    except ImportError:  # pragma: no cover
        signals = contextlib.nullcontext()

    # Unpickling the call imported Prefect before ``env`` was applied: settings anew.
    root = SettingsContext.get()
    settings = SettingsContext(profile=root.profile, settings=Settings()) if root else None
    key = job_key(os.environ)
    job_tag = tags(f"{JOB_TAG_PREFIX}{key}") if key else contextlib.nullcontext()
    with settings or contextlib.nullcontext(), hydrated_context(context), signals, job_tag:
        if call["task"].isasync:
            return asyncio.run(run_task_async(**call))
        return run_task_sync(**call)
