"""The :class:`NodeScaler` seam of :class:`~slurm_core.analytics.ResourceOptimizer` and two
implementations: :class:`RestNodeScaler` (slurmrestd node updates) and
:class:`CallbackScaler` (your functions, e.g. a cloud API).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

from .._protocol import SlurmClientProtocol
from .._versions import get_adapter

__all__ = ["CallbackScaler", "NodeScaler", "RestNodeScaler"]


@runtime_checkable
class NodeScaler(Protocol):
    """Brings nodes into service and takes them out (a cloud API, slurmrestd, ...)."""

    def scale_up(self, partition: str, nodes: Sequence[str]) -> None:
        """Make ``nodes`` available to ``partition``."""

    def scale_down(self, partition: str, nodes: Sequence[str], reason: str) -> None:
        """Take ``nodes`` out of service (``reason`` says why)."""


class RestNodeScaler:
    """Scales through slurmrestd's node updates (``client.nodes.update``; needs an
    operator/admin token and REST API v0.0.39+: on v0.0.38 every call, and
    :meth:`check`, raise :class:`~slurm_core.UnsupportedOperationError`).

    ``mode="drain"`` drains (``DRAIN`` + reason) and resumes (``RESUME``);
    ``mode="power"`` powers down (``POWER_DOWN``) and up (``POWER_UP``) for sites with
    Slurm power saving.

    Example::

        scaler = RestNodeScaler(SlurmClient(url, auth=admin_token), mode="drain")
    """

    def __init__(
        self, client: SlurmClientProtocol, *, mode: Literal["drain", "power"] = "drain"
    ) -> None:
        if mode not in ("drain", "power"):
            raise ValueError(f"mode must be 'drain' or 'power', got {mode!r}")
        self.client = client
        self.mode = mode

    def check(self) -> None:
        """Raise :class:`~slurm_core.UnsupportedOperationError` if the server's REST API
        version has no node updates (nothing is changed)."""

        adapter = get_adapter(self.client.negotiate())
        adapter.node_update("check", {"state": ["RESUME"]})  # builds, never sent

    def scale_up(self, partition: str, nodes: Sequence[str]) -> None:
        """``RESUME`` (drain mode) or ``POWER_UP`` each node."""
        for name in nodes:
            self.client.nodes.update(name, state="RESUME" if self.mode == "drain" else "POWER_UP")

    def scale_down(self, partition: str, nodes: Sequence[str], reason: str) -> None:
        """``DRAIN`` (drain mode) or ``POWER_DOWN`` each node, with ``reason``."""
        state = "DRAIN" if self.mode == "drain" else "POWER_DOWN"
        for name in nodes:
            self.client.nodes.update(name, state=state, reason=reason)


class CallbackScaler:
    """A :class:`NodeScaler` made of two functions (e.g. calls to a cloud API).

    Example::

        scaler = CallbackScaler(up=lambda p, nodes: ec2.start(nodes),
                                down=lambda p, nodes, why: ec2.stop(nodes))
    """

    def __init__(
        self,
        up: Callable[[str, Sequence[str]], object],
        down: Callable[[str, Sequence[str], str], object],
    ) -> None:
        self._up, self._down = up, down

    def scale_up(self, partition: str, nodes: Sequence[str]) -> None:
        """Call ``up(partition, nodes)``."""
        self._up(partition, list(nodes))

    def scale_down(self, partition: str, nodes: Sequence[str], reason: str) -> None:
        """Call ``down(partition, nodes, reason)``."""
        self._down(partition, list(nodes), reason)
