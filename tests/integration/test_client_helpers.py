"""Helpers of the client integration tests (test_client_*.py); no tests here.

* :class:`Face` calls a method of a SlurmClient or an AsyncSlurmClient the same way
  (``await face("jobs.get", 42)``), so one test body runs against both.
* :class:`Site` is what the tests share per release: the running cluster, tokens per user,
  one finished job (accounting, jobs.get), one license-only reservation. Made once per
  session (:func:`site`), cleaned up at its end.
* :func:`submit` submits a batch job with ``client.jobs.submit()``.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from slurm_core import AsyncSlurmClient, JobBaseState, SlurmClient, SlurmError, StaticToken
from slurm_core._engine import Op, run_async, run_sync
from slurm_core._versions import CLIENT_VERSIONS
from slurm_core.testing.cluster import ClusterError, LocalSlurmCluster

__all__ = [
    "MODES",
    "Face",
    "Site",
    "client_versions",
    "poll",
    "site",
    "submit",
    "test_releases",
]

MODES = ("sync", "async")
Client = SlurmClient | AsyncSlurmClient


def test_releases() -> list[str]:
    """``$SLURM_TEST_RELEASES`` (comma list), as the pytest plugin reads it."""
    raw = os.environ.get("SLURM_TEST_RELEASES", "")
    return [r.strip() for r in raw.split(",") if r.strip()] or ["22.05", "24.11", "26.05"]


test_releases.__test__ = False  # type: ignore[attr-defined]  # not a test


def client_versions(cluster: LocalSlurmCluster) -> list[str]:
    """The REST API versions both the cluster and the client speak, oldest first."""
    return [v for v in cluster.served_versions if v in CLIENT_VERSIONS]


class Face:
    """``await face("jobs.get", 42)`` on a sync or an async client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def is_async(self) -> bool:
        return isinstance(self.client, AsyncSlurmClient)

    async def __call__(self, method: str, /, *args: Any, **kw: Any) -> Any:
        target: Any = self.client
        for part in method.split("."):
            target = getattr(target, part)
        result = target(*args, **kw)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def run(self, op: Op[Any]) -> Any:
        """Run a sans-I/O operation with this client's engine."""
        if isinstance(self.client, AsyncSlurmClient):
            return await run_async(self.client._http, op)
        return run_sync(self.client._http, op)

    async def close(self) -> None:
        if isinstance(self.client, AsyncSlurmClient):
            await self.client.aclose()
        else:
            self.client.close()


async def submit(
    face: Face, cluster: LocalSlurmCluster, script: str, *, later: bool = False, **job: Any
) -> int:
    """Submit ``script`` as the face's user with ``client.jobs.submit()``; ``later`` keeps
    the job pending (a begin time ten minutes ahead)."""
    builder = (
        face.client.jobs.submit()
        .script(script)
        .name(job.pop("name", "sdk-it"))
        .working_directory(str(cluster.shared_dir))
        .output("/dev/null")
    )
    if later:
        builder = builder.begin(datetime.now(timezone.utc) + timedelta(minutes=10))
    assert not job, f"unused job fields {job}"
    submitted = builder.execute()
    if inspect.isawaitable(submitted):
        submitted = await submitted
    return int(submitted.job_id)


async def poll(
    check: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.2
) -> Any:
    """Call ``check`` (sync or async) until it returns something truthy; fail on timeout."""
    import anyio

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        await anyio.sleep(interval)


class Site:
    """One release's cluster and what the tests share on it."""

    def __init__(self, cluster: LocalSlurmCluster) -> None:
        self.cluster = cluster
        self.release = cluster.release
        self._tokens: dict[str, str] = {}
        self.reservation = f"sdk-it-{os.getpid()}"
        self._reserved = False
        self.finished_job: int | None = None
        self.finished_at = 0.0

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self.cluster.token(user, lifespan=3600)
        return self._tokens[user]

    def client(self, mode: str, version: str | None = None, user: str = "alice", **kw: Any) -> Face:
        kw.setdefault("auth", StaticToken(self.token(user), user_name=user))
        kw.setdefault("timeout", 30.0)
        cls = SlurmClient if mode == "sync" else AsyncSlurmClient
        return Face(cls(self.cluster.rest_url, api_version=version, **kw))

    def reserve(self) -> str:
        """A license-only reservation a day ahead: listed, but in nobody's way."""
        if not self._reserved:
            self.cluster.run(
                [
                    "scontrol", "create", "reservation", f"ReservationName={self.reservation}",
                    "StartTime=now+1day", "Duration=60", "Users=alice", "Flags=ANY_NODES",
                    "Licenses=matlab:1",
                ],
                check=True,
            )  # fmt: skip
            self._reserved = True
        return self.reservation

    async def finished(self) -> int:
        """A job of alice that ran ``true`` and is recorded, with its steps, by slurmdbd."""
        if self.finished_job is None:
            face = self.client("sync")
            try:
                self.finished_at = time.time()
                job_id = await submit(face, self.cluster, "#!/bin/sh\ntrue\n", name="sdk-it-done")
                await self.boost(job_id)
                job = await face("jobs.wait", job_id, timeout=180)
                assert job.state.base is JobBaseState.COMPLETED

                async def recorded() -> bool:
                    found = await face("accounting.jobs", start=self.finished_at - 60)
                    mine = [j for j in found if j.job_id == job_id]
                    return bool(mine and mine[0].steps and mine[0].state.is_finished)

                await poll(recorded, f"job {job_id} with steps in the accounting database")
            finally:
                await face.close()
            self.finished_job = job_id
        return self.finished_job

    async def boost(self, job_id: int) -> None:
        """Put a short job ahead of the queue (as root): the clusters are shared with other
        test runs whose jobs may hold the node for a while."""
        root = self.client("sync", user="root")
        try:
            await root("jobs.update", job_id, priority=1_000_000)
        except SlurmError as exc:
            if 2084 not in getattr(exc, "error_numbers", []):  # 2084: it already finished
                raise
        finally:
            await root.close()

    def cleanup(self) -> None:
        if self._reserved:
            self.cluster.run(["scontrol", "delete", f"ReservationName={self.reservation}"])


_sites: dict[str, Site] = {}
_started: list[LocalSlurmCluster] = []


def site(release: str) -> Site:
    """The :class:`Site` of ``release``: the running cluster, or one started here."""
    found = _sites.get(release)
    if found is None:
        cluster = LocalSlurmCluster.running(release)
        if cluster is None:
            cluster = LocalSlurmCluster(release)
            try:
                cluster.start()
            except ClusterError as exc:
                if os.environ.get("CI", "").lower() == "true":
                    pytest.fail(f"SLURM {release} cannot start: {exc}", pytrace=False)
                pytest.skip(f"SLURM {release} cannot start: {exc}")
            if cluster.started_here:
                _started.append(cluster)
        found = _sites[release] = Site(cluster)
    return found


def close_sites() -> Iterator[None]:
    """Session teardown: delete what the sites made, stop clusters started here."""
    yield
    for one in _sites.values():
        one.cleanup()
    _sites.clear()
    for cluster in _started:
        cluster.stop()
    _started.clear()


def http_client(cluster: LocalSlurmCluster) -> httpx.Client:
    return httpx.Client(base_url=cluster.rest_url, timeout=30, trust_env=False)
