"""Errors of the dependency graph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._exceptions import SlurmError

__all__ = ["GraphError"]


class GraphError(SlurmError):
    """A job graph is invalid (a cycle, an unknown node) or could not be submitted whole.

    ``cycle`` is the cycle path (``["a", "b", "a"]``) when there is one, ``node`` the
    offending node if any, ``submitted`` the jobs already submitted (``{name: job_id}``)
    when a submission failed midway (they are cancelled unless asked otherwise).

    Example::

        try:
            graph.validate()
        except GraphError as exc:
            print(exc.cycle)            # ['a', 'b', 'a']
    """

    def __init__(
        self,
        message: str,
        *,
        cycle: Sequence[str] | None = None,
        node: str | None = None,
        submitted: Mapping[str, int] | None = None,
    ) -> None:
        self.cycle = list(cycle) if cycle is not None else None
        self.node = node
        self.submitted = dict(submitted or {})
        super().__init__(message)
