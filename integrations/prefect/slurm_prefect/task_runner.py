"""``SlurmTaskRunner``: each Prefect task submission runs as its own SLURM job.

Modelled on Prefect's ``ProcessPoolTaskRunner``: the runner resolves upstream futures here,
pickles the call (task, parameters, upstream states, run context) and runs Prefect's task
engine *in the job*, which creates the task run, reports its states and logs to the Prefect
API, applies ``retries=`` and result persistence, and hands the final state back. The SLURM
side (payload files, submit, one array per ``.map``, following, cancel) is
:class:`~slurm_core.SlurmExecutor`'s; this module only translates.

Per-task job options come from tags ``slurm:<option>=<value>``: the executor's options
(``partition``, ``gpus``, ``time_limit``, ``memory_per_node``...), plus ``slurm:checkpoint=<s>``
(requeue on the checkpoint signal, see :func:`slurm_core.executor.checkpoint_dir`).

Example::

    from prefect import flow, task
    from slurm_prefect import SlurmCredentials
    from slurm_prefect.task_runner import SlurmTaskRunner

    @task
    def square(x: int) -> int:
        return x * x

    @flow(task_runner=SlurmTaskRunner(SlurmCredentials.load("hpc"), workspace="/shared/runs",
                                      partition="debug", time_limit="10:00"))
    def squares() -> list[int]:
        return square.map(range(5)).result()        # ONE job array of 5 tasks
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import contextvars
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import cloudpickle
from prefect.context import FlowRunContext, TagsContext, TaskRunContext
from prefect.exceptions import MissingContextError
from prefect.futures import PrefectConcurrentFuture, PrefectFuture, PrefectFutureList, wait
from prefect.logging import get_run_logger
from prefect.settings import get_current_settings
from prefect.task_runners import TaskRunner
from prefect.utilities.engine import resolve_inputs_sync

from slurm_core import SlurmClient
from slurm_core.executor import SlurmExecutor, SlurmFuture
from slurm_prefect import _in_job
from slurm_prefect._in_job import JOB_TAG_PREFIX
from slurm_prefect._records import record

if TYPE_CHECKING:
    from prefect.tasks import Task
    from typing_extensions import Self

    from slurm_prefect.credentials import SlurmCredentials

__all__ = ["JOB_TAG_PREFIX", "OPTION_TAG_PREFIX", "SlurmTaskRunner"]

OPTION_TAG_PREFIX = "slurm:"
"""Tags ``slurm:<option>=<value>`` set a task's job options (``slurm:gpus=1``)."""

_SECRET = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|AUTH|CREDENTIAL", re.IGNORECASE)
# Paths of this machine mean nothing on a node (and are not writable by the job's user);
# PREFECT_SERVER_* configure a server (a database URL may hold a password), not a client.
_LOCAL = {"PREFECT_HOME", "PREFECT_PROFILES_PATH", "PREFECT_LOCAL_STORAGE_PATH"}
_RESOLVER_THREADS = 32

# The job-side module travels by value: the cluster needs Prefect, not slurm_prefect.
cloudpickle.register_pickle_by_value(_in_job)

logger = logging.getLogger("slurm_prefect.task_runner")


def _load_credentials(name: str) -> SlurmCredentials:
    """A saved credentials block, by name."""
    from slurm_prefect.credentials import SlurmCredentials

    return cast("SlurmCredentials", SlurmCredentials.load(name))


def _new_id() -> UUID:
    try:  # time-ordered ids, as Prefect's own runners make them
        from prefect._internal.uuid7 import uuid7

        return uuid7()
    except ImportError:  # pragma: no cover (older Prefect 3)
        return uuid.uuid4()


def _value(raw: str) -> Any:
    return int(raw) if raw.isdigit() else raw


