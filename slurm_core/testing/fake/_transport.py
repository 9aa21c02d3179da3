"""An httpx transport, sync and async at once, that answers from a fake's endpoint in-process."""

from __future__ import annotations

import time

import anyio
import httpx

from ._endpoint import FakeEndpoint
from ._faults import Dropped, Plan

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

    def __init__(self, endpoint: FakeEndpoint) -> None:
        self._endpoint = endpoint

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        plan = self._endpoint.plan(request.method, request.url.path)
        if plan.delay:
            time.sleep(plan.delay)
        return self._respond(request, body, plan)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        plan = self._endpoint.plan(request.method, request.url.path)
        if plan.delay:
            await anyio.sleep(plan.delay)
        return self._respond(request, body, plan)

    def _respond(self, request: httpx.Request, body: bytes, plan: Plan) -> httpx.Response:
        query: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            query.setdefault(key, []).append(value)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            reply = self._endpoint.answer(
                plan,
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
            headers={"content-type": reply.content_type, **reply.headers}
            if reply.content_type
            else reply.headers,
            content=reply.body,
            request=request,
        )
