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

from slurm_core import AsyncSlurmClient, SlurmClient
from slurm_core.auth import JWTKeyAuth, SlurmAuth, StaticToken, TokenCommand, TokenFile

__all__ = ["DOCS_URL", "SlurmCredentials"]

DOCS_URL = "https://slurm.schedmd.com/rest.html"
"""The documentation link shown for every slurm-prefect block in the Prefect UI."""

_AUTH_FIELDS = ("token", "token_file", "token_command", "jwt_key_file")


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
    _code_example: ClassVar[str] = """
        from slurm_prefect import SlurmCredentials

        slurm_credentials = SlurmCredentials.load("BLOCK_NAME")
        with slurm_credentials.get_client() as client:
            print(client.diag())
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
    jwt_lifespan: float = Field(
        default=1800.0,
        gt=60.0,
        description="Lifetime in seconds of the tokens minted with jwt_key_file.",
    )
    user_name: str | None = Field(
        default=None,
        description="The SLURM user name (X-SLURM-USER-NAME); defaults to the token's own.",
    )
    api_version: str | None = Field(
        default=None,
        description="Pin a REST API version such as 'v0.0.42'; negotiated when empty.",
    )
    header_style: Literal["x-slurm", "bearer"] = Field(
        default="x-slurm",
        description=(
            "How the token is sent: X-SLURM-USER-TOKEN, or 'Authorization: Bearer' "
            "(slurmrestd 23.02 and later)."
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

    @model_validator(mode="after")
    def _check(self) -> SlurmCredentials:
        if not self.url.strip():
            raise ValueError("url must not be empty")
        given = [name for name in _AUTH_FIELDS if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one token source, got {', '.join(given)}")
        if not given and not self.url.startswith("unix:"):
            raise ValueError(
                "a token source is required: token, token_file, token_command or jwt_key_file"
            )
        if self.token is not None and not self.token.get_secret_value().strip():
            raise ValueError("token must not be empty")
        if self.token_command is not None and not self.token_command:
            raise ValueError("token_command must name a program")
        if self.jwt_key_file is not None and not self.user_name:
            raise ValueError("jwt_key_file needs user_name (the user the tokens are minted for)")
        if self.ca_bundle is not None and not self.verify:
            raise ValueError("ca_bundle is given but verify is false")
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key is given without client_cert")
        return self

    def auth(self) -> SlurmAuth | None:
        """The ``httpx.Auth`` that puts this block's token on requests (``None``: no token).

        A new provider each call: a ``token_command``/``jwt_key_file`` provider is only
        called when a request needs a token.
        """
        provider: StaticToken | TokenFile | TokenCommand | JWTKeyAuth
        if self.token is not None:
            provider = StaticToken(self.token.get_secret_value(), user_name=self.user_name)
        elif self.token_file is not None:
            provider = TokenFile(self.token_file, user_name=self.user_name)
        elif self.token_command is not None:
            provider = TokenCommand(self.token_command, user_name=self.user_name)
        elif self.jwt_key_file is not None:
            assert self.user_name is not None  # checked by the validator
            provider = JWTKeyAuth(self.jwt_key_file, self.user_name, lifespan=self.jwt_lifespan)
        else:
            return None
        return SlurmAuth(provider, header_style=self.header_style)

    def _client_kwargs(self, options: dict[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"auth": self.auth(), "api_version": self.api_version}
        if self.ca_bundle is not None:
            kwargs["verify"] = str(self.ca_bundle)
        elif not self.verify:
            kwargs["verify"] = False
        if self.client_cert is not None:
            cert = str(self.client_cert)
            kwargs["cert"] = (cert, str(self.client_key)) if self.client_key else cert
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        kwargs.update(options)
        return kwargs

    def get_client(self, **options: Any) -> SlurmClient:
        """A blocking :class:`~slurm_core.SlurmClient`; use it as a context manager.

        ``options`` go to the client as they are (``retry=``, ``circuit_breaker=``,
        ``transport=`` ...) and override the block's own settings.

        Example::

            with credentials.get_client() as client:
                job = client.jobs.get(42)
        """
        return SlurmClient(self.url, **self._client_kwargs(options))

    def get_async_client(self, **options: Any) -> AsyncSlurmClient:
        """An :class:`~slurm_core.AsyncSlurmClient`; use it with ``async with``.

        Example::

            async with credentials.get_async_client() as client:
                job = await client.jobs.get(42)
        """
        return AsyncSlurmClient(self.url, **self._client_kwargs(options))
