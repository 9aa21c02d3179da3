"""How ``SlurmExecutor`` follows its futures, on the fake: one shared poll for all of them,
no thread or request per future, and every future of a cancelled array ends.

The jobs are held (nothing runs), so no job side is needed.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slurm_core import JobFailedError, SlurmClient, SlurmExecutor
from slurm_core.testing.fake import FakeSlurmServer
from slurm_core.watch import WatchOptions

N = 200
HELD = {"hold": True}


@pytest.fixture
def fake() -> FakeSlurmServer:
    return FakeSlurmServer(realtime=True)


@pytest.fixture
def client(fake: FakeSlurmServer) -> Iterator[SlurmClient]:
    with fake.client() as c:
        c.jobs.watch_options = WatchOptions(
            min_interval=0.1, initial_interval=0.2, max_interval=0.5
        )
        yield c


def _states(fake: FakeSlurmServer) -> int:
    return len(fake.requests_to(r"/jobs/state$", "GET"))


def _records(fake: FakeSlurmServer) -> int:
    return len(fake.requests_to(r"/job/[0-9_]+$", "GET"))


def _until(check: object, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_200_futures_are_one_poll_and_one_thread(
    fake: FakeSlurmServer, client: SlurmClient, tmp_path: Path
) -> None:
    threads = threading.active_count()
    ex = SlurmExecutor(client, workspace=tmp_path, time_limit="5:00")
    try:
        futures = ex.submit_array(abs, range(N), slurm_options=HELD)
        _until(lambda: _records(fake) >= N)  # each task's record read once: PENDING
        time.sleep(0.2)
        first, records = _states(fake), _records(fake)
        _until(lambda: _states(fake) >= first + 2)  # two more polls
        polls = _states(fake) - first
        # Per poll: one jobs/state request names the array once, for all 200 futures.
        assert fake.requests_to(r"/jobs/state$")[-1].query["job_id"] == [
            futures[0].job_id.split("_")[0]
        ]
        assert _records(fake) == records, "a followed job was looked up again"
        assert threading.active_count() == threads + 1  # the executor's one follower
        assert polls >= 2
        # A job submitted while the others are followed joins the same watch.
        one = ex.submit(abs, -1, slurm_options=HELD)
        _until(lambda: _records(fake) == records + 1)
        assert threading.active_count() == threads + 1
        assert not any(f.done() for f in [*futures, one])
        ex.shutdown(wait=False, cancel_futures=True)
        _until(lambda: all(f.done() for f in [*futures, one]))
        ex.shutdown(wait=True)
    finally:
        ex.shutdown(wait=False, cancel_futures=True)
    assert threading.active_count() == threads


def test_cancelled_array_tasks_end_their_futures(
    fake: FakeSlurmServer, client: SlurmClient, tmp_path: Path
) -> None:
    ex = SlurmExecutor(client, workspace=tmp_path, time_limit="5:00")
    try:
        futures = ex.submit_array(abs, range(N), slurm_options=HELD)
        _until(lambda: _records(fake) >= N)
        # slurmrestd answering records slowly: after the cancel, reading every task's
        # record takes longer (2 s) than any slice of time the follower might wait.
        fake.delay_next(0.01, times=10 * N, path=r"/job/[0-9_]+$", method="GET")
        client.jobs.cancel(futures[0].job_id.split("_")[0])
        _, not_done = cf.wait(futures, timeout=30)
        assert not not_done, f"{len(not_done)} futures of the cancelled array never ended"
        errors = [f.exception() for f in futures]
        assert all(isinstance(e, JobFailedError) and e.state == "CANCELLED" for e in errors)
        assert _records(fake) <= 2 * N  # each task read when pending, then when cancelled
        ex.shutdown(wait=True)
    finally:
        ex.shutdown(wait=False)
