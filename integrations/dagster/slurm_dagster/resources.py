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

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Any

from dagster import (
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    DagsterInvariantViolationError,
    EnvVar,
    Failure,
)
from pydantic import Field, PrivateAttr, model_validator

from slurm_core import (
    AsyncSlurmClient,
    ConfigurationError,
    JobFailedError,
    JWTKeyAuth,
    SlurmClient,
    StaticToken,
    TokenCommand,
    TokenFile,
)
from slurm_dagster._jobs import (
    AsyncJobInput,
    JobInput,
    SlurmJobRun,
    abind,
    acancel_quietly,
    afollow,
    bind,
    cancel_quietly,
    failure_metadata,
    follow,
    job_metadata,
)

if TYPE_CHECKING:
    from dagster import AssetExecutionContext, InitResourceContext, OpExecutionContext

    from slurm_core.auth import TokenProvider

__all__ = ["SlurmResource"]

_LOG = logging.getLogger("slurm_dagster")

AUTH_FIELDS = ("token", "token_file", "token_command", "jwt_key_file")


class SlurmResource(ConfigurableResource):  # type: ignore[type-arg]
    """A slurmrestd endpoint and credentials; hands steps a ``slurm_core`` client and runs
    jobs for them.

    Set exactly one of ``token``, ``token_file``, ``token_command`` or ``jwt_key_file``
    (a clear :class:`~slurm_core.ConfigurationError` names them otherwise). ``user_name`` is
    sent as ``X-SLURM-USER-NAME`` (required with ``jwt_key_file``; otherwise taken from the
    token when left out). ``ca_bundle`` with ``verify_tls=False`` is refused (they
    contradict each other).

    Example::

        slurm = SlurmResource(url="http://127.0.0.1:6820", token=EnvVar("SLURM_JWT"))
        with slurm.get_client() as client:
            print(client.diag().jobs_running)
    """

    url: str = Field(description="slurmrestd base URL, e.g. https://slurm.example:6820")
    token: str | None = Field(
        default=None,
        repr=False,
        description="A JWT for slurmrestd. Use EnvVar('SLURM_JWT') so the value stays out of "
        "the stored run config.",
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

    _in_flight: set[int] = PrivateAttr(default_factory=set)
    """Jobs an ``arun_job`` of this run submitted and has not seen end (see teardown)."""

    # ------------------------------------------------------------------ configuration
    @model_validator(mode="after")
    def _one_auth_method(self) -> SlurmResource:
        self.auth_method()
        return self

    def auth_method(self) -> str:
        """The one auth field that is set; :class:`~slurm_core.ConfigurationError` otherwise.

        Example::

            SlurmResource(url=u, token_file="~/.slurm/jwt").auth_method()   # "token_file"
        """
        given = [name for name in AUTH_FIELDS if getattr(self, name) not in (None, "", [])]
        if len(given) != 1:
            found = "none of them" if not given else " and ".join(given)
            raise ConfigurationError(
                "SlurmResource: set exactly one auth method of "
                f"{', '.join(AUTH_FIELDS)}; got {found}"
            )
        if given[0] == "jwt_key_file" and not self.user_name:
            raise ConfigurationError("SlurmResource: jwt_key_file needs user_name (the 'sun')")
        if (self.client_key is not None) and self.client_cert is None:
            raise ConfigurationError("SlurmResource: client_key needs client_cert")
        if self.ca_bundle and not self.verify_tls:
            # Either field alone says what the user means; together they contradict.
            raise ConfigurationError("SlurmResource: ca_bundle given with verify_tls false")
        return given[0]

    def token_provider(self) -> TokenProvider:
        """The ``slurm_core`` token provider for the configured auth method."""
        method = self.auth_method()
        if method == "token":
            return StaticToken(secret_value(self.token), user_name=self.user_name)
        if method == "token_file":
            return TokenFile(str(self.token_file), user_name=self.user_name)
        if method == "token_command":
            return TokenCommand(list(self.token_command or ()), user_name=self.user_name)
        return JWTKeyAuth(
            str(self.jwt_key_file),
            user_name=str(self.user_name),
            lifespan=float(self.jwt_lifespan_seconds),
        )

    def _client_kwargs(self) -> dict[str, Any]:
        verify: bool | str | ssl.SSLContext = self.ca_bundle or self.verify_tls
        kwargs: dict[str, Any] = {
            "auth": self.token_provider(),
            "api_version": self.api_version,
            "verify": verify,
        }
        if self.client_cert:
            kwargs["cert"] = (
                (self.client_cert, self.client_key) if self.client_key else self.client_cert
            )
        if self.request_timeout_seconds is not None:
            kwargs["timeout"] = self.request_timeout_seconds
        return kwargs

    def get_client(self) -> SlurmClient:
        """A new blocking client (close it, or use it in a ``with`` block).

        Example::

            with slurm.get_client() as client:
                job = client.jobs.get(42)
        """
        return SlurmClient(self.url, **self._client_kwargs())

    def get_async_client(self) -> AsyncSlurmClient:
        """A new async client (``async with slurm.get_async_client() as client: ...``)."""
        return AsyncSlurmClient(self.url, **self._client_kwargs())

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Cancel the jobs this run submitted and never saw end.

        ``run_job`` cancels its job itself when the run is terminated. ``arun_job`` cannot:
        the termination interrupts the step's event loop, not the coroutine waiting in it
        (which Dagster then abandons), so its job is cancelled here, when Dagster tears the
        run's resources down (which it does on termination too).
        """
        if not self._in_flight:
            return
        log = context.log if context.log is not None else _LOG
        with self.get_client() as client:
            for job_id in sorted(self._in_flight):
                cancel_quietly(client, job_id, log, "run ended before the job")
        self._in_flight.clear()

    # ------------------------------------------------------------------ running jobs
    def run_job(
        self,
        job: JobInput,
        context: AssetExecutionContext | OpExecutionContext,
        *,
        timeout: float | None = None,
        add_output_metadata: bool = True,
    ) -> SlurmJobRun:
        """Submit ``job``, follow it to the end and return the finished job.

        ``job`` is a :class:`~slurm_core.jobs.JobSpec`, a builder, or a function making a
        builder from the step's client, for presets whose ``execute()`` does more than
        submit a spec (``lambda c: c.jobs.submit(TrainingJob)...with_checkpointing()``).

        State changes go to ``context.log``; the job id, state, exit code, nodes and elapsed
        time become the step output's metadata (``add_output_metadata``) and are on the
        returned :class:`SlurmJobRun`. A job that ends badly fails the step with a
        :class:`dagster.Failure` naming its state, exit code and reason. If the step stops
        waiting before the job ends (the run is terminated, ``timeout`` passes, the
        connection fails), the job is cancelled.

        Example::

            @asset
            def trained(context, slurm: SlurmResource) -> MaterializeResult:
                job = lambda c: c.jobs.submit(TrainingJob).command(argv).with_gpus(1)
                run = slurm.run_job(job, context, add_output_metadata=False)
                return MaterializeResult(metadata=run.metadata)
        """
        log = context.log
        with self.get_client() as client:
            builder = bind(client, job)
            submitted = builder.execute()
            job_id = submitted.job_id
            log.info(f"submitted SLURM job {job_id} ({builder.to_spec().name or 'unnamed'})")
            for warning in submitted.warnings:
                log.warning(f"SLURM job {job_id}: {warning}")
            self._in_flight.add(job_id)  # until it ends or is cancelled (see teardown)
            try:
                final = follow(client, job_id, log, timeout)
            except JobFailedError as exc:
                self._in_flight.discard(job_id)
                raise _failure(exc) from None
            except DagsterExecutionInterruptedError:
                cancel_quietly(client, job_id, log, "run terminated")
                self._in_flight.discard(job_id)
                raise
            except BaseException:
                cancel_quietly(client, job_id, log, "step stopped waiting")
                self._in_flight.discard(job_id)
                raise
            self._in_flight.discard(job_id)
        return _finish(final, context, add_output_metadata)

    async def arun_job(
        self,
        job: AsyncJobInput,
        context: AssetExecutionContext | OpExecutionContext,
        *,
        timeout: float | None = None,
        add_output_metadata: bool = True,
    ) -> SlurmJobRun:
        """Async twin of :meth:`run_job` (for ``async def`` assets and ops)."""
        log = context.log
        async with self.get_async_client() as client:
            builder = abind(client, job)
            submitted = await builder.execute()
            job_id = submitted.job_id
            log.info(f"submitted SLURM job {job_id} ({builder.to_spec().name or 'unnamed'})")
            for warning in submitted.warnings:
                log.warning(f"SLURM job {job_id}: {warning}")
            self._in_flight.add(job_id)  # until it ends or is cancelled (see teardown)
            try:
                final = await afollow(client, job_id, log, timeout)
            except JobFailedError as exc:
                self._in_flight.discard(job_id)
                raise _failure(exc) from None
            except (Exception, asyncio.CancelledError):
                # An error, a timeout, or this task cancelled while the loop still runs.
                await acancel_quietly(client, job_id, log, "step stopped waiting")
                self._in_flight.discard(job_id)
                raise
            self._in_flight.discard(job_id)
        return _finish(final, context, add_output_metadata)


def secret_value(value: str | None) -> str:
    """A secret field's value, whether Dagster resolved its ``EnvVar`` yet or not."""
    # Dagster resolves an EnvVar when it initializes the resource; a resource used outside
    # a run (a script, a test) still holds the EnvVar itself.
    if isinstance(value, EnvVar):
        return value.get_value() or ""
    return value or ""


def _failure(exc: JobFailedError) -> Failure:
    return Failure(
        description=f"SLURM {exc}",
        metadata=failure_metadata(int(exc.job_id), exc.state, exc.exit_code, exc.reason),
    )


def _finish(
    final: Any, context: AssetExecutionContext | OpExecutionContext, add: bool
) -> SlurmJobRun:
    run = SlurmJobRun(job=final, metadata=job_metadata(final))
    if add:
        try:
            context.add_output_metadata(dict(run.metadata))
        except DagsterInvariantViolationError:
            # Several outputs and none named: the caller attaches run.metadata itself.
            context.log.debug("step has several outputs: SLURM metadata left on the result")
    return run
