"""Where a benchmark leaves its figures: ``bench/results/<name>.json`` and ``<name>.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, results: dict[str, Any], header: str, table: str) -> None:
    """Write the raw figures as JSON and the report as Markdown, and print the report."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(header + table)
    print()
    print(header + table)
