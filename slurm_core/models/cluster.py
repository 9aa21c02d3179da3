"""Models of the cluster itself: nodes, partitions, reservations, licenses, diagnostics."""

from __future__ import annotations

from datetime import datetime, timedelta

from ._base import InfiniteType, SlurmObject

__all__ = ["Diag", "License", "Node", "Partition", "Ping", "Reservation"]


class Node(SlurmObject):
    """A compute node.

    ``state`` is the base state in upper case (``"IDLE"``, ``"MIXED"``, ``"DOWN"``...);
    ``state_flags`` holds the flags (``{"DRAIN"}``, ``{"NOT_RESPONDING"}``...). slurmrestd
    v0.0.38 sends them as ``"idle"`` + ``state_flags``, later versions as one list.

    Example::

        >>> node = client.nodes.get("node1")
        >>> node.state, node.is_drained, node.real_memory    # memory in MiB
        ('IDLE', False, 2000)
    """

    name: str
    state: str
    state_flags: frozenset[str] = frozenset()
    hostname: str | None = None
    address: str | None = None
    partitions: tuple[str, ...] = ()
    cpus: int | None = None
    sockets: int | None = None
    cores: int | None = None
    threads: int | None = None
    boards: int | None = None
    real_memory: int | None = None
    free_memory: int | None = None
    alloc_memory: int | None = None
    alloc_cpus: int | None = None
    cpu_load: float | None = None
    features: tuple[str, ...] = ()
    active_features: tuple[str, ...] = ()
    gres: str | None = None
    gres_used: str | None = None
    tres: str | None = None
    reason: str | None = None
    reason_set_by_user: str | None = None
    reason_changed_at: datetime | None = None
    boot_time: datetime | None = None
    slurmd_start_time: datetime | None = None
    last_busy: datetime | None = None
    architecture: str | None = None
    operating_system: str | None = None
    version: str | None = None
    weight: int | None = None

    @property
    def is_drained(self) -> bool:
        """True if the node is draining or drained (flag ``DRAIN``)."""
        return "DRAIN" in self.state_flags

    @property
    def is_available(self) -> bool:
        """True if the node can take work: up, not drained, not down/failing."""
        bad = {"DRAIN", "NOT_RESPONDING", "FAIL", "MAINTENANCE", "REBOOT_REQUESTED"}
        return self.state in {"IDLE", "MIXED", "ALLOCATED"} and not (self.state_flags & bad)


class Partition(SlurmObject):
    """A partition (queue).

    Limits are ``None`` when unset and :data:`~slurm_core.models.INFINITE` when unlimited.

    Example::

        >>> p = client.partitions.get("debug")
        >>> p.max_time                       # timedelta(hours=1), INFINITE, or None
        datetime.timedelta(seconds=3600)
    """

    name: str
    state: str | None = None
    """``"UP"``, ``"DOWN"``, ``"DRAIN"``, ``"INACTIVE"``; ``None`` if not reported (v0.0.39)."""
    nodes: str | None = None
    total_nodes: int | None = None
    total_cpus: int | None = None
    is_default: bool | None = False
    """``None`` when the server does not say: REST API v0.0.40-v0.0.44 send no partition
    flags (seen on Slurm 24.11 and 26.05; ``flags`` is then empty too)."""
    flags: frozenset[str] = frozenset()
    max_time: timedelta | InfiniteType | None = None
    default_time: timedelta | InfiniteType | None = None
    max_nodes_per_job: int | InfiniteType | None = None
    min_nodes_per_job: int | None = None
    max_cpus_per_node: int | InfiniteType | None = None
    default_memory_per_cpu: int | None = None
    default_memory_per_node: int | None = None
    max_memory_per_cpu: int | None = None
    max_memory_per_node: int | None = None
    priority_tier: int | None = None
    priority_job_factor: int | None = None
    grace_time: timedelta | None = None
    qos: str | None = None
    allowed_accounts: tuple[str, ...] = ()
    denied_accounts: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    allowed_qos: tuple[str, ...] = ()
    tres: str | None = None


class Reservation(SlurmObject):
    """An advance reservation.

    Example::

        >>> [r.name for r in client.reservations.list() if "MAINT" in r.flags]
        ['maint-2026-06']
    """

    name: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    node_list: str | None = None
    node_count: int | None = None
    core_count: int | None = None
    partition: str | None = None
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    features: str | None = None
    licenses: str | None = None
    tres: str | None = None
    burst_buffer: str | None = None


class License(SlurmObject):
    """A license counter (``scontrol show licenses``).

    Example::

        >>> {lic.name: lic.free for lic in client.licenses.list()}
        {'matlab': 3}
    """

    name: str
    total: int = 0
    used: int = 0
    free: int = 0
    reserved: int = 0
    remote: bool = False
    last_update: datetime | None = None


class Diag(SlurmObject):
    """Scheduler statistics from ``GET /slurm/<v>/diag`` (``sdiag``).

    A good readiness probe: unlike ``ping``, ``diag`` fails with a bad token.
    Durations of scheduling cycles are in microseconds, as Slurm reports them.

    Example::

        >>> d = client.diag()
        >>> d.jobs_running, d.server_thread_count
        (3, 3)
    """

    req_time: datetime | None = None
    req_time_start: datetime | None = None
    server_thread_count: int | None = None
    agent_queue_size: int | None = None
    dbd_agent_queue_size: int | None = None
    jobs_submitted: int | None = None
    jobs_started: int | None = None
    jobs_completed: int | None = None
    jobs_canceled: int | None = None
    jobs_failed: int | None = None
    jobs_pending: int | None = None
    jobs_running: int | None = None
    schedule_cycle_last: int | None = None
    schedule_cycle_max: int | None = None
    schedule_cycle_mean: int | None = None
    bf_active: bool | None = None
    bf_last_depth: int | None = None
    bf_when_last_cycle: datetime | None = None


class Ping(SlurmObject):
    """One controller's answer to ``GET /slurm/<v>/ping``.

    Note: slurmrestd answers ``ping`` with 200 for any non-empty token; use
    :meth:`SlurmClient.diag` to check that credentials work.

    Example::

        >>> [(p.hostname, p.responding) for p in client.ping()]
        [('ctl1', True)]
    """

    hostname: str
    responding: bool
    mode: str | None = None
    primary: bool | None = None
    latency: timedelta | None = None
