"""Submitting a :class:`~._model.JobGraph` and following it to the end.

:func:`prepare` checks everything before the first job is submitted (unknown nodes,
cycles, invalid specs, ``,``/``?`` mixes with a builder's own dependency).
:class:`Progress` is the brain of ``wait``: it folds the job events of the whole graph
into outcomes and finds the nodes that can never run (an ``afterok`` on a failed job...).
:class:`GraphRun` and :class:`AsyncGraphRun` only submit, watch and cancel.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .._exceptions import JobSpecError, SlurmError
from ..jobs.dependency import Dependency, DependencyKind, DependencyOperator
from ..jobs.spec import JobSpec
from ..models import JobState
from ..watch import JobEvent, JobEventType
from ._errors import GraphError
from ._model import JobGraph
from ._terms import Ref

__all__ = ["AsyncGraphRun", "GraphResult", "GraphRun", "Progress", "prepare"]

logger = logging.getLogger("slurm_core.graph")

Submit = Callable[[JobSpec], Any]
"""``submit=``: takes the final spec, returns the job id (or a ``SubmittedJob``)."""


def _spec(name: str, job: Any) -> JobSpec:
    if isinstance(job, JobSpec):
        return job
    to_spec = getattr(job, "to_spec", None)
    if to_spec is None:
        raise GraphError(
            f"node {name!r} has nothing to submit: give a job builder or a JobSpec", node=name
        )
    try:
        spec = to_spec()
    except JobSpecError as exc:
        raise GraphError(f"node {name!r}: {exc}", node=name) from exc
    assert isinstance(spec, JobSpec)
    return spec


def _merge(name: str, own: Dependency | None, graph: Dependency | None) -> Dependency | None:
    """The graph's dependency and the job's own, both required (AND)."""
    if own is None or graph is None:
        return graph or own
    if DependencyOperator.OR in (own.kind, graph.kind):
        raise GraphError(
            f"node {name!r}: its own dependency {own} and the graph's {graph} cannot be "
            "combined (an OR expression cannot take more required terms in Slurm's syntax)",
            node=name,
        )
    return Dependency(kind=DependencyOperator.AND, terms=(*graph.terms, *own.terms))


@dataclasses.dataclass
class Step:
    """One node to submit, checked: its spec (dependency filled in when submitted)
    and how it is sent (``submit=``, the builder's own client, or ``submit_spec``).
    """

    name: str
    job: Any
    spec: JobSpec
    send: Callable[[JobSpec], Any]


def _sender(name: str, job: Any, submit: Submit | None, client: Any) -> Callable[[JobSpec], Any]:
    if submit is not None:
        return submit
    if not isinstance(job, JobSpec) and getattr(job, "_submitter", None) is not None:
        return lambda spec: _builder_for(name, job, spec).execute()
    submit_spec = getattr(getattr(client, "jobs", None), "submit_spec", None)
    if isinstance(job, JobSpec) and callable(submit_spec):
        return submit_spec  # type: ignore[no-any-return]
    raise GraphError(
        f"node {name!r} cannot be submitted: build it with client.jobs.submit(), "
        "give a JobSpec, or pass submit=",
        node=name,
    )


def prepare(graph: JobGraph, submit: Submit | None, client: Any = None) -> list[Step]:
    """Validate the whole graph and every node's job; nothing is submitted."""
    steps = []
    placeholder = {name: 1 for name in graph}
    for name in graph.order():
        node = graph[name]
        spec = _spec(name, node.job)
        _merge(name, spec.dependency, graph.resolve(name, placeholder))
        steps.append(Step(name, node.job, spec, _sender(name, node.job, submit, client)))
    return steps


def final_spec(graph: JobGraph, step: Step, job_ids: Mapping[str, int]) -> JobSpec:
    """The spec to send: the graph's dependencies added, the node name as default name."""
    changes: dict[str, Any] = {}
    dependency = _merge(step.name, step.spec.dependency, graph.resolve(step.name, job_ids))
    if dependency is not None:
        changes["dependency"] = dependency
    if step.spec.name is None:
        changes["name"] = step.name
    return step.spec.replace(**changes) if changes else step.spec


def _job_id(result: Any) -> int:
    job_id = getattr(result, "job_id", result)
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise TypeError(f"a submission returned {result!r}, not a job id")
    return job_id


def _builder_for(name: str, job: Any, spec: JobSpec) -> Any:
    """A copy of the node's builder with the graph's dependency and default name."""
    builder = job.copy()
    if spec.dependency is not None:
        builder.depends_on(spec.dependency)
    if spec.name is not None:
        builder.name(spec.name)
    return builder


def _failed(name: str, exc: BaseException, job_ids: Mapping[str, int]) -> GraphError:
    return GraphError(
        f"submitting node {name!r} failed ({len(job_ids)} submitted before): {exc}",
        node=name,
        submitted=job_ids,
    )


def submit_graph(
    graph: JobGraph, client: Any, *, submit: Submit | None, cancel_on_error: bool
) -> GraphRun:
    job_ids: dict[str, int] = {}
    for step in prepare(graph, submit, client):
        spec = final_spec(graph, step, job_ids)
        try:
            job_ids[step.name] = _job_id(step.send(spec))
        except (SlurmError, TypeError, ValueError) as exc:
            if cancel_on_error:
                for job_id in job_ids.values():
                    try:
                        client.jobs.cancel(job_id)
                    except SlurmError as cancel_error:
                        logger.warning("could not cancel job %s: %s", job_id, cancel_error)
            raise _failed(step.name, exc, job_ids) from exc
    return GraphRun(graph, client, job_ids)


async def asubmit_graph(
    graph: JobGraph, client: Any, *, submit: Submit | None, cancel_on_error: bool
) -> AsyncGraphRun:
    job_ids: dict[str, int] = {}
    for step in prepare(graph, submit, client):
        spec = final_spec(graph, step, job_ids)
        try:
            result = step.send(spec)
            if inspect.isawaitable(result):
                result = await result
            job_ids[step.name] = _job_id(result)
        except (SlurmError, TypeError, ValueError) as exc:
            if cancel_on_error:
                for job_id in job_ids.values():
                    try:
                        await client.jobs.cancel(job_id)
                    except SlurmError as cancel_error:
                        logger.warning("could not cancel job %s: %s", job_id, cancel_error)
            raise _failed(step.name, exc, job_ids) from exc
    return AsyncGraphRun(graph, client, job_ids)


@dataclasses.dataclass(frozen=True)
class GraphResult:
    """How a graph ended: ``states`` by node (``"UNRUNNABLE"`` for a job left waiting
    on a dependency that can never be met), ``unrunnable`` the nodes that could never run
    (cancelled when asked), ``events`` the final event of each finished node.
    """

    job_ids: Mapping[str, int]
    states: Mapping[str, str]
    unrunnable: tuple[str, ...]
    events: Mapping[str, JobEvent]

    @property
    def ok(self) -> bool:
        """True if every node completed successfully."""
        return all(s == "COMPLETED" for s in self.states.values())

    @property
    def failed(self) -> list[str]:
        """Nodes that ran (or were due to) and did not complete, unrunnable ones aside."""
        return [n for n, s in self.states.items() if s != "COMPLETED" and n not in self.unrunnable]


class Progress:
    """Outcomes of a running graph, from its jobs' events (no I/O)."""

    def __init__(self, graph: JobGraph, job_ids: Mapping[str, int], cancelling: bool) -> None:
        self.graph = graph
        self.job_ids = dict(job_ids)
        self.cancelling = cancelling
        self._names = {str(v): k for k, v in job_ids.items()}
        self.states: dict[str, JobState | None] = dict.fromkeys(job_ids)
        self.final: dict[str, JobEvent] = {}
        self.started: set[str] = set()
        self.unrunnable: dict[str, None] = {}

    def on_event(self, event: JobEvent) -> list[str]:
        """Record an event; returns the nodes that just became unrunnable."""
        name = self._names.get(str(event.job_id))
        if name is None:
            return []
        self.states[name] = event.new_state
        if event.type is JobEventType.STARTED:
            self.started.add(name)
        if event.final:
            self.final[name] = event
        return self._find_unrunnable()

    def _satisfiable(self, kind: DependencyKind, ref: Ref) -> bool:
        if isinstance(ref, int) or ref not in self.job_ids:
            return True  # a job outside the graph: not followed
        if ref in self.unrunnable:
            # Cancelled jobs end "not ok"; left alone they wait forever.
            return self.cancelling and kind in (DependencyKind.AFTERANY, DependencyKind.AFTERNOTOK)
        event = self.final.get(ref)
        if event is None:
            return True
        ok = event.type is JobEventType.COMPLETED
        if kind is DependencyKind.AFTERNOTOK:
            return not ok
        if kind is DependencyKind.AFTERANY:
            return True
        if kind is DependencyKind.AFTER:
            return ref in self.started
        return ok  # afterok, aftercorr, afterburstbuffer

    def _find_unrunnable(self) -> list[str]:
        new: list[str] = []
        changed = True
        while changed:
            changed = False
            for name in self.job_ids:
                if name in self.final or name in self.unrunnable or name in self.started:
                    continue
                node = self.graph[name]
                checks = [self._satisfiable(t.kind, r) for t in node.terms for r in t.refs]
                if not checks:
                    continue
                if node.operator is DependencyOperator.OR:
                    blocked = not any(checks)
                else:
                    blocked = not all(checks)
                if blocked:
                    self.unrunnable[name] = None
                    new.append(name)
                    changed = True
        return new

    @property
    def done(self) -> bool:
        """Every node ended, or (when not cancelling) waits for what never comes."""
        left = [n for n in self.job_ids if n not in self.final]
        return all(n in self.unrunnable and not self.cancelling for n in left)

    def result(self) -> GraphResult:
        states = {}
        for name in self.job_ids:
            event = self.final.get(name)
            if event is not None:
                states[name] = str(event.new_state.base) if event.new_state else "UNKNOWN"
            else:
                states[name] = "UNRUNNABLE"
        return GraphResult(
            job_ids=dict(self.job_ids),
            states=states,
            unrunnable=tuple(self.unrunnable),
            events=dict(self.final),
        )


class _RunBase:
    def __init__(self, graph: JobGraph, client: Any, job_ids: Mapping[str, int]) -> None:
        self.graph = graph
        self.client = client
        self.job_ids: Mapping[str, int] = dict(job_ids)
        self.states: dict[str, JobState | None] = dict.fromkeys(job_ids)

    def to_dot(self) -> str:
        """DOT text with the job ids and the latest states seen by :meth:`wait`."""
        return self.graph.to_dot(self.states, self.job_ids)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.graph.name!r} jobs={dict(self.job_ids)}>"


