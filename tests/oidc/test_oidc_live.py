"""OAuth2/OIDC providers against a real identity provider and a real SLURM that trusts it.

The identity provider is django-oauth-toolkit (``idp.py``), its access tokens RS256 JWTs
naming the Slurm user in ``preferred_username``; SLURM 26.05 verifies them with
``AuthAltParameters=jwt_key=...,jwks=/etc/slurm/jwks.json,userclaimfield=preferred_username``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from idp import CLI_CLIENT, REVOCABLE_CLIENT, SERVICE_CLIENT, TOKEN_LIFETIME, LocalIdP, trust

from slurm_core import AuthenticationError, SlurmClient
from slurm_core.auth import (
    ClientCredentials,
    DeviceAuthorization,
    RefreshTokenAuth,
    RefreshTokenFile,
)
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import WatchOptions

pytestmark = pytest.mark.integration
QUICK = WatchOptions(min_interval=0.5, initial_interval=0.5, max_interval=2.0, backoff=1.5)


class CountingCredentials(ClientCredentials):
    """Counts the tokens obtained (how often the provider went to the identity provider)."""

    fetched = 0

    def _fetch(self) -> str:
        self.fetched += 1
        return super()._fetch()


class HeaderRecorder(httpx.HTTPTransport):
    """Remembers the headers of every request sent to slurmrestd."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append({k.lower(): v for k, v in request.headers.items()})
        return super().handle_request(request)


def service(idp: LocalIdP, client_id: str = SERVICE_CLIENT, **kw: object) -> ClientCredentials:
    return CountingCredentials(idp.issuer, client_id, idp.secrets[client_id], **kw)  # type: ignore[arg-type]


def submit(client: SlurmClient, cluster: LocalSlurmCluster, script: str) -> int:
    job_id: int = (
        client.jobs.submit()
        .script(f"#!/bin/sh\n{script}\n")
        .name(f"oidc-{uuid.uuid4().hex[:6]}")
        .working_directory(cluster.shared_dir)
        .time_limit(2)
        .execute()
        .job_id
    )
    # The clusters are shared: put this job ahead of other tests' pending ones.
    cluster.run(["scontrol", "update", f"jobid={job_id}", "priority=1000000000"])
    return job_id


