"""Authentication for slurmrestd: token providers and one :class:`httpx.Auth`.

A *provider* knows where a JWT comes from and when it expires; :class:`SlurmAuth` puts it on
requests. Providers refresh ``refresh_margin`` seconds before the token's ``exp`` and once
more when the server rejects a token (401/511, or 22.05's HTTP 500 with an authentication
error number); if the fresh token is rejected too, the error surfaces as
:class:`~slurm_core.AuthenticationError`.

Providers:

* :class:`StaticToken` -- a fixed token (e.g. from ``SLURM_JWT``); cannot refresh.
* :class:`TokenFile` -- read from a file, re-read whenever its mtime changes.
* :class:`TokenCommand` -- run a command such as ``scontrol token lifespan=3600``.
* :class:`JWTKeyAuth` -- mint HS256 tokens with the cluster's ``jwt_hs256.key``.
* :class:`CallableAuth` -- call a function of yours (a vault lookup, ...).

Token values never appear in ``repr``/``str``, logs or exception messages: every token a
provider obtains is registered for redaction, so an opaque (non-JWT) one is hidden too, and a
:class:`TokenCommand` shows only its program, never its arguments. Token and key files are
read like ssh reads a private key: not through a symbolic link, only a regular file, never
one others can write (a token file: owned by you or root; a key: not readable by others).

Example::

    from slurm_core.auth import SlurmAuth, TokenCommand
    auth = SlurmAuth(TokenCommand(["scontrol", "token", "lifespan=3600"]), header_style="bearer")
    httpx.get("http://slurm:6820/slurm/v0.0.40/diag", auth=auth)
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import re
import stat
import subprocess
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx

from slurm_core._errmap import error_class_for, load_json
from slurm_core._errmap import parse_error_entries as _parse_entries
from slurm_core._exceptions import AuthenticationError, ConfigurationError, SlurmError
from slurm_core._localfile import read_regular
from slurm_core._redact import REDACTED, Secret, redact_text, register_secret

__all__ = [
    "CallableAuth",
    "HeaderStyle",
    "JWTKeyAuth",
    "SlurmAuth",
    "StaticToken",
    "TokenCommand",
    "TokenFile",
    "TokenProvider",
    "token_expiry",
]

logger = logging.getLogger("slurm_core.auth")

HeaderStyle = Literal["x-slurm", "bearer"]
DEFAULT_REFRESH_MARGIN = 60.0

_SECRET_FILE_MAX_BYTES = 64 * 1024  # a token is ~1 KiB, a key 32-1024 bytes
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_SLURM_JWT_LINE = re.compile(r"^\s*(?:export\s+)?SLURM_JWT\s*=\s*(\S+)\s*$", re.MULTILINE)


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds) of a JWT, read WITHOUT verifying; ``None`` otherwise.

    Example::

        >>> token_expiry("not-a-jwt") is None
        True
    """
    exp = _claims(token).get("exp")
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def _claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read WITHOUT verifying (we only look, slurmctld verifies).

    Read by hand, not with PyJWT: looking at two base64url JSON segments needs no crypto,
    and importing PyJWT (which imports ``cryptography``) cost every client import ~30 ms
    (~150 ms where no bytecode is cached). What is accepted is what PyJWT (2.10+) accepts
    unverified: a JSON object as header and as payload, and a base64url signature.
    """
    segments = token.split(".")
    if len(segments) != 3:
        return {}
    try:
        header = json.loads(_b64url(segments[0]))
        claims = json.loads(_b64url(segments[1]))
        _b64url(segments[2])
    except (ValueError, RecursionError):  # binascii.Error and JSONDecodeError are ValueErrors
        return {}
    return claims if isinstance(header, dict) and isinstance(claims, dict) else {}


def _b64url(segment: str) -> bytes:
    """Decode base64url, padded or not; anything else is a ``ValueError`` (as in PyJWT 2.10+)."""
    data = segment.rstrip("=")
    if (data != segment and len(segment) % 4) or not _BASE64URL.fullmatch(data):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _read_secret_file(path: Path, owner: str, *, key: bool) -> tuple[bytes, os.stat_result]:
    """The bytes of a token or key file, checked the way ssh checks a private key.

    Refused (:class:`ConfigurationError` naming the file and the fix): a symbolic link, not
    a regular file, writable by group or others, larger than 64 KiB; a token file owned by
    someone other than you or root (its owner could swap in their token, and your jobs
    would run as them); a ``key`` readable by others (it mints tokens for any user, root
    included). A key's owner is not checked: Slurm's own setup has SlurmUser own it, and
    who can change the key can mint tokens anyway. A token file readable by group or
    others only logs a warning: a token expires.
    """
    what = "key" if key else "token file"
    label = f"{owner}: {what} {path}"
    try:
        found = read_regular(path, max_bytes=_SECRET_FILE_MAX_BYTES + 1)
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ConfigurationError(f"{owner}: cannot read {what} {path}: {reason}") from None
    st = found.stat
    mode = stat.S_IMODE(st.st_mode)
    fix = f"chmod 600 {path}"
    if not key and st.st_uid not in (os.geteuid(), 0):
        raise ConfigurationError(
            f"{label} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}) or root: "
            "its owner could put their token in it; copy it to a file you own, then chmod 600"
        )
    if mode & 0o022:
        raise ConfigurationError(f"{label} is writable by others (mode {mode:04o}): {fix}")
    if key and mode & 0o004:
        raise ConfigurationError(f"{label} is readable by others (mode {mode:04o}): {fix}")
    if mode & 0o044:
        logger.warning("%s is readable by others (mode %04o): %s", label, mode, fix)
    if len(found.data) > _SECRET_FILE_MAX_BYTES:
        raise ConfigurationError(f"{label} is too large to be a {what} ({st.st_size} bytes)")
    return found.data, st


def _parse_token_text(text: str) -> str:
    """A token from file/command output: a ``SLURM_JWT=...`` line, or the text itself."""
    match = _SLURM_JWT_LINE.search(text)
    if match:
        return match.group(1).strip("'\"")
    return text.strip()


class TokenProvider:
    """Base class: caches one token, knows its expiry, refreshes before it.

    Subclasses implement :meth:`_fetch` (blocking is fine: the async path runs it in a worker
    thread). ``clock`` returns epoch seconds (injectable for tests).
    """

    can_refresh: ClassVar[bool] = True
    """False when asking again cannot yield a different token (static tokens)."""

    def __init__(
        self,
        *,
        user_name: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_name = user_name
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._expires_at: float | None = None
        self._refresh_at: float | None = None
        self._token_user: str | None = None

    # -- to implement ------------------------------------------------------------------
    def _fetch(self) -> str:
        raise NotImplementedError

    def _source_changed(self) -> bool:
        """Cheap check run on every request (TokenFile: mtime)."""
        return False

    # -- public ------------------------------------------------------------------------
    @property
    def header_user_name(self) -> str | None:
        """The name for ``X-SLURM-USER-NAME``: the configured one, else the token's ``sun``.

        slurmrestd 22.05 rejects a token without this header; taking it from the token's
        own claim can never ask for another user's identity.
        """
        return self.user_name or self._token_user

    @property
    def expires_at(self) -> float | None:
        """Epoch seconds when the current token expires (``None``: unknown or no token yet)."""
        return self._expires_at

    def _fresh(self, token: Secret | None) -> bool:
        if token is None or self._source_changed():
            return False
        refresh_at = self._refresh_at
        return refresh_at is None or self._clock() < refresh_at

    def _store(self, value: str) -> Secret:
        register_secret(value)  # so redact_text hides it even if it is no JWT
        self._token = Secret(value)
        claims = _claims(value)
        sun = claims.get("sun")
        self._token_user = sun if isinstance(sun, str) and sun else None
        exp = self._expires_at = token_expiry(value)
        if exp is None:
            self._refresh_at = None
        else:
            # A token shorter-lived than the margin would be re-fetched on every request:
            # refresh such a token half-way through its life instead.
            life = exp - self._clock()
            self._refresh_at = exp - min(self.refresh_margin, max(life, 0.0) / 2)
        return self._token

    def token(self, *, force_refresh: bool = False, rejected: Secret | None = None) -> Secret:
        """The current token, fetching a new one if missing, about to expire, or forced.

        ``rejected`` is the token the server just refused: with ``force_refresh`` a new one is
        fetched only if nobody replaced it meanwhile (one refresh for many failed requests).
        """
        current = self._token
        if not force_refresh and self._fresh(current):
            assert current is not None
            return current
        with self._lock:
            current = self._token
            if force_refresh:
                if current is not None and rejected is not None and current != rejected:
                    return current
            elif self._fresh(current):
                assert current is not None
                return current
            try:
                value = self._fetch()
            except Exception as exc:
                # A failed early refresh keeps the old token while it is still valid.
                exp = self._expires_at
                if (
                    current is not None
                    and not force_refresh
                    and (exp is None or self._clock() < exp)
                ):
                    logger.warning(
                        "%r: token refresh failed (%s); keeping the current token",
                        self,
                        type(exc).__name__,
                    )
                    return current
                if isinstance(exc, SlurmError):
                    raise
                raise ConfigurationError(
                    f"{self!r} could not obtain a token: "
                    f"{type(exc).__name__}: {redact_text(str(exc))[:300]}"
                ) from exc
            if not value:
                raise ConfigurationError(f"{self!r} produced an empty token")
            token = self._store(value)
            logger.debug("%r: obtained a token (expires at %s)", self, self._expires_at)
            return token

    async def atoken(
        self, *, force_refresh: bool = False, rejected: Secret | None = None
    ) -> Secret:
        """Async :meth:`token`; fetching (file, command, callable) runs in a worker thread."""
        current = self._token
        if not force_refresh and self._fresh(current):
            assert current is not None
            return current
        fn = functools.partial(self.token, force_refresh=force_refresh, rejected=rejected)
        import anyio.to_thread  # here, not at the top: only async clients need it (import cost)

        return await anyio.to_thread.run_sync(fn)

    def _repr_fields(self) -> str:
        return f"user_name={self.user_name!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_fields()})"


class StaticToken(TokenProvider):
    """A fixed token (e.g. ``SLURM_JWT``). Cannot refresh: a rejection surfaces at once.

    Example::

        >>> StaticToken("eyJhbGciOiJIUzI1NiJ9.e30.sig", user_name="alice")
        StaticToken(user_name='alice', token=<redacted>)
    """

    can_refresh: ClassVar[bool] = False

    def __init__(self, token: str | Secret, user_name: str | None = None) -> None:
        super().__init__(user_name=user_name, refresh_margin=0.0)
        secret = token if isinstance(token, Secret) else Secret(token.strip())
        if not secret:
            raise ConfigurationError("StaticToken: the token is empty")
        self._store(secret.get())

    def _fresh(self, token: Secret | None) -> bool:
        return True  # nothing to refresh from

    def _fetch(self) -> str:
        assert self._token is not None
        return self._token.get()

    def _repr_fields(self) -> str:
        return f"user_name={self.user_name!r}, token=<redacted>"


class TokenFile(TokenProvider):
    """A token kept in a file (``SLURM_JWT=...`` lines accepted); re-read when it changes.

    Example::

        TokenFile("~/.slurm/token", user_name="alice")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        user_name: str | None = None,
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(user_name=user_name, refresh_margin=refresh_margin, clock=clock)
        self.path = Path(path).expanduser()
        self._stamp: tuple[int, int] | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _source_changed(self) -> bool:
        stamp = self._stat()
        # A vanished file (mid-rotation) is not a change: keep the token we have.
        return stamp is not None and stamp != self._stamp

    def _fetch(self) -> str:
        data, st = _read_secret_file(self.path, "TokenFile", key=False)
        self._stamp = (st.st_mtime_ns, st.st_size)
        return _parse_token_text(data.decode("utf-8", errors="replace"))

    def _repr_fields(self) -> str:
        return f"path={str(self.path)!r}, user_name={self.user_name!r}"


