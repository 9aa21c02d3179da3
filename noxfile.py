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


@nox.session
def core(session: nox.Session) -> None:
    """Unit tests plus integration tests against the real local clusters (and the docs
    site's ``mkdocs build --strict``, a test of its own; graphviz for the drawing example of
    docs/concepts/graphs.md, run by tests/integration/test_docs_examples.py), and the OAuth2/OIDC
    tests against a real identity provider (tests/oidc: it installs itself in a cached venv).
    The Redis fleet's tests run a real redis-server, fetched from Debian into the cache by
    slurm_core.testing.redis (no root install); redis-py comes with the [redis] extra."""
    session.install("-e", ".[dev,fast,cli,docs,graphviz,redis]")
    session.run(
        "pytest",
        "--durations=25",
        "tests/unit",
        "tests/integration",
        "tests/oidc",
        *session.posargs,
    )


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
def unit(session: nox.Session) -> None:
    session.install("-e", ".[dev,fast,cli,docs,redis]")
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    session.install("-e", ".[fast,functions]")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """``python -m bench``; Airflow is installed for the DAG-parse figure of bench/imports.py."""
    session.install("-e", ".[dev,fast,airflow]")
    session.run("python", "-m", "bench", *session.posargs)
