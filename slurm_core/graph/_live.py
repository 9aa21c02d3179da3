"""Graphs read back from the cluster: jobs' ``dependency`` fields turned into edges.

slurmctld reports a dependency with the state of each record
(``afterok:12(unfulfilled),afterany:13(unfulfilled)``) and drops records once they are
satisfied, so a graph read while its jobs wait shows every edge, one read later shows
what is still awaited. Nodes are named by job id (``"123"``); a job named in a
dependency but not known to slurmctld any more appears as an outside job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from .._exceptions import JobSpecError
from ..jobs.dependency import Dependency, parse_dependency
from ..models import Job
from ._graph import GraphNode
from ._model import JobGraph
from ._terms import GraphTerm, Ref

__all__ = ["LiveGraph", "job_dependency"]

logger = logging.getLogger("slurm_core.graph")


def job_dependency(job: Job) -> Dependency | None:
    """The dependency of ``job`` as slurmctld reports it, parsed (``None`` if none).

    Example::

        >>> str(job_dependency(client.jobs.get(42)))
        'afterok:41(unfulfilled)'
    """
    text = (job.dependency or "").strip()
    if not text or text == "(null)":
        return None
    try:
        return parse_dependency(text)
    except JobSpecError as exc:
        logger.warning("job %s: unreadable dependency %r: %s", job.job_id, text, exc)
        return None


class LiveGraph:
    """The jobs around ``root`` as the cluster reported them; graphs come from it.

    Example::

        live = client.dependencies.build_graph(42)
        graph = live.with_transitive_deps()      # 42 and everything it waits for
        print(graph.to_dot())
    """

    def __init__(self, root: int, jobs: Mapping[int, Job]) -> None:
        self.root = root
        self.jobs = dict(jobs)
        self._deps = {job_id: job_dependency(job) for job_id, job in self.jobs.items()}

    def dependency(self, job_id: int) -> Dependency | None:
        """The parsed dependency of a job read from the cluster.

        Example::

            live.dependency(42).job_ids()        # [41]
        """
        return self._deps.get(job_id)

    def _upstream(self, job_id: int) -> list[int]:
        dep = self._deps.get(job_id)
        return dep.job_ids() if dep is not None else []

    def graph(self) -> JobGraph:
        """The root and the jobs it depends on directly.

        Example::

            live.graph().edges()
        """
        return self._build([self.root, *self._upstream(self.root)])

    def with_transitive_deps(self) -> JobGraph:
        """The root and everything it waits for, directly or not.

        Example::

            print(live.with_transitive_deps().to_dot())
        """
        return self._build(self._closure([self.root], self._upstream))

    def with_dependents(self) -> JobGraph:
        """The root, everything it waits for, and every job waiting for it (transitively).

        Example::

            sorted(live.with_dependents())       # ['41', '42', '43']
        """
        down: dict[int, list[int]] = {}
        for job_id in self.jobs:
            for up in self._upstream(job_id):
                down.setdefault(up, []).append(job_id)
        below = self._closure([self.root], lambda j: down.get(j, []))
        above = self._closure([self.root], self._upstream)
        return self._build([*above, *below])

    def _closure(self, start: Iterable[int], step: Callable[[int], Iterable[int]]) -> list[int]:
        seen: dict[int, None] = {}
        todo = list(start)
        while todo:
            job_id = todo.pop(0)
            if job_id in seen:
                continue
            seen[job_id] = None
            todo.extend(j for j in step(job_id) if j not in seen)
        return list(seen)

    def _build(self, ids: Iterable[int]) -> JobGraph:
        known = [j for j in dict.fromkeys(ids) if j in self.jobs]
        included = set(known)
        graph = JobGraph(f"job {self.root}")
        for job_id in sorted(known):
            node = GraphNode(str(job_id))
            node.job_id = job_id
            node.slurm_job = self.jobs[job_id]
            dep = self._deps.get(job_id)
            if dep is not None:
                node.operator = dep.kind
                for term in dep.terms:
                    refs: list[Ref] = [
                        str(r.job_id) if r.job_id in included else r.job_id for r in term.job_ids
                    ]
                    delays = tuple(r.delay for r in term.job_ids)
                    node.terms.append(
                        GraphTerm(term.kind, tuple(refs), delays if any(delays) else ())
                    )
            graph._nodes[node.name] = node  # job ids as names: not through add()
        return graph
