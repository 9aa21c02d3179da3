"""``FakeSlurmServer``: an in-memory slurmrestd with a job state machine and a clock."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from ..._client import AsyncSlurmClient, SlurmClient
from ..._versions import CLIENT_VERSIONS
from ...auth import StaticToken
from ...models import Job, License, Node, Reservation
from . import _models
from ._app import FakeApp, TokenCheck
from ._cluster import FakeCluster
from ._endpoint import FakeEndpoint
from ._faults import CorruptKind, DropKind, Fault, RecordedRequest
from ._server import serve
from ._state import (
    Clock,
    FakeNode,
    FakePartition,
    Outcome,
    Reject,
    default_nodes,
    default_partitions,
)
from ._transport import FakeTransport

__all__ = ["FakeSlurmServer", "RecordedRequest"]

_ids = itertools.count(1)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _pattern(path: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    return re.compile(path) if isinstance(path, str) else path


class FakeSlurmServer:
    """An in-memory slurmrestd speaking the wire format of one REST API version.

    ``also_serve`` adds versions served beside ``api_version`` (a 24.11 serves v0.0.40 to
    v0.0.42); the client then negotiates the newest, unless pinned.

    Jobs move PENDING -> RUNNING -> COMPLETED on the fake's clock: manual by default
    (:meth:`advance`), or following the wall clock with ``realtime=True`` (``speed``
    times faster). Scheduling happens whenever the clock moves, so a job submitted now
    is PENDING until the next :meth:`advance` (even ``advance(0)``).

    Example::

        fake = FakeSlurmServer(api_version="v0.0.42", default_runtime=30)
        with SlurmClient(fake.url, transport=fake.transport()) as client:
            job_id = client.jobs.submit().command(["true"]).execute().job_id
            fake.advance(1)                     # scheduled: RUNNING
            fake.advance(30)                    # done: COMPLETED
            assert client.jobs.get(job_id).state.is_success
    """

    def __init__(
        self,
        api_version: str = CLIENT_VERSIONS[-1],
        *,
        also_serve: Sequence[str] = (),
        nodes: Sequence[FakeNode] | None = None,
        partitions: Sequence[FakePartition] | None = None,
        default_runtime: float | timedelta = 60.0,
        start_time: datetime | float | None = None,
        realtime: bool = False,
        speed: float = 1.0,
        min_job_age: float | timedelta = 300,
        token: str | TokenCheck | None = None,
        require_token: bool = False,
        user: str = "testuser",
        uid: int = 1000,
        cluster_name: str = "fakecluster",
        account: str = "testacct",
        accounting: bool = True,
        licenses: Sequence[License] | None = None,
        reservations: Sequence[Reservation] | None = None,
        admins: Sequence[str] = ("root", "slurm"),
    ) -> None:
        for version in (api_version, *also_serve):
            if version not in CLIENT_VERSIONS:
                raise ValueError(f"versions must be among {', '.join(CLIENT_VERSIONS)}")
        node_list = list(nodes) if nodes is not None else default_nodes()
        self.api_version = api_version
        self.url = f"http://fake-slurmrestd-{next(_ids)}.test:6820"
        """A URL unique to this fake (the client caches negotiation and breakers per URL)."""
        self._clock = Clock(start_time, realtime, speed)
        self.cluster = FakeCluster(
            node_list,
            list(partitions) if partitions is not None else default_partitions(node_list),
            clock=self._clock,
            default_runtime=_seconds(default_runtime),
            min_job_age=int(_seconds(min_job_age)),
            name=cluster_name,
            default_account=account,
        )
        licenses_list = list(licenses) if licenses is not None else _models.default_licenses()
        reservations_list = (
            list(reservations)
            if reservations is not None
            else _models.default_reservations(self._clock.now())
        )
        self.apps: dict[str, FakeApp] = {}
        """One app per served version, sharing the cluster (as one slurmrestd does)."""
        for version in dict.fromkeys((api_version, *also_serve)):
            self.apps[version] = FakeApp(
                self.cluster,
                version,
                user=user,
                uid=uid,
                token=token,
                require_token=require_token,
                accounting=accounting,
                licenses=licenses_list,
                reservations=reservations_list,
                admins=tuple(admins),
            )
        for app in self.apps.values():
            app.siblings = list(self.apps.values())
        self.app = self.apps[api_version]
        self._endpoint = FakeEndpoint(self.apps, api_version)
        self._lock = self._endpoint.lock
        self.faults = self._endpoint.faults
        self.requests = self._endpoint.requests
        """Every request received, in order (also those answered by a fault)."""

    def __repr__(self) -> str:
        return f"<FakeSlurmServer {self.api_version} jobs={len(self.cluster.jobs)}>"

    # ------------------------------------------------------------ connecting -------------
    def transport(self) -> FakeTransport:
        """An httpx transport serving sync and async clients in-process (no sockets).

        Example::

            client = AsyncSlurmClient(fake.url, transport=fake.transport())
        """
        return FakeTransport(self._endpoint)

    async_transport = transport

    def serve(self, port: int = 0) -> AbstractContextManager[str]:
        """Serve over real HTTP on 127.0.0.1 (a free port by default); yields the URL.

        Example::

            with fake.serve() as url:
                subprocess.run(["curl", f"{url}/slurm/v0.0.42/ping"], check=True)
        """
        return serve(self._endpoint, port)

    def client(self, **options: Any) -> SlurmClient:
        """A :class:`~slurm_core.SlurmClient` wired to this fake (``options`` passed on).

        Without an ``auth`` option the client acts as the fake's ``user`` (with the fake's
        token when it is a string), as a real client names its user: a submission whose
        answer is lost is then found again as that user's job.

        Example::

            with fake.client() as client:
                client.jobs.list()
        """
        return SlurmClient(self.url, transport=self.transport(), **self._as_user(options))

    def async_client(self, **options: Any) -> AsyncSlurmClient:
        """An :class:`~slurm_core.AsyncSlurmClient` wired to this fake (see :meth:`client`)."""
        return AsyncSlurmClient(self.url, transport=self.transport(), **self._as_user(options))

    def _as_user(self, options: dict[str, Any]) -> dict[str, Any]:
        token = self.app.token
        if "auth" in options or not (token is None or isinstance(token, str)):
            return options  # a token check: only the caller knows a token that passes it
        named = {k.lower(): v for k, v in dict(options.get("headers") or {}).items()}
        user = named.get("x-slurm-user-name") or self.app.user
        return {**options, "auth": StaticToken(token or "fake-token", user_name=user)}

    # ------------------------------------------------------------------ clock ------------
    @property
    def now(self) -> datetime:
        """The fake's current time (UTC)."""
        return self._clock.datetime()

    def advance(self, seconds: float | timedelta = 0) -> None:
        """Move the clock forward and run the scheduler (jobs start, end, unblock).

        Example::

            fake.advance(30)                     # or fake.advance(timedelta(minutes=5))
        """
        with self._lock:
            self._clock.advance(_seconds(seconds))
            self.cluster.sync(force=True)

    # ------------------------------------------------------------------ jobs -------------
    def set_job_outcome(
        self,
        job_id: int | None = None,
        *,
        name: str | None = None,
        state: str = "COMPLETED",
        exit_code: int = 0,
        signal: int | None = None,
        runtime: float | timedelta | None = None,
        cpu_load: float = 0.9,
        memory_load: float = 0.25,
    ) -> None:
        """How a job ends: by ``job_id`` (an array id covers its tasks), or for every job
        whose name matches the glob ``name`` (later rules win). ``runtime`` in seconds.
        ``cpu_load`` and ``memory_load`` (0 to 1) are what slurmdbd then records of its
        batch step: CPU time as a share of elapsed x allocated CPUs, maximum RSS as a share
        of the allocated memory.

        Example::

            fake.set_job_outcome(job_id, state="FAILED", exit_code=3)
            fake.set_job_outcome(name="train-*", runtime=3600, cpu_load=0.5)
        """
        if (job_id is None) == (name is None):
            raise ValueError("give either job_id or name")
        for field, load in (("cpu_load", cpu_load), ("memory_load", memory_load)):
            if not 0 <= load <= 1:
                raise ValueError(f"{field} must be between 0 and 1, got {load!r}")
        outcome = Outcome(
            state=state.upper(),
            exit_code=exit_code,
            signal=signal,
            runtime=None if runtime is None else _seconds(runtime),
            cpu_load=cpu_load,
            memory_load=memory_load,
        )
        with self._lock:
            if name is not None:
                self.cluster.name_rules.append((name, outcome))
                return
            assert job_id is not None
            jobs = self.cluster.find(job_id, visible=False)
            self.cluster.outcomes[job_id] = outcome
            for job in jobs:  # running already: its end changes now
                if job.state == "RUNNING":
                    job.outcome, job.final_state = outcome, outcome.state
                    if outcome.runtime is not None:
                        end = job.start_time + max(1, int(outcome.runtime))
                        job.finish_at = max(end, self._clock.now())
            self.cluster.sync()

    def job(self, job_id: int | str) -> Job:
        """The job as the client of ``api_version`` should see it now (KeyError if unknown).

        Example::

            assert fake.job(job_id).state.base is JobBaseState.RUNNING
        """
        with self._lock:
            self.cluster.sync()
            try:
                found = self.cluster.find(job_id, visible=False)
            except Reject:
                raise KeyError(job_id) from None
            return _models.job_model(self.cluster, found[0], self.api_version)

    def jobs(self) -> list[Job]:
        """Every job record, including those slurmctld already forgot."""
        with self._lock:
            self.cluster.sync()
            jobs = self.cluster.jobs.values()
            return [_models.job_model(self.cluster, j, self.api_version) for j in jobs]

    def node(self, name: str) -> Node:
        """A node as the client should see it now."""
        with self._lock:
            return _models.node_model(self.cluster, self.cluster.nodes[name])

    def script(self, job_id: int) -> str:
        """The batch script a job was submitted with."""
        with self._lock:
            return self.cluster.find(job_id, visible=False)[0].script

    def environment(self, job_id: int) -> dict[str, str]:
        """The environment a job was submitted with."""
        with self._lock:
            return dict(self.cluster.find(job_id, visible=False)[0].environment)

    def signals(self, job_id: int) -> list[str]:
        """Signals sent to a job with ``jobs.cancel(job_id, signal=...)``."""
        with self._lock:
            return list(self.cluster.find(job_id, visible=False)[0].signals)

    # ----------------------------------------------------------------- faults ------------
    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        path: str | re.Pattern[str] | None = None,
        method: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (not processed).

        Example::

            fake.fail_next(status=503, times=2, path=r"/jobs$")
        """
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        self.faults.add(
            Fault("status", times, _pattern(path), method, status, body, headers=headers)
        )

    def delay_next(
        self,
        seconds: float,
        *,
        times: int = 1,
        path: str | re.Pattern[str] | None = None,
        method: str | None = None,
    ) -> None:
        """Wait ``seconds`` (real time) before answering the next matching requests."""
        self.faults.add(Fault("delay", times, _pattern(path), method, seconds=seconds))

    def drop_next(
        self,
        error: DropKind = "read",
        *,
        times: int = 1,
        path: str | re.Pattern[str] | None = None,
        method: str | None = None,
    ) -> None:
        """Drop the connection: ``"connect"`` before the request is processed
        (``httpx.ConnectError``), ``"read"``/``"timeout"`` after it was (the job *was*
        submitted; ``httpx.ReadError``/``ReadTimeout``).

        Example::

            fake.drop_next("read", path=r"/job/submit$")   # submitted, answer lost
        """
        self.faults.add(Fault("drop", times, _pattern(path), method, drop=error))

    def corrupt_next(
        self,
        mode: CorruptKind = "truncated",
        *,
        times: int = 1,
        path: str | re.Pattern[str] | None = None,
        method: str | None = None,
    ) -> None:
        """Process the request but answer a ``"truncated"``, ``"malformed"`` or ``"empty"`` body."""
        self.faults.add(Fault("corrupt", times, _pattern(path), method, corrupt=mode))

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        self.faults.clear()

    # --------------------------------------------------------------- requests ------------
    def requests_to(
        self, path: str | re.Pattern[str], method: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests whose path matches the regular expression ``path``.

        Example::

            assert len(fake.requests_to(r"/jobs$", "GET")) == 3
        """
        pattern = _pattern(path)
        assert pattern is not None
        return [
            r
            for r in self.requests
            if pattern.search(r.path) and (method is None or r.method == method.upper())
        ]
