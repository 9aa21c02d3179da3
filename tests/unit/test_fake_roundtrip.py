"""The encoders the fake slurmrestd uses are the exact inverse of the client's parsers.

For every REST API version and every model value that version can carry on the wire,
``parse(encode(model)) == model`` (``raw`` aside: the parser keeps the wire object there).
The strategies below generate only what each version can express; what they leave out
(e.g. job state flags in v0.0.38/39, a partition's state in v0.0.39) is listed in
``_limits``, so a lossy encoding cannot hide behind a narrow strategy unnoticed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slurm_core._versions import ADAPTERS, CLIENT_VERSIONS, _parse, get_adapter
from slurm_core._versions import _encode as enc
from slurm_core._versions._encode._common import wait_status
from slurm_core.models import (
    INFINITE,
    AccountingJob,
    AccountingStep,
    ExitCode,
    Job,
    JobBaseState,
    JobState,
    Node,
    Partition,
)
from slurm_core.models.accounting import TRES

UTC = timezone.utc
VERSIONS = list(CLIENT_VERSIONS)


def _minor(version: str) -> int:
    return int(version.rsplit(".", 1)[1])


def _strip(model: Any) -> dict[str, Any]:
    """A model's values without ``raw`` (recursively for steps)."""
    out = {}
    for key, value in dict(model).items():
        if key == "raw":
            continue
        if isinstance(value, tuple) and value and isinstance(value[0], AccountingStep):
            value = tuple(_strip(s) for s in value)
        out[key] = value
    return out


# ------------------------------------------------------------------ value strategies --------
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
maybe_text = st.none() | names
upper = st.sampled_from(["DRAIN", "NOT_RESPONDING", "COMPLETING", "RESERVED", "MAINTENANCE"])
times = st.none() | st.integers(1, 2**31 - 1).map(lambda s: datetime.fromtimestamp(s, UTC))
counts = st.none() | st.integers(0, 2**31 - 1)
positive = st.none() | st.integers(1, 2**31 - 1)
limit_minutes = (
    st.none() | st.just(INFINITE) | st.integers(0, 10**6).map(lambda m: timedelta(minutes=m))
)
job_flags = st.frozensets(
    st.sampled_from(["USING_DEFAULT_ACCOUNT", "USING_DEFAULT_QOS", "DEPENDENT", "MAGNETIC"])
)
state_flags = st.frozensets(st.sampled_from(["REQUEUED", "COMPLETING", "CONFIGURING"]))


def exit_codes(version: str) -> st.SearchStrategy[ExitCode | None]:
    if _minor(version) <= 39:  # the raw wait status: what from_wait_status decodes
        waits = st.integers(0, 255).map(lambda rc: rc << 8) | st.integers(1, 127).map(
            lambda sig: sig | (0x80 if sig % 2 else 0)
        )
        return st.none() | waits.map(ExitCode.from_wait_status)
    signaled = st.builds(
        ExitCode.of,
        st.sampled_from(["SIGNALED", "CORE_DUMPED"]),
        st.none(),
        st.integers(1, 64),
        st.none() | st.sampled_from(["TERM", "KILL"]),
    )
    exited = st.builds(
        ExitCode.of,
        st.sampled_from(["SUCCESS", "ERROR", "PENDING", "INVALID"]),
        st.none() | st.integers(0, 255),
        st.none(),
        st.none(),
    )
    return st.none() | signaled | exited


def job_states(version: str) -> st.SearchStrategy[JobState]:
    bases = st.sampled_from(list(JobBaseState))
    if _minor(version) <= 39:  # one string: no flags
        return bases.map(lambda b: JobState.parse(b.value))
    return st.builds(lambda b, f: JobState.parse([b.value, *sorted(f)]), bases, state_flags)


