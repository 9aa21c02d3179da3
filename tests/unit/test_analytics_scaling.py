"""Queue-driven scaling: policy, hysteresis, shared nodes, scalers, 1 -> 100 nodes on the fake."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from test_analytics_helpers import T0, MiniSlurm, live_job, node, partition, submit

from slurm_core import UnsupportedOperationError
from slurm_core.analytics import (
    CallbackScaler,
    RateCard,
    ResourceOptimizer,
    RestNodeScaler,
    ScalingDecision,
)
from slurm_core.analytics._policy import REASON_PREFIX, observe, target_nodes
from slurm_core.jobs import JobSpec
from slurm_core.testing.fake import FakeNode, FakePartition, FakeSlurmServer

OURS = f"{REASON_PREFIX}: earlier"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Recorder:
    """A CallbackScaler that remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []
        self.scaler = CallbackScaler(
            up=lambda p, nodes: self.calls.append(("up", p, tuple(nodes))),
            down=lambda p, nodes, why: self.calls.append(("down", p, tuple(nodes))),
        )


# ------------------------------------------------------------------ the policy ------------
def test_demand_in_nodes_bounds_and_cost() -> None:
    nodes = [node(f"n{i}", cpus=4) for i in range(1, 5)] + [
        node("n5", cpus=4, flags=["DRAIN"], reason=OURS),
        node("n6", cpus=4, flags=["DRAIN"], reason="admin: bad fan"),  # not ours
    ]
    jobs = [live_job(i, cpus=4) for i in range(1, 11)]  # 10 pending whole-node jobs
    obs = observe("debug", nodes, jobs)
    assert (obs.pending, obs.pending_cpus, obs.node_cpus) == (10, 40, 4)
    assert obs.resumable == ("n5",)
    desired, target, why = target_nodes(obs, min_nodes=1, max_nodes=8)
    assert (desired, target) == (10, 5)  # only 4 active + 1 resumable exist
    assert "only 5 node(s)" in why
    desired, target, why = target_nodes(
        obs, min_nodes=1, max_nodes=8, node_cost=Decimal(4), budget=Decimal(12)
    )
    assert target == 3
    assert "affords 3" in why
    _, target, why = target_nodes(
        obs, min_nodes=4, max_nodes=8, node_cost=Decimal(4), budget=Decimal(12)
    )
    assert target == 4
    assert "min_nodes wins" in why
    idle = observe("debug", nodes, [])
    assert target_nodes(idle, min_nodes=0, max_nodes=8)[:2] == (0, 0)
    assert target_nodes(idle, min_nodes=2, max_nodes=8)[:2] == (0, 2)


def test_gpus_and_wide_jobs_count() -> None:
    nodes = [node(f"g{i}", cpus=16, gpus=2) for i in range(1, 5)]
    gpu_jobs = [live_job(i, cpus=1, gpus=2) for i in range(1, 4)]  # 3 CPUs but 6 GPUs
    assert target_nodes(observe("debug", nodes, gpu_jobs), min_nodes=0, max_nodes=9)[0] == 3
    held = live_job(9, cpus=64, reason="JobHeldUser")
    assert observe("debug", nodes, [held]).pending == 0


# ------------------------------------------------------------------ hysteresis ------------
def _site(*nodes: object, jobs: Sequence[object] = ()) -> MiniSlurm:
    return MiniSlurm(nodes=list(nodes), jobs=list(jobs), partitions=[partition("debug", "n1")])  # type: ignore[arg-type]


def test_scale_up_after_n_observations_and_down_after_cooldown() -> None:
    clock, rec = Clock(), Recorder()
    busy = _site(node("n1", cpus=4), node("n2", cpus=4, flags=["DRAIN"], reason=OURS),
                 jobs=[live_job(i, cpus=4) for i in range(3)])  # fmt: skip
    with busy.client() as client:
        opt = (
            ResourceOptimizer(client, clock=clock)
            .monitor_queues(["debug"])
            .scale_nodes(1, 10)
            .with_scaler(rec.scaler)
            .with_hysteresis(up_after=3, cooldown=120)
        )
        actions = [opt.step()[0].action for _ in range(3)]
    assert actions == ["none", "none", "scale_up"]
    assert rec.calls == [("up", "debug", ("n2",))]
    first = opt.decisions[0]
    assert isinstance(first, ScalingDecision)
    assert (first.pending, first.current, first.target) == (3, 1, 2)
    assert "scale-up wanted (1/3 observations)" in first.reason

    idle = _site(node("n1", cpus=4), node("n2", cpus=4), node("n3", cpus=4, alloc_cpus=2,
                 state="MIXED"))  # fmt: skip
    with idle.client() as client:
        opt.client = client
        seen = []
        for _ in range(3):
            seen.append(opt.step()[0])
            clock.tick(60)
    # The last action was at T0: cool-down 120 s from there and from the first wish.
    assert [d.action for d in seen] == ["none", "none", "scale_down"]
    assert "cooling down" in seen[0].reason
    assert seen[2].target == 1  # the busy n3 stays
    assert seen[2].nodes == ("n2", "n1")  # the idle ones go, highest name first
    assert rec.calls[-1] == ("down", "debug", ("n2", "n1"))


