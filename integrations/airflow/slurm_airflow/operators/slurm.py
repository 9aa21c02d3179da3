"""``SlurmSubmitJobOperator``: submit a SLURM job and (by default, deferrably) wait for it.

XCom: ``job_id`` right after submission; at the end ``state`` and ``exit_code``, and the
return value ``{"status", "job_id", "state", "exit_code", "signal", "reason", "message"}``.
Never a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    AirflowTaskTerminated,
    TaskDeferralError,
    TaskDeferralTimeout,
)

from slurm_airflow._lifecycle import (
    GONE,
    ResumableJobMixin,
    classify,
    is_active,
    is_succeeded,
    line_logger,
    task_comment,
    task_key,
)
from slurm_airflow.exceptions import SlurmJobFailedException
from slurm_airflow.hooks.slurm import DEFAULT_CONN_ID, SlurmHook
from slurm_airflow.triggers.slurm import DEFAULT_POLL_INTERVAL, SlurmJobTrigger, event_payload
from slurm_core import SlurmError

if TYPE_CHECKING:
    from airflow.sdk import Context

    # Imported where used, not here: a DAG file imports this module on every parse, and
    # the job builders and the client are most of what importing slurm_core costs.
    from slurm_core import JobBuilder, JobSpec, SlurmClient
    from slurm_core.config import ClientSettings
    from slurm_core.lifecycle import CancelReason

__all__ = ["SlurmSubmitJobOperator"]

# operator argument -> JobBuilder setter (called with the rendered value when not None).
# ``output`` is BaseOperator's XComArg property, hence ``output_path``/``error_path``.
_BUILDER_FIELDS: dict[str, str] = {
    "name": "name",
    "partition": "partition",
    "account": "account",
    "qos": "qos",
    "comment": "comment",
    "time_limit": "time_limit",
    "nodes": "nodes",
    "ntasks": "ntasks",
    "cpus_per_task": "cpus_per_task",
    "memory_per_node": "memory_per_node",
    "memory_per_cpu": "memory_per_cpu",
    "gpus": "gpus",
    "environment": "environment",
    "working_directory": "working_directory",
    "output_path": "output",
    "error_path": "error",
    "requeue": "requeue",
    "signal": "signal",
}


def _templated(value: object) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return False


# Counts a template renders as text ("4"); the builder wants numbers for these.
_COUNTS = frozenset({"nodes", "ntasks", "cpus_per_task", "gpus"})


def _rendered(attr: str, value: Any) -> Any:
    if attr in _COUNTS and isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _spec_value(job_spec: JobSpec | Mapping[str, Any] | str) -> dict[str, Any] | str:
    """A spec as plain data (a dict, or JSON text) that Airflow can template and serialize."""
    if isinstance(job_spec, Mapping):
        return dict(job_spec)
    if isinstance(job_spec, str):
        return job_spec
    from slurm_core import JobSpec  # import cost: see the imports at the top

    if isinstance(job_spec, JobSpec):
        data: dict[str, Any] = job_spec.model_dump(mode="json", exclude_defaults=True)
        return data
    raise TypeError(
        f"job_spec must be a JobSpec, a dict or JSON text, got {type(job_spec).__name__}"
    )


def _parse_spec(value: Mapping[str, Any] | str) -> JobSpec:
    """Validate a job spec given as a dict or JSON text (errors name the field)."""
    from slurm_core import JobSpec  # import cost: see the imports at the top

    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"job_spec is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError("job_spec JSON must be an object")
        value = loaded
    return JobSpec.model_validate(dict(value))


class SlurmSubmitJobOperator(ResumableJobMixin, BaseOperator):
    """Submit a SLURM job through slurmrestd and wait for it to end.

    Give the job as ``script`` (a batch script starting with ``#!``), ``command`` (an
    argument list) or ``job_spec`` (a :class:`~slurm_core.jobs.JobSpec`, its dict, or its
    JSON), plus builder fields (``name``, ``partition``, ``gpus``, ``environment``,
    ``output_path``/``error_path`` for ``--output``/``--error``...; not with ``job_spec``).
    ``dependency`` is a Slurm expression (``"afterok:12:13"``) and ``afterok`` a list of
    upstream job ids (e.g. ``[prep.output["job_id"]]``). ``checkpoint_dir`` makes it a
    :class:`~slurm_core.jobs.TrainingJob` with checkpointing: ``SIGUSR2``
    ``checkpoint_signal_before`` the time limit, requeue, and resume with
    ``SLURM_CLIENT_CHECKPOINT_DIR``/``SLURM_CLIENT_RESUME`` in the job's environment.

    With ``wait_for_completion`` (default) the task ends with the job: it fails with
    :class:`~slurm_airflow.exceptions.SlurmJobFailedException` (state, exit code, reason)
    unless the job ``COMPLETED``. ``deferrable`` (default) waits in the triggerer
    (:class:`~slurm_airflow.triggers.slurm.SlurmJobTrigger`) instead of a worker slot.
    ``log_output`` copies the job's stdout into the task log at the end (needs the job's
    output file to be readable where the task runs, e.g. a shared filesystem).

    Killing the task (``on_kill``, an execution timeout, or marking the deferred task
    failed) cancels the job unless ``cancel_on_kill=False``.

    Example::

        train = SlurmSubmitJobOperator(
            task_id="train",
            script="#!/bin/bash\\npython train.py --epochs {{ params.epochs }}",
            name="train-{{ ds_nodash }}",
            partition="gpu",
            gpus=1,
            afterok=[prep.output["job_id"]],
        )
    """

    template_fields: Sequence[str] = (
        "script",
        "command",
        "job_spec",
        "name",
        "partition",
        "account",
        "qos",
        "time_limit",
        "nodes",
        "ntasks",
        "cpus_per_task",
        "memory_per_node",
        "memory_per_cpu",
        "gpus",
        "environment",
        "working_directory",
        "output_path",
        "error_path",
        "comment",
        "dependency",
        "afterok",
        "checkpoint_dir",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "script": "bash",
        "environment": "json",
        "job_spec": "json",
    }
    ui_color = "#d7e6f2"
    # Where Airflow's ResumableJobMixin keeps the job id across tries (a rename would
    # strand the ids stored by tries in flight).
    external_id_key = "slurm_job_id"

    def __init__(
        self,
        *,
        script: str | None = None,
        command: Sequence[str] | None = None,
        job_spec: JobSpec | Mapping[str, Any] | str | None = None,
        name: str | None = None,
        partition: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        comment: str | None = None,
        time_limit: timedelta | str | int | None = None,
        nodes: int | str | None = None,
        ntasks: int | None = None,
        cpus_per_task: int | None = None,
        memory_per_node: str | int | None = None,
        memory_per_cpu: str | int | None = None,
        gpus: int | str | None = None,
        environment: Mapping[str, str] | None = None,
        working_directory: str | None = None,
        output_path: str | None = None,
        error_path: str | None = None,
        requeue: bool | None = None,
        signal: str | None = None,
        dependency: str | None = None,
        afterok: Sequence[int | str] | int | str | None = None,
        checkpoint_dir: str | None = None,
        checkpoint_signal_before: timedelta | int = timedelta(minutes=5),
        slurm_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        log_output: bool | None = None,
        cancel_on_kill: bool = True,
        skip_on_exit_code: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given = [
            n for n, v in (("script", script), ("command", command), ("job_spec", job_spec)) if v
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of script, command or job_spec"
                + (f" (got {' and '.join(given)})" if given else "")
            )
        if isinstance(command, str):
            raise TypeError("command must be a list of arguments, not a string (use script)")
        fields: dict[str, Any] = {
            "name": name,
            "partition": partition,
            "account": account,
            "qos": qos,
            "comment": comment,
            "time_limit": time_limit,
            "nodes": nodes,
            "ntasks": ntasks,
            "cpus_per_task": cpus_per_task,
            "memory_per_node": memory_per_node,
            "memory_per_cpu": memory_per_cpu,
            "gpus": gpus,
            "environment": dict(environment) if environment is not None else None,
            "working_directory": working_directory,
            "output_path": output_path,
            "error_path": error_path,
            "requeue": requeue,
            "signal": signal,
        }
        if job_spec is not None:
            clash = [k for k, v in fields.items() if v is not None]
            clash += [k for k, v in (("dependency", dependency), ("afterok", afterok)) if v]
            if clash:
                raise ValueError(f"job_spec already describes the job; drop {', '.join(clash)}")
        if dependency and afterok:
            raise ValueError("give dependency or afterok, not both")
        if checkpoint_dir is not None:
            if job_spec is not None:
                raise ValueError("checkpoint_dir goes with script or command, not job_spec")
            taken = [k for k in ("signal", "requeue") if fields[k] is not None]
            if taken:
                raise ValueError(f"checkpoint_dir sets {' and '.join(taken)} itself; drop them")
        if poll_interval is not None and (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, (int, float))
            or not poll_interval > 0
        ):
            raise ValueError(
                f"poll_interval must be a number of seconds > 0, got {poll_interval!r}"
            )
        if log_output and not wait_for_completion:
            raise ValueError("log_output needs wait_for_completion (output comes while waiting)")
        skip = [] if skip_on_exit_code is None else skip_on_exit_code
        skip = [skip] if isinstance(skip, int) else list(skip)
        if any(isinstance(c, bool) or not isinstance(c, int) for c in skip):
            raise TypeError(f"skip_on_exit_code must be exit codes, got {skip_on_exit_code!r}")

        self.script = script
        self.command = list(command) if command is not None else None
        self.job_spec = _spec_value(job_spec) if job_spec is not None else None
        if self.job_spec is not None and not _templated(self.job_spec):
            _parse_spec(self.job_spec)  # fail at DAG parse time, not at run time
        for key, value in fields.items():
            setattr(self, key, value)
        self.dependency = dependency
        self.afterok = afterok
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_signal_before = checkpoint_signal_before
        self.slurm_conn_id = slurm_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = None if poll_interval is None else float(poll_interval)
        self.log_output = wait_for_completion if log_output is None else bool(log_output)
        self.cancel_on_kill = cancel_on_kill
        self.skip_on_exit_code: tuple[int, ...] = tuple(skip)
        self.job_id: int | None = None
        self._key: str | None = None
        self._active: Any = None  # the supervisor while the job is followed here
        self._stopped: str | None = None
        self._client: Any = None  # while execute runs
        self._settings: Any = None
        self._payload: dict[str, Any] | None = None

    # ------------------------------------------------------------------ building ----------
    @property
    def hook(self) -> SlurmHook:
        return SlurmHook(self.slurm_conn_id)

    def build(self, builder: JobBuilder) -> JobBuilder:
        """Apply the (rendered) arguments to ``builder`` (a bad value raises
        :class:`~slurm_core.JobSpecError` naming the field)."""
        from slurm_core.jobs import TrainingJob  # import cost: see the imports at the top

        if self.script:
            builder.script(self.script)
        elif self.command:
            builder.command([str(a) for a in self.command])
        for attr, setter in _BUILDER_FIELDS.items():
            value = getattr(self, attr)
            if value is not None:
                getattr(builder, setter)(_rendered(attr, value))
        if self.dependency:
            builder.depends_on(str(self.dependency))
        elif self.afterok:
            ids = self.afterok
            if isinstance(ids, (str, int)):
                ids = [ids]
            builder.depends_on(afterok=[i for i in ids if i not in (None, "")])
        if self.checkpoint_dir is not None:
            if not isinstance(builder, TrainingJob):
                raise TypeError("checkpoint_dir needs a TrainingJob builder")
            builder.with_checkpointing(
                self.checkpoint_dir, signal_before=self.checkpoint_signal_before
            )
        return builder

    def _job(self, context: Context) -> JobBuilder | JobSpec:
        """What to submit: the parsed spec or the builder, with the task's comment."""
        from slurm_core import JobBuilder  # import cost: see the imports at the top
        from slurm_core.jobs import TrainingJob

        ti = context["ti"]
        if self.job_spec is not None:
            spec = _parse_spec(self.job_spec)
            return spec.replace(comment=task_comment(ti, spec.comment))
        preset = TrainingJob if self.checkpoint_dir is not None else JobBuilder
        builder = self.build(preset())
        return builder.comment(task_comment(ti, getattr(self, "comment", None)))

    def _supervisor(self, client: SlurmClient, settings: ClientSettings, job: Any) -> Any:
        from slurm_core.lifecycle import JobSupervisor  # import cost: see the imports

        return JobSupervisor(
            client,
            job,
            key=self._key,
            poll_interval=self._interval(settings),
            on_output=line_logger(self.log) if self.log_output else None,
            default_working_directory=settings.working_directory,
            classify=classify,
            reattach_failed=False,
        )

    def _interval(self, settings: ClientSettings) -> float:
        if self.poll_interval is not None:
            return self.poll_interval
        return settings.poll_interval or DEFAULT_POLL_INTERVAL

    # ------------------------------------------------------------------ running -----------
    def execute(self, context: Context) -> dict[str, Any]:
        """Submit the job, or re-attach to the one this task instance already submitted
        (any earlier try), then wait.

        Two ways to find it, both by the task instance, never by the try number: Airflow's
        ``ResumableJobMixin`` (3.3 and later) reads the job id an earlier try kept in the
        task state store; the core's submission key (dag, run, task and map index) finds
        the job in Slurm when that store holds nothing (a try killed between submitting
        and storing, an Airflow without the store)."""
        from slurm_core import SlurmClient  # import cost: see the imports at the top

        self._key = task_key(context["ti"])
        self._settings = settings = self.hook.settings()
        with SlurmClient.from_settings(settings, **self.hook.client_options) as client:
            self._client = client
            try:
                result: dict[str, Any] = self.execute_resumable(context)
            finally:
                self._client = None
        return result

    # ------------------------------------------------- ResumableJobMixin (Airflow 3.3+) ----
    def submit_job(self, context: Context) -> int:
        """Submit the job (or re-attach to it by the core's key); its id, which Airflow keeps
        in the task state store for the next try."""
        supervisor = self._supervisor(self._client, self._settings, self._job(context))
        self._active = supervisor
        submitted = supervisor.start()
        for warning in submitted.warnings:
            self.log.warning("slurmrestd: %s", warning)
        verb = "re-attached to" if submitted.attached else "submitted"
        self._announce(context, submitted.job_id, f"{verb} SLURM job %s (key %s)")
        return submitted.job_id

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """The stored job's state as Slurm names it (``GONE`` once Slurm forgot the job)."""
        from slurm_core import NotFoundError  # import cost: see the imports at the top

        try:
            return str(self._client.jobs.get(int(external_id)).state)
        except NotFoundError:
            return GONE

    def is_job_active(self, status: str) -> bool:
        return is_active(status)

    def is_job_succeeded(self, status: str) -> bool:
        return is_succeeded(status)

    def poll_until_complete(self, external_id: Any, context: Context) -> dict[str, Any]:
        """Follow the job to its end here or, deferrable, in the triggerer; the task's
        payload (the mixin returns it when it re-attached)."""
        from slurm_core.lifecycle import DependencyNeverSatisfiedError

        job_id = int(external_id)
        supervisor = self._active
        if supervisor is None or supervisor.job_id != job_id:
            # The mixin found this task instance's job in the task state store.
            supervisor = self._supervisor(self._client, self._settings, job_id)
            self._active = supervisor
            found = "re-attached to SLURM job %s (task state store, key %s)"
            self._announce(context, job_id, found)
        if not self.wait_for_completion:
            self._payload = event_payload(
                "success", job_id, None, message=f"job {job_id} submitted"
            )
            return self._payload
        if self.deferrable:
            self._active = None
            self.defer(
                trigger=SlurmJobTrigger(
                    job_id=job_id,
                    conn_id=self.slurm_conn_id,
                    poll_interval=self._interval(self._settings),
                    cancel_on_kill=self.cancel_on_kill,
                    log_output=self.log_output,
                ),
                method_name="execute_complete",
                timeout=self.execution_timeout,
            )
        try:
            outcome = supervisor.run(raise_on_failure=False)
        except DependencyNeverSatisfiedError as exc:
            raise AirflowFailException(str(exc)) from None
        finally:
            self._active = None
        if self._stopped is not None:
            # Airflow stopped the task (marked failed, killed): say so, not "job CANCELLED".
            raise AirflowTaskTerminated(
                f"task stopped by Airflow ({self._stopped}); SLURM job {job_id} "
                f"{'cancelled' if self.cancel_on_kill else 'left running'}"
            )
        payload = event_payload(
            "success" if outcome.ok else "error",
            job_id,
            outcome.state,
            exit_code=outcome.exit_code,
            reason=outcome.reason,
        )
        self._payload = self._end(context, payload)
        return self._payload

    def get_job_result(self, external_id: Any, context: Context) -> dict[str, Any]:
        """The task's payload; for a job an earlier try saw complete, read from Slurm."""
        if self._payload is not None and self._payload["job_id"] == int(external_id):
            return self._payload
        job = self._client.jobs.get(int(external_id))
        self._announce(context, job.job_id, "SLURM job %s (key %s) completed in an earlier try")
        code = job.exit_code
        return self._end(
            context,
            event_payload(
                "success",
                job.job_id,
                str(job.state.base),
                exit_code=code.return_code if code else None,
                reason=None,
            ),
        )

    def _announce(self, context: Context, job_id: int, message: str) -> None:
        self.job_id = job_id
        self.log.info(message, job_id, self._key)
        context["ti"].xcom_push(key="job_id", value=job_id)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`SlurmJobTrigger` fired: finish, or fail with the job's fate."""
        self.job_id = event["job_id"]
        if event.get("upstream_job_id") is not None:
            raise AirflowFailException(event.get("message"))
        if event.get("state") is None:
            raise AirflowException(event.get("message") or f"job {self.job_id}: no final state")
        return self._end(context, event)

    def _end(self, context: Context, payload: dict[str, Any]) -> dict[str, Any]:
        code = payload.get("exit_code")
        if payload.get("status") != "success":
            if code is not None and code in self.skip_on_exit_code:
                raise AirflowSkipException(
                    f"SLURM job {payload['job_id']} exited with code {code} (skip_on_exit_code)"
                )
            raise SlurmJobFailedException(
                payload["job_id"], payload["state"], code, payload.get("reason")
            )
        ti = context["ti"]
        ti.xcom_push(key="state", value=payload["state"])
        ti.xcom_push(key="exit_code", value=code)
        self.log.info("SLURM job %s ended %s", payload["job_id"], payload["state"])
        return payload

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        from slurm_core.lifecycle import CancelReason

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            # The core's policy: a time-out is the task's, so the job is cancelled.
            self._cancel_deferred(context, CancelReason.TIMED_OUT)
            raise
        except TaskDeferralError:
            # The trigger failed (our side, not the job): the job runs on, the retry
            # re-attaches to it by the task's key.
            self._cancel_deferred(context, CancelReason.SUPERVISOR_FAILED)
            raise

    def _cancel_deferred(self, context: Context, reason: CancelReason) -> None:
        job_id = context["ti"].xcom_pull(task_ids=self.task_id, key="job_id")
        if job_id is None or not self.cancel_on_kill:
            return
        from slurm_core.lifecycle import JobSupervisor

        with self.hook.get_client() as client:
            if JobSupervisor(client, int(job_id)).cancel(reason):
                self.log.info("cancelled SLURM job %s (%s)", job_id, reason)

    def on_kill(self) -> None:
        """Airflow stops the task (marked failed, killed, timed out): the core's cancel
        policy applies to the job (unless ``cancel_on_kill=False``)."""
        from slurm_core.lifecycle import CancelReason

        self._stopped = "killed"
        supervisor = self._active
        if supervisor is None or not self.cancel_on_kill or supervisor.job_id is None:
            return
        from slurm_core.lifecycle import JobSupervisor

        # A client of its own: this runs in a signal handler, maybe inside a request of the
        # supervisor's client.
        try:
            with self.hook.get_client() as client:
                if JobSupervisor(client, supervisor.job_id).cancel(
                    CancelReason.ORCHESTRATOR_KILLED
                ):
                    self.log.info("cancelled SLURM job %s", supervisor.job_id)
        except SlurmError as exc:
            self.log.error("could not cancel SLURM job %s: %s", supervisor.job_id, exc)
