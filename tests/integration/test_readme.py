"""The README's quickstart runs as written against each real cluster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart() -> str:
    text = README.read_text()
    section = text[text.index("## Quickstart") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README has no python quickstart block"
    return match.group(1)


def test_quickstart_submits_waits_and_prints_the_exit_code(slurm_cluster: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(slurm_cluster.env())
    result = subprocess.run(
        [sys.executable, "-c", quickstart()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["COMPLETED", "0"]
