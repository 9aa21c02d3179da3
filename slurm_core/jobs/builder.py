"""Fluent job builders: :class:`JobBuilder` (sync) and :class:`AsyncJobBuilder` (async).

Every setter validates its value at once (raising
:class:`~slurm_core._exceptions.JobSpecError` naming the field, with the same code
:class:`~slurm_core.jobs.spec.JobSpec` runs) and returns the builder. :meth:`to_spec` checks
the whole job; ``execute()`` hands the spec to the *submitter* the client injected;
:meth:`dry_run` returns the request body the client's *renderer* would send for the
negotiated API version. Builders are reusable: :meth:`copy` a base builder and specialise
each copy. Subclasses (e.g. presets for GPU training) inherit every setter with the right
return type.

Example::

    base = client.jobs.submit().partition("gpu").time_limit("4:00:00").gpus(1)
    for lr in (1e-3, 1e-4):
        job = base.copy().name(f"lr-{lr}").command(["python", "train.py", f"--lr={lr}"]).execute()
        print(job.job_id)
"""

from __future__ import annotations

import copy as _copy
import os
import re
import shlex
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs._sbatch_script import IgnoredDirectivesWarning, check_directives
from slurm_core.jobs._units import ArraySpec, GresRequest, describe
from slurm_core.jobs.dependency import Dependency, JobIds, build_dependency
from slurm_core.jobs.spec import (
    Exclusive,
    JobSpec,
    MailType,
    SignalSpec,
    SubmittedJob,
    normalize_field,
)
from slurm_core.models._base import InfiniteType

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AsyncJobBuilder",
    "AsyncJobSubmitter",
    "IgnoredDirectivesWarning",
    "JobBuilder",
    "JobSubmitter",
    "SpecRenderer",
]


class JobSubmitter(Protocol):
    """Submits a validated spec and returns the result (wired by ``client.jobs``)."""

    def __call__(self, spec: JobSpec, /, *, attach: bool = ...) -> SubmittedJob: ...


class AsyncJobSubmitter(Protocol):
    """The async twin of :class:`JobSubmitter`."""

    def __call__(self, spec: JobSpec, /, *, attach: bool = ...) -> Awaitable[SubmittedJob]: ...


class SpecRenderer(Protocol):
    """Renders a spec as the request body of the negotiated slurmrestd version."""

    def __call__(self, spec: JobSpec, /) -> dict[str, Any]: ...


_Path = str | os.PathLike[str]
_NODE_RANGE_RE = re.compile(r"(\d{1,10})(?:-(\d{1,10}))?", re.ASCII)


_S = TypeVar("_S", JobSubmitter, AsyncJobSubmitter)


