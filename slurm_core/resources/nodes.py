"""``client.nodes``: list, get and update compute nodes."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from .._engine import AsyncResource, BaseResource, Op, SyncResource
from .._versions import validate_name
from ..models import Node

__all__ = ["AsyncNodes", "Nodes"]

_NEEDS_REASON = frozenset({"DOWN", "DRAIN", "FAIL"})


def _update_fields(
    state: str | Sequence[str] | None,
    reason: str | None,
    comment: str | None,
    features: Sequence[str] | None,
    weight: int | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if state is not None:
        states = [state] if isinstance(state, str) else list(state)
        if not states or not all(isinstance(s, str) and s for s in states):
            raise ValueError(
                f"state must be a state name like 'DRAIN' or a list of them, got {state!r}"
            )
        fields["state"] = [s.upper() for s in states]
        if _NEEDS_REASON & set(fields["state"]) and not reason:
            raise ValueError(f"reason is required to set a node {'/'.join(fields['state'])}")
    if reason is not None:
        if not isinstance(reason, str):
            raise TypeError(f"reason must be a str, got {type(reason).__name__}")
        fields["reason"] = reason
    if comment is not None:
        fields["comment"] = str(comment)
    if features is not None:
        if isinstance(features, str):
            raise TypeError("features must be a list of feature names, not a str")
        fields["features"] = [str(f) for f in features]
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise ValueError(f"weight must be a non-negative int, got {weight!r}")
        fields["weight"] = weight
    if not fields:
        raise ValueError("nodes.update needs at least one field to change")
    return fields


class _NodesOps(BaseResource):
    def _list(self) -> Op[builtins.list[Node]]:
        a = yield from self._core.adapter()
        response = yield a.nodes_list()
        return a.parse_nodes(response)

    def _get(self, name: str) -> Op[Node]:
        validate_name(name, "name")
        a = yield from self._core.adapter()
        response = yield a.node_get(name)
        return a.parse_node(response, name)

    def _update(
        self,
        name: str,
        state: str | Sequence[str] | None,
        reason: str | None,
        comment: str | None,
        features: Sequence[str] | None,
        weight: int | None,
    ) -> Op[None]:
        validate_name(name, "name")
        fields = _update_fields(state, reason, comment, features, weight)
        a = yield from self._core.adapter()
        yield a.node_update(name, fields)


class Nodes(_NodesOps, SyncResource):
    """Compute nodes.

    Example::

        idle = [n.name for n in client.nodes.list() if n.state == "IDLE"]
    """

    def list(self) -> builtins.list[Node]:
        """All nodes.

        Example::

            for node in client.nodes.list():
                print(node.name, node.state, sorted(node.state_flags))
        """
        return self._run(self._list())

    def get(self, name: str) -> Node:
        """One node by name (:class:`~slurm_core.NotFoundError` if unknown).

        Example::

            node = client.nodes.get("node1")
        """
        return self._run(self._get(name))

    def update(
        self,
        name: str,
        *,
        state: str | Sequence[str] | None = None,
        reason: str | None = None,
        comment: str | None = None,
        features: Sequence[str] | None = None,
        weight: int | None = None,
    ) -> None:
        """Change a node (like ``scontrol update node``); needs REST API v0.0.39+.

        ``state`` is e.g. ``"DRAIN"`` (needs ``reason``), ``"RESUME"``, ``"UNDRAIN"``,
        ``"DOWN"`` (needs ``reason``). On v0.0.38 (Slurm 22.05) this raises
        :class:`~slurm_core.UnsupportedOperationError`.

        Example::

            client.nodes.update("node1", state="DRAIN", reason="disk check")
            client.nodes.update("node1", state="RESUME")
        """
        self._run(self._update(name, state, reason, comment, features, weight))


class AsyncNodes(_NodesOps, AsyncResource):
    """Async twin of :class:`Nodes`.

    Example::

        nodes = await client.nodes.list()
    """

    async def list(self) -> builtins.list[Node]:
        """See :meth:`Nodes.list`."""
        return await self._run(self._list())

    async def get(self, name: str) -> Node:
        """See :meth:`Nodes.get`."""
        return await self._run(self._get(name))

    async def update(
        self,
        name: str,
        *,
        state: str | Sequence[str] | None = None,
        reason: str | None = None,
        comment: str | None = None,
        features: Sequence[str] | None = None,
        weight: int | None = None,
    ) -> None:
        """See :meth:`Nodes.update`."""
        await self._run(self._update(name, state, reason, comment, features, weight))
