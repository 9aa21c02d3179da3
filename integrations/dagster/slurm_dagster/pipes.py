"""``PipesSlurmClient``: Dagster Pipes for code that runs as a SLURM job.

The client opens a Pipes session whose context file and message file live in a fresh
session directory under ``shared_dir`` (a filesystem the Dagster process and the cluster
nodes see at the same path), submits the job with the Pipes bootstrap environment added,
follows it through ``slurm_core``'s watcher, and hands Dagster what the job reported
(materializations, asset checks, log lines). When the run is terminated, the job is
cancelled.

Session directory (``<shared_dir>/<run id>/<step key>-<random>/``, mode 1777 since the job
runs as its SLURM user)::

    context.json      the Pipes context (written by Dagster, removed when the session ends)
    messages.jsonl    Pipes messages (appended by the job, tailed by Dagster, then removed)
    stdout.log        the job's standard output/error, when the spec sets no output of its
    stderr.log        own (copied to the step's compute logs when the job ends)

The job side needs ``dagster-pipes`` importable by the cluster's Python: list a directory
that holds it (e.g. a copy on the shared filesystem) in ``extra_pythonpath``.

Example::

    from dagster import AssetExecutionContext, Definitions, asset
        from slurm_dagster import PipesSlurmClient, SlurmResource

    @asset
    def scores(context: AssetExecutionContext, pipes_slurm: PipesSlurmClient):
        job = JobBuilder().command(["python3", "/shared/code/score.py"]).partition("debug")
        return pipes_slurm.run(context=context, job=job).get_materialize_result()

    defs = Definitions(assets=[scores], resources={"pipes_slurm": PipesSlurmClient(
        slurm=SlurmResource(url=..., token=EnvVar("SLURM_JWT")),
        shared_dir="/shared/dagster-pipes", extra_pythonpath=["/shared/pylib"])})

and in ``score.py``::

    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        pipes.log.info("scoring")
        pipes.report_asset_materialization(metadata={"rows": 42})
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    Failure,
    PipesClient,
    PipesClientCompletedInvocation,
    PipesFileContextInjector,
    PipesFileMessageReader,
    PipesMessageHandler,
    open_pipes_session,
)
from dagster_pipes import PipesExtras, PipesParams
from pydantic import Field

from slurm_core import JobFailedError
from slurm_dagster._jobs import (
    JobInput,
    bind,
    cancel_quietly,
    failure_metadata,
    follow,
    job_metadata,
)
from slurm_dagster.resources import SlurmResource

if TYPE_CHECKING:
    from dagster import AssetExecutionContext, OpExecutionContext

    from slurm_core.jobs import JobSpec

__all__ = ["PipesSharedFileMessageReader", "PipesSlurmClient"]

_STREAM_LIMIT = 1 << 20  # bytes of a job's stdout/stderr copied into the compute logs


class PipesSharedFileMessageReader(PipesFileMessageReader):
    """A :class:`~dagster.PipesFileMessageReader` whose file the job's user may append to
    (the job runs as its SLURM user, not as the Dagster process's)."""

    @contextmanager
    def read_messages(self, handler: PipesMessageHandler) -> Iterator[PipesParams]:
        with super().read_messages(handler) as params:
            os.chmod(self._path, 0o666)  # noqa: S103 - the job's user appends
            yield params


class PipesSlurmClient(ConfigurableResource, PipesClient):  # type: ignore[type-arg]
    """Runs a SLURM job inside a Dagster Pipes session (see the module docstring).

    Example::

        invocation = pipes_slurm.run(context=context, job=spec, extras={"lr": 1e-3})
        return invocation.get_materialize_result()
    """

    slurm: SlurmResource = Field(description="The cluster to submit to.")
    shared_dir: str = Field(
        description="Directory on the shared filesystem (same path on the Dagster host and "
        "the nodes) where session directories are made."
    )
    extra_pythonpath: list[str] = Field(
        default_factory=list,
        description="Directories put first on the job's PYTHONPATH (e.g. one holding "
        "dagster_pipes).",
    )
    forward_stdio: bool = Field(
        default=True,
        description="Copy the job's stdout/stderr into the step's compute logs when it ends.",
    )
    keep_session_dir: bool = Field(
        default=False,
        description="Keep the session directory after a successful job (it is always kept "
        "after a failure, for its logs).",
    )

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def _session_dir(self, context: AssetExecutionContext | OpExecutionContext) -> Path:
        run_dir = Path(self.shared_dir) / context.run.run_id
        step = (context.get_step_execution_context().step.key or "step").replace("/", "_")
        path = run_dir / f"{step}-{secrets.token_hex(4)}"
        for d in (Path(self.shared_dir), run_dir, path):
            d.mkdir(parents=True, exist_ok=True)
            if d != Path(self.shared_dir):
                os.chmod(d, 0o1777)  # noqa: S103 - sticky; the job's user writes here
        return path

    def _environment(self, spec: JobSpec, bootstrap: Mapping[str, str]) -> dict[str, str]:
        env = dict(bootstrap)
        path = [*self.extra_pythonpath]
        if spec.environment.get("PYTHONPATH"):
            path.append(spec.environment["PYTHONPATH"])
        if path:
            env["PYTHONPATH"] = os.pathsep.join(path)
        return env

    def run(  # type: ignore[override]
        self,
        *,
        context: AssetExecutionContext | OpExecutionContext,
        job: JobInput,
        extras: PipesExtras | None = None,
        timeout: float | None = None,
    ) -> PipesClientCompletedInvocation:
        """Submit ``job`` in a Pipes session, wait for it, and return what it reported.

        ``job`` is a spec, a builder or a function making a builder from the client (see
        :meth:`SlurmResource.run_job`); the Pipes variables are added to its environment.

        A job that ends badly fails the step (:class:`dagster.Failure` with its state, exit
        code and reason); a terminated run (or ``timeout``) cancels the job.

        Example::

            return pipes_slurm.run(context=context, job=spec).get_materialize_result()
        """
        session_dir = self._session_dir(context)
        log = context.log
        ok = False
        with (
            open_pipes_session(
                context=context,
                context_injector=PipesFileContextInjector(str(session_dir / "context.json")),
                message_reader=PipesSharedFileMessageReader(str(session_dir / "messages.jsonl")),
                extras=extras,
            ) as session,
            self.slurm.get_client() as client,
        ):
            builder = bind(client, job)
            spec = builder.to_spec()
            own_output = spec.output is None and spec.error is None
            if own_output:
                builder.output(session_dir / "stdout.log").error(session_dir / "stderr.log")
            builder.environment(self._environment(spec, session.get_bootstrap_env_vars()))
            submitted = builder.execute()
            job_id = submitted.job_id
            log.info(f"[pipes] submitted SLURM job {job_id}; session dir {session_dir}")
            try:
                try:
                    final = follow(client, job_id, log, timeout)
                finally:
                    if own_output and self.forward_stdio:
                        _forward(session_dir)
            except JobFailedError as exc:
                raise Failure(
                    description=f"SLURM {exc}",
                    metadata=failure_metadata(
                        int(exc.job_id), exc.state, exc.exit_code, exc.reason
                    ),
                ) from None
            except DagsterExecutionInterruptedError:
                cancel_quietly(client, job_id, log, "[pipes] run terminated")
                raise
            except BaseException:
                cancel_quietly(client, job_id, log, "[pipes] step stopped waiting")
                raise
            ok = True
        if ok and not self.keep_session_dir:
            shutil.rmtree(session_dir, ignore_errors=True)
        return PipesClientCompletedInvocation(session, metadata=job_metadata(final))


def _forward(session_dir: Path) -> None:
    """Copy the job's output files into this process's stdout/stderr (Dagster captures
    them as the step's compute logs)."""
    for name, stream in (("stdout.log", sys.stdout), ("stderr.log", sys.stderr)):
        path = session_dir / name
        try:
            with path.open("rb") as fh:
                data = fh.read(_STREAM_LIMIT)
        except OSError:
            continue
        if data:
            stream.write(data.decode("utf-8", errors="replace"))
            stream.flush()
