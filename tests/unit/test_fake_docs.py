"""docs/testing.md: every code block is an example file, verbatim.

The blocks themselves (the examples' tests, against the mock, the fake and a real
cluster) are run by ``tests/integration/test_docs_examples.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
DOC = ROOT / "docs" / "testing.md"
EXAMPLES = ROOT / "examples" / "testing"
_BLOCK = re.compile(r"```(\w*)([^\n]*)\n(.*?)```", re.S)
_TITLE = re.compile(r'^ title="(examples/testing/\w+\.py)"$')


def test_every_code_block_is_an_example_file() -> None:
    blocks = [(m.group(1), m.group(2), m.group(3)) for m in _BLOCK.finditer(DOC.read_text())]
    named = set()
    for lang, info, body in blocks:
        if lang != "python":
            continue
        title = _TITLE.match(info)
        assert title, f"a python block of docs/testing.md names no example file: {info!r}"
        path = ROOT / title.group(1)
        assert path.read_text() == body, f"{path} and its block in docs/testing.md differ"
        named.add(path.name)
    assert named == {p.name for p in EXAMPLES.glob("*.py")}
    assert len(named) == 4
    assert {lang for lang, _, _ in blocks} <= {"python", ""}
