"""``SlurmResource``: connection settings for slurmrestd, and running a job from a step.

Credentials are given by exactly one of ``token`` (best as ``EnvVar("SLURM_JWT")``, so the
token stays out of the run's stored config), ``token_file``, ``token_command`` or
``jwt_key_file``. The token never appears in the resource's repr, in logs or in metadata.

Example::

    from dagster import AssetExecutionContext, Definitions, EnvVar, asset
    from slurm_core.jobs import JobBuilder
    from slurm_dagster import SlurmResource

    @asset
    def report(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        job = JobBuilder().script("#!/bin/bash\\nsrun hostname").partition("debug")
        slurm.run_job(job, context)          # submits, waits, logs, attaches metadata

    defs = Definitions(
        assets=[report],
        resources={"slurm": SlurmResource(url="https://slurm.example:6820",
                                          token=EnvVar("SLURM_JWT"), user_name="alice")},
    )
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, cast

from dagster import (
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    DagsterInvariantViolationError,
    Failure,
    MetadataValue,
)
from pydantic import Field, PrivateAttr, model_validator

from slurm_core import AsyncSlurmClient, JobFailedError, SlurmClient, SlurmError
from slurm_core.config import ClientSettings
from slurm_core.jobs import SharedFilesystemReader
from slurm_core.lifecycle import (
    AsyncJobSupervisor,
    CancelReason,
    DependencyNeverSatisfiedError,
    JobOutcome,
    JobSupervisor,
    OutputLine,
)
from slurm_dagster._jobs import (
    AsyncJobInput,
    JobInput,
    SlurmJobRun,
    abind,
    bind,
    describe_event,
    failure_metadata,
    job_metadata,
    output_metadata,
    step_key,
)
from slurm_dagster._settings import parse as _parse

if TYPE_CHECKING:
    from dagster import AssetExecutionContext, InitResourceContext, OpExecutionContext

    from slurm_core.auth import TokenProvider
    from slurm_core.jobs.output import OutputReader

__all__ = ["SlurmResource"]

_LOG = logging.getLogger("slurm_dagster")

AUTH_FIELDS = ("token", "token_file", "token_command", "jwt_key_file")


def _secret(description: str) -> Any:
    return Field(default=None, repr=False, description=description)


class SlurmResource(ConfigurableResource):  # type: ignore[type-arg]
    """A slurmrestd endpoint and credentials; hands steps a ``slurm_core`` client and runs
    jobs for them.

    The fields go through :func:`slurm_core.config.settings_from_mapping`, the parser every
    adapter shares: exactly one of ``token``, ``token_file``, ``token_command`` or
    ``jwt_key_file``, and a :class:`~slurm_core.ConfigurationError` naming the field
    otherwise. ``user_name`` is sent as ``X-SLURM-USER-NAME`` (required with
    ``jwt_key_file``). ``ca_bundle`` with ``verify_tls=False`` is refused.

    Example::

        slurm = SlurmResource(url="http://127.0.0.1:6820", token=EnvVar("SLURM_JWT"))
        with slurm.get_client() as client:
            print(client.diag().jobs_running)
    """

    url: str = Field(description="slurmrestd base URL, e.g. https://slurm.example:6820")
    token: str | None = _secret(
        "A JWT for slurmrestd. Use EnvVar('SLURM_JWT') so the value stays out of "
        "the stored run config."
    )
    token_file: str | None = Field(
        default=None,
        description="File holding the token (re-read when it changes; SLURM_JWT=... accepted).",
    )
    token_command: list[str] | None = Field(
        default=None,
        description="Command printing a token, e.g. ['scontrol', 'token', 'lifespan=3600'].",
    )
    jwt_key_file: str | None = Field(
        default=None,
        description="The cluster's HS256 JWT key: tokens are minted locally for user_name.",
    )
    jwt_lifespan_seconds: int = Field(
        default=1800, description="Lifespan of tokens minted from jwt_key_file."
    )
    user_name: str | None = Field(default=None, description="SLURM user name (X-SLURM-USER-NAME).")
    api_version: str | None = Field(
        default=None,
        description="Pin the REST API version (e.g. 'v0.0.42'); negotiated when unset.",
    )
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate.")
    ca_bundle: str | None = Field(
        default=None, description="CA bundle (PEM) to verify the server against."
    )
    client_cert: str | None = Field(default=None, description="Client certificate (PEM).")
    client_key: str | None = Field(default=None, description="Client certificate's key (PEM).")
    request_timeout_seconds: float | None = Field(
        default=None, description="Timeout of each HTTP request (the client's default if unset)."
    )
    poll_interval_seconds: float | None = Field(
        default=None,
        description="Longest pause between two polls of a running job (the client's adaptive "
        "interval when unset).",
    )
    working_directory: str | None = Field(
        default=None,
        description="Working directory (absolute, on the cluster) of jobs that set none.",
    )
    forward_output: bool = Field(
        default=True,
        description="Copy the job's stdout/stderr into the step's compute logs while it runs.",
    )
    output_roots: list[str] | None = Field(
        default=None,
        description="Directories the job's output files must lie in to be read (recommended "
        "when other users' jobs write output here).",
    )
    watch_fleet: str | None = _secret(
        "A Redis URL (redis://[:password@]host:6379/0): the run processes share their job "
        "polls through it (use an EnvVar when it holds a password)."
    )
    oidc_issuer: str | None = Field(default=None, description="OIDC issuer URL (#23).")
    oidc_client_id: str | None = Field(default=None, description="OIDC client id.")
    oidc_client_secret: str | None = _secret("OIDC client secret (use an EnvVar).")
    oidc_grant: str | None = Field(default=None, description="OIDC grant type.")
    oidc_scope: str | None = Field(default=None, description="OIDC scope.")
    oidc_audience: str | None = Field(default=None, description="OIDC audience.")
    oidc_token_endpoint: str | None = Field(default=None, description="OIDC token endpoint.")
    oidc_refresh_token: str | None = _secret("OIDC refresh token (use an EnvVar).")
    oidc_refresh_token_file: str | None = Field(
        default=None, description="File holding the OIDC refresh token."
    )
    oidc_keyring: str | None = Field(default=None, description="Keyring entry of the token.")
    oidc_ca_bundle: str | None = Field(default=None, description="CA bundle of the provider.")
    oidc_verify: bool | None = Field(default=None, description="Verify the provider's TLS.")
    oidc_timeout: float | None = Field(default=None, description="Provider request timeout.")

    _in_flight: set[int] = PrivateAttr(default_factory=set)
    """Jobs an ``arun_job`` of this run submitted and has not seen end (see teardown)."""
    _calls: dict[str, int] = PrivateAttr(default_factory=dict)
    """``run_job`` calls per step so far: the n-th call of a step gets the n-th key."""

    # ------------------------------------------------------------------ configuration
    @model_validator(mode="before")
    @classmethod
    def _valid_settings(cls, data: Any) -> Any:
        # Before pydantic turns an EnvVar into its name (Dagster restores it afterwards).
        if isinstance(data, dict):
            fields = cls.model_fields
            _parse(lambda name: data.get(name, fields[name].default), resolve=False)
        return data

    def _settings(self, *, resolve: bool = True) -> ClientSettings:
        return _parse(lambda name: getattr(self, name), resolve=resolve)

    def settings(self) -> ClientSettings:
        """The resolved :class:`~slurm_core.config.ClientSettings` (the shared parser's).

        Example::

            SlurmResource(url=u, token_file="~/.slurm/jwt").settings().poll_interval
        """
        return self._settings()

    def auth_method(self) -> str:
        """The one auth field that is set, or ``"oidc"`` (the parser refuses anything else).

        Example::

            SlurmResource(url=u, token_file="~/.slurm/jwt").auth_method()   # "token_file"
        """
        self._settings(resolve=False)
        given = [name for name in AUTH_FIELDS if getattr(self, name) not in (None, "", [])]
        return given[0] if given else "oidc"  # the parser accepted an identity provider

    def token_provider(self) -> TokenProvider:
        """The ``slurm_core`` token provider for the configured auth method."""
        return cast("TokenProvider", self.settings().auth)

    def get_client(self) -> SlurmClient:
        """A new blocking client (close it, or use it in a ``with`` block).

        Example::

            with slurm.get_client() as client:
                job = client.jobs.get(42)
        """
        return SlurmClient.from_settings(self.settings())

    def get_async_client(self) -> AsyncSlurmClient:
        """A new async client (``async with slurm.get_async_client() as client: ...``)."""
        return AsyncSlurmClient.from_settings(self.settings())

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Cancel the jobs this run's ``arun_job`` calls were abandoned on.

        ``run_job`` hands a terminated run to the supervisor's cancel policy itself.
        ``arun_job`` cannot: the termination interrupts the step's event loop, not the
        coroutine waiting in it (which Dagster then abandons), so its job is cancelled
        here, as the policy says for a killed task, when Dagster tears the run's resources
        down (which it does on termination too).
        """
        if not self._in_flight:
            return
        log = context.log if context.log is not None else _LOG
        with self.get_client() as client:
            for job_id in sorted(self._in_flight):
                log.info(f"run ended before the job: cancelling SLURM job {job_id}")
                try:
                    JobSupervisor(client, job_id).cancel(CancelReason.ORCHESTRATOR_KILLED)
                except SlurmError as exc:
                    log.warning(f"could not cancel SLURM job {job_id}: {exc}")
        self._in_flight.clear()

    # ------------------------------------------------------------------ running jobs
    def _key(self, context: AssetExecutionContext | OpExecutionContext, key: str | None) -> str:
        if key is not None:
            return key
        base = step_key(context)
        n = self._calls.get(base, 0) + 1
        self._calls[base] = n
        return base if n == 1 else f"{base}-{n}"

    def _reader(self, default: OutputReader) -> OutputReader:
        if self.output_roots:
            return SharedFilesystemReader(roots=list(self.output_roots))
        return default

    def _supervision(
        self, context: AssetExecutionContext | OpExecutionContext, key: str | None
    ) -> dict[str, Any]:
        log = context.log
        settings = self._settings(resolve=False)
        return {
            "key": self._key(context, key),
            "poll_interval": settings.poll_interval,
            "default_working_directory": settings.working_directory,
            "on_output": forward_line if self.forward_output else None,
            "on_event": lambda event: log.info(describe_event(event)),
            "classify": classify,
            # A job an earlier attempt left failed is not adopted: the retry submits anew.
            "reattach_failed": False,
        }

    def run_job(
        self,
        job: JobInput,
        context: AssetExecutionContext | OpExecutionContext,
        *,
        timeout: float | None = None,
        add_output_metadata: bool = True,
        key: str | None = None,
    ) -> SlurmJobRun:
        """Submit ``job`` (or re-attach to it), follow it to the end and return it.

        ``job`` is a :class:`~slurm_core.jobs.JobSpec`, a builder, or a function making a
        builder from the step's client (``lambda c: c.jobs.submit(TrainingJob)...``).

        The job runs under one :class:`~slurm_core.lifecycle.JobSupervisor`. Its
        submission key is the run's root run id plus the step key (plus a count for a
        second ``run_job`` of the same step), or ``key``: re-executing the step, or a step
        retry, re-attaches to the job instead of submitting another. Its stdout and stderr
        are copied into the step's compute logs while it runs (``forward_output``), state
        changes go to ``context.log``, and the job id, state, exit code, nodes, elapsed
        time and output paths become the step output's metadata (``add_output_metadata``)
        and are on the returned :class:`SlurmJobRun`.

        A job that ends badly, or that can never start (an ``afterok`` upstream failed),
        fails the step with a :class:`dagster.Failure` naming its state and reason. The
        core's cancel policy decides the rest: a terminated run or ``timeout`` cancels
        the job; a lost connection or a dying process does not (the next attempt
        re-attaches).

        Example::

            @asset
            def trained(context, slurm: SlurmResource) -> MaterializeResult:
                job = lambda c: c.jobs.submit(TrainingJob).command(argv).with_gpus(1)
                run = slurm.run_job(job, context, add_output_metadata=False)
                return MaterializeResult(metadata=run.metadata)
        """
        with self.get_client() as client:
            supervisor = JobSupervisor(
                client,
                bind(client, job),
                reader=self._reader(client.jobs.output_reader),
                **self._supervision(context, key),
            )
            submitted = supervisor.start()
            _log_submitted(context, submitted.job_id, submitted.attached, submitted.warnings)
            try:
                outcome = supervisor.run(timeout=timeout)
            except JobFailedError as exc:  # DependencyNeverSatisfiedError too
                raise _failure(exc, supervisor.outcome) from None
            except DagsterExecutionInterruptedError:
                context.log.info(f"run terminated: cancelling SLURM job {submitted.job_id}")
                raise
        return _finish(outcome, context, add_output_metadata)

    async def arun_job(
        self,
        job: AsyncJobInput,
        context: AssetExecutionContext | OpExecutionContext,
        *,
        timeout: float | None = None,
        add_output_metadata: bool = True,
        key: str | None = None,
    ) -> SlurmJobRun:
        """Async twin of :meth:`run_job` (for ``async def`` assets and ops)."""
        async with self.get_async_client() as client:
            supervisor = AsyncJobSupervisor(
                client,
                abind(client, job),
                reader=self._reader(client.jobs.output_reader),
                **self._supervision(context, key),
            )
            submitted = await supervisor.start()
            job_id = submitted.job_id
            _log_submitted(context, job_id, submitted.attached, submitted.warnings)
            self._in_flight.add(job_id)  # until supervision ends (see teardown)
            try:
                outcome = await supervisor.run(timeout=timeout)
            except JobFailedError as exc:  # DependencyNeverSatisfiedError too
                raise _failure(exc, supervisor.outcome) from None
            finally:
                # Supervision ended (the supervisor applied the cancel policy to whatever
                # stopped it): nothing left for teardown.
                self._in_flight.discard(job_id)
        return _finish(outcome, context, add_output_metadata)


def classify(exc: BaseException) -> CancelReason | None:
    """Dagster's exceptions as cancel reasons: a terminated run is a kill."""
    if isinstance(exc, DagsterExecutionInterruptedError):
        return CancelReason.ORCHESTRATOR_KILLED
    return None


def forward_line(line: OutputLine) -> None:
    """One line of the job's output into this process's stdout or stderr, which Dagster
    captures as the step's compute logs."""
    stream = sys.stderr if line.stream == "stderr" else sys.stdout
    stream.write(line.text if line.text.endswith("\n") else line.text + "\n")
    stream.flush()


def _log_submitted(
    context: AssetExecutionContext | OpExecutionContext,
    job_id: int,
    attached: bool,
    warnings: Any,
) -> None:
    log = context.log
    if attached:
        log.info(f"re-attached to SLURM job {job_id} (submitted by an earlier attempt)")
    else:
        log.info(f"submitted SLURM job {job_id}")
    for warning in warnings or ():
        log.warning(f"SLURM job {job_id}: {warning}")


def _failure(exc: JobFailedError, outcome: JobOutcome | None) -> Failure:
    md = failure_metadata(int(exc.job_id), exc.state, exc.exit_code, exc.reason)
    if isinstance(exc, DependencyNeverSatisfiedError):
        md["slurm_upstream_job_id"] = MetadataValue.text(str(exc.upstream_job_id))
        md["slurm_upstream_state"] = MetadataValue.text(exc.upstream_state)
    if outcome is not None and outcome.job is not None:
        md.update(output_metadata(outcome.job))
    return Failure(description=f"SLURM {exc}", metadata=md)


def _finish(
    outcome: JobOutcome, context: AssetExecutionContext | OpExecutionContext, add: bool
) -> SlurmJobRun:
    assert outcome.job is not None
    md = job_metadata(outcome.job)
    if outcome.submission_key:
        md["slurm_submission_key"] = MetadataValue.text(outcome.submission_key)
    md["slurm_attached"] = MetadataValue.bool(outcome.attached)
    run = SlurmJobRun(job=outcome.job, metadata=md)
    if add:
        try:
            context.add_output_metadata(dict(run.metadata))
        except DagsterInvariantViolationError:
            # Several outputs and none named: the caller attaches run.metadata itself.
            context.log.debug("step has several outputs: SLURM metadata left on the result")
    return run
