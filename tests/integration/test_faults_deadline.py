"""One deadline per call, against real slurmrestd (issue 16, findings 3 and 6).

- A server that never answers (the fault proxy's ``Silent``): ``wait(timeout=5)`` returned
  after 122.6 s, since timeouts applied per attempt and per read. It must return (raise
  ``WaitTimeoutError``) within 6 s, sync and async.
- slurmctld frozen (SIGSTOP): slurmrestd holds each request ~10 s, then answers 500. One
  call blocked ~43 s (4 attempts); with ``call_timeout=15`` it fails within 15 s, because a
  retry that cannot finish in what is left is not started. slurmctld is frozen on 22.05
  only, as briefly as the two calls take, and always thawed in ``finally``: the clusters
  are shared.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import anyio
import pytest
from faultproxy import FaultProxy, Silent
from test_submit_helpers import auth_of

from slurm_core import (
    AsyncSlurmClient,
    ServerError,
    SlurmClient,
    SlurmTimeoutError,
)
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import WaitTimeoutError

FREEZE_RELEASE = "22.05"
CALL_TIMEOUT = 15.0

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def silent(slurm_cluster: LocalSlurmCluster) -> Iterator[str]:
    """The URL of a proxy that reads every request and never answers."""
    with FaultProxy(slurm_cluster.ports.slurmrestd) as proxy:
        proxy.on(Silent())
        yield f"http://127.0.0.1:{proxy.port}"


def test_wait_against_a_silent_server_returns_at_its_timeout(
    slurm_cluster: LocalSlurmCluster, silent: str
) -> None:
    with SlurmClient(silent, auth=auth_of(slurm_cluster)) as client:
        start = time.monotonic()
        with pytest.raises(WaitTimeoutError):
            client.jobs.wait(1, timeout=5)
        assert time.monotonic() - start < 6  # the contract under test


async def test_async_wait_against_a_silent_server_returns_at_its_timeout(
    slurm_cluster: LocalSlurmCluster, silent: str
) -> None:
    async with AsyncSlurmClient(silent, auth=auth_of(slurm_cluster)) as client:
        start = time.monotonic()
        with pytest.raises(WaitTimeoutError), anyio.fail_after(200):
            await client.jobs.wait(1, timeout=5)
        assert time.monotonic() - start < 6


@pytest.fixture
def freeze_slurmctld(slurm_cluster: LocalSlurmCluster) -> Iterator[Callable[[], None]]:
    """A function that freezes slurmctld (thawed at teardown)."""
    if slurm_cluster.release != FREEZE_RELEASE:
        pytest.skip(f"slurmctld is frozen on {FREEZE_RELEASE} only (shared clusters)")
    pid = slurm_cluster.status().daemons.get("slurmctld")
    assert pid is not None, "slurmctld is not running"
    frozen: list[int] = []

    def freeze() -> None:
        os.kill(pid, signal.SIGSTOP)
        frozen.append(pid)

    try:
        yield freeze
    finally:
        if frozen:
            os.kill(pid, signal.SIGCONT)


async def test_with_slurmctld_frozen_one_call_fails_within_its_deadline(
    slurm_cluster: LocalSlurmCluster, freeze_slurmctld: Callable[[], None]
) -> None:
    """Both twins at once, so slurmctld stays frozen no longer than one call takes. Each
    client has had its token accepted first: on 22.05 a frozen slurmctld and a rejected
    token give the same HTTP 500, and only a token that worked is not blamed."""
    options = {
        "auth": auth_of(slurm_cluster),
        "call_timeout": CALL_TIMEOUT,
        "circuit_breaker": None,
    }
    url = slurm_cluster.rest_url
    outcome: dict[str, tuple[BaseException | None, float]] = {}
    sync_client = SlurmClient(url, **options)  # type: ignore[arg-type]
    sync_client.jobs.list()

    def sync_call() -> None:
        start = time.monotonic()
        try:
            sync_client.jobs.list()
        except BaseException as exc:  # recorded, asserted below
            outcome["sync"] = (exc, time.monotonic() - start)
        else:
            outcome["sync"] = (None, time.monotonic() - start)

    error: BaseException | None = None
    try:
        async with AsyncSlurmClient(url, **options) as client:  # type: ignore[arg-type]
            await client.jobs.list()
            freeze_slurmctld()
            thread = threading.Thread(target=sync_call)
            thread.start()
            start = time.monotonic()
            try:
                with anyio.fail_after(120):
                    await client.jobs.list()
            except (ServerError, SlurmTimeoutError) as exc:
                error = exc
            finally:
                outcome["async"] = (error, time.monotonic() - start)
                await anyio.to_thread.run_sync(thread.join)
    finally:
        sync_client.close()
    for face in ("sync", "async"):
        error, elapsed = outcome[face]
        assert isinstance(error, (ServerError, SlurmTimeoutError)), (face, error)
        assert elapsed < CALL_TIMEOUT + 1, (face, elapsed, error)  # was ~43 s
