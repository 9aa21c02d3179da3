"""``slurm-client config list|show|add``: the profiles of the config file.

The file is the one :func:`slurm_core.config.resolve_settings` reads
(``$SLURM_CLIENT_CONFIG`` or ``~/.config/slurm-client/config.toml``). It never holds a
token itself (``token_file``, ``token_command`` or ``jwt_key_file`` say where one comes
from); whatever is shown goes through the redaction helpers anyway, and a token fetched to
learn its expiry is only ever shown as ``<redacted>``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .._exceptions import ConfigurationError, SlurmError
from .._redact import REDACTED, redact_text, redact_url
from ..config import _PROFILE_KEYS, default_config_path
from ._render import kv_table, table
from ._state import CliState, state_of

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["app", "token_status"]

app = typer.Typer(help="List, show and add profiles of the config file.", no_args_is_help=True)

_AUTH_KEYS = ("token_file", "token_command", "jwt_key_file")


def _path(cli: CliState) -> Path:
    return default_config_path(cli.environ())


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
            return data
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc


def _profiles(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if isinstance(data.get("default"), dict):
        out["default"] = data["default"]
    profiles = data.get("profiles")
    if isinstance(profiles, dict):
        out.update({k: v for k, v in profiles.items() if isinstance(v, dict)})
    return out


def _url(value: Any) -> Any:
    """A URL as it may be shown: no ``user:password@``, no ``?token=`` value."""
    return redact_url(value) if isinstance(value, str) and value else value


def _shown(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


@app.command("list")
def list_profiles(ctx: typer.Context) -> None:
    """The profiles in the config file ([default] applies under every profile)."""
    cli = state_of(ctx)
    path = _path(cli)
    profiles = _profiles(_load(path))
    active = cli.profile or "default"
    data = {
        "path": str(path),
        "active": active,
        "profiles": [
            {"name": name, **{k: _url(v) if k == "url" else _shown(v) for k, v in table_.items()}}
            for name, table_ in profiles.items()
        ],
    }
    if cli.json:
        cli.print_json(data)
        return
    if not path.is_file():
        cli.out.print(f"no config file at {path} (create one with: slurm-client config add)")
        return
    rows = []
    for name, values in profiles.items():
        auth = next((f"{k}: {_shown(values[k])}" for k in _AUTH_KEYS if k in values), None)
        mark = "*" if name == active else ""
        rows.append(
            [
                mark,
                name,
                _url(values.get("url")) or values.get("socket"),
                values.get("user_name"),
                auth,
                values.get("api_version"),
            ]
        )
    cli.out.print(table(str(path), ["", "PROFILE", "URL", "USER", "TOKEN FROM", "API"], rows))


def token_status(auth: Any, now: float | None = None) -> dict[str, Any]:
    """Fetch the provider's token and report its expiry (never the token).

    Returns ``{"token": "<redacted>", "expires_at": epoch|None, "expires_in": s|None}`` or
    ``{"token": None, "error": "..."}`` when no token can be had.
    """
    from ..auth import TokenProvider

    if not isinstance(auth, TokenProvider):
        return {"token": None, "error": "no token provider (unix socket authentication)"}
    try:
        auth.token()
    except SlurmError as exc:
        return {"token": None, "error": redact_text(str(exc))}
    expires = auth.expires_at
    now = time.time() if now is None else now
    return {
        "token": REDACTED,
        "expires_at": expires,
        "expires_in": None if expires is None else round(expires - now),
    }


@app.command("show")
def show(ctx: typer.Context) -> None:
    """The settings in effect (--profile, --url, environment, file) and where each came from."""
    cli = state_of(ctx)
    settings = cli.settings()
    token = token_status(settings.auth)
    data = {
        "config_file": str(_path(cli)),
        "profile": settings.profile,
        "url": _url(settings.url),
        "socket": settings.uds,
        "user_name": settings.user_name,
        "api_version": settings.api_version,
        "verify": settings.verify,
        "cert": settings.cert,
        "auth": type(settings.auth).__name__ if settings.auth is not None else None,
        **token,
        "sources": dict(settings.sources),
    }
    if cli.json:
        cli.print_json(data)
        return
    pairs = [(k, v) for k, v in data.items() if k not in ("sources", "expires_at")]
    if token.get("expires_in") is not None:
        pairs.append(("expires in", f"{token['expires_in'] // 60} min"))
    pairs += [(f"source of {k}", v) for k, v in settings.sources.items()]
    cli.out.print(kv_table("settings", pairs))


def _toml_value(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # a TOML basic string: JSON's escapes are valid TOML


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Profile name ('default' writes [default]).")],
    user_name: Annotated[str | None, typer.Option("--user-name")] = None,
    token_file: Annotated[
        str | None, typer.Option("--token-file", help="File holding the JWT.")
    ] = None,
    token_command: Annotated[
        str | None,
        typer.Option(
            "--token-command", help="Command printing a JWT (scontrol token lifespan=3600)."
        ),
    ] = None,
    jwt_key_file: Annotated[
        str | None, typer.Option("--jwt-key-file", help="Cluster JWT key.")
    ] = None,
    verify: Annotated[
        bool | None, typer.Option("--verify/--no-verify", help="TLS verification.")
    ] = None,
    ca_bundle: Annotated[str | None, typer.Option("--ca-bundle")] = None,
    client_cert: Annotated[str | None, typer.Option("--client-cert")] = None,
    client_key: Annotated[str | None, typer.Option("--client-key")] = None,
    socket: Annotated[str | None, typer.Option("--socket", help="slurmrestd unix socket.")] = None,
) -> None:
    """Add a profile to the config file (refuses to overwrite an existing one).

    The global --url and --api-version are stored in it:
    ``slurm-client config add lab --url http://localhost:6820 --token-file ~/lab.jwt``
    """
    cli = state_of(ctx)
    url, api_version = cli.url, cli.api_version
    if not name or any(c in name for c in ' ."[]'):
        raise typer.BadParameter(f"{name!r}: a profile name is a plain word", param_hint="NAME")
    given: dict[str, str | bool | None] = {
        "url": url,
        "user_name": user_name,
        "token_file": token_file,
        "token_command": token_command,
        "jwt_key_file": jwt_key_file,
        "api_version": api_version,
        "verify": verify,
        "ca_bundle": ca_bundle,
        "client_cert": client_cert,
        "client_key": client_key,
        "socket": socket,
    }
    values = {k: v for k, v in given.items() if v is not None}
    assert set(values) <= _PROFILE_KEYS
    if not values:
        raise typer.BadParameter("give at least one setting (--url URL, --token-file FILE ...)")
    if sum(k in values for k in _AUTH_KEYS) > 1:
        raise typer.BadParameter("give one of --token-file, --token-command, --jwt-key-file")
    path = _path(cli)
    existing = _profiles(_load(path))
    if name in existing:
        raise ConfigurationError(f"profile {name!r} already exists in {path}; edit the file")
    header = "[default]" if name == "default" else f"[profiles.{name}]"
    block = header + "\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())
    tomllib.loads(block)  # what we write must read back
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    sep = "" if not old or old.endswith("\n\n") else ("\n" if old.endswith("\n") else "\n\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as fh:
        fh.write(sep + block)
    if cli.json:
        shown = {k: _url(v) if k == "url" else v for k, v in values.items()}
        cli.print_json({"path": str(path), "profile": name, **shown})
    else:
        cli.out.print(f"added {header} to {path}")
