"""JobGraph without a cluster: building, expressions, checks, order, DOT, progress."""

from __future__ import annotations

import sys
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from slurm_core import JobState
from slurm_core.graph import (
    STATE_COLORS,
    GraphError,
    JobGraph,
    LiveGraph,
    Progress,
    format_terms,
    parse_terms,
)
from slurm_core.jobs import DependencyKind, DependencyOperator
from slurm_core.models import Job
from slurm_core.watch import JobEvent, JobEventType

T = JobEventType
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def diamond() -> JobGraph:
    g = JobGraph("diamond")
    a = g.add("a")
    b = g.add("b", after_ok=[a])
    c = g.add("c", after_ok=["a"])
    g.add("d", after_ok=[b, c])
    return g


def edges(g: JobGraph) -> list[tuple[object, str, str]]:
    return [(e.upstream, e.downstream, e.kind.value) for e in g.edges()]


# -- building and expressions ------------------------------------------------------------
def test_keywords_make_terms_and_text() -> None:
    g = JobGraph()
    prep = g.add("prep")
    g.add("train", after_ok=[prep, 41], after_any=["prep"], singleton=True)
    assert g["train"].dependency == "afterok:prep:41,afterany:prep,singleton"
    g.add("either", after_ok=["prep"], after_notok=["train"], any_of=True)
    assert g["either"].dependency == "afterok:prep?afternotok:train"
    assert g["either"].operator is DependencyOperator.OR
    g.add("one", after_ok=["prep"], any_of=True)  # a single term has nothing to choose from
    assert g["one"].operator is DependencyOperator.AND


@pytest.mark.parametrize(
    "text",
    [
        "afterok:a:b,afterany:c",
        "afterok:a?afternotok:b?afterany:12",
        "after:a+10:b",
        "aftercorr:arr",
        "singleton",
        "afterok:a,singleton",
    ],
)
def test_expressions_round_trip(text: str) -> None:
    operator, terms = parse_terms(text)
    assert format_terms(operator, terms) == text


def test_expression_parts() -> None:
    operator, terms = parse_terms(" AFTEROK:a:17 , after:b+5 ")
    assert operator is DependencyOperator.AND
    assert [(t.kind, t.refs, t.delays) for t in terms] == [
        (DependencyKind.AFTEROK, ("a", 17), ()),
        (DependencyKind.AFTER, ("b",), (5,)),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("afterok:a,afterany:b?afterok:c", "mixes"),
        ("afterwards:a", "unknown dependency type"),
        ("afterok", "needs at least one"),
        ("singleton:a", "takes no references"),
        ("afterok:a+5", "only allowed with 'after'"),
        ("afterok:a::b", "bad reference"),
        ("after:a+x", "bad reference"),
    ],
)
def test_bad_expressions(text: str, match: str) -> None:
    with pytest.raises(GraphError, match=match):
        parse_terms(text)


@pytest.mark.parametrize("name", ["", "12", "a b", "a:b", "a,b", "a?", "x+1", "(x)", 5])
def test_bad_names(name: Any) -> None:
    with pytest.raises(GraphError, match="bad node name"):
        JobGraph().add(name)


def test_building_errors() -> None:
    g = JobGraph()
    g.add("a")
    with pytest.raises(GraphError, match="already in the graph"):
        g.add("a")
    with pytest.raises(GraphError, match="not both"):
        g.add("b", after_ok=["a"], dependency="afterany:a")
    with pytest.raises(GraphError, match=r"not 1\.5"):
        g.add("c", after_ok=[1.5])  # type: ignore[list-item]
    g.add("d", dependency="afterok:a?afterany:a")
    with pytest.raises(GraphError, match="mix"):
        g.depend("d", after_ok=["a"])
    with pytest.raises(GraphError, match="no node 'zz'"):
        g.depend("zz", after_ok=["a"])


# -- checks and order --------------------------------------------------------------------
def test_diamond_edges_and_order() -> None:
    g = diamond()
    assert edges(g) == [
        ("a", "b", "afterok"),
        ("a", "c", "afterok"),
        ("b", "d", "afterok"),
        ("c", "d", "afterok"),
    ]
    assert g.order() == ["a", "b", "c", "d"]
    assert g.upstream("d") == ["b", "c"]
    assert g.downstream("a") == ["b", "c"]


