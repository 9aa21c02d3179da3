"""`make bench` starts: every benchmark module imports against the current package layout
(they reach into private modules for baselines, so a moved name would break them silently)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    "module",
    sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__main__"),  # it runs
)
def test_benchmark_module_imports(module: str) -> None:
    importlib.import_module(f"bench.{module}")
