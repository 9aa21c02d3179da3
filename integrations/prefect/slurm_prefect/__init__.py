"""Prefect integration of slurm-client: blocks and tasks that run SLURM jobs from flows.

Blocks: :class:`SlurmCredentials` (connection and token) and :class:`SlurmJob` (a reusable
job definition, a Prefect ``JobBlock``). Tasks: :func:`submit_slurm_job`,
:func:`wait_for_slurm_job`, :func:`cancel_slurm_job`, :func:`run_slurm_job`.

Register the blocks with ``prefect block register -m slurm_prefect``.
"""

from slurm_prefect.credentials import SlurmCredentials
from slurm_prefect.jobs import SlurmJob, SlurmJobResult, SlurmJobRun

__all__ = ["SlurmCredentials", "SlurmJob", "SlurmJobResult", "SlurmJobRun"]
