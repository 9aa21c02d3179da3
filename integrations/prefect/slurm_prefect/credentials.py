"""``SlurmCredentials``: where slurmrestd is and how to authenticate to it.

The block only translates its fields into a :class:`slurm_core.SlurmClient` /
:class:`slurm_core.AsyncSlurmClient` and one of ``slurm_core.auth``'s token providers; the
clients do the rest (version negotiation, retries, token refresh).

Exactly one way to get a token:

* ``token`` -- a fixed JWT, stored as a secret (``SLURM_JWT``; cannot be refreshed);
* ``token_file`` -- a file holding the token (``SLURM_JWT=...`` lines accepted), re-read
  when it changes;
* ``token_command`` -- a command printing one, e.g. ``["scontrol", "token", "lifespan=3600"]``;
* ``jwt_key_file`` -- the cluster's ``jwt_hs256.key``, to mint tokens for ``user_name``.

A ``unix:/path`` URL (slurmrestd on a local socket) may go without a token.

Example::

    from slurm_prefect import SlurmCredentials

    SlurmCredentials(
        url="https://slurm.example.org:6820",
        token="eyJhbGciOi...",
        user_name="alice",
        ca_bundle="/etc/ssl/site-ca.pem",
    ).save("hpc")

    with SlurmCredentials.load("hpc").get_client() as client:
        print(client.diag())
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, HttpUrl, SecretStr, model_validator

from slurm_core import AsyncSlurmClient, ConfigurationError, SlurmClient
from slurm_core.config import ClientSettings, settings_from_mapping

__all__ = ["DOCS_URL", "LOGO_URL", "SlurmCredentials"]

# The project's repository (pyproject's [project.urls]); it hosts the docs (no docs site).
_REPOSITORY = "https://github.com/slurm-client/slurm-client"

DOCS_URL = f"{_REPOSITORY}/blob/main/docs/prefect.md"
"""The documentation link shown for every slurm-prefect block in the Prefect UI: our docs."""

LOGO_URL = "https://raw.githubusercontent.com/slurm-client/slurm-client/main/docs/assets/logo.png"
"""The logo shown for every slurm-prefect block in the Prefect UI: the project's own."""

_WHERE = "SlurmCredentials block"