@st.composite
def jobs(draw: st.DrawFn, version: str) -> Job:
    array_job_id = draw(positive)
    het_job_id = draw(positive)
    priority = draw(counts)
    if _minor(version) <= 38:  # no "hold" field: held means priority 0
        hold = None if priority is None else priority == 0
    else:
        hold = None if priority is None else draw(st.booleans())
    return Job._build(
        {
            "job_id": draw(st.integers(1, 2**31 - 1)),
            "name": draw(st.just("") | names),
            "state": draw(job_states(version)),
            "state_reason": draw(st.none() | st.sampled_from(["Priority", "Dependency"])),
            "state_description": draw(maybe_text),
            "user_name": draw(maybe_text),
            "user_id": draw(counts),
            "group_name": draw(maybe_text),
            "group_id": draw(counts),
            "account": draw(maybe_text),
            "partition": draw(maybe_text),
            "qos": draw(maybe_text),
            "cluster": draw(maybe_text),
            "comment": draw(maybe_text),
            "array_job_id": array_job_id,
            "array_task_id": draw(counts) if array_job_id else None,
            "array_task_string": draw(maybe_text),
            "het_job_id": het_job_id,
            "het_job_offset": draw(counts) if het_job_id else None,
            "nodes": draw(maybe_text),
            "node_count": draw(counts),
            "cpus": draw(counts),
            "tasks": draw(counts),
            "cpus_per_task": draw(counts),
            "memory_per_node": draw(positive),
            "memory_per_cpu": draw(positive),
            "time_limit": draw(limit_minutes),
            "submit_time": draw(times),
            "eligible_time": draw(times),
            "start_time": draw(times),
            "end_time": draw(times),
            "exit_code": draw(exit_codes(version)),
            "derived_exit_code": draw(exit_codes(version)),
            "priority": priority,
            "hold": hold,
            "dependency": draw(maybe_text),
            "working_directory": draw(maybe_text),
            "standard_output": draw(maybe_text),
            "standard_error": draw(maybe_text),
            "standard_input": draw(maybe_text),
            "batch_host": draw(maybe_text),
            "tres_requested": draw(maybe_text),
            "tres_allocated": draw(maybe_text),
            "flags": draw(job_flags),
            "source": "slurmctld",
            "raw": {},
        }
    )


@st.composite
def nodes(draw: st.DrawFn, version: str) -> Node:
    return Node._build(
        {
            "name": draw(names),
            "state": draw(st.sampled_from(["IDLE", "MIXED", "ALLOCATED", "DOWN", "FUTURE"])),
            "state_flags": draw(st.frozensets(upper)),
            "hostname": draw(maybe_text),
            "address": draw(maybe_text),
            "partitions": tuple(draw(st.lists(names, max_size=3))),
            "cpus": draw(counts),
            "sockets": draw(counts),
            "cores": draw(counts),
            "threads": draw(counts),
            "boards": draw(counts),
            "real_memory": draw(counts),
            "free_memory": draw(counts),
            "alloc_memory": draw(counts),
            "alloc_cpus": draw(counts),
            "cpu_load": draw(st.none() | st.integers(0, 10**6).map(lambda n: n / 100)),
            "features": tuple(draw(st.lists(names, max_size=3))),
            "active_features": tuple(draw(st.lists(names, max_size=3))),
            "gres": draw(maybe_text),
            "gres_used": draw(maybe_text),
            "tres": draw(maybe_text),
            "reason": draw(maybe_text),
            "reason_set_by_user": draw(maybe_text),
            "reason_changed_at": draw(times),
            "boot_time": draw(times),
            "slurmd_start_time": draw(times),
            "last_busy": draw(times),
            "architecture": draw(maybe_text),
            "operating_system": draw(maybe_text),
            "version": draw(maybe_text),
            "weight": draw(counts),
            "raw": {},
        }
    )


