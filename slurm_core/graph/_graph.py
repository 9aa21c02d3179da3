"""The graph's data: named nodes, dependency terms between them, validation and order.

Nothing here draws or submits (that is :class:`~._model.JobGraph`, built on this).

A node's dependency is written like Slurm's ``--dependency`` with node names where job ids
go (``afterok:prep:train,afterany:eval`` or ``afterok:a?afternotok:b``); a number stands
for a job submitted outside the graph. At submission each name becomes its job id and
the expression a :class:`~slurm_core.jobs.Dependency`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from ..jobs.builder import AsyncJobBuilder, JobBuilder
from ..jobs.dependency import (
    Dependency,
    DependencyKind,
    DependencyOperator,
    DependencyTerm,
    JobRef,
)
from ..jobs.spec import JobSpec
from ..models import Job
from ._errors import GraphError
from ._order import downstream_map, find_cycle, topological
from ._terms import GraphTerm, Ref, format_terms, parse_terms

GraphJob = JobSpec | JobBuilder | AsyncJobBuilder
"""What a node submits: a builder from ``client.jobs.submit()``, or a :class:`JobSpec`."""

__all__ = ["BaseJobGraph", "Edge", "GraphNode"]

_BAD_NAME = re.compile(r"[\s:,?+()\"'\\]")


@dataclasses.dataclass(frozen=True)
class Edge:
    """``upstream`` must reach ``kind`` before ``downstream`` may start.

    Example::

        >>> [(e.upstream, e.downstream, e.kind.value) for e in graph.edges()]
        [('prep', 'train', 'afterok')]
    """

    upstream: Ref
    downstream: str
    kind: DependencyKind
    any_of: bool = False


class GraphNode:
    """A job in a :class:`JobGraph`: ``job`` is what to submit (a builder or a spec).

    ``job_id`` is set for graphs read from the cluster, where ``slurm_job`` holds the
    job as slurmctld reported it (a submitted graph's ids are in ``GraphRun.job_ids``).

    Example::

        >>> node = graph.add("train", builder, after_ok=["prep"])
        >>> node.dependency, node.refs
        ('afterok:prep', ['prep'])
    """

    def __init__(self, name: str, job: GraphJob | None = None) -> None:
        self.name = name
        self.job = job
        self.operator = DependencyOperator.AND
        self.terms: list[GraphTerm] = []
        self.job_id: int | None = None
        self.slurm_job: Job | None = None

    @property
    def refs(self) -> list[Ref]:
        """Every node name or job id this node depends on, in order, once each."""
        return list(dict.fromkeys(r for t in self.terms for r in t.refs))

    @property
    def dependency(self) -> str | None:
        """The dependency in Slurm syntax with node names (``None`` if there is none)."""
        return format_terms(self.operator, self.terms) if self.terms else None

    def __repr__(self) -> str:
        dep = f" after {self.dependency}" if self.terms else ""
        return f"<GraphNode {self.name!r}{dep}>"


def _ref(value: object) -> Ref:
    if isinstance(value, GraphNode):
        return value.name
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise GraphError(f"a dependency names a node, a node name or a job id, not {value!r}")
    return value


class BaseJobGraph:
    """A :class:`JobGraph` without output and submission: nodes, edges, checks, order.

    Drawing, submitting and following a graph work on this type; every graph users
    build or read back is a :class:`~slurm_core.graph.JobGraph`.
    """

    def __init__(self, name: str = "jobs") -> None:
        self.name = name
        self._nodes: dict[str, GraphNode] = {}

    # -- building ----------------------------------------------------------------------
    def add(
        self,
        name: str,
        job: GraphJob | None = None,
        *,
        after_ok: Iterable[GraphNode | Ref] = (),
        after_notok: Iterable[GraphNode | Ref] = (),
        after_any: Iterable[GraphNode | Ref] = (),
        after: Iterable[GraphNode | Ref] = (),
        after_corr: Iterable[GraphNode | Ref] = (),
        singleton: bool = False,
        any_of: bool = False,
        dependency: str | None = None,
    ) -> GraphNode:
        """Add a node; its dependencies may name nodes added later (checked at submit).

        Keyword lists must all hold (AND), or any one with ``any_of=True`` (OR);
        ``dependency`` takes the same as Slurm text over names instead
        (``"afterok:a?afternotok:b"``). A number stands for a job outside the graph.

        Example::

            prep = g.add("prep", client.jobs.submit().command(["./prep.sh"]))
            g.add("train", train_builder, after_ok=[prep, 4242])      # 4242: existing job
            g.add("report", report_builder, dependency="afterok:train?afternotok:train")
        """
        if not isinstance(name, str) or not name or _BAD_NAME.search(name) or name.isdigit():
            raise GraphError(
                f"bad node name {name!r}: use a non-numeric name without spaces or :,?+()",
                node=str(name),
            )
        if name in self._nodes:
            raise GraphError(f"node {name!r} is already in the graph", node=name)
        node = self._nodes[name] = GraphNode(name, job)
        self.depend(
            node,
            after_ok=after_ok,
            after_notok=after_notok,
            after_any=after_any,
            after=after,
            after_corr=after_corr,
            singleton=singleton,
            any_of=any_of,
            dependency=dependency,
        )
        return node

    def depend(
        self,
        node: GraphNode | str,
        *,
        after_ok: Iterable[GraphNode | Ref] = (),
        after_notok: Iterable[GraphNode | Ref] = (),
        after_any: Iterable[GraphNode | Ref] = (),
        after: Iterable[GraphNode | Ref] = (),
        after_corr: Iterable[GraphNode | Ref] = (),
        singleton: bool = False,
        any_of: bool = False,
        dependency: str | None = None,
    ) -> GraphNode:
        """Add dependencies to an existing node (same keywords as :meth:`add`).

        Example::

            g.depend("report", after_any=["eval"])
        """
        target = self[node.name if isinstance(node, GraphNode) else node]
        groups = {
            DependencyKind.AFTEROK: after_ok,
            DependencyKind.AFTERNOTOK: after_notok,
            DependencyKind.AFTERANY: after_any,
            DependencyKind.AFTER: after,
            DependencyKind.AFTERCORR: after_corr,
        }
        terms: list[GraphTerm] = []
        for kind, items in groups.items():
            if isinstance(items, (str, GraphNode)):
                items = [items]
            refs = [_ref(i) for i in items]
            if refs and any_of:
                terms.extend(GraphTerm(kind, (r,)) for r in refs)
            elif refs:
                terms.append(GraphTerm(kind, tuple(refs)))
        if singleton:
            terms.append(GraphTerm(DependencyKind.SINGLETON))
        operator = DependencyOperator.OR if any_of else DependencyOperator.AND
        if dependency is not None:
            if terms:
                raise GraphError("give dependency text or keywords, not both", node=target.name)
            operator, terms = parse_terms(dependency)
        if not terms:
            return target
        if operator is DependencyOperator.OR and len(terms) == 1:
            operator = DependencyOperator.AND  # one term: nothing to choose between
        if target.terms and operator is not target.operator:
            raise GraphError(
                f"node {target.name!r} would mix ',' (AND) and '?' (OR) dependencies",
                node=target.name,
            )
        target.operator = operator
        target.terms.extend(terms)
        return target

    # -- reading -----------------------------------------------------------------------
    @property
    def nodes(self) -> Mapping[str, GraphNode]:
        """The nodes by name, in the order they were added.

        Example::

            for name, node in g.nodes.items():
                print(name, node.dependency)
        """
        return MappingProxyType(self._nodes)

    def __getitem__(self, name: str) -> GraphNode:
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError(f"no node {name!r} in the graph", node=name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} nodes={len(self)} edges={len(self.edges())}>"

    def edges(self) -> list[Edge]:
        """Every dependency edge, in the order the nodes and their terms were added.

        Example::

            for edge in g.edges():
                print(edge.upstream, "->", edge.downstream, edge.kind.value)
        """
        out: list[Edge] = []
        for node in self._nodes.values():
            any_of = node.operator is DependencyOperator.OR
            for term in node.terms:
                out.extend(Edge(ref, node.name, term.kind, any_of) for ref in term.refs)
        return out

    def upstream(self, name: str) -> list[str]:
        """The graph nodes ``name`` depends on directly.

        Example::

            g.upstream("train")          # ['prep']
        """
        return [r for r in self[name].refs if isinstance(r, str)]

    def downstream(self, name: str) -> list[str]:
        """The graph nodes that depend directly on ``name``.

        Example::

            g.downstream("prep")         # ['train']
        """
        self[name]
        return [n.name for n in self._nodes.values() if name in n.refs]

    def _downstream(self) -> dict[str, list[str]]:
        return downstream_map({name: node.refs for name, node in self._nodes.items()})

    # -- checking ----------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`GraphError` for an unknown node or a cycle (``a -> b -> a``).

        Example::

            try:
                g.validate()
            except GraphError as exc:
                print(exc.cycle or exc.node)
        """
        for node in self._nodes.values():
            for ref in node.refs:
                if isinstance(ref, str) and ref not in self._nodes:
                    raise GraphError(
                        f"node {node.name!r} depends on unknown node {ref!r}", node=node.name
                    )
        cycle = find_cycle(self._downstream())
        if cycle is not None:
            raise GraphError(f"dependency cycle: {' -> '.join(cycle)}", cycle=cycle)

    def order(self) -> list[str]:
        """The nodes in submission order: every node after the nodes it depends on.

        Stable: among nodes ready at the same time, the one added first comes first.

        Example::

            g.order()                    # ['prep', 'train', 'eval']
        """
        self.validate()
        return topological(self._downstream())

    def resolve(self, name: str, job_ids: Mapping[str, int]) -> Dependency | None:
        """``name``'s dependency with job ids in place of node names.

        Example::

            str(g.resolve("train", {"prep": 101}))     # 'afterok:101'
        """
        node = self[name]
        if not node.terms:
            return None
        terms = []
        for term in node.terms:
            delays = term.delays or (None,) * len(term.refs)
            refs = [
                JobRef(job_id=job_ids[r] if isinstance(r, str) else r, delay=d)
                for r, d in zip(term.refs, delays, strict=True)
            ]
            terms.append(DependencyTerm(kind=term.kind, job_ids=tuple(refs)))
        return Dependency(kind=node.operator, terms=tuple(terms))
