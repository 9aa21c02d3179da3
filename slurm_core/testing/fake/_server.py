"""A real HTTP server on 127.0.0.1 in a thread, for tools that are not Python (curl, Go...).

Same answers and faults as the in-process transport. A dropped connection is a socket
closed without a response (``connect`` drops close it before reading the request).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from ..._versions.negotiate import forget_server
from ._endpoint import FakeEndpoint
from ._faults import Dropped

__all__ = ["serve"]


class _Handler(BaseHTTPRequestHandler):
    server_version = "fake-slurmrestd"
    protocol_version = "HTTP/1.1"
    endpoint: FakeEndpoint

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet, like the rest of the test run

    def _serve(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)  # as httpx gives the in-process transport
        plan = self.endpoint.plan(self.command, path)
        if plan.delay:
            threading.Event().wait(plan.delay)
        if plan.drop is not None and plan.drop.drop == "connect":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            reply = self.endpoint.answer(
                plan, self.command, path, parse_qs(url.query), headers, body
            )
        except Dropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve
    do_HEAD = do_OPTIONS = do_TRACE = _serve


@contextlib.contextmanager
def serve(endpoint: FakeEndpoint, port: int = 0) -> Iterator[str]:
    """Serve ``endpoint`` on ``127.0.0.1:port`` (0: a free port); yields the base URL."""
    handler = type("FakeSlurmrestdHandler", (_Handler,), {"endpoint": endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    # A short poll interval: shutting down waits for one (tests start many servers).
    thread = threading.Thread(
        target=server.serve_forever, args=(0.02,), name="fake-slurmrestd", daemon=True
    )
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    forget_server(url)  # an earlier server on this port may have served other versions
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