@st.composite
def partitions(draw: st.DrawFn, version: str) -> Partition:
    minor = _minor(version)
    flags = draw(st.frozensets(st.sampled_from(["DEFAULT", "HIDDEN", "LLN", "ROOT_ONLY"])))
    is_default: bool | None = "DEFAULT" in flags
    if not enc.wire_format(version).partition_flags:  # v0.0.39-44 do not report flags
        flags, is_default = frozenset(), _parse.partition({"name": "x"}).is_default
    limits = st.none() | st.just(INFINITE) | st.integers(0, 2**31 - 1)
    name_lists = st.lists(names, max_size=3).map(tuple)
    per_node = minor != 39  # v0.0.39 carries only per-CPU memory values
    return Partition._build(
        {
            "name": draw(names),
            "state": None if minor == 39 else draw(st.none() | st.sampled_from(["UP", "DOWN"])),
            "nodes": draw(maybe_text),
            "total_nodes": draw(counts),
            "total_cpus": draw(counts),
            "is_default": is_default,
            "flags": flags,
            "max_time": draw(limit_minutes),
            "default_time": draw(limit_minutes),
            "max_nodes_per_job": draw(limits),
            "min_nodes_per_job": draw(counts),
            "max_cpus_per_node": draw(limits),
            "default_memory_per_cpu": draw(positive),
            "default_memory_per_node": draw(positive) if per_node else None,
            "max_memory_per_cpu": draw(positive),
            "max_memory_per_node": draw(positive) if per_node else None,
            "priority_tier": draw(counts),
            "priority_job_factor": draw(counts),
            "grace_time": draw(
                st.none() | st.integers(0, 10**6).map(lambda s: timedelta(seconds=s))
            ),
            "qos": draw(maybe_text),
            "allowed_accounts": draw(name_lists),
            "denied_accounts": draw(name_lists),
            "allowed_groups": draw(name_lists),
            "allowed_qos": draw(name_lists),
            "tres": draw(maybe_text),
            "raw": {},
        }
    )


tres_items = st.lists(
    st.builds(
        lambda t, n, i, c: TRES._build({"type": t, "name": n, "id": i, "count": c}),
        st.sampled_from(["cpu", "mem", "node", "gres"]),
        maybe_text,
        counts,
        counts,
    ),
    max_size=3,
).map(tuple)


def acct_exit_codes(version: str) -> st.SearchStrategy[ExitCode | None]:
    if _minor(version) >= 40:
        return exit_codes(version)
    # dbv0.0.38/39: status string, return code always present, signal id+name
    return st.none() | st.builds(
        ExitCode.of,
        st.sampled_from(["SUCCESS", "ERROR"]),
        st.integers(0, 255),
        st.integers(0, 64),
        st.none() | st.just("TERM"),
    )