class SlurmCredentials(CredentialsBlock):
    """Connection and credentials for a SLURM cluster's REST API (slurmrestd).

    Give the URL and exactly one token source: a token (kept secret), a token file, a
    command that prints a token, or the cluster's JWT key file.

    Example:
        Save credentials once, then use them in any flow:
        ```python
        from slurm_prefect import SlurmCredentials

        SlurmCredentials(url="http://slurm:6820", token="eyJ...", user_name="alice").save("hpc")

        credentials = SlurmCredentials.load("hpc")
        with credentials.get_client() as client:
            print(client.jobs.list(user="alice"))
        ```
    """

    _block_type_name: ClassVar[str] = "SLURM Credentials"
    _block_type_slug: ClassVar[str] = "slurm-credentials"
    _documentation_url: ClassVar[HttpUrl] = HttpUrl(DOCS_URL)
    _logo_url: ClassVar[HttpUrl] = HttpUrl(LOGO_URL)
    _code_example: ClassVar[str] = """
        ```python
        from slurm_prefect import SlurmCredentials

        slurm_credentials = SlurmCredentials.load("BLOCK_NAME")
        with slurm_credentials.get_client() as client:
            print(client.diag())
        ```
    """

    url: str = Field(
        default=...,
        description=(
            "Base URL of slurmrestd, e.g. 'https://slurm.example.org:6820', "
            "or 'unix:/run/slurmrestd.socket'."
        ),
        examples=["http://localhost:6820"],
    )
    token: SecretStr | None = Field(
        default=None,
        description="A fixed JWT (what 'scontrol token' prints after SLURM_JWT=).",
    )
    token_file: Path | None = Field(
        default=None,
        description="A file holding the JWT; re-read whenever it changes.",
    )
    token_command: list[str] | None = Field(
        default=None,
        description="A command that prints a JWT, e.g. ['scontrol', 'token', 'lifespan=3600'].",
    )
    jwt_key_file: Path | None = Field(
        default=None,
        description="The cluster's jwt_hs256.key, to mint tokens for user_name (admins only).",
    )
    jwt_lifespan: float | None = Field(
        default=None,
        gt=60.0,
        description="Lifetime in seconds of the tokens minted with jwt_key_file (1800).",
    )
    user_name: str | None = Field(
        default=None,
        description="The SLURM user name (X-SLURM-USER-NAME); defaults to the token's own.",
    )
    api_version: str | None = Field(
        default=None,
        description="Pin a REST API version such as 'v0.0.42'; negotiated when empty.",
    )
    header_style: Literal["x-slurm", "bearer"] | None = Field(
        default=None,
        description=(
            "How the token is sent: X-SLURM-USER-TOKEN (the default), or "
            "'Authorization: Bearer' (slurmrestd 23.02 and later; OIDC tokens need it)."
        ),
    )
    verify: bool = Field(
        default=True,
        description="Verify the server's TLS certificate.",
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="A CA bundle (PEM) to verify the server's certificate with.",
    )
    client_cert: Path | None = Field(
        default=None,
        description="A client certificate (PEM) for mutual TLS.",
    )
    client_key: Path | None = Field(
        default=None,
        description="The client certificate's private key (PEM), if not in client_cert.",
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds to wait for each HTTP request; the client's default when empty.",
    )

    working_directory: str | None = Field(
        default=None,
        description="Default working directory (on the cluster) of jobs that set none.",
    )
    poll_interval: float | None = Field(
        default=None,
        gt=0,
        description="Longest seconds between two looks at a running job (the client's default).",
    )
    watch_fleet: SecretStr | None = Field(
        default=None,
        description="A Redis URL (redis://[:password@]host:6379/0): the watches of every "
        "process using this block share their job polls through it (kept secret).",
    )
    # Tokens from an identity provider (slurm_core.auth OIDC providers).
    oidc_issuer: str | None = Field(default=None, description="OIDC issuer URL.")
    oidc_client_id: str | None = Field(default=None, description="OIDC client id.")
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="OIDC client secret (kept secret)."
    )
    oidc_grant: str | None = Field(
        default=None, description="OIDC grant, e.g. 'client_credentials' or 'refresh_token'."
    )
    oidc_scope: str | None = Field(default=None, description="OIDC scope(s) to request.")
    oidc_audience: str | None = Field(default=None, description="OIDC audience to request.")
    oidc_token_endpoint: str | None = Field(
        default=None, description="OIDC token endpoint (found from the issuer when empty)."
    )
    oidc_refresh_token: SecretStr | None = Field(
        default=None, description="OIDC refresh token (kept secret)."
    )
    oidc_refresh_token_file: Path | None = Field(
        default=None, description="A file holding the OIDC refresh token."
    )
    oidc_keyring: bool | None = Field(
        default=None,
        description="The OIDC refresh token is in the OS keyring ('slurm-client login').",
    )
    oidc_ca_bundle: Path | None = Field(
        default=None, description="CA bundle (PEM) for the identity provider."
    )
    oidc_verify: bool | None = Field(
        default=None, description="Verify the identity provider's TLS certificate."
    )
    oidc_timeout: float | None = Field(
        default=None, gt=0, description="Seconds per request to the identity provider."
    )

    @model_validator(mode="after")
    def _check(self) -> SlurmCredentials:
        self.settings()  # one parser for every adapter: its error names the field
        return self

    def _values(self) -> dict[str, Any]:
        """The fields that are set, as slurm_core's settings parser takes them."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None or name == "block_type_slug":
                continue
            values[name] = str(value) if isinstance(value, Path) else value
        return values

    def settings(self) -> ClientSettings:
        """The block as :class:`~slurm_core.config.ClientSettings`, through
        :func:`~slurm_core.config.settings_from_mapping` (the parser every adapter uses).

        Raises ``ValueError`` naming the field at fault.

        Example::

            settings = credentials.settings()
            print(settings.url, settings.poll_interval)
        """
        try:
            return settings_from_mapping(self._values(), where=_WHERE)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from exc

    def auth(self) -> Any:
        """The ``httpx.Auth`` or token provider the clients use (``None``: no token)."""
        return self.settings().auth

    def get_client(self, **options: Any) -> SlurmClient:
        """A blocking :class:`~slurm_core.SlurmClient`; use it as a context manager.

        ``options`` go to the client as they are (``retry=``, ``circuit_breaker=``,
        ``transport=`` ...) and override the block's own settings.

        Example::

            with credentials.get_client() as client:
                job = client.jobs.get(42)
        """
        return SlurmClient.from_settings(self.settings(), **options)

    def get_async_client(self, **options: Any) -> AsyncSlurmClient:
        """An :class:`~slurm_core.AsyncSlurmClient`; use it with ``async with``.

        Example::

            async with credentials.get_async_client() as client:
                job = await client.jobs.get(42)
        """
        return AsyncSlurmClient.from_settings(self.settings(), **options)
