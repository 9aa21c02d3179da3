"""Cost attribution: rate cards, per-job charging, exact reconciliation, exports, both faces."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_analytics_helpers import T0, MiniSlurm, acct_job, tres

from slurm_core.analytics import RateCard, TimeRange
from slurm_core.analytics._usage import charged_seconds, cost_row, resource_units
from slurm_core.analytics.costs import build_report

CARD = RateCard(cpu_hour=0.02, gpu_hour=1.5, mem_gb_hour=0.005)
DAY = TimeRange(T0 - timedelta(hours=1), T0 + timedelta(days=1))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------ rate cards --------------
def test_rates_are_exact_decimals() -> None:
    assert CARD.base["cpu"] == Decimal("0.02")  # not 0.0200000000000000004163...
    assert CARD.base["node"] == Decimal(0)
    assert RateCard(cpu_hour="1.10").base["cpu"] == Decimal("1.10")


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "abc", True, None])
def test_bad_rates_are_refused_naming_the_rate(bad: object) -> None:
    with pytest.raises((ValueError, TypeError), match="gpu_hour"):
        RateCard(gpu_hour=bad)  # type: ignore[arg-type]


def test_overrides_qos_beat_partition_beat_base() -> None:
    card = CARD.for_partition("gpu", gpu_hour=2, cpu_hour=0.03).for_qos("high", cpu_hour=0.05)
    assert card.rates(partition="debug", qos="normal")["cpu"] == Decimal("0.02")
    assert card.rates(partition="gpu", qos="normal")["cpu"] == Decimal("0.03")
    assert card.rates(partition="gpu", qos="normal")["gpu"] == Decimal("2")
    assert card.rates(partition="gpu", qos="high")["cpu"] == Decimal("0.05")
    assert card.rates(partition="gpu", qos="high")["gpu"] == Decimal("2")
    assert CARD.rates(partition="gpu")["gpu"] == Decimal("1.5")  # the original is unchanged
    assert card != CARD


def test_other_tres_are_priced_by_key_but_cannot_shadow_the_named_ones() -> None:
    card = RateCard(other={"license/matlab": 2, "billing": "0.1"})
    assert card.base["license/matlab"] == Decimal(2)
    with pytest.raises(ValueError, match="keyword"):
        RateCard(other={"cpu": 1})


# ------------------------------------------------------------------ one job -----------------
def test_a_job_is_charged_allocated_tres_times_elapsed() -> None:
    job = acct_job(seconds=5400, alloc=tres(cpu=2, mem=2048, node=1, gpu=1, energy=-2))
    row = cost_row(job, DAY, CARD, now=T0 + timedelta(days=2))
    assert row is not None
    # 2 CPUs x 1.5 h x 0.02 + 1 GPU x 1.5 h x 1.5 + 2 GiB x 1.5 h x 0.005
    assert row.costs == {
        "cpu": Decimal("0.060000"),
        "gpu": Decimal("2.250000"),
        "mem": Decimal("0.015000"),
        "node": Decimal("0.000000"),
    }
    assert row.total == Decimal("2.325000")
    assert row.usage["cpu"] == Decimal("3.000000")
    assert row.seconds == 5400


def test_typed_gpus_count_when_only_they_are_tracked() -> None:
    job = acct_job(alloc=tres(cpu=1, **{"gres/gpu:a100": 2}))
    assert resource_units(job)["gpu"] == Decimal(2)
    both = acct_job(alloc=tres(cpu=1, gpu=2, **{"gres/gpu:a100": 2}))
    assert resource_units(both)["gpu"] == Decimal(2)  # not counted twice


def test_charged_time_is_clipped_to_the_range() -> None:
    window = TimeRange(T0, T0 + timedelta(hours=1))
    inside = acct_job(start=T0 + timedelta(minutes=10), seconds=600)
    across = acct_job(start=T0 - timedelta(minutes=30), seconds=3600)  # half inside
    after = acct_job(start=T0 + timedelta(hours=2), seconds=60)
    running = acct_job(start=T0 + timedelta(minutes=50), seconds=None)
    never = acct_job(seconds=None, state="CANCELLED")
    never = never.model_copy(update={"start_time": None})
    now = T0 + timedelta(minutes=55)
    assert charged_seconds(inside, window, now) == 600
    assert charged_seconds(across, window, now) == 1800
    assert charged_seconds(after, window, now) == 0
    assert charged_seconds(running, window, now) == 300  # up to now
    assert charged_seconds(never, window, now) == 0
    assert cost_row(never, window, CARD, now=now) is None


def test_suspended_time_is_not_charged_when_the_job_ran_inside() -> None:
    job = acct_job(seconds=3600).model_copy(update={"elapsed": timedelta(minutes=40)})
    assert charged_seconds(job, DAY, T0 + timedelta(days=3)) == 2400


# ------------------------------------------------------------------ reconciliation ----------
names = st.sampled_from(["alice", "bob", "carol"])
rate = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(
    jobs=st.lists(
        st.tuples(
            names,
            st.sampled_from(["research", "physics"]),
            st.sampled_from(["debug", "gpu"]),
            st.sampled_from(["normal", "high"]),
            st.integers(0, 10**6),
            st.integers(1, 128),
            st.integers(0, 8),
            st.integers(0, 512_000),
        ),
        max_size=40,
    ),
    rates=st.tuples(rate, rate, rate, rate, rate),
    precision=st.sampled_from([Decimal("0.01"), Decimal("0.000001"), Decimal("1")]),
)
def test_every_breakdown_sums_exactly_to_the_total(
    jobs: list[tuple[str, str, str, str, int, int, int, int]],
    rates: tuple[Decimal, ...],
    precision: Decimal,
) -> None:
    card = RateCard(*rates[:4]).for_qos("high", cpu_hour=rates[4])
    records = [
        acct_job(user=u, account=a, partition=p, qos=q, seconds=s, alloc=tres(cpu=c, gpu=g, mem=m))
        for u, a, p, q, s, c, g, m in jobs
    ]
    window = TimeRange(T0, T0 + timedelta(days=30))
    report = build_report(
        records, window, card, now=T0, dimensions=("user", "account", "partition", "qos"),
        precision=precision,
    )  # fmt: skip
    assert report.total == sum((r.total for r in report.rows), Decimal(0))
    assert sum(report.by_resource.values(), Decimal(0)) == report.total
    for breakdown in (report.by_user, report.by_account, report.by_partition, report.by_qos):
        assert sum(breakdown.values(), Decimal(0)) == report.total
    for row in report.rows:
        assert row.total == sum(row.costs.values(), Decimal(0))
        assert all(v == v.quantize(precision) for v in row.costs.values())


def test_a_breakdown_not_asked_for_is_an_error_not_an_empty_table() -> None:
    report = build_report([acct_job()], DAY, CARD, now=T0)
    assert report.by_resource
    with pytest.raises(ValueError, match="with_breakdown"):
        _ = report.by_user


# ------------------------------------------------------------------ exports -----------------
def test_csv_rows_total_and_spreadsheet_formulas_are_defused(tmp_path: Path) -> None:
    jobs = [
        acct_job(job_id=1, name='=HYPERLINK("http://x")', alloc=tres(cpu=2, node=1)),
        acct_job(job_id=2, user="bob", name="+1", alloc=tres(cpu=1, gpu=1, node=1)),
    ]
    report = build_report(
        jobs, DAY, CARD.for_partition("debug", node_hour=1), now=T0, dimensions=("user",)
    )
    text = report.to_csv(str(tmp_path / "jobs.csv"))
    assert (tmp_path / "jobs.csv").read_bytes() == text.encode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == ['\'=HYPERLINK("http://x")', "'+1"]
    assert sum(Decimal(r["total"]) for r in rows) == report.total
    assert (rows[0]["cost_cpu"], rows[0]["cost_node"]) == ("0.040000", "1.000000")
    users = list(csv.DictReader(io.StringIO(report.to_csv(breakdown="user"))))
    assert {r["user"]: Decimal(r["cost"]) for r in users} == report.by_user


def test_json_keeps_decimals_exact() -> None:
    report = build_report([acct_job(seconds=1)], DAY, CARD, now=T0, dimensions=("account",))
    data = json.loads(report.to_json())
    assert data["total"] == "0.000006"  # 1 CPU-second at 0.02/h, 6 places
    assert data["by_account"] == {"research": "0.000006"}
    assert data["rows"][0]["costs"]["cpu"] == "0.000006"
    assert data["rates"]["base"]["gpu"] == "1.5"


# ------------------------------------------------------------------ through the client ------
def _site() -> MiniSlurm:
    return MiniSlurm(
        accounting=[
            acct_job(job_id=11, user="alice", seconds=3600, alloc=tres(cpu=4, mem=4096, node=1)),
            acct_job(
                job_id=12,
                user="alice",
                partition="gpu",
                seconds=1800,
                alloc=tres(cpu=2, mem=1024, node=1, gpu=2),
            ),
            acct_job(job_id=13, user="bob", account="physics", seconds=7200),
            acct_job(job_id=14, user="alice", start=T0 + timedelta(days=5)),  # out of range
        ]
    )


def test_client_costs_for_a_user_sync() -> None:
    site = _site()
    with site.client() as client:
        report = (
            client.costs.for_user("alice")
            .in_time_range(DAY.start, DAY.end)
            .with_rates(CARD)
            .with_breakdown()
            .get()
        )
    assert [r.job_id for r in report.rows] == [11, 12]
    # 11: 4 CPU-h x .02 + 4 GiB-h x .005 = .1; 12: 1 CPU-h x .02 + 1 GPU-h x 1.5 + .5 GiB-h x .005
    assert report.total == Decimal("0.100000") + Decimal("1.522500")
    assert report.by_user == {"alice": report.total}
    assert report.by_partition == {"gpu": Decimal("1.522500"), "debug": Decimal("0.100000")}
    params = next(p for _, path, p, _ in site.requests if path.endswith("/slurmdb/v0.0.42/jobs"))
    assert params["users"] == "alice"
    assert int(params["start_time"]) == int(DAY.start.timestamp())


@pytest.mark.anyio
async def test_client_costs_async_matches_sync() -> None:
    site = _site()
    async with site.async_client() as client:
        report = (
            await client.costs.in_time_range(DAY).with_rates(CARD).with_breakdown("account").get()
        )
    with site.client() as sync_client:
        same = sync_client.costs.in_time_range(DAY).with_rates(CARD).with_breakdown("account").get()
    assert report.total == same.total == sum(report.by_account.values(), Decimal(0))
    assert set(report.by_account) == {"research", "physics"}


def test_query_steps_validate_and_do_not_mutate() -> None:
    with _site().client() as client:
        base = client.costs.in_time_range(DAY)
        priced = base.with_rates(CARD)
        with pytest.raises(ValueError, match="rate card"):
            base.get()
        with pytest.raises(ValueError, match="time range"):
            client.costs.with_rates(CARD).get()
        with pytest.raises(ValueError, match="unknown breakdown"):
            priced.with_breakdown("color")
        with pytest.raises(ValueError, match="user"):
            priced.for_user([])
        with pytest.raises(TypeError):
            priced.with_rates({"cpu_hour": 1})  # type: ignore[arg-type]
        gpu_only = priced.in_partition("gpu").get()
        assert [r.job_id for r in gpu_only.rows] == [12]
        assert len(priced.get().rows) == 3  # the partition filter did not leak back
        cents = priced.with_precision("0.01").get()
        assert cents.rows[0].costs["cpu"] == Decimal("0.08")
