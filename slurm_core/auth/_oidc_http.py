"""Talking to an identity provider: discovery, a bounded HTTP session, authlib's grant code.

The grant requests (bodies, client authentication, error parsing) are authlib's
(``authlib.oauth2.client.OAuth2Client``, framework-agnostic); the session under it is an
``httpx.Client`` of ours whose answers are bounded in size and time, because an identity
provider's answers are input like any other.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from slurm_core._exceptions import (
    AuthenticationError,
    ConfigurationError,
    SlurmConnectionError,
    SlurmSecurityWarning,
)
from slurm_core._redact import Secret, is_loopback, redact_text

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_MAX_ANSWER_BYTES = 256 * 1024  # a discovery document is ~2-5 KiB, a token answer ~2 KiB
_DISCOVERY_PATH = "/.well-known/openid-configuration"


def check_url(value: object, field: str) -> str:
    """``value`` as an https URL (http only to a loopback host); else a ConfigurationError."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{field}: expected a URL, got {type(value).__name__}")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError(f"{field}: {value!r} is not a URL") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ConfigurationError(f"{field}: {value!r} is not an http(s) URL")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            f"{field}: {value!r} uses plain http to a host that is not loopback: client "
            "secrets and refresh tokens would travel in clear text; use https"
        )
    if url.userinfo or url.fragment:
        raise ConfigurationError(f"{field}: {value!r} must not carry a user, password or #")
    return value


