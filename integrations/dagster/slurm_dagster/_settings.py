"""The resource's fields through :func:`slurm_core.config.settings_from_mapping`, the one
settings parser every adapter shares (an ``EnvVar`` is read where the field is used).

Example::

    settings = parse(lambda name: getattr(resource, name), resolve=True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagster import EnvVar

from slurm_core.auth import OIDC_SETTINGS
from slurm_core.config import ClientSettings, settings_from_mapping

__all__ = ["parse", "secret_value"]

# Resource field -> key of slurm_core.config.settings_from_mapping (the one parser).
_SETTING_OF: dict[str, str] = {
    "url": "url",
    "token": "token",
    "token_file": "token_file",
    "token_command": "token_command",
    "jwt_key_file": "jwt_key_file",
    "jwt_lifespan_seconds": "jwt_lifespan",
    "user_name": "user_name",
    "api_version": "api_version",
    "verify_tls": "verify",
    "ca_bundle": "ca_bundle",
    "client_cert": "client_cert",
    "client_key": "client_key",
    "request_timeout_seconds": "timeout",
    "working_directory": "working_directory",
    "poll_interval_seconds": "poll_interval",
    "watch_fleet": "watch_fleet",
}
# Identity-provider settings (#23) keep their names; passed on only when set.
_OIDC_FIELDS = OIDC_SETTINGS


def parse(field: Callable[[str], Any], *, resolve: bool) -> ClientSettings:
    """The fields (``field(name)`` gives one) through the one settings parser."""
    values: dict[str, Any] = {}
    for name, key in _SETTING_OF.items():
        if name == "jwt_lifespan_seconds" and not field("jwt_key_file"):
            continue
        values[key] = _env_setting(name, field(name), resolve)
    for name in _OIDC_FIELDS:
        value = field(name)
        if value is not None:
            values[name] = _env_setting(name, value, resolve)
    return settings_from_mapping(values, where="SlurmResource")


def _env_setting(name: str, value: Any, resolve: bool) -> Any:
    """A field's value; an ``EnvVar`` Dagster has not resolved yet is read here."""
    if not isinstance(value, EnvVar):
        return value
    got = value.get_value()
    if got is None and not resolve:
        # Checked when the resource is defined: the variable may be set only where it runs.
        return "http://set-by-env-var" if name == "url" else "set-by-env-var"
    return got


def secret_value(value: str | None) -> str:
    """A secret field's value, whether Dagster resolved its ``EnvVar`` yet or not."""
    # Dagster resolves an EnvVar when it initializes the resource; a resource used outside
    # a run (a script, a test) still holds the EnvVar itself.
    if isinstance(value, EnvVar):
        return value.get_value() or ""
    return value or ""
