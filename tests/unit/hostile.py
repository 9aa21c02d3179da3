"""A hostile HTTP server kit: scripted raw answers on loopback, and a client run per case.

:class:`HostileServer` listens on 127.0.0.1, answers every connection with one scripted
answer (raw bytes, written as the script says: all at once, trickled, streamed until the
client hangs up) and stops by itself: after ``max_connections`` connections or ``lifetime``
seconds, whichever comes first. Nothing it sends is parsed by hand on our side; the client
under test must refuse it.

:func:`run_case` runs one client call against such a server in a fresh subprocess, so that
the peak RSS it reports (``ru_maxrss`` after the call minus before it) belongs to that call
alone. The subprocess imports the SDK once and forks one child per mode (``sync`` is
``SlurmClient`` on httpx's ``HTTPTransport``, ``async`` is ``AsyncSlurmClient`` on the lean
h11 transport), each child measuring its own peak.

Example::

    with HostileServer(raw(b"HTTP/1.1 abc\\r\\n\\r\\n")) as server:
        result = run_case(server.url, "sync", timeout=2.0)
        assert result["error"] == "SlurmConnectionError"
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

Script = Callable[[socket.socket, threading.Event], None]
"""Writes one answer on an accepted connection; should return once ``stop`` is set."""

_HEAD_LIMIT = 64 * 1024


class HostileServer:
    """A loopback server playing ``script`` on each connection, in a daemon thread.

    Bounded: at most ``max_connections`` connections, ``lifetime`` seconds in all; every
    socket operation has a timeout, so it stops by itself whatever the client does.
    ``requests`` holds the raw request heads it received (to show what was, or was not, sent).
    """

    def __init__(self, script: Script, *, max_connections: int = 8, lifetime: float = 20.0):
        self.script = script
        self.max_connections = max_connections
        self.lifetime = lifetime
        self.requests: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> HostileServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        for t in self._threads:
            t.join(5)
        self._listener.close()

    def _accept(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.connections >= self.max_connections:
                break
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn, deadline), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, deadline: float) -> None:
        stop = threading.Event()
        # The script stops when the server does, or when its time is up.
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), stop.set)
        timer.daemon = True
        timer.start()
        watcher = threading.Thread(target=lambda: (self._stop.wait(), stop.set()), daemon=True)
        watcher.start()
        try:
            conn.settimeout(2.0)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            self.requests.append(head)
            self.script(conn, stop)
        except OSError:  # the client hung up: that is what a hostile answer is for
            pass
        finally:
            timer.cancel()
            conn.close()


# -- scripts -----------------------------------------------------------------------------------
def raw(data: bytes) -> Script:
    """Send ``data`` at once, then close."""

    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(data)

    return script


def trickle(head: bytes, body: bytes, *, interval: float = 1.0) -> Script:
    """Send ``head`` at once, then ``body`` one byte every ``interval`` seconds."""

    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        for i in range(len(body)):
            if stop.wait(interval):
                return
            conn.sendall(body[i : i + 1])

    return script


def stream(head: bytes, chunks: Callable[[], Iterator[bytes]]) -> Script:
    """Send ``head``, then every chunk ``chunks()`` yields until the client hangs up."""

    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        for chunk in chunks():
            if stop.is_set():
                return
            conn.sendall(chunk)

    return script


def zeros(total: int, size: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    """``total`` bytes of zeros in ``size`` pieces (made as they are sent)."""

    def chunks() -> Iterator[bytes]:
        block = bytes(size)
        for _ in range(total // size):
            yield block

    return chunks


def gzip_bomb_chunked(total: int = 1 << 30) -> Callable[[], Iterator[bytes]]:
    """``total`` bytes of zeros, gzip-compressed as they are sent, in HTTP chunks.

    1 GiB of zeros is ~1 MB on the wire: a client that decodes without a bound holds 1 GiB.
    """

    def chunks() -> Iterator[bytes]:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = bytes(1 << 20)
        for _ in range(total // len(block)):
            piece = compressor.compress(block)
            if piece:
                yield b"%x\r\n%s\r\n" % (len(piece), piece)
        piece = compressor.flush()
        yield b"%x\r\n%s\r\n0\r\n\r\n" % (len(piece), piece)

    return chunks


# -- running a client call in a subprocess -------------------------------------------------------
def run_case(url: str, modes: tuple[str, ...] = ("sync", "async"), **options: Any) -> list[Any]:
    """Run ``client.ping()`` against ``url`` once per mode, each in its own forked process.

    ``options`` go to the client (``timeout``, ``max_response_size``, ``headers``; ``token``
    for a StaticToken). Returns one dict per mode: ``error`` (class name, or None),
    ``is_slurm_error``, ``phase``, ``elapsed`` (seconds of the call) and ``rss_growth``
    (bytes of peak RSS the call added).
    """
    proc = subprocess.run(
        [sys.executable, __file__, url, json.dumps(list(modes)), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"case runner failed:\n{proc.stdout}\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _child(url: str, mode: str, options: dict[str, Any]) -> dict[str, Any]:
    import resource

    import anyio

    from slurm_core import AsyncSlurmClient, RetryPolicy, SlurmClient, SlurmError, StaticToken

    token = options.pop("token", "hostile-test-token")
    kwargs: dict[str, Any] = {
        "auth": StaticToken(token, "alice"),
        "api_version": "v0.0.40",
        "retry": RetryPolicy(max_attempts=1),
        "circuit_breaker": None,
        **options,
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    error: BaseException | None = None
    start = time.monotonic()
    cpu_start = time.process_time()
    try:
        if mode == "sync":
            with SlurmClient(url, **kwargs) as client:
                client.ping()
        else:

            async def call() -> None:
                async with AsyncSlurmClient(url, **kwargs) as client:
                    await client.ping()

            anyio.run(call)
    except BaseException as exc:
        error = exc
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu_start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "mode": mode,
        "error": type(error).__name__ if error else None,
        "message": str(error)[:300] if error else None,
        "is_slurm_error": isinstance(error, SlurmError),
        "phase": getattr(error, "phase", None),
        "elapsed": elapsed,
        "cpu": cpu,
        "rss_growth": (after - before) * 1024,  # ru_maxrss is in KiB on Linux
    }


def _main() -> None:
    url, modes, options = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    # Imported once, before the forks: the children start from this baseline.
    import anyio  # noqa: F401
    import h11  # noqa: F401

    import slurm_core._aio  # noqa: F401
    from slurm_core import AsyncSlurmClient, SlurmClient  # noqa: F401

    children = []
    for mode in modes:  # side by side: each child's peak RSS is its own all the same
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child measures one call and reports through the pipe
            os.close(read_end)
            try:
                line = json.dumps(_child(url, mode, dict(options)))
            except BaseException as exc:
                line = json.dumps({"mode": mode, "runner_error": repr(exc)})
            os.write(write_end, line.encode() + b"\n")
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    for pid, read_end in children:
        with os.fdopen(read_end) as reader:
            print(reader.read().strip(), flush=True)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    _main()
