"""Issue 16, finding 4: authentication failures never count against the server.

22.05 answers an expired or badly signed token with HTTP 500 and error -1, which also means
"slurmctld unreachable". For a token the server never accepted, or past its own ``exp``, it
is an :class:`AuthenticationError` (not retried, not counted by the breaker), so the other
clients of the process, with valid tokens, keep working. Run on every release; 22.05 is the
one that does not say so itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from slurm_core import (
    AuthenticationError,
    CircuitBreakerConfig,
    RetryPolicy,
    SlurmClient,
    StaticToken,
)
from slurm_core._transport import circuit_state
from slurm_core.testing.cluster import LocalSlurmCluster

BREAKER = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=60)
RETRY = RetryPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.1)


def _badly_signed(cluster: LocalSlurmCluster) -> str:
    now = int(time.time())
    claims = {"iat": now, "exp": now + 600, "sun": cluster.user_name}
    return jwt.encode(claims, b"not the cluster's key, 32 bytes!", algorithm="HS256")


def _expired(cluster: LocalSlurmCluster) -> str:
    now = int(time.time())
    key = cluster.jwt_key_path.read_bytes()
    claims = {"iat": now - 120, "exp": now - 60, "sun": cluster.user_name}
    return jwt.encode(claims, key, algorithm="HS256")


BAD: dict[str, Callable[[LocalSlurmCluster], str]] = {
    "badly signed": _badly_signed,
    "expired": _expired,
}


def _client(cluster: LocalSlurmCluster, token: str) -> SlurmClient:
    auth = StaticToken(token, user_name=cluster.user_name)
    return SlurmClient(cluster.rest_url, auth=auth, retry=RETRY, circuit_breaker=BREAKER)


@pytest.mark.parametrize("bad", list(BAD))
def test_a_bad_token_is_an_authentication_error_and_others_keep_working(
    slurm_cluster: LocalSlurmCluster, bad: str
) -> None:
    with (
        _client(slurm_cluster, slurm_cluster.token()) as good,
        _client(slurm_cluster, BAD[bad](slurm_cluster)) as rejected,
    ):
        job_id = (
            good.jobs.submit()
            .script("#!/bin/sh\ntrue\n")
            .working_directory(slurm_cluster.shared_dir)
            .hold()  # never runs: only its state is looked at
            .execute()
            .job_id
        )
        try:
            for _ in range(2 * BREAKER.failure_threshold):
                with pytest.raises(AuthenticationError):
                    rejected.jobs.list()
            started = time.monotonic()
            with pytest.raises(AuthenticationError):
                rejected.jobs.wait(job_id, timeout=30)  # at once, not when the timeout is up
            assert time.monotonic() - started < 10
            assert circuit_state(slurm_cluster.rest_url) == "closed"
            assert good.jobs.get(job_id).job_id == job_id
            assert any(j.job_id == job_id for j in good.jobs.list())
        finally:
            good.jobs.cancel(job_id)
