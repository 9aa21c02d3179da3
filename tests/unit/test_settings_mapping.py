"""The one settings parser every adapter hands its fields to (slurm_core.config)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core import (
    ConfigurationError,
    JWTKeyAuth,
    SlurmClient,
    SlurmError,
    StaticToken,
    TokenCommand,
    TokenFile,
)
from slurm_core.auth import SlurmAuth
from slurm_core.config import SETTING_KEYS, settings_from_mapping

URL = "http://h:6820"


def test_a_token_and_a_user() -> None:
    s = settings_from_mapping({"url": URL, "token": "s3cr3t-jwt", "user": "alice"})
    assert s.url == URL
    assert isinstance(s.auth, StaticToken)
    assert s.auth.user_name == "alice"
    assert s.user_name == "alice"
    assert "s3cr3t" not in repr(s)


def test_token_sources(tmp_path: Path) -> None:
    s = settings_from_mapping({"url": URL, "token_file": "jwt"}, base_dir=tmp_path)
    assert isinstance(s.auth, TokenFile)
    assert s.auth.path == tmp_path / "jwt"
    s = settings_from_mapping({"url": URL, "token_command": "scontrol token lifespan=60"})
    assert isinstance(s.auth, TokenCommand)
    assert s.auth.argv == ["scontrol", "token", "lifespan=60"]
    s = settings_from_mapping({"url": URL, "token_command": ["a", "b"]})
    assert isinstance(s.auth, TokenCommand)
    key = tmp_path / "jwt_hs256.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    s = settings_from_mapping(
        {"url": URL, "jwt_key_file": str(key), "user_name": "bob", "jwt_lifespan": "600"}
    )
    assert isinstance(s.auth, JWTKeyAuth)


def test_secret_objects_blank_values_and_bearer() -> None:
    class Secret:
        def get_secret_value(self) -> str:
            return "tok"

    s = settings_from_mapping(
        {"url": URL, "token": Secret(), "token_file": "  ", "header_style": "bearer"}
    )
    assert isinstance(s.auth, SlurmAuth)
    assert s.auth.header_style == "bearer"


def test_tls_timeout_and_supervisor_defaults(tmp_path: Path) -> None:
    s = settings_from_mapping(
        {
            "url": "https://h",
            "token": "t",
            "ca_bundle": "ca.pem",
            "client_cert": "c.pem",
            "client_key": "k.pem",
            "timeout": 12,
            "working_directory": "/scratch/me",
            "poll_interval": "7.5",
            "api_version": "0.0.42",
        },
        base_dir=tmp_path,
    )
    assert s.verify == str(tmp_path / "ca.pem")
    assert s.cert == (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    assert s.timeout == 12.0
    assert s.working_directory == "/scratch/me"
    assert s.poll_interval == 7.5
    assert s.api_version == "v0.0.42"
    assert settings_from_mapping({"url": URL, "token": "t", "verify": "false"}).verify is False


def test_a_socket_needs_no_token() -> None:
    s = settings_from_mapping({"url": "unix:/run/rest.sock"})
    assert (s.url, s.uds, s.auth) == ("http://localhost", "/run/rest.sock", None)
    s = settings_from_mapping({"socket": "/run/rest.sock"})
    assert s.uds == "/run/rest.sock"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"token": "t"}, "url"),
        ({"url": "ftp://h", "token": "t"}, "url"),
        ({"url": URL}, "token"),
        ({"url": URL, "token": "t", "token_file": "f"}, "token_file"),
        ({"url": URL, "jwt_key_file": "/k"}, "jwt_key_file"),
        ({"url": URL, "token_command": 3}, "token_command"),
        ({"url": URL, "token": "t", "verify": "maybe"}, "verify"),
        ({"url": URL, "token": "t", "verify": False, "ca_bundle": "/ca"}, "ca_bundle"),
        ({"url": URL, "token": "t", "client_key": "/k"}, "client_key"),
        ({"url": URL, "token": "t", "timeout": "soon"}, "timeout"),
        ({"url": URL, "token": "t", "poll_interval": 0}, "poll_interval"),
        ({"url": URL, "token": "t", "working_directory": "rel"}, "working_directory"),
        ({"url": URL, "token": "t", "header_style": "basic"}, "header_style"),
        ({"url": URL, "token": "t", "user": "a", "user_name": "b"}, "user"),
        ({"url": URL, "token": "t", "tokenfile": "x"}, "tokenfile"),
    ],
)
def test_errors_name_the_field_and_never_the_token(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_mapping(values, where="connection 'c'")
    assert caught.value.field == field
    assert str(caught.value).startswith("connection 'c': ")
    assert "'t'" not in str(caught.value)


def test_every_documented_key_is_accepted() -> None:
    from slurm_core.config import _mapping

    documented = {
        line.split()[0]
        for line in (_mapping.__doc__ or "").splitlines()
        if line.startswith("    ") and line.split()
    }
    assert documented == SETTING_KEYS - {"user"}


def test_from_settings_builds_a_working_client() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.headers))  # copied now: the sent request is scrubbed after
        return httpx.Response(404, json={})

    s = settings_from_mapping({"url": URL, "token": "tok", "user": "al", "timeout": 3})
    transport = httpx.MockTransport(handler)
    with SlurmClient.from_settings(s, transport=transport) as client, pytest.raises(SlurmError):
        client.ping()  # any answer will do: the request is what is checked
    assert seen[0]["x-slurm-user-token"] == "tok"
    assert seen[0]["x-slurm-user-name"] == "al"


# --- tokens from an identity provider ------------------------------------------------------
def test_oidc_keys_make_an_identity_provider_source() -> None:
    from pydantic import SecretStr

    from slurm_core.auth import ClientCredentials

    settings = settings_from_mapping(
        {
            "url": "http://127.0.0.1:6820",
            "oidc_issuer": "https://id.example.org/realms/hpc",
            "oidc_client_id": "airflow",
            "oidc_client_secret": SecretStr("s3cret"),  # a block's secret field as it comes
        },
        where="block 'hpc'",
    )
    assert isinstance(settings.auth, ClientCredentials)
    assert settings.auth.client_id == "airflow"
    assert "s3cret" not in repr(settings.auth)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"oidc_client_id": "airflow", "token": "t"}, "oidc_issuer"),  # no issuer: not ignored
        ({"oidc_issuer": "https://id.example.org"}, "oidc_client_id"),
        (
            {"oidc_issuer": "https://id.example.org", "oidc_client_id": "a", "token": "t"},
            "oidc_issuer",
        ),
        ({"oidc_issuer": "http://id.example.org", "oidc_client_id": "a"}, "oidc_issuer"),
    ],
)
def test_bad_oidc_settings_name_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings_from_mapping({"url": "http://127.0.0.1:6820", **values}, where="conn 'x'")
    assert caught.value.field == field
    assert str(caught.value).startswith("conn 'x'")
