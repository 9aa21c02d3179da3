"""What every command shares: the global options, the client they make, and the consoles.

A :class:`CliState` is the command context's object (``ctx.obj``). ``--url`` and
``--api-version`` are laid over the environment (``SLURM_REST_URL``,
``SLURM_REST_API_VERSION``); the settings are then resolved exactly as
:meth:`SlurmClient.from_env` does (:func:`slurm_core.config.resolve_settings`), so the
command line and the library agree on where a URL or a token comes from.

Tests inject ``client_factory`` (e.g. a client on a ``FakeSlurmServer`` transport)::

    runner.invoke(app, ["jobs", "list"], obj=CliState(client_factory=factory))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ..config import ClientSettings, resolve_settings

if TYPE_CHECKING:
    from .._client import SlurmClient

__all__ = ["CliState", "ClientFactory", "default_client_factory", "state_of"]

ClientFactory = Callable[..., "SlurmClient"]
"""``factory(settings, **options) -> SlurmClient``; ``options`` are client keyword options."""


def default_client_factory(settings: ClientSettings, **options: Any) -> SlurmClient:
    """A :class:`~slurm_core.SlurmClient` for ``settings`` (what ``from_env`` would build)."""
    from .._client import SlurmClient

    options.setdefault("api_version", settings.api_version)
    return SlurmClient(
        settings.url,
        auth=settings.auth,
        verify=settings.verify,
        cert=settings.cert,
        uds=settings.uds,
        **options,
    )


@dataclasses.dataclass
class CliState:
    """Global options and the shared pieces of one command-line run."""

    profile: str | None = None
    url: str | None = None
    api_version: str | None = None
    json: bool = False
    debug: bool = False
    client_factory: ClientFactory | None = None
    # markup off: job names, reasons and error texts are shown as they are ("[...]" too)
    out: Console = dataclasses.field(default_factory=lambda: Console(markup=False, highlight=False))
    err: Console = dataclasses.field(
        default_factory=lambda: Console(stderr=True, markup=False, highlight=False)
    )
    _settings: ClientSettings | None = dataclasses.field(default=None, repr=False)

    def environ(self) -> dict[str, str]:
        """The environment with ``--url``/``--api-version`` laid over it."""
        env = dict(os.environ)
        if self.url:
            env["SLURM_REST_URL"] = self.url
        if self.api_version:
            env["SLURM_REST_API_VERSION"] = self.api_version
        return env

    def settings(self) -> ClientSettings:
        """The resolved settings (:class:`~slurm_core.ConfigurationError` if incomplete)."""
        if self._settings is None:
            self._settings = resolve_settings(profile=self.profile, env=self.environ())
        return self._settings

    def client(self, **options: Any) -> SlurmClient:
        """A new client for the resolved settings; close it (``with state.client() as c``)."""
        factory = self.client_factory or default_client_factory
        return factory(self.settings(), **options)

    def print_json(self, data: Any) -> None:
        """Machine-readable output: one JSON document on stdout."""
        from ._render import dumps

        typer.echo(dumps(data))


def state_of(ctx: typer.Context) -> CliState:
    """The run's :class:`CliState` (created by the root callback)."""
    state = ctx.find_object(CliState)
    if state is None:  # pragma: no cover - the root callback always makes one
        state = ctx.ensure_object(CliState)
    return state
