"""Where ``SlurmClient.from_env()`` finds its URL, token and TLS settings.

Each setting is taken from the first place that has it:

1. Environment: ``SLURM_REST_URL``, ``SLURM_JWT``, ``SLURM_JWT_FILE``, ``SLURM_USER_NAME``,
   ``SLURM_REST_API_VERSION``, ``SLURM_CA_BUNDLE``, ``SLURM_WATCH_FLEET``.
2. The config file, ``$SLURM_CLIENT_CONFIG`` or ``~/.config/slurm-client/config.toml``
   (``$XDG_CONFIG_HOME`` honoured). ``[default]`` applies to every profile; a named
   ``[profiles.<name>]`` (chosen by ``profile=`` or ``$SLURM_PROFILE``) overrides it::

       [default]
       url = "https://slurm.example.org:6820"
       token_command = "scontrol token lifespan=3600"   # or token_file / jwt_key_file
       ca_bundle = "~/site-ca.pem"

       [profiles.lab]
       url = "http://localhost:6820"
       user_name = "alice"
       token_file = "~/.slurm/lab.jwt"
       verify = false

   Keys: url, user_name, token_file, token_command, jwt_key_file, api_version, verify,
   ca_bundle, client_cert, client_key, socket, watch_fleet (a Redis URL the watches share
   their polls through, see :class:`~slurm_core.watch.RedisFleet`). Relative paths are
   relative to the file.
3. For the token only: ``scontrol token`` when ``scontrol`` is on ``PATH``.

``$USER`` is the last fallback for the user name. A URL of the form ``unix:/path`` (or a
``socket`` key) talks to slurmrestd over a unix socket; a token is then optional, since
slurmrestd can authenticate local socket peers itself.

Example::

    settings = resolve_settings(profile="lab")
    http = SyncHTTP(settings.client_options())
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slurm_core._exceptions import ConfigurationError
from slurm_core.auth import StaticToken, TokenCommand, TokenFile, TokenProvider

from ._mapping import AUTH_KINDS, SETTING_KEYS, settings_from_mapping, tls_settings, token_provider
from ._settings import UDS_HOST, ClientSettings, fleet_url, path_value, split_unix
from ._settings import expand as _expand

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "SETTING_KEYS",
    "ClientSettings",
    "default_config_path",
    "resolve_settings",
    "settings_from_mapping",
]

_PROFILE_KEYS = frozenset(
    {
        "url",
        "user_name",
        "token_file",
        "token_command",
        "jwt_key_file",
        "api_version",
        "verify",
        "ca_bundle",
        "client_cert",
        "client_key",
        "socket",
        "watch_fleet",
    }
)
_SCONTROL_TOKEN = ("scontrol", "token", "lifespan=3600")


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$SLURM_CLIENT_CONFIG``, else ``$XDG_CONFIG_HOME`` or ``~/.config`` + slurm-client/."""
    env = os.environ if env is None else env
    explicit = env.get("SLURM_CLIENT_CONFIG")
    if explicit:
        return _expand(explicit, env)
    xdg = env.get("XDG_CONFIG_HOME")
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    base = Path(xdg) if xdg else home / ".config"
    return base / "slurm-client" / "config.toml"


def _load_profile(
    path: Path, explicit: bool, profile: str | None
) -> tuple[dict[str, Any], str | None, bool]:
    """The merged ``[default]`` + ``[profiles.<profile>]`` table of the config file."""
    if not path.is_file():
        if explicit:
            raise ConfigurationError(f"SLURM_CLIENT_CONFIG points to {path}, which does not exist")
        return {}, None, False
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc
    merged: dict[str, Any] = {}
    default = data.get("default", {})
    if not isinstance(default, dict):
        raise ConfigurationError(f"{path}: [default] must be a table")
    merged.update(default)
    used: str | None = "default" if default else None
    if profile is not None and profile != "default":
        profiles = data.get("profiles", {})
        table = profiles.get(profile) if isinstance(profiles, dict) else None
        if not isinstance(table, dict):
            names = ", ".join(sorted(profiles)) if isinstance(profiles, dict) else ""
            raise ConfigurationError(
                f"profile {profile!r} not found in {path} (profiles: {names or 'none'})"
            )
        if any(k in table for k in AUTH_KINDS):  # the profile's token source replaces
            for kind in AUTH_KINDS:  # the default's, never joins it
                merged.pop(kind, None)
        merged.update(table)
        used = profile
    unknown = sorted(set(merged) - _PROFILE_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown key(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(_PROFILE_KEYS))}"
        )
    return merged, used, True


