"""Memory, time-limit, job-array and GRES parsing (slurm_core.jobs._units)."""

from __future__ import annotations

import doctest
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from slurm_core import jobs
from slurm_core._exceptions import JobSpecError
from slurm_core.jobs import (
    MAX_ARRAY_TASK_ID,
    MAX_MEMORY_MIB,
    MAX_TIME_LIMIT_MINUTES,
    ArrayRange,
    ArraySpec,
    GresRequest,
    format_memory,
    format_time_limit,
    parse_gpus,
    parse_gres,
    parse_memory,
    parse_time_limit,
)
from slurm_core.models import INFINITE

# Anything a user might pass by mistake, of any type.
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.timedeltas(),
)


def outcome(call: Callable[[], object]) -> object:
    """The call's result, or the JobSpecError it raised (any other exception propagates)."""
    try:
        return call()
    except JobSpecError as exc:
        return exc


# ---------------------------------------------------------------------------------- memory --
@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("4GB", 4096),
        ("4G", 4096),
        ("4g", 4096),
        ("4gb", 4096),
        ("4GiB", 4096),
        ("4 GB", 4096),
        ("512M", 512),
        ("512MB", 512),
        ("1.5T", 1572864),
        ("1024K", 1),
        ("1025K", 2),  # Slurm rounds K up
        ("1K", 1),
        (".5G", 512),
        ("1.3G", 1332),  # 1331.2 MiB rounded up
        ("  16G  ", 16384),
        (512, 512),
    ],
)
def test_memory_accepts_what_slurm_users_type(text: str | int, mib: int) -> None:
    assert parse_memory(text) == mib


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("4", "no unit"),
        ("0G", "positive"),
        ("0", "no unit"),
        (0, "positive"),
        (-5, "positive"),
        ("-4G", "not a size"),
        ("4X", "not a size"),
        ("4GBB", "not a size"),
        ("G", "not a size"),
        ("", "not a size"),
        ("4P", "not a size"),
        ("१G", "not a size"),  # non-ASCII digit
        (4.0, "expected a size"),
        (True, "expected a size"),
        (None, "expected a size"),
        (MAX_MEMORY_MIB + 1, "more than"),
        ("99999999999T", "more than"),
    ],
)
def test_memory_rejects_with_the_field_named(value: object, hint: str) -> None:
    with pytest.raises(JobSpecError) as info:
        parse_memory(value, "memory_per_cpu")
    assert info.value.field == "memory_per_cpu"
    assert hint in info.value.message


def test_memory_format_picks_the_largest_exact_unit() -> None:
    assert format_memory(4096) == "4G"
    assert format_memory(1536) == "1536M"
    assert format_memory(2 * 1024**2) == "2T"
    assert format_memory(1) == "1M"
    with pytest.raises(JobSpecError):
        format_memory(0)


@given(st.integers(min_value=1, max_value=MAX_MEMORY_MIB))
def test_memory_format_parse_round_trip(mib: int) -> None:
    text = format_memory(mib)
    assert re.fullmatch(r"\d+[MGT]", text)
    assert parse_memory(text) == mib


@given(
    st.integers(min_value=1, max_value=10**6),
    st.sampled_from([("K", None), ("M", 1), ("G", 1024), ("T", 1024**2)]),
    st.sampled_from(["", "B", "b", "iB"]),
    st.booleans(),
)
def test_memory_units_are_binary(
    amount: int, unit: tuple[str, int | None], suffix: str, lower: bool
) -> None:
    letter, factor = unit
    text = f"{amount}{letter.lower() if lower else letter}{suffix}"
    expected = -(-amount // 1024) if factor is None else amount * factor
    assert parse_memory(text) == expected


@given(anything)
def test_memory_raises_only_jobspec_error(value: object) -> None:
    result = outcome(lambda: parse_memory(value, "memory_per_node"))
    if isinstance(result, JobSpecError):
        assert result.field == "memory_per_node"
    else:
        assert isinstance(result, int)
        assert result > 0


# ----------------------------------------------------------------------------- time limit --
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(minutes=90)),
        ("90:30", timedelta(minutes=91)),  # minutes:seconds, seconds round up
        ("1:00:00", timedelta(hours=1)),
        ("01:30:00", timedelta(minutes=90)),
        ("2-00:00:00", timedelta(days=2)),
        ("2-12", timedelta(days=2, hours=12)),
        ("2-12:30", timedelta(days=2, hours=12, minutes=30)),
        ("1-0:0:1", timedelta(days=1, minutes=1)),
        ("0:1", timedelta(minutes=1)),
        (" 10 ", timedelta(minutes=10)),
        (timedelta(hours=1), timedelta(hours=1)),
        (timedelta(seconds=61), timedelta(minutes=2)),
        (timedelta(microseconds=1), timedelta(minutes=1)),
        (60, timedelta(hours=1)),
    ],
)
def test_time_limit_accepts_slurm_forms(text: object, expected: timedelta) -> None:
    assert parse_time_limit(text) == expected


