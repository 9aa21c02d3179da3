"""Following jobs on the terminal: ``jobs watch``, ``jobs wait`` and ``submit --wait``.

Both ride on ``client.jobs.watch`` (the project's only polling loop); ``wait`` decides
success or :class:`~slurm_core.JobFailedError` from the final event exactly as
``client.jobs.wait`` does (:func:`slurm_core.watch._core.outcome`). On a terminal a live
table (``watch``) or a spinner (``wait``) shows the current states; with ``--json`` every
event is one JSON line on stdout as it happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import typer
from rich.console import RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .._exceptions import JobFailedError
from .._versions.base import JobId
from ..models import Job
from ..watch import JobEvent, JobEventType, WatchOptions
from ..watch._core import outcome
from ._render import fmt_time, plain, safe_text, table
from ._state import CliState

__all__ = ["event_data", "follow", "wait_for", "watch_options"]

_GOOD = frozenset({JobEventType.COMPLETED})


def watch_options(poll_interval: float | None, max_interval: float | None) -> WatchOptions | None:
    """Poll settings from ``--poll-interval``/``--max-interval`` (``None``: the defaults)."""
    if poll_interval is None and max_interval is None:
        return None
    base = WatchOptions()
    first = base.initial_interval if poll_interval is None else poll_interval
    cap = max(base.max_interval if max_interval is None else max_interval, first)
    return WatchOptions(
        min_interval=min(base.min_interval, first), initial_interval=first, max_interval=cap
    )


def event_data(event: JobEvent) -> dict[str, Any]:
    """An event as JSON-ready data (the job snapshot left out)."""
    data: dict[str, Any] = plain(event.model_copy(update={"job": None}))
    data.pop("job", None)
    data["old_state"] = str(event.old_state) if event.old_state is not None else None
    data["new_state"] = str(event.new_state) if event.new_state is not None else None
    return data


def _describe(event: JobEvent) -> Text:
    text = f"{fmt_time(event.time)}  job {event.job_id}  {event.type.value}"
    if event.new_state is not None and event.type is JobEventType.STATE_CHANGED:
        text += f" ({event.new_state})"
    if event.nodes and event.type is JobEventType.STARTED:
        text += f" on {event.nodes}"
    if event.final and event.exit_code is not None:
        code = event.exit_code
        text += f", exit {code.return_code if code.return_code is not None else code.status}"
    if event.reason and event.type not in _GOOD:
        text += f" [{event.reason}]"
    return safe_text(text)  # nodes and reasons come from the server


def _status_table(latest: dict[str, JobEvent | None], started: float) -> Table:
    rows = []
    for key, event in latest.items():
        if event is None:
            rows.append([key, "waiting for first poll", None, None, None])
            continue
        state = str(event.new_state) if event.new_state is not None else event.type.value
        rows.append([key, state, event.nodes, event.reason, fmt_time(event.time)])
    elapsed = int(time.monotonic() - started)
    return table(
        f"watching {len(latest)} job(s), {elapsed} s",
        ["JOB", "STATE", "NODES", "REASON", "SINCE"],
        rows,
    )


class _Live:
    """Re-rendered at every refresh, so elapsed times move between events too."""

    def __init__(self, render: Callable[[], RenderableType]) -> None:
        self.render = render

    def __rich__(self) -> RenderableType:
        return self.render()


def follow(
    state: CliState,
    client: Any,
    job_ids: Sequence[JobId],
    *,
    timeout: float | None,
    options: WatchOptions | None,
) -> list[JobEvent]:
    """Show every event of ``job_ids`` until all have finished; return the final events."""
    if options is not None:
        client.jobs.watch_options = options
    finals: list[JobEvent] = []
    latest: dict[str, JobEvent | None] = {str(j): None for j in job_ids}
    started = time.monotonic()
    watch = client.jobs.watch(list(job_ids), timeout=timeout)
    if state.json:
        with watch as events:
            for event in events:
                typer.echo(plain_line(event_data(event)))
                if event.final:
                    finals.append(event)
        return finals
    live = Live(
        _Live(lambda: _status_table(latest, started)),
        console=state.out,  # the event lines print above it through the same console
        transient=True,
        auto_refresh=True,
        refresh_per_second=2,
    )
    with live, watch as events:
        for event in events:
            latest[str(event.job_id)] = event
            state.out.print(_describe(event))
            if event.final:
                finals.append(event)
    return finals


def wait_for(
    state: CliState,
    client: Any,
    job_id: JobId,
    *,
    timeout: float | None,
    options: WatchOptions | None,
) -> Job:
    """Wait for one job with a spinner and its events on stderr (quiet with ``--json``).

    Raises :class:`~slurm_core.JobFailedError` or :class:`~slurm_core.watch.WaitTimeoutError`
    like ``client.jobs.wait``.
    """
    if options is not None:
        client.jobs.watch_options = options
    started = time.monotonic()
    shown = f"job {job_id}: waiting for the first poll"
    final: JobEvent | None = None
    with client.jobs.watch([job_id], timeout=timeout) as events:
        if state.json:  # one document at the end (the job): no event stream to mix in
            for event in events:
                final = event if event.final else final
        else:
            line = _Live(lambda: f"{shown} ({int(time.monotonic() - started)} s)")
            with state.err.status(line):
                for event in events:
                    state.err.print(_describe(event))
                    current = event.new_state or event.type.value
                    shown = f"job {job_id}: {current}"
                    final = event if event.final else final
    if final is None:  # pragma: no cover - a watch always ends with a final event
        raise JobFailedError(job_id, "UNKNOWN")
    return outcome(final)


def plain_line(data: Any) -> str:
    """One compact JSON line (for event streams)."""
    import json

    return json.dumps(plain(data), ensure_ascii=False, separators=(",", ":"))
