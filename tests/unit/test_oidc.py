"""OAuth2/OIDC token providers against a scripted identity provider (httpx.MockTransport).

The real provider and cluster are in tests/oidc/; these pin the edge cases: what is
sent, hostile or broken answers, polling rules, secrets, stores and settings.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from slurm_core import AuthenticationError, ConfigurationError, SlurmConnectionError
from slurm_core._redact import Secret
from slurm_core.auth import (
    ClientCredentials,
    DeviceAuthorization,
    RefreshTokenAuth,
    RefreshTokenFile,
    SlurmAuth,
    StaticToken,
    oidc_provider_from_settings,
)

ISSUER = "https://id.example.org/realms/hpc"
TOKEN_URL = ISSUER + "/token"
DEVICE_URL = ISSUER + "/device"
SECRET = "client-secret-value-123"


def jwt_like(exp: float, user: str = "alice", n: int = 0) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"exp": int(exp), "preferred_username": user, "n": n}
    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2ln"


class FakeIdP:
    """A scripted identity provider: answers are queued per endpoint."""

    def __init__(self, discovery: dict[str, Any] | None = None) -> None:
        self.discovery = discovery or {
            "issuer": ISSUER,
            "token_endpoint": TOKEN_URL,
            "device_authorization_endpoint": DEVICE_URL,
        }
        self.token_answers: list[httpx.Response] = []
        self.device_answers: list[httpx.Response] = []
        self.requests: list[httpx.Request] = []
        self.issued = 0

    def token(self, life: float = 300, refresh: str | None = None) -> httpx.Response:
        self.issued += 1
        body = {
            "access_token": jwt_like(time.time() + life, n=self.issued),
            "token_type": "Bearer",
            "expires_in": int(life),
        }
        if refresh:
            body["refresh_token"] = refresh
        return httpx.Response(200, json=body)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        if url.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json=self.discovery)
        if url == TOKEN_URL:
            return self.token_answers.pop(0) if self.token_answers else self.token()
        if url == DEVICE_URL:
            return self.device_answers.pop(0)
        return httpx.Response(404)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def form(self, i: int = -1) -> dict[str, str]:
        posts = [r for r in self.requests if r.method == "POST"]
        return {k: v[0] for k, v in parse_qs(posts[i].content.decode()).items()}


def cc(idp: FakeIdP, **kw: Any) -> ClientCredentials:
    return ClientCredentials(ISSUER, "svc", SECRET, transport=idp.transport, **kw)


def error(status: int, code: str, description: str = "") -> httpx.Response:
    return httpx.Response(status, json={"error": code, "error_description": description})


# -- client credentials -----------------------------------------------------------------
def test_client_credentials_discovers_the_token_endpoint_and_authenticates_with_basic() -> None:
    idp = FakeIdP()
    token = cc(idp, scope="slurm").token()
    assert token.get().count(".") == 2
    get, post = idp.requests
    assert str(get.url) == ISSUER + "/.well-known/openid-configuration"
    assert (
        post.headers["authorization"]
        == "Basic " + base64.b64encode(f"svc:{SECRET}".encode()).decode()
    )
    assert idp.form() == {"grant_type": "client_credentials", "scope": "slurm"}


def test_a_discovery_document_for_another_issuer_is_refused() -> None:
    idp = FakeIdP({"issuer": "https://evil.example.org", "token_endpoint": TOKEN_URL})
    with pytest.raises(ConfigurationError, match="describes issuer 'https://evil"):
        cc(idp).token()


def test_a_discovered_plain_http_endpoint_to_a_remote_host_is_refused() -> None:
    idp = FakeIdP({"issuer": ISSUER, "token_endpoint": "http://id.example.org/token"})
    with pytest.raises(ConfigurationError, match=r"token_endpoint .*plain http"):
        cc(idp).token()


def test_an_issuer_over_plain_http_is_refused_unless_loopback() -> None:
    with pytest.raises(ConfigurationError, match=r"issuer: .*plain http"):
        ClientCredentials("http://id.example.org", "svc", SECRET)
    ClientCredentials("http://127.0.0.1:8080/o", "svc", SECRET)  # a local test provider


def test_an_answer_larger_than_the_bound_is_refused_while_read() -> None:
    idp = FakeIdP()
    chunks = [b"{"] + [b" " * 1024] * 300 + [b"}"]  # streamed, no Content-Length
    idp.token_answers.append(httpx.Response(200, content=iter(chunks)))
    with pytest.raises(SlurmConnectionError, match=r"bad answer from .* exceeds 262144 bytes"):
        cc(idp).token()


def test_a_revoked_client_raises_authentication_error_naming_the_oauth_error() -> None:
    idp = FakeIdP()
    idp.token_answers.append(error(401, "invalid_client", "Client authentication failed"))
    with pytest.raises(AuthenticationError) as raised:
        cc(idp).token()
    text = str(raised.value)
    assert "invalid_client" in text
    assert "'svc'" in text
    assert SECRET not in text


def test_an_unreachable_provider_is_a_connection_error() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    p = ClientCredentials(ISSUER, "svc", SECRET, transport=httpx.MockTransport(down))
    with pytest.raises(SlurmConnectionError, match="cannot reach the identity provider"):
        p.token()


def test_a_non_bearer_token_type_is_refused() -> None:
    idp = FakeIdP()
    idp.token_answers.append(httpx.Response(200, json={"access_token": "abc", "token_type": "mac"}))
    with pytest.raises(AuthenticationError, match="not a Bearer token"):
        cc(idp).token()


def test_tokens_refresh_ahead_of_expiry() -> None:
    idp = FakeIdP()
    now = [time.time()]
    p = cc(idp, clock=lambda: now[0], refresh_margin=60)
    idp.token_answers.append(idp.token(life=300))
    first = p.token()
    now[0] += 200  # 100 s left: still fresh
    assert p.token() == first
    now[0] += 50  # 50 s left: within the margin
    assert p.token() != first


def test_secrets_never_reach_reprs_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    idp = FakeIdP()
    p = cc(idp)
    token = p.token().get()
    idp.token_answers.append(error(400, "invalid_request", f"bad secret {SECRET} {token}"))
    with pytest.raises(AuthenticationError) as raised:
        p.token(force_refresh=True)
    for text in (repr(p), str(raised.value), caplog.text):
        assert SECRET not in text
        assert token not in text


# -- Bearer only ----------------------------------------------------------------------------
def slurmrestd(accept: Callable[[str], bool]) -> tuple[httpx.MockTransport, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        auth = request.headers.get("authorization", "")
        ok = auth.startswith("Bearer ") and accept(auth[7:])
        return httpx.Response(200, json={}) if ok else httpx.Response(401, text="Unauthorized")

    return httpx.MockTransport(handler), seen


def test_oidc_tokens_go_as_bearer_only_and_are_refreshed_once_on_401() -> None:
    idp = FakeIdP()
    provider = cc(idp)
    rejected = provider.token().get()
    transport, seen = slurmrestd(lambda token: token != rejected)
    with httpx.Client(transport=transport, auth=SlurmAuth(provider)) as client:
        assert client.get("http://slurm/slurm/v0.0.44/diag").status_code == 200
    assert [h["authorization"] for h in seen] == [
        "Bearer " + rejected,
        "Bearer " + provider.token().get(),
    ]
    assert all("x-slurm-user-token" not in h for h in seen)


def test_asking_for_x_slurm_headers_with_an_oidc_provider_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="Bearer only"):
        SlurmAuth(cc(FakeIdP()), header_style="x-slurm")
    assert SlurmAuth(StaticToken("a.b.c")).header_style == "x-slurm"  # others: unchanged


# -- refresh token --------------------------------------------------------------------------
def test_a_rotated_refresh_token_replaces_the_stored_one(tmp_path: Path) -> None:
    store = RefreshTokenFile(tmp_path / "rt")
    store.save(Secret("rt-1"))
    idp = FakeIdP()
    idp.token_answers.append(idp.token(refresh="rt-2"))
    p = RefreshTokenAuth(ISSUER, "cli", store=store, transport=idp.transport)
    p.token()
    sent = {"grant_type": "refresh_token", "refresh_token": "rt-1", "client_id": "cli"}
    assert idp.form() == sent
    assert store.load() == Secret("rt-2")
    assert "rt-1" not in repr(p)


def test_an_expired_refresh_token_says_to_log_in_again() -> None:
    idp = FakeIdP()
    idp.token_answers.append(error(400, "invalid_grant"))
    p = RefreshTokenAuth(ISSUER, "cli", "rt-old", transport=idp.transport)
    with pytest.raises(AuthenticationError, match=r"log in again.*slurm-client login"):
        p.token()


def test_no_refresh_token_in_the_store_says_to_log_in(tmp_path: Path) -> None:
    p = RefreshTokenAuth(ISSUER, "cli", store=RefreshTokenFile(tmp_path / "missing"))
    with pytest.raises(AuthenticationError, match=r"no refresh token.*log in first"):
        p.token()


# -- device authorization --------------------------------------------------------------------
def device_answer(**extra: Any) -> httpx.Response:
    body = {
        "device_code": "dev-code-secret",
        "user_code": "ABCD-EFGH",
        "verification_uri": "https://id.example.org/device",
        "expires_in": 600,
        "interval": 2,
        **extra,
    }
    return httpx.Response(200, json=body)


def test_the_device_flow_polls_politely_until_approved() -> None:
    idp = FakeIdP()
    idp.device_answers.append(device_answer())
    idp.token_answers += [
        error(400, "authorization_pending"),
        error(400, "slow_down"),
        error(400, "authorization_pending"),
        idp.token(refresh="rt-1"),
    ]
    p = DeviceAuthorization(ISSUER, "cli", scope="slurm", transport=idp.transport)
    code = p.start()
    assert code.user_code == "ABCD-EFGH"
    assert "dev-code-secret" not in repr(code)
    slept: list[float] = []
    p.wait(code, sleep=slept.append)
    assert slept == [2, 7, 7]  # slow_down adds 5 s for good (RFC 8628 3.5)
    assert p.refresh_token == Secret("rt-1")
    assert idp.form() == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": "dev-code-secret",
        "scope": "slurm",
        "client_id": "cli",
    }
    assert len(idp.requests) == 6  # discovery, device, 4 polls: the token is not re-fetched
    p.token()
    assert len(idp.requests) == 6


def test_a_denied_device_login_is_an_authentication_error() -> None:
    idp = FakeIdP()
    idp.device_answers.append(device_answer())
    idp.token_answers.append(error(400, "access_denied"))
    p = DeviceAuthorization(ISSUER, "cli", transport=idp.transport)
    with pytest.raises(AuthenticationError, match="access_denied: the person denied"):
        p.wait(p.start(), sleep=lambda s: None)


def test_a_device_code_that_expires_while_pending_stops_the_polling() -> None:
    idp = FakeIdP()
    idp.device_answers.append(device_answer(expires_in=3))
    idp.token_answers += [error(400, "authorization_pending")] * 10
    now = [1000.0]
    p = DeviceAuthorization(ISSUER, "cli", transport=idp.transport, clock=lambda: now[0])

    def sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(AuthenticationError, match="expired before it was approved"):
        p.wait(p.start(), sleep=sleep)


def test_a_provider_without_a_device_endpoint_says_how_to_give_one() -> None:
    idp = FakeIdP({"issuer": ISSUER, "token_endpoint": TOKEN_URL})
    p = DeviceAuthorization(ISSUER, "cli", transport=idp.transport)
    with pytest.raises(ConfigurationError, match="device_authorization_endpoint"):
        p.start()


# -- refresh token file ----------------------------------------------------------------------
def test_the_refresh_token_file_is_written_0600_and_read_back(tmp_path: Path) -> None:
    store = RefreshTokenFile(tmp_path / "sub" / "rt")
    assert store.load() is None
    store.save(Secret("rt-value"))
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert store.load() == Secret("rt-value")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_a_refresh_token_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    store = RefreshTokenFile(tmp_path / "rt")
    store.save(Secret("rt-value"))
    store.path.chmod(mode)
    with pytest.raises(ConfigurationError, match=r"open to others.*chmod 600"):
        store.load()


def test_a_refresh_token_file_of_someone_else_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to chown")
    store = RefreshTokenFile(tmp_path / "rt")
    store.save(Secret("rt-value"))
    os.chown(store.path, 1234, 1234)
    with pytest.raises(ConfigurationError, match="owned by uid 1234"):
        store.load()


def test_a_symlinked_refresh_token_file_is_refused(tmp_path: Path) -> None:
    real = RefreshTokenFile(tmp_path / "real")
    real.save(Secret("rt-value"))
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigurationError, match="symbolic link"):
        RefreshTokenFile(tmp_path / "link").load()


# -- settings ----------------------------------------------------------------------------------
def test_settings_without_an_issuer_build_nothing() -> None:
    assert oidc_provider_from_settings({"url": "http://x"}) is None


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"oidc_client_id": "x"}, "oidc_issuer"),
        ({"oidc_issuer": ISSUER}, "oidc_client_id"),
        ({"oidc_issuer": ISSUER, "oidc_client_id": "x", "oidc_grant": "password"}, "oidc_grant"),
        (
            {"oidc_issuer": ISSUER, "oidc_client_id": "x", "oidc_grant": "client_credentials"},
            "oidc_client_secret",
        ),
        ({"oidc_issuer": ISSUER, "oidc_client_id": "x"}, "oidc_refresh_token"),
        ({"oidc_issuer": "http://remote.example.org", "oidc_client_id": "x"}, "oidc_issuer"),
        ({"oidc_issuer": ISSUER, "oidc_client_id": "x", "oidc_timeout": "soon"}, "oidc_timeout"),
        ({"oidc_issuer": ISSUER, "oidc_client_id": "x", "oidc_keyring": "maybe"}, "oidc_keyring"),
        ({"oidc_issuer": ISSUER, "oidc_client_id": "x", "oidc_scopes": "a"}, "oidc_scopes"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{field}"):
        oidc_provider_from_settings(settings)


def test_settings_build_each_grant(tmp_path: Path) -> None:
    base = {"oidc_issuer": ISSUER, "oidc_client_id": "x"}
    cc_ = oidc_provider_from_settings({**base, "oidc_client_secret": SECRET, "oidc_scope": "s"})
    assert isinstance(cc_, ClientCredentials)
    assert cc_.scope == "s"
    assert SECRET not in repr(cc_)
    rt = oidc_provider_from_settings(
        {**base, "oidc_refresh_token_file": str(tmp_path / "rt"), "oidc_timeout": "5"}
    )
    assert isinstance(rt, RefreshTokenAuth)
    assert isinstance(rt.store, RefreshTokenFile)


# -- keyring ------------------------------------------------------------------------------------
@pytest.fixture
def memory_keyring() -> Any:
    import keyring
    import keyring.backend

    class Backend(keyring.backend.KeyringBackend):
        """In memory: the machine here has no Secret Service."""

        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.entries: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if self.entries.pop((service, username), None) is None:
                raise keyring.errors.PasswordDeleteError(username)

    before = keyring.get_keyring()
    backend = Backend()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(before)


def test_the_keyring_store_keeps_one_entry_per_client_and_issuer(memory_keyring: Any) -> None:
    from slurm_core.auth import KeyringStore

    store = KeyringStore(ISSUER, "cli")
    assert store.load() is None
    store.save(Secret("rt-1"))
    assert memory_keyring.entries == {("slurm-client", f"cli@{ISSUER}"): "rt-1"}
    assert store.load() == Secret("rt-1")
    store.delete()
    store.delete()  # deleting twice is fine
    assert store.load() is None


def test_a_keyring_without_backend_is_a_configuration_error() -> None:
    import keyring
    from keyring.backends import fail

    from slurm_core.auth import KeyringStore

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(ConfigurationError, match=r"keyring failed.*in a file instead"):
            KeyringStore(ISSUER, "cli").save(Secret("rt-1"))
    finally:
        keyring.set_keyring(before)


def test_turning_tls_verification_off_warns() -> None:
    from slurm_core import SlurmSecurityWarning

    with pytest.warns(SlurmSecurityWarning, match="client secret"):
        ClientCredentials(ISSUER, "svc", SECRET, verify=False)


def test_a_refresh_token_rotated_by_another_process_is_picked_up_from_the_store(
    tmp_path: Path,
) -> None:
    store = RefreshTokenFile(tmp_path / "rt")
    store.save(Secret("rt-1"))
    idp = FakeIdP()
    p = RefreshTokenAuth(ISSUER, "cli", store=store, transport=idp.transport)
    idp.token_answers.append(idp.token(refresh="rt-2"))
    p.token()
    store.save(Secret("rt-3"))  # another worker refreshed with rt-2 and stored rt-3
    idp.token_answers += [error(400, "invalid_grant"), idp.token(refresh="rt-4")]
    p.token(force_refresh=True)
    assert idp.form(-2)["refresh_token"] == "rt-2"
    assert idp.form(-1)["refresh_token"] == "rt-3"
    assert store.load() == Secret("rt-4")


def test_an_opaque_access_token_refreshes_by_the_answers_expires_in() -> None:
    idp = FakeIdP()
    now = [1000.0]
    p = cc(idp, clock=lambda: now[0], refresh_margin=60)
    idp.token_answers += [
        httpx.Response(
            200, json={"access_token": "opaque-1", "token_type": "bearer", "expires_in": 300}
        ),
        httpx.Response(
            200, json={"access_token": "opaque-2", "token_type": "Bearer", "expires_in": 300}
        ),
    ]
    assert p.token() == Secret("opaque-1")
    assert p.expires_at == 1300.0
    now[0] = 1250.0
    assert p.token() == Secret("opaque-2")


async def _async_get(provider: ClientCredentials, transport: httpx.MockTransport) -> int:
    async with httpx.AsyncClient(transport=transport, auth=SlurmAuth(provider)) as client:
        return (await client.get("http://slurm/slurm/v0.0.44/diag")).status_code


def test_the_async_path_refreshes_once_on_401_too() -> None:
    import anyio

    idp = FakeIdP()
    provider = cc(idp)
    rejected = provider.token().get()
    transport, seen = slurmrestd(lambda token: token != rejected)
    assert anyio.run(_async_get, provider, transport) == 200
    assert [h["authorization"] for h in seen] == [
        "Bearer " + rejected,
        "Bearer " + provider.token().get(),
    ]
