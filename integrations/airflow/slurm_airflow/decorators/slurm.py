"""``@task.slurm``: a TaskFlow function that runs as its own SLURM job.

Registered through the provider's ``task-decorators`` entry, as ``@task.docker`` is. The
call is written by the core's :class:`~slurm_core.executor.FunctionCall` (the
function executor's payloads, runner and HMAC-checked results); the job is submitted or
re-attached by :class:`~slurm_core.lifecycle.JobSupervisor` under the task instance's
key, followed by it (or, deferred, by :class:`~slurm_airflow.triggers.slurm.SlurmJobTrigger`)
and cancelled by its policy. This module only translates Airflow's task to them.

Example::

    from airflow.sdk import dag, task

    @dag(schedule=None)
    def pipeline():
        @task.slurm(partition="gpu", gpus=1, time_limit="1:00:00", workspace="/shared/runs")
        def train(epochs: int) -> float:
            ...
            return accuracy

        @task.slurm(workspace="/shared/runs")
        def report(accuracy: float) -> str:
            return f"accuracy {accuracy:.2%}"

        report(train(5))
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowTaskTerminated,
    TaskDeferralTimeout,
)

from slurm_airflow._lifecycle import classify, task_comment, task_key
from slurm_airflow.hooks.slurm import DEFAULT_CONN_ID, SlurmHook
from slurm_airflow.triggers.slurm import DEFAULT_POLL_INTERVAL, SlurmJobTrigger
from slurm_core import SlurmError

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

    from slurm_core import SlurmClient
    from slurm_core.config import ClientSettings
    from slurm_core.executor import FunctionCall
    from slurm_core.lifecycle import CancelReason

__all__ = ["SlurmDecoratedOperator", "slurm_task"]

# Job options the decorator takes as keywords (the executor's builder fields); anything
# else goes in ``slurm_options``. Script, output and working directory are the executor's.
JOB_OPTIONS = frozenset(
    {
        "name",
        "partition",
        "account",
        "qos",
        "comment",
        "constraint",
        "time_limit",
        "memory_per_cpu",
        "memory_per_node",
        "cpus_per_task",
        "ntasks",
        "ntasks_per_node",
        "nodes",
        "gpus",
        "gres",
        "exclusive",
        "nice",
        "environment",
    }
)
# Airflow imports a DAG file under this prefix; such a module is not importable on the
# cluster, so its functions travel by value.
_DAG_MODULE_PREFIX = "unusual_prefix_"
_PLAIN = (str, int, float, bool, type(None), dt.date, dt.datetime, dt.timedelta)


def _plain(value: object) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


def _by_value(fn: Callable[..., Any]) -> None:
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    if module is not None and module.__name__.startswith(_DAG_MODULE_PREFIX):
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)


class SlurmDecoratedOperator(DecoratedOperator):
    """The operator behind ``@task.slurm``: the function is one SLURM job.

    :param workspace: a directory the workers and the nodes see at the same path; each
        call gets a private 0700 directory in it. Default: the connection's
        ``working_directory``.
    :param python: the interpreter on the nodes (default: the worker's own path); it
        needs ``cloudpickle`` in the worker's version, under the same Python major.minor.
    :param job_user: the user the jobs run as, when the worker runs as another (root).
    :param checkpoint: seconds (or a ``timedelta``) before the time limit at which the
        function is asked to checkpoint; the job then requeues itself and resumes (see
        :func:`slurm_core.executor.checkpoint_dir`).
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param slurm_options: more job options (the builder's fields) than the keywords.
    :param cancel_on_kill: cancel the job when the task is killed or marked failed.

    Job options (``partition``, ``gpus``, ``time_limit``, ``memory_per_cpu``...) are
    keywords. The return value goes to XCom; the function's exception fails the task
    with its remote traceback, and the task's ``retries`` apply (a retry submits again,
    unless the earlier try's job is still running or completed: then it re-attaches).
    """

    custom_operator_name = "@task.slurm"
    template_fields = (*DecoratedOperator.template_fields, "slurm_options", "workspace", "job_user")
    ui_color = "#d7e6f2"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        workspace: str | None = None,
        python: str | None = None,
        job_user: int | str | None = None,
        checkpoint: dt.timedelta | int | None = None,
        slurm_options: Mapping[str, Any] | None = None,
        slurm_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in JOB_OPTIONS}
        clash = sorted(set(options) & set(slurm_options or {}))
        if clash:
            raise ValueError(f"{', '.join(clash)}: given both as a keyword and in slurm_options")
        if poll_interval is not None and not (
            isinstance(poll_interval, (int, float))
            and not isinstance(poll_interval, bool)
            and poll_interval > 0
        ):
            raise ValueError(f"poll_interval must be seconds > 0, got {poll_interval!r}")
        if python is not None and not python.startswith("/"):
            raise ValueError(f"python must be an absolute path, got {python!r}")
        if workspace is not None and not (workspace.startswith("/") or "{{" in workspace):
            raise ValueError(f"workspace must be an absolute path, got {workspace!r}")
        super().__init__(
            python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs
        )
        self.workspace = workspace
        self.python = python
        self.job_user = job_user
        self.checkpoint = checkpoint
        self.slurm_options = {**options, **(slurm_options or {})}
        self.slurm_conn_id = slurm_conn_id
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.cancel_on_kill = cancel_on_kill
        self.job_id: int | None = None
        self._active: Any = None  # the supervisor while the job is followed here
        self._stopped = False

    @property
    def hook(self) -> SlurmHook:
        return SlurmHook(self.slurm_conn_id)

    def _workspace(self, settings: ClientSettings) -> str:
        where = self.workspace or settings.working_directory
        if not where:
            raise AirflowException(
                f"{self.custom_operator_name}: give workspace= (a directory the nodes see at "
                f"the same path) or the connection's working_directory"
            )
        return str(where)

    def _job_user(self) -> int | str | None:
        user = self.job_user
        if isinstance(user, str):
            user = user.strip()
            return int(user) if user.isdigit() else (user or None)  # a rendered uid, ""
        return user

    def _interval(self, settings: ClientSettings) -> float:
        return self.poll_interval or settings.poll_interval or DEFAULT_POLL_INTERVAL

    def _arguments(self, context: Context) -> dict[str, Any]:
        """The call's keyword arguments: ``op_kwargs``, and the context values the function
        names when they can travel to a job (a date, the params), refused otherwise."""
        kwargs = dict(self.determine_kwargs(context))
        for name, value in kwargs.items():
            if name in self.op_kwargs:
                continue
            if name == "params" and isinstance(value, Mapping):
                kwargs[name] = value = dict(value)
            if not _plain(value):
                raise TypeError(
                    f"{self.custom_operator_name} {self.task_id}: parameter {name!r} would get "
                    f"Airflow's {name} ({type(value).__name__}), which cannot travel to a SLURM "
                    f"job; pass what the function needs as an argument"
                )
        return kwargs

    # ------------------------------------------------------------------ running -----------
    def execute(self, context: Context) -> Any:
        """Submit the call as a job (or re-attach to this task instance's earlier job),
        wait for it (deferred or here), and return the function's value."""
        from slurm_core import SlurmClient  # import cost: a DAG file imports this module
        from slurm_core.executor import FunctionCall

        settings = self.hook.settings()
        _by_value(self.python_callable)
        call = FunctionCall.plan(
            self.python_callable,
            tuple(self.op_args),
            self._arguments(context),
            workspace=self._workspace(settings),
            python=self.python,
            job_user=self._job_user(),
            checkpoint=self.checkpoint,
            **self.slurm_options,
        )
        with SlurmClient.from_settings(settings, **self.hook.client_options) as client:
            call, supervisor = self._start(client, settings, call, context)
            job_id = supervisor.job_id
            if self.deferrable:
                self._active = None
                self.defer(
                    trigger=SlurmJobTrigger(
                        job_id=job_id,
                        conn_id=self.slurm_conn_id,
                        poll_interval=self._interval(settings),
                        cancel_on_kill=self.cancel_on_kill,
                    ),
                    method_name="execute_complete",
                    timeout=self.execution_timeout,
                )
            try:
                outcome = supervisor.run(raise_on_failure=False)
            finally:
                self._active = None
        if self._stopped:
            call.close()
            raise AirflowTaskTerminated(
                f"task stopped by Airflow; SLURM job {job_id} "
                f"{'cancelled' if self.cancel_on_kill else 'left running'}"
            )
        result = self._finish(call, job_id, outcome.state, outcome.exit_code, outcome.reason)
        return self._handle_output(return_value=result)

    def _start(
        self, client: SlurmClient, settings: ClientSettings, call: FunctionCall, context: Context
    ) -> tuple[FunctionCall, Any]:
        from slurm_core.lifecycle import JobSupervisor

        ti = context["ti"]
        key = task_key(ti)
        try:
            assert call.spec is not None
            spec = call.spec.replace(comment=task_comment(ti, call.spec.comment))
            self._active = supervisor = JobSupervisor(
                client,
                spec,
                key=key,
                poll_interval=self._interval(settings),
                classify=classify,
                reattach_failed=False,  # a failed call is the task's failure: retry anew
            )
            submitted = supervisor.start()
        except BaseException:
            call.close()
            raise
        call = call.adopt(client, submitted)
        self.job_id = submitted.job_id
        verb = "re-attached to" if submitted.attached else "submitted"
        self.log.info("%s SLURM job %s for %s (key %s)", verb, self.job_id, self.task_id, key)
        ti.xcom_push(key="job_id", value=self.job_id)
        return call, supervisor

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: read the call's result, found by the job's
        working directory (this may be another process than the one that submitted)."""
        from slurm_core import SlurmClient
        from slurm_core.executor import FunctionCall

        self.job_id = job_id = event["job_id"]
        if event.get("state") is None:
            # The trigger could not follow the job: it runs on; a retry re-attaches.
            raise AirflowException(event.get("message") or f"job {job_id}: no final state")
        settings = self.hook.settings()
        with SlurmClient.from_settings(settings, **self.hook.client_options) as client:
            call = FunctionCall.of_job(
                client, int(job_id), self._workspace(settings), job_user=self._job_user()
            )
        result = self._finish(
            call, job_id, event["state"], event.get("exit_code"), event.get("reason")
        )
        return self._handle_output(return_value=result)

    def _finish(
        self,
        call: FunctionCall,
        job_id: int | str,
        state: str,
        exit_code: int | None,
        reason: str | None,
    ) -> Any:
        try:
            ok, value = call.outcome(job_id, state, exit_code, reason)
            output = call.output()
        finally:
            call.close()
        if output:
            self.log.info("output of SLURM job %s:\n%s", job_id, output)
        if not ok:
            self.log.error("SLURM job %s ended %s: the function failed", job_id, state)
            raise value
        self.log.info("SLURM job %s ended %s", job_id, state)
        return value

    # ------------------------------------------------------------------ stopping ----------
    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        from slurm_core.lifecycle import CancelReason

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:  # the task's time is up: the policy cancels the job
            self._cancel(
                context["ti"].xcom_pull(task_ids=self.task_id, key="job_id"), CancelReason.TIMED_OUT
            )
            raise
        # A failed trigger (TaskDeferralError) is ours, not the job's: it runs on, and the
        # retry re-attaches to it.

    def on_kill(self) -> None:
        """Airflow stops the task (killed, marked failed, timed out): the core's cancel
        policy applies to the job (unless ``cancel_on_kill=False``)."""
        from slurm_core.lifecycle import CancelReason

        self._stopped = True
        supervisor = self._active
        if supervisor is not None:
            self._cancel(supervisor.job_id, CancelReason.ORCHESTRATOR_KILLED)

    def _cancel(self, job_id: int | None, reason: CancelReason) -> None:
        if job_id is None or not self.cancel_on_kill:
            return
        from slurm_core.lifecycle import JobSupervisor

        # A client of its own: on_kill runs in a signal handler, maybe inside a request.
        try:
            with self.hook.get_client() as client:
                if JobSupervisor(client, int(job_id)).cancel(reason):
                    self.log.info("cancelled SLURM job %s (%s)", job_id, reason)
        except SlurmError as exc:
            self.log.error("could not cancel SLURM job %s: %s", job_id, exc)


def slurm_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """``@task.slurm(...)``: run the decorated function as its own SLURM job.

    Keywords are :class:`SlurmDecoratedOperator`'s (job options, ``workspace``,
    ``deferrable``, ``checkpoint``...) and any operator's (``retries``...).

    Example::

        @task.slurm(partition="debug", time_limit="10:00", workspace="/shared/runs")
        def add(x: int, y: int) -> int:
            return x + y
    """
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=SlurmDecoratedOperator,
        **kwargs,
    )