class GraphRun(_RunBase):
    """A submitted graph: ``job_ids`` by node name; :meth:`wait` follows it to the end.

    Example::

        run = graph.submit(client)
        result = run.wait(timeout=3600, cancel_unrunnable=True)
        if not result.ok:
            print(result.failed, result.unrunnable)
    """

    def watch(self, timeout: float | None = None) -> Any:
        """The events of every job of the graph (one shared watch)."""
        return self.client.jobs.watch(list(self.job_ids.values()), timeout=timeout)

    def wait(self, timeout: float | None = None, *, cancel_unrunnable: bool = False) -> GraphResult:
        """Follow the graph until every node ended or can never run; see :class:`GraphResult`.

        With ``cancel_unrunnable`` a job whose dependency can never be met is cancelled
        (Slurm would leave it pending), which lets ``afterany``/``afternotok`` dependents go.
        """
        progress = Progress(self.graph, self.job_ids, cancel_unrunnable)
        with self.watch(timeout) as events:
            for event in events:
                for name in progress.on_event(event):
                    logger.info("node %r can never run", name)
                    if cancel_unrunnable:
                        self.client.jobs.cancel(self.job_ids[name])
                self.states.update(progress.states)
                if progress.done:
                    break
        return progress.result()


class AsyncGraphRun(_RunBase):
    """Async twin of :class:`GraphRun`.

    Example::

        run = await graph.asubmit(client)
        result = await run.wait()
    """

    def watch(self, timeout: float | None = None) -> Any:
        """The events of every job of the graph (``async for``)."""
        return self.client.jobs.watch(list(self.job_ids.values()), timeout=timeout)

    async def wait(
        self,
        timeout: float | None = None,
        *,
        cancel_unrunnable: bool = False,
    ) -> GraphResult:
        """See :meth:`GraphRun.wait`."""
        progress = Progress(self.graph, self.job_ids, cancel_unrunnable)
        async with self.watch(timeout) as events:
            async for event in events:
                for name in progress.on_event(event):
                    logger.info("node %r can never run", name)
                    if cancel_unrunnable:
                        await self.client.jobs.cancel(self.job_ids[name])
                self.states.update(progress.states)
                if progress.done:
                    break
        return progress.result()
