"""``client.jobs`` submission: submit, het jobs, duplicate-free retries, arrays, output.

The operations are sans-I/O generators (one brain); :class:`SubmitMixin` and
:class:`AsyncSubmitMixin` only run them (two faces).

**No duplicates.** Every submission carries a submission key in the job's comment
(:mod:`slurm_core.jobs.submission`). When the outcome of ``POST job/submit`` is unknown
-- the connection dropped after the request was sent, a read or write timeout, a 5xx, an
unreadable 2xx -- the operation lists the jobs and looks for the key among the jobs of
the user the listing ran as (:func:`_requester`). Found: that job is the result.

Not found yet is no proof: the request may still be on its way (held by a proxy, queued in
slurmrestd, waiting for a busy slurmctld) and create the job later. So the key is looked
up again, with growing pauses, for ``RetryPolicy.submit_settle`` seconds (15 by default)
after the attempt ended; only then is the submission presumed lost and sent again (at
most :data:`SUBMIT_ATTEMPTS` times). All of it runs within the call's deadline
(``call_timeout``): if the deadline comes first, nothing is resent and
:class:`~slurm_core.jobs.submission.SubmissionUnknownError` carries the key (look it up
later with ``find_submission``). So does a failed lookup, or the key found on a job whose
owner cannot be compared. Requests that provably never left (connect errors) are retried
by the engine itself.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar, overload

import httpx

from .._engine import AsyncResource, BaseResource, Op, Pause, PausingOp, SyncResource
from .._errmap import load_json
from .._exceptions import (
    CircuitOpenError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmAPIError,
    SlurmConnectionError,
    SlurmError,
    SlurmTimeoutError,
)
from .._retry import never_left, tls_failure
from .._versions import Adapter
from .._versions._decode import WireError, count
from .._versions._parse import job_from_accounting
from .._versions._submit import submit_body, submitted, submitted_from
from ..jobs._units import ArraySpec
from ..jobs.builder import AsyncJobBuilder, JobBuilder, attachable_spec
from ..jobs.output import OutputReader, SharedFilesystemReader, Stream, output_path
from ..jobs.spec import JobSpec, SubmittedJob
from ..jobs.submission import SubmissionUnknownError, job_id_for_key, new_submission_key
from ..models import Job, JobBaseState

__all__ = ["SUBMIT_ATTEMPTS", "AsyncSubmitMixin", "SubmitMixin"]

SUBMIT_ATTEMPTS: Final = 3
"""How many times one submission is sent when its outcome stays unknown (none found)."""

B = TypeVar("B", bound=JobBuilder)
AB = TypeVar("AB", bound=AsyncJobBuilder)
Component = JobBuilder | AsyncJobBuilder | JobSpec


def outcome_unknown(exc: SlurmError) -> bool:
    """True when a failed submission may nevertheless have created the job."""
    if isinstance(exc, SlurmTimeoutError) and exc.phase in ("connect", "pool"):
        return False
    if isinstance(exc, SlurmConnectionError):
        cause = exc.__cause__
        return cause is None or not (never_left(cause) or tls_failure(cause) is not None)
    if isinstance(exc, ServerError) and any(n >= _SLURMCTLD_ERRORS for n in exc.error_numbers):
        return False  # slurmctld itself answered, with a refusal: nothing was created
    return isinstance(exc, (ServerError, ResponseValidationError))


_PASSING = (SlurmConnectionError, ServerError, RateLimitError, CircuitOpenError)
"""Lookup failures worth another look within the settle window (a busy or restarting
server); any other (a refused token, a malformed answer) ends it at once."""
_FIRST_LOOK, _LAST_LOOK = 0.25, 2.0
"""Pauses between lookups of an unknown submission's key: doubling from 0.25 s to 2 s."""

# slurm_errno.h: below 2000 are communication/protocol errors (the RPC may or may not have
# reached slurmctld); from 2000 on, slurmctld's own verdicts.
_SLURMCTLD_ERRORS = 2000


