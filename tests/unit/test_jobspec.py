"""JobSpec: normalization, validation errors naming the field, JSON round trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs import (
    ArraySpec,
    Exclusive,
    GresRequest,
    JobBuilder,
    JobSpec,
    MailType,
    SignalSpec,
    SubmittedJob,
    normalize_field,
    parse_dependency,
)
from slurm_core.models import INFINITE

SCRIPT = "#!/bin/bash\necho hello\n"


def outcome(call: Callable[[], object]) -> object:
    """The call's result, or the JobSpecError it raised (any other exception propagates)."""
    try:
        return call()
    except JobSpecError as exc:
        return exc


def test_user_forms_are_normalized() -> None:
    spec = JobSpec(
        script=SCRIPT,
        memory_per_cpu="4GB",
        time_limit="1-12:00",
        dependency="afterok:1:2",
        array="0-9%2",
        gpus="a100:2",
        gres="gpu:a100:2,nvme",
        signal="B:USR2@300",
        mail_types="end,FAIL",
        exclusive=True,
        working_directory=PurePosixPath("/scratch/run"),
        begin="2030-01-01T10:00:00+02:00",
    )
    assert spec.memory_per_cpu == 4096
    assert spec.time_limit == timedelta(days=1, hours=12)
    assert str(spec.dependency) == "afterok:1:2"
    assert spec.array == ArraySpec.parse("0-9%2")
    assert spec.gpus == GresRequest(name="gpu", type="a100", count=2)
    assert [str(g) for g in spec.gres] == ["gpu:a100:2", "nvme:1"]
    assert spec.signal == SignalSpec(signal="USR2", delay=300, batch_only=True)
    assert spec.mail_types == (MailType.END, MailType.FAIL)
    assert spec.exclusive is Exclusive.NODE
    assert spec.working_directory == "/scratch/run"
    assert spec.begin == datetime(2030, 1, 1, 8, 0, tzinfo=timezone.utc)


def test_defaults_and_unlimited() -> None:
    spec = JobSpec(script=SCRIPT, time_limit="UNLIMITED")
    assert spec.time_limit is INFINITE
    assert spec.environment == {}
    assert spec.gres == ()
    assert spec.submission_key is None
    assert JobSpec.model_validate_json(spec.model_dump_json()).time_limit is INFINITE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("script", "echo no shebang"),
        ("script", "#!/bin/bash\r\necho dos\r\n"),
        ("script", "#!/bin/bash\necho \x00"),
        ("script", ""),
        ("script", b"#!/bin/sh"),
        ("name", "two\nlines"),
        ("name", "nul\x00"),
        ("name", ""),
        ("name", 5),
        ("partition", "debug\r"),
        ("account", " "),
        ("comment", "a\x00b"),
        ("output", "/tmp/out\n.txt"),
        ("error", "/tmp/\x00"),
        ("working_directory", b"/tmp"),
        ("memory_per_cpu", "4"),
        ("memory_per_cpu", 0),
        ("memory_per_node", "-1G"),
        ("time_limit", "0"),
        ("time_limit", "1:2:3:4"),
        ("cpus_per_task", 0),
        ("cpus_per_task", 2.0),
        ("ntasks", True),
        ("ntasks_per_node", -1),
        ("nodes", 0),
        ("max_nodes", "4"),
        ("gpus", 0),
        ("gres", "gpu:0"),
        ("exclusive", "everyone"),
        ("exclusive", False),
        ("requeue", "yes"),
        ("signal", "B:NOSUCH@10"),
        ("signal", "USR1@70000"),
        ("signal", "BB:USR1"),
        ("signal", "99"),
        ("nice", 2**31),
        ("begin", datetime(2030, 1, 1)),  # naive
        ("begin", "tomorrow"),
        ("begin", 1700000000),
        ("mail_types", ["END", "SOMETIMES"]),
        ("mail_types", 3),
        ("environment", {"1BAD": "x"}),
        ("environment", {"A-B": "x"}),
        ("environment", {"OK": 1}),
        ("environment", {"OK": "a\x00b"}),
        ("environment", ["A=1"]),
        ("dependency", "afterok:1,afterany:2?afterok:3"),
        ("dependency", "afterok:12(failed)"),
        ("array", "9-0"),
        ("submission_key", "has space"),
        ("submission_key", ""),
        ("submission_key", "x" * 129),
    ],
)
def test_each_bad_value_is_a_jobspec_error_naming_its_field(field: str, value: object) -> None:
    with pytest.raises(JobSpecError) as info:
        JobSpec.model_validate({"script": SCRIPT, field: value})
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    with pytest.raises(JobSpecError) as direct:
        normalize_field(field, value)
    assert direct.value.field == field