@st.composite
def accounting_jobs(draw: st.DrawFn, version: str) -> AccountingJob:
    job_id = draw(st.integers(1, 2**31 - 1))
    array_job_id = draw(positive)
    steps = tuple(
        AccountingStep._build(
            {
                "step_id": draw(st.sampled_from(["batch", "extern", "0"])),
                "name": draw(maybe_text),
                "state": draw(job_states(version)),
                "exit_code": draw(acct_exit_codes(version)),
                "start_time": draw(times),
                "end_time": draw(times),
                "elapsed": draw(
                    st.none() | st.integers(0, 10**6).map(lambda s: timedelta(seconds=s))
                ),
                "nodes": draw(maybe_text),
                "node_count": draw(counts),
                "task_count": draw(counts),
                "cpu_time_user": draw(
                    st.none() | st.integers(0, 10**9).map(lambda us: timedelta(microseconds=us))
                ),
                "cpu_time_system": None,
                "tres_allocated": draw(tres_items),
                "raw": {},
            }
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    return AccountingJob._build(
        {
            "job_id": job_id,
            "name": draw(st.just("") | names),
            "state": draw(job_states(version)),
            "state_reason": draw(st.none() | st.just("Dependency")),
            "exit_code": draw(acct_exit_codes(version)),
            "derived_exit_code": draw(acct_exit_codes(version)),
            "user": draw(maybe_text),
            "group": draw(maybe_text),
            "account": draw(maybe_text),
            "partition": draw(maybe_text),
            "qos": draw(maybe_text),
            "cluster": draw(maybe_text),
            "nodes": draw(maybe_text),
            "node_count": draw(counts),
            "array_job_id": array_job_id,
            "array_task_id": draw(counts) if array_job_id else None,
            "submit_time": draw(times),
            "eligible_time": draw(times),
            "start_time": draw(times),
            "end_time": draw(times),
            "elapsed": draw(st.none() | st.integers(0, 10**6).map(lambda s: timedelta(seconds=s))),
            "time_limit": draw(limit_minutes),
            "priority": draw(counts),
            "working_directory": draw(maybe_text),
            "tres_allocated": draw(tres_items),
            "tres_requested": draw(tres_items),
            "steps": steps,
            "flags": draw(st.frozensets(st.sampled_from(["STARTED_ON_SCHEDULE", "NONE"]))),
            "raw": {},
        }
    )


# ------------------------------------------------------------------------- the tests --------
@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_job_round_trip(version: str, data: st.DataObject) -> None:
    job = data.draw(jobs(version))
    wire = enc.encode_job(job, enc.wire_format(version))
    assert _strip(_parse.job(wire)) == _strip(job)


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_node_round_trip(version: str, data: st.DataObject) -> None:
    node = data.draw(nodes(version))
    wire = enc.encode_node(node, enc.wire_format(version))
    assert _strip(_parse.node(wire)) == _strip(node)


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_partition_round_trip(version: str, data: st.DataObject) -> None:
    partition = data.draw(partitions(version))
    wire = enc.encode_partition(partition, enc.wire_format(version))
    # through the adapter: v0.0.38 parses the flat shape with its own parser
    parsed = get_adapter(version).partition_item(wire)
    assert _strip(parsed) == _strip(partition)


@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_accounting_job_round_trip(version: str, data: st.DataObject) -> None:
    job = data.draw(accounting_jobs(version))
    wire = enc.encode_accounting_job(job, enc.wire_format(version))
    assert _strip(_parse.accounting_job(wire)) == _strip(job)


def test_wire_formats_follow_the_adapters() -> None:
    """The encoders know exactly the versions the client speaks, with the same number shape."""
    for version in VERSIONS:
        fmt = enc.wire_format(version)
        assert fmt.number_wrappers is ADAPTERS[version].number_wrappers
    assert enc.wire_format("v0.0.38").flat_partition
    assert not any(enc.wire_format(v).flat_partition for v in VERSIONS[1:])
    with pytest.raises(KeyError):
        enc.wire_format("v0.0.37")


def test_wait_status_is_the_inverse_of_from_wait_status() -> None:
    for status in [0, 256, 768, 255 << 8, 9, 15 | 0x80]:
        assert wait_status(ExitCode.from_wait_status(status)) == status


def _limits() -> dict[str, list[str]]:
    """What each version cannot carry (the strategies leave these out on purpose)."""
    return {
        "v0.0.38": ["job state flags", "job hold other than priority == 0"],
        "v0.0.39": ["job state flags", "partition state", "per-node partition memory"],
        "v0.0.39-44": ["partition flags (so is_default)"],
    }


def test_lossy_versions_are_really_lossy() -> None:
    """The documented limits are real: encoding the excluded values loses them."""
    assert set(_limits()) == {"v0.0.38", "v0.0.39", "v0.0.39-44"}
    flagged = JobState.parse(["PENDING", "REQUEUED"])
    for version in ("v0.0.38", "v0.0.39"):
        job = Job(job_id=1, name="x", state=flagged)
        wire = enc.encode_job(job, enc.wire_format(version))
        assert _parse.job(wire).state.flags == frozenset()
    part = Partition(name="p", state="UP", default_memory_per_node=100)
    back = _parse.partition(enc.encode_partition(part, enc.wire_format("v0.0.39")))
    assert back.state is None
    assert back.default_memory_per_node is None
    for version in ("v0.0.39", "v0.0.42", "v0.0.44"):
        default = Partition(name="p", is_default=True, flags=frozenset({"DEFAULT"}))
        wire = enc.encode_partition(default, enc.wire_format(version))
        assert "flags" not in wire
        assert not _parse.partition(wire).is_default