@pytest.mark.parametrize("text", ["UNLIMITED", "unlimited", "INFINITE", "Infinite"])
def test_time_limit_unlimited(text: str) -> None:
    assert parse_time_limit(text) is INFINITE
    assert parse_time_limit(INFINITE) is INFINITE
    assert format_time_limit(INFINITE) == "UNLIMITED"


@pytest.mark.parametrize(
    "value",
    ["0", "0:0", "00:00:00", "0-0", 0, -1, timedelta(0), timedelta(minutes=-5), "-1", "1-",
     "1:2:3:4", "1h", "", "1.5", "99999999-00:00:00", MAX_TIME_LIMIT_MINUTES + 1, 1.5, True, None],
)  # fmt: skip
def test_time_limit_rejects(value: object) -> None:
    with pytest.raises(JobSpecError) as info:
        parse_time_limit(value, "time_limit")
    assert info.value.field == "time_limit"


def test_time_limit_format_is_slurms_own() -> None:
    assert format_time_limit(timedelta(hours=1)) == "01:00:00"
    assert format_time_limit(timedelta(days=2)) == "2-00:00:00"
    assert format_time_limit(timedelta(days=1, hours=2, minutes=3)) == "1-02:03:00"
    assert format_time_limit(timedelta(minutes=5)) == "00:05:00"


@given(st.integers(min_value=1, max_value=MAX_TIME_LIMIT_MINUTES))
def test_time_limit_round_trip(minutes: int) -> None:
    limit = timedelta(minutes=minutes)
    assert parse_time_limit(format_time_limit(limit)) == limit


