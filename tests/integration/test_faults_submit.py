"""Late submissions against real slurmrestd: no duplicate however late the POST arrives.

The fault proxy holds every ``POST .../job/submit`` for 4 s while the client gives each
attempt 2 s: the client's read times out, and the request reaches slurmrestd (and creates
the job) 2 s after the client gave up on it. Issue 16 measured 10/10 duplicated (sync),
5/5 (async) and 10/10 on 22.05: the client looked its key up once, at once, found nothing
yet, and sent the job again. Each submission must end as exactly one job carrying its key.
The sync test sends ten, as the issue did, and the async one five, as the issue did (each
costs the 4 s hold). 22.05 and 24.11 differ in submission shape, so both run; 26.05 submits and
lists jobs in 24.11's shape (v0.0.40+) and the key lookup does not depend on the release,
so it is skipped there (each test costs tens of seconds per release).

The submissions run one after the other, as in the issue: the lookups share the client's
2 s attempt timeout, and ten job listings at once take longer than that on a loaded
machine. The clients have no circuit breaker: a read timeout per submission is a failure
it counts, which is not what is tested here.
"""

from __future__ import annotations

import pytest
from faultproxy import FaultProxy, Hold
from test_submit_helpers import auth_of, jobs_with_key, unique

from slurm_core import AsyncSlurmClient, SlurmClient, SubmittedJob
from slurm_core.testing.cluster import LocalSlurmCluster

SUBMISSIONS, ASYNC_SUBMISSIONS = 10, 5  # as many as issue 16 sent
HOLD, TIMEOUT = 4.0, 2.0
RELEASES = ("22.05", "24.11")  # the two submission shapes

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _shapes_only(slurm_cluster: LocalSlurmCluster) -> None:
    if slurm_cluster.release not in RELEASES:
        pytest.skip(f"slow scenario, run on {' and '.join(RELEASES)} (one per submission shape)")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _assert_one_job_each(
    cluster: LocalSlurmCluster, proxy: FaultProxy, keys: list[str], got: list[SubmittedJob]
) -> None:
    assert proxy.count("POST", "/job/submit") == len(keys)  # none sent twice
    found = {key: jobs_with_key(cluster, key) for key in keys}
    assert found == {key: [str(job.job_id)] for key, job in zip(keys, got, strict=True)}
    assert all(any("lost" in w for w in job.warnings) for job in got)  # each was late


def test_late_submissions_give_one_job_each(slurm_cluster: LocalSlurmCluster) -> None:
    keys = [unique("sck-late") for _ in range(SUBMISSIONS)]
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        proxy.on(Hold(HOLD), method="POST", path="/job/submit")
        url = f"http://127.0.0.1:{proxy.port}"
        client = SlurmClient(
            url, auth=auth_of(slurm_cluster), timeout=TIMEOUT, circuit_breaker=None
        )
        with client:

            def submit(key: str) -> SubmittedJob:
                builder = client.jobs.submit().script("#!/bin/bash\ntrue\n").name(key)
                builder = builder.working_directory(str(slurm_cluster.shared_dir))
                return builder.memory_per_cpu("50M").submission_key(key).execute()

            got = [submit(key) for key in keys]  # one after the other, as issue 16 did
        _assert_one_job_each(slurm_cluster, proxy, keys, got)


async def test_late_async_submissions_give_one_job_each(
    slurm_cluster: LocalSlurmCluster,
) -> None:
    keys = [unique("sck-alate") for _ in range(ASYNC_SUBMISSIONS)]
    got: dict[str, SubmittedJob] = {}
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        proxy.on(Hold(HOLD), method="POST", path="/job/submit")
        url = f"http://127.0.0.1:{proxy.port}"
        client = AsyncSlurmClient(
            url, auth=auth_of(slurm_cluster), timeout=TIMEOUT, circuit_breaker=None
        )
        async with client:

            async def submit(key: str) -> None:
                builder = client.jobs.submit().script("#!/bin/bash\ntrue\n").name(key)
                builder = builder.working_directory(str(slurm_cluster.shared_dir))
                got[key] = await builder.memory_per_cpu("50M").submission_key(key).execute()

            for key in keys:
                await submit(key)
        _assert_one_job_each(slurm_cluster, proxy, keys, [got[k] for k in keys])
