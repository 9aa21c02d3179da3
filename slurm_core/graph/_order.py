"""Graph algorithms over a :class:`~._model.JobGraph`: cycles and a stable order.

Both are iterative (a chain of thousands of jobs needs no recursion) and deterministic:
the same graph gives the same cycle path and the same order.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._model import JobGraph

__all__ = ["downstream_map", "find_cycle", "topological"]


def downstream_map(graph: JobGraph) -> dict[str, list[str]]:
    """Graph node -> the graph nodes depending on it (each once, in order)."""
    down: dict[str, dict[str, None]] = {n: {} for n in graph}
    for edge in graph.edges():
        if isinstance(edge.upstream, str) and edge.upstream in down:
            down[edge.upstream][edge.downstream] = None
    return {n: list(children) for n, children in down.items()}


def find_cycle(graph: JobGraph) -> list[str] | None:
    """A cycle as a path in edge direction (``["a", "b", "a"]``), or ``None``."""
    down = downstream_map(graph)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if start in state:
            continue
        path = [start]
        stack = [iter(down[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(down[nxt]))
    return None


def topological(graph: JobGraph) -> list[str]:
    """Kahn's algorithm; among ready nodes the one added first goes first (acyclic input)."""
    down = downstream_map(graph)
    names = list(graph)
    index = {name: i for i, name in enumerate(names)}
    waiting = dict.fromkeys(names, 0)
    for children in down.values():
        for child in children:
            waiting[child] += 1
    ready = [index[n] for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        out.append(name)
        for child in down[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, index[child])
    return out
