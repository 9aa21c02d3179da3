"""``PipesSlurmClient``: Dagster Pipes for code that runs as a SLURM job.

The client opens a Pipes session whose context file and message file live in a fresh
session directory under ``shared_dir`` (a filesystem the Dagster process and the cluster
nodes see at the same path), submits the job with the Pipes bootstrap environment added,
follows it with a :class:`slurm_core.lifecycle.JobSupervisor` (whose cancel policy
decides: a terminated run cancels the job, a lost connection does not), and hands Dagster
what the job reported (materializations, asset checks, log lines).

Session directory (``<shared_dir>/<run id>/<step key>-<random>/``)::

    context.json      the Pipes context (written by Dagster, removed when the session ends)
    messages.jsonl    Pipes messages (appended by the job, tailed by Dagster, then removed)
    stdout.log        the job's standard output/error, when the spec sets no output of its
    stderr.log        own (copied to the step's compute logs while the job runs)

Who may touch it: the job runs as its SLURM user, often not this process's, and other local
users share the filesystem. The session directory is made 0700; the job is submitted held,
SLURM says which uid and gid it runs as, and the directory and message file are handed to
that user (``chown``, when Dagster runs as root) before the job is released. With
``session_group`` (a group the Dagster user and the jobs' users share) the job is not held:
the directory is 2770 and the message file 0660 of that group. The run directory above is
0711 (nobody lists it). Dagster reads only from the message file it created itself (through
the descriptor it keeps, so a file put in its place is never read), and only while it is a
regular file owned by this process's user or the job's and writable by no one else; a line
longer than 1 MiB, or more than 64 MiB in all, is dropped with a warning. The log files are
opened without following links and copied only when owned by the job's user (or this
process's).

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
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    ConfigurableResource,
    DagsterExecutionInterruptedError,
    Failure,
    PipesClient,
    PipesClientCompletedInvocation,
    PipesFileContextInjector,
    open_pipes_session,
)
from dagster_pipes import PipesExtras
from pydantic import Field

from slurm_core import ConfigurationError, JobFailedError
from slurm_core.jobs.output import JobOutputError
from slurm_core.lifecycle import CancelReason, JobSupervisor
from slurm_dagster._files import UntrustedFileError, make_dirs, open_checked, resolve_gid
from slurm_dagster._jobs import (
    JobInput,
    bind,
    describe_event,
    failure_metadata,
    job_metadata,
)
from slurm_dagster._pipes_reader import PipesSharedFileMessageReader
from slurm_dagster.resources import SlurmResource, classify, forward_line

if TYPE_CHECKING:
    from dagster import AssetExecutionContext, OpExecutionContext

    from slurm_core import SlurmClient
    from slurm_core.jobs import JobSpec

__all__ = ["PipesSharedFileMessageReader", "PipesSlurmClient"]

_READ_LIMIT = 1 << 20  # bytes of a session log file read at once


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
        description="Copy the job's stdout/stderr into the step's compute logs while it runs.",
    )
    keep_session_dir: bool = Field(
        default=False,
        description="Keep the session directory after a successful job (it is always kept "
        "after a failure, for its logs).",
    )
    session_group: str | None = Field(
        default=None,
        description="A group this process's user and the jobs' users are in (name or gid): "
        "session directories become 2770 of that group and the job is not held first. "
        "Needed when Dagster runs neither as root nor as the job's user.",
    )

    @classmethod
    def _is_dagster_maintained(cls) -> bool:
        return False

    def _session_dir(self, context: AssetExecutionContext | OpExecutionContext) -> Path:
        shared = Path(self.shared_dir)
        run_dir = shared / context.run.run_id
        step = (context.get_step_execution_context().step.key or "step").replace("/", "_")
        # 0711: the job's user passes through to its session directory; nobody lists.
        make_dirs(run_dir, 0o711)
        _check_own_dir(run_dir)
        path = run_dir / f"{step}-{secrets.token_hex(4)}"
        path.mkdir(mode=0o700)  # fails if someone made it first
        return path

    def _open_to_job(
        self,
        client: SlurmClient,
        job_id: int,
        session_dir: Path,
        reader: PipesSharedFileMessageReader,
        held: bool,
    ) -> set[int]:
        """Give the job's user (and only it) the session files; release the job if it was
        held for this. Returns the uids whose log files are trusted."""
        job = client.jobs.get(job_id)
        me, uid, gid = os.geteuid(), job.user_id, job.group_id
        context_file = session_dir / "context.json"
        if self.session_group is not None:
            group = resolve_gid(self.session_group, "session_group")
            for path, mode in ((session_dir, 0o2770), (context_file, 0o640)):
                os.chown(path, -1, group)
                os.chmod(path, mode)
            reader.grant(None, group, 0o660)
        elif uid is None or gid is None:
            raise ConfigurationError(
                f"PipesSlurmClient: slurmrestd did not say which user job {job_id} runs as; "
                "set session_group to a group the jobs' users share"
            )
        elif uid != me:
            if me != 0:
                raise ConfigurationError(
                    f"PipesSlurmClient: job {job_id} runs as uid {uid} and Dagster as uid {me}: "
                    "run Dagster as root or as the job's user, or set session_group to a "
                    "group both are in"
                )
            os.chmod(context_file, 0o644)  # inside a directory only the job's user enters
            reader.grant(uid, gid, 0o600)
            os.chown(session_dir, uid, gid)
        if held:
            client.jobs.release(job_id)
        return {me} if uid is None else {me, uid}

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
        reader = PipesSharedFileMessageReader(str(session_dir / "messages.jsonl"), log=log)
        with (
            open_pipes_session(
                context=context,
                context_injector=PipesFileContextInjector(str(session_dir / "context.json")),
                message_reader=reader,
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
            # Held until its user owns the session files (unless a shared group does).
            held = self.session_group is None and not spec.hold
            if held:
                builder.hold()
            # A Pipes session is one attempt's: a re-executed step opens a new session and
            # submits a new job, so the key is the session's (nothing to re-attach to).
            settings = self.slurm.settings()
            session_logs = _SessionLogReader({os.geteuid()}, log)  # + the job's user, below
            supervisor = JobSupervisor(
                client,
                builder,
                key=f"dagster-pipes-{context.run.run_id}-{session_dir.name[-8:]}",
                poll_interval=settings.poll_interval,
                default_working_directory=settings.working_directory,
                reader=session_logs if own_output else client.jobs.output_reader,
                on_output=forward_line if self.forward_stdio else None,
                on_event=lambda event: log.info(describe_event(event)),
                classify=classify,
            )
            job_id = supervisor.start().job_id
            log.info(f"[pipes] submitted SLURM job {job_id}; session dir {session_dir}")
            try:
                session_logs.owners |= self._open_to_job(client, job_id, session_dir, reader, held)
                outcome = supervisor.run(timeout=timeout)
            except JobFailedError as exc:
                raise Failure(
                    description=f"SLURM {exc}",
                    metadata=failure_metadata(
                        int(exc.job_id), exc.state, exc.exit_code, exc.reason
                    ),
                ) from None
            except DagsterExecutionInterruptedError:
                log.info(f"[pipes] run terminated: cancelling SLURM job {job_id}")
                raise
            except BaseException:
                # Our own failure before the job was released (e.g. the session could not be
                # handed to its user): the held job would wait forever.
                if held and supervisor.outcome is None:
                    supervisor.cancel(CancelReason.MARKED_FAILED)
                raise
        if not self.keep_session_dir:
            shutil.rmtree(session_dir, ignore_errors=True)
        assert outcome.job is not None
        return PipesClientCompletedInvocation(session, metadata=job_metadata(outcome.job))


class _SessionLogReader:
    """Reads the session's log files for the supervisor's tail: only regular files of the
    job's user (or this process's), never through a link, whoever this process is; a
    refused file is named in the step's log (and not tailed further)."""

    def __init__(self, owners: set[int], log: Any) -> None:
        self.owners, self._log = owners, log

    def read(self, path: str) -> str:
        return self.read_from(path, 0, _READ_LIMIT)[0].decode("utf-8", errors="replace")

    def read_from(self, path: str, offset: int, max_bytes: int) -> tuple[bytes, int]:
        try:
            fd = open_checked(path, self.owners)
        except UntrustedFileError as exc:
            name = os.path.basename(path)
            self._log.warning(f"[pipes] not copying {name} into the compute logs: {exc.reason}")
            raise JobOutputError(f"refused: {exc.reason}", path=path) from None
        except FileNotFoundError:
            raise JobOutputError("no such file here yet", path=path) from None
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(offset)
            return fh.read(min(max_bytes, _READ_LIMIT)), size


def _check_own_dir(path: Path) -> None:
    """Refuse a directory this process does not own, or that others may write to (someone
    could swap the session directories inside it)."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise UntrustedFileError(
            path, f"not a directory of uid {os.geteuid()} closed to other users' writes"
        )