def test_drain_busy_releases_nodes_busy_with_other_partitions_only() -> None:
    both = ("debug", "gpu")
    site = MiniSlurm(
        nodes=[
            node("n1", state="MIXED", alloc_cpus=1, partitions=both),  # a debug job runs
            node("n2", state="MIXED", alloc_cpus=1, partitions=both),  # a gpu job runs
        ],
        jobs=[
            live_job(1, "RUNNING", nodes="n1", partition="debug"),
            live_job(2, "RUNNING", nodes="n2", partition="gpu"),
        ],
        partitions=[partition("debug", "n[1-2]"), partition("gpu", "n[1-2]")],
    )
    with site.client() as client:
        default = ResourceOptimizer(client, dry_run=True).monitor_queues(["gpu"])
        d = default.scale_nodes(0, 5).with_hysteresis(cooldown=0).step()[0]
        assert (d.action, d.target, d.desired) == ("none", 2, 2)  # busy nodes count
        draining = ResourceOptimizer(client, dry_run=True).monitor_queues(["gpu"])
        d = draining.scale_nodes(0, 5, drain_busy=True).with_hysteresis(cooldown=0).step()[0]
    assert (d.action, d.target, d.nodes) == ("scale_down", 1, ("n1",))  # n2 runs a gpu job
    assert "draining 1 busy" in d.reason


def test_planned_nodes_are_not_released() -> None:
    rec = Recorder()
    site = _site(node("n1"), node("n2", flags=["PLANNED"]))  # backfill holds n2 for a job
    with site.client() as client:
        opt = ResourceOptimizer(client).with_scaler(rec.scaler).monitor_queues(["debug"])
        d = opt.scale_nodes(0, 5).with_hysteresis(cooldown=0).step()[0]
    assert (d.action, d.nodes) == ("scale_down", ("n1",))


def test_admin_drained_nodes_are_never_resumed_and_busy_nodes_never_released() -> None:
    rec = Recorder()
    site = _site(node("n1", cpus=2, flags=["DRAIN"], reason="admin: RMA"), jobs=[live_job(1)])
    with site.client() as client:
        opt = ResourceOptimizer(client).with_scaler(rec.scaler).with_hysteresis(up_after=1)
        decision = opt.monitor_queues(["debug"]).scale_nodes(0, 5).step()[0]
    assert (decision.action, decision.target) == ("none", 0)
    assert "only 0 node(s) can be active" in decision.reason
    assert rec.calls == []


def test_shared_nodes_stay_when_another_partition_needs_them() -> None:
    rec = Recorder()
    shared = node("n1", cpus=2, partitions=("debug", "gpu"))
    site = MiniSlurm(
        nodes=[shared],
        jobs=[live_job(1, partition="debug", cpus=1)],
        partitions=[partition("debug", "n1"), partition("gpu", "n1")],
    )
    with site.client() as client:
        opt = (
            ResourceOptimizer(client, clock=Clock())
            .scale_nodes(0, 5)
            .with_scaler(rec.scaler)
            .with_hysteresis(up_after=1, cooldown=0)
        )
        by_partition = {d.partition: d for d in opt.step()}
    assert by_partition["gpu"].target == 0
    assert by_partition["gpu"].action == "none"
    assert "no idle node can be released" in by_partition["gpu"].reason
    assert by_partition["debug"].action == "none"
    assert rec.calls == []


def test_dry_run_decides_but_never_acts_and_errors_are_recorded() -> None:
    rec = Recorder()
    site = _site(node("n1"), node("n2", flags=["DRAIN"], reason=OURS), jobs=[live_job(1, cpus=8)])
    with site.client() as client:
        dry = ResourceOptimizer(client, dry_run=True).with_scaler(rec.scaler)
        d = dry.monitor_queues(["debug"]).with_hysteresis(up_after=1).step()[0]
        assert (d.action, d.nodes, d.dry_run) == ("scale_up", ("n2",), True)
        assert rec.calls == []

        def broken(partition: str, nodes: Sequence[str]) -> None:
            raise RuntimeError("cloud API down")

        failing = CallbackScaler(up=broken, down=lambda *a: None)
        opt = ResourceOptimizer(client).with_scaler(failing).with_hysteresis(up_after=1)
        d = opt.monitor_queues(["debug"]).step()[0]
    assert d.action == "scale_up"
    assert d.error == "RuntimeError: cloud API down"


