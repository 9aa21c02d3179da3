"""Graph algorithms on plain mappings (node -> its children): cycles and a stable order.

Both are iterative (a chain of thousands of jobs needs no recursion) and deterministic:
the same mapping, in the same key order, gives the same cycle path and the same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["downstream_map", "find_cycle", "topological"]


def downstream_map(upstream: Mapping[str, Iterable[str | int]]) -> dict[str, list[str]]:
    """Node -> the nodes depending on it (each once, in order), from node -> its references.

    References that are not keys (job ids, unknown names) are left out.

    Example::

        >>> downstream_map({"a": [], "b": ["a", 42]})
        {'a': ['b'], 'b': []}
    """
    down: dict[str, dict[str, None]] = {n: {} for n in upstream}
    for name, refs in upstream.items():
        for ref in refs:
            if isinstance(ref, str) and ref in down:
                down[ref][name] = None
    return {n: list(children) for n, children in down.items()}


def find_cycle(down: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as a path in edge direction (``["a", "b", "a"]``), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in down:
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


def topological(down: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm; among ready nodes the first key goes first (acyclic input)."""
    names = list(down)
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
