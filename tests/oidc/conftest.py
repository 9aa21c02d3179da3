"""Fixtures of the OIDC tests: a real identity provider, a real cluster that trusts it.

``idp``: django-oauth-toolkit started on a free port for the session (access tokens live
``TOKEN_LIFETIME`` seconds, so expiry happens within a test), stopped at the end.

``trusted_cluster``: SLURM 26.05, made to trust the provider's current JWKS. Only 26.05
is touched: the clusters are shared, and its ``scontrol reconfigure`` reloads the key set
in a fraction of a second (24.11 could too; 22.05 would need a slurmctld restart).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from idp import JWKS_RELEASE, TOKEN_LIFETIME, LocalIdP, trust

from slurm_core.testing.cluster import ClusterError, LocalSlurmCluster
from slurm_core.testing.pytest_plugin import _test_releases, _unavailable


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIdP]:
    provider = LocalIdP(tmp_path_factory.mktemp("idp"), token_lifetime=TOKEN_LIFETIME)
    try:
        provider.start()
    except Exception as exc:  # no venv could be made (no network to PyPI...)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the OIDC provider cannot start: {exc}", pytrace=False)
        pytest.skip(f"the OIDC provider cannot start: {exc}")
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def jwks_cluster() -> Iterator[LocalSlurmCluster]:
    """SLURM 26.05, running (reused, or started with ``jwks=True`` and stopped after).

    Not the ``slurm_cluster`` fixture: that one is parametrized over every release, and
    these tests must not start or touch the others.
    """
    if JWKS_RELEASE not in _test_releases():
        pytest.skip(f"SLURM {JWKS_RELEASE} is not in SLURM_TEST_RELEASES")
    running = LocalSlurmCluster.running(JWKS_RELEASE)
    if running is not None:
        yield running
        return
    cluster = LocalSlurmCluster(JWKS_RELEASE, jwks=True)
    try:
        cluster.start()
    except ClusterError as exc:
        _unavailable(f"SLURM {JWKS_RELEASE} cannot start: {exc}")
    try:
        yield cluster
    finally:
        if cluster.started_here:
            cluster.stop()


@pytest.fixture
def trusted_cluster(jwks_cluster: LocalSlurmCluster, idp: LocalIdP) -> LocalSlurmCluster:
    trust(jwks_cluster, idp)
    return jwks_cluster