def test_a_client_credentials_token_reaches_slurmrestd_as_the_mapped_user(
    trusted_cluster: LocalSlurmCluster, idp: LocalIdP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = service(idp)
    out = Path(trusted_cluster.shared_dir) / f"whoami-{uuid.uuid4().hex[:8]}.txt"
    transport = HeaderRecorder()
    with SlurmClient(trusted_cluster.rest_url, auth=auth, transport=transport) as client:
        client.jobs.watch_options = QUICK
        job_id = submit(client, trusted_cluster, f"id -un > {out}")
        done = client.jobs.wait(job_id, timeout=90)
    assert done.user_name == "alice"  # the client's owner, from preferred_username
    assert out.read_text().strip() == "alice"
    assert transport.seen
    assert all(
        h.get("authorization", "").startswith("Bearer ey") and "x-slurm-user-token" not in h
        for h in transport.seen
    )
    token = auth.token().get()
    assert token not in caplog.text
    assert idp.secrets[SERVICE_CLIENT] not in caplog.text
    assert token not in repr(auth)
    assert idp.secrets[SERVICE_CLIENT] not in repr(auth)


def test_a_watch_outlives_its_tokens_and_refreshes_them_on_the_way(
    trusted_cluster: LocalSlurmCluster, idp: LocalIdP
) -> None:
    auth = service(idp)
    runtime = TOKEN_LIFETIME + 8
    with SlurmClient(trusted_cluster.rest_url, auth=auth) as client:
        client.jobs.watch_options = QUICK
        job_id = submit(client, trusted_cluster, f"sleep {runtime}")
        first_expiry = auth.expires_at
        assert first_expiry is not None
        done = client.jobs.wait(job_id, timeout=120)
    assert done.state.is_success
    assert time.time() > first_expiry  # the first token died during the watch...
    assert auth.fetched >= 2  # ...and the provider fetched fresh ones without a failure
    assert auth.expires_at is not None
    assert auth.expires_at > first_expiry


def test_a_revoked_client_gives_a_clear_authentication_error(
    trusted_cluster: LocalSlurmCluster, idp: LocalIdP
) -> None:
    offset = [0.0]
    auth = service(idp, REVOCABLE_CLIENT, clock=lambda: time.time() + offset[0])
    with SlurmClient(trusted_cluster.rest_url, auth=auth) as client:
        client.diag()
        idp.delete_client(REVOCABLE_CLIENT)
        # A JWT is self-contained: the token in hand keeps working until it expires.
        client.diag()
        offset[0] = TOKEN_LIFETIME + 1  # ...then the provider must go back to the issuer
        with pytest.raises(AuthenticationError) as raised:
            client.diag()
    message = str(raised.value)
    assert "invalid_client" in message
    assert REVOCABLE_CLIENT in message
    assert "revoked" in message
    assert idp.secrets[REVOCABLE_CLIENT] not in message
    # A new process with the revoked credentials fails at once, just as clearly.
    fresh = ClientCredentials(idp.issuer, REVOCABLE_CLIENT, idp.secrets[REVOCABLE_CLIENT])
    with (
        SlurmClient(trusted_cluster.rest_url, auth=fresh) as client,
        pytest.raises(AuthenticationError, match="invalid_client"),
    ):
        client.diag()


def test_a_device_login_stores_a_refresh_token_a_later_process_uses(
    trusted_cluster: LocalSlurmCluster, idp: LocalIdP, tmp_path: Path
) -> None:
    store = RefreshTokenFile(tmp_path / "refresh-token")
    login = DeviceAuthorization(idp.issuer, CLI_CLIENT, store=store)
    code = login.start()
    assert code.verification_uri.startswith(idp.issuer)
    idp.approve_device(code.user_code, "alice")
    login.wait(code, sleep=lambda s: time.sleep(min(s, 1)))
    assert (store.path.stat().st_mode & 0o777) == 0o600
    first = store.load()
    assert first is not None
    with SlurmClient(trusted_cluster.rest_url, auth=login) as client:
        client.diag()
    # Later, another process: only the stored refresh token.
    later = RefreshTokenAuth(idp.issuer, CLI_CLIENT, store=store)
    with SlurmClient(trusted_cluster.rest_url, auth=later) as client:
        client.jobs.watch_options = QUICK
        job = client.jobs.wait(submit(client, trusted_cluster, "true"), timeout=90)
    assert job.user_name == "alice"
    rotated = store.load()
    assert rotated is not None
    assert rotated != first


def test_a_rotated_signing_key_is_refused_until_the_cluster_reloads_its_jwks(
    trusted_cluster: LocalSlurmCluster, idp: LocalIdP
) -> None:
    old_key_auth = service(idp)
    with SlurmClient(trusted_cluster.rest_url, auth=old_key_auth) as client:
        client.diag()
    idp.rotate_key(keep_old_published=False)
    auth = service(idp)
    with SlurmClient(trusted_cluster.rest_url, auth=auth) as client:
        # The cluster does not know the new key yet: one refresh, then a clear error.
        with pytest.raises(AuthenticationError) as raised:
            client.diag()
        assert auth.fetched == 2
        # What the user sees (26.05): HTTP 511, [1007] Protocol authentication error.
        assert raised.value.status_code == 511
        assert raised.value.error_numbers == [1007]
        took = trust(trusted_cluster, idp)
        assert took < 5
        client.diag()  # the same client works once the cluster reloaded the keys
    # A client still holding a token of the retired key recovers by itself: rejected,
    # refreshed once, accepted.
    with SlurmClient(trusted_cluster.rest_url, auth=old_key_auth) as client:
        client.diag()
    assert old_key_auth.fetched == 2


def test_slurm_client_login_keeps_a_refresh_token_that_reaches_the_cluster(
    trusted_cluster: LocalSlurmCluster, idp: LocalIdP, tmp_path: Path
) -> None:
    token_file = tmp_path / "cli" / "refresh-token"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slurm_core.cli",
            "login",
            "--issuer",
            idp.issuer,
            "--client-id",
            CLI_CLIENT,
            "--token-file",
            str(token_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert proc.stderr is not None
    prompt = proc.stderr.readline()  # "Open <url> and enter the code <code>"
    found = re.search(r"Open (\S+) and enter the code (\S+)", prompt)
    assert found, prompt
    assert found.group(1) == idp.issuer + "/device/"
    idp.approve_device(found.group(2), "alice")  # the person, in their browser
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Logged in" in out
    assert (token_file.stat().st_mode & 0o777) == 0o600
    stored = token_file.read_text().strip()
    assert stored not in out + err + prompt
    later = RefreshTokenAuth(idp.issuer, CLI_CLIENT, store=RefreshTokenFile(token_file))
    with SlurmClient(trusted_cluster.rest_url, auth=later) as client:
        client.diag()