class _BoundedStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, url: str) -> None:
        self._inner, self._url = inner, url

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > _MAX_ANSWER_BYTES:
                raise httpx.DecodingError(
                    f"the identity provider's answer from {self._url} exceeds "
                    f"{_MAX_ANSWER_BYTES} bytes"
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _BoundedTransport(httpx.BaseTransport):
    """Refuses answers larger than 256 KiB while they are read, not after."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _BoundedStream(response.stream, str(request.url.copy_with(query=None)))
        return response

    def close(self) -> None:
        self._inner.close()


def make_session(
    *, timeout: float, verify: bool | str, transport: httpx.BaseTransport | None
) -> httpx.Client:
    """The HTTP session every request to the identity provider goes through."""
    if verify is False:
        warnings.warn(
            "TLS certificate verification is off for the identity provider: anyone on the "
            "path can read the client secret and the tokens (pass a CA bundle instead)",
            SlurmSecurityWarning,
            stacklevel=4,
        )
    inner = transport if transport is not None else httpx.HTTPTransport(verify=verify)
    # No redirects: a token request that is redirected would carry the client secret along.
    return httpx.Client(
        transport=_BoundedTransport(inner),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


@dataclass(frozen=True)
class Endpoints:
    """What ``/.well-known/openid-configuration`` says (only the parts we use)."""

    issuer: str
    token_endpoint: str
    device_authorization_endpoint: str | None = None


def discover(session: httpx.Client, issuer: str, overrides: Mapping[str, str]) -> Endpoints:
    """Read the issuer's discovery document; ``overrides`` (checked URLs) win over it."""
    url = issuer.rstrip("/") + _DISCOVERY_PATH
    doc = _get_json(session, url, "discovery")
    said = doc.get("issuer")
    # OpenID Connect Discovery 1.0, 4.3: the issuer in the document must be the one asked.
    if isinstance(said, str) and said.rstrip("/") != issuer.rstrip("/"):
        raise ConfigurationError(
            f"issuer: {url} describes issuer {said!r}, not {issuer!r} (wrong URL, or a "
            "provider that is not the one you configured)"
        )

    def endpoint(name: str, required: bool) -> str | None:
        if name in overrides:
            return overrides[name]
        value = doc.get(name)
        if value is None and not required:
            return None
        if value is None:
            raise ConfigurationError(f"issuer: {url} names no {name}")
        return check_url(value, f"{name} (from {url})")

    token = endpoint("token_endpoint", True)
    assert token is not None
    return Endpoints(issuer, token, endpoint("device_authorization_endpoint", False))


def _get_json(session: httpx.Client, url: str, what: str) -> dict[str, Any]:
    try:
        response = session.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise unreachable(exc, "GET", url) from None
    if response.status_code != 200:
        raise ConfigurationError(
            f"issuer: {what} at {url} answered HTTP {response.status_code} (is the issuer URL "
            "right?)"
        )
    return json_object(response, f"{what} at {url}")


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise ConfigurationError(f"the identity provider's {what} is not a JSON object")
    return doc


def unreachable(exc: httpx.HTTPError, method: str, url: str) -> SlurmConnectionError:
    reason = redact_text(str(exc))[:200] or type(exc).__name__
    what = "bad answer from" if isinstance(exc, httpx.DecodingError) else "cannot reach"
    return SlurmConnectionError(
        f"{what} the identity provider at {url}: {reason}", method=method, url=url
    )


def _client_auth_class() -> type[httpx.Auth]:
    """An ``httpx.Auth`` that applies authlib's client authentication (basic, post, none)."""
    from authlib.oauth2.auth import ClientAuth  # lazy: the [oidc] extra

    class _ClientAuth(ClientAuth, httpx.Auth):  # type: ignore[misc]
        requires_request_body = True

        def auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            url, headers, body = self.prepare(
                request.method, str(request.url), dict(request.headers), request.content
            )
            content = body.encode() if isinstance(body, str) else body
            fixed = httpx.Headers(headers)
            fixed["Content-Length"] = str(len(content))  # the body may have grown (client_id)
            yield httpx.Request(request.method, url, headers=fixed, content=content)

    return _ClientAuth


def grant(
    session: httpx.Client,
    token_endpoint: str,
    client_id: str,
    client_secret: Secret | None,
    params: Mapping[str, str],
    owner: str,
) -> dict[str, Any]:
    """One token request (``params`` hold ``grant_type`` and its fields); the answer's JSON.

    An OAuth error answer (``invalid_client``, ``invalid_grant``...) raises
    :class:`AuthenticationError` naming it (``authorization_pending`` and ``slow_down``
    too: the device flow catches those); an unreachable provider
    :class:`SlurmConnectionError`.
    """
    try:
        from authlib.common.errors import AuthlibBaseError
        from authlib.oauth2.client import OAuth2Client
    except ImportError:
        raise ConfigurationError(
            f"{owner} needs authlib: pip install 'slurm-client[oidc]'"
        ) from None

    class _Client(OAuth2Client):  # type: ignore[misc]
        client_auth_class = _client_auth_class()

    client = _Client(
        session,
        client_id=client_id,
        client_secret=client_secret.get() if client_secret else None,
        token_endpoint_auth_method="client_secret_basic" if client_secret else "none",
    )
    fields = dict(params)
    grant_type = fields.pop("grant_type")
    try:
        token = client.fetch_token(token_endpoint, grant_type=grant_type, **fields)
    except httpx.HTTPStatusError as exc:
        raise _rejected(owner, exc.response.status_code, "", "") from None
    except httpx.HTTPError as exc:
        raise unreachable(exc, "POST", token_endpoint) from None
    except AuthlibBaseError as exc:
        raise _rejected(owner, 400, str(exc.error), str(exc.description or "")) from None
    except ValueError as exc:  # not a JSON object
        raise _rejected(owner, 502, "", redact_text(str(exc))) from None
    return dict(token)


_HINTS = {
    "invalid_client": "wrong client id or secret, or the client was revoked",
    "unauthorized_client": "this client may not use this grant",
    "invalid_scope": "the scope asked for is not granted to this client",
    "access_denied": "the person denied the request",
    "expired_token": "the code expired before it was approved",
}


def _rejected(owner: str, status: int, error: str, description: str) -> AuthenticationError:
    said = error or f"HTTP {status}"
    if description:
        said += f" ({redact_text(description)[:200]})"
    if error in _HINTS:
        said += f": {_HINTS[error]}"
    return AuthenticationError(
        f"{owner}: the identity provider refused the token request: {said}",
        status_code=status,
        body=error or None,
    )


def error_code(exc: AuthenticationError) -> str | None:
    """The OAuth error code :func:`grant` put on ``exc`` (``authorization_pending``...)."""
    return exc.body
