"""Duplicate-free submission against real slurmrestd, through a proxy that cuts connections.

The fault proxy (``faultproxy.py``) relays between the client and slurmrestd. For the
first ``POST .../job/submit`` it either forwards the request, waits for slurmrestd's
answer (so the job exists) and then closes the client's socket without relaying it
(``"after"``), or closes the client's socket without forwarding anything (``"before"``).
Either way the client cannot know whether the job was created; it must end with exactly
one job carrying its submission key, and that job must be its own: another user's job
carrying the same key (a decoy) is never taken for it.

A ``"before"`` cut is only resent after ``RetryPolicy.submit_settle`` (15 s by default) of
looking the key up in vain: what these tests prove (one job, the user's own) does not depend
on that length, so the clients here settle for :data:`SHORT_SETTLE` seconds, except the cut
test on :data:`DEFAULT_SETTLE_RELEASE`, which keeps the default the users get.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

import pytest
from faultproxy import CutAfter, CutBefore, FaultProxy
from test_submit_helpers import jobs_with_key, make_client, unique

from slurm_core import AsyncSlurmClient, RetryPolicy, SlurmClient, StaticToken
from slurm_core.jobs import JobBuilder, split_comment
from slurm_core.testing.cluster import LocalSlurmCluster

Mode = Literal["after", "before"]
SHORT_SETTLE = RetryPolicy(submit_settle=1.0)
DEFAULT_SETTLE_RELEASE = "24.11"


@pytest.fixture(params=["after", "before"])
def mode(request: pytest.FixtureRequest) -> Mode:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def proxy(mode: Mode, slurm_cluster: LocalSlurmCluster) -> Iterator[FaultProxy]:
    """Cuts the first job submission: after slurmrestd answered, or before it saw anything."""
    with FaultProxy(slurm_cluster.ports.slurmrestd) as p:
        cut = CutAfter() if mode == "after" else CutBefore()
        p.on(cut, method="POST", path="/job/submit", times=1)
        yield p


def _owners_of_key(cluster: LocalSlurmCluster, key: str) -> dict[str, str]:
    """Job id -> owner of the jobs whose comment carries ``key``, as squeue sees them."""
    out = cluster.run(["squeue", "-h", "-t", "all", "-o", "%i|%u|%k"], check=True).stdout
    rows = [line.split("|", 2) for line in out.splitlines() if line.count("|") >= 2]
    return {job_id: user for job_id, user, comment in rows if split_comment(comment)[1] == key}


def _spec_builder(client: SlurmClient, cluster: LocalSlurmCluster, key: str) -> JobBuilder:
    return (
        client.jobs.submit()
        .script("#!/bin/bash\ntrue\n")
        .name(unique("retry"))
        .working_directory(str(cluster.shared_dir))
        .time_limit(timedelta(minutes=2))
        .memory_per_cpu("50M")
        .comment("mine")
        .submission_key(key)
    )


def test_cut_connection_leaves_exactly_one_job(
    slurm_cluster: LocalSlurmCluster, proxy: FaultProxy, mode: Mode
) -> None:
    key = unique("sck-retry")
    with make_client(slurm_cluster) as direct:
        url = f"http://127.0.0.1:{proxy.port}"
        auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
        default = slurm_cluster.release == DEFAULT_SETTLE_RELEASE
        retry = RetryPolicy() if default else SHORT_SETTLE
        with SlurmClient(url, auth=auth, timeout=30, retry=retry) as client:
            submitted = _spec_builder(client, slurm_cluster, key).execute()
        if mode == "after":
            assert proxy.count("POST", "/job/submit") == 1  # found by its key: not sent again
            # the client saw the connection drop, not a timeout
            assert any("lost" in w and "disconnected" in w for w in submitted.warnings), submitted
        else:
            assert proxy.count("POST", "/job/submit") == 2  # not found: sent again, once
        assert jobs_with_key(slurm_cluster, key) == [str(submitted.job_id)]
        job = direct.jobs.get(submitted.job_id)
        assert split_comment(job.comment) == ("mine", key)


def test_another_users_decoy_with_the_key_is_not_adopted(
    slurm_cluster: LocalSlurmCluster, proxy: FaultProxy, mode: Mode
) -> None:
    """bob knows (or guesses) alice's next submission key and submits a job carrying it
    first; alice's submission is then cut. She must end with her own job, not bob's."""
    key = unique("sck-decoy")
    victim = slurm_cluster.user_name
    bob = StaticToken(slurm_cluster.token("bob"), user_name="bob")
    with SlurmClient(slurm_cluster.rest_url, auth=bob, timeout=30) as mallory:
        decoy = (
            mallory.jobs.submit()
            .script("#!/bin/bash\nsleep 300\n")
            .name(unique("decoy"))
            .working_directory(str(slurm_cluster.shared_dir))
            .memory_per_cpu("50M")
            .hold()
            .submission_key(key)
            .execute()
        )
        try:
            assert _owners_of_key(slurm_cluster, key) == {str(decoy.job_id): "bob"}
            auth = StaticToken(slurm_cluster.token(), user_name=victim)
            url = f"http://127.0.0.1:{proxy.port}"
            with SlurmClient(url, auth=auth, timeout=30, retry=SHORT_SETTLE) as client:
                submitted = _spec_builder(client, slurm_cluster, key).execute()
            assert submitted.job_id != decoy.job_id, "bob's decoy was taken for alice's job"
            owners = _owners_of_key(slurm_cluster, key)
            assert owners == {str(decoy.job_id): "bob", str(submitted.job_id): victim}
            assert proxy.count("POST", "/job/submit") == (1 if mode == "after" else 2)
        finally:
            mallory.jobs.cancel(decoy.job_id)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_client_shares_the_retry(slurm_cluster: LocalSlurmCluster) -> None:
    key = unique("sck-aretry")
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        proxy.on(CutAfter(), method="POST", path="/job/submit", times=1)
        auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
        async with AsyncSlurmClient(f"http://127.0.0.1:{proxy.port}", auth=auth) as client:
            builder = client.jobs.submit().script("#!/bin/bash\ntrue\n").submission_key(key)
            builder = builder.working_directory(str(slurm_cluster.shared_dir))
            submitted = await builder.memory_per_cpu("50M").execute()
    assert proxy.count("POST", "/job/submit") == 1  # cut after it was answered: found by key
    assert jobs_with_key(slurm_cluster, key) == [str(submitted.job_id)]
