"""SlurmCredentials: validation, translation into slurm_core auth/TLS, and secrecy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from prefect.client.orchestration import get_client
from pydantic import ValidationError
from slurm_prefect import SlurmCredentials

from slurm_core import ConfigurationError

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"
PING = {"pings": [{"hostname": "c1", "pinged": "UP", "responding": True, "latency": 5}]}


class Recorder:
    """An httpx transport answering every request with a ping body, keeping the requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=PING)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def _headers_after_ping(credentials: SlurmCredentials) -> httpx.Headers:
    recorder = Recorder()
    with credentials.get_client(transport=recorder.transport()) as client:
        client.ping()
    # (the pinned version is checked against the server's OpenAPI document first)
    assert recorder.requests[-1].url.path == "/slurm/v0.0.42/ping"
    return recorder.requests[-1].headers


# ----------------------------------------------------------------------- validation ----------
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "no token: set one of token, token_file"),
        ({"token": TOKEN, "token_file": "/t"}, "one token source, not token and token_file"),
        ({"token": "  "}, "token must be a non-empty string"),
        ({"token_command": []}, "no token: set one of"),
        ({"jwt_key_file": "/k"}, "jwt_key_file needs user_name"),
        ({"token": TOKEN, "verify": False, "ca_bundle": "/ca.pem"}, "with verify false"),
        ({"token": TOKEN, "client_key": "/k.pem"}, "client_key given without client_cert"),
        ({"token": TOKEN, "url": " "}, "url is required"),
        ({"token": TOKEN, "working_directory": "rel"}, "working_directory must be an absolute"),
        ({"token": TOKEN, "poll_interval": 0}, "greater than 0"),
        ({"token": TOKEN, "timeout": 0}, "greater than 0"),
    ],
)
def test_invalid_settings_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlurmCredentials(**{"url": "http://slurm:6820", **fields})


def test_a_unix_socket_needs_no_token() -> None:
    assert SlurmCredentials(url="unix:/run/slurmrestd.sock").auth() is None


# ----------------------------------------------------------------------- auth ----------------
def test_static_token_and_user_name_reach_the_headers() -> None:
    creds = SlurmCredentials(
        url="http://slurm:6820", token=TOKEN, user_name="alice", api_version="v0.0.42"
    )
    headers = _headers_after_ping(creds)
    assert headers["X-SLURM-USER-TOKEN"] == TOKEN
    assert headers["X-SLURM-USER-NAME"] == "alice"
    assert "Authorization" not in headers


def test_bearer_header_style() -> None:
    creds = SlurmCredentials(
        url="http://slurm:6820", token=TOKEN, header_style="bearer", api_version="v0.0.42"
    )
    headers = _headers_after_ping(creds)
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-SLURM-USER-TOKEN" not in headers
    assert headers["X-SLURM-USER-NAME"] == "alice"  # from the token's sun claim


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    path.write_text(f"SLURM_JWT={TOKEN}\n")
    creds = SlurmCredentials(url="http://slurm:6820", token_file=path, api_version="v0.0.42")
    assert _headers_after_ping(creds)["X-SLURM-USER-TOKEN"] == TOKEN


def test_token_command() -> None:
    command = [sys.executable, "-c", f"print('SLURM_JWT={TOKEN}')"]
    creds = SlurmCredentials(url="http://slurm:6820", token_command=command, api_version="v0.0.42")
    assert _headers_after_ping(creds)["X-SLURM-USER-TOKEN"] == TOKEN


def test_jwt_key_file_mints_tokens_for_the_user(tmp_path: Path) -> None:
    key = tmp_path / "jwt_hs256.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)  # a key others can read is refused
    creds = SlurmCredentials(
        url="http://slurm:6820",
        jwt_key_file=key,
        user_name="bob",
        jwt_lifespan=600,
        api_version="v0.0.42",
    )
    headers = _headers_after_ping(creds)
    claims = jwt.decode(headers["X-SLURM-USER-TOKEN"], b"k" * 32, algorithms=["HS256"])
    assert claims["sun"] == "bob"
    assert claims["exp"] - claims["iat"] == 600
    assert headers["X-SLURM-USER-NAME"] == "bob"