def test_configuration_is_validated() -> None:
    with MiniSlurm().client() as client:
        opt = ResourceOptimizer(client)
        with pytest.raises(ValueError, match="max_nodes"):
            opt.scale_nodes(5, 1)
        with pytest.raises(ValueError, match="up_after"):
            opt.with_hysteresis(up_after=0)
        with pytest.raises(TypeError, match="NodeScaler"):
            opt.with_scaler(object())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="partition names"):
            opt.monitor_queues("debug")
    with pytest.raises(TypeError, match="sync"):
        ResourceOptimizer(MiniSlurm().async_client())  # type: ignore[arg-type]


def test_rest_scaler_is_refused_on_v0_0_38_with_the_typed_error() -> None:
    fake = FakeSlurmServer(api_version="v0.0.38")
    with fake.client() as client:
        scaler = RestNodeScaler(client)
        with pytest.raises(UnsupportedOperationError) as info:
            scaler.check()
        assert info.value.version == "v0.0.38"
        with pytest.raises(UnsupportedOperationError):
            scaler.scale_down("debug", ["node1"], "test")
        with pytest.raises(UnsupportedOperationError):
            ResourceOptimizer(client).with_scaler(scaler).start()


def test_background_thread_starts_steps_and_stops() -> None:
    rec = Recorder()
    decided = threading.Event()
    site = _site(node("n1"))
    with site.client() as client:
        opt = (
            ResourceOptimizer(client)
            .monitor_queues(["debug"])
            .with_scaler(rec.scaler)
            .with_interval(0.01)
            .on_decision(lambda d: decided.set() if len(opt.decisions) >= 3 else None)
        )
        opt.start()
        try:
            assert opt.running
            with pytest.raises(RuntimeError, match="already running"):
                opt.start()
            assert decided.wait(30), "the optimizer thread made no decisions"
        finally:
            opt.stop(timeout=30)
    assert not opt.running
    assert all(d.action == "none" for d in opt.decisions)


# ------------------------------------------------------------------ 1 -> 100 on the fake -----
def test_one_to_a_hundred_nodes_under_a_cost_cap_on_the_fake_server() -> None:
    nodes = [FakeNode("n001", cpus=4, memory=8000)] + [
        FakeNode(f"n{i:03d}", cpus=4, memory=8000, flags={"DRAIN"}, reason=OURS)
        for i in range(2, 101)
    ]
    fake = FakeSlurmServer(
        api_version="v0.0.42",
        nodes=nodes,
        partitions=[FakePartition("batch", [n.name for n in nodes], default=True, max_time=None)],
        default_runtime=60,
    )
    admin = fake.client(headers={"X-SLURM-USER-NAME": "root"})  # node updates need an admin
    with fake.client() as client, admin:
        for _ in range(300):
            submit(client, JobSpec(script="#!/bin/sh\ntrue\n", cpus_per_task=4))
        fake.advance(1)
        opt = (
            ResourceOptimizer(client, clock=lambda: fake.now)
            .monitor_queues(["batch"])
            .scale_nodes(1, 100)
            .with_cost_target(200)  # a node costs its billing TRES (4) per hour: 50 nodes
            .with_scaler(RestNodeScaler(admin))
            .with_hysteresis(up_after=2, cooldown=300)
        )
        first, second = opt.step()[0], opt.step()[0]
        assert (first.action, first.pending, first.current) == ("none", 299, 1)
        assert (second.action, second.target, len(second.nodes)) == ("scale_up", 50, 49)
        assert second.cost_per_hour == Decimal(200)
        assert "affords 50" in second.reason
        fake.advance(1)
        assert sum(1 for n in client.nodes.list() if n.state == "ALLOCATED") == 50
        assert opt.step()[0].action == "none"  # at the cap: no more
        while client.jobs.list(states=["PENDING", "RUNNING"]):
            fake.advance(60)
        empty = opt.step()[0]
        assert (empty.action, empty.target, empty.current) == ("none", 1, 50)
        fake.advance(301)
        down = opt.step()[0]
        assert (down.action, len(down.nodes)) == ("scale_down", 49)
        drained = [n for n in client.nodes.list() if n.is_drained]
        assert len(drained) == 99
        assert all(n.reason and n.reason.startswith(REASON_PREFIX) for n in drained)


def test_cost_from_a_rate_card_and_an_explicit_node_cost() -> None:
    site = _site(node("n1", cpus=4), *(node(f"n{i}", flags=["DRAIN"], reason=OURS)
                 for i in range(2, 9)), jobs=[live_job(i, cpus=4) for i in range(8)])  # fmt: skip
    with site.client() as client:
        card = RateCard(cpu_hour=1)  # 4 CPUs: 4 per node-hour
        opt = ResourceOptimizer(client, dry_run=True).monitor_queues(["debug"])
        opt.scale_nodes(1, 8).with_hysteresis(up_after=1)
        assert opt.with_cost_target(10, rates=card).step()[0].target == 2
        assert opt.with_cost_target(10, node_cost="2.5").step()[0].target == 4
