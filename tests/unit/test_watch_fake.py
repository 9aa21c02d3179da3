"""The watcher against the project's FakeSlurmServer, whose clock the watcher's sleep drives."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from slurm_core import JobFailedError, SlurmClient
from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import JobEvent, JobEventType, SyncWatcher, WatchOptions

T = JobEventType
OPTIONS = WatchOptions(min_interval=5, initial_interval=5, max_interval=60)


def watched(fake: FakeSlurmServer, **options: Any) -> SlurmClient:
    """A client whose watcher sleeps by moving the fake's clock."""
    client = fake.client(**options)
    now = [0.0]

    def sleep(delay: float) -> None:
        now[0] += delay
        fake.advance(delay)

    client.jobs._watcher = SyncWatcher(
        client._core, client._http, OPTIONS, sleep=sleep, clock=lambda: now[0]
    )
    return client


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.41", "v0.0.42", "v0.0.45"])
def test_twenty_jobs_every_event_once_one_state_poll_per_poll(version: str) -> None:
    fake = FakeSlurmServer(api_version=version, default_runtime=30)
    fake.set_job_outcome(name="bad", state="FAILED", exit_code=3, runtime=90)
    client = watched(fake)
    ids = [
        client.jobs.submit().command(["true"]).name("bad" if i % 4 == 0 else "ok").execute().job_id
        for i in range(20)
    ]
    mark = len(fake.requests)
    events: list[JobEvent] = list(client.jobs.watch(ids))
    per_job: dict[Any, list[T]] = {}
    for event in events:
        per_job.setdefault(event.job_id, []).append(event.type)
    for i, job_id in enumerate(ids):
        final = T.FAILED if i % 4 == 0 else T.COMPLETED
        assert per_job[job_id] == [T.PENDING, T.STARTED, final]
    failed = [e for e in events if e.type is T.FAILED]
    assert {e.exit_code.return_code for e in failed if e.exit_code is not None} == {3}
    sent = Counter(
        "jobs" if r.path.endswith("/jobs") else r.path.rsplit("/", 1)[-1]
        for r in fake.requests[mark:]
    )
    polls = client.jobs.watcher.brain.polls
    if version == "v0.0.38":
        assert sent == {"jobs": polls, "diag": 1}
    else:  # one jobs/state per poll; a job's record only when its state changed (3 times)
        assert sent == {"state": polls, **{str(j): 3 for j in ids}}


@pytest.mark.parametrize("accounting", [True, False])
def test_job_purged_before_the_watch(accounting: bool) -> None:
    fake = FakeSlurmServer(api_version="v0.0.42", min_job_age=300, accounting=accounting)
    fake.set_job_outcome(name="gone", state="FAILED", exit_code=2, runtime=10)
    client = watched(fake)
    job_id = client.jobs.submit().command(["true"]).name("gone").execute().job_id
    fake.advance(1)
    fake.advance(1000)  # ran, failed, and slurmctld forgot it
    events = list(client.jobs.watch(job_id))
    with pytest.raises(JobFailedError) as info:
        client.jobs.wait(job_id)
    if accounting:
        assert [e.type for e in events] == [T.FAILED]
        assert events[0].job is not None
        assert events[0].job.source == "accounting"
        assert (info.value.state, info.value.exit_code) == ("FAILED", 2)
    else:
        assert [e.type for e in events] == [T.UNKNOWN]
        assert info.value.state == "UNKNOWN"
