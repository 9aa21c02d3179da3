"""The resolved client settings, and the path helpers both parsers share."""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from slurm_core._exceptions import ConfigurationError
from slurm_core._options import ClientOptions
from slurm_core.auth import TokenProvider

__all__ = ["ClientSettings", "fleet_url"]

UDS_HOST: Final = "http://localhost"
_FLEET_SCHEMES: Final = ("redis://", "rediss://", "unix://")


@dataclasses.dataclass(frozen=True)
class ClientSettings:
    """The resolved settings; ``sources`` says where each one came from.

    ``working_directory`` and ``poll_interval`` are the job supervisor's defaults
    (:mod:`slurm_core.lifecycle`); ``timeout`` the client's per-request timeout when set;
    ``watch_fleet`` a Redis URL the watches of clients made from these settings share
    their polls through (left out of the repr: it may hold a password).

    Example::

        >>> s = resolve_settings(env={"SLURM_REST_URL": "http://h:6820", "SLURM_JWT": "x"})
        >>> s.url, s.sources["auth"]
        ('http://h:6820', 'env SLURM_JWT')
    """

    url: str
    auth: TokenProvider | httpx.Auth | None
    user_name: str | None = None
    api_version: str | None = None
    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    uds: str | None = None
    profile: str | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    timeout: float | None = None
    working_directory: str | None = None
    poll_interval: float | None = None
    watch_fleet: str | None = dataclasses.field(default=None, repr=False)
    """A Redis URL the clients' watches share their polls through (may hold a password)."""

    def client_options(self, **overrides: Any) -> ClientOptions:
        """:class:`~slurm_core._http.ClientOptions` for these settings (overrides win)."""
        kwargs: dict[str, Any] = {
            "base_url": self.url,
            "auth": self.auth,
            "verify": self.verify,
            "cert": self.cert,
            "uds": self.uds,
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.watch_fleet is not None:
            kwargs["watch_fleet"] = self.watch_fleet
        kwargs.update(overrides)
        return ClientOptions(**kwargs)


def fleet_url(value: Any, where: str) -> str | None:
    """The ``watch_fleet`` setting checked: a Redis URL, or None when blank. Its value is
    never quoted (it may carry a password); it needs the ``redis`` extra installed."""
    if value is not None and hasattr(value, "get_secret_value"):  # a pydantic SecretStr
        value = value.get_secret_value()
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not value.strip().lower().startswith(_FLEET_SCHEMES):
        raise ConfigurationError(
            f"{where}: watch_fleet must be a redis://, rediss:// or unix:// URL",
            field="watch_fleet",
        )
    if importlib.util.find_spec("redis") is None:
        raise ConfigurationError(
            f"{where}: watch_fleet needs redis-py: pip install 'slurm-client[redis]'",
            field="watch_fleet",
        )
    return value.strip()


def expand(value: str, env: Mapping[str, str]) -> Path:
    """``~`` expanded with the given environment's HOME (so an explicit env is honoured)."""
    if (value == "~" or value.startswith("~/")) and env.get("HOME"):
        return Path(env["HOME"]) / value[2:]
    return Path(value).expanduser()


def path_value(value: Any, base: Path | None, key: str, where: str, env: Mapping[str, str]) -> str:
    """A path setting: ``~`` expanded, a relative one taken relative to ``base``."""
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: {key} must be a non-empty string", field=key)
    p = expand(value, env)
    return str(p if p.is_absolute() or base is None else base / p)


def split_unix(url: str) -> str | None:
    """The socket path for ``unix:/path`` or ``unix:///path``, else None."""
    if url.startswith("unix:"):
        rest = url[len("unix:") :]
        return "/" + rest.lstrip("/") if rest.startswith("//") else rest
    return None
