"""Helpers of the analytics unit tests (test_analytics_*.py); no tests here.

* :class:`MiniSlurm` serves fixed listings (accounting jobs, jobs, nodes, partitions,
  users, associations) in one REST API version's wire format, through the project's own
  encoders and an ``httpx.MockTransport``. The analytics tests use it where they need
  records the fake slurmrestd does not produce: allocated TRES of finished jobs (the fake
  drops them once a job ends) and ``kill_request_user``.
* Model factories with the defaults the tests need (``acct_job``, ``live_job``, ``node``).
* :func:`submit`/:func:`asubmit` submit a :class:`JobSpec` (``client.jobs.submit_spec``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from slurm_core import AsyncSlurmClient, SlurmClient
from slurm_core._versions._encode import (
    encode_accounting_job,
    encode_association,
    encode_job,
    encode_node,
    encode_partition,
    encode_user,
    wire_format,
)
from slurm_core.jobs import JobSpec
from slurm_core.models import (
    TRES,
    AccountingJob,
    Association,
    Job,
    JobState,
    Node,
    Partition,
    User,
)

__all__ = ["T0", "MiniSlurm", "acct_job", "live_job", "node", "partition", "submit", "tres"]

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
_urls = itertools.count(1)
_ids = itertools.count(1000)


def tres(**counts: int) -> tuple[TRES, ...]:
    """``tres(cpu=2, mem=2048, node=1, gpu=1)`` (``gpu`` means ``gres/gpu``)."""
    ids = {"cpu": 1, "mem": 2, "energy": 3, "node": 4, "billing": 5}
    out = []
    for key, count in counts.items():
        if key == "gpu":
            out.append(TRES(type="gres", name="gpu", id=1001, count=count))
        elif "/" in key or "_" in key:
            kind, _, name = key.replace("_", "/", 1).partition("/")
            out.append(TRES(type=kind, name=name, id=2000 + len(out), count=count))
        else:
            out.append(TRES(type=key, name=None, id=ids.get(key, 9), count=count))
    return tuple(out)


def acct_job(
    *,
    job_id: int | None = None,
    user: str = "alice",
    account: str = "research",
    partition: str = "debug",
    qos: str = "normal",
    state: str = "COMPLETED",
    submit: datetime | None = None,
    start: datetime | None = None,
    seconds: int | None = 3600,
    alloc: tuple[TRES, ...] | None = None,
    name: str = "job",
    killed_by: str | None = None,
    eligible: datetime | None = None,
) -> AccountingJob:
    """An accounting record; ``start`` default ``T0``, ``end`` = start + ``seconds``."""
    start_time = T0 if start is None else start
    end = start_time + timedelta(seconds=seconds) if seconds is not None else None
    raw: dict[str, Any] = {"kill_request_user": killed_by or ""}
    return AccountingJob.model_validate(
        {
            "job_id": job_id if job_id is not None else next(_ids),
            "name": name,
            "state": JobState.parse(state),
            "user": user,
            "account": account,
            "partition": partition,
            "qos": qos,
            "submit_time": submit or start_time,
            "eligible_time": eligible or submit or start_time,
            "start_time": start_time,
            "end_time": end,
            "elapsed": timedelta(seconds=seconds) if seconds is not None else None,
            "tres_allocated": alloc if alloc is not None else tres(cpu=1, mem=100, node=1),
            "raw": raw,
        }
    )


def live_job(
    job_id: int,
    state: str = "PENDING",
    *,
    cpus: int = 1,
    gpus: int = 0,
    partition: str = "debug",
    nodes: str | None = None,
    priority: int = 100,
    submit: datetime | None = None,
    start: datetime | None = None,
    time_limit: timedelta | None = timedelta(minutes=10),
    user: str = "alice",
    name: str = "job",
    reason: str | None = None,
) -> Job:
    """A slurmctld job record."""
    tres_text = f"cpu={cpus},mem={100 * cpus}M,node=1" + (f",gres/gpu={gpus}" if gpus else "")
    running = state == "RUNNING"
    return Job.model_validate(
        {
            "job_id": job_id,
            "name": name,
            "state": JobState.parse(state),
            "state_reason": reason,
            "user_name": user,
            "partition": partition,
            "qos": "normal",
            "nodes": nodes,
            "node_count": 1,
            "cpus": cpus,
            "time_limit": time_limit,
            "submit_time": submit or T0,
            "start_time": start,
            "priority": priority,
            "hold": False,
            "tres_requested": tres_text,
            "tres_allocated": tres_text if running else None,
        }
    )


def node(
    name: str,
    *,
    cpus: int = 4,
    gpus: int = 0,
    state: str = "IDLE",
    flags: Sequence[str] = (),
    partitions: Sequence[str] = ("debug",),
    alloc_cpus: int = 0,
    reason: str | None = None,
    set_by: str | None = None,
    changed: datetime | None = None,
    billing: int | None = None,
) -> Node:
    """A node; ``tres`` carries the CPUs, GPUs and billing."""
    tres_text = f"cpu={cpus},mem=8000M,billing={billing if billing is not None else cpus}"
    if gpus:
        tres_text += f",gres/gpu={gpus}"
    return Node.model_validate(
        {
            "name": name,
            "state": state,
            "state_flags": frozenset(flags),
            "partitions": tuple(partitions),
            "cpus": cpus,
            "real_memory": 8000,
            "alloc_cpus": alloc_cpus,
            "tres": tres_text,
            "reason": reason,
            "reason_set_by_user": set_by,
            "reason_changed_at": changed,
        }
    )


def partition(name: str, nodes: str, *, default: bool = False, cpus: int = 4) -> Partition:
    return Partition.model_validate(
        {"name": name, "nodes": nodes, "is_default": default, "total_cpus": cpus}
    )


class MiniSlurm:
    """A slurmrestd answering from fixed listings (``httpx.MockTransport``).

    ``requests`` records ``(method, path, params, body)``; node updates (POST node/{name})
    and cancellations (DELETE job/{id}) answer 200 and are only recorded.
    """

    def __init__(
        self,
        version: str = "v0.0.42",
        *,
        accounting: Sequence[AccountingJob] = (),
        jobs: Sequence[Job] = (),
        nodes: Sequence[Node] = (),
        partitions: Sequence[Partition] = (),
        users: Sequence[User] = (),
        associations: Sequence[Association] = (),
    ) -> None:
        self.version = version
        self.url = f"http://mini-slurm-{next(_urls)}.test:6820"
        self.fmt = wire_format(version)
        self.accounting = list(accounting)
        self.jobs = list(jobs)
        self.nodes = list(nodes)
        self.partitions = list(partitions)
        self.users = list(users)
        self.associations = list(associations)
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        body = json.loads(request.content) if request.content else None
        self.requests.append((method, path, dict(request.url.params), body))
        v, f = self.version, self.fmt
        if path == "/openapi/v3":
            paths: dict[str, Any] = {f"/slurm/{v}/ping": {}, f"/slurmdb/{v}/jobs": {}}
            return httpx.Response(200, json={"openapi": "3.0.2", "paths": paths})
        if method != "GET":
            return httpx.Response(200, json={"errors": [], "warnings": []})
        listing: dict[str, Any] = {
            f"/slurm/{v}/jobs": {"jobs": [encode_job(j, f) for j in self.jobs]},
            f"/slurm/{v}/nodes": {"nodes": [encode_node(n, f) for n in self.nodes]},
            f"/slurm/{v}/partitions": {
                "partitions": [encode_partition(p, f) for p in self.partitions]
            },
            f"/slurmdb/{v}/jobs": {
                "jobs": [encode_accounting_job(a, f) for a in self._window(request)]
            },
            f"/slurmdb/{v}/users": {"users": [encode_user(u, f) for u in self.users]},
            f"/slurmdb/{v}/associations": {
                "associations": [encode_association(a, f) for a in self.associations]
            },
        }
        if path in listing:
            data = listing[path]
            if path.endswith("/slurmdb/" + v + "/jobs"):
                for wire, model in zip(data["jobs"], self._window(request), strict=True):
                    wire["kill_request_user"] = model.raw.get("kill_request_user", "")
            return httpx.Response(200, json={**data, "errors": [], "warnings": []})
        if path.startswith(f"/slurm/{v}/job/"):
            wanted = path.rsplit("/", 1)[1]
            found = [encode_job(j, f) for j in self.jobs if str(j.job_id) == wanted]
            if found:
                return httpx.Response(200, json={"jobs": found, "errors": []})
            errors = [{"error_number": 2017, "error": "Invalid job id specified"}]
            return httpx.Response(404, json={"jobs": [], "errors": errors})
        return httpx.Response(404, json={"errors": [{"error_number": 1, "error": "no route"}]})

    def _window(self, request: httpx.Request) -> list[AccountingJob]:
        """Accounting jobs active in the request's start_time..end_time (as slurmdbd)."""
        params = request.url.params
        lo = int(params["start_time"]) if "start_time" in params else None
        hi = int(params["end_time"]) if "end_time" in params else None
        users = set(params["users"].split(",")) if "users" in params else None
        out = []
        for a in self.accounting:
            start = (a.start_time or a.submit_time or T0).timestamp()
            end = a.end_time.timestamp() if a.end_time else float("inf")
            if lo is not None and end < lo:
                continue
            if hi is not None and start > hi:
                continue
            if users is not None and a.user not in users:
                continue
            out.append(a)
        return out

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    def client(self, **kw: Any) -> SlurmClient:
        return SlurmClient(self.url, transport=self.transport(), **kw)

    def async_client(self, **kw: Any) -> AsyncSlurmClient:
        return AsyncSlurmClient(self.url, transport=self.transport(), **kw)

    def writes(self) -> list[tuple[str, str, Any]]:
        return [(m, p, b) for m, p, _, b in self.requests if m != "GET"]


def submit(client: SlurmClient, spec: JobSpec) -> int:
    """Submit ``spec`` through a sync client; the job id."""
    return client.jobs.submit_spec(spec).job_id


async def asubmit(client: AsyncSlurmClient, spec: JobSpec) -> int:
    """Submit ``spec`` through an async client; the job id."""
    return (await client.jobs.submit_spec(spec)).job_id