def test_combinations() -> None:
    with pytest.raises(JobSpecError) as info:
        JobSpec(script=SCRIPT, memory_per_cpu="1G", memory_per_node="4G")
    assert info.value.field == "memory_per_node"
    with pytest.raises(JobSpecError) as info:
        JobSpec(script=SCRIPT, nodes=4, max_nodes=2)
    assert info.value.field == "max_nodes"
    with pytest.raises(JobSpecError) as info:
        JobSpec(script=SCRIPT, max_nodes=2)
    assert info.value.field == "max_nodes"
    assert JobSpec(script=SCRIPT, nodes=2, max_nodes=4).max_nodes == 4


def test_structural_errors_are_jobspec_errors_too() -> None:
    with pytest.raises(JobSpecError) as info:
        JobSpec.model_validate({"name": "x"})
    assert (info.value.field, info.value.message) == ("script", "is required")
    with pytest.raises(JobSpecError) as info:
        JobSpec.model_validate({"script": SCRIPT, "memory": "4G"})
    assert info.value.field == "memory"
    with pytest.raises(JobSpecError) as info:
        JobSpec.model_validate_json("{not json")
    assert info.value.field == "spec"
    with pytest.raises(JobSpecError):
        JobSpec.model_validate(["not", "a", "mapping"])
    with pytest.raises(JobSpecError) as info:
        normalize_field("memory", "4G")
    assert info.value.field == "memory"


def test_frozen_and_replace_validates() -> None:
    spec = JobSpec(script=SCRIPT, name="a")
    with pytest.raises(pydantic.ValidationError):
        spec.name = "b"  # type: ignore[misc]
    keyed = spec.replace(submission_key="3f2a9c-1")
    assert keyed.submission_key == "3f2a9c-1"
    assert keyed.name == "a"
    assert spec.submission_key is None
    with pytest.raises(JobSpecError) as info:
        spec.replace(memory_per_cpu="lots")
    assert info.value.field == "memory_per_cpu"


def test_begin_rounds_up_to_whole_seconds() -> None:
    when = datetime(2030, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc)
    assert JobSpec(script=SCRIPT, begin=when).begin == datetime(
        2030, 1, 1, 0, 0, 1, tzinfo=timezone.utc
    )


def test_signal_forms() -> None:
    assert str(SignalSpec.parse("USR1")) == "USR1@60"
    assert str(SignalSpec.parse("sigterm@0")) == "TERM@0"
    assert str(SignalSpec.parse("R:10@30")) == "R:10@30"
    assert str(SignalSpec.parse("BR:USR2")) == "RB:USR2@60"
    assert SignalSpec.parse(str(SignalSpec.parse("RB:KILL@5"))) == SignalSpec.parse("RB:KILL@5")


def test_submitted_job_is_frozen() -> None:
    job = SubmittedJob(job_id=7, step_id="batch", warnings=["w"])
    with pytest.raises(pydantic.ValidationError):
        job.job_id = 8  # type: ignore[misc]
    assert SubmittedJob(job_id=8).warnings == []


# ------------------------------------------------------------------------ property tests --
names = st.text(
    alphabet=st.characters(exclude_characters="\x00\n\r", codec="utf-8"),
    min_size=1,
    max_size=20,
).filter(str.strip)
aware_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
).map(lambda d: d.replace(microsecond=0))

