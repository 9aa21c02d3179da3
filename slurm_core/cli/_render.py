"""Turning models into JSON documents and rich tables.

JSON output is the models' own pydantic dump (``raw`` left out): times in ISO 8601 UTC,
durations in ISO 8601 (``PT1H``), ``INFINITE`` as the string ``"INFINITE"``, money as
decimal strings. Tables show a human subset of the same fields, times in local time.

Every string the server supplies (a job name, a reason, an error message) reaches the
terminal through :func:`safe_text`: control characters (ESC and the C1 controls that start
terminal sequences, BEL, newlines) and Unicode direction overrides are shown escaped
(``\\x1b``, ``\\u202e``), never sent, and rich markup in them is never interpreted.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text

from ..models import Job, Node, Partition
from ..models._base import Infinite

__all__ = [
    "dumps",
    "fmt_duration",
    "fmt_memory",
    "fmt_time",
    "job_rows",
    "job_table",
    "kv_table",
    "node_table",
    "partition_table",
    "plain",
    "safe_text",
    "table",
]

# C0 controls but tab, DEL, C1 controls (0x9b alone starts a sequence on some terminals),
# and the characters that reorder text: bidi embeddings, overrides, isolates and marks,
# and the line/paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object) -> Text:
    """``value`` as rich ``Text`` a terminal shows as it reads: no escape sequence, no
    direction override, no markup (see the module docstring).

    Example::

        >>> safe_text("x\\x1b]0;pwned\\x07").plain
        'x\\\\x1b]0;pwned\\\\x07'
    """
    return Text(_UNSAFE.sub(_escaped, str(value)))


def plain(obj: Any) -> Any:
    """``obj`` as JSON-ready data (models dumped without ``raw``, dataclasses as dicts)."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(
            mode="json", exclude={"raw"} if "raw" in type(obj).model_fields else None
        )
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [plain(v) for v in obj]
        return sorted(items, key=str) if isinstance(obj, (set, frozenset)) else items
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    if isinstance(obj, (Decimal, Path)):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


def dumps(data: Any) -> str:
    """JSON text of ``data`` (indented, keys in the order given)."""
    return json.dumps(plain(data), indent=2, ensure_ascii=False)


# ------------------------------------------------------------------ formatting ------------
def fmt_time(value: datetime | None) -> str:
    """Local time ``YYYY-MM-DD HH:MM:SS``, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(value: timedelta | Infinite | None) -> str:
    """Slurm's ``[D-]HH:MM:SS``, ``UNLIMITED`` or ``-``."""
    if value is None:
        return "-"
    if isinstance(value, Infinite):
        return "UNLIMITED"
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}-{clock}" if days else clock


def fmt_memory(mib: int | None) -> str:
    """MiB as ``512M`` / ``16G`` (one decimal when not whole), or ``-``."""
    if mib is None:
        return "-"
    if mib >= 1024:
        gib = mib / 1024
        return f"{gib:.0f}G" if gib == int(gib) else f"{gib:.1f}G"
    return f"{mib}M"


def _text(value: Any) -> Text:
    if isinstance(value, Text):
        return value
    if value is None or value == "" or value == ():
        return Text("-")
    if isinstance(value, (list, tuple, frozenset, set)):
        return safe_text(",".join(sorted(str(v) for v in value)) or "-")
    if isinstance(value, datetime):
        return Text(fmt_time(value))
    if isinstance(value, (timedelta, Infinite)):
        return Text(fmt_duration(value))
    return safe_text(value)


# ------------------------------------------------------------------ tables ----------------
def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table; cells go through the same formatting as everywhere else."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*(_text(c) for c in row))
    return t


def kv_table(title: str | None, pairs: Iterable[tuple[str, Any]]) -> Table:
    """Two columns: field and value (for one object)."""
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value", overflow="fold")
    for key, value in pairs:
        t.add_row(key, _text(value))
    return t


