"""Duplicate-free submission against real slurmrestd, through a proxy that cuts connections.

:class:`CuttingProxy` relays TCP between the client and slurmrestd on 127.0.0.1. For the
first ``POST .../job/submit`` it either forwards the request, waits for slurmrestd's
answer (so the job exists) and then closes the client's socket without relaying it
(``"after"``), or closes the client's socket without forwarding anything (``"before"``).
Either way the client cannot know whether the job was created; it must end with exactly
one job carrying its submission key, and that job must be its own: another user's job
carrying the same key (a decoy) is never taken for it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

import pytest
from test_submit_helpers import make_client, unique

from slurm_core import AsyncSlurmClient, SlurmClient, StaticToken
from slurm_core.jobs import JobBuilder, split_comment
from slurm_core.testing.cluster import LocalSlurmCluster

Mode = Literal["after", "before"]


class CuttingProxy:
    """A bounded TCP relay on 127.0.0.1 that cuts the first job submission (see above)."""

    def __init__(self, upstream_port: int, mode: Mode) -> None:
        self.upstream_port = upstream_port
        self.mode = mode
        self.submissions = 0  # POST job/submit requests seen
        self.cut = 0  # connections cut
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for s in [self._listener, *self._sockets]:
                _cut(s)
        for t in self._threads:
            t.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30)
            except OSError:
                _cut(client)  # slurmrestd is down: so is the proxy
                continue
            client.settimeout(30)
            with self._lock:
                self._sockets += [client, upstream]
            state = {"cut_pending": False}
            for args in ((client, upstream, True, state), (upstream, client, False, state)):
                t = threading.Thread(target=self._pump, args=args, daemon=True)
                self._threads.append(t)
                t.start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, to_server: bool, state: dict[str, bool]
    ) -> None:
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if to_server and data.startswith(b"POST ") and b"/job/submit " in data[:200]:
                    with self._lock:
                        self.submissions += 1
                        first = self.cut == 0
                        if first:
                            self.cut = 1
                    if first and self.mode == "before":
                        _cut(src)  # slurmrestd never sees it
                        break
                    state["cut_pending"] = first
                if not to_server and state["cut_pending"]:
                    _cut(dst)  # slurmrestd answered: the job exists; the client never hears
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _cut(src)
            _cut(dst)


def _cut(sock: socket.socket) -> None:
    """Close now: ``shutdown`` wakes a thread blocked in ``recv`` and sends the FIN."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture(params=["after", "before"])
def proxy(
    request: pytest.FixtureRequest, slurm_cluster: LocalSlurmCluster
) -> Iterator[CuttingProxy]:
    p = CuttingProxy(slurm_cluster.ports.slurmrestd, request.param)
    try:
        yield p
    finally:
        p.close()


def _jobs_with_key(cluster: LocalSlurmCluster, key: str) -> list[str]:
    """Job ids whose comment carries ``key``, as squeue (not the client) sees them."""
    out = cluster.run(["squeue", "-h", "-t", "all", "-o", "%i|%k"], check=True).stdout
    return [
        line.split("|", 1)[0]
        for line in out.splitlines()
        if "|" in line and split_comment(line.split("|", 1)[1])[1] == key
    ]


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
    slurm_cluster: LocalSlurmCluster, proxy: CuttingProxy
) -> None:
    key = unique("sck-retry")
    with make_client(slurm_cluster) as direct:
        url = f"http://127.0.0.1:{proxy.port}"
        auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
        with SlurmClient(url, auth=auth, timeout=30) as client:
            submitted = _spec_builder(client, slurm_cluster, key).execute()
        assert proxy.cut == 1
        if proxy.mode == "after":
            assert proxy.submissions == 1  # found by its key: not sent again
            # the client saw the connection drop, not a timeout
            assert any("lost" in w and "disconnected" in w for w in submitted.warnings), submitted
        else:
            assert proxy.submissions == 2  # not found: sent again, once
        assert _jobs_with_key(slurm_cluster, key) == [str(submitted.job_id)]
        job = direct.jobs.get(submitted.job_id)
        assert split_comment(job.comment) == ("mine", key)


def test_another_users_decoy_with_the_key_is_not_adopted(
    slurm_cluster: LocalSlurmCluster, proxy: CuttingProxy
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
            with SlurmClient(url, auth=auth, timeout=30) as client:
                submitted = _spec_builder(client, slurm_cluster, key).execute()
            assert proxy.cut == 1
            assert submitted.job_id != decoy.job_id, "bob's decoy was taken for alice's job"
            owners = _owners_of_key(slurm_cluster, key)
            assert owners == {str(decoy.job_id): "bob", str(submitted.job_id): victim}
            assert proxy.submissions == (1 if proxy.mode == "after" else 2)
        finally:
            mallory.jobs.cancel(decoy.job_id)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_client_shares_the_retry(slurm_cluster: LocalSlurmCluster) -> None:
    proxy = CuttingProxy(slurm_cluster.ports.slurmrestd, "after")
    key = unique("sck-aretry")
    try:
        auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
        async with AsyncSlurmClient(f"http://127.0.0.1:{proxy.port}", auth=auth) as client:
            builder = client.jobs.submit().script("#!/bin/bash\ntrue\n").submission_key(key)
            builder = builder.working_directory(str(slurm_cluster.shared_dir))
            submitted = await builder.memory_per_cpu("50M").execute()
    finally:
        proxy.close()
    assert (proxy.cut, proxy.submissions) == (1, 1)
    assert _jobs_with_key(slurm_cluster, key) == [str(submitted.job_id)]
