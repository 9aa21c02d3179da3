"""Issue 16, finding 5: with slurmdbd down, only accounting fails fast.

Breakers are kept per dependency: the slurmdbd one opens on accounting failures, while job
submission and listings (slurmctld) go on. ``jobs.get()`` of a job slurmctld has purged
says the accounting is unavailable rather than "not found". slurmdbd is stopped briefly on
one release (24.11; the clusters are shared) and always started again.
"""

from __future__ import annotations

import pytest

from slurm_core import (
    CircuitBreakerConfig,
    CircuitOpenError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    SlurmClient,
    SlurmConnectionError,
    StaticToken,
)
from slurm_core._transport import circuit_state
from slurm_core.testing.cluster import LocalSlurmCluster

BREAKER = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=60)
PURGED = 67_000_000  # never a live job (below MaxJobId): jobs.get() must ask accounting


def test_slurmdbd_down_leaves_job_submission_working(slurm_cluster: LocalSlurmCluster) -> None:
    if slurm_cluster.release != "24.11" or not slurm_cluster.accounting:
        pytest.skip("slurmdbd is stopped on 24.11 only (shared clusters)")
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    retry = RetryPolicy(max_attempts=2, initial_delay=0.1, max_delay=0.2)
    with SlurmClient(
        slurm_cluster.rest_url, auth=auth, retry=retry, circuit_breaker=BREAKER
    ) as client:
        client.jobs.list()  # negotiated and the token accepted while all is well
        slurm_cluster.stop_daemon("slurmdbd")
        try:
            outages: list[BaseException] = []
            for _ in range(3):
                with pytest.raises((ServerError, CircuitOpenError, SlurmConnectionError)) as info:
                    client.jobs.get(PURGED)
                assert not isinstance(info.value, NotFoundError)
                outages.append(info.value)
            assert circuit_state(slurm_cluster.rest_url, dependency="slurmdbd") == "open"
            assert isinstance(outages[-1], CircuitOpenError)
            assert outages[-1].dependency == "slurmdbd"
            job = (
                client.jobs.submit()
                .script("#!/bin/sh\ntrue\n")
                .working_directory(slurm_cluster.shared_dir)
                .hold()
                .execute()
            )
            assert any(j.job_id == job.job_id for j in client.jobs.list())
            client.jobs.cancel(job.job_id)
            assert circuit_state(slurm_cluster.rest_url, dependency="slurmctld") == "closed"
        finally:
            slurm_cluster.start_daemon("slurmdbd")
