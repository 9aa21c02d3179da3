"""Dagster integration of slurm-client: run SLURM jobs from assets and ops.

- :class:`SlurmResource`: slurmrestd URL and credentials (exactly one auth method); hands
  steps a ``slurm_core`` client and runs a job for them (``run_job``), with the job's id,
  state, exit code, nodes and elapsed time as metadata; cancels the job if the run is
  terminated.
- :class:`PipesSlurmClient`: Dagster Pipes over slurmrestd, the session files on the
  cluster's shared filesystem.
- :class:`SlurmIOManager`: asset values on the shared filesystem, where the next job reads
  them by path; signed with its ``secret_key``, and loaded only when the signature holds.
- :data:`slurm_executor`: each op or asset step of a run as its own SLURM job; per-op job
  options from ``slurm/...`` tags (:class:`SlurmTagError` names a bad one).
- :class:`UntrustedFileError`: a file on the shared filesystem failed a check and was not
  used.

Example::

    from dagster import Definitions, EnvVar
    from slurm_dagster import SlurmIOManager, SlurmResource

    defs = Definitions(
        assets=[...],
        resources={
            "slurm": SlurmResource(url="https://slurm:6820", token=EnvVar("SLURM_JWT")),
            "io_manager": SlurmIOManager(
                base_dir="/shared/dagster", secret_key=EnvVar("SLURM_DAGSTER_IO_KEY")
            ),
        },
    )
"""

from __future__ import annotations

from slurm_core import __version__
from slurm_dagster._files import UntrustedFileError
from slurm_dagster._jobs import SlurmJobRun, job_metadata
from slurm_dagster.executor import slurm_executor
from slurm_dagster.executor_tags import SlurmTagError
from slurm_dagster.io_manager import SlurmIOManager, asset_dir
from slurm_dagster.pipes import PipesSharedFileMessageReader, PipesSlurmClient
from slurm_dagster.resources import SlurmResource

__all__ = [
    "PipesSharedFileMessageReader",
    "PipesSlurmClient",
    "SlurmIOManager",
    "SlurmJobRun",
    "SlurmResource",
    "SlurmTagError",
    "UntrustedFileError",
    "__version__",
    "asset_dir",
    "job_metadata",
    "slurm_executor",
]


def _register() -> None:
    from dagster._core.libraries import DagsterLibraryRegistry

    # Not a Dagster-versioned package: skip Dagster's own version-match check.
    DagsterLibraryRegistry.register("slurm_dagster", __version__, is_dagster_package=False)


_register()
