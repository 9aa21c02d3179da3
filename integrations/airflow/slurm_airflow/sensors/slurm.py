"""``SlurmJobSensor``: wait until a SLURM job reaches a state (poke or deferrable)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException

from slurm_airflow.exceptions import SlurmJobSensorFailedException
from slurm_airflow.hooks.slurm import DEFAULT_CONN_ID, SlurmHook
from slurm_airflow.triggers.slurm import SlurmJobTrigger, job_payload, normalize_states
from slurm_core._versions import validate_job_id

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["SlurmJobSensor"]


def _job_id(value: object) -> int | str:
    """A rendered job id (``42``, ``"42"``, ``" 42 "`` from a template, ``"40_2"``)."""
    if isinstance(value, str):
        value = value.strip()
        if value.isdigit():
            value = int(value)
    validate_job_id(value)
    assert isinstance(value, (int, str))
    return value


class SlurmJobSensor(BaseSensorOperator):
    """Wait for SLURM job ``job_id`` (templated) to reach one of ``target_states``.

    A job that ends in another final state, or reaches one of ``failure_states``, fails the
    sensor with :class:`~slurm_airflow.exceptions.SlurmJobSensorFailedException` (no retry:
    the job will not change its mind) -- or skips it with ``soft_fail=True``. ``timeout``,
    ``poke_interval``, ``mode="reschedule"`` and ``soft_fail`` behave as for any Airflow
    sensor; with ``deferrable=True`` the wait happens in the triggerer
    (:class:`~slurm_airflow.triggers.slurm.SlurmJobTrigger`, which polls at most every
    ``poke_interval`` seconds) and ``timeout`` bounds the deferral; ``deferrable`` defaults
    to Airflow's ``[operators] default_deferrable``. The sensor never cancels the job it
    watches (except, by the core's cancel policy, one that can never start).

    The XCom return value is ``{"status", "job_id", "state", "exit_code", "signal",
    "reason", "message"}``.

    Example::

        wait = SlurmJobSensor(
            task_id="wait_for_training",
            job_id="{{ ti.xcom_pull(task_ids='submit', key='job_id') }}",
            target_states=["COMPLETED"],
            deferrable=True,
            timeout=6 * 3600,
        )
    """

    template_fields: Sequence[str] = ("job_id",)
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        job_id: int | str,
        target_states: Sequence[str] = ("COMPLETED",),
        failure_states: Sequence[str] = (),
        slurm_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.target_states = normalize_states(target_states, "target_states")
        if not self.target_states:
            raise ValueError("target_states: name at least one state")
        self.failure_states = normalize_states(failure_states, "failure_states")
        both = set(self.target_states) & set(self.failure_states)
        if both:
            raise ValueError(f"states both target and failure: {', '.join(sorted(both))}")
        self.slurm_conn_id = slurm_conn_id
        self.deferrable = deferrable

    @property
    def hook(self) -> SlurmHook:
        return SlurmHook(self.slurm_conn_id)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        job_id = _job_id(self.job_id)
        with self.hook.get_client() as client:
            job = client.jobs.get(job_id)
        state = job.state
        name = str(state.base)
        # Settled: not on its way between two states (e.g. COMPLETED but still COMPLETING).
        settled = state.is_finished or state.is_running or state.is_pending
        if settled and name in self.target_states:
            self.log.info("job %s is %s", job_id, name)
            return PokeReturnValue(True, job_payload("success", job_id, job))
        if state.is_finished or (settled and name in self.failure_states):
            raise self._failure(job_payload("error", job_id, job))
        self.log.info("job %s is %s; waiting for %s", job_id, state, "/".join(self.target_states))
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=SlurmJobTrigger(
                job_id=_job_id(self.job_id),
                conn_id=self.slurm_conn_id,
                poll_interval=max(self.poke_interval, 0.1),
                target_states=self.target_states,
                failure_states=self.failure_states,
                cancel_on_kill=False,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired (``soft_fail`` is applied by Airflow on raise)."""
        if event.get("status") == "success":
            return event
        if event.get("state") is None:
            raise AirflowException(event.get("message") or f"job {event.get('job_id')}: unknown")
        raise self._failure(event)

    def _failure(self, payload: dict[str, Any]) -> SlurmJobSensorFailedException:
        return SlurmJobSensorFailedException(
            payload["job_id"], payload["state"], payload["exit_code"], payload["reason"]
        )
