"""The fault proxy itself, against a small local HTTP server (no cluster needed): each action
does what the tests that rely on it assume."""

from __future__ import annotations

import http.client
import http.server
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from faultproxy import (
    Answer,
    CutAfter,
    CutBefore,
    FaultProxy,
    Hold,
    Request,
    Respond,
    Rewrite,
    Silent,
)


class _Upstream(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    hits: list[tuple[str, float]]


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.server.hits.append((self.path, time.monotonic()))  # type: ignore[attr-defined]
            body = f'{{"path": "{self.path}"}}'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

    server = _Upstream(("127.0.0.1", 0), Handler)
    server.hits = []
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server
    server.shutdown()
    server.server_close()


def _get(port: int, path: str, timeout: float = 5.0, method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_forwards_and_counts_on_one_kept_alive_connection(upstream: _Upstream) -> None:
    with FaultProxy(upstream.server_address[1]) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
        for path in ("/a", "/b?x=1"):
            conn.request("GET", path)
            answer = conn.getresponse()
            assert answer.status == 200
            assert path.encode() in answer.read()
        conn.close()
        assert [r.path for r in proxy.seen] == ["/a", "/b?x=1"]
        assert proxy.count("GET", "/b") == 1


def test_cut_before_never_forwards_and_cut_after_forwards(upstream: _Upstream) -> None:
    with FaultProxy(upstream.server_address[1]) as proxy:
        proxy.on(CutBefore(), path="/before", times=1)
        proxy.on(CutAfter(), path="/after", times=1)
        for path in ("/before", "/after"):
            with pytest.raises((ConnectionError, http.client.HTTPException)):
                _get(proxy.port, path)
        assert [p for p, _ in upstream.hits] == ["/after"]
        assert _get(proxy.port, "/before")[0] == 200  # the rule was used up


def test_hold_forwards_after_the_client_gave_up(upstream: _Upstream) -> None:
    with FaultProxy(upstream.server_address[1]) as proxy:
        proxy.on(Hold(0.6), method="POST", times=1)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            _get(proxy.port, "/late", timeout=0.2, method="POST")
        assert not upstream.hits
        deadline = time.monotonic() + 5
        while not upstream.hits and time.monotonic() < deadline:
            time.sleep(0.02)
        assert upstream.hits[0][0] == "/late"
        assert upstream.hits[0][1] - t0 >= 0.55


def test_silent_respond_and_rewrite(upstream: _Upstream) -> None:
    with FaultProxy(upstream.server_address[1]) as proxy:
        proxy.on(Silent(), path="/silent")
        proxy.on(Respond(503), path="/busy", times=2)

        def upper(req: Request, answer: Answer) -> Answer:
            return Answer(404, answer.headers, answer.body.upper())

        proxy.on(Rewrite(upper), path="/rw")
        with pytest.raises(TimeoutError):
            _get(proxy.port, "/silent", timeout=0.3)
        assert [_get(proxy.port, "/busy")[0] for _ in range(3)] == [503, 503, 200]
        assert _get(proxy.port, "/rw") == (404, b'{"PATH": "/RW"}')
        assert "/silent" not in [p for p, _ in upstream.hits]
