"""What slurmdbd records of a finished batch step: CPU times and usage samples (issue #22).

Recorded on 24.11 and 26.05 with ``jobacct_gather/linux``
(``tests/data/responses/<version>/slurmdb_job_stats.json``): a step's ``time.user``,
``time.system`` and ``time.total`` are its CPU times, and ``tres.requested`` (``max``,
``min``, ``average``, ``total``) holds its usage: ``cpu`` in CPU milliseconds, ``mem``
(the maximum RSS) and ``vmem`` in bytes, ``fs/disk`` the bytes read, ``energy`` and
``pages``; ``max``/``min`` also name the task and node. ``tres.consumed`` holds the bytes
written. The job's own ``time.user``/``system``/``total`` stay zero, as slurmdbd sends them.

The fake derives the numbers from its own run: the batch step ran ``elapsed`` seconds on
the first allocated node with that node's CPUs busy at the outcome's ``cpu_load`` (95 %
user time, 5 % system) and a maximum RSS of ``memory_load`` times the memory allocated
there. So seff-like arithmetic gives back the loads a test set.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from ._state import FakeJob, Outcome

__all__ = ["STEP_CONSTANTS", "StepUsage", "batch_usage", "lay_over", "step_wire"]

_MIB = 1024 * 1024
_ZERO = {"set": True, "infinite": False, "number": 0}
STEP_CONSTANTS: dict[str, Any] = {
    "CPU": {"requested_frequency": {"min": _ZERO, "max": _ZERO}, "governor": "0"},
    "statistics": {"energy": {"consumed": _ZERO}},
    "task": {"distribution": "Unknown"},
}
"""What every recorded step of a job without ``--cpu-freq`` or an energy plugin has."""
_USER_SHARE = 0.95
_IDS = {"cpu": 1, "mem": 2, "energy": 3, "fs": 6, "vmem": 7, "pages": 8}


@dataclasses.dataclass(frozen=True)
class StepUsage:
    """What ``jobacct_gather`` measured for one step on one node."""

    node: str
    user: timedelta
    system: timedelta
    max_rss: int
    """Bytes."""
    max_vmem: int
    read: int
    written: int

    @property
    def cpu_ms(self) -> int:
        """CPU time in milliseconds (the ``cpu`` TRES of the usage samples)."""
        return int((self.user + self.system).total_seconds() * 1000)


def batch_usage(job: FakeJob) -> StepUsage | None:
    """The batch step's usage once ``job`` has run and finished (``None`` before)."""
    if not job.finished or not job.start_time or not job.alloc:
        return None
    node = sorted(job.alloc)[0]
    elapsed = max(0, job.end_time - job.start_time)
    outcome = job.outcome or Outcome()
    busy_us = round(elapsed * job.alloc[node] * outcome.cpu_load * 1_000_000)
    user_us = round(busy_us * _USER_SHARE)
    rss = int(job.alloc_memory.get(node, 0) * _MIB * outcome.memory_load)
    return StepUsage(
        node=node,
        user=timedelta(microseconds=user_us),
        system=timedelta(microseconds=busy_us - user_us),
        max_rss=rss,
        max_vmem=rss + rss // 16,  # a little address space beyond what is resident
        read=_MIB * elapsed,
        written=_MIB * elapsed // 2,
    )


def _cpu(t: timedelta) -> dict[str, int]:
    return {"seconds": t.days * 86400 + t.seconds, "microseconds": t.microseconds}


def _samples(counts: dict[str, int], where: dict[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for key, count in counts.items():
        kind, _, name = key.partition("/")
        item: dict[str, Any] = {"type": kind, "name": name, "id": _IDS[kind], "count": count}
        out.append({**item, **where} if where else item)
    return out


def step_wire(usage: StepUsage) -> dict[str, Any]:
    """The parts of a step object that carry ``usage`` (laid over the encoded step)."""
    requested = {
        "cpu": usage.cpu_ms,
        "mem": usage.max_rss,
        "energy": 0,
        "fs/disk": usage.read,
        "vmem": usage.max_vmem,
        "pages": 0,
    }
    consumed = {"energy": 0, "fs/disk": usage.written}
    where = {"task": 0, "node": usage.node}  # one task: the maximum and minimum are its own

    def stats(counts: dict[str, int]) -> dict[str, Any]:
        return {
            "max": _samples(counts, where),
            "min": _samples(counts, where),
            "average": _samples(counts, None),
            "total": _samples(counts, None),
        }

    return {
        "time": {"total": _cpu(usage.user + usage.system)},
        "tres": {"requested": stats(requested), "consumed": stats(consumed)},
    }


def lay_over(wire: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``wire`` with ``extra`` laid in, object by object (``extra`` wins)."""
    out = dict(wire)
    for key, value in extra.items():
        old = out.get(key)
        out[key] = (
            lay_over(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return out
