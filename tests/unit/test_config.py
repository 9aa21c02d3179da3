"""resolve_settings(): env, then config.toml profiles, then scontrol on PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest

from slurm_core._exceptions import ConfigurationError
from slurm_core._http import SyncHTTP
from slurm_core.auth import JWTKeyAuth, StaticToken, TokenCommand, TokenFile
from slurm_core.config import default_config_path, resolve_settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def base_env(home: Path, **extra: str) -> dict[str, str]:
    # An empty PATH: no real scontrol leaks into tests.
    env = {"HOME": str(home), "PATH": str(home / "no-bin")}
    env.update(extra)
    return env


def write_config(home: Path, text: str) -> Path:
    path = home / ".config" / "slurm-client" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- environment ----------------------------------------------------------------------------
def test_env_only(home: Path) -> None:
    s = resolve_settings(
        env=base_env(
            home,
            SLURM_REST_URL="http://h:6820",
            SLURM_JWT="zq-secret-zq",
            SLURM_USER_NAME="alice",
            SLURM_REST_API_VERSION="0.0.40",
            SLURM_CA_BUNDLE="/etc/ca.pem",
        )
    )
    assert s.url == "http://h:6820"
    assert isinstance(s.auth, StaticToken)
    assert s.auth.token().get() == "zq-secret-zq"
    assert s.auth.user_name == "alice"
    assert s.user_name == "alice"
    assert s.api_version == "v0.0.40"
    assert s.verify == "/etc/ca.pem"
    assert s.sources["auth"] == "env SLURM_JWT"
    assert s.sources["url"] == "env SLURM_REST_URL"
    assert "zq-secret-zq" not in repr(s)


def test_user_fallback_is_reported_but_not_sent(home: Path) -> None:
    s = resolve_settings(env=base_env(home, SLURM_REST_URL="http://h", SLURM_JWT="t", USER="bob"))
    assert s.user_name == "bob"
    assert s.sources["user_name"] == "env USER"
    # A header that differs from the token's "sun" would be impersonation: send none.
    assert s.auth is not None
    assert s.auth.user_name is None


def test_jwt_beats_jwt_file_and_daemon_is_not_a_token(home: Path) -> None:
    token_file = home / "jwt"
    token_file.write_text("from-file")
    env = base_env(home, SLURM_REST_URL="http://h", SLURM_JWT_FILE=str(token_file))
    s = resolve_settings(env={**env, "SLURM_JWT": "from-env"})
    assert isinstance(s.auth, StaticToken)
    s = resolve_settings(env={**env, "SLURM_JWT": "daemon"})
    assert isinstance(s.auth, TokenFile)
    assert s.auth.token().get() == "from-file"


# --- config file ----------------------------------------------------------------------------
CONFIG = """
[default]
url = "https://prod:6820"
token_command = "my-token --lifespan 600"
ca_bundle = "ca.pem"
api_version = "v0.0.41"

[profiles.lab]
url = "http://lab:6820"
user_name = "alice"
token_file = "lab.jwt"
verify = false

