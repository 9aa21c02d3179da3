"""A scripted slurmrestd and a fake clock for the watch and graph unit tests (no tests here).

Only what the watcher and the graph touch: negotiation, ``GET jobs`` with slurmctld's
``update_time`` semantics per version (304 on v0.0.38, ``last_update`` 0 from v0.0.40,
``now-N`` only on v0.0.40/41), ``GET jobs/state?job_id=`` (v0.0.40+, the real shape),
``diag``, accounting lookups, submission and cancel.
Jobs are shaped by the project's own model -> wire encoders. ``script`` runs a callback
before answering the n-th listing, so a test moves jobs between two polls
deterministically; ``down`` makes every request fail to connect (a restarting slurmrestd).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import anyio.lowlevel
import httpx

from slurm_core import AsyncSlurmClient, RetryPolicy, SlurmClient
from slurm_core._versions._encode import encode_accounting_job, encode_diag, encode_job, wire_format
from slurm_core.models import AccountingJob, Diag, ExitCode, Job, JobState
from slurm_core.watch import AsyncWatcher, JobEvent, SyncWatcher, WatchOptions

URL = "http://sim-slurmrestd.test:6820"
FAST = WatchOptions(min_interval=0, initial_interval=1, max_interval=8, backoff=2)
_JOB_PATH = re.compile(r"^/slurm(db)?/(v[\d.]+)/job/(\w+)$")


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), timezone.utc)


class SimSlurm:
    """An in-memory slurmctld behind a ``httpx.MockTransport`` handler."""

    def __init__(self, version: str = "v0.0.42", *, accounting: bool = True) -> None:
        self.version = version
        self.accounting = accounting
        self.accounting_down = False
        self.fmt = wire_format(version)
        self.now = float(int(time.time()))  # server clock (epoch seconds)
        self.last_job_update = self.now
        self.jobs: dict[int, Job] = {}
        self.purged: dict[int, Job] = {}
        self.requests: list[httpx.Request] = []
        self.script: dict[int, Callable[[], None]] = {}
        self.down = False
        self.fail_status: int | None = None
        self.refuse_update_time = False
        self.diag_answers: list[int] = []  # statuses for the next diag requests
        self.unchanged = 0  # "nothing changed" answers given (304, or last_update 0)
        self.log: list[tuple[str | None, float, bool]] = []  # (update_time, now, had data)
        self.next_id = 100
        self.submitted: list[dict[str, Any]] = []

    # -- the cluster -------------------------------------------------------------------
    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds

    def add(self, state: str = "PENDING", **fields: Any) -> int:
        job_id = fields.pop("job_id", None) or self.next_id
        self.next_id = max(self.next_id, job_id) + 1
        values: dict[str, Any] = {
            "job_id": job_id,
            "name": fields.pop("name", f"job{job_id}"),
            "state": JobState.parse(state),
            "submit_time": utc(self.now),
            "user_name": "alice",
        }
        values.update(fields)
        self.jobs[job_id] = Job.model_validate(values)
        self.last_job_update = self.now
        return job_id

    def set(self, job_id: int, state: str, **fields: Any) -> None:
        """Move a job to ``state`` (``RUNNING`` sets start and nodes, final states the end)."""
        job = self.jobs[job_id]
        changes: dict[str, Any] = {"state": JobState.parse(state.split("+"))}
        base = changes["state"].base
        if str(base) == "RUNNING" and job.start_time is None:
            changes |= {"start_time": utc(self.now), "nodes": "node1"}
        if changes["state"].is_finished:
            changes.setdefault("end_time", utc(self.now))
            changes.setdefault("exit_code", ExitCode.of("SUCCESS", 0))
        changes.update(fields)
        self.jobs[job_id] = job.model_copy(update=changes)
        self.last_job_update = self.now

    def purge(self, job_id: int) -> None:
        self.purged[job_id] = self.jobs.pop(job_id)
        self.last_job_update = self.now

    def listings(self) -> list[httpx.Request]:
        """The polls: ``GET jobs`` listings and ``GET jobs/state`` requests."""
        return [r for r in self.requests if r.url.path.endswith(("/jobs", "/jobs/state"))]

    def records(self) -> list[httpx.Request]:
        """The ``GET job/{id}`` requests (slurmctld's full record of one job)."""
        return [
            r
            for r in self.requests
            if r.method == "GET" and r.url.path.startswith(f"/slurm/{self.version}/job/")
        ]

    # -- the HTTP face -----------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path in (f"/slurm/{self.version}/jobs", f"/slurm/{self.version}/jobs/state"):
            step = self.script.pop(len(self.listings()), None)
            if step is not None:
                step()
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if path == "/openapi/v3":
            paths: dict[str, Any] = {
                f"/slurm/{self.version}/jobs": {},
                f"/slurm/{self.version}/diag": {},
            }
            if self.accounting:
                paths[f"/slurmdb/{self.version}/job/{{job_id}}"] = {}
            return httpx.Response(200, json={"paths": paths})
        if self.fail_status is not None:
            return httpx.Response(self.fail_status, json={"errors": [{"error": "sim failure"}]})
        if path == f"/slurm/{self.version}/jobs":
            return self._listing(request)
        if path == f"/slurm/{self.version}/jobs/state" and self.version >= "v0.0.40":
            return self._states(request)
        if path == f"/slurm/{self.version}/diag" and self.diag_answers:
            status = self.diag_answers.pop(0)
            return httpx.Response(status, json={"errors": [{"error": "diag refused"}]})
        if path == f"/slurm/{self.version}/diag":
            diag = Diag.model_validate({"req_time": utc(self.now)})
            return httpx.Response(200, json={"statistics": encode_diag(diag, self.fmt)})
        if path == f"/slurm/{self.version}/job/submit":
            return self._submit(json.loads(request.content))
        match = _JOB_PATH.match(path)
        if match and match[1] and request.method == "GET":
            return self._accounting(int(match[3]))
        if match and request.method == "GET" and int(match[3]) in self.jobs:
            job = self.jobs[int(match[3])]
            return httpx.Response(200, json={"jobs": [encode_job(job, self.fmt)], "errors": []})
        if match and request.method == "DELETE":
            self.set(int(match[3]), "CANCELLED")
            return httpx.Response(200, json={"errors": []})
        return httpx.Response(404, json={"errors": [{"error_number": 2017, "error": "no"}]})

    def _states(self, request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get_list("job_id")
        known = [self.jobs[int(i)] for i in ids if i.isdigit() and int(i) in self.jobs]
        states = [
            {"job_id": str(j.job_id), "state": [str(j.state.base), *sorted(j.state.flags)]}
            for j in known
        ]
        return httpx.Response(200, json={"jobs": states, "errors": [], "warnings": []})

    def _listing(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.params.get("update_time")
        response, full = self._answer_listing(raw)
        self.log.append((raw, self.now, full))
        return response

    def _answer_listing(self, raw: str | None) -> tuple[httpx.Response, bool]:
        """The answer, and whether it is a complete listing."""
        data_parser = self.version >= "v0.0.40"
        if raw is not None:
            since = None if self.refuse_update_time else self._parse_update_time(raw)
            if since is None:
                return httpx.Response(422, json={"errors": [{"error_number": 9202}]}), False
            if since - 1 >= self.last_job_update:
                self.unchanged += 1
                if not data_parser:
                    return httpx.Response(304), False
                empty = {"jobs": [], "last_update": self._num(0)}
                return httpx.Response(200, json=empty), False
        body: dict[str, Any] = {
            "jobs": [encode_job(j, self.fmt) for j in self.jobs.values()],
            "errors": [],
        }
        if data_parser:
            body["last_update"] = self._num(int(self.now))
        return httpx.Response(200, json=body), True

    def _parse_update_time(self, raw: str) -> float | None:
        relative = re.fullmatch(r"now-(\d+)", raw)
        if self.version in ("v0.0.40", "v0.0.41"):
            return self.now - int(relative[1]) if relative else None
        return float(raw) if raw.isdigit() else None

    def _num(self, n: int) -> dict[str, Any]:
        return {"set": True, "infinite": False, "number": n}

    def _accounting(self, job_id: int) -> httpx.Response:
        if self.accounting_down:
            return httpx.Response(500, json={"errors": [{"error": "slurmdbd down"}]})
        job = self.purged.get(job_id)
        if job is None:
            return httpx.Response(404, json={"errors": [{"error_number": 2017}]})
        record = AccountingJob.model_validate(
            {
                "job_id": job.job_id,
                "name": job.name,
                "state": job.state,
                "exit_code": job.exit_code,
                "nodes": job.nodes,
                "submit_time": job.submit_time,
                "start_time": job.start_time,
                "end_time": job.end_time,
            }
        )
        return httpx.Response(200, json={"jobs": [encode_accounting_job(record, self.fmt)]})

    def _submit(self, body: dict[str, Any]) -> httpx.Response:
        self.submitted.append(body)
        desc = body["job"]
        job_id = self.add(name=desc.get("name") or "sim", dependency=desc.get("dependency"))
        return httpx.Response(200, json={"job_id": job_id, "errors": []})


class FakeTime:
    """The watcher's clock and sleep; sleeping also moves the scripted server's clock."""

    def __init__(self, sim: SimSlurm | None = None) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.sim = sim

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        """The client's epoch clock: 1000 s ahead of the server's, moving with it."""
        return (self.sim.now if self.sim is not None else 1_800_000_000.0) + 1000.0

    def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.t += delay
        if self.sim is not None:
            self.sim.tick(delay)

    async def asleep(self, delay: float) -> None:
        self.sleep(delay)
        await anyio.lowlevel.checkpoint()  # a real sleep lets other tasks run


class Face:
    """One test body, both clients: ``mode`` picks SlurmClient or AsyncSlurmClient."""

    def __init__(self, mode: str, sim: SimSlurm, options: WatchOptions = FAST) -> None:
        self.mode, self.sim, self.time = mode, sim, FakeTime(sim)
        kw: dict[str, Any] = {"transport": sim.transport(), "retry": RetryPolicy(max_attempts=1)}
        if mode == "sync":
            self.client: Any = SlurmClient(URL, **kw)
            self.watcher: Any = SyncWatcher(
                self.client._core,
                self.client._http,
                options,
                sleep=self.time.sleep,
                clock=self.time.now,
                wall=self.time.wall,
            )
        else:
            self.client = AsyncSlurmClient(URL, **kw)
            self.watcher = AsyncWatcher(
                self.client._core,
                self.client._http,
                options,
                sleep=self.time.asleep,
                clock=self.time.now,
                wall=self.time.wall,
            )
        self.client.jobs._watcher = self.watcher

    async def events(self, ids: Any, **kw: Any) -> list[JobEvent]:
        if self.mode == "sync":
            return list(self.client.jobs.watch(ids, **kw))
        return [e async for e in self.client.jobs.watch(ids, **kw)]

    async def wait(self, job_id: int, **kw: Any) -> Any:
        if self.mode == "sync":
            return self.client.jobs.wait(job_id, **kw)
        return await self.client.jobs.wait(job_id, **kw)
