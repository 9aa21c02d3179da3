"""What the graph calls on a client, as types: :class:`GraphClient` and its async twin.

The graph sits below the clients, so it names no client class: a
:class:`~slurm_core.SlurmClient`, a :class:`~slurm_core.testing.MockSlurmClient` or a
client of your own fits :class:`GraphClient` by having these methods (mypy checks it);
an :class:`~slurm_core.AsyncSlurmClient` fits :class:`AsyncGraphClient`.

Example::

    from slurm_core.graph import GraphClient, GraphRun, JobGraph

    def run_pipeline(client: GraphClient, graph: JobGraph) -> GraphRun:
        return graph.submit(client)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Protocol

from ..jobs.spec import JobSpec, SubmittedJob
from ..watch import JobEvent

__all__ = ["AsyncGraphClient", "AsyncGraphJobs", "GraphClient", "GraphJobs"]


class GraphJobs(Protocol):
    """``client.jobs`` as the graph uses it: submit a spec, cancel a job, watch jobs."""

    def submit_spec(self, spec: JobSpec, /) -> SubmittedJob: ...

    def cancel(self, job_id: int, /) -> None: ...

    def watch(self, job_ids: list[int], /, *, timeout: float | None) -> Iterator[JobEvent]: ...


class AsyncGraphJobs(Protocol):
    """Async twin of :class:`GraphJobs` (``watch`` iterates with ``async for``)."""

    def submit_spec(self, spec: JobSpec, /) -> Awaitable[SubmittedJob]: ...

    def cancel(self, job_id: int, /) -> Awaitable[None]: ...

    def watch(self, job_ids: list[int], /, *, timeout: float | None) -> AsyncIterator[JobEvent]: ...


class GraphClient(Protocol):
    """A client :meth:`JobGraph.submit` and :class:`GraphRun` can use: ``client.jobs``."""

    @property
    def jobs(self) -> GraphJobs: ...


class AsyncGraphClient(Protocol):
    """A client :meth:`JobGraph.asubmit` and :class:`AsyncGraphRun` can use."""

    @property
    def jobs(self) -> AsyncGraphJobs: ...