def test_order_follows_dependencies_not_insertion() -> None:
    g = JobGraph()
    g.add("report", after_any=["train", "eval"])
    g.add("eval", after_ok=["train"])
    g.add("train", after_ok=["prep"])
    g.add("prep")
    g.add("other")
    # ready together: the one added first goes first (train before other)
    assert g.order() == ["prep", "train", "eval", "report", "other"]


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (lambda g: (g.add("a", after_ok=["b"]), g.add("b", after_ok=["a"])), ["a", "b", "a"]),
        (lambda g: g.add("self", after_any=["self"]), ["self", "self"]),
        (
            lambda g: (
                g.add("x"),
                g.add("a", after_ok=["x", "c"]),
                g.add("b", after_ok=["a"]),
                g.add("c", after_ok=["b"]),
            ),
            ["a", "b", "c", "a"],
        ),
    ],
)
def test_cycles_are_named(build: Any, path: list[str]) -> None:
    g = JobGraph()
    build(g)
    with pytest.raises(GraphError) as info:
        g.order()
    assert info.value.cycle == path
    assert " -> ".join(path) in str(info.value)


def test_unknown_node_is_refused() -> None:
    g = diamond()
    g.add("e", after_ok=["d", "typo"])
    with pytest.raises(GraphError, match="'e' depends on unknown node 'typo'") as info:
        g.validate()
    assert info.value.node == "e"


def test_long_chain_has_no_recursion_limit() -> None:
    g = JobGraph()
    g.add("n0")
    for i in range(1, 3000):
        g.add(f"n{i}", after_ok=[f"n{i - 1}"])
    assert g.order()[-1] == "n2999"
    g.depend("n0", after_ok=["n2999"])
    with pytest.raises(GraphError) as info:
        g.validate()
    assert info.value.cycle is not None
    assert len(info.value.cycle) == 3001


def test_resolve_puts_job_ids_in() -> None:
    g = diamond()
    g.add("late", dependency="after:a+10?afternotok:99")
    ids = {"a": 11, "b": 12, "c": 13, "d": 14}
    assert str(g.resolve("d", ids)) == "afterok:12:13"
    assert str(g.resolve("late", ids)) == "after:11+10?afternotok:99"
    assert g.resolve("a", ids) is None


# -- DOT ---------------------------------------------------------------------------------
def test_dot_is_stable_and_coloured_by_state() -> None:
    states = {"a": JobState.parse("COMPLETED"), "b": "running", "c": "FAILED"}
    first = diamond().to_dot(states, {"a": 1, "b": 2})
    assert first == diamond().to_dot(states, {"a": 1, "b": 2})
    assert first.startswith('digraph "diamond" {\n')
    assert first.endswith("}\n")
    assert f'"a" [label="a\\n#1\\nCOMPLETED", fillcolor="{STATE_COLORS["COMPLETED"]}"];' in first
    assert f'"b" [label="b\\n#2\\nRUNNING", fillcolor="{STATE_COLORS["RUNNING"]}"];' in first
    assert f'fillcolor="{STATE_COLORS["FAILED"]}"' in first
    assert f'"d" [label="d", fillcolor="{STATE_COLORS["NOT_SUBMITTED"]}"];' in first
    assert '"a" -> "b" [label="afterok", style=solid];' in first
    lines = first.splitlines()
    assert lines.index('  "a" -> "b" [label="afterok", style=solid];') < lines.index(
        '  "c" -> "d" [label="afterok", style=solid];'
    )


def test_dot_outside_jobs_or_edges_and_singletons() -> None:
    g = JobGraph('we "quote"')
    g.add("x", dependency="afterok:7?afternotok:8")
    g.add("y", singleton=True)
    dot = g.to_dot()
    assert 'digraph "we \\"quote\\"" {' in dot
    assert '"job 7" [label="job 7", shape=ellipse, style=dashed];' in dot
    assert '"job 8" -> "x" [label="afternotok", style=dotted, arrowhead=empty];' in dot
    assert '"y" [peripheries=2];' in dot


def test_render_without_graphviz_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import fails
    with pytest.raises(ImportError, match=r"slurm-client\[graphviz\]"):
        diamond().render(str(tmp_path / "g.png"))


def test_render_with_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    class Source:
        def __init__(self, text: str) -> None:
            self.text = text

        def render(self, **kw: Any) -> str:
            calls.append((self.text, kw))
            return str(kw["outfile"])

    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Source=Source))
    out = diamond().render(str(tmp_path / "g.svg"))
    assert out == str(tmp_path / "g.svg")
    assert calls == [(diamond().to_dot(), {"outfile": out, "format": "svg", "cleanup": True})]


