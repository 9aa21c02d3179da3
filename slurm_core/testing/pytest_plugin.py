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

``redis_server``
    A real ``redis-server`` (:class:`slurm_core.testing.redis.LocalRedis`: Debian's package,
    fetched once into the cache) on a free port, stopped after the test. If it cannot
    start, the test is skipped with the reason, or fails when ``$CI`` is ``true``.

``slurm_mock``
    A fresh :class:`~slurm_core.testing.MockSlurmClient`, verified when the test ends (not
    when the test already failed, to keep the report readable).

``slurm_fake``
    A fresh :class:`~slurm_core.testing.FakeSlurmServer` speaking ``slurm_fake_version``
    (default: the newest version; override the fixture, parametrize it, or parametrize
    ``slurm_fake`` indirectly with versions). ``@pytest.mark.slurm_fake(**options)`` passes
    options to the constructor (``default_runtime=5``, ``realtime=True``...).

``slurm_fake_client``
    A :class:`~slurm_core.SlurmClient` wired to ``slurm_fake`` (no sockets), closed after.

Example::

    @pytest.mark.parametrize("slurm_fake_version", ["v0.0.38", "v0.0.42"])
    def test_runs(slurm_fake, slurm_fake_client):
        job_id = slurm_fake_client.jobs.submit().command(["true"]).execute().job_id
        slurm_fake.advance(120)
        assert slurm_fake_client.jobs.get(job_id).state.is_success

This module is imported by every pytest run of everyone who installs slurm-client: keep
module-level imports cheap (heavy modules are imported inside the fixtures).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

# Annotations only (deferred for cost, no cycle): the fixtures import these when they run.
if TYPE_CHECKING:
    from slurm_core import SlurmClient
    from slurm_core.testing.cluster import LocalSlurmCluster
    from slurm_core.testing.fake import FakeSlurmServer
    from slurm_core.testing.mock import MockSlurmClient
    from slurm_core.testing.redis import LocalRedis

__all__ = [
    "redis_server",
    "slurm_cluster",
    "slurm_fake",
    "slurm_fake_client",
    "slurm_fake_version",
    "slurm_mock",
]

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
    config.addinivalue_line(
        "markers", "slurm_fake(**options): FakeSlurmServer options for the slurm_fake fixture"
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


def _unavailable(reason: str, what: str = "SLURM cluster") -> NoReturn:
    """Skip loudly, or fail in CI where a missing cluster is a broken pipeline."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} unavailable: {reason}", pytrace=False)
    pytest.skip(f"{what} unavailable: {reason}")


@pytest.fixture
def redis_server() -> Iterator[LocalRedis]:
    """A real redis-server on a free port, stopped after the test."""
    from slurm_core.testing.redis import LocalRedis, RedisUnavailable  # deferred: cheap plugin

    server = LocalRedis()
    try:
        server.start()
    except RedisUnavailable as exc:
        _unavailable(str(exc), "redis-server")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def slurm_cluster(request: pytest.FixtureRequest) -> Iterator[LocalSlurmCluster]:
    """A running real SLURM cluster of the release given by the parameter."""
    # deferred: ~27 ms, not a cycle
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


# ------------------------------------------------------------- mock and fake fixtures -------
_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    # old-style wrapper: works with every pytest the plugin may be loaded into
    outcome: Any = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True


@pytest.fixture
def slurm_mock(request: pytest.FixtureRequest) -> Iterator[MockSlurmClient]:
    """A fresh MockSlurmClient, verified at teardown (unless the test itself failed)."""
    from slurm_core.testing.mock import MockSlurmClient  # deferred: ~0.35 s, not a cycle

    mock = MockSlurmClient()
    yield mock
    if not request.node.stash.get(_CALL_FAILED, False):
        mock.verify()


@pytest.fixture
def slurm_fake_version() -> str:
    """The REST API version ``slurm_fake`` speaks: the newest by default (override me)."""
    from slurm_core._versions import CLIENT_VERSIONS  # deferred: ~0.3 s, not a cycle

    return CLIENT_VERSIONS[-1]


@pytest.fixture
def slurm_fake(request: pytest.FixtureRequest, slurm_fake_version: str) -> FakeSlurmServer:
    """A fresh FakeSlurmServer (version: indirect parameter, else ``slurm_fake_version``)."""
    from slurm_core.testing.fake import FakeSlurmServer  # deferred: ~0.5 s, not a cycle

    version = getattr(request, "param", None) or slurm_fake_version
    marker = request.node.get_closest_marker("slurm_fake")
    options = dict(marker.kwargs) if marker is not None else {}
    return FakeSlurmServer(api_version=version, **options)


@pytest.fixture
def slurm_fake_client(slurm_fake: FakeSlurmServer) -> Iterator[SlurmClient]:
    """A SlurmClient on ``slurm_fake``'s in-process transport, closed after the test."""
    client: SlurmClient = slurm_fake.client()
    with client:
        yield client
