"""DOT output for job graphs: nodes coloured by state, text stable for the same graph."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..models import JobState
from ._graph import BaseJobGraph

__all__ = ["STATE_COLORS", "render", "state_name", "to_dot"]

STATE_COLORS: Mapping[str, str] = {
    "NOT_SUBMITTED": "#ffffff",
    "PENDING": "#fff2cc",
    "RUNNING": "#cfe2f3",
    "SUSPENDED": "#d9d2e9",
    "COMPLETED": "#b6d7a8",
    "FAILED": "#f4cccc",
    "TIMEOUT": "#f4cccc",
    "OUT_OF_MEMORY": "#f4cccc",
    "NODE_FAIL": "#f4cccc",
    "BOOT_FAIL": "#f4cccc",
    "DEADLINE": "#f4cccc",
    "CANCELLED": "#d9d9d9",
    "PREEMPTED": "#fce5cd",
    "UNRUNNABLE": "#ead1dc",
    "UNKNOWN": "#eeeeee",
}
"""Fill colour per state name; anything else is drawn like ``UNKNOWN``."""

_EDGE_STYLE = {
    "afterok": "solid",
    "afterany": "dashed",
    "afternotok": "dotted",
    "after": "bold",
    "aftercorr": "solid",
    "afterburstbuffer": "dashed",
}


def state_name(state: object) -> str:
    """``"COMPLETED"`` for a :class:`JobState`, a state name, or ``None`` (not submitted)."""
    if state is None:
        return "NOT_SUBMITTED"
    if isinstance(state, JobState):
        return str(state.base)
    return str(state).upper()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _quote(text: str) -> str:
    return f'"{_escape(text)}"'


def to_dot(
    graph: BaseJobGraph,
    states: Mapping[str, object] | None = None,
    job_ids: Mapping[str, int] | None = None,
) -> str:
    """The DOT text of ``graph`` (see :meth:`JobGraph.to_dot`)."""
    lines = [
        f"digraph {_quote(graph.name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    external: dict[int, None] = {}
    for name, node in graph.nodes.items():
        if states is not None and name in states:
            state = state_name(states[name])
        elif node.slurm_job is not None:
            state = state_name(node.slurm_job.state)
        else:
            state = state_name(None)
        parts = [name]
        job_id = job_ids.get(name) if job_ids is not None else node.job_id
        if job_id is not None:
            parts.append(f"#{job_id}")
        if node.slurm_job is not None and node.slurm_job.name and node.slurm_job.name != name:
            parts.append(node.slurm_job.name)
        if state != "NOT_SUBMITTED":
            parts.append(state)
        label = "\\n".join(_escape(p) for p in parts)  # DOT's line break
        color = STATE_COLORS.get(state, STATE_COLORS["UNKNOWN"])
        lines.append(f'  {_quote(name)} [label="{label}", fillcolor="{color}"];')
        for ref in node.refs:
            if isinstance(ref, int):
                external[ref] = None
    for job_id in external:
        lines.append(f'  "job {job_id}" [label="job {job_id}", shape=ellipse, style=dashed];')
    for edge in graph.edges():
        up = edge.upstream if isinstance(edge.upstream, str) else f"job {edge.upstream}"
        style = _EDGE_STYLE.get(edge.kind.value, "solid")
        extra = ", arrowhead=empty" if edge.any_of else ""
        lines.append(
            f'  {_quote(up)} -> {_quote(edge.downstream)} [label="{edge.kind.value}", '
            f"style={style}{extra}];"
        )
    for name, node in graph.nodes.items():
        if any(t.kind.value == "singleton" for t in node.terms):
            lines.append(f"  {_quote(name)} [peripheries=2];")  # drawn doubled
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot: str, path: str, *, format: str | None = None) -> str:
    """Render DOT text to ``path`` with the ``graphviz`` package; returns the file written."""
    try:
        import graphviz  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise ImportError(
            "rendering a job graph needs the graphviz extra: "
            "pip install 'slurm-client[graphviz]' (and Graphviz's 'dot' program); "
            "to_dot() works without it"
        ) from None
    target = Path(path)
    fmt = format or target.suffix.lstrip(".") or "png"
    source = graphviz.Source(dot)
    written = source.render(outfile=str(target), format=fmt, cleanup=True)
    return str(written)
