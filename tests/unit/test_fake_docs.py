"""docs/testing.md: every code block is an example file, verbatim, and the examples pass.

The mock and fake examples run here (in a pytest subprocess, as a user would run them);
the real-cluster example runs in ``tests/integration/test_contract.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
DOC = ROOT / "docs" / "testing.md"
EXAMPLES = ROOT / "examples" / "testing"
_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(DOC.read_text())]


def test_every_code_block_is_an_example_file() -> None:
    python = [body for lang, body in _blocks() if lang == "python"]
    assert len(python) == 4
    named = set()
    for body in python:
        first, _, rest = body.partition("\n")
        assert first.startswith("# examples/testing/"), first
        path = ROOT / first.removeprefix("# ")
        assert path.read_text() == rest, f"{path} and its block in docs/testing.md differ"
        named.add(path.name)
    assert named == {p.name for p in EXAMPLES.glob("*.py")}
    assert {lang for lang, _ in _blocks()} <= {"python", ""}


def test_the_mock_and_fake_examples_pass() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "test_with_mock.py"),
            str(EXAMPLES / "test_with_fake.py"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b8 passed\b", result.stdout), result.stdout[-500:]
