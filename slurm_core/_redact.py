"""Keeping tokens out of reprs, logs, hooks and exception messages.

Everything that leaves the request layer as text (log lines, hook views, exception fields)
goes through one of these helpers; token values are only ever held in a :class:`Secret`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import traceback
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

import httpx

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "Secret",
    "install_log_redaction",
    "is_loopback",
    "redact_headers",
    "redact_text",
    "redact_url",
    "register_secret",
    "scrub_error",
    "scrub_request",
]

REDACTED = "<redacted>"

# Lower-case header names whose values are credentials.
SENSITIVE_HEADERS = frozenset(
    {"x-slurm-user-token", "authorization", "proxy-authorization", "cookie", "set-cookie"}
)
# Query parameter names that look like credentials ("token", "jwt", "api_key", ...).
_SENSITIVE_PARAM = re.compile(r"token|jwt|secret|passw|auth|api[_-]?key", re.IGNORECASE)
# A JWT (three base64url parts, header starting '{"' -> "eyJ") or "SLURM_JWT=<anything>".
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_SLURM_JWT = re.compile(r"(SLURM_JWT\s*=\s*)\S+")


class Secret:
    """A string that never shows itself in ``repr``/``str``/f-strings/logs.

    Call :meth:`get` at the one place the real value is needed (building a header).

    Example::

        >>> s = Secret("eyJhbGciOi...")
        >>> s, f"{s}"
        (<redacted>, '<redacted>')
        >>> s.get()[:3]
        'eyJ'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """The real value."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickling must keep the value (e.g. handing a provider to a worker); this is
        # explicit, never textual.
        return (Secret, (self._value,))


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """A plain dict copy of ``headers`` with credential values replaced by ``<redacted>``."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: (REDACTED if k.lower() in SENSITIVE_HEADERS else v) for k, v in items}


def redact_url(url: httpx.URL | str) -> str:
    """``url`` as text with token-like query values (and any userinfo) replaced.

    Example::

        >>> redact_url("http://h:6820/slurm/v0.0.40/jobs?token=abc&update_time=5")
        'http://h:6820/slurm/v0.0.40/jobs?token=%3Credacted%3E&update_time=5'
    """
    if isinstance(url, str):
        if "?" not in url and "@" not in url:
            return url
        url = httpx.URL(url)
    if url.userinfo:
        url = url.copy_with(username=None, password=None)
    query = url.query
    if not query:
        return str(url)
    text = query.decode("ascii", "replace")
    if not _SENSITIVE_PARAM.search(text):
        return str(url)
    pairs = [
        (k, REDACTED if _SENSITIVE_PARAM.search(k) else v)
        for k, v in parse_qsl(text, keep_blank_values=True)
    ]
    return str(url.copy_with(query=urlencode(pairs).encode("ascii")))


# Secrets that no pattern recognises (an opaque token, a key), newest last. Bounded: a
# process that refreshes its token hourly for a year keeps only the recent ones.
_KNOWN: dict[str, None] = {}
_KNOWN_LOCK = threading.Lock()
_MAX_KNOWN = 64
_MIN_KNOWN_LENGTH = 8  # shorter values would redact ordinary words


def is_loopback(host: str) -> bool:
    """True for a host name or address that never leaves this machine (where a secret may
    travel over plain http)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register_secret(value: str) -> None:
    """Have :func:`redact_text` replace ``value`` wherever it appears from now on.

    Token providers register every token they obtain, so an opaque (non-JWT) token is
    redacted like a JWT. Values shorter than 8 characters are ignored.

    Example::

        >>> register_secret("opaque-0123456789")
        >>> redact_text("got opaque-0123456789")
        'got <redacted>'
    """
    if len(value) < _MIN_KNOWN_LENGTH:
        return
    with _KNOWN_LOCK:
        _KNOWN.pop(value, None)
        _KNOWN[value] = None
        while len(_KNOWN) > _MAX_KNOWN:
            del _KNOWN[next(iter(_KNOWN))]


def redact_text(text: str) -> str:
    """``text`` with anything JWT-shaped, ``SLURM_JWT=...`` and registered secrets replaced."""
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if "SLURM_JWT" in text:
        text = _SLURM_JWT.sub(r"\1" + REDACTED, text)
    for secret in tuple(_KNOWN):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_arg(arg: object) -> object:
    if isinstance(arg, httpx.URL):
        return redact_url(arg)
    if isinstance(arg, str):
        return redact_text(arg)
    return arg


class RedactingFilter(logging.Filter):
    """Redacts URLs (token-like query values) and JWTs in other libraries' log records.

    httpx logs every request URL at INFO; if a caller ever puts a token in a query string,
    this keeps it out of the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(_redact_arg(a) for a in args)
        elif isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True


def install_log_redaction(logger_name: str = "httpx") -> None:
    """Attach one :class:`RedactingFilter` to ``logger_name`` (idempotent).

    Filters run only for records that pass the level check, so this costs nothing while
    the logger is quiet.
    """
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingFilter) for f in target.filters):
        target.addFilter(RedactingFilter())


_CREDENTIAL_HEADERS = ("x-slurm-user-token", "authorization")


def scrub_request(request: httpx.Request) -> None:
    """Replace the credential headers of a request that an exception keeps reachable."""
    headers = request.headers
    for name in _CREDENTIAL_HEADERS:
        if name in headers:
            headers[name] = REDACTED


def scrub_error(exc: BaseException) -> None:
    """Drop credentials from every request reachable from ``exc`` and its chain.

    The engine scrubs the request that failed; an error raised later, while parsing a 2xx
    answer (a malformed body, an object missing from it), still holds that answer and its
    request. Tokens are only replaced on such paths: a header write costs ~5 us.

    Frames are cleared too: below httpx, httpcore builds its own request (and h11 its own
    event, and the bytes written) from the headers, and the finished frames of a failed
    exchange keep those copies as locals for as long as the exception lives. Their
    locals are dropped (the traceback's lines stay); frames still running are left alone.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.__traceback__ is not None:
            traceback.clear_frames(current.__traceback__)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        for attr in ("response", "request"):
            try:
                value = getattr(current, attr, None)
            except RuntimeError:  # httpx errors without a request raise on access
                continue
            if isinstance(value, httpx.Response):
                try:
                    value = value.request
                except RuntimeError:
                    continue
            if isinstance(value, httpx.Request):
                scrub_request(value)
