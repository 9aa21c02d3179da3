"""``SlurmHook``: an Airflow connection of type ``slurm`` turned into a slurm-client client.

Connection fields::

    host       slurmrestd host, or a URL with scheme ("https://slurm.example.org")
    port       slurmrestd port (6820 by default on most sites)
    schema     "http" or "https" (default "http"; a scheme in host wins)
    login      the Slurm user name sent as X-SLURM-USER-NAME (optional)
    password   a JWT (``scontrol token``); or give one of the token extras below

Extras (JSON)::

    token_command   "scontrol token lifespan=3600" (or a list of arguments)
    token_file      a file holding the token (re-read when it changes)
    jwt_key_file    the cluster's HS256 key: mint tokens (needs a user name)
    user_name       the Slurm user name when login is empty (login wins)
    api_version     pin the REST API version ("v0.0.42"); negotiated otherwise
    verify          false to skip TLS verification
    ca_bundle       a CA bundle file for TLS verification
    client_cert     client certificate (mTLS); client_key: its key
    socket          slurmrestd's unix socket path (instead of host/port)

Exactly one token source (password, token_command, token_file, jwt_key_file) is allowed;
with ``socket`` none is needed. Everything else (retries, version negotiation, token refresh,
error mapping) is slurm-client's own.

Example::

    hook = SlurmHook("slurm_default")
    with hook.get_client() as client:
        print(client.diag().jobs_running)
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from slurm_core import ConfigurationError

if TYPE_CHECKING:
    # Imported where a client is made, not here: every DAG file that uses our operators
    # imports this module, and the client's modules are most of the cost of parsing it.
    from slurm_core import AsyncSlurmClient, SlurmClient
    from slurm_core.config import ClientSettings

__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "EXTRA_FIELDS",
    "SlurmHook",
    "connection_mapping",
    "settings_from_connection",
]

log = logging.getLogger(__name__)

CONN_TYPE = "slurm"
DEFAULT_CONN_ID = "slurm_default"
_CONNECTION_EXTRAS = (
    "token_command",
    "token_file",
    "jwt_key_file",
    "user_name",
    "api_version",
    "verify",
    "ca_bundle",
    "client_cert",
    "client_key",
    "socket",
    "working_directory",
    "poll_interval",
    "timeout",
    "watch_fleet",
)
_SCHEMES = ("http", "https")

if TYPE_CHECKING:
    EXTRA_FIELDS: tuple[str, ...]
    """Every extra the hook understands: the above and the core's ``oidc_*`` keys."""


