"""``slurm_executor``: each op or asset step of a Dagster run is its own SLURM job.

Built on Dagster's step-delegating executor, as ``dagster-k8s``'s ``k8s_job_executor`` is:
the run's process decides what runs when (dependencies, retries, concurrency) and tails
the event log; :class:`SlurmStepHandler` only translates a step into a job of
:class:`slurm_core.SlurmExecutor`, which submits, follows and cancels it. The job runs
Dagster's ``execute_step`` (:func:`slurm_dagster.executor_step.run_step`) on the cluster's
interpreter, against the run's own instance, so the step's events and logs reach Dagster
as a local step's do.

Example::

    from dagster import job, op
    from slurm_dagster import slurm_executor

    @op(tags={"slurm/partition": "gpu", "slurm/gpus": "1"})
    def train(): ...

    @job(executor_def=slurm_executor.configured({
        "slurm": {"url": "https://slurm.example:6820", "token": {"env": "SLURM_JWT"}},
        "workspace": "/shared/dagster-steps",
        "job_options": {"time_limit": "1:00:00"},
    }))
    def pipeline():
        train()

See docs/dagster-executor.md for what the cluster needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import Field, IntSource, Permissive, StringSource, executor
from dagster import _check as check
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from dagster._core.definitions.metadata import MetadataValue
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.execution.tags import get_tag_concurrency_limits_config
from dagster._core.executor.base import Executor
from dagster._core.executor.init import InitExecutorContext
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)

from slurm_core import JobSpecError, SlurmClient, SlurmExecutor
from slurm_core.executor import RemoteTraceback, SlurmFuture
from slurm_core.jobs import JobBuilder
from slurm_dagster.executor_step import run_step
from slurm_dagster.executor_tags import step_options
from slurm_dagster.resources import SlurmResource

__all__ = ["SlurmStepHandler", "slurm_executor"]

_ARGS_ENV = "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS"

_CONFIG = {
    "slurm": SlurmResource.to_config_schema().as_field(),
    "workspace": Field(
        StringSource,
        description="A directory the run's process and the compute nodes see at the same "
        "path; each run gets a private directory of step calls under it.",
    ),
    "python": Field(
        StringSource,
        is_required=False,
        description="Absolute path of the cluster's interpreter (default: this one's path).",
    ),
    "job_user": Field(
        StringSource,
        is_required=False,
        description="The user (name or uid) the jobs run as, when it is not this process's.",
    ),
    "job_options": Field(
        Permissive(),  # type: ignore[no-untyped-call]
        is_required=False,
        default_value={},
        description="Job options for every step, as the builder's fields "
        "(partition, time_limit, memory_per_cpu, ...); ops' slurm/... tags override them.",
    ),
    "retries": get_retries_config(),  # type: ignore[no-untyped-call]
    "max_concurrent": Field(
        IntSource,
        is_required=False,
        description="Most steps (jobs) of one run in flight at once (default: no limit).",
    ),
    "tag_concurrency_limits": get_tag_concurrency_limits_config(),  # type: ignore[no-untyped-call]
}


def _step_key(context: StepHandlerContext) -> str:
    keys = context.execute_step_args.step_keys_to_execute or []
    check.invariant(len(keys) == 1, "a SLURM job runs exactly one step")
    return keys[0]


def _attempt(context: StepHandlerContext, step_key: str) -> int:
    known = context.execute_step_args.known_state
    return known.get_retry_state().get_attempt_count(step_key) if known else 0


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    return text + (f"\n{cause}" if isinstance(cause, RemoteTraceback) else "")


class SlurmStepHandler(StepHandler):
    """Runs each step as a job of one :class:`~slurm_core.SlurmExecutor` per run.

    ``launch_step`` submits :func:`~slurm_dagster.executor_step.run_step` with the step's
    arguments and the step's ``slurm/...`` tags as job options; ``check_step_health``
    reports a job that failed, was cancelled or could not run the step (with the job's
    error and remote traceback); ``terminate_step`` cancels the job.

    Example::

        handler = SlurmStepHandler(SlurmResource(url=..., token=...), workspace="/shared/x")
    """

    def __init__(
        self,
        resource: SlurmResource,
        *,
        workspace: str,
        python: str | None = None,
        job_user: int | str | None = None,
        job_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._resource = resource
        self._settings: dict[str, Any] = {
            "workspace": workspace,
            "python": python,
            "job_user": job_user,
            **(job_options or {}),
        }
        builder = JobBuilder()
        for name, value in (job_options or {}).items():
            if name in ("workspace", "python", "job_user"):
                continue
            _check_option(builder, name, value)
        self._client: SlurmClient | None = None
        self._executor: SlurmExecutor | None = None
        self._futures: dict[tuple[str, int], SlurmFuture] = {}

    @property
    def name(self) -> str:
        return "SlurmStepHandler"

    def _open(self) -> SlurmExecutor:
        if self._executor is None:
            self._client = self._resource.get_client()
            self._executor = SlurmExecutor(self._client, **self._settings)
        return self._executor

    def check_tags(self, plan: ExecutionPlan) -> None:
        """Translate every step's tags before anything is submitted (a bad one raises
        :class:`~slurm_dagster.executor_tags.SlurmTagError` naming it)."""
        for step in plan.get_steps_to_execute_in_topo_order():
            step_options(step.tags, step.key)

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        context = step_handler_context
        step_key = _step_key(context)
        options = step_options(context.step_tags[step_key], step_key)
        options.setdefault("name", f"dagster-{step_key}")
        options.setdefault("comment", f"dagster run {context.execute_step_args.run_id}")
        env = {e["name"]: e["value"] for e in context.execute_step_args.get_command_env()}
        future = self._open().submit(run_step, env[_ARGS_ENV], slurm_options=options)
        self._futures[(step_key, _attempt(context, step_key))] = future
        yield DagsterEvent.step_worker_starting(
            context.get_step_context(step_key),
            message=f'Executing step "{step_key}" in SLURM job {future.job_id}.',
            metadata={"SLURM job id": MetadataValue.text(future.job_id)},
        )

    def _future(self, context: StepHandlerContext) -> tuple[str, SlurmFuture | None]:
        step_key = _step_key(context)
        return step_key, self._futures.get((step_key, _attempt(context, step_key)))

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        step_key, future = self._future(step_handler_context)
        if future is None:
            return CheckStepHealthResult.unhealthy(f"no SLURM job was launched for {step_key}")
        if not future.done():
            return CheckStepHealthResult.healthy()
        if future.cancelled():
            return CheckStepHealthResult.unhealthy(f"SLURM job {future.job_id} was cancelled")
        error = future.exception()
        if error is not None:
            return CheckStepHealthResult.unhealthy(
                f"SLURM job {future.job_id} could not run step {step_key}: {_describe(error)}"
            )
        return CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[DagsterEvent]:
        step_key, future = self._future(step_handler_context)
        if future is None or future.done():
            return
        yield DagsterEvent.engine_event(
            step_handler_context.get_step_context(step_key),
            message=f"Cancelling SLURM job {future.job_id} of step {step_key}",
            event_specific_data=EngineEventData(),
        )
        future.cancel()

    def close(self, *, keep_jobs: bool = False) -> None:
        """End this run's executor: cancel jobs still running (unless ``keep_jobs``, for a
        run that will resume), remove its directory, close the client."""
        executor, client = self._executor, self._client
        self._executor = self._client = None
        try:
            if executor is not None:
                executor.shutdown(wait=not keep_jobs, cancel_futures=not keep_jobs)
        finally:
            if client is not None:
                client.close()


def _check_option(builder: JobBuilder, name: str, value: Any) -> None:
    setter = getattr(builder, name, None)
    if name.startswith("_") or not callable(setter) or name in ("execute", "to_spec"):
        raise JobSpecError(f"job_options.{name}", "is not a job option")
    if isinstance(value, list) and name == "gres":
        setter(*value)
    else:
        setter(value)


class _SlurmStepDelegatingExecutor(StepDelegatingExecutor):
    """The step-delegating executor, checking tags first and closing the handler after."""

    def __init__(self, handler: SlurmStepHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._handler = handler

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        self._handler.check_tags(execution_plan)
        try:
            yield from super().execute(plan_context, execution_plan)
        finally:
            resume = plan_context.instance.run_will_resume(plan_context.run_id)
            self._handler.close(keep_jobs=resume)


def _job_user(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


@executor(
    name="slurm",
    config_schema=_CONFIG,
    requirements=multiple_process_executor_requirements(),
)
def slurm_executor(init_context: InitExecutorContext) -> Executor:
    """Run each step of a job as its own SLURM job (one :class:`~slurm_core.SlurmExecutor`
    call per step, over slurmrestd).

    Config: ``slurm`` (:class:`~slurm_dagster.SlurmResource`'s fields: url and exactly one
    auth method), ``workspace`` (shared with the nodes at the same path), ``python``,
    ``job_user``, ``job_options`` (builder fields for every step), ``retries``,
    ``max_concurrent``, ``tag_concurrency_limits``. Ops' ``slurm/<field>`` tags set job
    options per step (see :mod:`slurm_dagster.executor_tags`). The instance (run and event
    storage, compute logs) must be reachable from the jobs; see docs/dagster-executor.md.

    Example::

        @job(executor_def=slurm_executor.configured({
            "slurm": {"url": "http://slurm:6820", "token": {"env": "SLURM_JWT"}},
            "workspace": "/shared/dagster-steps",
        }))
        def pipeline(): ...
    """
    config: Mapping[str, Any] = init_context.executor_config
    handler = SlurmStepHandler(
        SlurmResource(**config["slurm"]),
        workspace=check.str_elem(config, "workspace"),
        python=check.opt_str_elem(config, "python"),
        job_user=_job_user(check.opt_str_elem(config, "job_user")),
        job_options=config.get("job_options") or {},
    )
    return _SlurmStepDelegatingExecutor(
        handler,
        retries=RetryMode.from_config(config["retries"]),
        max_concurrent=check.opt_int_elem(config, "max_concurrent"),
        tag_concurrency_limits=check.opt_list_elem(config, "tag_concurrency_limits"),
        should_verify_step=True,
    )
