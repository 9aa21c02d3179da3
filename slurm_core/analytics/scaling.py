"""Queue-driven node scaling: :class:`ResourceOptimizer` and the :class:`NodeScaler` seam.

Every ``interval`` (or on each :meth:`ResourceOptimizer.step`) the optimizer reads the
nodes and jobs, works out a node count per monitored partition (the rules are in
:mod:`slurm_core.analytics._policy`), and acts through a :class:`NodeScaler`:

* **hysteresis**: it scales up only after ``up_after`` consecutive observations wanting
  more, and down only once the wish to shrink has lasted ``cooldown`` and ``cooldown``
  has passed since its last action;
* **shared nodes**: a node is released only if every other monitored partition holding
  it keeps its own target;
* **cost**: active nodes of the monitored partitions stay within the hourly cost target
  (a node costs its size at the rate card's prices, or, without a rate card, its
  ``billing`` TRES per hour);
* every evaluation yields one :class:`ScalingDecision` per partition with the reason,
  logged at INFO (``slurm_core.analytics.scaling``) and kept in ``decisions``; with
  ``dry_run=True`` nothing is acted on.

Example::

    from slurm_core.analytics import RateCard, ResourceOptimizer, RestNodeScaler

    optimizer = (ResourceOptimizer(client)
                 .monitor_queues(["batch"]).scale_nodes(1, 100)
                 .with_cost_target(1000, rates=RateCard(cpu_hour=0.02, gpu_hour=1.5))
                 .with_scaler(RestNodeScaler(admin_client))
                 .start())
    ...
    optimizer.stop()
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from .._protocol import SlurmClientProtocol
from ..models import Node
from ._common import UTC, parse_tres_string
from ._export import plain
from ._policy import (
    REASON_PREFIX,
    Observation,
    is_active,
    is_idle,
    node_capacity,
    observe,
    target_nodes,
)
from ._rates import Rate, RateCard, to_decimal
from ._scalers import CallbackScaler, NodeScaler, RestNodeScaler
from .audit import AuditLog

__all__ = ["CallbackScaler", "NodeScaler", "ResourceOptimizer", "RestNodeScaler", "ScalingDecision"]

logger = logging.getLogger(__name__)
Action = Literal["scale_up", "scale_down", "none"]


@dataclasses.dataclass(frozen=True)
class ScalingDecision:
    """One partition's evaluation: what was seen, decided and done, and why."""

    time: datetime
    partition: str
    pending: int
    current: int
    target: int
    desired: int
    reason: str
    action: Action
    nodes: tuple[str, ...] = ()
    dry_run: bool = False
    error: str | None = None
    cost_per_hour: Decimal | None = None
    """Hourly cost of ``target`` nodes (``None`` without a cost model)."""


@dataclasses.dataclass
class _State:
    up_streak: int = 0
    down_since: datetime | None = None
    last_action: datetime | None = None


