"""The version-support matrix, computed from the adapters themselves (so it cannot drift);
and the site's other mkdocs hook, for links to repository files.

Every cell asks the version's adapter to build the request (or the submission body) for
the operation, exactly as the client would: an
:class:`~slurm_core.UnsupportedOperationError` makes it ``—``; an operation the client
emulates for that version (filters applied client side...) gets a note. The Slurm releases
row comes from :data:`slurm_core.testing.cluster.RELEASE_SPECS` (the releases tested here).

Used two ways:

* as an mkdocs hook (``hooks:`` in ``mkdocs.yml``): ``<!-- version-matrix -->`` in a page
  is replaced by the table at every build;
* as a script: ``python docs/gen_matrix.py`` prints the table (Markdown).

The site has no source browser, so a link from a page to a repository file outside
``docs/`` (``[the example](../examples/airflow/ml_pipeline.py)``) cannot work there and
would fail ``mkdocs build --strict``: :func:`on_page_markdown` shows it as the file's path
instead (links between pages are still checked).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from typing import Any

from slurm_core import JobSpec, UnsupportedOperationError
from slurm_core._versions import ADAPTERS, Adapter
from slurm_core._versions._submit import submit_body
from slurm_core.testing.cluster._release import RELEASE_SPECS
from slurm_core.watch import DeltaMode, delta_mode

MARKER = "<!-- version-matrix -->"
SCRIPT = "#!/bin/sh\ntrue\n"

Probe = Callable[[Adapter], Any]


def _submit(**fields: Any) -> Probe:
    return lambda a: submit_body(a, [JobSpec(script=SCRIPT, **fields)])


# (operation as users call it, probe building its request(s), note for emulated versions)
OPERATIONS: list[tuple[str, Probe, Callable[[Adapter], str]]] = [
    ("`ping`, `diag`", lambda a: (a.ping(), a.diag()), lambda a: ""),
    ("`jobs.list`, `jobs.get`", lambda a: (a.jobs_list(), a.job_get(1)), lambda a: ""),
    ("`jobs.submit` (builder / `JobSpec`)", _submit(name="x", time_limit=5), lambda a: ""),
    ("`jobs.submit` with `signal(\"B:USR1@60\")`", _submit(signal="B:USR1@60"),
     lambda a: ""),
    ("`jobs.submit` with `requeue(False)`", _submit(requeue=False), lambda a: ""),
    ("`jobs.cancel` (and signals)", lambda a: a.job_cancel(1, "USR1"), lambda a: ""),
    ("`jobs.hold`, `jobs.release`", lambda a: (a.job_hold(1), a.job_release(1)),
     lambda a: "sbatch-style update" if not a.number_wrappers else ""),
    ("`jobs.update(time_limit=...)`", lambda a: a.job_update_fields(time_limit=60),
     lambda a: ""),
    ("`jobs.update(name=...)`", lambda a: a.job_update_fields(name="renamed"), lambda a: ""),
    ("`jobs.requeue`", lambda a: a.job_requeue(1), lambda a: ""),
    ("`jobs.watch`, `jobs.wait`", lambda a: a.jobs_list(), lambda a: _delta(a.version)),
    ("`nodes.list`, `nodes.get`", lambda a: (a.nodes_list(), a.node_get("n1")), lambda a: ""),
    ("`nodes.update` (drain, resume...)",
     lambda a: a.node_update("n1", {"state": ["DRAIN"], "reason": "x"}), lambda a: ""),
    ("`partitions`, `reservations`, `licenses`",
     lambda a: (a.partitions_list(), a.reservations_list(), a.licenses_list()), lambda a: ""),
    ("`accounting.jobs` (sacct)", lambda a: a.accounting_jobs(users=["alice"]),
     lambda a: "" if a.accounting_users_param else "users filtered client side"),
    ("`accounting.users`, `accounts`, `qos`, `tres`",
     lambda a: (a.users(), a.accounts(), a.qos(), a.tres()), lambda a: ""),
]  # fmt: skip


def _delta(version: str) -> str:
    mode = delta_mode(version)
    return {
        DeltaMode.NONE: "full listing per poll",
        DeltaMode.RELATIVE: "deltas, relative time",
        DeltaMode.SERVER_EPOCH: "deltas",
        DeltaMode.CALIBRATED_EPOCH: "deltas, calibrated clock",
    }[mode]


def cell(operation: Probe, note: Callable[[Adapter], str], adapter: Adapter) -> str:
    """``✓`` (with a note if emulated) or ``—`` when the version cannot do it."""
    try:
        operation(adapter)
    except UnsupportedOperationError:
        return "—"
    extra = note(adapter)
    return f"✓ ({extra})" if extra else "✓"


def releases(version: str) -> str:
    """The tested Slurm releases whose slurmrestd serves ``version``."""
    found = [r for r, spec in RELEASE_SPECS.items() if version in spec.versions]
    return ", ".join(found) or "not tested here"


def matrix() -> str:
    """The Markdown table: one row per operation, one column per REST API version."""
    versions = list(ADAPTERS)
    adapters = [ADAPTERS[v](()) for v in versions]
    lines = [
        "| operation | " + " | ".join(versions) + " |",
        "|---|" + "---|" * len(versions),
        "| *Slurm releases tested* | " + " | ".join(releases(v) for v in versions) + " |",
    ]
    for name, operation, note in OPERATIONS:
        cells = [cell(operation, note, a) for a in adapters]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_OUTSIDE_LINK = re.compile(r"\[([^\]]+)\]\(((?:\.\./)+[^)\s#]+)\)")


def repository_paths(markdown: str, page_path: str) -> str:
    """Links from ``page_path`` (relative to ``docs/``) to files outside ``docs/`` become
    the file's repository path in code (the link text is kept when it differs)."""

    def plain(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        path = posixpath.normpath(posixpath.join("docs", posixpath.dirname(page_path), target))
        if path.startswith("docs/") or path.startswith(".."):
            return match.group(0)  # a page (checked by mkdocs), or outside the repository
        return text if path in text else f"{text} (`{path}`)"

    return _OUTSIDE_LINK.sub(plain, markdown)


def on_page_markdown(markdown: str, page: Any = None, **kwargs: Any) -> str:
    """mkdocs hook: the matrix where a page has :data:`MARKER`; repository links as paths."""
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, matrix())
    if page is not None and "../" in markdown:
        markdown = repository_paths(markdown, page.file.src_uri)
    return markdown


if __name__ == "__main__":
    print(matrix(), end="")