def resolve_settings(
    profile: str | None = None, env: Mapping[str, str] | None = None
) -> ClientSettings:
    """Find the URL, token, user and TLS settings from env, config file, then ``scontrol``.

    Raises :class:`ConfigurationError` listing every place tried when no URL (or no token
    for a TCP URL) can be found.

    Example::

        settings = resolve_settings()               # env, then ~/.config/slurm-client
        settings = resolve_settings(profile="lab")  # [profiles.lab] over [default]
    """
    env = os.environ if env is None else env
    url_tried: list[str] = []
    sources: dict[str, str] = {}

    profile = profile or env.get("SLURM_PROFILE") or None
    path = default_config_path(env)
    cfg, used_profile, found = _load_profile(path, bool(env.get("SLURM_CLIENT_CONFIG")), profile)
    base = path.parent
    where = f"{path} [{used_profile or 'default'}]"
    missing_file = f"config file {path}: not found"

    # --- URL / socket ---------------------------------------------------------------------
    url = env.get("SLURM_REST_URL") or None
    uds: str | None = None
    if url:
        sources["url"] = "env SLURM_REST_URL"
    else:
        url_tried.append("env SLURM_REST_URL: not set")
        if cfg.get("url"):
            url = str(cfg["url"])
            sources["url"] = where
        if cfg.get("socket"):
            uds = path_value(cfg["socket"], base, "socket", where, env)
            sources["uds"] = where
    if url:
        sock = split_unix(url)
        if sock is not None:
            uds, url = sock, UDS_HOST
            sources["uds"] = sources["url"]
    elif uds:
        url = UDS_HOST
    else:
        url_tried.append(f"{where}: no url or socket" if found else missing_file)

    # --- user name --------------------------------------------------------------------------
    # Only an explicit name goes to the providers; without one SlurmAuth sends the token's
    # own "sun" claim. $USER may differ from "sun" (sending it would ask for impersonation,
    # which slurmctld refuses most users), so it only serves reporting and minting tokens.
    explicit_user = env.get("SLURM_USER_NAME") or None
    if explicit_user:
        sources["user_name"] = "env SLURM_USER_NAME"
    elif cfg.get("user_name"):
        explicit_user = str(cfg["user_name"])
        sources["user_name"] = where
    user_name = explicit_user
    if user_name is None and env.get("USER"):
        user_name = env["USER"]
        sources["user_name"] = "env USER"

    # --- token ------------------------------------------------------------------------------
    auth: TokenProvider | None = None
    auth_tried: list[str] = []
    jwt_value = env.get("SLURM_JWT")
    if jwt_value and jwt_value.strip() and jwt_value.strip() != "daemon":
        auth = StaticToken(jwt_value, user_name=explicit_user)
        sources["auth"] = "env SLURM_JWT"
    else:
        # "daemon" is slurmrestd's own switch, not a token.
        auth_tried.append(
            "env SLURM_JWT: set to 'daemon' (not a token)"
            if jwt_value and jwt_value.strip() == "daemon"
            else "env SLURM_JWT: not set"
        )
    if auth is None:
        if env.get("SLURM_JWT_FILE"):
            auth = TokenFile(_expand(env["SLURM_JWT_FILE"], env), user_name=explicit_user)
            sources["auth"] = "env SLURM_JWT_FILE"
        else:
            auth_tried.append("env SLURM_JWT_FILE: not set")
    if auth is None:
        # jwt_key_file mints tokens, so it needs a name: $USER will do (not sent otherwise).
        minting = bool(cfg.get("jwt_key_file"))
        source = token_provider(
            cfg,
            where=where,
            user_name=user_name if minting else explicit_user,
            base=base,
            env=env,
        )
        if source is not None:
            kind, auth = source
            sources["auth"] = f"{where} {kind}"
        else:
            auth_tried.append(
                f"{where}: no token_file, token_command or jwt_key_file" if found else missing_file
            )
    if auth is None:
        scontrol = shutil.which("scontrol", path=env.get("PATH"))
        if scontrol:
            auth = TokenCommand([scontrol, *_SCONTROL_TOKEN[1:]], user_name=explicit_user)
            sources["auth"] = f"{scontrol} token"
        else:
            auth_tried.append("scontrol token: scontrol not on PATH")

    if not url or (auth is None and uds is None):
        missing = " and ".join(
            m for m, ok in (("a URL", bool(url)), ("a token", auth is not None)) if not ok
        )
        raise ConfigurationError(
            f"no slurmrestd configuration found: missing {missing}. Looked at:",
            tried=list(
                dict.fromkeys((url_tried if not url else []) + (auth_tried if auth is None else []))
            ),
        )

    # --- version / TLS ----------------------------------------------------------------------
    api_version = env.get("SLURM_REST_API_VERSION") or cfg.get("api_version") or None
    if api_version:
        api_version = str(api_version).strip()
        if not api_version.startswith("v"):
            api_version = "v" + api_version
        sources["api_version"] = (
            "env SLURM_REST_API_VERSION" if env.get("SLURM_REST_API_VERSION") else where
        )

    # In the file an explicit CA wins over an inherited (or sibling) verify = false.
    tls = {k: v for k, v in cfg.items() if not (k == "verify" and cfg.get("ca_bundle"))}
    file_verify, cert = tls_settings(tls, where=where, base=base, env=env)
    verify: bool | str = True
    if env.get("SLURM_CA_BUNDLE"):
        verify = str(_expand(env["SLURM_CA_BUNDLE"], env))
        sources["verify"] = "env SLURM_CA_BUNDLE"
    elif file_verify is not None:
        verify = file_verify
        sources["verify"] = where
    if cert is not None:
        sources["cert"] = where

    # --- the fleet (a Redis URL: a secret when it holds a password) ------------------------
    fleet = fleet_url(env.get("SLURM_WATCH_FLEET"), "env SLURM_WATCH_FLEET")
    if fleet is not None:
        sources["watch_fleet"] = "env SLURM_WATCH_FLEET"
    else:
        fleet = fleet_url(cfg.get("watch_fleet"), where)
        if fleet is not None:
            sources["watch_fleet"] = where

    return ClientSettings(
        url=url,
        auth=auth,
        user_name=user_name,
        api_version=api_version,
        verify=verify,
        cert=cert,
        uds=uds,
        profile=used_profile,
        sources=sources,
        watch_fleet=fleet,
    )
