"""The fake cluster: what slurmctld would do for each request, versionless.

Handlers in :mod:`._app` decode a request (:mod:`._wire`), call one method here, and
encode the result; a refusal is a :class:`~._state.Reject` carrying slurmctld's error.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from ...jobs import ArraySpec, Dependency, parse_dependency
from ...models import INFINITE, Infinite
from . import _sched
from ._state import (
    Clock,
    FakeJob,
    FakeNode,
    FakePartition,
    Outcome,
    Reject,
    SubmitRequest,
    unknown_job,
)

__all__ = ["FakeCluster", "SubmitRequest"]

_STATS = ("jobs_submitted", "jobs_started", "jobs_completed", "jobs_canceled", "jobs_failed")


class FakeCluster:
    """Nodes, partitions and jobs, driven by a :class:`~._state.Clock`."""

    def __init__(
        self,
        nodes: list[FakeNode],
        partitions: list[FakePartition],
        *,
        clock: Clock,
        default_runtime: float,
        min_job_age: int,
        name: str,
        default_account: str,
    ) -> None:
        self.nodes = {n.name: n for n in nodes}
        self.partitions = {p.name: p for p in partitions}
        for p in partitions:
            missing = [n for n in p.nodes if n not in self.nodes]
            if missing:
                raise ValueError(f"partition {p.name!r} names unknown nodes {missing}")
        self.clock = clock
        self.default_runtime = default_runtime
        self.min_job_age = min_job_age
        self.name = name
        self.default_account = default_account
        self.jobs: dict[int, FakeJob] = {}
        self.next_job_id = 1
        self.applied = clock.now()
        self.started = self.applied
        """When slurmctld (and the nodes' slurmd) started: the fake's creation."""
        self.last_job_update = self.applied
        self.last_listing: int | None = None
        self.accounting_db: object = None
        """The slurmdbd rows (:class:`._acctdb.AccountingDB`), made on first use."""
        """Fake time of the previous ``GET jobs`` (see ``FakeApp.jobs``)."""
        self.outcomes: dict[int, Outcome] = {}
        self.name_rules: list[tuple[str, Outcome]] = []
        self.stats = dict.fromkeys(_STATS, 0)
        self.rpcs: dict[tuple[str, str], int] = {}
        """Requests served by (message type, user), for ``diag``."""

    # ------------------------------------------------------------------ helpers ----------
    def sync(self, *, force: bool = False) -> int:
        """Bring the jobs up to the clock's time (a scheduling pass if it moved); returns it."""
        now = self.clock.now()
        _sched.run_until(self, now, force=force)
        return now

    def touch(self, job: FakeJob, now: int) -> None:
        """Record a change of ``job`` (its and the cluster's ``last_update``)."""
        job.last_update = now
        self.last_job_update = max(self.last_job_update, now)

    def usage(self, node: str) -> tuple[int, int, int]:
        """CPUs, MiB and GPUs in use on ``node``."""
        cpus = mem = gpus = 0
        for j in self.jobs.values():
            if node in j.alloc and not j.finished:  # finished jobs keep theirs, but free it
                cpus += j.alloc[node]
                mem += j.alloc_memory.get(node, 0)
                gpus += j.alloc_gpus.get(node, 0)
        return cpus, mem, gpus

    def default_partition(self) -> str:
        """The partition flagged default (or the first one)."""
        for p in self.partitions.values():
            if p.default:
                return p.name
        return next(iter(self.partitions))

    def outcome_for(self, job: FakeJob) -> Outcome:
        """The outcome set for this job, or by a name rule, or the default."""
        found = self.outcomes.get(job.job_id)
        if found is None and job.array_job_id is not None:
            found = self.outcomes.get(job.array_job_id)
        if found is None:
            for pattern, outcome in reversed(self.name_rules):
                if fnmatch.fnmatchcase(job.name, pattern):
                    return outcome
        return found or Outcome()

    def visible(self) -> list[FakeJob]:
        """Jobs slurmctld still knows (not purged), in id order."""
        return [j for j in self.jobs.values() if not j.purged]

    def find(self, ref: str | int, *, what: str = "query", visible: bool = True) -> list[FakeJob]:
        """The records ``"17"``, ``"15_2"`` or a whole array ``"15"`` name; Reject if none."""
        text = str(ref)
        try:
            if "_" in text:
                array_id, task = (int(x) for x in text.split("_", 1))
                found = [
                    j
                    for j in self.jobs.values()
                    if j.array_job_id == array_id and j.array_task_id == task
                ]
            else:
                n = int(text)
                first = self.jobs.get(n)
                if first is not None and first.array_job_id == n:
                    found = [j for j in self.jobs.values() if j.array_job_id == n]
                else:
                    found = [first] if first is not None else []
        except ValueError:
            raise unknown_job(ref, what) from None
        if visible:
            found = [j for j in found if not j.purged]
        if not found:
            raise unknown_job(ref, what)
        return found

    # -------------------------------------------------------------------- jobs ------------
    def submit(self, req: SubmitRequest, user: str, uid: int) -> FakeJob:
        """Create the job (one record per array task); returns the first record."""
        now = self.sync()
        partition = req.partition or self.default_partition()
        if partition not in self.partitions:
            raise Reject(2000, "Invalid partition name specified", "Batch job submission failed")
        self._check_placement(req)
        dependency = self._dependency(req.dependency)
        try:
            tasks = ArraySpec.parse(req.array).task_ids() if req.array else [None]
            throttle = ArraySpec.parse(req.array).throttle if req.array else None
        except ValueError:
            raise Reject(2081, "Invalid job array specification", str(req.array)) from None
        base = self.next_job_id
        self.next_job_id += len(tasks)
        records = []
        for offset, task in enumerate(tasks):
            job = FakeJob(
                job_id=base + offset,
                name=req.name,
                user_name=user,
                user_id=uid,
                partition=partition,
                account=req.account or self.default_account,
                script=req.script,
                submit_time=now,
                qos=req.qos or "normal",
                comment=req.comment,
                working_directory=req.working_directory or "/tmp",  # noqa: S108
                standard_input=req.standard_input or "/dev/null",
                patterns=(req.standard_output, req.standard_error, req.standard_input),
                environment=req.environment,
                tasks=req.tasks or 1,
                cpus_per_task=req.cpus_per_task or 1,
                min_nodes=req.min_nodes or 1,
                memory_per_cpu=req.memory_per_cpu,
                memory_per_node=req.memory_per_node,
                gpus=req.gpus,
                time_limit=req.time_limit,
                dependency=dependency,
                begin_time=req.begin_time,
                array_job_id=base if task is not None else None,
                array_task_id=task,
                array_throttle=throttle,
                nice=req.nice or 0,
                requeue=req.requeue if req.requeue is not None else True,
                features=req.constraints or "",
                licenses=req.licenses or "",
                reservation=req.reservation or "",
                required_nodes=req.required_nodes,
                tres_per=req.tres_per,
                defaulted=req.defaulted(),
                hold=req.hold,
                reason="JobHeldUser" if req.hold else "None",
                priority=0 if req.hold else (req.priority or 1),
                eligible_time=0 if (req.hold or dependency) else max(now, req.begin_time),
            )
            job.standard_output = self._expand(req.standard_output, job, "slurm-%j.out")
            job.standard_error = self._expand(req.standard_error or req.standard_output, job, None)
            job.standard_error = job.standard_error or job.standard_output
            if dependency is not None:
                job.dependency_text = str(dependency)
            if _sched.allocate(self, job, empty=True) is None:
                self.next_job_id = base
                raise Reject(
                    2014,
                    "Requested node configuration is not available",
                    "Batch job submission failed",
                )
            records.append(job)
        for job in records:
            self.jobs[job.job_id] = job
            self.touch(job, now)
        self.stats["jobs_submitted"] += len(records)
        return records[0]

    def _check_placement(self, req: SubmitRequest) -> None:
        """Refuse unknown nodes and features, as slurmctld does at submission."""
        failed = "Batch job submission failed"
        if any(n not in self.nodes for n in req.required_nodes):
            raise Reject(2018, "Invalid node name specified", failed)
        if req.constraints:
            known = {f for n in self.nodes.values() for f in n.features}
            names = re.findall(r"[A-Za-z_][\w.-]*", req.constraints)
            if any(name not in known for name in names):
                raise Reject(2029, "Invalid feature specification", failed)

    def _dependency(self, text: str | None) -> Dependency | None:
        if not text:
            return None
        try:
            dep = parse_dependency(text)
        except ValueError:
            raise Reject(2038, "Job dependency problem", "Batch job submission failed") from None
        for term in dep.terms:
            for ref in term.job_ids:
                if not _sched.targets(self, ref):
                    raise Reject(2038, "Job dependency problem", "Batch job submission failed")
        return dep

    def _expand(self, pattern: str | None, job: FakeJob, default: str | None) -> str | None:
        if pattern is None:
            if default is None:
                return None
            name = "slurm-%A_%a.out" if job.array_job_id is not None else default
            pattern = f"{job.working_directory.rstrip('/')}/{name}"
        subs = {
            "%j": str(job.job_id),
            "%x": job.name,
            "%u": job.user_name,
            "%A": str(job.array_job_id or job.job_id),
            "%a": str(job.array_task_id if job.array_task_id is not None else ""),
        }
        for key, value in subs.items():
            pattern = pattern.replace(key, value)
        return pattern

    def cancel(self, ref: str, signal: str | None, user: str, admin: bool) -> list[FakeJob]:
        """Cancel (or signal) a job; returns the records that were already finished."""
        now = self.sync()
        done = []
        jobs = self.find(ref, what="kill")
        if not admin and any(j.user_name != user for j in jobs):
            raise Reject(
                2002,
                "Access/permission denied",
                f"unable to kill JobId={ref} with signal 9: Access/permission denied",
            )
        for job in jobs:
            if job.finished:
                done.append(job)
            elif signal is not None and signal.upper().removeprefix("SIG") not in ("KILL", "9"):
                job.signals.append(signal)
                self.touch(job, now)
            else:
                _sched.finish(self, job, "CANCELLED", now)
        return done

    def update(self, ref: str, fields: dict[str, Any], *, admin: bool = True) -> None:
        """``scontrol update job``: hold/release, limits and names.

        Like slurmctld, only an admin may raise a time limit (or set ``priority``).
        """
        now = self.sync()
        jobs = self.find(ref)
        if any(j.finished for j in jobs):
            raise Reject(2084, "Job has already finished", "Job update requested failed")
        if not admin and (
            fields.get("priority") is not None
            or any(_raises_limit(self, j, fields.get("time_limit")) for j in jobs)
        ):
            raise Reject(2002, "Access/permission denied", "Job update requested failed")
        for job in jobs:
            if "hold" in fields:
                job.hold = bool(fields["hold"])
                job.priority = 0 if job.hold else 1
                if job.state == "PENDING":
                    job.reason = "JobHeldUser" if job.hold else "None"
            if "priority" in fields and fields["priority"] is not None:
                job.priority = int(fields["priority"])
                job.hold = job.priority == 0
            for key in ("name", "comment", "account", "qos", "nice"):
                if fields.get(key) is not None:
                    setattr(job, key, fields[key])
            if fields.get("partition") is not None and job.state == "PENDING":
                if fields["partition"] not in self.partitions:
                    raise Reject(2000, "Invalid partition name specified", "Job update failed")
                job.partition = fields["partition"]
            if "time_limit" in fields and fields["time_limit"] is not None:
                self._set_time_limit(job, fields["time_limit"])
            self.touch(job, now)

    def _set_time_limit(self, job: FakeJob, limit: int | Infinite) -> None:
        job.time_limit = limit
        if job.state == "RUNNING" and job.outcome is not None:
            runtime = job.outcome.runtime
            runtime = self.default_runtime if runtime is None else runtime
            end = job.start_time + max(1, int(runtime))
            job.final_state = job.outcome.state
            if limit is not INFINITE and end > job.start_time + 60 * int(limit):
                end, job.final_state = job.start_time + 60 * int(limit), "TIMEOUT"
            job.finish_at = max(end, self.clock.now())

    def requeue(self, ref: str) -> list[FakeJob]:
        """Put running or finished batch jobs back in the queue (flag ``REQUEUED``)."""
        now = self.sync()
        jobs = self.find(ref, what="requeue")
        if any(j.state == "PENDING" for j in jobs):
            raise Reject(2024, "Job is pending execution", f"Requeue JobID={ref} failed", 422)
        for job in jobs:
            job.state, job.reason = "PENDING", "None"
            job.flags.add("REQUEUED")
            job.restart_count += 1
            job.start_time = job.end_time = 0
            job.exit_code = job.derived_exit_code = None
            job.alloc, job.alloc_memory, job.alloc_gpus = {}, {}, {}
            job.finish_at = None
            job.eligible_time = now
            self.touch(job, now)
        return jobs

    # ------------------------------------------------------------------- nodes -----------
    def update_node(self, name: str, fields: dict[str, Any]) -> None:
        """``scontrol update node``: DRAIN/RESUME/DOWN/UNDRAIN, reason, comment, features."""
        node = self.nodes.get(name)
        if node is None:
            raise Reject(2018, "Invalid node name specified", f"Unable to update node {name}")
        now = self.sync()
        for state in _upper(fields.get("state", ())):
            if state in ("RESUME", "UNDRAIN", "IDLE"):
                node.flags -= {"DRAIN", "FAIL"}
                node.state = "IDLE"
                node.reason = None
            elif state in ("DRAIN", "FAIL"):
                node.flags.add(state)
            elif state == "DOWN":
                node.state = "DOWN"
                for job in self.jobs.values():
                    if name in job.alloc and not job.finished:
                        _sched.finish(self, job, "NODE_FAIL", now)
            else:
                raise Reject(2028, "Invalid node state specified", f"Failure to update node {name}")
        if fields.get("reason") is not None:
            node.reason = str(fields["reason"])
        if fields.get("comment") is not None:
            node.comment = str(fields["comment"])
        if fields.get("features") is not None:
            node.features = tuple(str(f) for f in fields["features"])
        if fields.get("weight") is not None:
            node.weight = int(fields["weight"])


def _raises_limit(c: FakeCluster, job: FakeJob, limit: int | Infinite | None) -> bool:
    if limit is None:
        return False
    current = job.time_limit
    if current is None:
        part = c.partitions[job.partition]
        current = part.default_time if part.default_time is not None else part.max_time
    if current is None or current is INFINITE:
        return False
    return limit is INFINITE or int(limit) > int(current)


def _upper(values: Iterable[Any] | str) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    return [str(v).upper() for v in values if v]
