"""A poll cut short after some jobs' records were read still hands their events out."""

from __future__ import annotations

from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import JobEventType, SyncWatcher, WatchOptions


def test_a_poll_cut_short_loses_no_event_of_the_jobs_it_read() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42", default_runtime=30)
    client = fake.client()
    now = [0.0]

    def sleep(delay: float) -> None:
        now[0] += delay
        fake.advance(delay)

    options = WatchOptions(min_interval=5, initial_interval=5, max_interval=60)
    client.jobs._watcher = SyncWatcher(
        client._core, client._http, options, sleep=sleep, clock=lambda: now[0]
    )
    ids = [client.jobs.submit().command(["true"]).execute().job_id for _ in range(3)]
    with client.jobs.watch(ids, timeout=600) as events:  # the fake clock's seconds
        seen = [next(events) for _ in ids]  # PENDING each
        assert {e.type for e in seen} == {JobEventType.PENDING}
        fake.advance(60)  # all three ran and ended between two polls
        # slurmrestd stops answering while the third record is read: the poll fails
        # after the first two jobs' records moved their tracks on.
        fake.fail_next(503, times=20, path=rf"/job/{ids[2]}$")
        finals = set()
        for event in events:
            if event.final:
                finals.add(event.job_id)
            if finals >= set(ids[:2]):
                break
    assert finals >= set(ids[:2])
