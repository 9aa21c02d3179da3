"""Where a refresh token lives between runs: a private file, or the OS keyring.

A refresh token is long-lived and can mint access tokens for its owner: the file is read
only if it is a regular file of yours that nobody else can read or write, and written
atomically with mode 0600.
"""

from __future__ import annotations

import os
import stat
import types
from pathlib import Path
from typing import Protocol

from slurm_core._exceptions import ConfigurationError
from slurm_core._localfile import read_regular
from slurm_core._redact import Secret

_MAX_BYTES = 16 * 1024


class RefreshTokenStore(Protocol):
    """Loads and saves one refresh token (:class:`RefreshTokenFile`, :class:`KeyringStore`)."""

    def load(self) -> Secret | None: ...

    def save(self, token: Secret) -> None: ...

    def delete(self) -> None: ...


class RefreshTokenFile:
    """A refresh token in a file of yours, mode 0600.

    Reading refuses (``ConfigurationError`` naming the file and the fix) a symbolic link,
    anything but a regular file, a file owned by someone else, or one that group or others
    may read or write. A missing file loads as ``None`` (not logged in yet).

    Example::

        store = RefreshTokenFile("~/.config/slurm-client/refresh-token")
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def load(self) -> Secret | None:
        label = f"refresh token file {self.path}"
        try:
            found = read_regular(self.path, max_bytes=_MAX_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            raise ConfigurationError(f"cannot read {label}: {reason}") from None
        st = found.stat
        if st.st_uid != os.geteuid():
            raise ConfigurationError(
                f"{label} is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}): "
                "log in again to write your own"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"{label} is open to others (mode {mode:04o}): chmod 600 {self.path}, and "
                "log in again if others may have read it"
            )
        if len(found.data) > _MAX_BYTES:
            raise ConfigurationError(f"{label} is too large to hold a refresh token")
        text = found.data.decode("utf-8", errors="replace").strip()
        return Secret(text) if text else None

    def save(self, token: Secret) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(token.get() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)  # atomic: a reader sees the old token or the new one
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"RefreshTokenFile({str(self.path)!r})"


class KeyringStore:
    """A refresh token in the OS keyring (``keyring`` package: Secret Service, Keychain...).

    The entry is service ``slurm-client``, user ``<client_id>@<issuer>``.

    Example::

        store = KeyringStore("https://id.example.org/realms/hpc", "slurm-cli")
    """

    service = "slurm-client"

    def __init__(self, issuer: str, client_id: str) -> None:
        self.issuer, self.client_id = issuer, client_id
        self.entry = f"{client_id}@{issuer}"

    def _keyring(self) -> types.ModuleType:
        try:
            import keyring
        except ImportError:
            raise ConfigurationError(
                "KeyringStore needs the keyring package: pip install 'slurm-client[keyring]', "
                "or store the refresh token in a file"
            ) from None
        return keyring

    def _call(self, what: str, *args: str) -> str | None:
        keyring = self._keyring()
        try:
            value: str | None = getattr(keyring, what)(self.service, self.entry, *args)
        except keyring.errors.PasswordDeleteError:
            return None
        except keyring.errors.KeyringError as exc:  # no backend, locked, refused...
            raise ConfigurationError(
                f"{self!r}: the OS keyring failed ({type(exc).__name__}: {exc}); "
                "store the refresh token in a file instead"
            ) from None
        return value

    def load(self) -> Secret | None:
        value = self._call("get_password")
        return Secret(value) if value else None

    def save(self, token: Secret) -> None:
        self._call("set_password", token.get())

    def delete(self) -> None:
        self._call("delete_password")

    def __repr__(self) -> str:
        return f"KeyringStore(service={self.service!r}, entry={self.entry!r})"
