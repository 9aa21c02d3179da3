"""The job side of :data:`slurm_dagster.slurm_executor`: Dagster's ``execute_step``.

The step handler submits :func:`run_step` through :class:`slurm_core.SlurmExecutor`; in the
job, the executor's runner calls it with the step's arguments (Dagster's compressed
``ExecuteStepArgs``, kept in the call file rather than the job's environment), and it runs
Dagster's own ``dagster api execute_step`` command in this process. The step reads and
writes the run through the instance the arguments name (run and event storage, compute
logs), so the events, logs and retries are Dagster's own.

Imported on the cluster's interpreter, which needs ``dagster``, the code location's
modules and ``slurm-client[dagster,functions]``.
"""

from __future__ import annotations

__all__ = ["run_step"]


def run_step(compressed_args: str) -> None:
    """Run one step as ``dagster api execute_step --compressed-input-json ARGS`` does.

    A failure of the op is not an exception here: Dagster records it as the step's failure
    (with the op's own traceback) in the event log. What raises is a step that could not be
    run at all (the code location does not load, the instance is unreachable).

    Example::

        run_step(execute_step_args._get_compressed_args())   # inside the job
    """
    from dagster._cli.api import execute_step_command

    execute_step_command.main(
        args=["--compressed-input-json", compressed_args],
        prog_name="dagster api execute_step",
        standalone_mode=False,
    )
