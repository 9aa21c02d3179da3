"""Following a submitted graph to the end.

:class:`Progress` is the brain of ``wait``: it folds the job events of the whole graph
into outcomes and finds the nodes that can never run (an ``afterok`` on a failed job, an
``after`` on a job cancelled before it started...). :class:`GraphRun` and
:class:`AsyncGraphRun` only watch and cancel.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    AsyncExitStack,
    ExitStack,
)

from ..jobs.dependency import DependencyKind, DependencyOperator
from ..models import JobState
from ..watch import JobEvent, JobEventType
from ._dot import to_dot
from ._graph import BaseJobGraph
from ._protocols import AsyncGraphClient, GraphClient
from ._terms import Ref

__all__ = ["AsyncGraphRun", "GraphResult", "GraphRun", "Progress"]

logger = logging.getLogger("slurm_core.graph")


@dataclasses.dataclass(frozen=True)
class GraphResult:
    """How a graph ended: ``states`` by node (``"UNRUNNABLE"`` for a job left waiting
    on a dependency that can never be met), ``unrunnable`` the nodes that could never run
    (cancelled when asked), ``events`` the final event of each finished node.

    Example::

        result = run.wait()
        if not result.ok:
            print(result.failed, result.unrunnable, result.states)
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

    def __init__(self, graph: BaseJobGraph, job_ids: Mapping[str, int], cancelling: bool) -> None:
        self.graph = graph
        self.job_ids = dict(job_ids)
        self.cancelling = cancelling
        self._names = {str(v): k for k, v in job_ids.items()}
        self.states: dict[str, JobState | None] = dict.fromkeys(job_ids)
        self.final: dict[str, JobEvent] = {}
        self.started: set[str] = set()
        self.unrunnable: dict[str, None] = {}

    def on_event(self, event: JobEvent) -> list[str]:
        """Record an event; returns the nodes that just became unrunnable.

        Example::

            for name in progress.on_event(event):
                client.jobs.cancel(progress.job_ids[name])
        """
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
        """The outcome so far (nodes not finished count as ``UNRUNNABLE``)."""
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
    def __init__(self, graph: BaseJobGraph, job_ids: Mapping[str, int]) -> None:
        self.graph = graph
        self.job_ids: Mapping[str, int] = dict(job_ids)
        self.states: dict[str, JobState | None] = dict.fromkeys(job_ids)
        self._names = {str(v): k for k, v in job_ids.items()}

    def to_dot(self) -> str:
        """DOT text with the job ids and the latest states seen by :meth:`wait`."""
        return to_dot(self.graph, self.states, self.job_ids)

    def node_of(self, event: JobEvent) -> str:
        """The name of the graph node an event is about."""
        return self._names[str(event.job_id)]

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

    def __init__(
        self, graph: BaseJobGraph, client: GraphClient, job_ids: Mapping[str, int]
    ) -> None:
        super().__init__(graph, job_ids)
        self.client = client

    def watch(self, timeout: float | None = None) -> Iterator[JobEvent]:
        """The events of every job of the graph (one shared watch).

        Example::

            for event in run.watch():
                print(event.job_id, event.type)
        """
        return self.client.jobs.watch(list(self.job_ids.values()), timeout=timeout)

    def wait(
        self,
        timeout: float | None = None,
        *,
        cancel_unrunnable: bool = False,
        on_event: Callable[[str, JobEvent], object] | None = None,
    ) -> GraphResult:
        """Follow the graph until every node ended or can never run; see :class:`GraphResult`.

        With ``cancel_unrunnable`` a job whose dependency can never be met is cancelled
        (Slurm would leave it pending), which lets ``afterany``/``afternotok`` dependents go.
        ``on_event(node_name, event)`` is called for every event of the graph's jobs, for
        live progress.

        Example::

            result = run.wait(timeout=3600, cancel_unrunnable=True,
                              on_event=lambda name, e: print(name, e.type.value))
            print(result.states)         # {'prep': 'COMPLETED', 'train': 'FAILED', ...}
        """
        progress = Progress(self.graph, self.job_ids, cancel_unrunnable)
        with ExitStack() as stack:
            events = self.watch(timeout)
            if isinstance(events, AbstractContextManager):  # a JobWatch: stop it on leaving
                stack.enter_context(events)
            for event in events:
                if on_event is not None:
                    on_event(self.node_of(event), event)
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

    def __init__(
        self, graph: BaseJobGraph, client: AsyncGraphClient, job_ids: Mapping[str, int]
    ) -> None:
        super().__init__(graph, job_ids)
        self.client = client

    def watch(self, timeout: float | None = None) -> AsyncIterator[JobEvent]:
        """The events of every job of the graph (``async for``).

        Example::

            async for event in run.watch():
                print(event.job_id, event.type)
        """
        return self.client.jobs.watch(list(self.job_ids.values()), timeout=timeout)

    async def wait(
        self,
        timeout: float | None = None,
        *,
        cancel_unrunnable: bool = False,
        on_event: Callable[[str, JobEvent], object] | None = None,
    ) -> GraphResult:
        """See :meth:`GraphRun.wait`.

        Example::

            result = await run.wait(cancel_unrunnable=True)
        """
        progress = Progress(self.graph, self.job_ids, cancel_unrunnable)
        async with AsyncExitStack() as stack:
            events = self.watch(timeout)
            if isinstance(events, AbstractAsyncContextManager):
                await stack.enter_async_context(events)
            async for event in events:
                if on_event is not None:
                    on_event(self.node_of(event), event)
                for name in progress.on_event(event):
                    logger.info("node %r can never run", name)
                    if cancel_unrunnable:
                        await self.client.jobs.cancel(self.job_ids[name])
                self.states.update(progress.states)
                if progress.done:
                    break
        return progress.result()
