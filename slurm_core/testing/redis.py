"""A real ``redis-server`` for tests, from Debian's packages, without a root install.

:func:`redis_binary` downloads ``redis-server`` and the libraries it needs that a bare
Debian lacks (``apt-get download``, no root: the packages are unpacked with ``dpkg-deb -x``)
into ``~/.cache/slurm-client/redis/<version>/`` once; later calls reuse the cache.
:class:`LocalRedis` runs it on a free port of 127.0.0.1 with a temporary directory (no
persistence), and stops it after. The ``redis_server`` pytest fixture (in
:mod:`slurm_core.testing.pytest_plugin`) yields one per test; a redis that cannot start
skips the test, or fails it when ``$CI`` is ``true``.

Example::

    from slurm_core.testing.redis import LocalRedis

    with LocalRedis() as server:
        print(server.url)             # redis://127.0.0.1:<port>/0
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["PACKAGES", "LocalRedis", "RedisUnavailable", "redis_binary"]

PACKAGES = ("redis-server", "redis-tools", "libjemalloc2", "liblzf1")
"""What ``redis-server`` needs beyond a minimal Debian (``ldd`` says: jemalloc and lzf)."""


class RedisUnavailable(RuntimeError):
    """``redis-server`` could not be fetched or started (the reason is the message)."""


def _cache_root() -> Path:
    base = os.environ.get("SLURM_CLIENT_CACHE", "~/.cache/slurm-client")
    return Path(base).expanduser() / "redis"


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise RedisUnavailable(f"{cmd[0]} is not installed (a Debian machine is needed)") from exc
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip()[-500:]
        raise RedisUnavailable(f"`{' '.join(cmd)}` failed: {tail}") from exc
    except subprocess.TimeoutExpired as exc:
        raise RedisUnavailable(f"`{' '.join(cmd)}` took over {timeout:.0f} s") from exc


def redis_binary(cache: Path | None = None) -> Path:
    """The cached ``redis-server`` (downloaded and unpacked the first time)."""
    root = cache or _cache_root()
    unpacked = root / "root"
    server = unpacked / "usr" / "bin" / "redis-server"
    if server.exists():
        return server
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download however many test processes
        if server.exists():
            return server
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            work = Path(tmp)
            _run(["apt-get", "download", *PACKAGES], work)
            staging = work / "root"
            for deb in sorted(work.glob("*.deb")):
                _run(["dpkg-deb", "-x", str(deb), str(staging)], work)
            if not (staging / "usr" / "bin" / "redis-server").exists():
                raise RedisUnavailable("the downloaded packages hold no redis-server")
            staging.rename(unpacked)  # atomic: a half-unpacked tree is never seen
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _libs(server: Path) -> str:
    """The library directory of the unpacked packages (for ``LD_LIBRARY_PATH``)."""
    usr = server.parent.parent
    return os.pathsep.join(
        str(p) for p in [*sorted((usr / "lib").glob("*-linux-gnu")), usr / "lib"]
    )


class LocalRedis:
    """One ``redis-server`` on a free port, in a temporary directory, no persistence.

    ``stop()`` ends it (``kill()`` is the abrupt variant: what a crash looks like) and
    ``start()`` starts it again on the same port.
    """

    def __init__(self, binary: Path | None = None, port: int | None = None) -> None:
        self._binary = binary
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> LocalRedis:
        if self.running:
            return self
        binary = self._binary or redis_binary()
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="slurm-client-redis-")
        env = {**os.environ, "LD_LIBRARY_PATH": _libs(binary)}
        args = [str(binary), "--port", str(self.port), "--bind", self.host, "--save", ""]
        args += ["--appendonly", "no", "--dir", self._dir.name, "--protected-mode", "yes"]
        log = Path(self._dir.name) / "redis.log"
        with log.open("ab") as out:
            self._proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = log.read_text(errors="replace")[-500:]
                self._proc = None
                raise RedisUnavailable(f"redis-server exited at start: {tail}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
                return self
            time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"redis-server did not listen on {self.port} within {timeout} s")

    def _end(self, sig_kill: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill() if sig_kill else proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        self._end(sig_kill=False)

    def kill(self) -> None:
        """End the server abruptly (SIGKILL)."""
        self._end(sig_kill=True)

    def close(self) -> None:
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalRedis(url={self.url!r}, running={self.running})"
