"""Issue 16, finding 1: a later ``wait()`` on the same client looks at its job at once.

The watch cursor lists jobs changed since the last listing (``update_time``, v0.0.38). A
job first watched after that listing, which has not changed since, would not be in the
delta: the next poll must list in full (from v0.0.40, ``jobs/state`` must name it).
A fault proxy records what reached slurmrestd.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from faultproxy import FaultProxy

from slurm_core import AsyncSlurmClient, SlurmClient, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import WatchOptions

INTERVAL = 8.0  # long, so that a delta poll would show; the machine is shared
SLOW = WatchOptions(min_interval=0.2, initial_interval=INTERVAL, max_interval=INTERVAL)
SCRIPT = "#!/bin/sh\ntrue\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _first_in_line(cluster: LocalSlurmCluster, *job_ids: int) -> None:
    """Top priority: other tests' pending jobs on the shared cluster must not delay these."""
    for job_id in job_ids:
        cluster.run(["scontrol", "update", f"jobid={job_id}", "priority=1000000000"])


def _first_listing_is_full(proxy: FaultProxy, mark: int, job_id: int) -> None:
    """The first poll looks at the job: a full listing (v0.0.38), or ``jobs/state`` naming it."""
    polls = [r for r in proxy.seen[mark:] if urlsplit(r.path).path.endswith(("/jobs", "/state"))]
    assert polls, "no poll was sent"
    query = parse_qs(urlsplit(polls[0].path).query)
    if urlsplit(polls[0].path).path.endswith("/jobs"):
        assert "update_time" not in query
    else:
        assert str(job_id) in query["job_id"]


def test_a_second_wait_on_a_quiet_job_returns_within_one_poll(
    slurm_cluster: LocalSlurmCluster,
) -> None:
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        with SlurmClient(proxy.url, auth=auth) as client:
            client.jobs.watch_options = SLOW
            submit = client.jobs.submit().working_directory(slurm_cluster.shared_dir)
            first = submit.script(SCRIPT).name("rewatch-a").execute().job_id
            second = submit.script(SCRIPT).name("rewatch-b").execute().job_id
            _first_in_line(slurm_cluster, first, second)
            client.jobs.wait(second, timeout=120)
            client.jobs.wait(first, timeout=120)
            client.jobs.wait(second, timeout=120)  # the cursor is now past both jobs
            mark, started = len(proxy.seen), time.monotonic()
            done = client.jobs.wait(first, timeout=3 * INTERVAL)
            took = time.monotonic() - started
        _first_listing_is_full(proxy, mark, first)
    assert done.state.is_success
    assert took < INTERVAL, f"the second wait took {took:.2f}s (poll interval {INTERVAL}s)"


@pytest.mark.anyio
async def test_a_second_async_wait_on_a_quiet_job_returns_within_one_poll(
    slurm_cluster: LocalSlurmCluster,
) -> None:
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        async with AsyncSlurmClient(proxy.url, auth=auth) as client:
            client.jobs.watch_options = SLOW
            submit = client.jobs.submit().working_directory(slurm_cluster.shared_dir)
            first = (await submit.script(SCRIPT).name("rewatch-a").execute()).job_id
            second = (await submit.script(SCRIPT).name("rewatch-b").execute()).job_id
            _first_in_line(slurm_cluster, first, second)
            await client.jobs.wait(second, timeout=120)
            await client.jobs.wait(first, timeout=120)
            await client.jobs.wait(second, timeout=120)
            mark, started = len(proxy.seen), time.monotonic()
            done = await client.jobs.wait(first, timeout=3 * INTERVAL)
            took = time.monotonic() - started
        _first_listing_is_full(proxy, mark, first)
    assert done.state.is_success
    assert took < INTERVAL, f"the second wait took {took:.2f}s (poll interval {INTERVAL}s)"