def job_options(tags: Iterable[str]) -> tuple[dict[str, Any], int | None]:
    """The job options (and checkpoint seconds) that ``slurm:<option>=<value>`` tags ask for.

    Example::

        job_options({"slurm:gpus=1", "slurm:partition=gpu", "nightly"})
        # ({'gpus': 1, 'partition': 'gpu'}, None)
    """
    options: dict[str, Any] = {}
    checkpoint = None
    for tag in sorted(tags):
        if not tag.startswith(OPTION_TAG_PREFIX):
            continue
        name, sep, raw = tag[len(OPTION_TAG_PREFIX) :].partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not raw.strip():
            raise ValueError(f"task tag {tag!r}: expected '{OPTION_TAG_PREFIX}<option>=<value>'")
        if name == "checkpoint":
            if not raw.strip().isdigit():
                raise ValueError(f"task tag {tag!r}: checkpoint takes whole seconds")
            checkpoint = int(raw)
        else:
            options[name] = _value(raw.strip())
    return options, checkpoint


def _job_env() -> dict[str, str]:
    """Prefect's settings for the job, as environment variables, without secrets or paths
    of this machine (the job's user supplies its own ``PREFECT_API_KEY`` where needed)."""
    env = get_current_settings().to_environment_variables(exclude_unset=True)
    return {
        k: v
        for k, v in env.items()
        if not _SECRET.search(k) and k not in _LOCAL and not k.startswith("PREFECT_SERVER_")
    }


def _job_context() -> dict[str, Any]:
    """Prefect's ``serialize_context()`` without secrets: no settings (they travel as
    ``env``) and no flow parameters (a credentials block passed to the flow stays here)."""
    flow_run = FlowRunContext.get()
    task_run = TaskRunContext.get()
    tags = TagsContext.get()
    flow_ctx = flow_run.serialize(include_secrets=False) if flow_run else {}
    flow_ctx.pop("parameters", None)
    return {
        "flow_run_context": flow_ctx,
        "task_run_context": task_run.serialize(include_secrets=False) if task_run else {},
        "tags_context": tags.serialize() if tags else {},
    }


@dataclass
class _Call:
    """One task submission waiting for its upstreams, then its job."""

    task: Task[Any, Any]
    task_run_id: UUID
    parameters: dict[str, Any]
    wait_for: Iterable[PrefectFuture[Any]] | None
    dependencies: dict[str, Any] | None
    context: dict[str, Any]
    outer: _JobFuture = field(default_factory=lambda: _JobFuture())

    def payload(self, env: dict[str, str]) -> dict[str, Any]:
        states = None
        if self.wait_for:
            upstream = list(self.wait_for)
            wait(upstream)
            states = [f.state for f in upstream]
        return {
            "task": self.task,
            "task_run_id": self.task_run_id,
            "parameters": resolve_inputs_sync(self.parameters, return_data=True, max_depth=-1),
            "wait_for": states,
            "return_type": "state",
            "dependencies": self.dependencies,
            "context": self.context,
            "env": env,
        }


class _JobFuture(cf.Future):  # type: ignore[type-arg]
    """What the Prefect future wraps: settled by the job's future; ``cancel`` cancels the job
    (or the submission, while it waits for its upstreams)."""

    def __init__(self) -> None:
        super().__init__()
        self.job: SlurmFuture | None = None
        self._lock = threading.Lock()

    @property
    def job_id(self) -> str | None:
        """The SLURM job id once submitted (``"40_3"`` for an array task)."""
        return self.job.job_id if self.job is not None else None

    def attach(self, job: SlurmFuture) -> None:
        with self._lock:
            self.job = job
            if self.cancelled():
                job.cancel()
                return
        job.add_done_callback(self._settle)

    def _settle(self, job: cf.Future[Any]) -> None:
        if self.done():
            return
        try:
            if job.cancelled():
                self.cancel()
            elif (exc := job.exception()) is not None:
                self.set_exception(exc)
            else:
                self.set_result(job.result())
        except cf.InvalidStateError:  # cancelled meanwhile
            pass

    def fail(self, exc: BaseException) -> None:
        if not self.done():
            with contextlib.suppress(cf.InvalidStateError):
                self.set_exception(exc)

    def cancel(self) -> bool:
        with self._lock:
            job = self.job
        if job is not None:
            job.cancel()
        if not super().cancel():
            return False
        self.set_running_or_notify_cancel()
        return True


