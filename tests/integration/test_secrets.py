"""No token in any log line, repr, str or exception, against the real clusters.

A representative workload runs with every logger at DEBUG (slurm_core, httpx, httpcore):
reads, a submission, a token refresh, and the errors a user meets -- a bad token, a missing
job, someone else's job, a node a user may not drain. Then every log record (message,
arguments, exception text) and every repr/str of the clients, engines, options, auth
objects, providers and exceptions (their fields, chained causes, requests and responses,
tracebacks and pickles) is searched for each token value used.
"""

from __future__ import annotations

import logging
import pickle
import time
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from test_client_helpers import Face, submit

from slurm_core import (
    AuthenticationError,
    CallableAuth,
    JWTKeyAuth,
    NotFoundError,
    PermissionDeniedError,
    SlurmAuth,
    SlurmError,
    StaticToken,
    UnsupportedOperationError,
)
from slurm_core._transport import reset_circuit_breakers
from slurm_core.testing.cluster import LocalSlurmCluster

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _breakers() -> Iterator[None]:
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


class Evidence:
    """Everything that was said or could be printed during the workload."""

    def __init__(self) -> None:
        self.objects: list[Any] = []
        self.errors: list[BaseException] = []

    def keep(self, *objects: Any) -> None:
        self.objects.extend(objects)

    async def expect(
        self, error: type[BaseException], face: Face, method: str, *a: Any, **kw: Any
    ) -> Any:
        with pytest.raises(error) as info:
            await face(method, *a, **kw)
        self.errors.append(info.value)
        return info.value

    def texts(self, records: list[logging.LogRecord]) -> Iterator[tuple[str, str]]:
        formatter = logging.Formatter()
        for r in records:
            yield f"log {r.name}", r.getMessage()
            yield f"log args {r.name}", repr(r.args)
            if r.exc_info:
                yield f"log traceback {r.name}", formatter.formatException(r.exc_info)
        for obj in self.objects:
            yield f"repr {type(obj).__name__}", repr(obj)
            yield f"str {type(obj).__name__}", str(obj)
            for name, value in vars(obj).items() if hasattr(obj, "__dict__") else ():
                yield f"{type(obj).__name__}.{name}", repr(value)
        for exc in self.errors:
            yield from self._error_texts(exc)

    def _error_texts(self, exc: BaseException) -> Iterator[tuple[str, str]]:
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            name = type(current).__name__
            yield f"str {name}", str(current)
            yield f"repr {name}", repr(current)
            yield f"traceback {name}", "".join(traceback.format_exception(current))
            for field, value in vars(current).items():
                yield f"{name}.{field}", repr(value)
            response = getattr(current, "response", None)
            request = getattr(current, "request", None)
            if isinstance(response, httpx.Response):
                request = response.request
                yield f"{name}.response.headers", repr(response.headers.multi_items())
                yield f"{name}.response.text", response.text
            if isinstance(request, httpx.Request):
                yield f"{name}.request.headers", repr(request.headers.multi_items())
                yield f"{name}.request.url", str(request.url)
            if isinstance(current, SlurmError):
                yield f"pickle {name}", pickle.dumps(current).decode("latin-1")
            current = current.__cause__ or current.__context__


async def test_no_token_is_ever_shown(
    slurm_cluster: LocalSlurmCluster, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = slurm_cluster
    now = int(time.time())
    key = cluster.jwt_key_path.read_bytes()
    secrets = {
        "alice": cluster.token("alice", lifespan=600),
        "bob": cluster.token("bob", lifespan=600),
        "root": cluster.token("root", lifespan=600),
        # signed with the wrong key: JWT-shaped, refused
        "forged": jwt.encode({"iat": now, "exp": now + 600, "sun": "alice"}, b"k" * 32),
        "expired": jwt.encode({"iat": now - 120, "exp": now - 60, "sun": "alice"}, key),
    }
    refreshed: list[str] = []

    def fetch() -> str:
        token = secrets["expired"] if not refreshed else cluster.token("alice", lifespan=600)
        refreshed.append(token)
        return token

    def face(auth: Any) -> Face:
        from slurm_core import AsyncSlurmClient, SlurmClient

        cls = SlurmClient if mode == "sync" else AsyncSlurmClient
        return Face(cls(cluster.rest_url, auth=auth, timeout=30))

    evidence = Evidence()
    alice_static = StaticToken(secrets["alice"], user_name="alice")
    bob_static = StaticToken(secrets["bob"], user_name="bob")
    refreshing = CallableAuth(fetch, user_name="alice")
    minted = JWTKeyAuth(cluster.jwt_key_path, user_name="alice", lifespan=600)
    bearer = SlurmAuth(StaticToken(secrets["root"], user_name="root"), header_style="bearer")
    forged = StaticToken(secrets["forged"], user_name="alice")
    faces = {
        "alice": face(alice_static),
        "bob": face(bob_static),
        "refreshing": face(refreshing),
        "minted": face(minted),
        "forged": face(forged),
    }
    evidence.keep(alice_static, bob_static, refreshing, minted, bearer, forged)
    for f in faces.values():
        evidence.keep(f.client, f.client._http, f.client._http.options, f.client._http._auth)

    for name in ("httpx", "httpcore", "slurm_core", ""):
        caplog.set_level(logging.DEBUG, logger=name)
    alice, bob = faces["alice"], faces["bob"]
    job_id = 0
    try:
        # the everyday: reads, a submission, a token renewed behind the caller's back
        await alice("diag")
        await alice("jobs.list")
        await alice("nodes.get", "node1")
        await alice("accounting.qos")
        job_id = await submit(alice, cluster, "#!/bin/sh\nsleep 30\n", later=True)
        await alice("jobs.get", job_id)
        await faces["refreshing"]("diag")
        assert len(refreshed) == 2  # the expired token, then a fresh one
        await faces["minted"]("jobs.list", user="alice")

        # the errors
        # (22.05: HTTP 500, error -1, for a token it never accepted)
        await evidence.expect(AuthenticationError, faces["forged"], "diag")
        await evidence.expect(NotFoundError, alice, "jobs.get", 999999)
        await evidence.expect(PermissionDeniedError, bob, "jobs.cancel", job_id)
        if cluster.release == "22.05":
            await evidence.expect(
                UnsupportedOperationError, alice, "nodes.update", "node1", state="RESUME"
            )
        else:
            await evidence.expect(
                PermissionDeniedError, alice, "nodes.update", "node1", state="DRAIN", reason="x"
            )
    finally:
        if job_id:
            await alice("jobs.cancel", job_id)
        for f in faces.values():
            await f.close()

    # the tokens fetched and minted along the way count too
    secrets.update({f"refreshed {i}": t for i, t in enumerate(refreshed)})
    assert minted._token is not None
    secrets["minted"] = minted._token.get()
    texts = list(evidence.texts(caplog.records))
    assert len(caplog.records) > 20, "the workload should have logged at DEBUG"
    assert any("retrying" in t or "refreshing" in t for _, t in texts)
    for who, token in secrets.items():
        pieces = {token, token.split(".")[2]}  # the whole token, and its signature alone
        for where, text in texts:
            for piece in pieces:
                assert piece not in text, f"{who}'s token shows in {where}"
