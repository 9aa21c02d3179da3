"""Backtest of the start-time estimator on a real cluster.

More work than the one node (2 CPUs) holds is submitted at once, so jobs queue; each
pending job's start is estimated right after submission, and compared with when it
really started. The error is REPORTED (printed and logged), not asserted: only sane
bounds are (an estimate for every pending job, none in the past).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from test_analytics_live_helpers import Live, poll, spec, utcnow

from slurm_core.analytics import StartEstimate
from slurm_core.testing.cluster import LocalSlurmCluster

logger = logging.getLogger(__name__)
JOBS = 6
RUN_SECONDS = 3


@pytest.fixture
def live(slurm_cluster: LocalSlurmCluster) -> Iterator[Live]:
    here = Live(slurm_cluster)
    yield here
    here.close()


def test_backtest_start_estimates(live: Live) -> None:
    alice = live.client("alice")
    # A job not submitted yet can be estimated too.
    ahead = alice.predictions.estimate_start_time(spec(RUN_SECONDS, time_limit="1:00"))
    assert ahead.time >= ahead.made_at
    assert ahead.method == "statistical"

    job_ids = [
        live.submit(alice, spec(RUN_SECONDS, name="an-backtest", time_limit="1:00"))
        for _ in range(JOBS)
    ]
    try:
        made_at = utcnow()
        pending = {e.job_id: e for e in alice.predictions.estimate_pending(user="alice")}
        estimates: dict[int, StartEstimate] = {j: pending[j] for j in job_ids if j in pending}
        for job_id in job_ids:
            job = alice.jobs.get(job_id)
            if job.state.is_pending:  # pending now, even if it was not a moment ago
                estimates.setdefault(job_id, alice.predictions.estimate_start_time(job_id))
        assert estimates, "the node took every job at once: nothing queued to estimate"
        for job_id, est in estimates.items():
            assert est.job_id == job_id
            assert est.time >= est.made_at - timedelta(seconds=1), est  # never in the past
            assert est.made_at >= made_at - timedelta(seconds=5)

        def started() -> dict[int, datetime] | None:
            jobs = {j: alice.jobs.get(j) for j in estimates}
            starts = {j: job.start_time for j, job in jobs.items() if not job.state.is_pending}
            if len(starts) < len(estimates) or None in starts.values():
                return None
            return {j: s for j, s in starts.items() if s is not None}

        actual = poll(started, "every queued job to start", timeout=50)
    finally:
        live.cancel_quietly(alice, [j for j in job_ids if not alice.jobs.get(j).state.is_finished])

    errors = {j: (estimates[j].time - actual[j]).total_seconds() for j in estimates}
    mae = statistics.fmean(abs(e) for e in errors.values())
    methods = sorted({e.method for e in estimates.values()})
    lines = [
        f"{live.release} backtest: {len(estimates)} queued of {JOBS} jobs; methods {methods}; "
        f"mean absolute error {mae:.1f} s; mean signed error "
        f"{statistics.fmean(errors.values()):+.1f} s (positive: predicted later)"
    ]
    for job_id in sorted(estimates):
        est = estimates[job_id]
        lines.append(
            f"  job {job_id}: {est.method} q={est.confidence} basis={est.basis} "
            f"predicted +{(est.time - est.made_at).total_seconds():.1f} s, "
            f"actual +{(actual[job_id] - est.made_at).total_seconds():.1f} s, "
            f"error {errors[job_id]:+.1f} s, ahead={est.details.get('ahead')} "
            f"running={est.details.get('running')} dominant={est.details.get('dominant')}"
        )
    print("\n".join(lines))
    logger.info("\n".join(lines))