def _created_despite(exc: SlurmError, key: str) -> SubmittedJob | None:
    """A 2xx answer that reports errors but carries a job id: the job exists, so the
    submission succeeded (its errors become warnings); retrying would duplicate it."""
    response = getattr(exc, "response", None)
    if not isinstance(exc, SlurmAPIError) or not 200 <= exc.status_code < 300 or response is None:
        return None
    try:
        body = load_json(response.content)
        job_id = count(body.get("job_id"), "job_id") or count(
            (body.get("result") or {}).get("job_id"), "result.job_id"
        )
    except (ValueError, AttributeError, WireError):
        return None
    return submitted_from(body, key, job_id) if job_id else None


# Set by SlurmAuth from the provider's user_name or the token's ``sun``; slurmrestd runs a
# request as this user and refuses a name the token may not act as (511 on 24.11), so on
# an answered request it names the caller. ``meta.client.user`` does not: slurmrestd
# reports its own peer there ("root" for every token, seen on 24.11 and 26.05).
_USER_HEADER: Final = "X-SLURM-USER-NAME"


def _requester(response: httpx.Response) -> str | None:
    """The user slurmrestd ran ``response``'s request as (``None``: it named none)."""
    return response.request.headers.get(_USER_HEADER) or None


def _spec(component: Component) -> JobSpec:
    return component if isinstance(component, JobSpec) else component.to_spec()


def _expand_array(jobs: Sequence[Job], array_job_id: int) -> list[Job]:
    """One :class:`Job` per task: pending tasks (one record ``"2-9%2"``) are spread out."""
    tasks: dict[int, Job] = {}
    pending: list[Job] = []
    for job in jobs:
        if job.array_job_id != array_job_id:
            continue
        if job.array_task_string:
            pending.append(job)
        elif job.array_task_id is not None:
            tasks[job.array_task_id] = job
    for meta in pending:
        assert meta.array_task_string is not None
        for task in ArraySpec.parse(meta.array_task_string).task_ids():
            if task not in tasks:
                tasks[task] = meta.model_copy(
                    update={"array_task_id": task, "array_task_string": None}
                )
    if not tasks:
        return [j for j in jobs if j.job_id == array_job_id][:1]  # not an array: the job
    return [tasks[t] for t in sorted(tasks)]


