"""The top level of ``slurm_core``: ``__all__``, ``dir()``, lazy names, and deprecated names.

``CHANGELOG.md`` lists the public names and every deprecated name with its new home; the
tests below hold it to ``slurm_core.__all__`` and ``slurm_core._DEPRECATED`` so it cannot
drift, and check that nothing in the repository still imports a deprecated top-level name.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import slurm_core

ROOT = Path(__file__).parent.parent.parent
CHANGELOG = ROOT / "CHANGELOG.md"
DEPRECATED = slurm_core._DEPRECATED
_BACKTICKED = re.compile(r"`([^`]+)`")
_CODE_BLOCK = re.compile(r"```(?:python|py|pycon)\n(.*?)```", re.S)


def _changelog_section(title: str) -> str:
    text = CHANGELOG.read_text()
    unreleased = text.split("\n## Unreleased\n", 1)[1].split("\n## ", 1)[0]
    return unreleased.split(f"\n### {title}\n", 1)[1].split("\n### ", 1)[0]


def _list_items(section: str) -> list[str]:
    """The section's ``- `` items, each joined with its indented continuation lines."""
    items: list[str] = []
    for line in section.splitlines():
        if line.startswith("- "):
            items.append(line[2:])
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
    return items


# -- __all__, dir(), lazy resolution --------------------------------------------------------


def test_all_is_the_exports_plus_version() -> None:
    assert len(slurm_core.__all__) == len(set(slurm_core.__all__))
    assert set(slurm_core.__all__) == {*slurm_core._EXPORTS, "__version__"}
    assert not set(slurm_core._EXPORTS) & set(DEPRECATED)
    # "about 45", grown deliberately: the whole error tree (and its one warning) is here, as
    # its private module is its only other home; the two executors (issue 18).
    assert 40 <= len(slurm_core.__all__) <= 54


def test_dir_is_sorted_all_and_hides_implementation_names() -> None:
    assert dir(slurm_core) == sorted(slurm_core.__all__)
    for leaked in ("Any", "TYPE_CHECKING", "importlib", "typing", "warnings", "annotations"):
        assert leaked not in dir(slurm_core)
        assert not hasattr(slurm_core, leaked), leaked
    for name in DEPRECATED:
        assert name not in dir(slurm_core)


def test_every_public_name_resolves_lazily_without_a_warning() -> None:
    # A fresh interpreter: nothing cached yet, and warnings are errors.
    code = (
        "import sys, slurm_core\n"
        "heavy = [m for m in ('httpx', 'pydantic') if m in sys.modules]\n"
        "assert not heavy, f'import slurm_core imported {heavy}'\n"
        "for name in slurm_core.__all__:\n"
        "    assert getattr(slurm_core, name) is not None, name\n"
        "from slurm_core import *\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_public_names_resolve_in_process_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in slurm_core.__all__:
            assert getattr(slurm_core, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        _ = slurm_core.NoSuchThing  # type: ignore[attr-defined]


# -- deprecated names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEPRECATED))
def test_a_deprecated_name_warns_with_its_new_path_at_the_callers_line(name: str) -> None:
    new_home = DEPRECATED[name]
    with pytest.warns(DeprecationWarning, match=rf"from {re.escape(new_home)} import {name}`"):
        value = getattr(slurm_core, name)
    assert value is getattr(importlib.import_module(new_home), name)
    assert name in importlib.import_module(new_home).__all__


def test_from_import_of_a_deprecated_name_points_at_the_import_line() -> None:
    with pytest.warns(DeprecationWarning, match=r"from slurm_core\.jobs import TrainingJob") as rec:
        from slurm_core import TrainingJob
    from slurm_core.jobs import TrainingJob as new

    assert TrainingJob is new
    assert {Path(w.filename) for w in rec} == {Path(__file__)}


def test_a_deprecated_name_warns_on_every_use() -> None:
    for _ in range(2):
        with pytest.warns(DeprecationWarning, match="stop working in slurm-client 0.3") as rec:
            _ = slurm_core.RateCard
        assert rec[0].filename == __file__


# -- CHANGELOG ------------------------------------------------------------------------------


def test_changelog_lists_exactly_the_public_names() -> None:
    listed: list[str] = []
    for item in _list_items(_changelog_section("Public API")):
        _group, sep, names = item.partition(": ")
        assert sep, f"expected '- Group: `Name`, ...', got {item!r}"
        listed += _BACKTICKED.findall(names)
    assert len(listed) == len(set(listed)), "a name is listed twice"
    assert set(listed) == set(slurm_core.__all__)


def test_changelog_lists_every_deprecated_name_with_its_new_path() -> None:
    moved: dict[str, str] = {}
    for item in _list_items(_changelog_section("Deprecated")):
        name, new_home = _BACKTICKED.findall(item)
        moved[name] = new_home
    assert moved == DEPRECATED


# -- the repository itself ------------------------------------------------------------------

_SCANNED = ("slurm_core", "integrations", "examples", "docs", "tests", "bench", "scripts")
_DOTTED = re.compile(r"\bslurm_core\.(" + "|".join(map(re.escape, DEPRECATED)) + r")\b")
_FROM = re.compile(r"from slurm_core import (\([^)]*\)|[^\n]*)")


def _deprecated_imports(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a docs snippet with placeholders
        return [
            name
            for match in _FROM.finditer(source)
            for name in re.findall(r"\w+", match.group(1))
            if name in DEPRECATED
        ]
    return [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "slurm_core" and not node.level
        for alias in node.names
        if alias.name in DEPRECATED
    ]


def _repository_files() -> list[Path]:
    files = [ROOT / "README.md"]
    for top in _SCANNED:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in (".py", ".md")]
    this = Path(__file__).resolve()
    package = (ROOT / "slurm_core" / "__init__.py").resolve()
    return [p for p in files if p.is_file() and p.resolve() not in (this, package)]


def test_nothing_in_the_repository_uses_a_deprecated_top_level_name() -> None:
    found: list[str] = []
    for path in _repository_files():
        text = path.read_text()
        rel = path.relative_to(ROOT)
        sources = [text] if path.suffix == ".py" else _CODE_BLOCK.findall(text)
        for source in sources:
            found += [f"{rel}: from slurm_core import {n}" for n in _deprecated_imports(source)]
        found += [f"{rel}: slurm_core.{m.group(1)}" for m in _DOTTED.finditer(text)]
    assert not found, "\n".join(found)
