"""Every documented example runs exactly as written, against a real cluster.

One test per page: ``README.md``, ``docs/*.md`` and ``docs/concepts/*.md`` (the orchestrator
pages ``docs/{airflow,prefect,dagster}.md`` are run in their orchestrators' environments).
Each page's ```python blocks run in order in one namespace, as a reader would paste them:

- the environment is the cluster's (``SLURM_REST_URL``, ``SLURM_JWT``, ``SLURM_USER_NAME``)
  and the working directory a fresh directory on the cluster's shared filesystem, so a job's
  working directory and output exist on both sides;
- a block with top-level ``await``/``async with``/``async for`` runs on the page's event loop;
- a block whose info string names a file (```python title="train.py") is a listing: it is
  written there for the following blocks to use (and compiled); a listing named
  ``test_*.py`` is a pytest module, run with the page's environment after the blocks;
- nothing is skipped: a python block that is neither run nor written fails the page.

Pages run on the release :data:`DOCS_RELEASE`; a page saying ``<!-- run: every release -->``
(the README's quickstart) runs on each release of ``SLURM_TEST_RELEASES``. A page that needs
a real part this runner does not start says ``<!-- run: by tests/x/test_y.py (why) -->``:
that test module must exist and name the page, and it runs the page's blocks instead.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import shlex
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from slurm_core import SlurmClient
from slurm_core.testing.cluster import LocalSlurmCluster

ROOT = Path(__file__).resolve().parents[2]
DOCS_RELEASE = "24.11"
ORCHESTRATOR_PAGES = {"airflow.md", "prefect.md", "dagster.md"}
PAGES = sorted(
    p.relative_to(ROOT).as_posix()
    for p in [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "docs/concepts").glob("*.md"),
    ]
    if not (p.parent == ROOT / "docs" and p.name in ORCHESTRATOR_PAGES)
)
_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>.*)$")
_TITLE = re.compile(r'\btitle="(?P<title>[^"]+)"')
_MARKER = re.compile(r"<!--\s*run:\s*(?P<mode>[^>]*?)\s*-->")
_PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class Block:
    lang: str
    title: str | None
    line: int  # 1-based line of the block's first code line
    code: str


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a markdown page (indented ones, e.g. in admonitions, too)."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, info = m["indent"], m["info"].strip()
        end = i + 1
        while end < len(lines) and lines[end].rstrip() != f"{indent}```":
            end += 1
        assert end < len(lines), f"unclosed ``` fence at line {i + 1}"
        body = "".join(line[len(indent) :] + "\n" for line in lines[i + 1 : end])
        title = _TITLE.search(info)
        out.append(Block(info.split()[0] if info else "", title and title["title"], i + 2, body))
        i = end + 1
    return out


def modes(text: str) -> set[str]:
    return {m["mode"] for m in _MARKER.finditer(text)}


def test_blocks_are_found_with_their_lines_titles_and_indentation() -> None:
    page = (
        'x\n```python\na = 1\n```\n!!! note\n    ```python title="t.py"\n    b = 2\n    ```\n'
        "```bash\nls\n```\n"
    )
    assert blocks(page) == [
        Block("python", None, 3, "a = 1\n"),
        Block("python", "t.py", 7, "b = 2\n"),
        Block("bash", None, 10, "ls\n"),
    ]


def test_every_page_is_collected() -> None:
    assert "README.md" in PAGES
    assert "docs/concepts/submission.md" in PAGES
    assert not any(Path(p).name in ORCHESTRATOR_PAGES for p in PAGES)


def _run_block(
    block: Block, page: str, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> None:
    # Padded so that a traceback names the page's own line numbers.
    source = "\n" * (block.line - 1) + block.code
    code = compile(source, str(ROOT / page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        loop.run_until_complete(eval(code, namespace))  # noqa: S307 (our own docs)
    else:
        exec(code, namespace)  # noqa: S102 (our own docs)


def _workdir(cluster: LocalSlurmCluster, page: str) -> Path:
    # On the shared filesystem, writable by the job's user (jobs write their output here).
    path = cluster.shared_dir / f"docs-{Path(page).stem}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    path.chmod(0o777)
    return path


def _login_node_commands(cluster: LocalSlurmCluster, tmp_path: Path) -> Path:
    """A directory with the cluster's own ``scontrol``, run as its user, as on a login node."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    user = cluster.user_name
    wrapper = bin_dir / "scontrol"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec env -u SLURM_JWT chroot {shlex.quote(str(cluster.root))} setpriv --reuid={user}"
        f' --regid={user} --init-groups scontrol "$@"\n'
    )
    wrapper.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(
    page: str,
    slurm_cluster: LocalSlurmCluster,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    text = (ROOT / page).read_text()
    if slurm_cluster.release != DOCS_RELEASE and "every release" not in modes(text):
        pytest.skip(f"the documented examples run on Slurm {DOCS_RELEASE}")
    delegated = [m for m in modes(text) if m.startswith("by ")]
    unknown = modes(text) - {"every release", *delegated}
    assert not unknown, f"{page}: unknown <!-- run: ... --> marker(s) {unknown}"
    if delegated:
        runner = ROOT / delegated[0].split()[1]
        assert runner.is_file(), f"{page}: {runner} does not exist"
        assert Path(page).name in runner.read_text(), f"{runner} does not run {page}"
        return  # that module runs the page with the real parts it needs
    python = [b for b in blocks(text) if b.lang in _PYTHON or b.lang.startswith("py")]
    if not python:
        return  # nothing to run on this page (still collected, so a new block is picked up)

    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        if name != "SLURM_TEST_RELEASES":
            monkeypatch.delenv(name)
    for name, value in slurm_cluster.env().items():
        monkeypatch.setenv(name, value)
    commands = _login_node_commands(slurm_cluster, tmp_path)
    monkeypatch.setenv("PATH", f"{commands}{os.pathsep}{os.environ['PATH']}")
    workdir = _workdir(slurm_cluster, page)
    monkeypatch.chdir(workdir)
    monkeypatch.syspath_prepend(str(workdir))

    namespace: dict[str, Any] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    listings: list[Path] = []
    try:
        for block in python:
            assert block.lang in _PYTHON, f"{page}:{block.line}: unsupported block {block.lang!r}"
            if block.title:
                compile(block.code, f"{page}:{block.line}", "exec")
                path = workdir / block.title
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(block.code)
                path.chmod(0o644)
                listings.append(path)
            else:
                _run_block(block, page, namespace, loop)
    finally:
        loop.close()
        _cancel_leftovers(workdir)

    tests = [p for p in listings if p.name.startswith("test_")]
    for path in listings:
        others = "".join(b.code for b in python if b.title != path.relative_to(workdir).as_posix())
        used = path.name in others or re.search(rf"^\s*(from|import) {path.stem}\b", others, re.M)
        assert path in tests or used, f"{page}: no block uses the listing {path.name}"
    if tests:
        _run_pytest(tests, workdir, slurm_cluster)


def _cancel_leftovers(workdir: Path) -> None:
    """Cancel the page's jobs still queued or running: the cluster is shared."""
    with SlurmClient.from_env() as client:
        for job in client.jobs.list(states=["PENDING", "RUNNING"]):
            if job.working_directory == str(workdir):
                client.jobs.cancel(job.job_id)


def _run_pytest(tests: list[Path], workdir: Path, cluster: LocalSlurmCluster) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(cluster.env(), SLURM_TEST_RELEASES=cluster.release)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, tests)]
    result = subprocess.run(
        cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    report = f"{shlex.join(cmd)}\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
    assert result.returncode == 0, report
    assert " passed" in result.stdout, report
    assert "skipped" not in result.stdout, report