class SlurmTaskRunner(TaskRunner[PrefectConcurrentFuture[Any]]):
    """Run each task submission of a flow as its own SLURM job; ``.map`` as ONE job array.

    ``credentials`` is a :class:`~slurm_prefect.SlurmCredentials` block or the name of a
    saved one (loaded when the flow run starts: no token in the flow's code); ``workspace`` a
    directory the flow's machine and the nodes see at the same path; ``python`` the
    interpreter on the nodes (default: this one's path), which needs Prefect and cloudpickle
    in the versions used here. Other keyword arguments are job options for every task
    (``partition="gpu"``, ``time_limit="1:00:00"``, ``memory_per_cpu="1G"``...); a task's
    tags ``slurm:<option>=<value>`` override them. Each task run is tagged
    ``slurm-job:<job id>``. The token never leaves this process.

    Example::

        @flow(task_runner=SlurmTaskRunner(SlurmCredentials.load("hpc"),
                                          workspace="/shared/runs", time_limit="30:00"))
        def pipeline() -> None:
            train.with_options(tags=["slurm:partition=gpu", "slurm:gpus=1"]).submit().wait()
    """

    def __init__(
        self,
        credentials: SlurmCredentials | str | None = None,
        *,
        workspace: str | os.PathLike[str],
        python: str | None = None,
        job_user: int | str | None = None,
        **job_options: Any,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._credentials = credentials
        self._workspace = os.fspath(workspace)
        self._python = python
        self._job_user = job_user
        self._job_options = dict(job_options)
        self._detached = False  # a copy unpickled inside a job
        self._client: SlurmClient | None = None
        self._executor: SlurmExecutor | None = None
        self._resolver: cf.ThreadPoolExecutor | None = None
        self._collecting = threading.local()

    def duplicate(self) -> Self:
        if self._detached:
            copy = type(self).__new__(type(self))
            copy.__setstate__(self.__getstate__())
            return copy
        return type(self)(
            self._credentials,
            workspace=self._workspace,
            python=self._python,
            job_user=self._job_user,
            **self._job_options,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SlurmTaskRunner):
            return False
        mine = (self._workspace, self._python, self._job_user, self._job_options)
        return mine == (other._workspace, other._python, other._job_user, other._job_options)

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        # The flow (and so this runner) travels to each job inside the run context:
        # without the credentials, the client or any thread.
        return {
            "workspace": self._workspace,
            "python": self._python,
            "job_user": self._job_user,
            "job_options": self._job_options,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        options = state.pop("job_options")
        SlurmTaskRunner.__init__(self, None, **state, **options)
        self._detached = True

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Self:
        super().__enter__()
        if self._detached:  # a copy inside a job: no nested SLURM submissions
            return self
        if self._credentials is None:
            raise ValueError("SlurmTaskRunner: credentials is required (a block or its name)")
        if isinstance(self._credentials, str):
            self._credentials = _load_credentials(self._credentials)
        self._client = self._credentials.get_client()
        try:
            self._executor = SlurmExecutor(
                self._client,
                workspace=self._workspace,
                python=self._python,
                job_user=self._job_user,
                **self._job_options,
            )
        except BaseException:
            self._client.close()
            self._client = None
            raise
        self._resolver = cf.ThreadPoolExecutor(_RESOLVER_THREADS, "slurm-task-runner")
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        try:
            self.cancel_all()
        finally:
            super().__exit__(exc_type, exc_value, traceback)

    def cancel_all(self) -> None:
        """Cancel every job still pending or running (the flow run ended or was cancelled)."""
        # Submissions still waiting for upstreams wake when the jobs they wait for are
        # cancelled: join them only after the executor has cancelled its jobs.
        resolver, self._resolver = self._resolver, None
        if resolver is not None:
            resolver.shutdown(wait=False, cancel_futures=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if resolver is not None:
            resolver.shutdown(wait=True)
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- submissions ----------------------------------------------------------------------
    def submit(
        self,
        task: Task[Any, Any],
        parameters: dict[str, Any],
        wait_for: Iterable[PrefectFuture[Any]] | None = None,
        dependencies: dict[str, Any] | None = None,
    ) -> PrefectConcurrentFuture[Any]:
        """Submit one task run as one job (after its upstreams); see the class."""
        if self._executor is None or self._resolver is None:
            raise RuntimeError(
                "SlurmTaskRunner is not started, or runs inside a SLURM job "
                "(a task cannot submit tasks to the cluster from there)"
            )
        options, checkpoint = job_options(self._tags_of(task))
        call = _Call(task, _new_id(), parameters, wait_for, dependencies, _job_context())
        collected = getattr(self._collecting, "calls", None)
        if collected is not None:
            if checkpoint is not None:
                raise ValueError(f"task {task.name!r}: slurm:checkpoint is not supported by .map")
            collected.append(call)
        else:
            ctx = contextvars.copy_context()
            self._resolver.submit(ctx.run, self._launch_one, call, options, checkpoint)
        return PrefectConcurrentFuture(task_run_id=call.task_run_id, wrapped_future=call.outer)

    def map(
        self,
        task: Task[Any, Any],
        parameters: dict[str, Any],
        wait_for: Iterable[PrefectFuture[Any]] | None = None,
    ) -> PrefectFutureList[PrefectConcurrentFuture[Any]]:
        """Prefect's own ``map`` (same parameter rules), submitted as ONE job array."""
        if self._resolver is None:
            return super().map(task, parameters, wait_for)
        calls: list[_Call] = []
        self._collecting.calls = calls
        try:
            futures = super().map(task, parameters, wait_for)
        finally:
            self._collecting.calls = None
        options, _ = job_options(self._tags_of(task))
        ctx = contextvars.copy_context()
        self._resolver.submit(ctx.run, self._launch_array, calls, options)
        return futures

    @staticmethod
    def _tags_of(task: Task[Any, Any]) -> set[str]:
        current = TagsContext.get()
        return set(task.tags) | (set(current.current_tags) if current else set())

    def _launch_one(self, call: _Call, options: dict[str, Any], checkpoint: int | None) -> None:
        try:
            payload = call.payload(_job_env())
            assert self._executor is not None
            job = self._executor.submit(
                _in_job.run_task_in_job, payload, slurm_options=options, checkpoint=checkpoint
            )
        except BaseException as exc:
            call.outer.fail(exc)
            return
        call.outer.attach(job)
        self._announce(call, job.job_id, job.job_id)

    def _launch_array(self, calls: list[_Call], options: dict[str, Any]) -> None:
        env = _job_env()
        ready: list[tuple[_Call, dict[str, Any]]] = []
        for call in calls:
            try:
                ready.append((call, call.payload(env)))
            except BaseException as exc:
                call.outer.fail(exc)
        if not ready:
            return
        try:
            assert self._executor is not None
            jobs = self._executor.submit_array(
                _in_job.run_task_in_job, [p for _, p in ready], slurm_options=options
            )
        except BaseException as exc:
            for call, _ in ready:
                call.outer.fail(exc)
            return
        for (call, _), job in zip(ready, jobs, strict=True):
            call.outer.attach(job)
        arrays = {job.job_id.partition("_")[0] for job in jobs}
        for array in sorted(arrays):
            self._announce(ready[0][0], array, f"{array}_[0-{len(jobs) - 1}]")

    def _announce(self, call: _Call, job_id: str, shown: str) -> None:
        """Log the job on the flow run and record it (for ``cancel_slurm_jobs``)."""
        run_logger: Any = logger
        with contextlib.suppress(MissingContextError):  # outside a flow run: module logger
            run_logger = get_run_logger()
        run_logger.info("Task %r runs as SLURM job %s", call.task.name, shown)
        if self._credentials is not None and not isinstance(self._credentials, str):
            record(job_id, self._credentials, run_logger)
