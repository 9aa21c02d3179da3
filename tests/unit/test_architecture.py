"""The layer list in docs/concepts/architecture.md is the one the import contract enforces."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def test_documented_layers_are_the_enforced_layers() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    doc = (ROOT / "docs" / "concepts" / "architecture.md").read_text()
    documented = re.findall(r"^\d+\. \*\*[^*]+\*\*: `([^`]+)`", doc, re.M)
    assert documented == layers


def test_every_core_module_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    named = {m.strip() for layer in layers for m in layer.split("|")}
    core = ROOT / "slurm_core"
    top = {
        f"slurm_core.{p.stem if p.is_file() else p.name}"
        for p in core.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert top - named == set(), "a module outside every layer escapes the contract"
