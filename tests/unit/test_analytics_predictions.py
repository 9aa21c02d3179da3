"""Start-time estimates: history samples, the queue simulation, Slurm's backfill estimate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_analytics_helpers import (
    T0,
    MiniSlurm,
    acct_job,
    asubmit,
    live_job,
    node,
    partition,
    submit,
)

from slurm_core.analytics import TimeRange
from slurm_core.analytics._common import JobSize
from slurm_core.analytics._estimator import History, Target, queue_start, wait_sample
from slurm_core.analytics._findings import activity
from slurm_core.analytics.predictions import estimate, spec_size
from slurm_core.jobs import JobBuilder, JobSpec
from slurm_core.models import AccountingJob
from slurm_core.testing.fake import FakeNode, FakeSlurmServer

SCRIPT = "#!/bin/sh\ntrue\n"
NODES = [node("n1", cpus=2, partitions=("debug", "gpu"), gpus=1)]
PARTS = [partition("debug", "n1", default=True, cpus=2), partition("gpu", "n1", cpus=2)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def waited(seconds: int, **kw: Any) -> AccountingJob:
    return acct_job(submit=T0 - timedelta(seconds=seconds), start=T0, **kw)


def target(**kw: object) -> Target:
    values: dict[str, object] = {
        "partition": "debug", "qos": "normal", "size": JobSize(cpus=1), "time_limit": None,
        "submit_time": T0,
    }  # fmt: skip
    values.update(kw)
    return Target(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------ history ---------------
def test_the_most_specific_group_with_enough_jobs_is_used() -> None:
    history = History(
        [waited(10) for _ in range(5)]  # debug, normal, 1 CPU
        + [waited(100, cpus=0, qos="high") for _ in range(0)]
        + [waited(500, partition="gpu") for _ in range(20)]
    )
    name, sample = wait_sample(history, target(), min_samples=5)
    assert (name, sorted(set(sample))) == ("partition+qos+size", [10.0])
    name, sample = wait_sample(history, target(qos="high"), min_samples=5)
    assert name == "partition+size"
    name, sample = wait_sample(history, target(size=JobSize(cpus=32)), min_samples=5)
    assert (name, len(sample)) == ("partition", 5)
    name, sample = wait_sample(history, target(partition="other"), min_samples=5)
    assert (name, len(sample)) == ("cluster", 25)
    # Too few everywhere: the biggest group.
    name, sample = wait_sample(history, target(), min_samples=100)
    assert (name, len(sample)) == ("cluster", 25)


def test_waits_count_from_eligibility_and_skip_the_target_itself() -> None:
    held = acct_job(job_id=7, submit=T0 - timedelta(hours=5), eligible=T0 - timedelta(seconds=30))
    history = History([held, waited(60, job_id=8)])
    assert sorted(w for _, w in history.waits()) == [30.0, 60.0]
    assert [w for _, w in history.waits(exclude=8)] == [30.0]


# ------------------------------------------------------------------ the queue -------------
def test_queue_simulation_by_hand() -> None:
    # 2 CPUs. Running: job 1 (1 CPU, ends in 100 s). Pending ahead: job 2 (2 CPUs, 50 s,
    # higher priority), job 3 (1 CPU, lower priority than the target).
    now = T0
    jobs = [
        live_job(1, "RUNNING", nodes="n1", start=now - timedelta(seconds=20),
                 time_limit=timedelta(seconds=120)),
        live_job(2, priority=200, cpus=2, time_limit=timedelta(seconds=50)),
        live_job(3, priority=50, time_limit=timedelta(seconds=600)),
        live_job(4, priority=999, reason="Dependency"),  # not competing
    ]  # fmt: skip
    me = target(job_id=9, priority=100, time_limit=timedelta(seconds=60))
    start, info = queue_start(me, jobs, NODES, PARTS, History([]), now)
    # Job 2 waits for job 1's CPU (t+100), runs to t+150; then the target starts.
    assert start == now + timedelta(seconds=150)
    assert (info["ahead"], info["running"], info["capacity_cpus"]) == (1, 1, 2)


def test_history_runtimes_replace_time_limits_when_known() -> None:
    history = History([acct_job(name="quick", seconds=10) for _ in range(3)])
    jobs = [live_job(1, "RUNNING", nodes="n1", cpus=2, start=T0, name="quick",
                     time_limit=timedelta(hours=1))]  # fmt: skip
    start, _ = queue_start(target(), jobs, NODES, PARTS, history, T0)
    assert start == T0 + timedelta(seconds=10)


def test_a_job_too_big_for_the_usable_nodes_has_no_queue_start() -> None:
    start, info = queue_start(target(size=JobSize(cpus=64)), [], NODES, PARTS, History([]), T0)
    assert start is None
    drained = [node("n1", cpus=2, flags=["DRAIN"])]
    start, info = queue_start(target(), [], drained, PARTS, History([]), T0)
    assert (start, info["capacity_cpus"]) == (None, 0)


def test_estimate_takes_the_later_of_history_and_queue_and_is_never_past() -> None:
    history = [waited(s) for s in (10, 20, 30, 40, 50)]
    busy = [live_job(1, "RUNNING", nodes="n1", cpus=2, start=T0, time_limit=timedelta(minutes=5))]
    kw = {"nodes": NODES, "partitions": PARTS, "history": history, "now": T0}
    idle = estimate(target(), jobs=[], q=0.5, **kw)  # type: ignore[arg-type]
    assert idle.time == T0 + timedelta(seconds=30)
    assert (idle.method, idle.confidence, idle.basis) == ("statistical", 0.5, 5)
    assert idle.details["dominant"] == "history"
    queued = estimate(target(), jobs=busy, q=0.5, **kw)  # type: ignore[arg-type]
    assert queued.time == T0 + timedelta(minutes=5)
    assert queued.details["dominant"] == "queue"
    late = estimate(target(submit_time=T0 - timedelta(hours=1)), jobs=[], q=0.9, **kw)  # type: ignore[arg-type]
    assert late.time == T0  # submitted long ago: not in the past
    assert late.wait == timedelta(0)


def test_spec_sizes() -> None:
    assert spec_size(JobSpec(script=SCRIPT)) == JobSize(cpus=1, gpus=0, memory_mib=0, nodes=1)
    spec = JobSpec(script=SCRIPT, ntasks=4, cpus_per_task=2, gpus="2", memory_per_cpu="1G")
    assert spec_size(spec) == JobSize(cpus=8, gpus=2, memory_mib=8192, nodes=1)
    spec = JobSpec(script=SCRIPT, nodes=2, ntasks_per_node=3, gres="gpu:1", memory_per_node=100)
    assert spec_size(spec) == JobSize(cpus=6, gpus=2, memory_mib=200, nodes=2)


# ------------------------------------------------------------------ through the client ----
def test_backfill_estimate_wins_for_a_pending_job() -> None:
    soon = T0 + timedelta(minutes=7)
    site = MiniSlurm(
        jobs=[
            live_job(5, start=soon, submit=T0 - timedelta(minutes=1)),
            live_job(6, start=T0 - timedelta(hours=2)),  # stale: ignored
        ],
        nodes=NODES,
        partitions=PARTS,
        accounting=[waited(40) for _ in range(6)],
    )
    with site.client() as client:
        est = client.predictions.estimate_start_time(5, now=T0)
        assert (est.method, est.time, est.confidence, est.basis) == (
            "slurm_backfill",
            soon,
            None,
            0,
        )
        stale = client.predictions.estimate_start_time("6", now=T0)
        assert stale.method == "statistical"
        assert stale.time >= T0
        assert stale.basis == 6
        every = client.predictions.estimate_pending(now=T0)
        assert [(e.job_id, e.method) for e in every] == [(5, "slurm_backfill"), (6, "statistical")]


def test_validation() -> None:
    site = MiniSlurm(nodes=NODES, partitions=PARTS)
    with site.client() as client:
        with pytest.raises(ValueError, match="quantile"):
            client.predictions.estimate_start_time(JobSpec(script=SCRIPT), quantile=1.5)
        with pytest.raises(ValueError, match="lookback"):
            client.predictions.estimate_start_time(JobSpec(script=SCRIPT), lookback=timedelta(0))
        with pytest.raises(TypeError):
            client.predictions.estimate_start_time(True)
        from slurm_core import JobSpecError

        with pytest.raises(JobSpecError, match="partition"):
            client.predictions.estimate_start_time(JobSpec(script=SCRIPT, partition="nope"))


def test_on_the_fake_server_sync_history_queue_and_started_jobs() -> None:
    two = [FakeNode("n1", cpus=4), FakeNode("n2", cpus=4)]
    fake = FakeSlurmServer(api_version="v0.0.42", default_runtime=100, nodes=two)
    whole_node = JobSpec(script=SCRIPT, cpus_per_task=4, name="fill")
    with fake.client() as client:
        for _ in range(6):  # history: 6 jobs that waited 1 s and ran 100 s
            submit(client, whole_node)
            fake.advance(1)
            fake.advance(100)
        blockers = [submit(client, whole_node) for _ in range(2)]
        fake.advance(1)  # both nodes busy
        starts = [client.jobs.get(j).start_time for j in blockers]
        ends = [s + timedelta(seconds=100) for s in starts if s is not None]
        waiting = submit(client, whole_node)
        est = client.predictions.estimate_start_time(waiting, now=fake.now)
        assert est.method == "statistical"
        assert est.basis >= 6
        assert (est.details["running"], est.details["capacity_cpus"]) == (2, 8)
        assert est.time == min(ends)  # when the first blocker ends
        builder = JobBuilder().command(["true"]).cpus_per_task(2)
        assert client.predictions.estimate_start_time(builder, now=fake.now).time >= fake.now
        started = client.predictions.estimate_start_time(blockers[0], now=fake.now)
        assert started.method == "started"
        assert started.time == client.jobs.get(blockers[0]).start_time


@pytest.mark.anyio
async def test_on_the_fake_server_async() -> None:
    drained = [FakeNode("n1", cpus=4, flags={"DRAIN"}, reason="maintenance")]
    fake = FakeSlurmServer(api_version="v0.0.40", default_runtime=100, nodes=drained)
    async with fake.async_client() as client:
        job_id = await asubmit(client, JobSpec(script=SCRIPT, cpus_per_task=2))
        fake.advance(1)
        est = await client.predictions.estimate_start_time(job_id, now=fake.now)
        assert est.details["note"].startswith("the job does not fit")
        assert est.time >= fake.now
        pending = await client.predictions.estimate_pending(now=fake.now)
        assert [e.job_id for e in pending] == [job_id]


def test_pending_records_from_22_05_are_not_starts() -> None:
    # dbv0.0.38 reports a pending job's start and end as the time of the query.
    ghost = acct_job(state="PENDING", submit=T0 - timedelta(hours=3), start=T0, seconds=0)
    history = History([ghost])
    assert history.waits() == []
    assert history.runtime("alice", "job", "debug") is None
    users, _ = activity([ghost], TimeRange(T0 - timedelta(days=1), T0 + timedelta(days=1)))
    assert users[0].started == 0
