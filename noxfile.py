"""Test sessions. Each integration gets its own environment (Airflow and Prefect do not
resolve into one). Environments live under ~/.cache/slurm-client/nox so a fresh clone
reuses them; uv makes re-installing the project into them take a second."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
CACHE = Path(os.environ.get("SLURM_CLIENT_CACHE", "~/.cache/slurm-client")).expanduser()
nox.options.envdir = str(CACHE / "nox")
nox.options.sessions = ["lint", "typecheck", "core", "airflow", "prefect", "dagster"]
nox.options.error_on_missing_interpreters = True

LINT_PATHS = ["slurm_core", "integrations", "tests", "examples", "bench", "noxfile.py"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and the import contract (layers, no cycles) in pyproject.toml's importlinter."""
    session.install("ruff>=0.5", "import-linter>=2.1", "-e", ".")
    session.run("ruff", "check", *LINT_PATHS)
    session.run("ruff", "format", "--check", *LINT_PATHS)
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev,fast,cli]")
    session.run("mypy", "--strict", "slurm_core")


CORE_EXTRAS = ".[dev,fast,cli,docs,graphviz,redis]"
UNIT = ["tests/unit"]
CLUSTER = ["tests/integration", "tests/oidc"]


@nox.session
def core(session: nox.Session) -> None:
    """Unit tests plus integration tests against the real local clusters (and the docs
    site's ``mkdocs build --strict``, a test of its own; graphviz for the drawing example of
    docs/concepts/graphs.md, run by tests/integration/test_docs_examples.py), and the OAuth2/OIDC
    tests against a real identity provider (tests/oidc: it installs itself in a cached venv).
    The Redis fleet's tests run a real redis-server, fetched from Debian into the cache by
    slurm_core.testing.redis (no root install); redis-py comes with the [redis] extra.
    ``make test`` runs the same tests as sessions side by side: ``unit`` and ``integration``."""
    session.install("-e", CORE_EXTRAS)
    session.run("pytest", "--durations=25", *UNIT, *CLUSTER, *session.posargs)


# The release whose cluster carries the slow one-release scenarios and most documented
# examples: its integration tests are a lane of their own, run beside the other releases'.
BUSY_RELEASE = "24.11"


def _releases() -> list[str]:
    raw = os.environ.get("SLURM_TEST_RELEASES", "")
    return [r.strip() for r in raw.split(",") if r.strip()] or ["22.05", "24.11", "26.05"]


def _without_cluster() -> list[str]:
    """Integration modules that use no cluster (fake, proxy): mention no release at all."""
    return [
        str(p)
        for p in sorted(Path("tests/integration").glob("test_*.py"))
        if not p.stem.endswith("_helpers")
        and not any(w in p.read_text(encoding="utf-8") for w in ("slurm_cluster", "release"))
    ]


@nox.session
@nox.parametrize("lane", ["busy", "rest"])
def integration(session: nox.Session, lane: str) -> None:
    """The part of ``core`` that waits on the real clusters and the identity provider, in
    two lanes that can run at once on distinct clusters: ``busy`` (24.11) and
    ``rest`` (the other releases of ``$SLURM_TEST_RELEASES``, and tests/oidc). The modules
    that use no cluster run in the first lane that has releases."""
    releases = _releases()
    busy = [r for r in releases if r == BUSY_RELEASE]
    rest = [r for r in releases if r != BUSY_RELEASE]
    mine = busy if lane == "busy" else rest
    if not mine:
        session.skip(f"no release of SLURM_TEST_RELEASES={','.join(releases)} in this lane")
    paths = ["tests/integration"]
    if lane == "rest" or not rest:
        paths.append("tests/oidc")
    if lane == "rest" and busy:
        paths += [f"--ignore={m}" for m in _without_cluster()]
    session.install("-e", CORE_EXTRAS)
    session.run(
        "pytest",
        "--durations=25",
        *paths,
        *session.posargs,
        env={"SLURM_TEST_RELEASES": ",".join(mine)},
    )


@nox.session
def unit(session: nox.Session) -> None:
    """The part of ``core`` that needs no cluster."""
    session.install("-e", CORE_EXTRAS)
    session.run("pytest", "--durations=15", *UNIT, *session.posargs)


def _orchestrator(session: nox.Session, name: str) -> None:
    """An orchestrator's own environment: its unit tests (on slurm_core.testing fixtures) and
    its integration tests (the real orchestrator in-process against the real clusters)."""
    session.install("-e", f".[{name},dev]")
    session.run("pytest", "--durations=15", f"tests/{name}", *session.posargs)


@nox.session
def airflow(session: nox.Session) -> None:
    _orchestrator(session, "airflow")


@nox.session
def prefect(session: nox.Session) -> None:
    _orchestrator(session, "prefect")


@nox.session
def dagster(session: nox.Session) -> None:
    _orchestrator(session, "dagster")


@nox.session
def demo(session: nox.Session) -> None:
    session.install("-e", ".[fast,functions]")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """``python -m bench``; Airflow is installed for the DAG-parse figure of bench/imports.py."""
    session.install("-e", ".[dev,fast,airflow]")
    session.run("python", "-m", "bench", *session.posargs)
