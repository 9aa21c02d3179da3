"""Dependency expressions over node names: ``afterok:prep:train,afterany:eval``.

The syntax is Slurm's ``--dependency`` with node names where job ids go; a number stands
for a job submitted outside the graph, ``name+10`` for "10 minutes after name started"
(``after`` only). One expression uses ``,`` (all must hold) or ``?`` (any one), not both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..jobs.dependency import DependencyKind, DependencyOperator
from ._errors import GraphError

__all__ = ["GraphTerm", "Ref", "format_terms", "parse_terms"]

Ref = str | int
"""A node name, or the id of a job submitted outside the graph."""

_KINDS = {k.value: k for k in DependencyKind}


@dataclasses.dataclass(frozen=True)
class GraphTerm:
    """One ``kind:ref[:ref...]`` term; ``delays`` holds ``+minutes`` per ref (``after``).

    Example::

        >>> str(GraphTerm(DependencyKind.AFTER, ("prep",), (10,)))
        'after:prep+10'
    """

    kind: DependencyKind
    refs: tuple[Ref, ...] = ()
    delays: tuple[int | None, ...] = ()

    def __str__(self) -> str:
        delays = self.delays or (None,) * len(self.refs)
        parts = [
            f":{r}" + (f"+{d}" if d is not None else "")
            for r, d in zip(self.refs, delays, strict=True)
        ]
        return self.kind.value + "".join(parts)


def parse_terms(text: str) -> tuple[DependencyOperator, list[GraphTerm]]:
    """Parse a dependency expression over node names (``afterok:a:b,afterany:c``).

    Example::

        >>> op, terms = parse_terms("afterok:prep?afternotok:42")
        >>> op.value, [str(t) for t in terms]
        ('or', ['afterok:prep', 'afternotok:42'])
    """
    text = text.strip()
    if not text:
        raise GraphError("empty dependency expression")
    if "," in text and "?" in text:
        raise GraphError(f"{text!r} mixes ',' (AND) and '?' (OR); Slurm allows one per job")
    operator = DependencyOperator.OR if "?" in text else DependencyOperator.AND
    terms: list[GraphTerm] = []
    for chunk in text.split(operator.separator):
        word, *raw = chunk.strip().split(":")
        kind = _KINDS.get(word.strip().lower())
        if kind is None:
            raise GraphError(f"unknown dependency type {word!r} in {text!r}")
        refs: list[Ref] = []
        delays: list[int | None] = []
        for item in raw:
            name, _, delay = item.strip().partition("+")
            if not name or (delay and not delay.isdigit()):
                raise GraphError(f"bad reference {item!r} in {text!r}")
            refs.append(int(name) if name.isdigit() else name)
            delays.append(int(delay) if delay else None)
        terms.append(_term(kind, refs, delays))
    return operator, terms


def format_terms(operator: DependencyOperator, terms: Iterable[GraphTerm]) -> str:
    """The text of a dependency over node names (the inverse of :func:`parse_terms`).

    Example::

        >>> format_terms(*parse_terms("afterok:a:b,afterany:c"))
        'afterok:a:b,afterany:c'
    """
    return operator.separator.join(str(t) for t in terms)


def _term(kind: DependencyKind, refs: list[Ref], delays: list[int | None]) -> GraphTerm:
    if kind is DependencyKind.SINGLETON:
        if refs:
            raise GraphError("'singleton' takes no references")
    elif not refs:
        raise GraphError(f"'{kind.value}' needs at least one node")
    if kind is not DependencyKind.AFTER and any(d is not None for d in delays):
        raise GraphError(f"a '+minutes' delay is only allowed with 'after', not '{kind.value}'")
    return GraphTerm(kind, tuple(refs), tuple(delays) if any(delays) else ())
