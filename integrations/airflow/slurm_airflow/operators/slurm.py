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
from airflow.sdk.exceptions import AirflowException, TaskDeferralError, TaskDeferralTimeout

from slurm_airflow.exceptions import SlurmJobFailedException
from slurm_airflow.hooks.slurm import DEFAULT_CONN_ID, SlurmHook
from slurm_airflow.triggers.slurm import (
    DEFAULT_POLL_INTERVAL,
    SlurmJobTrigger,
    event_payload,
    job_payload,
)
from slurm_core import JobFailedError, SlurmError

if TYPE_CHECKING:
    from airflow.sdk import Context

    # Imported where used, not here: a DAG file imports this module on every parse, and
    # the job builders and the client are most of what importing slurm_core costs.
    from slurm_core import JobBuilder, JobSpec, SlurmClient

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


class SlurmSubmitJobOperator(BaseOperator):
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
        deferrable: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        log_output: bool = False,
        cancel_on_kill: bool = True,
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
        if not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
            raise ValueError(
                f"poll_interval must be a number of seconds > 0, got {poll_interval!r}"
            )
        if log_output and not wait_for_completion:
            raise ValueError("log_output needs wait_for_completion (the job must have ended)")

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
        self.poll_interval = float(poll_interval)
        self.log_output = log_output
        self.cancel_on_kill = cancel_on_kill
        self.job_id: int | None = None

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
                getattr(builder, setter)(value)
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

    def _submit(self, client: SlurmClient) -> int:
        from slurm_core import JobBuilder  # import cost: see the imports at the top
        from slurm_core.jobs import TrainingJob

        if self.job_spec is not None:
            submitted = client.jobs.submit_spec(_parse_spec(self.job_spec))
        else:
            preset = TrainingJob if self.checkpoint_dir is not None else JobBuilder
            submitted = self.build(client.jobs.submit(preset)).execute()
        for warning in submitted.warnings:
            self.log.warning("slurmrestd: %s", warning)
        return submitted.job_id

    # ------------------------------------------------------------------ running -----------
    def execute(self, context: Context) -> dict[str, Any]:
        with self.hook.get_client() as client:
            self.job_id = job_id = self._submit(client)
            self.log.info("submitted SLURM job %s", job_id)
            context["ti"].xcom_push(key="job_id", value=job_id)
            if not self.wait_for_completion:
                return event_payload("success", job_id, None, message=f"job {job_id} submitted")
            if self.deferrable:
                self.defer(
                    trigger=SlurmJobTrigger(
                        job_id=job_id,
                        conn_id=self.slurm_conn_id,
                        poll_interval=self.poll_interval,
                        cancel_on_kill=self.cancel_on_kill,
                    ),
                    method_name="execute_complete",
                    timeout=self.execution_timeout,
                )
            try:
                job = client.jobs.wait(job_id, max_interval=self.poll_interval)
            except JobFailedError as exc:
                self._log_output(client, job_id)
                raise SlurmJobFailedException.from_error(exc) from None
            self._log_output(client, job_id)
            return self._finish(context, job_payload("success", job_id, job))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after :class:`SlurmJobTrigger` fired: finish, or fail with the job's fate."""
        job_id = event["job_id"]
        self.job_id = job_id
        if self.log_output and event.get("state"):
            with self.hook.get_client() as client:
                self._log_output(client, job_id)
        if event.get("status") != "success":
            if event.get("state") is None:
                raise AirflowException(event.get("message") or f"job {job_id}: no final state")
            raise SlurmJobFailedException(
                job_id, event["state"], event.get("exit_code"), event.get("reason")
            )
        return self._finish(context, event)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context
    ) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralTimeout, TaskDeferralError):
            # The deferral timed out or the trigger broke: do not leave the job running.
            job_id = context["ti"].xcom_pull(task_ids=self.task_id, key="job_id")
            if job_id is not None and self.cancel_on_kill:
                self.job_id = int(job_id)
                self.on_kill()
            raise

    def _finish(self, context: Context, payload: dict[str, Any]) -> dict[str, Any]:
        ti = context["ti"]
        ti.xcom_push(key="state", value=payload["state"])
        ti.xcom_push(key="exit_code", value=payload["exit_code"])
        self.log.info("SLURM job %s ended %s", payload["job_id"], payload["state"])
        return payload

    def _log_output(self, client: SlurmClient, job_id: int | str) -> None:
        if not self.log_output:
            return
        try:
            text = client.jobs.output(job_id, stream="stdout")
        except (SlurmError, OSError) as exc:
            self.log.warning("cannot read the output of job %s: %s", job_id, exc)
            return
        self.log.info("output of SLURM job %s:\n%s", job_id, text)

    def on_kill(self) -> None:
        """Cancel the job this task submitted (unless ``cancel_on_kill=False``)."""
        if self.job_id is None or not self.cancel_on_kill:
            return
        with self.hook.get_client() as client:
            client.jobs.cancel(self.job_id)
        self.log.info("cancelled SLURM job %s", self.job_id)
