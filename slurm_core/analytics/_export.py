"""Export helpers: JSON with exact decimals, CSV safe to open in a spreadsheet, escaped HTML.

* JSON: ``Decimal`` values are written as strings (``"12.345600"``) so no float rounding
  creeps in; datetimes as ISO 8601 in UTC.
* CSV: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'``
  (job names and reasons are user-controlled: no formula injection in Excel/LibreOffice).
* HTML: every value goes through :func:`html.escape`; one table per section.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = ["csv_text", "html_page", "json_text", "plain", "write_text"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def plain(value: Any) -> Any:
    """A JSON-ready version of ``value`` (Decimal -> str, datetime -> ISO, sets sorted)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def json_text(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON text (see :func:`plain`)."""
    return json.dumps(plain(data), indent=indent, sort_keys=False, ensure_ascii=False)


def _cell(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A CSV document (RFC 4180 quoting, ``\\r\\n`` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def html_page(title: str, meta: Mapping[str, Any], sections: Sequence[_Section]) -> str:
    """A self-contained HTML page: a title, a key/value block, one table per section."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;"
        "vertical-align:top}th{background:#eee}caption{font-weight:bold;text-align:left;"
        "padding:4px 0}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
        "<dl>",
    ]
    for key, value in meta.items():
        parts.append(f"<dt>{esc(str(key))}</dt><dd>{esc(_cell(value))}</dd>")
    parts.append("</dl>")
    for caption, header, rows in sections:
        parts.append(f"<table><caption>{esc(caption)}</caption><thead><tr>")
        parts.extend(f"<th>{esc(h)}</th>" for h in header)
        parts.append("</tr></thead><tbody>")
        if not rows:
            parts.append(f'<tr><td colspan="{max(len(header), 1)}">(none)</td></tr>')
        for row in rows:
            cells = "".join(f"<td>{esc(_html_cell(v))}</td>" for v in row)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_cell(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_Section = tuple[str, Sequence[str], Sequence[Sequence[Any]]]


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, no newline translation) and return the path."""
    target = Path(path)
    with target.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return target
