"""Where tokens come from: a fixed value, a file, a command, a signing key, a function."""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from slurm_core._exceptions import ConfigurationError
from slurm_core._localfile import read_regular
from slurm_core._redact import Secret, redact_text, register_secret
from slurm_core.auth._provider import DEFAULT_REFRESH_MARGIN, TokenProvider

logger = logging.getLogger("slurm_core.auth")  # one logger for the package: what users filter


_SECRET_FILE_MAX_BYTES = 64 * 1024  # a token is ~1 KiB, a key 32-1024 bytes
_SLURM_JWT_LINE = re.compile(r"^\s*(?:export\s+)?SLURM_JWT\s*=\s*(\S+)\s*$", re.MULTILINE)


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

    A file caught mid-rewrite (empty, or a token cut short) is read again for up to
    :attr:`reread_window` seconds, and the last good token is used while still valid; a
    token the server rejects is replaced by the file's next one, waited for as long.

    Example::

        TokenFile("~/.slurm/token", user_name="alice")
    """

    reread_window: ClassVar[float] = 5.0

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
        refresh_margin: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not lifespan >= 2:  # also refuses NaN
            raise ConfigurationError(f"JWTKeyAuth: lifespan must be >= 2 seconds, got {lifespan}")
        if refresh_margin is None:
            # Renew a minute ahead, or a quarter of the life of a short-lived token.
            refresh_margin = min(DEFAULT_REFRESH_MARGIN, lifespan / 4)
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