def _exit(job: Job) -> str:
    code = job.exit_code
    if code is None:
        return "-"
    if code.signal is not None:
        return f"{code.status}:{code.signal_name or code.signal}"
    return str(code.return_code) if code.return_code is not None else code.status


JOB_COLUMNS = ("JOBID", "NAME", "USER", "STATE", "PARTITION", "TIME LIMIT", "NODES/REASON", "EXIT")


def job_rows(jobs: Iterable[Job]) -> list[list[Any]]:
    """The cells of :data:`JOB_COLUMNS` for each job."""
    rows = []
    for job in jobs:
        where = job.nodes if job.state.is_running or job.state.is_finished else job.state_reason
        rows.append(
            [
                job.id_string,
                job.name,
                job.user_name,
                str(job.state),
                job.partition,
                job.time_limit,
                where if where and where != "None" else None,
                _exit(job),
            ]
        )
    return rows


def job_table(jobs: Sequence[Job], title: str | None = None) -> Table:
    return table(title, JOB_COLUMNS, job_rows(jobs))


def job_pairs(job: Job) -> list[tuple[str, Any]]:
    """The fields ``jobs get`` shows, in order."""
    return [
        ("job id", job.id_string),
        ("name", job.name),
        ("state", str(job.state)),
        ("reason", job.state_reason),
        ("user", job.user_name),
        ("account", job.account),
        ("partition", job.partition),
        ("qos", job.qos),
        ("nodes", job.nodes),
        ("cpus", job.cpus),
        ("memory per node", fmt_memory(job.memory_per_node)),
        ("memory per cpu", fmt_memory(job.memory_per_cpu)),
        ("time limit", job.time_limit),
        ("submitted", job.submit_time),
        ("started", job.start_time),
        ("ended", job.end_time),
        ("exit code", _exit(job)),
        ("dependency", job.dependency),
        ("working directory", job.working_directory),
        ("stdout", job.standard_output),
        ("stderr", job.standard_error),
        ("source", job.source),
    ]


NODE_COLUMNS = ("NAME", "STATE", "PARTITIONS", "CPUS (ALLOC/TOTAL)", "MEMORY", "GRES", "REASON")


def node_table(nodes: Sequence[Node], title: str | None = None) -> Table:
    rows = [
        [
            n.name,
            "+".join([n.state, *sorted(n.state_flags)]),
            n.partitions,
            f"{n.alloc_cpus if n.alloc_cpus is not None else '-'}/{n.cpus or '-'}",
            fmt_memory(n.real_memory),
            n.gres,
            n.reason,
        ]
        for n in nodes
    ]
    return table(title, NODE_COLUMNS, rows)


def node_pairs(node: Node) -> list[tuple[str, Any]]:
    return [
        ("name", node.name),
        ("state", "+".join([node.state, *sorted(node.state_flags)])),
        ("partitions", node.partitions),
        ("cpus", node.cpus),
        ("allocated cpus", node.alloc_cpus),
        ("cpu load", node.cpu_load),
        ("memory", fmt_memory(node.real_memory)),
        ("free memory", fmt_memory(node.free_memory)),
        ("allocated memory", fmt_memory(node.alloc_memory)),
        ("gres", node.gres),
        ("gres used", node.gres_used),
        ("features", node.features),
        ("reason", node.reason),
        ("address", node.address),
        ("slurmd version", node.version),
        ("boot time", node.boot_time),
    ]


PARTITION_COLUMNS = ("NAME", "STATE", "DEFAULT", "NODES", "CPUS", "MAX TIME", "DEFAULT TIME")


def partition_table(partitions: Sequence[Partition], title: str | None = None) -> Table:
    rows = [
        [
            p.name,
            p.state,
            {True: "yes", False: "no", None: "?"}[p.is_default],
            p.nodes,
            p.total_cpus,
            p.max_time,
            p.default_time,
        ]
        for p in partitions
    ]
    return table(title, PARTITION_COLUMNS, rows)
