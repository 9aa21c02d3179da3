"""``slurm-client login``: the OAuth2 device grant at a terminal, the refresh token kept.

The person opens the verification URL, enters the code, approves; the refresh token goes
to the OS keyring (``--keyring``) or a file of mode 0600 (default
``~/.config/slurm-client/refresh-token``). Afterwards a :class:`~slurm_core.auth.RefreshTokenAuth`
with the same store (settings ``oidc_refresh_token_file`` or ``oidc_keyring=true``) gets
access tokens from it. No token is ever printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..auth import DeviceAuthorization, KeyringStore, RefreshTokenFile, RefreshTokenStore
from ._state import state_of

__all__ = ["DEFAULT_REFRESH_TOKEN_FILE", "login"]

DEFAULT_REFRESH_TOKEN_FILE = "~/.config/slurm-client/refresh-token"  # noqa: S105 (a path)


def login(
    ctx: typer.Context,
    issuer: Annotated[str, typer.Option("--issuer", help="The identity provider's issuer URL.")],
    client_id: Annotated[
        str, typer.Option("--client-id", help="The OAuth client registered for this CLI.")
    ],
    scope: Annotated[str | None, typer.Option("--scope", help="Scopes to ask for.")] = None,
    keyring: Annotated[
        bool, typer.Option("--keyring", help="Keep the refresh token in the OS keyring.")
    ] = False,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help=f"Keep the refresh token in this file, mode 0600 [{DEFAULT_REFRESH_TOKEN_FILE}].",
        ),
    ] = None,
    ca_bundle: Annotated[
        str | None, typer.Option("--ca-bundle", help="CA bundle for the identity provider.")
    ] = None,
) -> None:
    """Log in at the identity provider (device code) and keep the refresh token."""
    cli = state_of(ctx)
    if keyring and token_file is not None:
        raise typer.BadParameter("give --keyring or --token-file, not both")
    store: RefreshTokenStore = (
        KeyringStore(issuer, client_id)
        if keyring
        else RefreshTokenFile(token_file or DEFAULT_REFRESH_TOKEN_FILE)
    )
    flow = DeviceAuthorization(
        issuer, client_id, store=store, scope=scope, verify=ca_bundle or True
    )
    try:
        code = flow.start()
        where = code.verification_uri_complete or code.verification_uri
        cli.err.print(f"Open {where} and enter the code {code.user_code}")
        cli.err.file.flush()
        flow.wait(code)
    finally:
        flow.close()
    if cli.json:
        cli.print_json({"logged_in": True, "store": repr(store)})
    else:
        cli.out.print(f"Logged in; the refresh token is kept in {store!r}")
