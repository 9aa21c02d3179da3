"""Authentication for slurmrestd: token providers and one :class:`httpx.Auth`.

A *provider* knows where a JWT comes from and when it expires; :class:`SlurmAuth` puts it on
requests. Providers refresh ``refresh_margin`` seconds before the token's ``exp`` and once
more when the server rejects a token (401/511, or 22.05's HTTP 500 with an authentication
error number); if the fresh token is rejected too, the error surfaces as
:class:`~slurm_core.AuthenticationError`.

Providers:

* :class:`StaticToken` -- a fixed token (e.g. from ``SLURM_JWT``); cannot refresh.
* :class:`TokenFile` -- read from a file, re-read whenever its mtime changes.
* :class:`TokenCommand` -- run a command such as ``scontrol token lifespan=3600``.
* :class:`JWTKeyAuth` -- mint HS256 tokens with the cluster's ``jwt_hs256.key``.
* :class:`CallableAuth` -- call a function of yours (a vault lookup, ...).

From an OAuth2/OpenID Connect identity provider (extra ``[oidc]``; endpoints discovered
from the issuer's ``/.well-known/openid-configuration``; sent as ``Authorization: Bearer``):

* :class:`ClientCredentials` -- a service account's client id and secret.
* :class:`RefreshTokenAuth` -- a refresh token, given or kept in a :class:`RefreshTokenFile`
  (mode 0600) or a :class:`KeyringStore` (what ``slurm-client login`` wrote).
* :class:`DeviceAuthorization` -- a person approves a code in a browser (RFC 8628).
* :func:`oidc_provider_from_settings` -- one of these from plain ``oidc_*`` strings.

Token values never appear in ``repr``/``str``, logs or exception messages: every token a
provider obtains is registered for redaction, so an opaque (non-JWT) one is hidden too, and a
:class:`TokenCommand` shows only its program, never its arguments. Token and key files are
read like ssh reads a private key: not through a symbolic link, only a regular file, never
one others can write (a token file: owned by you or root; a key: not readable by others).

Example::

    from slurm_core.auth import SlurmAuth, TokenCommand
    auth = SlurmAuth(TokenCommand(["scontrol", "token", "lifespan=3600"]), header_style="bearer")
    httpx.get("http://slurm:6820/slurm/v0.0.40/diag", auth=auth)
"""

from slurm_core.auth._flow import SlurmAuth, is_auth_rejection, maybe_auth_rejection
from slurm_core.auth._jwt import token_expiry
from slurm_core.auth._oidc import (
    ClientCredentials,
    DeviceAuthorization,
    DeviceCode,
    OIDCTokenProvider,
    RefreshTokenAuth,
)
from slurm_core.auth._oidc_settings import OIDC_SETTINGS, oidc_provider_from_settings
from slurm_core.auth._oidc_store import KeyringStore, RefreshTokenFile, RefreshTokenStore
from slurm_core.auth._provider import DEFAULT_REFRESH_MARGIN, HeaderStyle, TokenProvider
from slurm_core.auth._sources import CallableAuth, JWTKeyAuth, StaticToken, TokenCommand, TokenFile

__all__ = [
    "DEFAULT_REFRESH_MARGIN",
    "OIDC_SETTINGS",
    "CallableAuth",
    "ClientCredentials",
    "DeviceAuthorization",
    "DeviceCode",
    "HeaderStyle",
    "JWTKeyAuth",
    "KeyringStore",
    "OIDCTokenProvider",
    "RefreshTokenAuth",
    "RefreshTokenFile",
    "RefreshTokenStore",
    "SlurmAuth",
    "StaticToken",
    "TokenCommand",
    "TokenFile",
    "TokenProvider",
    "is_auth_rejection",
    "maybe_auth_rejection",
    "oidc_provider_from_settings",
    "token_expiry",
]
