"""Token providers that get their tokens from an OAuth2/OpenID Connect identity provider.

slurmrestd verifies such a token (RS256, signed by the provider) against the provider's
keys when the site sets ``AuthAltParameters=jwks=...``; the Slurm user is the token's
``sun``/``username`` claim or the one ``userclaimfield=`` names. These tokens go as
``Authorization: Bearer`` only: :class:`~slurm_core.auth.SlurmAuth` sends them so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from slurm_core._exceptions import AuthenticationError, ConfigurationError
from slurm_core._redact import Secret, register_secret
from slurm_core.auth._oidc_http import (
    DEVICE_CODE_GRANT,
    Endpoints,
    check_url,
    discover,
    error_code,
    grant,
    json_object,
    make_session,
    unreachable,
)
from slurm_core.auth._oidc_store import RefreshTokenStore
from slurm_core.auth._provider import DEFAULT_REFRESH_MARGIN, HeaderStyle, TokenProvider

_ENDPOINT_FIELDS = ("token_endpoint", "device_authorization_endpoint")


def _secret(value: str | Secret | None, field: str, owner: str) -> Secret | None:
    if value is None:
        return None
    secret = value if isinstance(value, Secret) else Secret(str(value).strip())
    if not secret:
        raise ConfigurationError(f"{owner}: {field} is empty")
    register_secret(secret.get())
    return secret


class OIDCTokenProvider(TokenProvider):
    """Base of the OAuth2 providers: discovery, the HTTP session, what a token answer means.

    ``issuer`` is the provider's issuer URL; its ``/.well-known/openid-configuration``
    names the endpoints (``endpoints={"token_endpoint": ...}`` overrides it). ``verify``
    is ``True``, ``False`` or a CA bundle path; ``transport`` an ``httpx`` transport (tests).
    """

    preferred_header_style: ClassVar[HeaderStyle] = "bearer"
    bearer_only: ClassVar[bool] = True

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | Secret | None = None,
        *,
        scope: str | None = None,
        audience: str | None = None,
        endpoints: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        owner = type(self).__name__
        self.issuer = check_url(issuer, "issuer")
        if not isinstance(client_id, str) or not client_id.strip():
            raise ConfigurationError(f"{owner}: client_id is required")
        self.client_id = client_id.strip()
        self._client_secret = _secret(client_secret, "client_secret", owner)
        self.scope = scope or None
        self.audience = audience or None
        self._overrides: dict[str, str] = {}
        for name, url in (endpoints or {}).items():
            if name not in _ENDPOINT_FIELDS:
                raise ConfigurationError(f"{owner}: unknown endpoint {name!r}")
            self._overrides[name] = check_url(url, name)
        if not timeout > 0:
            raise ConfigurationError(f"{owner}: timeout must be positive, got {timeout!r}")
        self._session = make_session(timeout=timeout, verify=verify, transport=transport)
        self._endpoints: Endpoints | None = None
        self._discovery_lock = threading.Lock()
        self.refresh_token: Secret | None = None
        """The refresh token of the last answer that carried one."""
        self._expires_in: float | None = None

    @property
    def endpoints(self) -> Endpoints:
        """The endpoints, discovered on first use (one request per provider)."""
        with self._discovery_lock:
            if self._endpoints is None:
                self._endpoints = discover(self._session, self.issuer, self._overrides)
            return self._endpoints

    def _grant(self, params: dict[str, str]) -> dict[str, Any]:
        if self.scope and "scope" not in params:
            params["scope"] = self.scope
        if self.audience:
            params["audience"] = self.audience
        answer = grant(
            self._session,
            self.endpoints.token_endpoint,
            self.client_id,
            self._client_secret,
            params,
            f"{type(self).__name__} {self.client_id!r}",
        )
        return answer

    def _access_token(self, answer: Mapping[str, Any]) -> str:
        """The access token of a token answer; remembers a new refresh token."""
        owner = type(self).__name__
        token = answer.get("access_token")
        if not isinstance(token, str) or not token or any(c.isspace() for c in token):
            raise AuthenticationError(
                f"{owner}: the identity provider's answer has no usable access_token",
                status_code=502,
            )
        kind = str(answer.get("token_type", "Bearer"))
        if kind.lower() != "bearer":
            raise AuthenticationError(
                f"{owner}: the identity provider issued a {kind!r} token, not a Bearer token",
                status_code=502,
            )
        register_secret(token)
        expires_in = answer.get("expires_in")
        self._expires_in = (
            float(expires_in)
            if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool)
            else None
        )
        refresh = answer.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            register_secret(refresh)
            self._new_refresh_token(Secret(refresh))
        return token

    def _new_refresh_token(self, token: Secret) -> None:
        self.refresh_token = token

    def _store(self, value: str) -> Secret:
        secret = super()._store(value)
        if self._expires_at is None and self._expires_in is not None and self._expires_in > 0:
            # Not a JWT (or one without exp): the answer's expires_in tells instead.
            life = self._expires_in
            self._expires_at = self._clock() + life
            self._refresh_at = self._expires_at - min(self.refresh_margin, life / 2)
        return secret

    def close(self) -> None:
        """Close the HTTP session to the identity provider."""
        self._session.close()

    def _repr_fields(self) -> str:
        secret = ", client_secret=<redacted>" if self._client_secret else ""
        return f"issuer={self.issuer!r}, client_id={self.client_id!r}{secret}"


class ClientCredentials(OIDCTokenProvider):
    """The client-credentials grant: a service account (an Airflow deployment...) gets
    its own tokens with its client id and secret; no person involved.

    Example::

        auth = ClientCredentials("https://id.example.org/realms/hpc", "airflow-prod",
                                 client_secret=os.environ["OIDC_CLIENT_SECRET"])
        SlurmClient("https://slurm.example.org:6820", auth=auth)
    """

    def __init__(
        self, issuer: str, client_id: str, client_secret: str | Secret, **options: Any
    ) -> None:
        if client_secret is None:
            raise ConfigurationError("ClientCredentials: client_secret is required")
        super().__init__(issuer, client_id, client_secret, **options)

    def _fetch(self) -> str:
        return self._access_token(self._grant({"grant_type": "client_credentials"}))


class RefreshTokenAuth(OIDCTokenProvider):
    """The refresh-token grant: trade a refresh token for access tokens, as often as needed.

    The refresh token comes from ``refresh_token`` or a ``store`` (what
    ``slurm-client login`` wrote: :class:`RefreshTokenFile` or :class:`KeyringStore`). A
    provider that rotates refresh tokens hands back a new one with each access token: it
    replaces the old one in the store, so the next process starts from it.

    Example::

        auth = RefreshTokenAuth("https://id.example.org/realms/hpc", "slurm-cli",
                                store=RefreshTokenFile("~/.config/slurm-client/refresh-token"))
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        refresh_token: str | Secret | None = None,
        *,
        store: RefreshTokenStore | None = None,
        client_secret: str | Secret | None = None,
        **options: Any,
    ) -> None:
        super().__init__(issuer, client_id, client_secret, **options)
        self.store = store
        self.refresh_token = _secret(refresh_token, "refresh_token", type(self).__name__)
        if self.refresh_token is None and store is None and not self._may_log_in():
            raise ConfigurationError(
                "RefreshTokenAuth: give refresh_token or store (see slurm-client login)"
            )

    def _may_log_in(self) -> bool:
        return False

    def _current_refresh_token(self) -> Secret:
        if self.refresh_token is None and self.store is not None:
            loaded = self.store.load()
            if loaded is not None:
                register_secret(loaded.get())
            self.refresh_token = loaded
        if self.refresh_token is None:
            where = f" in {self.store!r}" if self.store is not None else ""
            raise AuthenticationError(
                f"{type(self).__name__}: no refresh token{where}: log in first "
                f"(slurm-client login --issuer {self.issuer} --client-id {self.client_id})",
                status_code=401,
            )
        return self.refresh_token

    def _fetch(self) -> str:
        current = self._current_refresh_token()
        try:
            answer = self._grant({"grant_type": "refresh_token", "refresh_token": current.get()})
        except AuthenticationError as exc:
            stored = self.store.load() if self.store is not None else None
            if error_code(exc) == "invalid_grant" and stored is not None and stored != current:
                # Another process sharing the store used (and so rotated) the token first.
                register_secret(stored.get())
                self.refresh_token = stored
                return self._access_token(
                    self._grant({"grant_type": "refresh_token", "refresh_token": stored.get()})
                )
            if error_code(exc) == "invalid_grant":
                raise AuthenticationError(
                    f"{exc} -- the refresh token expired or was revoked: log in again "
                    f"(slurm-client login --issuer {self.issuer} --client-id {self.client_id})",
                    status_code=exc.status_code,
                    body=exc.body,
                ) from None
            raise
        return self._access_token(answer)

    def _new_refresh_token(self, token: Secret) -> None:
        changed = self.refresh_token != token
        self.refresh_token = token
        if changed and self.store is not None:
            self.store.save(token)

    def _repr_fields(self) -> str:
        store = f", store={self.store!r}" if self.store is not None else ""
        return super()._repr_fields() + store