class TokenCommand(TokenProvider):
    """Run a command that prints a token, e.g. ``scontrol token lifespan=3600``.

    Output may be ``SLURM_JWT=<token>`` (what scontrol prints) or the bare token. Its
    ``repr``, logs and errors name only the program (``argv[0]``): an argument may be a
    password.

    Example::

        TokenCommand(["scontrol", "token", "lifespan=3600"])
    """

    def __init__(
        self,
        argv: Sequence[str],
        user_name: str | None = None,
        *,
        timeout: float = 30.0,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(user_name=user_name, refresh_margin=refresh_margin, clock=clock)
        if isinstance(argv, str) or not argv:
            raise ConfigurationError("TokenCommand: argv must be a non-empty list of strings")
        self.argv = list(argv)
        self.timeout = timeout
        extra = len(self.argv) - 1
        self._shown = f"{self.argv[0]!r}" + (f" (+{extra} arguments)" if extra else "")

    def _fetch(self) -> str:
        try:
            proc = subprocess.run(
                self.argv,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            # Not str(exc): it spells out the whole command line.
            raise ConfigurationError(
                f"TokenCommand {self._shown} failed to run: timed out after {self.timeout} s"
            ) from None
        except OSError as exc:
            raise ConfigurationError(
                f"TokenCommand {self._shown} failed to run: {exc.strerror or type(exc).__name__}"
            ) from None
        if proc.returncode != 0:
            # stderr only: stdout could hold a token.
            err = redact_text(proc.stderr.strip())[:300]
            raise ConfigurationError(
                f"TokenCommand {self._shown} exited with {proc.returncode}: {err}"
            )
        token = _parse_token_text(proc.stdout)
        if not token or any(c.isspace() for c in token):
            raise ConfigurationError(f"TokenCommand {self._shown} printed no recognisable token")
        return token

    def _repr_fields(self) -> str:
        return f"command={self._shown}, user_name={self.user_name!r}"


class JWTKeyAuth(TokenProvider):
    """Mint HS256 tokens locally with the cluster's shared key (``AuthAltParameters=jwt_key``).

    Claims are what slurmctld's auth/jwt checks: ``sun`` (Slurm user name), ``iat``, ``exp``.
    Needs read access to the key, i.e. this is for admins and services.

    Example::

        JWTKeyAuth("/etc/slurm/jwt_hs256.key", user_name="slurm", lifespan=1800)
    """

    def __init__(
        self,
        key: bytes | str | os.PathLike[str],
        user_name: str,
        *,
        lifespan: float = 1800.0,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(user_name=user_name, refresh_margin=refresh_margin, clock=clock)
        if not user_name:
            raise ConfigurationError("JWTKeyAuth: user_name is required (it becomes 'sun')")
        if lifespan <= refresh_margin:
            raise ConfigurationError("JWTKeyAuth: lifespan must exceed refresh_margin")
        if isinstance(key, bytes):
            self._key = Secret(key.decode("latin-1"))
            self.key_path: Path | None = None
        else:
            self.key_path = Path(key).expanduser()
            raw, _ = _read_secret_file(self.key_path, "JWTKeyAuth", key=True)
            self._key = Secret(raw.decode("latin-1"))
        register_secret(self._key.get())
        if not self._key:
            raise ConfigurationError("JWTKeyAuth: the key is empty")
        self.lifespan = lifespan

    def _fetch(self) -> str:
        now = int(self._clock())
        claims = {"iat": now, "exp": now + int(self.lifespan), "sun": self.user_name}
        # Imported here, not at the top: PyJWT brings in `cryptography` (~30 ms), which only
        # a client that mints its own tokens needs (import cost).
        import jwt

        # The key is raw bytes (dd if=/dev/random); latin-1 round-trips them losslessly.
        return jwt.encode(claims, self._key.get().encode("latin-1"), algorithm="HS256")

    def _repr_fields(self) -> str:
        where = f"key_path={str(self.key_path)!r}" if self.key_path else "key=<redacted>"
        return f"user_name={self.user_name!r}, {where}, lifespan={self.lifespan!r}"


class CallableAuth(TokenProvider):
    """Call ``fn()`` for a token whenever one is needed (startup, near expiry, rejection).

    Example::

        CallableAuth(lambda: vault.read("slurm/jwt"), user_name="alice")
    """

    def __init__(
        self,
        fn: Callable[[], str],
        user_name: str | None = None,
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(user_name=user_name, refresh_margin=refresh_margin, clock=clock)
        self.fn = fn

    def _fetch(self) -> str:
        value = self.fn()
        if isinstance(value, Secret):
            return value.get()
        if not isinstance(value, str):
            raise ConfigurationError(
                f"CallableAuth: {self.fn!r} returned {type(value).__name__}, expected str"
            )
        return _parse_token_text(value)

    def _repr_fields(self) -> str:
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"fn={name}, user_name={self.user_name!r}"


_AUTH_ERRNOS_STATUSES = (401, 511)


def is_auth_rejection(response: httpx.Response) -> bool:
    """True when slurmrestd refused the credentials (401, 511, or an auth error number)."""
    status = response.status_code
    if status in _AUTH_ERRNOS_STATUSES:
        return True
    if status < 400 or not response.content:
        return False
    try:
        body = load_json(response.content)
    except ValueError:
        return False
    errors, _ = _parse_entries(body)
    return error_class_for(status, errors) is AuthenticationError


# What slurmrestd answers to an expired or invalid token where it does not say so (seen live):
# 22.05 answers HTTP 500 with error -1 "Unspecified error" (5005 "Zero Bytes were transmitted
# or received" for DELETE job); the slurmdb endpoints of 24.11/26.05 answer 502 with 7000
# "Unable to connect to database". The same answers also mean real failures, so they only
# count as a rejection of a token the server has not accepted before.
_AMBIGUOUS_STATUSES = (500, 502)
_AMBIGUOUS_ERRNOS = frozenset({-1, 5005, 7000})


def maybe_auth_rejection(response: httpx.Response) -> bool:
    """True for an error that may be slurmrestd rejecting the token without saying so."""
    if response.status_code not in _AMBIGUOUS_STATUSES or not response.content:
        return False
    try:
        body = load_json(response.content)
    except ValueError:
        return False
    errors, _ = _parse_entries(body)
    return bool(errors) and all(e.error_number in _AMBIGUOUS_ERRNOS for e in errors)


class SlurmAuth(httpx.Auth):
    """Puts a provider's token on each request; refreshes once when it is rejected.

    ``header_style="x-slurm"`` (default) sends ``X-SLURM-USER-TOKEN``; ``"bearer"`` sends
    ``Authorization: Bearer <token>`` (slurmrestd 23.02+; 22.05 answers it with 401).
    ``X-SLURM-USER-NAME`` goes with either when a name is known: the provider's
    ``user_name``, else the token's own ``sun`` claim (22.05 requires the header).

    Example::

        client = httpx.Client(auth=SlurmAuth(StaticToken(os.environ["SLURM_JWT"])))
    """

    # The body decides whether 22.05's HTTP 500 was an authentication failure.
    requires_response_body = True

    def __init__(self, provider: TokenProvider, *, header_style: HeaderStyle = "x-slurm") -> None:
        if header_style not in ("x-slurm", "bearer"):
            raise ConfigurationError(f"SlurmAuth: unknown header_style {header_style!r}")
        self.provider = provider
        self.header_style: HeaderStyle = header_style
        self._token_header = "Authorization" if header_style == "bearer" else "X-SLURM-USER-TOKEN"
        self._accepted: Secret | None = None  # the last token the server answered with < 400

    def _rejected(self, response: httpx.Response, token: Secret) -> bool:
        """Should ``token`` be replaced and the request sent once more?"""
        if not self.provider.can_refresh:
            return False
        if response.status_code < 400:
            self._note(response, token)
            return False
        if is_auth_rejection(response):
            return True
        # An ambiguous failure is blamed on a token only if it never worked.
        return token is not self._accepted and maybe_auth_rejection(response)

    def _note(self, response: httpx.Response, token: Secret) -> None:
        # /openapi/v3 (22.05) and ping answer 200 to any non-empty token: they prove nothing.
        if response.status_code < 400:
            path = response.request.url.path
            if not path.startswith("/openapi") and not path.endswith("/ping"):
                self._accepted = token

    def _apply(self, request: httpx.Request, token: Secret) -> None:
        headers = request.headers
        if self.header_style == "bearer":
            headers["Authorization"] = "Bearer " + token.get()
        else:
            headers["X-SLURM-USER-TOKEN"] = token.get()
        user_name = self.provider.header_user_name
        if user_name:
            headers["X-SLURM-USER-NAME"] = user_name

    def _forget(self, request: httpx.Request) -> None:
        # A failed request stays reachable from exception chains and tracebacks: leave no
        # token on it. (Not done on success: a header write costs ~5 us per request.)
        request.headers[self._token_header] = REDACTED

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        try:
            token = self.provider.token()
            self._apply(request, token)
            response = yield request
            if self._rejected(response, token):
                logger.debug("token rejected (HTTP %s); refreshing once", response.status_code)
                token = self.provider.token(force_refresh=True, rejected=token)
                self._apply(request, token)
                response = yield request
                self._note(response, token)
        except BaseException:  # transport error: httpx closes the flow (GeneratorExit)
            self._forget(request)
            raise

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        try:
            token = await self.provider.atoken()
            self._apply(request, token)
            response = yield request
            if self._rejected(response, token):
                logger.debug("token rejected (HTTP %s); refreshing once", response.status_code)
                token = await self.provider.atoken(force_refresh=True, rejected=token)
                self._apply(request, token)
                response = yield request
                self._note(response, token)
        except BaseException:  # transport error: httpx closes the flow (GeneratorExit)
            self._forget(request)
            raise

    def __repr__(self) -> str:
        return f"SlurmAuth({self.provider!r}, header_style={self.header_style!r})"
