"""pytest plugin of slurm-client (entry point ``slurm_client``): fixtures for SLURM tests.

``slurm_cluster``
    A real local cluster (:class:`slurm_core.testing.cluster.LocalSlurmCluster`), one per
    release in ``$SLURM_TEST_RELEASES`` (comma list, default: all), started once per session
    and parametrized with the release as id. A cluster that is already running (e.g. from
    ``python -m slurm_core.testing.cluster up``) is reused and left running; one started
    here is stopped at the end of the session. If it cannot start, the test is skipped with
    the reason, or fails when ``$CI`` is ``true``. Tests using it are marked ``integration``.

Example::

    def test_diag(slurm_cluster):
        r = httpx.get(f"{slurm_cluster.rest_url}/slurm/{slurm_cluster.served_versions[-1]}/diag",
                      headers={"X-SLURM-USER-TOKEN": slurm_cluster.token()})
        assert r.status_code == 200

This module is imported by every pytest run of everyone who installs slurm-client: keep
module-level imports cheap (heavy modules are imported inside the fixtures).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from slurm_core.testing.cluster import LocalSlurmCluster

__all__ = ["slurm_cluster"]

_RELEASE_ENV = "SLURM_TEST_RELEASES"
_DEFAULT_RELEASES = ("22.05", "24.11", "26.05")


def _test_releases() -> list[str]:
    raw = os.environ.get(_RELEASE_ENV, "")
    releases = [r.strip() for r in raw.split(",") if r.strip()]
    return releases or list(_DEFAULT_RELEASES)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs a real local SLURM cluster (slurm_cluster fixture)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "slurm_cluster" in metafunc.fixturenames:
        releases = _test_releases()
        # Session scope: each release's cluster serves every test of that release.
        metafunc.parametrize(
            "slurm_cluster", releases, ids=releases, indirect=True, scope="session"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "slurm_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def _unavailable(reason: str) -> NoReturn:
    """Skip loudly, or fail in CI where a missing cluster is a broken pipeline."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"SLURM cluster unavailable: {reason}", pytrace=False)
    pytest.skip(f"SLURM cluster unavailable: {reason}")


@pytest.fixture(scope="session")
def slurm_cluster(request: pytest.FixtureRequest) -> Iterator[LocalSlurmCluster]:
    """A running real SLURM cluster of the release given by the parameter."""
    from slurm_core.testing.cluster import ClusterError, LocalSlurmCluster

    release: str = getattr(request, "param", _test_releases()[0])
    try:
        running = LocalSlurmCluster.running(release)
    except ValueError as exc:  # unknown release in SLURM_TEST_RELEASES
        _unavailable(str(exc))
    if running is not None:
        yield running
        return
    cluster = LocalSlurmCluster(release)
    try:
        cluster.start()
    except ClusterError as exc:
        _unavailable(f"SLURM {release} cannot start: {exc}")
    try:
        yield cluster
    finally:
        # Another process may have started it while we waited for its lock: leave it be.
        if cluster.started_here:
            cluster.stop()
