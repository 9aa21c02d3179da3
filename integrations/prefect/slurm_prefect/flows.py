"""Flows for SLURM jobs: a dependency graph as one flow, and the ``on_cancellation`` hook.

:func:`run_slurm_graph` submits a :class:`~slurm_core.graph.JobGraph` in one go, each edge
a Slurm dependency, so every job starts as soon as Slurm sees its dependencies met (not
when the flow next looks), then waits for the whole graph.

Tasks awaited in a flow's own code cancel their SLURM job themselves when the flow run is
cancelled (Prefect interrupts them). Tasks on the task runner's worker threads
(``.submit()``, ``.map()``, which is how a sync flow runs async tasks) are not interrupted:
the process is killed. :func:`cancel_slurm_jobs` covers them. Every task records the jobs
it submits or waits for as flow-run labels ``slurm.job.<id>``; the hook, run by whichever
process owns the cancellation (the runner or worker), cancels those still unfinished.

Example::

    from prefect import flow
    from slurm_prefect.flows import cancel_slurm_jobs
    from slurm_prefect.tasks import run_slurm_job

    @flow(on_cancellation=[cancel_slurm_jobs("hpc")])
    def fan_out(specs: list[JobSpec]) -> None:
        credentials = SlurmCredentials.load("hpc")
        futures = [run_slurm_job.submit(credentials, spec) for spec in specs]
        for future in futures:
            future.result()
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.flows import FlowStateHook
from prefect.logging.loggers import flow_run_logger
from prefect.utilities.asyncutils import run_coro_as_sync

from slurm_core import SlurmError
from slurm_core.graph import JobGraph
from slurm_prefect import _run
from slurm_prefect._run import SlurmJobResult
from slurm_prefect.credentials import SlurmCredentials
from slurm_prefect.tasks import submit_slurm_graph, wait_for_slurm_graph

__all__ = ["cancel_slurm_jobs", "run_slurm_graph"]


@flow(name="run-slurm-graph")
async def run_slurm_graph(
    credentials: SlurmCredentials,
    graph: JobGraph,
    wait_timeout: float | None = None,
) -> dict[str, SlurmJobResult]:
    """Submit a job graph with Slurm dependencies, then wait for all of it.

    Returns ``{node name: result}``; fails with :class:`~slurm_core.graph.GraphError`
    naming the nodes that failed or never ran. Use it as a subflow.

    Example::

        graph = JobGraph("ml")
        prep = graph.add("prep", JobBuilder().command(["python", "prep.py"]))
        train = graph.add("train", JobBuilder().command(["python", "train.py"]).gpus(2),
                          after_ok=[prep])
        graph.add("evaluate", JobBuilder().command(["python", "eval.py"]), after_ok=[train])

        @flow
        async def pipeline() -> None:
            results = await run_slurm_graph(await SlurmCredentials.aload("hpc"), graph)
            print(results["evaluate"].stdout)
    """
    job_ids = await submit_slurm_graph(credentials, graph)
    return await wait_for_slurm_graph(credentials, graph, job_ids, wait_timeout=wait_timeout)


def cancel_slurm_jobs(credentials: SlurmCredentials | str) -> FlowStateHook[..., Any]:
    """An ``on_cancellation`` hook cancelling the unfinished SLURM jobs of the flow run.

    ``credentials`` is a :class:`SlurmCredentials` block or the name of a saved one (loaded
    when the hook runs). Only jobs recorded for the same slurmrestd URL are touched.

    Example::

        @flow(on_cancellation=[cancel_slurm_jobs("hpc")])
        def pipeline() -> None: ...
    """

    def hook(flow: Any, flow_run: FlowRun, state: State) -> None:
        logger = flow_run_logger(flow_run, flow)
        creds = (
            run_coro_as_sync(SlurmCredentials.aload(credentials))
            if isinstance(credentials, str)
            else credentials
        )
        assert isinstance(creds, SlurmCredentials)
        with get_client(sync_client=True) as prefect:
            labels = prefect.read_flow_run(flow_run.id).labels
        job_ids = _run.recorded_jobs(labels, creds.url)
        if not job_ids:
            return
        with creds.get_client() as client:
            for job_id in job_ids:
                try:
                    if client.jobs.get(job_id).state.is_finished:
                        continue
                    logger.warning(
                        "Flow run %s was cancelled: cancelling SLURM job %s", flow_run.id, job_id
                    )
                    client.jobs.cancel(job_id)
                except SlurmError as exc:
                    logger.error("Could not cancel SLURM job %s: %s", job_id, exc)

    hook.__name__ = hook.__qualname__ = "cancel_slurm_jobs"
    return cast("FlowStateHook[..., Any]", hook)