class _BaseJobBuilder(Generic[_S]):
    """Setters and validation shared by both builders (they differ only in ``execute``)."""

    def __init__(
        self, *, submitter: _S | None = None, renderer: SpecRenderer | None = None
    ) -> None:
        self._submitter: _S | None = submitter
        self._renderer = renderer
        self._values: dict[str, Any] = {}
        self._script_from: Literal["script", "command"] | None = None

    @classmethod
    def from_spec(
        cls, spec: JobSpec, *, submitter: _S | None = None, renderer: SpecRenderer | None = None
    ) -> Self:
        """A builder holding ``spec``'s settings (e.g. a stored spec to adjust and resubmit)."""
        return cls(submitter=submitter, renderer=renderer)._load(spec)

    # ---------------------------------------------------------------- plumbing ------------
    @staticmethod
    def _normalize(field: str, value: object) -> Any:
        if value is None:
            raise JobSpecError(field, f"None is not a value; use .unset({field!r}) to clear it")
        return normalize_field(field, value)

    def _set(self, field: str, value: object) -> Self:
        self._values[field] = self._normalize(field, value)
        return self

    def unset(self, *fields: str) -> Self:
        """Forget earlier settings of ``fields`` (names of :class:`JobSpec` fields).

        Example::

            per_node = base.copy().unset("memory_per_cpu").memory_per_node("64G")
        """
        for field in fields:
            if field not in JobSpec.model_fields:
                raise JobSpecError(field, "is not a job spec field")
            self._values.pop(field, None)
            if field == "script":
                self._script_from = None
        return self

    def copy(self) -> Self:
        """An independent copy (same submitter and renderer) to specialise further."""
        new = _copy.copy(self)
        new._values = {k: dict(v) if isinstance(v, dict) else v for k, v in self._values.items()}
        return new

    def _load(self, spec: JobSpec) -> Self:
        self._values = {k: v for k, v in dict(spec).items() if v not in (None, (), {})}
        if spec.environment:
            self._values["environment"] = dict(spec.environment)
        self._script_from = "script"
        return self

    def to_spec(self) -> JobSpec:
        """Validate the whole job and return it as a :class:`JobSpec`."""
        if "script" not in self._values:
            raise JobSpecError("script", "no script: call .script(text) or .command([...]) first")
        return JobSpec.model_validate(self._values)

    def dry_run(self) -> dict[str, Any]:
        """The exact request body that ``execute()`` would send, without sending it."""
        if self._renderer is None:
            raise RuntimeError("this builder has no renderer; create it with client.jobs.submit()")
        return self._renderer(self.to_spec())

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values.items() if k != "script")
        return f"{type(self).__name__}({shown})"

    # ---------------------------------------------------------------- the script ----------
    def script(self, text: str, *, strict: bool = False) -> Self:
        """The batch script; it must start with a ``#!`` line. Exclusive with :meth:`command`.

        ``#SBATCH`` directives in it are ignored by slurmrestd: they give an
        :class:`IgnoredDirectivesWarning` naming them (``strict=True``: a
        :class:`JobSpecError`). ``client.jobs.submit_script`` reads them as sbatch does.
        """
        if self._script_from == "command":
            raise JobSpecError("script", ".script() and .command() are mutually exclusive")
        self._set("script", text)
        check_directives(text, strict=strict)
        self._script_from = "script"
        return self

    def command(self, argv: Sequence[str]) -> Self:
        """Run one command: the script becomes ``#!/bin/bash\\nexec <argv, shell-quoted>\\n``.

        Each argument is quoted with :func:`shlex.join`, so spaces, quotes and ``$`` reach the
        program literally. Exclusive with :meth:`script`.

        Example::

            builder.command(["python", "train.py", "--name", "run 1"])
            # script: #!/bin/bash\\nexec python train.py --name 'run 1'
        """
        if self._script_from == "script":
            raise JobSpecError("script", ".script() and .command() are mutually exclusive")
        if isinstance(argv, str) or not isinstance(argv, Sequence) or not argv:
            raise JobSpecError("script", f"command needs a list of arguments: {describe(argv)}")
        if not all(isinstance(a, str) and "\x00" not in a for a in argv):
            raise JobSpecError("script", "command arguments must be strings without NUL")
        self._set("script", f"#!/bin/bash\nexec {shlex.join(argv)}\n")
        self._script_from = "command"
        return self

    # ---------------------------------------------------------------- identity ------------
    def name(self, name: str) -> Self:
        """The job name (``--job-name``)."""
        return self._set("name", name)

    def partition(self, name: str) -> Self:
        """The partition, or a comma-separated list of partitions."""
        return self._set("partition", name)

    def account(self, name: str) -> Self:
        """The account to charge."""
        return self._set("account", name)

    def qos(self, name: str) -> Self:
        """The quality of service."""
        return self._set("qos", name)

    def comment(self, text: str) -> Self:
        """A free-text comment stored with the job."""
        return self._set("comment", text)

    def constraint(self, expression: str) -> Self:
        """Required node features (``--constraint``, e.g. ``"a100&ib"``)."""
        return self._set("constraint", expression)

    # ---------------------------------------------------------------- resources -----------
    def time_limit(self, value: timedelta | str | int | InfiniteType) -> Self:
        """Wall-clock limit: a timedelta, ``"1:00:00"``, ``"2-00:00:00"``, ``"90"`` or ``60``
        (minutes), or ``"UNLIMITED"``. Seconds round up to whole minutes."""
        return self._set("time_limit", value)

    def memory_per_cpu(self, value: str | int) -> Self:
        """Memory per CPU: ``"4GB"``, ``"512M"``, ``"1.5T"``, or an int of MiB."""
        self._refuse_both("memory_per_cpu", "memory_per_node")
        return self._set("memory_per_cpu", value)

    def memory_per_node(self, value: str | int) -> Self:
        """Memory per node: ``"16G"`` or an int of MiB. Exclusive with :meth:`memory_per_cpu`."""
        self._refuse_both("memory_per_node", "memory_per_cpu")
        return self._set("memory_per_node", value)

    def _refuse_both(self, field: str, other: str) -> None:
        if other in self._values:
            raise JobSpecError(field, f"excludes {other}, already set; .unset({other!r}) first")

    def cpus_per_task(self, count: int) -> Self:
        """CPUs for each task."""
        return self._set("cpus_per_task", count)

    def ntasks(self, count: int) -> Self:
        """Total number of tasks."""
        return self._set("ntasks", count)

    def ntasks_per_node(self, count: int) -> Self:
        """Tasks on each node (one per GPU is common for training)."""
        return self._set("ntasks_per_node", count)

    def nodes(self, count: int | str, maximum: int | None = None) -> Self:
        """Node count: ``nodes(2)``, a range ``nodes(2, 4)``, or Slurm's ``nodes("2-4")``."""
        if isinstance(count, str) and maximum is None:
            match = _NODE_RANGE_RE.fullmatch(count.strip())
            if match is None:
                raise JobSpecError("nodes", f"{describe(count)} is not 'N' or 'MIN-MAX'")
            count, maximum = int(match[1]), int(match[2]) if match[2] else None
        low = self._normalize("nodes", count)
        high = low if maximum is None else self._normalize("max_nodes", maximum)
        if high < low:
            raise JobSpecError("max_nodes", f"maximum {high} is below minimum {low}")
        self._values["nodes"] = low
        self._values.pop("max_nodes", None)
        if maximum is not None:
            self._values["max_nodes"] = high
        return self

    def gpus(self, count: int | str, *, type: str | None = None) -> Self:
        """GPUs for the whole job: ``gpus(2)``, ``gpus(2, type="a100")`` or ``gpus("a100:2")``."""
        if type is None:
            return self._set("gpus", count)
        if not isinstance(count, int) or isinstance(count, bool):
            raise JobSpecError("gpus", f"with type=, give the count as int: {describe(count)}")
        try:
            request = GresRequest(name="gpu", type=type, count=count)
        except JobSpecError as exc:
            raise JobSpecError("gpus", exc.message) from None
        return self._set("gpus", request)

    def gres(self, *requests: str | GresRequest) -> Self:
        """Generic resources per node: ``gres("gpu:a100:2")``, ``gres("gpu:2", "nvme:1")``."""
        return self._set("gres", list(requests))

    def exclusive(self, mode: bool | Literal["node", "user", "mcs"] | Exclusive = True) -> Self:
        """Do not share nodes (or only with the same ``"user"``/``"mcs"``); ``False`` undoes."""
        if mode is False:
            return self.unset("exclusive")
        return self._set("exclusive", mode)

    # ---------------------------------------------------------------- behaviour -----------
    def requeue(self, enabled: bool = True) -> Self:
        """Whether the job may be requeued after a node failure or preemption."""
        return self._set("requeue", enabled)

    def hold(self, enabled: bool = True) -> Self:
        """Submit the job held (priority 0) until released (``sbatch --hold``)."""
        return self._set("hold", enabled)

    def submission_key(self, key: str) -> Self:
        """The key that finds the job again (default: a fresh one per ``execute()``). Make it
        unique on the cluster (e.g. from your run id): ``client.jobs.find_submission``, and
        ``execute(attach=True)`` returns the job that already carries it."""
        return self._set("submission_key", key)

    def signal(self, spec: str | SignalSpec) -> Self:
        """Warn the job before its time limit: ``"B:USR2@300"`` (``[{R|B}:]SIG[@SECONDS]``)."""
        return self._set("signal", spec)

    def nice(self, adjustment: int) -> Self:
        """Scheduling priority adjustment (negative values need privileges)."""
        return self._set("nice", adjustment)

    def begin(self, when: datetime) -> Self:
        """Do not start before ``when`` (a timezone-aware datetime)."""
        return self._set("begin", when)

    def mail(self, *types: str | MailType, user: str | None = None) -> Self:
        """E-mail on events: ``mail("END", "FAIL", user="me@example.org")``."""
        if not types and user is None:
            raise JobSpecError("mail_types", "name at least one event type or a user")
        if types:
            self._set("mail_types", list(types))
        if user is not None:
            self._set("mail_user", user)
        return self

    def environment(self, values: Mapping[str, str], *, replace: bool = False) -> Self:
        """Add environment variables (``replace=True`` drops those set earlier)."""
        merged = self._normalize("environment", values)
        if not replace:
            merged = {**self._values.get("environment", {}), **merged}
        self._values["environment"] = merged
        return self

    def working_directory(self, path: _Path) -> Self:
        """Directory the job runs in, on the cluster."""
        return self._set("working_directory", path)

    def output(self, path: _Path) -> Self:
        """Standard output file; Slurm patterns such as ``%x-%j.out`` are kept as they are."""
        return self._set("output", path)

    def error(self, path: _Path) -> Self:
        """Standard error file (patterns as for :meth:`output`)."""
        return self._set("error", path)

    def depends_on(
        self,
        expression: str | Dependency | None = None,
        *,
        afterok: JobIds = (),
        afternotok: JobIds = (),
        afterany: JobIds = (),
        after: JobIds = (),
        aftercorr: JobIds = (),
        singleton: bool = False,
        any_of: bool = False,
    ) -> Self:
        """Wait for other jobs; replaces any earlier dependency.

        Give either an expression (``"afterok:1:2,afterany:3"`` or a :class:`Dependency`)
        or keyword lists of job ids; all must hold, or any one with ``any_of=True``.

        Example::

            builder.depends_on(afterok=[prep.job_id], singleton=True)
            builder.depends_on("afterok:17?afternotok:18")
        """
        keywords = any((afterok, afternotok, afterany, after, aftercorr, singleton))
        if expression is not None:
            if keywords or any_of:
                raise JobSpecError("dependency", "give an expression or keywords, not both")
            return self._set("dependency", expression)
        dependency = build_dependency(
            afterok=afterok,
            afternotok=afternotok,
            afterany=afterany,
            after=after,
            aftercorr=aftercorr,
            singleton=singleton,
            any_of=any_of,
        )
        return self._set("dependency", dependency)

    def array(self, spec: str | ArraySpec | range | Iterable[int]) -> Self:
        """Make a job array: ``"0-9%2"``, ``"1,3,5"``, ``"0-15:4"`` or ``range(10)``."""
        if not isinstance(spec, (str, ArraySpec, range)) and isinstance(spec, Iterable):
            items = list(spec)
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
                raise JobSpecError("array", "task ids must be integers")
            spec = ",".join(str(i) for i in items)
        return self._set("array", spec)


