"""docs/sbatch.md runs as written against each real cluster.

Its first ``bash`` block is ``job.sh``; every ``python`` block runs in a fresh interpreter
and every ``$ command`` of the ``console`` block in bash, from a directory of the cluster's
shared dir holding ``job.sh``, with the cluster's ``SLURM_REST_URL``/``SLURM_JWT``. What a
``# comment`` after a ``print`` (or on the next line) shows is what it must print; what a
console block shows after a command is its output, any number standing for any number.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_submit_helpers import unique

from slurm_core.testing.cluster import LocalSlurmCluster

DOC = Path(__file__).resolve().parents[2] / "docs" / "sbatch.md"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in _BLOCK.findall(DOC.read_text()) if kind == lang]


def expected_prints(code: str) -> list[str]:
    lines = code.splitlines()
    out = []
    for i, line in enumerate(lines):
        if "print(" not in line:
            continue
        if "  # " in line:
            out.append(line.split("  # ", 1)[1])
        elif i + 1 < len(lines) and lines[i + 1].startswith("# "):
            out.append(lines[i + 1][2:])
    return out


@pytest.fixture
def workdir(slurm_cluster: LocalSlurmCluster) -> tuple[Path, dict[str, str]]:
    where = slurm_cluster.shared_dir / unique("docs-sbatch")
    where.mkdir(mode=0o777)
    where.chmod(0o777)
    (where / "job.sh").write_text(blocks("bash")[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env.update(slurm_cluster.env())
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return where, env


def test_the_script_block_is_a_batch_script() -> None:
    assert blocks("bash")[0].startswith("#!/bin/bash\n#SBATCH --job-name=hello\n")
    assert len(blocks("python")) == 4
    assert len(blocks("console")) == 1


@pytest.mark.parametrize("index", range(4))
def test_python_block(index: int, workdir: tuple[Path, dict[str, str]]) -> None:
    where, env = workdir
    code = blocks("python")[index]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=where, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_prints(code)


def test_console_block(
    slurm_cluster: LocalSlurmCluster, workdir: tuple[Path, dict[str, str]]
) -> None:
    where, env = workdir
    lines = blocks("console")[0].splitlines()
    commands = [(i, line[2:]) for i, line in enumerate(lines) if line.startswith("$ ")]
    submitted: list[str] = []
    try:
        for n, (i, command) in enumerate(commands):
            end = commands[n + 1][0] if n + 1 < len(commands) else len(lines)
            shown = lines[i + 1 : end]
            result = subprocess.run(
                ["bash", "-c", command], cwd=where, env=env, capture_output=True, text=True,
                timeout=120, check=False,
            )  # fmt: skip
            assert result.returncode == 0, f"{command}: {result.stderr}"
            got = result.stdout.splitlines()
            ids = (re.fullmatch(r"(?:Submitted batch job )?(\d+)", line) for line in got)
            submitted += [m[1] for m in ids if m]
            if shown:
                patterns = [re.sub(r"\d+", r"\\d+", re.escape(s)) for s in shown]
                assert len(got) == len(shown), f"{command}: {got}"
                for pattern, line in zip(patterns, got, strict=True):
                    assert re.fullmatch(pattern, line), f"{command}: {line!r} is not {pattern!r}"
        assert len(submitted) == 3
    finally:
        for job_id in submitted:
            slurm_cluster.run(["scancel", job_id])