@pytest.mark.anyio
async def test_async_client_sends_the_same_headers() -> None:
    recorder = Recorder()
    creds = SlurmCredentials(
        url="http://slurm:6820", token=TOKEN, user_name="alice", api_version="v0.0.42"
    )
    async with creds.get_async_client(transport=recorder.transport()) as client:
        pings = await client.ping()
    assert pings[0].responding
    assert recorder.requests[-1].headers["X-SLURM-USER-TOKEN"] == TOKEN
    assert recorder.requests[-1].headers["X-SLURM-USER-NAME"] == "alice"


# ----------------------------------------------------------------------- TLS -----------------
@pytest.mark.parametrize(
    ("fields", "verify", "cert"),
    [
        ({}, True, None),
        ({"verify": False}, False, None),
        ({"ca_bundle": "/etc/ca.pem"}, "/etc/ca.pem", None),
        ({"client_cert": "/c.pem"}, True, "/c.pem"),
        ({"client_cert": "/c.pem", "client_key": "/k.pem"}, True, ("/c.pem", "/k.pem")),
    ],
)
def test_tls_settings_translate_to_client_options(
    fields: dict[str, Any], verify: object, cert: object
) -> None:
    creds = SlurmCredentials(url="https://slurm:6820", token=TOKEN, **fields)
    settings = creds.settings()  # what the clients are built from
    assert settings.verify == verify
    assert settings.cert == cert


def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    """The CA bundle is really used: one that does not exist cannot build a client."""
    creds = SlurmCredentials(
        url="https://slurm:6820", token=TOKEN, ca_bundle=tmp_path / "missing-ca.pem"
    )
    with pytest.raises(ConfigurationError, match="TLS configuration failed"):
        creds.get_client().close()


# ----------------------------------------------------------------------- secrecy -------------
def test_token_never_shows_in_repr_str_or_dump() -> None:
    creds = SlurmCredentials(url="http://slurm:6820", token=TOKEN, user_name="alice")
    client = creds.get_client()
    try:
        shown = [repr(creds), str(creds), creds.model_dump_json(), repr(creds.auth()), repr(client)]
    finally:
        client.close()
    shown.append(json.dumps(creds.model_dump(mode="json")))
    for text in shown:
        assert TOKEN not in text


@pytest.mark.anyio
async def test_saved_block_document_hides_the_token() -> None:
    creds = SlurmCredentials(url="http://slurm:6820", token=TOKEN, user_name="alice")
    await creds.save("hidden-token", overwrite=True)

    async with get_client() as prefect:
        doc = await prefect.read_block_document_by_name(
            "hidden-token", block_type_slug="slurm-credentials", include_secrets=False
        )
    assert doc.data["token"] == "********"
    assert TOKEN not in doc.model_dump_json()

    loaded = await SlurmCredentials.load("hidden-token")
    assert loaded.token is not None
    assert loaded.token.get_secret_value() == TOKEN
    assert loaded.user_name == "alice"


def test_the_watch_fleet_field_reaches_the_core_and_stays_secret() -> None:
    url = "redis://:fleet-pw-123@redis.example:6379/0"
    creds = SlurmCredentials(url="http://127.0.0.1:6820", token=TOKEN, watch_fleet=url)
    settings = creds.settings()
    assert settings.watch_fleet == url
    with creds.get_client() as client:
        assert client._http.options.watch_fleet == url  # the core shares the watch with it
    shown = [repr(creds), str(creds), creds.model_dump_json(), repr(settings)]
    assert not [text for text in shown if "fleet-pw-123" in text]


def test_an_identity_provider_is_a_token_source_and_its_secrets_stay_secret() -> None:
    creds = SlurmCredentials(
        url="https://slurm:6820",
        oidc_issuer="https://idp.example.org/realms/hpc",
        oidc_client_id="slurm-client",
        oidc_client_secret="client-secret-value",
        oidc_grant="client_credentials",
        header_style="bearer",
    )
    settings = creds.settings()  # the same parser as the config file and the other adapters
    assert settings.auth is not None
    shown = [repr(creds), str(creds), creds.model_dump_json(), repr(settings)]
    assert not [text for text in shown if "client-secret-value" in text]
