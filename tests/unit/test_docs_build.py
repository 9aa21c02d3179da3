"""The documentation site builds with ``mkdocs build --strict`` (a few seconds), and the
version matrix it shows is the adapters' own answer.

Needs the ``docs`` extra (mkdocs-material, mkdocstrings), which the test environments install.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from slurm_core._versions import ADAPTERS

ROOT = Path(__file__).resolve().parents[2]


def gen_matrix() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_matrix", ROOT / "docs" / "gen_matrix.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(table: str) -> dict[str, list[str]]:
    out = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0]] = cells[1:]
    return out


def test_the_matrix_follows_the_adapters() -> None:
    table = rows(gen_matrix().matrix())
    versions = list(ADAPTERS)
    requeue = [v for v, ok in zip(versions, table["`jobs.requeue`"], strict=True) if ok != "—"]
    assert requeue == [v for v, cls in ADAPTERS.items() if cls.has_requeue]
    drain = table["`nodes.update` (drain, resume...)"]
    assert [c != "—" for c in drain] == [cls.has_node_update for cls in ADAPTERS.values()]
    assert table["`jobs.update(name=...)`"][0] == "—"  # 22.05 accepts and ignores it
    assert table["*Slurm releases tested*"][versions.index("v0.0.42")] == "24.11, 26.05"
    assert all(c.startswith("✓") for c in table["`jobs.list`, `jobs.get`"])


def test_links_to_repository_files_become_paths() -> None:
    text = "see [`examples/a.py`](../examples/a.py) and [the CLI](cli.md)"
    assert gen_matrix().repository_paths(text, "concepts/x.md") == (
        "see [`examples/a.py`](../examples/a.py) and [the CLI](cli.md)"
    )  # from docs/concepts/, ../examples is docs/examples: a page link, left to mkdocs
    assert gen_matrix().repository_paths(text, "x.md") == (
        "see `examples/a.py` and [the CLI](cli.md)"
    )


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    # the docs extra is installed by the test environments: a missing one fails loudly here
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    versions = (tmp_path / "site" / "concepts" / "versions" / "index.html").read_text()
    assert "<table>" in versions
    assert "version-matrix" not in versions  # the marker was replaced
    reference = (tmp_path / "site" / "reference" / "client" / "index.html").read_text()
    assert "SlurmClient" in reference
    assert "negotiate" in reference
