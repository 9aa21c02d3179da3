"""Submitting a job graph: everything checked first, then in order.

:func:`prepare` checks the whole graph before the first job is submitted (unknown nodes,
cycles, invalid specs, ``,``/``?`` mixes with a builder's own dependency) and decides how
each node is sent; :func:`submit_graph`/:func:`asubmit_graph` only send, and cancel what
was sent if a submission fails.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._exceptions import JobSpecError, SlurmError
from ..jobs.builder import AsyncJobBuilder, JobBuilder
from ..jobs.dependency import Dependency, DependencyOperator
from ..jobs.spec import JobSpec, SubmittedJob
from ._errors import GraphError
from ._graph import BaseJobGraph, GraphJob
from ._protocols import AsyncGraphClient, GraphClient
from ._run import AsyncGraphRun, GraphRun

__all__ = [
    "AsyncSubmit",
    "Step",
    "Submit",
    "asubmit_graph",
    "final_spec",
    "prepare",
    "submit_graph",
]

logger = logging.getLogger("slurm_core.graph")

Submit = Callable[[JobSpec], SubmittedJob | int]
"""``submit=``: takes the final spec, returns the job id (or a ``SubmittedJob``)."""

AsyncSubmit = Callable[[JobSpec], SubmittedJob | int | Awaitable[SubmittedJob | int]]
"""``submit=`` of :meth:`JobGraph.asubmit`: the same, or awaitable."""

_Send = Callable[[JobSpec], object]


def _spec(name: str, job: GraphJob | None) -> JobSpec:
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
    job: GraphJob | None
    spec: JobSpec
    send: _Send


def _sender(
    name: str, job: GraphJob | None, submit: _Send | None, client: GraphClient | AsyncGraphClient
) -> _Send:
    if submit is not None:
        return submit
    if isinstance(job, (JobBuilder, AsyncJobBuilder)) and job._submitter is not None:
        bound = job
        return lambda spec: _builder_for(name, bound, spec).execute()
    # Looked up, not called: an untyped caller's client may lack it (the error below).
    submit_spec: object = getattr(getattr(client, "jobs", None), "submit_spec", None)
    if isinstance(job, JobSpec) and callable(submit_spec):
        return submit_spec
    raise GraphError(
        f"node {name!r} cannot be submitted: build it with client.jobs.submit(), "
        "give a JobSpec, or pass submit=",
        node=name,
    )


def prepare(
    graph: BaseJobGraph, submit: _Send | None, client: GraphClient | AsyncGraphClient
) -> list[Step]:
    """Validate the whole graph and every node's job; nothing is submitted."""
    steps = []
    placeholder = {name: 1 for name in graph}
    for name in graph.order():
        node = graph[name]
        spec = _spec(name, node.job)
        _merge(name, spec.dependency, graph.resolve(name, placeholder))
        steps.append(Step(name, node.job, spec, _sender(name, node.job, submit, client)))
    return steps


def final_spec(graph: BaseJobGraph, step: Step, job_ids: Mapping[str, int]) -> JobSpec:
    """The spec to send: the graph's dependencies added, the node name as default name."""
    changes: dict[str, Any] = {}
    dependency = _merge(step.name, step.spec.dependency, graph.resolve(step.name, job_ids))
    if dependency is not None:
        changes["dependency"] = dependency
    if step.spec.name is None:
        changes["name"] = step.name
    return step.spec.replace(**changes) if changes else step.spec


def _job_id(result: object) -> int:
    job_id = getattr(result, "job_id", result)
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise TypeError(f"a submission returned {result!r}, not a job id")
    return job_id


def _builder_for(
    name: str, job: JobBuilder | AsyncJobBuilder, spec: JobSpec
) -> JobBuilder | AsyncJobBuilder:
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
    graph: BaseJobGraph, client: GraphClient, *, submit: Submit | None, cancel_on_error: bool
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
    graph: BaseJobGraph,
    client: AsyncGraphClient,
    *,
    submit: AsyncSubmit | None,
    cancel_on_error: bool,
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