[profiles.mtls]
client_cert = "~/cert.pem"
client_key = "key.pem"
"""


def test_default_profile(home: Path) -> None:
    path = write_config(home, CONFIG)
    s = resolve_settings(env=base_env(home))
    assert s.url == "https://prod:6820"
    assert isinstance(s.auth, TokenCommand)
    assert s.auth.argv == ["my-token", "--lifespan", "600"]
    assert s.verify == str(path.parent / "ca.pem")  # relative to the config file
    assert s.api_version == "v0.0.41"
    assert s.profile == "default"


@pytest.mark.parametrize("how", ["argument", "env"])
def test_named_profile_overrides_default(home: Path, how: str) -> None:
    path = write_config(home, CONFIG)
    if how == "argument":
        s = resolve_settings("lab", env=base_env(home))
    else:
        s = resolve_settings(env=base_env(home, SLURM_PROFILE="lab"))
    assert s.profile == "lab"
    assert s.url == "http://lab:6820"
    assert isinstance(s.auth, TokenFile)
    assert s.auth.path == path.parent / "lab.jwt"
    assert s.auth.user_name == "alice"
    assert s.api_version == "v0.0.41"  # inherited from [default]
    # ca_bundle is inherited too and wins over verify=false: an explicit CA is explicit.
    assert s.verify == str(path.parent / "ca.pem")


def test_mtls_profile(home: Path) -> None:
    path = write_config(home, CONFIG)
    s = resolve_settings("mtls", env=base_env(home))
    assert s.cert == (str(home / "cert.pem"), str(path.parent / "key.pem"))


def test_env_beats_file(home: Path) -> None:
    write_config(home, CONFIG)
    s = resolve_settings(
        "lab", env=base_env(home, SLURM_REST_URL="http://env:1", SLURM_REST_API_VERSION="v0.0.42")
    )
    assert s.url == "http://env:1"
    assert s.api_version == "v0.0.42"
    assert isinstance(s.auth, TokenFile)  # token still from the profile


def test_verify_false_and_jwt_key_file(home: Path) -> None:
    key = home / "jwt_hs256.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)  # a key others can read is refused
    write_config(
        home, '[default]\nurl = "http://h"\nverify = false\njwt_key_file = "~/jwt_hs256.key"\n'
    )
    s = resolve_settings(env=base_env(home, USER="svc"))
    assert s.verify is False
    assert isinstance(s.auth, JWTKeyAuth)
    assert s.auth.user_name == "svc"  # minting needs a name: $USER is used
    with pytest.raises(ConfigurationError, match="needs user_name"):
        resolve_settings(env=base_env(home))


def test_socket(home: Path) -> None:
    write_config(home, '[default]\nsocket = "/run/slurmrestd.sock"\n')
    s = resolve_settings(env=base_env(home))
    assert (s.url, s.uds, s.auth) == ("http://localhost", "/run/slurmrestd.sock", None)


@pytest.mark.parametrize("url", ["unix:/run/rest.sock", "unix:///run/rest.sock"])
def test_unix_url(home: Path, url: str) -> None:
    s = resolve_settings(env=base_env(home, SLURM_REST_URL=url))
    assert (s.url, s.uds) == ("http://localhost", "/run/rest.sock")


def test_config_path_overrides(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other.toml"
    elsewhere.write_text('[default]\nurl = "http://other"\ntoken_file = "t"\n')
    s = resolve_settings(env=base_env(home, SLURM_CLIENT_CONFIG=str(elsewhere)))
    assert s.url == "http://other"
    xdg = tmp_path / "xdg"
    assert default_config_path({"XDG_CONFIG_HOME": str(xdg)}) == (
        xdg / "slurm-client" / "config.toml"
    )
    with pytest.raises(ConfigurationError, match="does not exist"):
        resolve_settings(env=base_env(home, SLURM_CLIENT_CONFIG=str(tmp_path / "nope.toml")))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[default\nurl=", "cannot read config file"),
        ('[default]\nurl = "http://h"\ntokenfile = "x"\n', "unknown key"),
        ('[default]\nurl = "http://h"\ntoken_file = "t"\nverify = "no"\n', "verify must be"),
        (
            '[default]\nurl = "http://h"\ntoken_file = "t"\nclient_key = "k"\n',
            "without client_cert",
        ),
        ("default = 3\n", "must be a table"),
    ],
)
def test_bad_config_files(home: Path, text: str, message: str) -> None:
    write_config(home, text)
    with pytest.raises(ConfigurationError, match=message):
        resolve_settings(env=base_env(home))


def test_unknown_profile_lists_known_ones(home: Path) -> None:
    write_config(home, CONFIG)
    with pytest.raises(ConfigurationError, match=r"'nope' not found.*lab, mtls"):
        resolve_settings("nope", env=base_env(home))


# --- scontrol fallback and the error ---------------------------------------------------------
def test_scontrol_on_path(home: Path) -> None:
    bin_dir = home / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "scontrol"
    fake.write_text('#!/bin/sh\n[ "$1" = token ] && echo "SLURM_JWT=from-scontrol"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    s = resolve_settings(
        env={"HOME": str(home), "PATH": str(bin_dir), "SLURM_REST_URL": "http://h"}
    )
    assert isinstance(s.auth, TokenCommand)
    assert s.auth.argv == [str(fake), "token", "lifespan=3600"]
    assert s.auth.token().get() == "from-scontrol"


def test_nothing_found_lists_every_place(home: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_settings(env=base_env(home))
    err = info.value
    config = home / ".config/slurm-client/config.toml"
    assert err.tried == [
        "env SLURM_REST_URL: not set",
        f"config file {config}: not found",
        "env SLURM_JWT: not set",
        "env SLURM_JWT_FILE: not set",
        "scontrol token: scontrol not on PATH",
    ]
    assert "missing a URL and a token" in str(err)


def test_missing_token_names_the_profile(home: Path) -> None:
    path = write_config(home, '[default]\nurl = "http://h"\n')
    with pytest.raises(ConfigurationError) as info:
        resolve_settings(env=base_env(home))
    assert f"{path} [default]: no token_file, token_command or jwt_key_file" in info.value.tried
    assert "missing a token" in str(info.value)


def test_settings_build_working_client_options(home: Path) -> None:
    s = resolve_settings(
        env=base_env(home, SLURM_REST_URL="http://h:6820", SLURM_JWT="tok", SLURM_USER_NAME="al")
    )
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={})

    with SyncHTTP(s.client_options(transport=httpx.MockTransport(handler))) as http:
        http.request("GET", "/slurm/v0.0.40/diag")
    assert seen[0]["x-slurm-user-name"] == "al"
    assert str(seen[0]["host"]) == "h:6820"
