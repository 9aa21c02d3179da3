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

import dataclasses
import logging
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from slurm_core import ConfigurationError
from slurm_core.auth import JWTKeyAuth, StaticToken, TokenCommand, TokenFile, TokenProvider

if TYPE_CHECKING:
    # Imported where a client is made, not here: every DAG file that uses our operators
    # imports this module, and the client's modules are most of the cost of parsing it.
    from slurm_core import AsyncSlurmClient, SlurmClient

__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "EXTRA_FIELDS",
    "ConnectionSettings",
    "SlurmHook",
    "settings_from_connection",
]

log = logging.getLogger(__name__)

CONN_TYPE = "slurm"
DEFAULT_CONN_ID = "slurm_default"
EXTRA_FIELDS = (
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
)
_UDS_BASE_URL = "http://localhost"
_SCHEMES = ("http", "https")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


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


@dataclasses.dataclass(frozen=True)
class ConnectionSettings:
    """The client arguments a ``slurm`` connection describes (token providers redact
    themselves in ``repr``).

    Example::

        settings = settings_from_connection(conn)
        client = SlurmClient(**settings.client_kwargs())
    """

    url: str
    auth: TokenProvider | None
    api_version: str | None = None
    verify: bool | str = True
    cert: str | tuple[str, str] | None = None
    uds: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`SlurmClient` / :class:`AsyncSlurmClient`."""
        return {
            "url": self.url,
            "auth": self.auth,
            "api_version": self.api_version,
            "verify": self.verify,
            "cert": self.cert,
            "uds": self.uds,
        }


def _extra(extras: Mapping[str, Any], key: str) -> Any:
    """An extra by its plain name, or by Airflow 2's ``extra__slurm__<key>`` form; blank
    values (the UI stores empty form fields) count as unset."""
    for name in (key, f"extra__{CONN_TYPE}__{key}"):
        value = extras.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        return value.strip() if isinstance(value, str) else value
    return None


def _text(extras: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _extra(extras, key)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{where}: extra {key!r} must be a string")
    return value


def _flag(value: Any, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ConfigurationError(f"{where}: extra {key!r} must be true or false, got {value!r}")


def _url(conn: ConnectionLike, where: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise ConfigurationError(f"{where}: host is required (or a 'socket' extra)")
    schema = (conn.schema or "").strip().lower() or None
    if "://" in host:
        parts = urlsplit(host)
        scheme = parts.scheme.lower()
        if schema is not None and schema != scheme:
            raise ConfigurationError(
                f"{where}: schema {schema!r} contradicts the scheme of host {host!r}"
            )
        netloc, path = parts.netloc, parts.path.rstrip("/")
        try:
            host_port = parts.port
        except ValueError:
            raise ConfigurationError(f"{where}: host {host!r} has an invalid port") from None
        if not parts.hostname:
            raise ConfigurationError(f"{where}: host {host!r} names no host")
    else:
        scheme = schema or "http"
        if "/" in host:
            raise ConfigurationError(
                f"{where}: host {host!r} has a path; give a URL with a scheme instead"
            )
        netloc, path, host_port = host, "", None
        if ":" in host and not host.startswith("["):  # a bare IPv6 address
            netloc = f"[{host}]"
    if scheme not in _SCHEMES:
        raise ConfigurationError(f"{where}: schema must be http or https, got {scheme!r}")
    if conn.port:
        if host_port is not None and host_port != int(conn.port):
            raise ConfigurationError(
                f"{where}: port {conn.port} contradicts the port in host {host!r}"
            )
        if host_port is None:
            netloc = f"{netloc}:{int(conn.port)}"
    return f"{scheme}://{netloc}{path}"


def settings_from_connection(conn: ConnectionLike) -> ConnectionSettings:
    """Translate a ``slurm`` connection into client settings.

    Raises :class:`slurm_core.ConfigurationError` naming the connection and the field for
    anything missing or contradictory (never quoting the token).

    Example::

        conn = Connection(conn_id="c", conn_type="slurm", host="h", port=6820, password=jwt)
        settings_from_connection(conn).url        # "http://h:6820"
    """
    where = f"connection {conn.conn_id or '<unnamed>'!r}"
    extras = conn.extra_dejson or {}
    unknown = sorted(
        k for k in extras if k.removeprefix(f"extra__{CONN_TYPE}__") not in EXTRA_FIELDS
    )
    if unknown:
        log.warning("%s: ignoring unknown extra(s) %s", where, ", ".join(unknown))

    socket = _text(extras, "socket", where)
    url = _UDS_BASE_URL if socket and not (conn.host or "").strip() else _url(conn, where)

    user_name = (conn.login or "").strip() or _text(extras, "user_name", where)
    token_command = _extra(extras, "token_command")
    token_file = _text(extras, "token_file", where)
    jwt_key_file = _text(extras, "jwt_key_file", where)
    given = [
        name
        for name, value in (
            ("password", conn.password),
            ("token_command", token_command),
            ("token_file", token_file),
            ("jwt_key_file", jwt_key_file),
        )
        if value
    ]
    if len(given) > 1:
        raise ConfigurationError(f"{where}: give one token source, not {' and '.join(given)}")
    auth: TokenProvider | None = None
    if conn.password:
        auth = StaticToken(conn.password, user_name=user_name)
    elif token_command:
        if isinstance(token_command, str):
            argv = shlex.split(token_command)
        elif isinstance(token_command, list) and all(isinstance(a, str) for a in token_command):
            argv = list(token_command)
        else:
            raise ConfigurationError(
                f"{where}: extra 'token_command' must be a string or a list of strings"
            )
        auth = TokenCommand(argv, user_name=user_name)
    elif token_file:
        auth = TokenFile(token_file, user_name=user_name)
    elif jwt_key_file:
        if not user_name:
            raise ConfigurationError(f"{where}: jwt_key_file needs a user name (login)")
        auth = JWTKeyAuth(jwt_key_file, user_name)
    elif not socket:
        raise ConfigurationError(
            f"{where}: no token: set the password, or a token_command, token_file or "
            "jwt_key_file extra"
        )

    api_version = _text(extras, "api_version", where)
    if api_version and not api_version.startswith("v"):
        api_version = "v" + api_version

    verify: bool | str = True
    raw_verify = _extra(extras, "verify")
    if raw_verify is not None:
        verify = _flag(raw_verify, "verify", where)
    ca_bundle = _text(extras, "ca_bundle", where)
    if ca_bundle:
        if verify is False:
            raise ConfigurationError(f"{where}: ca_bundle given with verify false")
        verify = ca_bundle

    cert: str | tuple[str, str] | None = None
    client_cert = _text(extras, "client_cert", where)
    client_key = _text(extras, "client_key", where)
    if client_key and not client_cert:
        raise ConfigurationError(f"{where}: client_key given without client_cert")
    if client_cert:
        cert = (client_cert, client_key) if client_key else client_cert

    return ConnectionSettings(
        url=url, auth=auth, api_version=api_version, verify=verify, cert=cert, uds=socket
    )


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

    def settings(self) -> ConnectionSettings:
        """The client settings of the connection (read now, from wherever Airflow keeps it)."""
        return settings_from_connection(self.get_connection(self.slurm_conn_id))

    async def asettings(self) -> ConnectionSettings:
        """:meth:`settings` for async code (triggers): reads the connection without blocking."""
        return settings_from_connection(await self.aget_connection(self.slurm_conn_id))

    def get_client(self) -> SlurmClient:
        """A new blocking client for the connection."""
        from slurm_core import SlurmClient  # import cost: see the imports at the top

        return SlurmClient(**self.settings().client_kwargs(), **self.client_options)

    async def get_async_client(self) -> AsyncSlurmClient:
        """A new async client for the connection (the connection is read asynchronously)."""
        from slurm_core import AsyncSlurmClient  # import cost: see the imports at the top

        settings = await self.asettings()
        return AsyncSlurmClient(**settings.client_kwargs(), **self.client_options)

    def get_conn(self) -> SlurmClient:
        """Airflow's generic accessor: same as :meth:`get_client`."""
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """Ask slurmrestd for its diagnostics (which needs a valid token).

        Returns ``(ok, message)``; the message never contains the token.
        """
        from slurm_core import SlurmClient  # import cost: see the imports at the top

        secret: str | None = None
        try:
            conn = self.get_connection(self.slurm_conn_id)
            secret = conn.password
            settings = settings_from_connection(conn)
            with SlurmClient(**settings.client_kwargs(), **self.client_options) as client:
                client.diag()
                version = client.negotiate()  # no request: diag() negotiated
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if secret:
                message = message.replace(secret, "<redacted>")
            return False, message
        return True, f"Connected to slurmrestd at {settings.url} (REST API {version})"