class _SubmitOps(BaseResource):
    def _submit(self, specs: Sequence[JobSpec]) -> PausingOp[SubmittedJob]:
        a = yield from self._core.adapter()
        key = specs[0].submission_key or new_submission_key()
        keyed = [s if s.submission_key == key else s.replace(submission_key=key) for s in specs]
        body = submit_body(a, keyed)  # JobSpecError/UnsupportedOperationError: nothing sent
        cause: SlurmError | None = None
        for _ in range(SUBMIT_ATTEMPTS):
            try:
                response = yield a.job_submit(body)
                return submitted(a, response, key)
            except SlurmError as exc:
                created = _created_despite(exc, key)
                if created is not None:
                    return created
                if not outcome_unknown(exc):
                    raise
                cause = exc
            job_id = yield from self._settle(a, key, cause)
            if job_id is not None:
                note = f"the answer to the submission was lost ({cause}); found job {job_id}"
                return SubmittedJob(job_id=job_id, warnings=[note], submission_key=key)
        assert cause is not None
        raise cause  # sent every time, never created: the last error stands

    def _attach_or_submit(
        self, spec: JobSpec, *, reattach_failed: bool = True
    ) -> PausingOp[SubmittedJob]:
        """The calling user's newest job carrying ``spec``'s key (live, finished, or in
        accounting); only when there is none, a submission. ``reattach_failed=False``: a
        found job that ended other than COMPLETED is left alone and a new one submitted
        under the same key (a retry after a real failure; later lookups find the new one)."""
        key = spec.submission_key
        assert key, "checked by the builder"
        a = yield from self._core.adapter()
        job_id = yield from self._lookup(a, key, accounting=True, since=None)
        if job_id is not None and not reattach_failed:
            job = yield from self._job_for_output(job_id)
            if job.state.is_finished and job.state.base is not JobBaseState.COMPLETED:
                job_id = None
        if job_id is not None:
            return SubmittedJob(job_id=job_id, submission_key=key, attached=True)
        return (yield from self._submit([spec]))

    def _settle(self, a: Adapter, key: str, cause: SlurmError) -> PausingOp[int | None]:
        """The job carrying ``key``, looked for until the submission that may have created
        it can no longer be in flight (``submit_settle``); ``None``: it was not created."""
        window = self._retry.submit_settle
        waited, pause = 0.0, _FIRST_LOOK
        while True:
            try:
                job_id = yield from self._lookup(a, key, accounting=False, since=None)
            except _PASSING as lookup_error:  # proves nothing: look again while there is time
                if waited >= window:
                    raise SubmissionUnknownError(key, cause, lookup_error) from cause
            except SlurmError as lookup_error:
                raise SubmissionUnknownError(key, cause, lookup_error) from cause
            else:
                if job_id is not None or waited >= window:
                    return job_id
            pause = min(pause, window - waited)
            try:
                yield Pause(pause, "next look for the submission key")
            except SlurmTimeoutError as late:  # the call's deadline: never resend unproven
                raise SubmissionUnknownError(key, cause, late) from cause
            waited, pause = waited + pause, min(pause * 2, _LAST_LOOK)

    def _lookup(
        self, a: Adapter, key: str, *, accounting: bool, since: datetime | None
    ) -> Op[int | None]:
        response = yield a.jobs_list()
        found = job_id_for_key(a.parse_jobs(response), key, owner=_requester(response))
        if found is None and accounting and self._core.accounting_served():
            try:
                response = yield a.accounting_jobs(start=since)
                records = a.parse_accounting_jobs(response)
            except SlurmError:
                return None  # no accounting to ask: slurmctld's answer stands
            jobs = (job_from_accounting(r) for r in records)
            found = job_id_for_key(jobs, key, owner=_requester(response))
        return found

    def _find_submission(self, key: str, since: datetime | None) -> Op[int | None]:
        a = yield from self._core.adapter()
        return (yield from self._lookup(a, key, accounting=True, since=since))

    def _array_tasks(self, array_job_id: int) -> Op[list[Job]]:
        if isinstance(array_job_id, bool) or not isinstance(array_job_id, int):
            raise TypeError(f"array_job_id must be an int, got {array_job_id!r}")
        a = yield from self._core.adapter()
        try:
            jobs = a.parse_jobs((yield a.job_get(array_job_id)))
        except NotFoundError:
            if not self._core.accounting_served():
                raise
            response = yield a.accounting_job(array_job_id)
            jobs = [job_from_accounting(r) for r in a.parse_accounting_jobs(response)]
        return _expand_array(jobs, array_job_id)

    def _job_for_output(self, job_id: int | str) -> Op[Job]:
        a = yield from self._core.adapter()
        try:
            return a.parse_job((yield a.job_get(job_id)), job_id)
        except NotFoundError as missing:
            if not self._core.accounting_served():
                raise
            try:
                response = yield a.accounting_job(job_id)
                return job_from_accounting(a.parse_accounting_job(response, job_id))
            except SlurmError:
                raise missing from None


