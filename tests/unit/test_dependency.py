"""Dependency expressions: parse, print back, build (slurm_core.jobs.dependency)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs import (
    Dependency,
    DependencyKind,
    DependencyOperator,
    DependencyState,
    DependencyTerm,
    JobRef,
    build_dependency,
    format_dependency,
    parse_dependency,
)

AND, OR = DependencyOperator.AND, DependencyOperator.OR


def test_parse_the_documented_example() -> None:
    dep = parse_dependency("afterok:1:2,afterany:3")
    assert dep == Dependency(
        kind=AND,
        terms=(
            DependencyTerm(
                kind=DependencyKind.AFTEROK, job_ids=(JobRef(job_id=1), JobRef(job_id=2))
            ),
            DependencyTerm(kind=DependencyKind.AFTERANY, job_ids=(JobRef(job_id=3),)),
        ),
    )
    assert format_dependency(dep) == "afterok:1:2,afterany:3"
    assert dep.job_ids() == [1, 2, 3]


@pytest.mark.parametrize(
    "text",
    [
        "afterok:1",
        "afterok:1:2,afterany:3",
        "afterok:1?afternotok:2",
        "afterok:1:2?afterany:3",
        "after:5+10",
        "after:5+10:6",
        "afterok:7_3,aftercorr:8_*",
        "singleton",
        "afterok:1,singleton",
        "afterburstbuffer:4",
        "afterany:4294967293",
    ],
)
def test_canonical_text_prints_back_identically(text: str) -> None:
    assert str(parse_dependency(text)) == text


def test_array_and_delay_references() -> None:
    dep = parse_dependency("after:5_2+10,afterok:8_*")
    first, second = dep.terms[0].job_ids[0], dep.terms[1].job_ids[0]
    assert (first.job_id, first.array_task_id, first.delay) == (5, 2, 10)
    assert (second.job_id, second.array_task_id, second.delay) == (8, "*", None)


def test_kind_is_case_insensitive_and_printed_lower() -> None:
    assert str(parse_dependency("AfterOK:1")) == "afterok:1"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("afterok:1,afterany:2?afterok:3", "mixes ','"),
        ("afterok:1?afterany:2,afterok:3", "mixes ','"),
        ("", "empty"),
        ("afterok", "at least one job id"),
        ("afterok:", "empty job id"),
        ("afterok:1::2", "empty job id"),
        ("afterok:1,", "empty term"),
        ("?afterok:1", "empty term"),
        ("afterwards:1", "unknown dependency type"),
        ("expand:1", "unknown dependency type"),
        ("singleton:1", "takes no job ids"),
        ("afterok:1+5", "only allowed with 'after'"),
        ("after:1+0", "between 1"),
        ("afterok:0", "between 1"),
        ("afterok:4294967294", "between 1"),
        ("afterok:abc", "not a job id"),
        ("afterok:1_", "not a job id"),
        ("afterok:-1", "not a job id"),
        ("afterok: 1", "not a job id"),
        ("123", "has no type"),
        ("afterok:1(bogus)", "unknown dependency state"),
        ("afterok:1(failed):2", "not a job id"),
        ("afterok:1_[1-3]", "not a job id"),
    ],
)
def test_bad_text_names_the_dependency_field(text: str, hint: str) -> None:
    with pytest.raises(JobSpecError) as info:
        parse_dependency(text)
    assert info.value.field == "dependency"
    assert hint in info.value.message


def test_states_reported_by_slurmctld_are_read() -> None:
    dep = parse_dependency("afterok:12(failed),singleton(unfulfilled)")
    assert [t.state for t in dep.terms] == [DependencyState.FAILED, DependencyState.UNFULFILLED]
    assert dep.has_states
    assert str(dep) == "afterok:12(failed),singleton(unfulfilled)"
    assert not parse_dependency("afterok:12").has_states


def test_or_needs_two_terms() -> None:
    term = DependencyTerm(kind=DependencyKind.AFTEROK, job_ids=[1, 2])
    with pytest.raises(JobSpecError, match="at least two terms"):
        Dependency(kind=OR, terms=(term,))
    with pytest.raises(JobSpecError, match="at least one term"):
        Dependency(kind=AND, terms=())


def test_direct_construction_errors_are_jobspec_errors() -> None:
    with pytest.raises(JobSpecError) as info:
        DependencyTerm(kind="afterok", job_ids="12")
    assert info.value.field == "dependency"
    with pytest.raises(JobSpecError):
        JobRef(job_id=1, array_task_id="x")
    with pytest.raises(JobSpecError):
        Dependency.model_validate_json('{"terms": [{"kind": "afterok"}]}')


def test_build_all_of() -> None:
    dep = build_dependency(afterok=[1, "2_4"], afterany=[3], after=["5+10"], singleton=True)
    assert str(dep) == "afterok:1:2_4,afterany:3,after:5+10,singleton"
    assert dep.kind is AND


def test_build_any_of_puts_each_job_in_its_own_term() -> None:
    dep = build_dependency(afterok=[1, 2], afternotok=[3], any_of=True)
    assert str(dep) == "afterok:1?afterok:2?afternotok:3"
    assert dep.kind is OR
    # one record: AND and OR mean the same; the text has no '?'
    assert str(build_dependency(afterok=[1], any_of=True)) == "afterok:1"
    assert build_dependency(afterok=[1], any_of=True).kind is AND


def test_build_rejects() -> None:
    with pytest.raises(JobSpecError, match="at least one job"):
        build_dependency()
    with pytest.raises(JobSpecError, match="list of job ids"):
        build_dependency(afterok=12)  # type: ignore[arg-type]
    with pytest.raises(JobSpecError, match="only allowed with 'after'"):
        build_dependency(afterok=["1+5"])
    with pytest.raises(JobSpecError):
        build_dependency(afterany=[True])


# ------------------------------------------------------------------------ property tests --
job_refs = st.builds(
    JobRef,
    job_id=st.integers(1, 0xFFFF_FFFD),
    array_task_id=st.none() | st.integers(0, 4_000_000) | st.just("*"),
)


@st.composite
def terms(draw: st.DrawFn) -> DependencyTerm:
    kind = draw(st.sampled_from(list(DependencyKind)))
    if kind is DependencyKind.SINGLETON:
        return DependencyTerm(kind=kind)
    refs = draw(st.lists(job_refs, min_size=1, max_size=4))
    if kind is DependencyKind.AFTER:
        delays = draw(st.lists(st.none() | st.integers(1, 10**6), min_size=len(refs)))
        refs = [r.model_copy(update={"delay": d}) for r, d in zip(refs, delays, strict=False)]
    return DependencyTerm(kind=kind, job_ids=tuple(refs))


@st.composite
def dependencies(draw: st.DrawFn) -> Dependency:
    kind = draw(st.sampled_from([AND, OR]))
    chosen = draw(st.lists(terms(), min_size=2 if kind is OR else 1, max_size=5))
    return Dependency(kind=kind, terms=tuple(chosen))


@given(dependencies())
def test_model_text_model_round_trip(dep: Dependency) -> None:
    text = format_dependency(dep)
    again = parse_dependency(text)
    assert again == dep
    assert str(again) == text
    assert Dependency.model_validate_json(dep.model_dump_json()) == dep


@given(st.text(alphabet="afterokny:,?_*+0123456789()singlecd", max_size=30))
def test_arbitrary_text_raises_only_jobspec_error(text: str) -> None:
    try:
        dep = parse_dependency(text)
    except JobSpecError as exc:
        error: JobSpecError | None = exc
    else:
        error = None
        assert parse_dependency(str(dep)) == dep
    assert error is None or error.field == "dependency"
