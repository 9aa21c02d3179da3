"""JobGraph against real SLURM 22.05, 24.11 and 26.05: order honoured, graph read back.

Nodes are submitted held (builders from ``client.jobs.submit()``, or specs through
``client.jobs.submit_spec``) and released at the top priority, like the watch tests, so
other tests' pending jobs cannot delay them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_watch import QUICK, release

from slurm_core import SlurmClient, StaticToken
from slurm_core.graph import GraphError, JobGraph
from slurm_core.jobs import JobBuilder, JobSpec
from slurm_core.testing.cluster import LocalSlurmCluster


@pytest.fixture
def client(slurm_cluster: LocalSlurmCluster) -> Iterator[SlurmClient]:
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    with SlurmClient(slurm_cluster.rest_url, auth=auth) as c:
        c.jobs.watch_options = QUICK
        yield c


def job(client: SlurmClient, cluster: LocalSlurmCluster, script: str) -> JobBuilder:
    return (
        client.jobs.submit()
        .script(f"#!/bin/sh\n{script}\n")
        .working_directory(cluster.shared_dir)
        .hold()
        .time_limit(2)
    )


def spec(cluster: LocalSlurmCluster, script: str) -> JobSpec:
    return JobSpec(
        script=f"#!/bin/sh\n{script}\n",
        working_directory=str(cluster.shared_dir),
        hold=True,
        time_limit=2,
    )


def test_diamond_runs_in_order_and_reads_back(
    slurm_cluster: LocalSlurmCluster, client: SlurmClient
) -> None:
    g = JobGraph("diamond")
    a = g.add("a", job(client, slurm_cluster, "sleep 1"))
    b = g.add("b", job(client, slurm_cluster, "sleep 1"), after_ok=[a])
    c = g.add("c", job(client, slurm_cluster, "sleep 1"), after_ok=[a])
    g.add("d", job(client, slurm_cluster, "true"), after_ok=[b, c])
    run = g.submit(client)
    ids = run.job_ids
    # While everything waits, slurmctld reports every dependency: read the graph back.
    live = client.dependencies.build_graph(ids["d"]).with_transitive_deps()
    by_id = {str(v): k for k, v in ids.items()}
    rebuilt = {(by_id[str(e.upstream)], by_id[e.downstream], e.kind) for e in live.edges()}
    assert rebuilt == {(e.upstream, e.downstream, e.kind) for e in g.edges()}
    assert sorted(live) == sorted(by_id)
    release(slurm_cluster, *ids.values())
    result = run.wait(timeout=90)
    assert result.ok, result.states
    assert result.unrunnable == ()
    jobs = {name: client.jobs.get(job_id) for name, job_id in ids.items()}
    for edge in g.edges():
        up, down = jobs[str(edge.upstream)], jobs[edge.downstream]
        assert up.end_time is not None
        assert down.start_time is not None
        assert down.start_time >= up.end_time, (edge, up.end_time, down.start_time)
    assert "COMPLETED" in run.to_dot()


def test_failed_node_cancels_what_can_never_run(
    slurm_cluster: LocalSlurmCluster, client: SlurmClient
) -> None:
    g = JobGraph("rescue")
    g.add("a", spec(slurm_cluster, "exit 1"))
    g.add("b", spec(slurm_cluster, "true"), after_ok=["a"])
    g.add("cleanup", spec(slurm_cluster, "true"), after_any=["b"])
    run = g.submit(client)  # specs: through client.jobs.submit_spec
    release(slurm_cluster, *run.job_ids.values())
    result = run.wait(timeout=90, cancel_unrunnable=True)
    assert result.states == {"a": "FAILED", "b": "CANCELLED", "cleanup": "COMPLETED"}
    assert result.unrunnable == ("b",)
    assert result.failed == ["a"]


def test_cycle_is_refused_before_submitting(
    slurm_cluster: LocalSlurmCluster, client: SlurmClient
) -> None:
    sent: list[JobSpec] = []

    def submit(s: JobSpec) -> int:
        sent.append(s)
        return client.jobs.submit_spec(s).job_id

    g = JobGraph()
    g.add("x", job(client, slurm_cluster, "true"))
    g.add("a", job(client, slurm_cluster, "true"), after_ok=["x", "b"])
    g.add("b", job(client, slurm_cluster, "true"), after_any=["a"])
    with pytest.raises(GraphError, match="cycle: a -> b -> a"):
        g.submit(client, submit=submit)
    assert sent == []
