"""Prefect test setup: a throw-away Prefect home and one temporary Prefect server per session.

The environment is set before Prefect is imported (its settings are read at import), so no
test touches the developer's ~/.prefect, profiles or API. ``prefect_test_harness`` then runs
a real Prefect server on a temporary SQLite database for the whole session.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

_HOME = tempfile.mkdtemp(prefix="slurm-prefect-tests-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
for _name in [n for n in os.environ if n.startswith("PREFECT_")]:
    del os.environ[_name]
os.environ.update(
    {
        "PREFECT_HOME": _HOME,
        "PREFECT_PROFILES_PATH": os.path.join(_HOME, "profiles.toml"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        "PREFECT_UI_ENABLED": "false",
        # Runner-driven flow runs (the cancellation test) poll for cancellation this often.
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
)

import pytest  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def prefect_server() -> Iterator[None]:
    """A temporary Prefect server (SQLite in a temp dir) for the whole session."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
