"""An httpx transport, sync and async at once, that answers from a FakeSlurmServer in-process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import httpx

from ._faults import Dropped

if TYPE_CHECKING:
    from ._fake import FakeSlurmServer

__all__ = ["FakeTransport"]


def _error(kind: str, request: httpx.Request) -> httpx.TransportError:
    if kind == "connect":
        return httpx.ConnectError(
            "connection refused (injected by FakeSlurmServer)", request=request
        )
    if kind == "timeout":
        return httpx.ReadTimeout("read timed out (injected by FakeSlurmServer)", request=request)
    return httpx.ReadError(
        "connection reset by peer (injected by FakeSlurmServer)", request=request
    )


class FakeTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Serves both ``httpx.Client`` and ``httpx.AsyncClient`` without any socket.

    Example::

        fake = FakeSlurmServer()
        with SlurmClient(fake.url, transport=fake.transport()) as client:
            client.ping()
    """

    def __init__(self, server: FakeSlurmServer) -> None:
        self._server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        plan = self._server._plan(request.method, request.url.path)
        if plan.delay:
            time.sleep(plan.delay)
        return self._respond(request, body, plan)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        plan = self._server._plan(request.method, request.url.path)
        if plan.delay:
            await anyio.sleep(plan.delay)
        return self._respond(request, body, plan)

    def _respond(self, request: httpx.Request, body: bytes, plan: object) -> httpx.Response:
        query: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            query.setdefault(key, []).append(value)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            reply = self._server._answer(
                plan,  # type: ignore[arg-type]
                request.method,
                request.url.path,
                query,
                headers,
                body,
            )
        except Dropped as dropped:
            raise _error(dropped.kind, request) from None
        return httpx.Response(
            reply.status,
            headers={"content-type": reply.content_type, **reply.headers},
            content=reply.body,
            request=request,
        )