@given(
    st.integers(0, 400),
    st.integers(0, 30),
    st.integers(0, 200),
    st.integers(0, 200),
    st.sampled_from(["m", "m:s", "h:m:s", "d-h", "d-h:m", "d-h:m:s"]),
)
def test_time_limit_parses_every_slurm_form(d: int, h: int, m: int, s: int, form: str) -> None:
    fields = {"d": d, "h": h, "m": m, "s": s}
    text = re.sub(r"[dhms]", lambda g: str(fields[g[0]]), form)
    used = {k: v if k in form else 0 for k, v in fields.items()}
    seconds = ((used["d"] * 24 + used["h"]) * 60 + used["m"]) * 60 + used["s"]
    if seconds == 0:
        with pytest.raises(JobSpecError):
            parse_time_limit(text)
        return
    assert parse_time_limit(text) == timedelta(minutes=-(-seconds // 60))


@given(anything)
def test_time_limit_raises_only_jobspec_error(value: object) -> None:
    result = outcome(lambda: parse_time_limit(value, "time_limit"))
    if isinstance(result, JobSpecError):
        assert result.field == "time_limit"
    else:
        assert result is INFINITE or (isinstance(result, timedelta) and result.total_seconds() > 0)


# ---------------------------------------------------------------------------------- arrays --
@pytest.mark.parametrize(
    ("text", "tasks", "throttle"),
    [
        ("0-9", list(range(10)), None),
        ("1,3,5", [1, 3, 5], None),
        ("0-15:4", [0, 4, 8, 12], None),
        ("0-9%2", list(range(10)), 2),
        ("1-3,2-4,10", [1, 2, 3, 4, 10], None),
        ("7", [7], None),
    ],
)
def test_array_parse(text: str, tasks: list[int], throttle: int | None) -> None:
    spec = ArraySpec.parse(text)
    assert spec.task_ids() == tasks
    assert spec.throttle == throttle
    assert str(spec) == text


@pytest.mark.parametrize(
    "text",
    ["", "9-0", "0-9%0", "0-9%", "%2", "a", "1,,2", "0-9:0", "3:2", "-1", "0-9%2%3", "1, 2",
     f"0-{MAX_ARRAY_TASK_ID + 1}", "0-9:", "0--9"],
)  # fmt: skip
def test_array_rejects(text: str) -> None:
    with pytest.raises(JobSpecError) as info:
        ArraySpec.parse(text)
    assert info.value.field == "array"


def test_array_from_range_and_direct_construction() -> None:
    assert str(ArraySpec.parse(range(10))) == "0-9"
    assert str(ArraySpec.parse(range(0, 16, 4))) == "0-12:4"
    with pytest.raises(JobSpecError):
        ArraySpec.parse(range(0))
    with pytest.raises(JobSpecError) as info:
        ArrayRange(start=5, end=1)
    assert info.value.field == "array"


array_ranges = st.builds(
    lambda start, span, step: ArrayRange(start=start, end=start + span, step=step if span else 1),
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(1, 50),
)
array_specs = st.builds(
    ArraySpec,
    ranges=st.lists(array_ranges, min_size=1, max_size=5).map(tuple),
    throttle=st.none() | st.integers(1, 100),
)


@given(array_specs)
def test_array_round_trip(spec: ArraySpec) -> None:
    text = str(spec)
    again = ArraySpec.parse(text)
    assert again == spec
    assert str(again) == text
    assert again.task_ids() == sorted({t for r in spec.ranges for t in r.task_ids()})


@given(st.text(alphabet="0123456789-,:%x ", max_size=15))
def test_array_raises_only_jobspec_error(text: str) -> None:
    result = outcome(lambda: ArraySpec.parse(text, "array"))
    if isinstance(result, JobSpecError):
        assert result.field == "array"
    else:
        assert isinstance(result, ArraySpec)
        assert ArraySpec.parse(str(result)) == result


# ------------------------------------------------------------------------------------ GRES --
def test_gres_forms() -> None:
    assert parse_gres("gpu") == (GresRequest(name="gpu", count=1),)
    assert parse_gres("gpu:2") == (GresRequest(name="gpu", count=2),)
    assert parse_gres("gpu:a100:2") == (GresRequest(name="gpu", type="a100", count=2),)
    assert parse_gres("gpu:a100") == (GresRequest(name="gpu", type="a100", count=1),)
    assert [str(g) for g in parse_gres("gpu:a100:2,nvme")] == ["gpu:a100:2", "nvme:1"]
    assert str(GresRequest(name="gpu", type="3090", count=1)) == "gpu:3090:1"


@pytest.mark.parametrize(
    "text", ["", "gpu:", ":2", "gpu:a100:2:3", "gpu:0", "gpu:a100:0", "gpu:a:b", "1gpu", "gpu,"]
)
def test_gres_rejects(text: str) -> None:
    with pytest.raises(JobSpecError) as info:
        parse_gres(text)
    assert info.value.field == "gres"


def test_gpus_forms() -> None:
    assert parse_gpus(2) == GresRequest(name="gpu", count=2)
    assert parse_gpus("2") == GresRequest(name="gpu", count=2)
    assert parse_gpus("a100:2") == GresRequest(name="gpu", type="a100", count=2)
    for bad in (0, -1, "0", "a100", "a100:0", ":2", True, 2.0, GresRequest(name="nvme")):
        with pytest.raises(JobSpecError) as info:
            parse_gpus(bad)
        assert info.value.field == "gpus"


gres_requests = st.builds(
    GresRequest,
    name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,10}", fullmatch=True),
    type=st.none() | st.from_regex(r"[A-Za-z0-9_.-]{1,10}", fullmatch=True),
    count=st.integers(1, 10**6),
)


@given(st.lists(gres_requests, min_size=1, max_size=4))
def test_gres_round_trip(requests: list[GresRequest]) -> None:
    text = ",".join(str(g) for g in requests)
    assert parse_gres(text) == tuple(requests)


@given(anything)
def test_gres_and_gpus_raise_only_jobspec_error(value: object) -> None:
    for parse, field in ((parse_gres, "gres"), (parse_gpus, "gpus")):
        result = outcome(lambda: parse(value, field))  # noqa: B023
        if isinstance(result, JobSpecError):
            assert result.field == field


@given(st.integers(1, MAX_TIME_LIMIT_MINUTES), st.integers(0, 59))
def test_time_limit_seconds_round_up(minutes: int, seconds: int) -> None:
    assume(minutes < MAX_TIME_LIMIT_MINUTES or seconds == 0)
    limit = parse_time_limit(timedelta(minutes=minutes, seconds=seconds))
    assert limit == timedelta(minutes=minutes + (1 if seconds else 0))


@pytest.mark.parametrize("module", ["_units", "dependency", "spec", "builder"])
def test_docstring_examples_hold(module: str) -> None:
    result = doctest.testmod(getattr(jobs, module), raise_on_error=False, verbose=False)
    assert result.failed == 0
