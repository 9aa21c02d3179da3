"""The optimizer drains and resumes the real node1 in response to queue depth.

node1 is the only node and other engineers' tests use it: it is resumed at the end of
the test whatever happens. The optimizer runs on an injected clock (no waiting for
cool-downs); the cluster is only polled, with deadlines, for real state changes.
v0.0.38 (Slurm 22.05) has no node updates: there the test proves the typed error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from test_analytics_live_helpers import Live, poll, spec, utcnow

from slurm_core import SlurmClient, UnsupportedOperationError
from slurm_core.analytics import ResourceOptimizer, RestNodeScaler
from slurm_core.analytics._policy import REASON_PREFIX, is_active
from slurm_core.testing.cluster import LocalSlurmCluster

NODE = "node1"
PARTITION = "gpu"  # node1 is in debug and gpu; other tests mostly use debug


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def live(slurm_cluster: LocalSlurmCluster) -> Iterator[Live]:
    here = Live(slurm_cluster)
    yield here
    here.close()


def resume_if_ours(root: SlurmClient) -> None:
    """Leave node1 usable for everyone: undo a drain this test made."""
    node = root.nodes.get(NODE)
    if node.is_drained and (node.reason or "").startswith(REASON_PREFIX):
        root.nodes.update(NODE, state="RESUME")


def test_drain_on_an_empty_queue_and_resume_on_demand(live: Live) -> None:
    alice, root = live.client("alice"), live.client("root")
    clock = Clock()
    optimizer = (
        ResourceOptimizer(alice, clock=clock)  # observes as alice, acts as root
        .monitor_queues([PARTITION])
        # Other engineers' jobs keep node1 busy through the debug partition: release it
        # anyway (a drain lets their jobs finish), since the gpu queue is what we watch.
        .scale_nodes(0, 1, drain_busy=True)
        .with_scaler(RestNodeScaler(root))
        .with_hysteresis(up_after=2, cooldown=60)
    )
    if alice.negotiate() == "v0.0.38":
        with pytest.raises(UnsupportedOperationError) as info:
            optimizer.start()
        assert info.value.version == "v0.0.38"
        with pytest.raises(UnsupportedOperationError):
            RestNodeScaler(root).scale_down(PARTITION, [NODE], "test")
        dry = ResourceOptimizer(alice, dry_run=True).monitor_queues([PARTITION]).step()[0]
        assert dry.dry_run
        assert dry.partition == PARTITION
        assert root.nodes.get(NODE).is_drained is False
        return

    job_ids: list[int] = []
    try:
        # An empty gpu queue and node1 in service (other tests' gpu jobs are short).
        seen: list[str] = []

        def quiet() -> bool:
            node = root.nodes.get(NODE)
            queued = alice.jobs.list(states=["PENDING", "RUNNING"], partition=PARTITION)
            seen[:] = [f"node1 {node.state}+{sorted(node.state_flags)}, gpu queue "
                       f"{[(j.job_id, j.name, str(j.state)) for j in queued]}"]  # fmt: skip
            return is_active(node) and not queued

        try:
            poll(quiet, "node1 in service and an empty gpu queue", timeout=50)
        except BaseException:
            print(f"{live.release}: last seen: {seen}")
            raise
        first = optimizer.step()[0]
        assert (first.action, first.target, first.current) == ("none", 0, 1), first
        assert "cooling down" in first.reason
        clock.tick(61)
        drain = optimizer.step()[0]
        assert (drain.action, drain.nodes, drain.error) == ("scale_down", (NODE,), None), drain
        node = root.nodes.get(NODE)
        assert node.is_drained
        assert (node.reason or "").startswith(REASON_PREFIX)
        print(f"{live.release}: {drain.action} {drain.nodes}: {drain.reason}")

        # Demand arrives: it cannot start on the drained node; two observations, then resume.
        job_ids.append(live.submit(alice, spec(1, partition=PARTITION, name="an-live-scale")))
        pending = poll(lambda: alice.jobs.get(job_ids[0]), "the job listed")
        assert pending.state.is_pending, pending.state
        print(f"{live.release}: job {pending.job_id} pending, reason {pending.state_reason}")
        wait = optimizer.step()[0]
        assert (wait.action, wait.target, wait.pending) == ("none", 1, 1), wait
        clock.tick(5)
        resume = optimizer.step()[0]
        assert (resume.action, resume.nodes, resume.error) == ("scale_up", (NODE,), None), resume
        assert not root.nodes.get(NODE).is_drained
        # Right after RESUME slurmctld flags the node NOT_RESPONDING until slurmd answers.
        poll(lambda: root.nodes.get(NODE).is_available, "node1 available again", timeout=30)
        # (The job then starts at slurmctld's next scheduling pass: up to sched_interval.)
        print(f"{live.release}: {resume.action} {resume.nodes}: {resume.reason}")
    finally:
        resume_if_ours(root)
        live.cancel_quietly(alice, [j for j in job_ids if not alice.jobs.get(j).state.is_finished])
    assert [d.action for d in optimizer.decisions] == ["none", "scale_down", "none", "scale_up"]
