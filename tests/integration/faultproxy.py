"""A fault-injecting HTTP/1.1 relay for tests: it sits between a client and slurmrestd on
127.0.0.1 and holds, cuts, delays, silences or rewrites chosen requests.

Each client connection gets its own upstream connection (keep-alive is mirrored). Requests
and answers are framed with h11, relayed byte for byte unless a rule says otherwise, and
every request seen is recorded (``proxy.seen``), so tests count what reached the wire.

Rules are matched in the order they were added; a rule with ``times`` is used up after that
many matches. Unmatched requests are forwarded::

    with FaultProxy(cluster.ports.slurmrestd) as proxy:
        proxy.on(Hold(4.0), method="POST", path="/job/submit", times=1)
        client = SlurmClient(proxy.url, ...)

Actions:
- :class:`Hold` waits, then forwards even if the client gave up (a late arrival);
- :class:`CutBefore` closes the client's socket without forwarding;
- :class:`CutAfter` forwards, waits for the answer, then closes the client's socket;
- :class:`Silent` never answers (the connection stays open until the proxy closes);
- :class:`Respond` answers itself, nothing forwarded;
- :class:`Rewrite` forwards and passes the answer through a function.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11

MAX_MESSAGE = 64 * 1024 * 1024  # a test proxy still bounds what it buffers


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Hold:
    seconds: float


@dataclass(frozen=True)
class CutBefore:
    pass


@dataclass(frozen=True)
class CutAfter:
    pass


@dataclass(frozen=True)
class Silent:
    pass


@dataclass(frozen=True)
class Respond:
    status: int
    body: bytes = b'{"errors": [], "warnings": []}'
    content_type: str = "application/json"


@dataclass(frozen=True)
class Rewrite:
    fn: Callable[[Request, Answer], Answer]


Action = Hold | CutBefore | CutAfter | Silent | Respond | Rewrite


@dataclass
class _Rule:
    action: Action
    method: str | None
    path: str | None
    match: Callable[[Request], bool] | None
    times: int | None
    used: int = field(default=0)

    def matches(self, req: Request) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.method is not None and req.method != self.method:
            return False
        if self.path is not None and self.path not in req.path:
            return False
        return self.match is None or self.match(req)


class FaultProxy:
    """See the module docstring. Use as a context manager; ``url`` is where clients go."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.seen: list[Request] = []  # every request read from a client, in order
        self.forwarded: list[Request] = []  # those that reached upstream
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []

    # -- set-up ------------------------------------------------------------------------------
    def on(
        self,
        action: Action,
        *,
        method: str | None = None,
        path: str | None = None,
        match: Callable[[Request], bool] | None = None,
        times: int | None = None,
    ) -> None:
        """Apply ``action`` to requests with this method and a path containing ``path``."""
        with self._lock:
            self._rules.append(_Rule(action, method, path, match, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests seen with this method and a path containing ``path``."""
        with self._lock:
            return sum(
                1
                for r in self.seen
                if (method is None or r.method == method) and (path is None or path in r.path)
            )

    def __enter__(self) -> FaultProxy:
        t = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._threads.append(t)
        t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            sockets = [self._listener, *self._sockets]
        for s in sockets:
            _cut(s)
        for t in list(self._threads):
            t.join(timeout=5)

    # -- relay -------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._sockets.add(client)
            t = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _rule_for(self, req: Request) -> Action | None:
        with self._lock:
            self.seen.append(req)
            for rule in self._rules:
                if rule.matches(req):
                    rule.used += 1
                    return rule.action
        return None

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        reader = h11.Connection(h11.SERVER)
        leftover = b""
        try:
            while not self._stop.is_set():
                req = _read_request(client, reader, leftover)
                if req is None:
                    return
                action = self._rule_for(req)
                if isinstance(action, CutBefore):
                    return
                if isinstance(action, Silent):
                    self._stop.wait()
                    return
                if isinstance(action, Respond):
                    client.sendall(
                        _serialize(
                            Answer(
                                action.status, [("Content-Type", action.content_type)], action.body
                            )
                        )
                    )
                else:
                    if isinstance(action, Hold):
                        self._stop.wait(action.seconds)
                    if upstream is None:
                        upstream = socket.create_connection(self.upstream, timeout=120)
                        with self._lock:
                            self._sockets.add(upstream)
                    upstream.sendall(req.raw)
                    with self._lock:
                        self.forwarded.append(req)
                    raw, answer = _read_answer(upstream, req.method)
                    if isinstance(action, CutAfter):
                        return
                    if isinstance(action, Rewrite):
                        client.sendall(_serialize(action.fn(req, answer)))
                    else:
                        client.sendall(raw)
                    if _closes(answer.headers):
                        return
                # A new parser per request; bytes already read (pipelining) carry over.
                trailing, closed = reader.trailing_data
                leftover = bytes(trailing)
                reader = h11.Connection(h11.SERVER)
                if leftover:  # (b"" would mean end of stream to h11)
                    reader.receive_data(leftover)
                if closed:
                    reader.receive_data(b"")
        except (OSError, h11.ProtocolError, ValueError):
            pass
        finally:
            _cut(client)
            if upstream is not None:
                _cut(upstream)
            with self._lock:
                self._sockets.discard(client)
                if upstream is not None:
                    self._sockets.discard(upstream)


def _read_request(sock: socket.socket, conn: h11.Connection, initial: bytes) -> Request | None:
    raw = bytearray(initial)
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            if not data:
                return None
            raw += data
            if len(raw) > MAX_MESSAGE:
                raise ValueError("request too large for the test proxy")
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return Request(
                method=head.method.decode(),
                path=head.target.decode(),
                headers=[(k.decode(), v.decode()) for k, v in head.headers],
                body=bytes(body),
                raw=bytes(raw),
            )
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _read_answer(sock: socket.socket, method: str) -> tuple[bytes, Answer]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    raw = bytearray()
    status = 0
    headers: list[tuple[str, str]] = []
    body = bytearray()
    while True:
        event: Any = conn.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            raw += data
            if len(raw) > MAX_MESSAGE:
                raise ValueError("answer too large for the test proxy")
            conn.receive_data(data)
            continue
        if isinstance(event, h11.InformationalResponse):
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
            headers = [(k.decode(), v.decode()) for k, v in event.headers]
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return bytes(raw), Answer(status, headers, bytes(body))


def _serialize(answer: Answer) -> bytes:
    skip = {"content-length", "transfer-encoding", "connection"}
    lines = [f"HTTP/1.1 {answer.status} X"]
    lines += [f"{k}: {v}" for k, v in answer.headers if k.lower() not in skip]
    lines.append(f"Content-Length: {len(answer.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + answer.body


def _closes(headers: list[tuple[str, str]]) -> bool:
    return any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)


def _cut(sock: socket.socket) -> None:
    """Close now: ``shutdown`` wakes a thread blocked in ``recv`` and sends the FIN."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` for up to ``timeout`` seconds (for things the proxy does later)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
