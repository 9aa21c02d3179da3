"""One parser for connection settings given as a plain mapping (adapters, config files).

:func:`settings_from_mapping` is what the Airflow hook (connection fields and extras), the
Prefect block and the Dagster resource hand their fields to, so every adapter accepts the
same keys with the same rules and the same errors. Keys (blank strings count as unset)::

    url             slurmrestd's URL, or unix:/path/to/socket
    socket          slurmrestd's unix socket (instead of a TCP url)
    token           a JWT                                   \\
    token_file      a file holding one (re-read on change)   | exactly one of these,
    token_command   a command printing one (str or list)     | or none with a socket
    jwt_key_file    the cluster's HS256 key, to mint tokens  |
    oidc_issuer     an OAuth2/OIDC identity provider's URL  /
    jwt_lifespan    seconds a minted token lives (default 1800)
    oidc_client_id  the identity provider's client (see oidc_provider_from_settings)
    oidc_grant      "client_credentials" (default) or "refresh_token"
    oidc_client_secret  the client's secret (client credentials)
    oidc_refresh_token  a refresh token, or one of:
    oidc_refresh_token_file  a 0600 file holding it (what `slurm-client login` wrote)
    oidc_keyring    "true": the refresh token is in the OS keyring
    oidc_scope      scopes to ask for
    oidc_audience   the audience to ask for
    oidc_token_endpoint  the token endpoint, if discovery must be skipped
    oidc_ca_bundle  a CA bundle for the identity provider
    oidc_verify     TLS verification of the identity provider: true/false
    oidc_timeout    seconds per request to the identity provider
    user_name       the Slurm user (X-SLURM-USER-NAME); ``user`` is the same key
    header_style    "x-slurm" (default) or "bearer"
    api_version     pin a REST API version ("v0.0.42")
    verify          TLS verification: true/false (a "true"/"false" string too)
    ca_bundle       a CA bundle file (implies verify; refused with verify false)
    client_cert     a client certificate (mTLS)
    client_key      its private key, if not in client_cert
    timeout         seconds per HTTP request
    working_directory  default working directory of supervised jobs
    poll_interval   longest seconds between polls while a job is supervised
    watch_fleet     a Redis URL the watches share their polls through (a secret)

Every error is a :class:`~slurm_core.ConfigurationError` whose ``field`` names the key;
no message ever quotes a token.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from slurm_core._exceptions import ConfigurationError
from slurm_core.auth import (
    OIDC_SETTINGS,
    JWTKeyAuth,
    SlurmAuth,
    StaticToken,
    TokenCommand,
    TokenFile,
    TokenProvider,
    oidc_provider_from_settings,
)

from ._settings import UDS_HOST, ClientSettings, fleet_url, path_value, split_unix

__all__ = ["AUTH_KINDS", "SETTING_KEYS", "settings_from_mapping", "tls_settings", "token_provider"]

_TRUE: Final = frozenset({"true"})
_FALSE: Final = frozenset({"false"})

Ctx = tuple[str, Path | None, Mapping[str, str]]  # where, base directory, environment


def _static(value: Any, user: str | None, _: Ctx) -> TokenProvider:
    token = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    if not isinstance(token, str) or not token.strip():
        raise ConfigurationError(f"{_[0]}: token must be a non-empty string", field="token")
    return StaticToken(token.strip(), user_name=user)


def _file(value: Any, user: str | None, ctx: Ctx) -> TokenProvider:
    return TokenFile(path_value(value, ctx[1], "token_file", ctx[0], ctx[2]), user_name=user)


def _command(value: Any, user: str | None, ctx: Ctx) -> TokenProvider:
    if isinstance(value, str):
        argv = shlex.split(value)
    elif isinstance(value, (list, tuple)) and all(isinstance(a, str) for a in value):
        argv = list(value)
    else:
        raise ConfigurationError(
            f"{ctx[0]}: token_command must be a string or a list of strings", field="token_command"
        )
    if not argv:
        raise ConfigurationError(f"{ctx[0]}: token_command names no program", field="token_command")
    return TokenCommand(argv, user_name=user)


def _key(value: Any, user: str | None, ctx: Ctx, lifespan: float = 1800.0) -> TokenProvider:
    if not user:
        raise ConfigurationError(
            f"{ctx[0]}: jwt_key_file needs user_name (the user tokens are minted for)",
            field="jwt_key_file",
        )
    key = path_value(value, ctx[1], "jwt_key_file", ctx[0], ctx[2])
    return JWTKeyAuth(key, user, lifespan=lifespan)


def _oidc(values: Mapping[str, Any], where: str) -> TokenProvider:
    """The identity-provider source reads every ``oidc_*`` key, not one value."""
    plain = {}
    for key in OIDC_SETTINGS:
        value = _given(values, key)
        if value is not None:
            value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            plain[key] = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        provider = oidc_provider_from_settings(plain)
    except ConfigurationError as exc:  # its messages start with the key at fault
        key = str(exc).split(":", 1)[0]
        raise ConfigurationError(
            f"{where}: {exc}", field=key if key in OIDC_SETTINGS else "oidc_issuer"
        ) from None
    assert provider is not None, "oidc_issuer is set"
    return provider


AUTH_KINDS: Final[Mapping[str, Callable[..., TokenProvider]]] = {
    "token": _static,
    "token_file": _file,
    "token_command": _command,
    "jwt_key_file": _key,
    "oidc_issuer": _oidc,
}
"""Each token source: its key and how it becomes a provider (a new kind goes here)."""

SETTING_KEYS: Final = frozenset(
    {
        "url",
        "socket",
        *AUTH_KINDS,
        *OIDC_SETTINGS,
        "jwt_lifespan",
        "user_name",
        "user",
        "header_style",
        "api_version",
        "verify",
        "ca_bundle",
        "client_cert",
        "client_key",
        "timeout",
        "working_directory",
        "poll_interval",
        "watch_fleet",
    }
)


def _given(values: Mapping[str, Any], key: str) -> Any:
    value = values.get(key)
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, (list, tuple)) and not value:
        return None
    return value.strip() if isinstance(value, str) else value


def _text(values: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _given(values, key)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{where}: {key} must be a string", field=key)
    return value


def _number(values: Mapping[str, Any], key: str, where: str) -> float | None:
    value = _given(values, key)
    if value is None:
        return None
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise ConfigurationError(f"{where}: {key} must be a number of seconds > 0", field=key)
    return number


def _flag(value: Any, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ConfigurationError(f"{where}: {key} must be true or false", field=key)


def token_provider(
    values: Mapping[str, Any],
    *,
    where: str,
    user_name: str | None,
    base: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[str, TokenProvider] | None:
    """The one token source in ``values`` as ``(key, provider)``; ``None`` when none is set.

    Example::

        kind, provider = token_provider({"token_file": "~/.slurm/jwt"}, where="x", user_name=None)
    """
    given = [k for k in AUTH_KINDS if _given(values, k) is not None]
    stray = [k for k in OIDC_SETTINGS if _given(values, k) is not None]
    if stray and "oidc_issuer" not in given:
        raise ConfigurationError(
            f"{where}: oidc_issuer is required with {stray[0]}", field="oidc_issuer"
        )
    if len(given) > 1:
        raise ConfigurationError(
            f"{where}: give one token source, not {' and '.join(given)}", field=given[1]
        )
    if not given:
        return None
    kind = given[0]
    ctx: Ctx = (where, base, os.environ if env is None else env)
    if kind == "jwt_key_file":
        lifespan = _number(values, "jwt_lifespan", where) or 1800.0
        return kind, _key(_given(values, kind), user_name, ctx, lifespan)
    if kind == "oidc_issuer":
        return kind, _oidc(values, where)
    return kind, AUTH_KINDS[kind](_given(values, kind), user_name, ctx)


def tls_settings(
    values: Mapping[str, Any],
    *,
    where: str,
    base: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[bool | str | None, str | tuple[str, str] | None]:
    """``(verify, cert)`` from verify/ca_bundle/client_cert/client_key (``verify`` is
    ``None`` when none of them says).

    Example::

        verify, cert = tls_settings({"ca_bundle": "/etc/site-ca.pem"}, where="x")
    """
    env = os.environ if env is None else env
    verify: bool | str | None = None
    raw = _given(values, "verify")
    if raw is not None:
        verify = _flag(raw, "verify", where)
    if _given(values, "ca_bundle") is not None:
        if verify is False:
            raise ConfigurationError(
                f"{where}: ca_bundle given with verify false", field="ca_bundle"
            )
        verify = path_value(_given(values, "ca_bundle"), base, "ca_bundle", where, env)
    cert: str | tuple[str, str] | None = None
    has_key = _given(values, "client_key") is not None
    if _given(values, "client_cert") is not None:
        cert_path = path_value(_given(values, "client_cert"), base, "client_cert", where, env)
        if has_key:
            key = path_value(_given(values, "client_key"), base, "client_key", where, env)
            cert = (cert_path, key)
        else:
            cert = cert_path
    elif has_key:
        raise ConfigurationError(
            f"{where}: client_key given without client_cert", field="client_key"
        )
    return verify, cert


def settings_from_mapping(
    values: Mapping[str, Any],
    *,
    where: str = "settings",
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientSettings:
    """:class:`ClientSettings` from a plain mapping of the keys in the module docstring.

    ``where`` names the source in errors (``"connection 'slurm_default'"``); relative paths
    are taken relative to ``base_dir``. Unknown keys are refused, naming them.

    Example::

        settings = settings_from_mapping(
            {"url": "http://127.0.0.1:6820", "token_file": "~/.slurm/jwt", "user": "alice"}
        )
        client = SlurmClient.from_settings(settings)
    """
    unknown = sorted(k for k in values if k not in SETTING_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(SETTING_KEYS))}",
            field=unknown[0],
        )
    base = Path(base_dir) if base_dir is not None else None
    user = _text(values, "user_name", where)
    alias = _text(values, "user", where)
    if user and alias and user != alias:
        raise ConfigurationError(f"{where}: user and user_name differ", field="user")
    user = user or alias
    url = _text(values, "url", where)
    socket = _text(values, "socket", where)
    uds = path_value(socket, base, "socket", where, env or os.environ) if socket else None
    if url and split_unix(url) is not None:
        uds, url = split_unix(url), UDS_HOST
    elif url and not url.lower().startswith(("http://", "https://")):
        raise ConfigurationError(
            f"{where}: url must start with http://, https:// or unix:", field="url"
        )
    if not url:
        if uds is None:
            raise ConfigurationError(f"{where}: url is required (or a socket)", field="url")
        url = UDS_HOST
    found = token_provider(values, where=where, user_name=user, base=base, env=env)
    if found is None and uds is None:
        raise ConfigurationError(
            f"{where}: no token: set one of {', '.join(AUTH_KINDS)}", field="token"
        )
    auth: TokenProvider | httpx.Auth | None = None if found is None else found[1]
    style = _text(values, "header_style", where) or "x-slurm"
    if style not in ("x-slurm", "bearer"):
        raise ConfigurationError(
            f"{where}: header_style must be 'x-slurm' or 'bearer'", field="header_style"
        )
    if style == "bearer" and found is not None:
        auth = SlurmAuth(found[1], header_style="bearer")
    api_version = _text(values, "api_version", where)
    if api_version and not api_version.startswith("v"):
        api_version = "v" + api_version
    verify, cert = tls_settings(values, where=where, base=base, env=env)
    workdir = _text(values, "working_directory", where)
    if workdir is not None and not workdir.startswith("/"):
        raise ConfigurationError(
            f"{where}: working_directory must be an absolute path on the cluster",
            field="working_directory",
        )
    return ClientSettings(
        url=url,
        auth=auth,
        user_name=user,
        api_version=api_version,
        verify=True if verify is None else verify,
        cert=cert,
        uds=uds,
        sources={k: where for k in values if _given(values, k) is not None},
        timeout=_number(values, "timeout", where),
        working_directory=workdir,
        poll_interval=_number(values, "poll_interval", where),
        watch_fleet=fleet_url(values.get("watch_fleet"), where),
    )
