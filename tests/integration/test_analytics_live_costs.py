"""Costs of known jobs on a real cluster, against a hand computation from their TRES."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from test_analytics_live_helpers import Live, spec, utcnow

from slurm_core.analytics import RateCard
from slurm_core.testing.cluster import LocalSlurmCluster

CARD = RateCard(cpu_hour=0.02, gpu_hour=1.5, mem_gb_hour=0.005, node_hour="0.1")
Q = Decimal("0.000001")


@pytest.fixture
def live(slurm_cluster: LocalSlurmCluster) -> Iterator[Live]:
    here = Live(slurm_cluster)
    yield here
    here.close()


def by_hand(cpus: int, gpus: int, mem_mib: int, seconds: int) -> dict[str, Decimal]:
    """What the rate card says one job costs, computed here from first principles."""
    hours = Decimal(seconds) / Decimal(3600)
    return {
        "cpu": (cpus * hours * Decimal("0.02")).quantize(Q, ROUND_HALF_EVEN),
        "gpu": (gpus * hours * Decimal("1.5")).quantize(Q, ROUND_HALF_EVEN),
        "mem": (Decimal(mem_mib) / 1024 * hours * Decimal("0.005")).quantize(Q, ROUND_HALF_EVEN),
        "node": (hours * Decimal("0.1")).quantize(Q, ROUND_HALF_EVEN),
    }


def test_costs_of_known_jobs(live: Live) -> None:
    alice = live.client("alice")
    since = utcnow()
    known = {  # job -> (cpus, gpus, memory MiB)
        live.submit(alice, spec(2, cpus_per_task=1, memory_per_node=200)): (1, 0, 200),
        live.submit(
            alice, spec(2, cpus_per_task=2, gpus="1", partition="gpu", memory_per_node=300)
        ): (2, 1, 300),
        live.submit(alice, spec(1, cpus_per_task=1, gres="gpu:2", memory_per_cpu=150)): (1, 2, 150),
    }
    try:
        records = live.recorded(alice, known, since)
    except BaseException:
        live.cancel_quietly(alice, known)
        raise
    report = (
        alice.costs.for_user("alice")
        .in_time_range(since - timedelta(minutes=1), utcnow() + timedelta(minutes=1))
        .with_rates(CARD)
        .with_breakdown()
        .get()
    )
    rows = {r.job_id: r for r in report.rows}
    for job_id, (cpus, gpus, mem) in known.items():
        record, row = records[job_id], rows[job_id]
        # The database allocated what was asked for...
        assert (row.tres["cpu"], row.tres.get("gres/gpu", 0), row.tres["mem"]) == (cpus, gpus, mem)
        # ...and the report charges it for the elapsed time, as computed by hand.
        assert record.elapsed is not None
        seconds = int(record.elapsed.total_seconds())
        assert row.seconds == seconds
        assert seconds >= 1
        expected = by_hand(cpus, gpus, mem, seconds)
        assert dict(row.costs) == expected, (job_id, record.tres_allocated)
        assert row.total == sum(expected.values(), Decimal(0))
        print(
            f"{live.release} job {job_id}: {cpus} CPU {gpus} GPU {mem} MiB {seconds} s",
            f"-> {row.total}",
        )
    # Exact reconciliation, for every breakdown (other tests' jobs of alice may be in range).
    assert report.total == sum((r.total for r in report.rows), Decimal(0))
    for breakdown in (report.by_resource, report.by_user, report.by_account, report.by_partition):
        assert sum(breakdown.values(), Decimal(0)) == report.total
    assert set(report.by_user) == {"alice"}
    assert "research" in report.by_account
    assert report.to_csv().count("\n") == len(report.rows) + 1