spec_fields: dict[str, st.SearchStrategy[Any]] = {
    "name": names,
    "partition": names,
    "comment": names,
    "time_limit": st.integers(1, 10**7).map(lambda m: timedelta(minutes=m)) | st.just(INFINITE),
    "memory_per_cpu": st.integers(1, 2**30),
    "cpus_per_task": st.integers(1, 512),
    "ntasks": st.integers(1, 10**5),
    "nodes": st.integers(1, 100),
    "gpus": st.builds(GresRequest, name=st.just("gpu"), count=st.integers(1, 16)),
    "gres": st.lists(st.sampled_from(["gpu:2", "gpu:a100:4", "nvme"]), max_size=2),
    "exclusive": st.sampled_from(list(Exclusive)),
    "requeue": st.booleans(),
    "signal": st.sampled_from(["USR1", "B:USR2@300", "R:TERM@0"]),
    "nice": st.integers(-1000, 1000),
    "begin": aware_times,
    "mail_types": st.lists(st.sampled_from(list(MailType)), unique=True),
    "environment": st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), names, max_size=4
    ),
    "output": names,
    "dependency": st.sampled_from(["afterok:1:2,afterany:3", "afterok:1?after:2+5", "singleton"]),
    "array": st.sampled_from(["0-9%2", "1,3,5", "0-15:4"]),
    "submission_key": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True),
}


@st.composite
def job_specs(draw: st.DrawFn) -> JobSpec:
    chosen = draw(st.sets(st.sampled_from(sorted(spec_fields))))
    data = {field: draw(spec_fields[field]) for field in chosen}
    return JobSpec.model_validate({"script": SCRIPT, **data})


@given(job_specs())
def test_json_round_trip(spec: JobSpec) -> None:
    text = spec.model_dump_json()
    assert JobSpec.model_validate_json(text) == spec
    assert JobSpec.model_validate(spec.model_dump()) == spec
    assert JobSpec.model_validate(spec.model_dump(mode="json")) == spec


@given(job_specs())
def test_normalization_is_idempotent(spec: JobSpec) -> None:
    for field in JobSpec.model_fields:
        value = getattr(spec, field)
        assert normalize_field(field, value) == value


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=5),
    st.lists(st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
    st.timedeltas(),
    st.datetimes(),
)


@given(
    st.dictionaries(
        st.sampled_from(sorted(JobSpec.model_fields)) | st.text(max_size=8), anything, max_size=6
    )
)
def test_no_other_exception_ever_escapes(data: dict[str, object]) -> None:
    result = outcome(lambda: JobSpec.model_validate(data))
    if isinstance(result, JobSpecError):
        assert result.field in data or result.field in ("script", "max_nodes", "memory_per_node")
    else:
        assert isinstance(result, JobSpec)
        assert JobSpec.model_validate_json(result.model_dump_json()) == result


@given(st.sampled_from(sorted(JobSpec.model_fields)), anything)
def test_each_field_rejects_with_its_own_name(field: str, value: object) -> None:
    result = outcome(lambda: normalize_field(field, value))
    if isinstance(result, JobSpecError):
        assert result.field == field


def test_dependency_field_keeps_the_parsed_model() -> None:
    spec = JobSpec(script=SCRIPT, dependency=parse_dependency("afterok:5_*"))
    assert spec.dependency is not None
    assert spec.dependency.job_ids() == [5]
    assert '"dependency":"afterok:5_*"' in spec.model_dump_json()


def test_an_oversize_script_or_an_absurd_count_is_refused_before_sending() -> None:
    big = "#!/bin/bash\n" + "#" * (5 * 1024 * 1024) + "\n"
    with pytest.raises(JobSpecError, match="4194304 bytes") as info:
        JobSpec(script=big)
    assert info.value.field == "script"
    with pytest.raises(JobSpecError) as builder_info:
        JobBuilder().script(big)
    assert builder_info.value.field == "script"
    ok = "#!/bin/bash\n" + "#" * (4 * 1024 * 1024 - 100) + "\n"
    assert JobSpec(script=ok).script == ok
    # Slurm keeps these in 16 bits (65534 and 65535 are its markers)
    for field in ("cpus_per_task", "ntasks_per_node"):
        with pytest.raises(JobSpecError, match="65533") as count_info:
            JobSpec(script="#!/bin/sh\n", **{field: 1_000_000})
        assert count_info.value.field == field
        assert getattr(JobSpec(script="#!/bin/sh\n", **{field: 65533}), field) == 65533
