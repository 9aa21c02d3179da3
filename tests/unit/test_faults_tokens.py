"""Issue 16, finding 7 and item 9: token sources keep the last good token until a new one
is readable; ``JWTKeyAuth`` derives its refresh margin from a short lifespan."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from slurm_core._exceptions import ConfigurationError
from slurm_core._redact import Secret
from slurm_core.auth import JWTKeyAuth, TokenFile

KEY = b"k" * 32


def _token(lifespan: float = 3600, sun: str = "alice") -> str:
    now = int(time.time())
    return jwt.encode({"iat": now, "exp": now + int(lifespan), "sun": sun}, KEY, "HS256")


def _write(path: Path, text: str) -> None:
    """In place, the way ``echo $TOKEN > file`` does: truncate, then write."""
    with open(path, "r+" if path.exists() else "w") as f:
        f.truncate(0)
        f.flush()
        os.fsync(f.fileno())
        f.write(text)
    os.chmod(path, 0o600)


def _bump(path: Path, text: str) -> None:
    """Change the content and make sure the mtime moves (coarse clocks)."""
    _write(path, text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@contextlib.contextmanager
def _later(delay: float, path: Path, text: str) -> Iterator[None]:
    """Rewrite ``path`` with ``text`` after ``delay`` seconds, from another thread."""
    timer = threading.Timer(delay, _bump, (path, text))
    timer.start()
    try:
        yield
    finally:
        timer.join()


@pytest.mark.parametrize("torn", ["", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJle"])
def test_a_file_caught_mid_rewrite_keeps_the_last_good_token(tmp_path: Path, torn: str) -> None:
    path = tmp_path / "jwt"
    first = _token()
    _write(path, first + "\n")
    provider = TokenFile(path)
    provider.reread_window = 0.3  # type: ignore[misc]
    assert provider.token().get() == first
    _bump(path, torn)  # truncated (and maybe half written) when read
    assert provider.token().get() == first  # no ConfigurationError: still valid
    second = _token(sun="alice")
    _bump(path, second + "\n")
    assert provider.token().get() == second


def test_a_file_written_during_the_reread_window_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    first = _token()
    _write(path, first)
    provider = TokenFile(path)
    assert provider.token().get() == first
    _bump(path, "")
    second = _token(lifespan=7200)
    with _later(0.3, path, second):
        assert provider.token().get() == second  # read again until complete


def test_a_rejected_token_waits_for_a_late_rotation(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    old = _token()
    _write(path, old)
    provider = TokenFile(path)
    rejected = provider.token()
    new = _token(lifespan=7200)
    with _later(0.4, path, new):
        assert provider.token(force_refresh=True, rejected=rejected).get() == new


def test_the_rereading_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    old = _token()
    _write(path, old)
    provider = TokenFile(path)
    provider.reread_window = 0.3  # type: ignore[misc]
    rejected = provider.token()
    started = time.monotonic()
    assert provider.token(force_refresh=True, rejected=rejected) == Secret(old)  # not rotated
    assert 0.3 <= time.monotonic() - started < 2
    _bump(path, "")
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match="empty token"):
        provider.token(force_refresh=True, rejected=rejected)  # nothing valid to keep
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("lifespan", "margin"), [(1800, 60.0), (40, 10.0), (8, 2.0)])
def test_jwt_key_auth_derives_its_refresh_margin(lifespan: float, margin: float) -> None:
    provider = JWTKeyAuth(KEY, "alice", lifespan=lifespan)
    assert provider.refresh_margin == margin
    token = provider.token()
    claims = jwt.decode(token.get(), KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == lifespan
    assert provider.token() is token  # cached, not minted per request
