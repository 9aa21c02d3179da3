"""``MockSlurmClient``: a stand-in for :class:`~slurm_core.SlurmClient` driven by expectations.

Declare the calls your code should make and what they return; call the code; ``verify()``
fails with a diff when an expected call did not happen. A call nobody expected fails at
once, listing what was expected. ``client.jobs.submit()`` returns a real
:class:`~slurm_core.jobs.JobBuilder`, so fluent job building runs unchanged; its
``execute()`` is the call ``jobs.submit`` with the finished :class:`~slurm_core.jobs.JobSpec`.

Example::

    from slurm_core.testing import MockSlurmClient, make_job

    mock = MockSlurmClient()
    mock.expect_job_submit().with_partition("test").return_job(make_job(job_id=7))
    mock.expect("jobs.wait").with_args(7).returns(make_job(job_id=7, state="COMPLETED"))
    assert submit_workload(mock) == 7          # your code, typed against SlurmClientProtocol
    mock.verify()
"""

from __future__ import annotations

import difflib
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .._exceptions import JobFailedError
from .._protocol import JobId
from ..jobs import JobSpec, SubmittedJob, normalize_field
from ..models import (
    Diag,
    Job,
    Ping,
)
from ._expect import ANY, Expectation, Matcher, MockCall, bind, canonical
from ._mock_resources import (
    MockAccounting,
    MockJobs,
    MockLicenses,
    MockNodes,
    MockPartitions,
    MockReservations,
)

if TYPE_CHECKING:
    from typing_extensions import Self


__all__ = ["JobSubmitExpectation", "MockSlurmClient"]

_E = TypeVar("_E", bound=Expectation)


class JobSubmitExpectation(Expectation):
    """``expect_job_submit()``: match the submitted :class:`JobSpec` field by field.

    Example::

        mock.expect_job_submit().with_partition("gpu").with_spec(gpus=2).return_job(7)
    """

    def __init__(self) -> None:
        super().__init__("jobs.submit")
        self._fields: dict[str, Any] = {}
        self.where(Matcher(self._spec_matches, "JobSpec(...)"))

    def _spec_matches(self, arguments: dict[str, Any]) -> bool:
        spec = arguments["spec"]
        if not isinstance(spec, JobSpec):
            return False
        for field, expected in self._fields.items():
            actual = getattr(spec, field)
            ok = expected.matches(actual) if isinstance(expected, Matcher) else actual == expected
            if not ok:
                return False
        return True

    def with_spec(self, **fields: Any) -> Self:
        """Require these spec fields, in any form the spec takes (``memory_per_cpu="4G"``)."""
        for field, value in fields.items():
            self._fields[field] = (
                value if isinstance(value, Matcher) else normalize_field(field, value)
            )
        shown = ", ".join(f"{k}={v!r}" for k, v in self._fields.items())
        self._matchers[0].description = f"JobSpec({shown})"
        return self

    def with_partition(self, partition: str) -> Self:
        """Require ``spec.partition``."""
        return self.with_spec(partition=partition)

    def with_name(self, name: str) -> Self:
        """Require ``spec.name``."""
        return self.with_spec(name=name)

    def return_job(self, job: Job | SubmittedJob | int) -> Self:
        """Answer with this job's id (a :class:`Job`, a :class:`SubmittedJob` or an id)."""
        if isinstance(job, SubmittedJob):
            return self.returns(job)
        job_id = job.job_id if isinstance(job, Job) else int(job)
        return self.returns(SubmittedJob(job_id=job_id, step_id="batch"))