# -- progress: what can never run ---------------------------------------------------------
def event(job_id: int, kind: T, state: str | None) -> JobEvent:
    return JobEvent.model_validate(
        {
            "type": kind,
            "job_id": job_id,
            "old_state": None,
            "new_state": JobState.parse(state) if state else None,
            "time": T0,
            "final": kind not in (T.PENDING, T.STARTED),
        }
    )


def test_unrunnable_propagates_through_afterok_only() -> None:
    g = JobGraph()
    g.add("a")
    g.add("b", after_ok=["a"])
    g.add("c", after_ok=["b"])
    g.add("cleanup", after_any=["b"])
    g.add("rescue", after_notok=["a"])
    ids = {"a": 1, "b": 2, "c": 3, "cleanup": 4, "rescue": 5}
    left_alone = Progress(g, ids, cancelling=False)
    assert left_alone.on_event(event(1, T.FAILED, "FAILED")) == ["b", "c", "cleanup"]
    assert not left_alone.done
    assert left_alone.on_event(event(5, T.COMPLETED, "COMPLETED")) == []
    assert left_alone.done  # all that is left waits forever
    result = left_alone.result()
    assert result.states == {
        "a": "FAILED",
        "b": "UNRUNNABLE",
        "c": "UNRUNNABLE",
        "cleanup": "UNRUNNABLE",
        "rescue": "COMPLETED",
    }
    assert result.failed == ["a"]
    assert not result.ok
    cancelling = Progress(g, ids, cancelling=True)
    # b is cancelled (so cleanup's afterany will be met); c still follows b's fate
    assert cancelling.on_event(event(1, T.FAILED, "FAILED")) == ["b", "c"]
    cancelling.on_event(event(2, T.CANCELLED, "CANCELLED"))
    cancelling.on_event(event(3, T.CANCELLED, "CANCELLED"))
    assert not cancelling.done
    cancelling.on_event(event(4, T.COMPLETED, "COMPLETED"))
    cancelling.on_event(event(5, T.COMPLETED, "COMPLETED"))
    assert cancelling.done
    assert cancelling.result().unrunnable == ("b", "c")


def test_unrunnable_or_needs_every_branch_blocked() -> None:
    g = JobGraph()
    g.add("a")
    g.add("b")
    g.add("either", dependency="afterok:a?afterok:b")
    g.add("started", after=["a"])
    p = Progress(g, {"a": 1, "b": 2, "either": 3, "started": 4}, cancelling=False)
    assert p.on_event(event(1, T.CANCELLED, "CANCELLED")) == ["started"]  # a never ran
    assert p.on_event(event(2, T.FAILED, "FAILED")) == ["either"]
    q = Progress(g, {"a": 1, "b": 2, "either": 3, "started": 4}, cancelling=False)
    q.on_event(event(1, T.STARTED, "RUNNING"))
    assert q.on_event(event(1, T.FAILED, "FAILED")) == []  # it did start


def test_live_graph_from_jobs() -> None:
    def job(job_id: int, dependency: str | None = None) -> Job:
        return Job.model_validate(
            {
                "job_id": job_id,
                "name": f"n{job_id}",
                "state": JobState.parse("PENDING"),
                "dependency": dependency,
            }
        )

    jobs = {
        1: job(1),
        2: job(2, "afterok:1(unfulfilled)"),
        3: job(3, "afterok:1(unfulfilled)"),
        4: job(4, "afterok:2(unfulfilled),afterany:3(unfulfilled),afterok:99(failed)"),
        5: job(5, "afterany:4(unfulfilled)"),
        6: job(6, "(null)"),
    }
    live = LiveGraph(4, jobs)
    full = live.with_transitive_deps()
    assert list(full) == ["1", "2", "3", "4"]
    assert edges(full) == [
        ("1", "2", "afterok"),
        ("1", "3", "afterok"),
        ("2", "4", "afterok"),
        ("3", "4", "afterany"),
        (99, "4", "afterok"),
    ]
    assert full["4"].job_id == 4
    assert full["4"].slurm_job is jobs[4]
    assert list(live.graph()) == ["2", "3", "4"]
    assert edges(live.graph())[0] == (1, "2", "afterok")  # outside the graph: a job id
    assert list(live.with_dependents()) == ["1", "2", "3", "4", "5"]
    assert '"job 99"' in full.to_dot()
    assert "PENDING" in full.to_dot()
