"""``SlurmJob``: a reusable SLURM job definition as a Prefect ``JobBlock``.

``trigger()`` submits the job and returns a :class:`SlurmJobRun`;
``wait_for_completion()`` follows it (logging each state change to the run logger) and
raises :class:`~slurm_core.JobFailedError` if it ends badly; ``fetch_result()`` returns a
:class:`SlurmJobResult` (final state, exit code, and stdout when the output file can be
read through the client's shared-filesystem reader). Every method works in sync and async
code, like Prefect's own blocks: in a sync context it runs on
:class:`~slurm_core.SlurmClient`, in an async one it returns a coroutine running on
:class:`~slurm_core.AsyncSlurmClient`. The ``a``-prefixed twins (``atrigger``,
``await_for_completion``, ``afetch_result``, ``acancel``) are the typed async API.

Example::

    from prefect import flow
    from slurm_prefect import SlurmCredentials, SlurmJob

    @flow
    def nightly() -> None:
        job = SlurmJob(
            credentials=SlurmCredentials.load("hpc"),
            command=["python", "etl.py"],
            partition="debug",
            time_limit="30:00",
        )
        run = job.trigger()
        run.wait_for_completion()
        print(run.fetch_result().stdout)
"""

from __future__ import annotations

from typing import Any, ClassVar

from prefect.blocks.abstract import JobBlock, JobRun
from prefect.types import SecretDict
from pydantic import Field, HttpUrl, model_validator

from slurm_core.jobs import JobBuilder, JobSpec
from slurm_prefect import _run
from slurm_prefect._dispatch import sync_or_async
from slurm_prefect._run import SlurmJobResult
from slurm_prefect.credentials import DOCS_URL, LOGO_URL, SlurmCredentials

__all__ = ["SlurmJob", "SlurmJobResult", "SlurmJobRun"]

# Block field -> JobSpec field, for the fields a block spells out.
_SPEC_FIELDS: dict[str, str] = {
    "job_name": "name",
    "partition": "partition",
    "account": "account",
    "qos": "qos",
    "time_limit": "time_limit",
    "nodes": "nodes",
    "ntasks": "ntasks",
    "cpus_per_task": "cpus_per_task",
    "memory_per_node": "memory_per_node",
    "memory_per_cpu": "memory_per_cpu",
    "gpus": "gpus",
    "working_directory": "working_directory",
    "output": "output",
    "error": "error",
}


class SlurmJobRun(JobRun[SlurmJobResult]):
    """One submitted SLURM job, as returned by :meth:`SlurmJob.trigger`.

    ``wait_for_completion()`` cancels the job if the wait is interrupted (the flow run is
    cancelled, the task killed) or if ``wait_timeout`` passes first. In async code use the
    ``a``-prefixed twins (``await run.await_for_completion()``) for precise types.
    """

    def __init__(
        self,
        job_id: int | str,
        credentials: SlurmCredentials,
        *,
        wait_timeout: float | None = None,
        fetch_output: bool = True,
    ) -> None:
        self.job_id = job_id
        self.credentials = credentials
        self.wait_timeout = wait_timeout
        self.fetch_output = fetch_output

    def __repr__(self) -> str:
        return f"SlurmJobRun(job_id={self.job_id!r}, url={self.credentials.url!r})"

    async def await_for_completion(self) -> None:
        """Async :meth:`wait_for_completion`."""
        async with self.credentials.get_async_client() as client:
            await _run.await_job(
                client, self.credentials, self.job_id, self.logger, wait_timeout=self.wait_timeout
            )

    @sync_or_async(await_for_completion)
    def wait_for_completion(self) -> None:  # type: ignore[override]
        """Wait until the job ends, logging its state changes; raise if it did not succeed.

        Raises :class:`~slurm_core.JobFailedError` (state, exit code, reason) for a job that
        failed, was cancelled, timed out..., and :class:`~slurm_core.watch.WaitTimeoutError`
        (after cancelling the job) once ``wait_timeout`` seconds have passed.
        """
        with self.credentials.get_client() as client:
            _run.wait_job(
                client, self.credentials, self.job_id, self.logger, wait_timeout=self.wait_timeout
            )

    async def afetch_result(self) -> SlurmJobResult:
        """Async :meth:`fetch_result`."""
        async with self.credentials.get_async_client() as client:
            return await _run.aresult(client, self.job_id, fetch_output=self.fetch_output)

    @sync_or_async(afetch_result)
    def fetch_result(self) -> SlurmJobResult:  # type: ignore[override]
        """The job's state, exit code and (if readable) standard output, as it is now."""
        with self.credentials.get_client() as client:
            return _run.result(client, self.job_id, fetch_output=self.fetch_output)

    async def acancel(self) -> None:
        """Async :meth:`cancel`."""
        async with self.credentials.get_async_client() as client:
            await client.jobs.cancel(self.job_id)

    @sync_or_async(acancel)
    def cancel(self) -> None:
        """Cancel the job (like ``scancel``)."""
        with self.credentials.get_client() as client:
            client.jobs.cancel(self.job_id)


