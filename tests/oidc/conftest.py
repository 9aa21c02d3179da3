"""Fixtures of the OIDC tests: a real identity provider, a real cluster that trusts it.

``idp``: django-oauth-toolkit started on a free port for the session (access tokens live
``TOKEN_LIFETIME`` seconds, so expiry happens within a test), stopped at the end.

``trusted_cluster``: the ``slurm_cluster`` of the release, made to trust the provider's
current JWKS. Only 26.05 is touched: the clusters are shared, and 26.05's
``scontrol reconfigure`` reloads the key set in a fraction of a second (24.11 could too;
22.05 would need a slurmctld restart, and answers Bearer tokens with 401 anyway).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from idp import JWKS_RELEASE, TOKEN_LIFETIME, LocalIdP, trust

from slurm_core.testing.cluster import LocalSlurmCluster


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


@pytest.fixture
def trusted_cluster(slurm_cluster: LocalSlurmCluster, idp: LocalIdP) -> LocalSlurmCluster:
    if slurm_cluster.release != JWKS_RELEASE:
        pytest.skip(f"only SLURM {JWKS_RELEASE} is made to trust the test JWKS (shared clusters)")
    trust(slurm_cluster, idp)
    return slurm_cluster