class ConnectionLike(Protocol):
    """What the hook reads from an Airflow ``Connection`` (any object with these fields)."""

    @property
    def conn_id(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def schema(self) -> str | None: ...
    @property
    def login(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def _url(conn: ConnectionLike, where: str) -> str | None:
    """The URL that host, port and schema describe (``None`` without a host)."""
    host = (conn.host or "").strip()
    if not host:
        return None
    schema = (conn.schema or "").strip().lower() or None
    if "://" in host:
        parts = urlsplit(host)
        scheme = parts.scheme.lower()
        if schema is not None and schema != scheme:
            raise ConfigurationError(
                f"{where}: schema {schema!r} contradicts the scheme of host {host!r}",
                field="schema",
            )
        netloc, path = parts.netloc, parts.path.rstrip("/")
        try:
            host_port = parts.port
        except ValueError:
            raise ConfigurationError(
                f"{where}: host {host!r} has an invalid port", field="host"
            ) from None
        if not parts.hostname:
            raise ConfigurationError(f"{where}: host {host!r} names no host", field="host")
    else:
        scheme = schema or "http"
        if "/" in host:
            raise ConfigurationError(
                f"{where}: host {host!r} has a path; give a URL with a scheme instead",
                field="host",
            )
        netloc, path, host_port = host, "", None
        if ":" in host and not host.startswith("["):  # a bare IPv6 address
            netloc = f"[{host}]"
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"{where}: schema must be http or https, got {scheme!r}", field="schema"
        )
    if conn.port:
        if host_port is not None and host_port != int(conn.port):
            raise ConfigurationError(
                f"{where}: port {conn.port} contradicts the port in host {host!r}", field="port"
            )
        if host_port is None:
            netloc = f"{netloc}:{int(conn.port)}"
    return f"{scheme}://{netloc}{path}"


def connection_mapping(conn: ConnectionLike) -> dict[str, Any]:
    """The connection as the core settings parser's mapping (no parsing of its own).

    host/port/schema become ``url``, login ``user``, password ``token``; every extra is
    passed on as it is (Airflow 2's ``extra__slurm__<key>`` form unprefixed, blank form
    fields dropped), so :func:`slurm_core.config.settings_from_mapping` judges them all.

    Example::

        connection_mapping(conn)   # {"url": "http://h:6820", "user": "alice", "token": ...}
    """
    where = _where(conn)
    values: dict[str, Any] = {}
    for key, value in (conn.extra_dejson or {}).items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # the UI stores empty form fields
        values[key.removeprefix(f"extra__{CONN_TYPE}__")] = value
    url = _url(conn, where)
    if url is not None:
        values["url"] = url
    if (conn.login or "").strip():
        values["user"] = conn.login.strip()  # type: ignore[union-attr]
    if conn.password:
        values["token"] = conn.password
    return values


def _where(conn: ConnectionLike) -> str:
    return f"connection {conn.conn_id or '<unnamed>'!r}"


def settings_from_connection(conn: ConnectionLike) -> ClientSettings:
    """Translate a ``slurm`` connection into the core's client settings.

    One parser for every adapter: :func:`slurm_core.config.settings_from_mapping`. Raises
    :class:`slurm_core.ConfigurationError` naming the connection and the field for anything
    missing, unknown or contradictory (never quoting the token).

    Example::

        conn = Connection(conn_id="c", conn_type="slurm", host="h", port=6820, password=jwt)
        settings_from_connection(conn).url        # "http://h:6820"
    """
    from slurm_core.config import settings_from_mapping

    return settings_from_mapping(connection_mapping(conn), where=_where(conn))


def __getattr__(name: str) -> Any:
    # EXTRA_FIELDS is computed on first use: importing slurm_core.auth for its key names
    # would add its cost to every DAG file's parse (this module is imported there).
    if name == "EXTRA_FIELDS":
        from slurm_core.auth import OIDC_SETTINGS

        return (*_CONNECTION_EXTRAS, *OIDC_SETTINGS)
    if name == "ConnectionSettings":
        warnings.warn(
            "ConnectionSettings is deprecated: settings_from_connection returns "
            "slurm_core.config.ClientSettings",
            DeprecationWarning,
            stacklevel=2,
        )
        from slurm_core.config import ClientSettings

        return ClientSettings
    raise AttributeError(name)


class SlurmHook(BaseHook):
    """Interact with slurmrestd through a ``slurm`` connection.

    ``client_options`` go to the client as they are (``timeout=``, ``retry=``,
    ``transport=``...). Clients are new on every call: close them (``with``) when done.

    Example::

        hook = SlurmHook(slurm_conn_id="slurm_default")
        with hook.get_client() as client:
            job = client.jobs.get(42)

        async with await hook.get_async_client() as client:   # in a trigger
            job = await client.jobs.get(42)
    """

    conn_name_attr: ClassVar[str] = "slurm_conn_id"
    default_conn_name: ClassVar[str] = DEFAULT_CONN_ID
    conn_type: ClassVar[str] = CONN_TYPE
    hook_name: ClassVar[str] = "SLURM"

    def __init__(self, slurm_conn_id: str = DEFAULT_CONN_ID, **client_options: Any) -> None:
        super().__init__()
        self.slurm_conn_id = slurm_conn_id
        self.client_options = client_options

    def settings(self) -> ClientSettings:
        """The client settings of the connection (read now, from wherever Airflow keeps it)."""
        return settings_from_connection(self.get_connection(self.slurm_conn_id))

    async def asettings(self) -> ClientSettings:
        """:meth:`settings` for async code (triggers): reads the connection without blocking."""
        return settings_from_connection(await self.aget_connection(self.slurm_conn_id))

    def get_client(self) -> SlurmClient:
        """A new blocking client for the connection."""
        from slurm_core import SlurmClient  # import cost: see the imports at the top

        return SlurmClient.from_settings(self.settings(), **self.client_options)

    async def get_async_client(self) -> AsyncSlurmClient:
        """A new async client for the connection (the connection is read asynchronously)."""
        from slurm_core import AsyncSlurmClient  # import cost: see the imports at the top

        settings = await self.asettings()
        return AsyncSlurmClient.from_settings(settings, **self.client_options)

    def get_conn(self) -> SlurmClient:
        """Airflow's generic accessor: same as :meth:`get_client`."""
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """Ask slurmrestd whether it is ready (``client.ready()``), then for its
        diagnostics (which need a valid token: 26.05's ``/readyz`` does not check it).

        Returns ``(ok, message)``; the message never contains the token.
        """
        from slurm_core import SlurmClient  # import cost: see the imports at the top

        secret: str | None = None
        try:
            conn = self.get_connection(self.slurm_conn_id)
            secret = conn.password
            settings = settings_from_connection(conn)
            with SlurmClient.from_settings(settings, **self.client_options) as client:
                if not client.ready():
                    return False, f"slurmrestd at {settings.url} is not ready (see its log)"
                client.diag()
                version = client.negotiate()  # no request: diag() negotiated
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if secret:
                message = message.replace(secret, "<redacted>")
            return False, message
        return True, f"Connected to slurmrestd at {settings.url} (REST API {version})"
