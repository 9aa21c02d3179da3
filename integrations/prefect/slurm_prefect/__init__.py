"""Prefect integration of slurm-client: blocks, tasks and flows that run SLURM jobs.

Blocks: :class:`SlurmCredentials` (connection and token) and :class:`SlurmJob` (a reusable
job definition, a Prefect ``JobBlock``). Tasks (:mod:`slurm_prefect.tasks`):
:func:`submit_slurm_job`, :func:`wait_for_slurm_job`, :func:`cancel_slurm_job`,
:func:`run_slurm_job`, :func:`submit_slurm_graph`, :func:`wait_for_slurm_graph`. Flows and
hooks (:mod:`slurm_prefect.flows`): :func:`run_slurm_graph`, :func:`cancel_slurm_jobs`.
Task runner (:mod:`slurm_prefect.task_runner`): :class:`SlurmTaskRunner`, each task a job.

Register the blocks with ``prefect block register -m slurm_prefect``.
"""

from slurm_prefect.credentials import SlurmCredentials
from slurm_prefect.flows import cancel_slurm_jobs, run_slurm_graph
from slurm_prefect.jobs import SlurmJob, SlurmJobResult, SlurmJobRun
from slurm_prefect.task_runner import SlurmTaskRunner
from slurm_prefect.tasks import (
    cancel_slurm_job,
    run_slurm_job,
    submit_slurm_graph,
    submit_slurm_job,
    wait_for_slurm_graph,
    wait_for_slurm_job,
)

__all__ = [
    "SlurmCredentials",
    "SlurmJob",
    "SlurmJobResult",
    "SlurmJobRun",
    "SlurmTaskRunner",
    "cancel_slurm_job",
    "cancel_slurm_jobs",
    "run_slurm_graph",
    "run_slurm_job",
    "submit_slurm_graph",
    "submit_slurm_job",
    "wait_for_slurm_graph",
    "wait_for_slurm_job",
]