@dataclass(frozen=True)
class DeviceCode:
    """What to show the person logging in: go to ``verification_uri``, enter ``user_code``.

    ``device_code`` is the secret the client polls with; it never shows in a repr.
    """

    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval: float
    device_code: Secret


class DeviceAuthorization(RefreshTokenAuth):
    """The device-authorization grant (RFC 8628), for a person at a terminal.

    :meth:`start` asks for a code, the person approves it in a browser, :meth:`wait`
    polls until they did; from then on the provider refreshes with the refresh token it
    received (saved to ``store`` if given). ``slurm-client login`` does exactly this.

    Example::

        auth = DeviceAuthorization("https://id.example.org/realms/hpc", "slurm-cli",
                                   store=KeyringStore("https://id.example.org/realms/hpc",
                                                      "slurm-cli"))
        code = auth.start()
        print(f"open {code.verification_uri} and enter {code.user_code}")
        auth.wait(code)
    """

    def _may_log_in(self) -> bool:
        return True

    def start(self) -> DeviceCode:
        """Ask the provider for a device code and the user code to show."""
        owner = type(self).__name__
        url = self.endpoints.device_authorization_endpoint
        if url is None:
            raise ConfigurationError(
                f"{owner}: the issuer's discovery document names no "
                "device_authorization_endpoint; pass endpoints={'device_authorization_endpoint'"
                ": ...}"
            )
        data = {"client_id": self.client_id}
        if self.scope:
            data["scope"] = self.scope
        answer = self._post_form(url, data)
        try:
            device_code = str(answer["device_code"])
            user_code = str(answer["user_code"])
            verification_uri = check_url(
                answer.get("verification_uri") or answer.get("verification_url"),
                "verification_uri",
            )
            expires_in = float(answer["expires_in"])
            interval = float(answer.get("interval", 5))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthenticationError(
                f"{owner}: the device authorization answer lacks or garbles {exc}",
                status_code=502,
            ) from None
        register_secret(device_code)
        complete = answer.get("verification_uri_complete")
        return DeviceCode(
            user_code=user_code,
            verification_uri=verification_uri,
            verification_uri_complete=(
                check_url(complete, "verification_uri_complete") if complete else None
            ),
            expires_at=self._clock() + min(expires_in, 3600.0),
            interval=min(max(interval, 1.0), 60.0),
            device_code=Secret(device_code),
        )

    def _post_form(self, url: str, data: dict[str, str]) -> dict[str, Any]:
        try:
            response = self._session.post(url, data=data)
        except httpx.HTTPError as exc:
            raise unreachable(exc, "POST", url) from None
        body = json_object(response, "device authorization answer")
        if response.status_code != 200 or "error" in body:
            raise AuthenticationError(
                f"{type(self).__name__}: the identity provider refused the device "
                f"authorization request: {body.get('error', response.status_code)}",
                status_code=response.status_code,
                body=str(body.get("error")) if body.get("error") else None,
            )
        return body

    def wait(self, code: DeviceCode, *, sleep: Callable[[float], None] = time.sleep) -> None:
        """Poll until the person approved (or denied, or the code expired: AuthenticationError)."""
        interval = code.interval
        params = {"grant_type": DEVICE_CODE_GRANT, "device_code": code.device_code.get()}
        while True:
            try:
                answer = self._grant(dict(params))
            except AuthenticationError as exc:
                reason = error_code(exc)
                if reason in ("authorization_pending", "slow_down"):
                    if reason == "slow_down":  # RFC 8628 3.5: five more seconds, for good
                        interval += 5
                    if self._clock() + interval > code.expires_at:
                        raise AuthenticationError(
                            f"{type(self).__name__}: the code {code.user_code} expired before "
                            "it was approved; start again",
                            status_code=400,
                            body="expired_token",
                        ) from None
                    sleep(interval)
                    continue
                raise
            with self._lock:
                self._store(self._access_token(answer))
            return