class JobBuilder(_BaseJobBuilder[JobSubmitter]):
    """Builds a job and submits it synchronously. Usually obtained from ``client.jobs.submit()``.

    Example::

        job = (client.jobs.submit()
               .script("#!/bin/bash\\necho hello")
               .name("hello").partition("debug").time_limit("10:00")
               .execute())
        print(job.job_id)
    """

    def execute(self, *, attach: bool = False) -> SubmittedJob:
        """Validate and submit; returns the new job's id, step id and slurmrestd's warnings.

        With ``attach=True`` (which needs :meth:`submission_key`) a job of the calling user
        that already carries the key, running or finished, is returned instead
        (``attached=True``) and nothing is submitted: a restarted worker re-attaches.

        Example::

            job = builder.submission_key("nightly-2026-12-07").execute(attach=True)
        """
        if self._submitter is None:
            raise RuntimeError("this builder has no submitter; create it with client.jobs.submit()")
        spec = attachable_spec(self.to_spec(), attach)
        return self._submitter(spec, attach=True) if attach else self._submitter(spec)


class AsyncJobBuilder(_BaseJobBuilder[AsyncJobSubmitter]):
    """The async twin of :class:`JobBuilder`: same setters, ``await builder.execute()``.

    Example::

        job = await async_client.jobs.submit().command(["hostname"]).execute()
    """

    async def execute(self, *, attach: bool = False) -> SubmittedJob:
        """See :meth:`JobBuilder.execute` (``attach=True`` re-attaches by submission key)."""
        if self._submitter is None:
            raise RuntimeError("this builder has no submitter; create it with client.jobs.submit()")
        spec = attachable_spec(self.to_spec(), attach)
        if attach:
            return await self._submitter(spec, attach=True)
        return await self._submitter(spec)


def attachable_spec(spec: JobSpec, attach: bool) -> JobSpec:
    """``spec``, or :class:`JobSpecError` when ``attach`` is asked without a submission key."""
    if attach and not spec.submission_key:
        raise JobSpecError(
            "submission_key",
            "execute(attach=True) needs a durable key to find the job by: "
            "call .submission_key(K) with a key unique to this task (e.g. its run id)",
        )
    return spec