class MockSlurmClient:
    """A :class:`~slurm_core.SlurmClientProtocol` whose answers come from expectations.

    ``ordered=True`` makes the calls happen in the order they were expected. Every call is
    recorded in :attr:`calls`, expected or not.

    Example::

        mock = MockSlurmClient(ordered=True)
        mock.expect("jobs.list").returns([make_job(job_id=1, state="RUNNING")])
        mock.expect("jobs.cancel").with_args(1)
        cancel_running(mock)
        mock.verify()
    """

    def __init__(self, *, api_version: str = "v0.0.45", ordered: bool = False) -> None:
        self._api_version = api_version
        self.ordered = ordered
        self.expectations: list[Expectation] = []
        self.calls: list[MockCall] = []
        """Every call received, in order."""
        self.unexpected: list[MockCall] = []
        self._lock = threading.Lock()
        self._jobs = MockJobs(self._call)
        self._nodes = MockNodes(self._call)
        self._partitions = MockPartitions(self._call)
        self._reservations = MockReservations(self._call)
        self._licenses = MockLicenses(self._call)
        self._accounting = MockAccounting(self._call)

    def __repr__(self) -> str:
        return f"<MockSlurmClient {len(self.expectations)} expected, {len(self.calls)} calls>"

    # -------------------------------------------------------------- expectations ---------
    def expect(self, method: str) -> Expectation:
        """Expect a call of ``method`` (``"jobs.get"``, ``"nodes.list"``, ``"ping"``...).

        Example::

            mock.expect("jobs.get").with_args(5).returns(make_job(job_id=5))
        """
        return self._add(Expectation(canonical(method)))

    def expect_job_submit(self) -> JobSubmitExpectation:
        """Expect a submission (``jobs.submit().…execute()`` or ``jobs.submit_spec``).

        Example::

            mock.expect_job_submit().with_partition("test").return_job(make_job(job_id=3))
        """
        return self._add(JobSubmitExpectation())

    def expect_job_get(self, job_id: JobId | Matcher = ANY) -> Expectation:
        """Expect ``jobs.get(job_id)``; chain ``.returns(make_job(...))``."""
        return self.expect("jobs.get").with_args(job_id)

    def expect_job_cancel(self, job_id: JobId | Matcher = ANY, signal: Any = None) -> Expectation:
        """Expect ``jobs.cancel(job_id[, signal])``."""
        return self.expect("jobs.cancel").with_args(job_id, signal)

    def expect_job_wait(self, job_id: JobId | Matcher = ANY) -> _WaitExpectation:
        """Expect ``jobs.wait(job_id)``; chain ``.return_job(job)`` or ``.fail(...)``."""
        expectation = _WaitExpectation()
        expectation.with_args(job_id, timeout=ANY, max_interval=ANY)
        return self._add(expectation)

    def _add(self, expectation: _E) -> _E:
        with self._lock:
            self.expectations.append(expectation)
        return expectation

    # ------------------------------------------------------------------- calls -----------
    def calls_to(self, method: str) -> list[MockCall]:
        """The recorded calls of ``method``."""
        method = canonical(method)
        return [c for c in self.calls if c.method == method]

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        call = MockCall(method, bind(method, args, kwargs))
        with self._lock:
            self.calls.append(call)
            found = self._find(call)
            if found is None:
                self.unexpected.append(call)
                raise AssertionError(self._unexpected_message(call))
            call.expectation = found
        return found.answer(call)

    def _find(self, call: MockCall) -> Expectation | None:
        if not self.ordered:
            return next((e for e in self.expectations if not e.exhausted and e.matches(call)), None)
        for e in self.expectations:
            if e.exhausted:
                continue
            if e.matches(call):
                return e
            if not e.satisfied:  # the next required call is another one
                return None
        return None

    def _unexpected_message(self, call: MockCall) -> str:
        lines = [f"MockSlurmClient: unexpected call {call}", "expected:"]
        lines += [f"  {e.describe()}  [{e.status()}]" for e in self.expectations] or ["  nothing"]
        if self.ordered:
            pending = next((e for e in self.expectations if not e.satisfied), None)
            if pending is not None:
                lines.append(f"next in order: {pending.describe()}")
        return "\n".join(lines)

    def verify(self) -> None:
        """Raise ``AssertionError`` (with a diff) if an expected call is missing or an
        unexpected one happened.

        Example::

            mock.verify()
        """
        unmet = [e for e in self.expectations if not e.satisfied]
        if not unmet and not self.unexpected:
            return
        expected = [
            e.describe() for e in self.expectations for _ in range(max(e.min_calls, e.count, 1))
        ]
        actual = [str(c) for c in self.calls]
        lines = [
            f"MockSlurmClient: {len(unmet)} expectation(s) not met, "
            f"{len(self.unexpected)} unexpected call(s)",
            "expected:",
        ]
        for e in self.expectations:
            mark = "ok  " if e.satisfied else "MISS"
            lines.append(f"  {mark} {e.describe()}  [{e.status()}]")
        lines.append("actual:")
        for i, c in enumerate(self.calls, 1):
            lines.append(f"  {i}. {c}" + ("   <- unexpected" if c.expectation is None else ""))
        if not self.calls:
            lines.append("  (no calls)")
        lines.append("diff (- expected, + actual):")
        diff = difflib.ndiff(expected, actual)
        lines += [f"  {d}" for d in diff if d[:1] in "-+"]
        raise AssertionError("\n".join(lines))

    def reset(self) -> None:
        """Forget every expectation and recorded call."""
        with self._lock:
            self.expectations.clear()
            self.calls.clear()
            self.unexpected.clear()

    # ------------------------------------------------------------- client surface ---------
    @property
    def api_version(self) -> str:
        """The REST API version the mock pretends to speak (``api_version=``)."""
        return self._api_version

    def negotiate(self) -> str:
        """The version the mock speaks, like :attr:`api_version` (there is no server to ask)."""
        return self._api_version

    @property
    def jobs(self) -> MockJobs:
        """``client.jobs``."""
        return self._jobs

    @property
    def nodes(self) -> MockNodes:
        """``client.nodes``."""
        return self._nodes

    @property
    def partitions(self) -> MockPartitions:
        """``client.partitions``."""
        return self._partitions

    @property
    def reservations(self) -> MockReservations:
        """``client.reservations``."""
        return self._reservations

    @property
    def licenses(self) -> MockLicenses:
        """``client.licenses``."""
        return self._licenses

    @property
    def accounting(self) -> MockAccounting:
        """``client.accounting``."""
        return self._accounting

    def ping(self) -> list[Ping]:
        """Expectation ``"ping"``."""
        return self._call("ping")  # type: ignore[no-any-return]

    def diag(self) -> Diag:
        """Expectation ``"diag"``."""
        return self._call("diag")  # type: ignore[no-any-return]

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _WaitExpectation(Expectation):
    def __init__(self) -> None:
        super().__init__("jobs.wait")

    def return_job(self, job: Job) -> Self:
        """``wait`` returns ``job`` (it should be finished)."""
        return self.returns(job)

    def fail(
        self, state: str = "FAILED", exit_code: int | None = 1, reason: str | None = None
    ) -> Self:
        """``wait`` raises :class:`~slurm_core.JobFailedError` for the waited-for job."""

        def effect(job_id: JobId, **_: Any) -> Job:
            raise JobFailedError(job_id, state, exit_code, reason)

        return self.calls(effect)