class SubmitMixin(_SubmitOps, SyncResource):
    """Submission methods of :class:`~slurm_core.resources.Jobs`."""

    output_reader: OutputReader = SharedFilesystemReader()
    """How :meth:`output` reads files (set ``client.jobs.output_reader`` to change it)."""

    @overload
    def submit(self) -> JobBuilder: ...
    @overload
    def submit(self, builder: type[B]) -> B: ...
    def submit(self, builder: type[JobBuilder] = JobBuilder) -> JobBuilder:
        """A job builder wired to this client: ``execute()`` submits, ``dry_run()`` renders.

        ``builder`` may be a :class:`JobBuilder` subclass (e.g.
        :class:`~slurm_core.jobs.training.TrainingJob`).

        Example::

            job = (client.jobs.submit()
                   .script("#!/bin/bash\\necho hello").name("hello").time_limit("10:00")
                   .execute())
            print(job.job_id, job.warnings)
        """
        return builder(submitter=self.submit_spec, renderer=self._render)

    def _render(self, spec: JobSpec) -> dict[str, Any]:
        a = self._run(self._core.adapter())
        key = spec.submission_key or new_submission_key()
        return submit_body(a, [spec.replace(submission_key=key)])

    def submit_spec(
        self, spec: JobSpec, *, attach: bool = False, reattach_failed: bool = True
    ) -> SubmittedJob:
        """Submit a :class:`JobSpec` (retrying without duplicates, see the module docstring).

        ``attach=True``: return the calling user's job that already carries the spec's
        submission key if there is one (see :meth:`JobBuilder.execute`);
        ``reattach_failed=False`` submits anew when that job ended other than COMPLETED.

        Example::

            job = client.jobs.submit_spec(JobSpec(script="#!/bin/sh\\ntrue", name="t"))
        """
        if attach:
            attachable = attachable_spec(spec, attach)
            return self._run(self._attach_or_submit(attachable, reattach_failed=reattach_failed))
        return self._run(self._submit([spec]))

    def submit_script(
        self,
        script_or_path: str | os.PathLike[str],
        *sbatch_args: str,
        environ: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> SubmittedJob:
        """Submit a batch script as ``sbatch [sbatch_args] script`` would: its ``#SBATCH``
        directives, ``SBATCH_*`` variables and ``sbatch_args`` mean what they mean to sbatch.

        ``script_or_path`` is the script's text or a path; ``sbatch_args`` are sbatch's
        options, then the script's arguments. See :meth:`JobSpec.from_sbatch
        <slurm_core.jobs.spec.JobSpec.from_sbatch>`; a directive that cannot be sent raises
        :class:`~slurm_core.JobSpecError` naming it and its line, and nothing is sent.

        Example::

            job = client.jobs.submit_script("train.sh", "--partition=gpu", "--", "--epochs=3")
        """
        return self.submit_spec(JobSpec.from_sbatch(script_or_path, sbatch_args, environ, cwd=cwd))

    def submit_het(self, components: Sequence[Component]) -> SubmittedJob:
        """Submit a heterogeneous job; ``job_id`` is the leader's (``het_job_id``).

        Each component is a builder or a spec; the first component's script runs.

        Example::

            job = client.jobs.submit_het([
                client.jobs.submit().script(SCRIPT).partition("cpu").ntasks(4),
                client.jobs.submit().script(SCRIPT).partition("gpu").gpus(1),
            ])
        """
        if len(components) < 2:
            raise ValueError("a heterogeneous job needs at least two components")
        return self._run(self._submit([_spec(c) for c in components]))

    def find_submission(self, key: str, *, since: datetime | None = None) -> int | None:
        """The id of the job submitted with ``key``, or ``None``.

        Looks in slurmctld's jobs, then in the accounting database from ``since`` (which
        records comments only with ``AccountingStoreFlags=job_comment``).

        Example::

            job_id = client.jobs.find_submission("airflow-run-42-attempt-1")
        """
        return self._run(self._find_submission(key, since))

    def array_tasks(self, array_job_id: int) -> builtins.list[Job]:
        """Every task of an array job, ordered by task id, each with its own state.

        Pending tasks, which slurmctld reports as one record (``"4-9%2"``), come back one
        :class:`Job` per task. For a job that is not an array, a one-item list.

        Example::

            states = {t.array_task_id: t.state.base for t in client.jobs.array_tasks(40)}
        """
        return self._run(self._array_tasks(array_job_id))

    def output(
        self, job_id: int | str, stream: Stream = "stdout", *, reader: OutputReader | None = None
    ) -> str:
        """The text a job wrote to ``stream`` so far (``"stdout"`` or ``"stderr"``).

        The path comes from the job record (:func:`~slurm_core.jobs.output.output_path`);
        ``reader`` (default :attr:`output_reader`) reads it. Raises
        :class:`~slurm_core.jobs.output.JobOutputError` when it cannot.

        Example::

            print(client.jobs.output(42))
        """
        job = self._run(self._job_for_output(job_id))
        path = output_path(job, stream)
        return _read(reader or self.output_reader, path, job, stream)


class AsyncSubmitMixin(_SubmitOps, AsyncResource):
    """Async twin of :class:`SubmitMixin`."""

    output_reader: OutputReader = SharedFilesystemReader()

    @overload
    def submit(self) -> AsyncJobBuilder: ...
    @overload
    def submit(self, builder: type[AB]) -> AB: ...
    def submit(self, builder: type[AsyncJobBuilder] = AsyncJobBuilder) -> AsyncJobBuilder:
        """See :meth:`SubmitMixin.submit`; ``await builder.execute()``. ``dry_run()`` needs
        the API version: negotiated already, pinned, or ``await client.negotiate()``."""
        return builder(submitter=self.submit_spec, renderer=self._render)

    def _render(self, spec: JobSpec) -> dict[str, Any]:
        from .._versions import ADAPTERS

        version = self._core.known_version or self._core.pinned
        if version is None:
            raise RuntimeError(
                "dry_run() needs the API version: await client.negotiate() first "
                "(or pin api_version=...)"
            )
        key = spec.submission_key or new_submission_key()
        return submit_body(ADAPTERS[version](), [spec.replace(submission_key=key)])

    async def submit_spec(
        self, spec: JobSpec, *, attach: bool = False, reattach_failed: bool = True
    ) -> SubmittedJob:
        """See :meth:`SubmitMixin.submit_spec`."""
        if attach:
            attachable = attachable_spec(spec, attach)
            op = self._attach_or_submit(attachable, reattach_failed=reattach_failed)
            return await self._run(op)
        return await self._run(self._submit([spec]))

    async def submit_script(
        self,
        script_or_path: str | os.PathLike[str],
        *sbatch_args: str,
        environ: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> SubmittedJob:
        """See :meth:`SubmitMixin.submit_script` (a script file is read in a worker thread)."""
        import anyio.to_thread

        spec = await anyio.to_thread.run_sync(
            lambda: JobSpec.from_sbatch(script_or_path, sbatch_args, environ, cwd=cwd)
        )
        return await self.submit_spec(spec)

    async def submit_het(self, components: Sequence[Component]) -> SubmittedJob:
        """See :meth:`SubmitMixin.submit_het`."""
        if len(components) < 2:
            raise ValueError("a heterogeneous job needs at least two components")
        return await self._run(self._submit([_spec(c) for c in components]))

    async def find_submission(self, key: str, *, since: datetime | None = None) -> int | None:
        """See :meth:`SubmitMixin.find_submission`."""
        return await self._run(self._find_submission(key, since))

    async def array_tasks(self, array_job_id: int) -> builtins.list[Job]:
        """See :meth:`SubmitMixin.array_tasks`."""
        return await self._run(self._array_tasks(array_job_id))

    async def output(
        self, job_id: int | str, stream: Stream = "stdout", *, reader: OutputReader | None = None
    ) -> str:
        """See :meth:`SubmitMixin.output` (the reader runs in a worker thread)."""
        import anyio.to_thread

        job = await self._run(self._job_for_output(job_id))
        path = output_path(job, stream)
        chosen = reader or self.output_reader
        return await anyio.to_thread.run_sync(_read, chosen, path, job, stream)


def _read(reader: OutputReader, path: str, job: Job, stream: Stream) -> str:
    from ..jobs.output import JobOutputError

    try:
        return reader.read(path)
    except JobOutputError as exc:
        if exc.job_id is None:
            raise JobOutputError(
                exc.reason,
                job_id=job.id_string,
                stream=stream,
                path=path,
                local_path=exc.local_path,
            ) from None
        raise
    except OSError as exc:
        raise JobOutputError(
            exc.strerror or str(exc), job_id=job.id_string, stream=stream, path=path
        ) from exc
