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
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
from slurm_prefect import SlurmCredentials  # noqa: E402

if TYPE_CHECKING:
    from slurm_core.testing.cluster import LocalSlurmCluster


@pytest.fixture(autouse=True, scope="session")
def prefect_server() -> Iterator[None]:
    """A temporary Prefect server (SQLite in a temp dir) for the whole session."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ---------------------------------------------------------------------- real clusters
# One release by default keeps a local run short; CI (CI=true) or an explicit
# SLURM_TEST_RELEASES runs every release the plugin parametrizes.
DEFAULT_RELEASE = "26.05"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SLURM_TEST_RELEASES") or os.environ.get("CI", "").lower() == "true":
        return
    here = os.path.dirname(__file__)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        release = callspec.params.get("slurm_cluster") if callspec is not None else None
        mine = str(item.path).startswith(here)
        (drop if mine and release not in (None, DEFAULT_RELEASE) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def cluster_credentials(slurm_cluster: LocalSlurmCluster) -> SlurmCredentials:
    """Credentials for the cluster's default user (alice), with a fresh token."""
    return SlurmCredentials(
        url=slurm_cluster.rest_url, token=slurm_cluster.token(), user_name=slurm_cluster.user_name
    )


@pytest.fixture
def work_dir(slurm_cluster: LocalSlurmCluster, request: pytest.FixtureRequest) -> Path:
    """A fresh directory on the cluster's shared filesystem, writable by the job's user."""
    base = slurm_cluster.shared_dir / "prefect-tests"
    path = base / f"{request.node.name[:40]}-{uuid.uuid4().hex[:6]}"
    for directory in (base, path):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o1777)
    return path