# JobBlock, not JobBlock[SlurmJobResult]: pydantic would make the parametrised class a Block
# of its own, which Prefect then registers as a stray "jobblock-slurmjobresult" block type.
class SlurmJob(JobBlock):  # type: ignore[type-arg]
    """A SLURM batch job to run from Prefect: a script or command plus its resources.

    Give either ``script`` (a whole batch script starting with ``#!``) or ``command`` (one
    program and its arguments). Any other submission option of slurm-client's ``JobSpec``
    (``constraint``, ``exclusive``, ``dependency``, ``array``...) goes in ``options``.

    Example:
        Run a job and read its output:
        ```python
        from slurm_prefect import SlurmCredentials, SlurmJob

        job = SlurmJob(
            credentials=SlurmCredentials.load("hpc"),
            command=["python", "train.py"],
            partition="gpu",
            gpus="2",
        )
        run = job.trigger()
        run.wait_for_completion()
        print(run.fetch_result())
        ```
    """

    _block_type_name: ClassVar[str] = "SLURM Job"
    _block_type_slug: ClassVar[str] = "slurm-job"
    _documentation_url: ClassVar[HttpUrl] = HttpUrl(DOCS_URL)
    _logo_url: ClassVar[HttpUrl] = HttpUrl(LOGO_URL)
    _code_example: ClassVar[str] = """
        ```python
        from slurm_prefect import SlurmJob

        slurm_job = SlurmJob.load("BLOCK_NAME")
        run = slurm_job.trigger()
        run.wait_for_completion()
        result = run.fetch_result()
        ```
    """

    credentials: SlurmCredentials = Field(
        default=..., description="The cluster to submit to and how to authenticate."
    )
    script: str | None = Field(
        default=None,
        description="The batch script, starting with a '#!' line (or give command).",
    )
    command: list[str] | None = Field(
        default=None,
        description="A program and its arguments to run as the job (or give script).",
    )
    job_name: str | None = Field(default=None, description="The job name (--job-name).")
    partition: str | None = Field(
        default=None, description="The partition, or a comma-separated list of partitions."
    )
    account: str | None = Field(default=None, description="The account to charge.")
    qos: str | None = Field(default=None, description="The quality of service.")
    time_limit: str | None = Field(
        default=None,
        description="Wall-clock limit such as '30:00', '2:00:00' or '1-00:00:00'.",
    )
    nodes: int | None = Field(default=None, ge=1, description="Number of nodes.")
    ntasks: int | None = Field(default=None, ge=1, description="Number of tasks.")
    cpus_per_task: int | None = Field(default=None, ge=1, description="CPUs for each task.")
    memory_per_node: str | None = Field(
        default=None, description="Memory per node, e.g. '16G' (exclusive with memory_per_cpu)."
    )
    memory_per_cpu: str | None = Field(
        default=None, description="Memory per CPU, e.g. '4G' (exclusive with memory_per_node)."
    )
    gpus: str | None = Field(
        default=None, description="GPUs for the whole job: a count such as '2', or 'a100:2'."
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Environment variables for the job."
    )
    # SecretDict, not dict[str, SecretStr]: Prefect's server obfuscates the values of the
    # former in block documents but stores the latter in clear text.
    secret_environment: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        description="Environment variables whose values are kept secret in the block.",
    )
    working_directory: str | None = Field(
        default=None, description="The directory the job runs in, on the cluster."
    )
    output: str | None = Field(
        default=None,
        description="Standard output file, e.g. '/shared/logs/%x-%j.out' (Slurm patterns).",
    )
    error: str | None = Field(default=None, description="Standard error file (patterns allowed).")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other JobSpec field in its JSON form, e.g. {'constraint': 'a100'}.",
    )
    wait_timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds to wait for the job before cancelling it; no limit when empty.",
    )
    fetch_output: bool = Field(
        default=True, description="Read the job's standard output into the result."
    )

    @model_validator(mode="after")
    def _check(self) -> SlurmJob:
        if (self.script is None) == (self.command is None):
            raise ValueError("give exactly one of script and command")
        unknown = sorted(set(self.options) - set(JobSpec.model_fields))
        if unknown:
            raise ValueError(f"options has unknown JobSpec fields: {', '.join(unknown)}")
        clashes = sorted(set(self.options) & {"script", "environment", *_SPEC_FIELDS.values()})
        if clashes:
            raise ValueError(f"set {', '.join(clashes)} with the block's own fields, not options")
        self.to_spec()  # JobSpecError (a ValueError) names the field
        return self

    @classmethod
    def from_spec(cls, spec: JobSpec, credentials: SlurmCredentials, **fields: Any) -> SlurmJob:
        """A block holding a stored :class:`~slurm_core.jobs.JobSpec` (e.g. from a builder).

        Example::

            spec = JobBuilder().command(["hostname"]).partition("debug").to_spec()
            SlurmJob.from_spec(spec, credentials).save("hostname")
        """
        data = spec.model_dump(mode="json", exclude_defaults=True)
        script = data.pop("script")
        environment = data.pop("environment", {})
        own = {block: data.pop(field) for block, field in _SPEC_FIELDS.items() if field in data}
        for block in ("memory_per_node", "memory_per_cpu"):  # MiB in a spec
            if block in own:
                own[block] = f"{own[block]}M"
        if spec.gpus is not None:
            count = str(spec.gpus.count)
            own["gpus"] = f"{spec.gpus.type}:{count}" if spec.gpus.type else count
        return cls(
            credentials=credentials,
            script=script,
            environment=environment,
            options=data,
            **{**own, **fields},
        )

    def to_spec(self) -> JobSpec:
        """The job as a validated :class:`~slurm_core.jobs.JobSpec`."""
        values: dict[str, Any] = dict(self.options)
        if self.command is not None:
            values["script"] = JobBuilder().command(self.command).to_spec().script
        else:
            values["script"] = self.script
        for block, field in _SPEC_FIELDS.items():
            value = getattr(self, block)
            if value is not None:
                values[field] = value
        environment = dict(self.environment)
        environment.update(self.secret_environment.get_secret_value())
        if environment:
            values["environment"] = environment
        return JobSpec.model_validate(values)

    async def atrigger(self) -> SlurmJobRun:
        """Async :meth:`trigger`."""
        async with self.credentials.get_async_client() as client:
            submitted = await _run.asubmit(client, self.credentials, self.to_spec(), self.logger)
        return self._run(submitted.job_id)

    @sync_or_async(atrigger)
    def trigger(self) -> SlurmJobRun:  # type: ignore[override]
        """Submit the job; returns a :class:`SlurmJobRun` to wait on and read results from."""
        with self.credentials.get_client() as client:
            submitted = _run.submit(client, self.credentials, self.to_spec(), self.logger)
        return self._run(submitted.job_id)

    def _run(self, job_id: int | str) -> SlurmJobRun:
        return SlurmJobRun(
            job_id, self.credentials, wait_timeout=self.wait_timeout, fetch_output=self.fetch_output
        )