class ResourceOptimizer:
    """Scales nodes to the pending demand (see the module docstring). Configure with the
    chained ``with_*``/``scale_nodes``/``monitor_queues`` calls, then :meth:`start` a
    background thread (stopped by :meth:`stop`) or call :meth:`step` yourself.

    ``clock`` returns the current time (inject one in tests); ``dry_run`` only decides.

    Example::

        opt = ResourceOptimizer(client, dry_run=True).scale_nodes(0, 10)
        for d in opt.step():
            print(d.partition, d.action, d.reason)
    """

    def __init__(
        self,
        client: SlurmClientProtocol,
        *,
        dry_run: bool = False,
        clock: Callable[[], datetime] | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        if inspect.iscoroutinefunction(getattr(getattr(client, "nodes", None), "list", None)):
            raise TypeError("ResourceOptimizer runs in a thread: it needs a (sync) SlurmClient")
        self.client = client
        self.dry_run = dry_run
        self._clock = clock or (lambda: datetime.now(UTC))
        self._audit = audit
        self._partitions: tuple[str, ...] | None = None
        self.min_nodes, self.max_nodes = 0, 1_000_000
        self.drain_busy = False
        self.budget: Decimal | None = None
        self._rates: RateCard | None = None
        self._node_cost: Decimal | None = None
        self.scaler: NodeScaler = RestNodeScaler(client)
        self.up_after, self.cooldown = 2, timedelta(minutes=5)
        self.interval = 60.0
        self._callbacks: list[Callable[[ScalingDecision], object]] = []
        self._states: dict[str, _State] = {}
        self.decisions: collections.deque[ScalingDecision] = collections.deque(maxlen=1000)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._step_lock = threading.Lock()

    # ------------------------------------------------------------------ configuration ---
    def monitor_queues(self, partitions: Sequence[str] | None = None) -> ResourceOptimizer:
        """Watch ``partitions`` (default: every partition)."""
        if partitions is not None and (isinstance(partitions, str) or not all(partitions)):
            raise ValueError("partitions must be a list of partition names")
        self._partitions = tuple(partitions) if partitions is not None else None
        return self

    def scale_nodes(
        self, min_nodes: int, max_nodes: int, *, drain_busy: bool = False
    ) -> ResourceOptimizer:
        """Keep each partition's active nodes within ``[min_nodes, max_nodes]``.

        ``drain_busy``: also release nodes busy with other partitions' jobs (a drain lets
        them finish; nothing new starts there). By default only idle nodes are released.
        """
        if isinstance(min_nodes, bool) or not isinstance(min_nodes, int) or min_nodes < 0:
            raise ValueError(f"min_nodes must be an int >= 0, got {min_nodes!r}")
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < min_nodes:
            raise ValueError(f"max_nodes must be an int >= min_nodes, got {max_nodes!r}")
        self.min_nodes, self.max_nodes = min_nodes, max_nodes
        self.drain_busy = bool(drain_busy)
        return self

    def with_cost_target(
        self, per_hour: Rate, *, rates: RateCard | None = None, node_cost: Rate | None = None
    ) -> ResourceOptimizer:
        """Keep the active nodes' cost under ``per_hour``. A node costs ``node_cost`` per
        hour, else its size at ``rates``, else its ``billing`` TRES."""
        self.budget = to_decimal(per_hour, "per_hour")
        self._rates = rates if rates is not None else self._rates
        self._node_cost = to_decimal(node_cost, "node_cost") if node_cost is not None else None
        return self

    def with_scaler(self, scaler: NodeScaler) -> ResourceOptimizer:
        """Act through ``scaler`` (default: :class:`RestNodeScaler` on this client)."""
        if not isinstance(scaler, NodeScaler):
            raise TypeError("scaler must have scale_up(...) and scale_down(...) (see NodeScaler)")
        self.scaler = scaler
        return self

    def with_hysteresis(
        self, *, up_after: int = 2, cooldown: timedelta | float = 300.0
    ) -> ResourceOptimizer:
        """Scale up after ``up_after`` observations in a row; down after ``cooldown``."""
        if isinstance(up_after, bool) or not isinstance(up_after, int) or up_after < 1:
            raise ValueError(f"up_after must be an int >= 1, got {up_after!r}")
        wait = cooldown if isinstance(cooldown, timedelta) else timedelta(seconds=float(cooldown))
        if wait < timedelta(0):
            raise ValueError("cooldown must be >= 0")
        self.up_after, self.cooldown = up_after, wait
        return self

    def with_interval(self, seconds: float) -> ResourceOptimizer:
        """Seconds between evaluations of the background thread."""
        if not seconds > 0:
            raise ValueError(f"interval must be > 0, got {seconds!r}")
        self.interval = float(seconds)
        return self

    def on_decision(self, callback: Callable[[ScalingDecision], object]) -> ResourceOptimizer:
        """Also hand every decision to ``callback``."""
        self._callbacks.append(callback)
        return self

    # ------------------------------------------------------------------ deciding --------
    def _cost(self, node: Node | None, obs: Observation) -> Decimal | None:
        if self._node_cost is not None:
            return self._node_cost
        cpus, gpus, memory = (
            node_capacity(node) if node else (obs.node_cpus, obs.node_gpus, obs.node_memory)
        )
        if self._rates is not None:
            return self._rates.node_hour_cost(cpus, memory, gpus)
        billing = parse_tres_string(node.tres if node else None).get("billing")
        return Decimal(billing if billing is not None else cpus)

    def step(self) -> list[ScalingDecision]:
        """Observe, decide and act once; returns one decision per monitored partition."""
        with self._step_lock:
            return self._step()

    def _step(self) -> list[ScalingDecision]:
        now = self._clock()
        nodes, jobs = self.client.nodes.list(), self.client.jobs.list()
        names = self._partitions or tuple(p.name for p in self.client.partitions.list())
        by_name = {n.name: n for n in nodes}
        active = {n.name for n in nodes if is_active(n)}
        seen = {p: observe(p, nodes, jobs) for p in names}
        costs = {
            p: self._cost(by_name.get(o.nodes[0]) if o.nodes else None, o) for p, o in seen.items()
        }
        plans = {}
        for p, o in seen.items():
            budget = None
            if self.budget is not None:
                others = {
                    n for q, oq in seen.items() if q != p for n in oq.active if n not in o.nodes
                }
                spent = sum(
                    (self._cost(by_name[n], seen[p]) or Decimal(0) for n in others), Decimal(0)
                )
                budget = max(self.budget - spent, Decimal(0))
            plans[p] = target_nodes(
                o,
                min_nodes=self.min_nodes,
                max_nodes=self.max_nodes,
                node_cost=costs[p] if budget is not None else None,
                budget=budget,
                drain_busy=self.drain_busy,
            )
        out = []
        for p, o in seen.items():
            desired, target, why = plans[p]
            decision = self._decide(now, o, desired, target, why, active, seen, plans, by_name)
            cost = costs[p]
            if cost is not None and self.budget is not None:
                decision = dataclasses.replace(decision, cost_per_hour=cost * target)
            out.append(self._publish(decision))
        return out

    def _decide(
        self,
        now: datetime,
        o: Observation,
        desired: int,
        target: int,
        why: str,
        active: set[str],
        seen: dict[str, Observation],
        plans: dict[str, tuple[int, int, str]],
        by_name: dict[str, Node],
    ) -> ScalingDecision:
        st = self._states.setdefault(o.partition, _State())
        current = sum(1 for n in o.nodes if n in active)

        def decide(action: Action, reason: str, picked: Sequence[str] = ()) -> ScalingDecision:
            return ScalingDecision(
                time=now,
                partition=o.partition,
                pending=o.pending,
                current=current,
                target=target,
                desired=desired,
                reason=f"{why}; {reason}",
                action=action,
                nodes=tuple(picked),
                dry_run=self.dry_run,
            )

        if target > current:
            st.down_since = None
            st.up_streak += 1
            if st.up_streak < self.up_after:
                return decide(
                    "none", f"scale-up wanted ({st.up_streak}/{self.up_after} observations)"
                )
            picked = [n for n in o.resumable if n not in active][: target - current]
            if not picked:
                return decide("none", "no node this optimizer may resume")
            st.up_streak, st.last_action = 0, now
            return self._act(decide("scale_up", f"resume {len(picked)} node(s)", picked), active)
        st.up_streak = 0
        if target == current:
            st.down_since = None
            return decide("none", "at target")
        st.down_since = st.down_since or now
        waited = now - st.down_since
        since = now - st.last_action if st.last_action else None
        if waited < self.cooldown or (since is not None and since < self.cooldown):
            held = min(waited, since) if since is not None else waited
            return decide(
                "none",
                f"scale-down cooling down ({held.total_seconds():.0f} of "
                f"{self.cooldown.total_seconds():.0f} s)",
            )
        picked = []
        idle = sorted((n for n in o.nodes if n in active and is_idle(by_name[n])), reverse=True)
        others = [n for n in o.nodes if n in active and n not in idle and n not in o.own_busy]
        candidates = idle + (sorted(others, reverse=True) if self.drain_busy else [])
        for name in candidates:
            if len(picked) >= current - target:
                break
            needed = any(
                name in oq.nodes and sum(1 for n in oq.nodes if n in active) - 1 < plans[q][1]
                for q, oq in seen.items()
                if q != o.partition
            )
            if not needed:
                picked.append(name)
        if not picked:
            return decide("none", "no idle node can be released")
        st.last_action, st.down_since = now, None
        busy = sum(1 for n in picked if n not in idle)
        what = f"release {len(picked)} node(s)" + (f", draining {busy} busy" if busy else "")
        return self._act(decide("scale_down", what, picked), active)

    def _act(self, d: ScalingDecision, active: set[str]) -> ScalingDecision:
        if self.dry_run:
            return d
        reason = f"{REASON_PREFIX}: queue {d.partition} wants {d.target} node(s)"
        try:
            if d.action == "scale_up":
                self.scaler.scale_up(d.partition, d.nodes)
                active.update(d.nodes)
            else:
                self.scaler.scale_down(d.partition, d.nodes, reason)
                active.difference_update(d.nodes)
        except Exception as exc:  # recorded on the decision; the loop goes on
            logger.warning("scaling %s: %s of %s failed: %s", d.partition, d.action, d.nodes, exc)
            return dataclasses.replace(d, error=f"{type(exc).__name__}: {exc}")
        return d

    def _publish(self, d: ScalingDecision) -> ScalingDecision:
        self.decisions.append(d)
        logger.info(
            "scaling %s: %s%s %s current=%d target=%d pending=%d (%s)%s",
            d.partition, d.action, " [dry run]" if d.dry_run else "", ",".join(d.nodes),
            d.current, d.target, d.pending, d.reason, f" ERROR {d.error}" if d.error else "",
        )  # fmt: skip
        if self._audit is not None:
            self._audit.record(
                "scaling_decision", **{k: v for k, v in _plain(d).items() if k != "time"}
            )
        for callback in self._callbacks:
            callback(d)
        return d

    # ------------------------------------------------------------------ running ---------
    @property
    def running(self) -> bool:
        """True while the background thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> ResourceOptimizer:
        """Check the scaler (``check()`` if it has one, unless dry run) and start the
        background thread: one :meth:`step` now, then every ``interval`` seconds."""
        if self.running:
            raise RuntimeError("the optimizer is already running")
        check = getattr(self.scaler, "check", None)
        if callable(check) and not self.dry_run:
            check()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="slurm-optimizer", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:
                logger.exception("scaling step failed; trying again in %.0f s", self.interval)
            self._stop.wait(self.interval)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the background thread and wait for it (up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _plain(d: ScalingDecision) -> dict[str, object]:
    out: dict[str, object] = plain(dataclasses.asdict(d))
    return out
