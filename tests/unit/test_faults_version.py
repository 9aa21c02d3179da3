"""Issue 16, finding 8: a withdrawn REST version is renegotiated once, for every client of
the server in the process, and the call is retried once on the new version; a 404 for a
missing job (a JSON body with error 2017) triggers nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from test_faults_breaker import _fresh  # noqa: F401 (the autouse fixture: a fresh cache)

from slurm_core import (
    AsyncSlurmClient,
    JobFailedError,
    NotFoundError,
    SlurmClient,
    StaticToken,
)
from slurm_core.watch import WatchOptions

pytestmark = pytest.mark.anyio
URL = "http://upgrade.test:6820"
NO_ROUTE = "Unable find requested URL. Please view /openapi/v3 for API reference."


class Upgraded:
    """slurmrestd serving ``before``, then (after :meth:`upgrade`) ``after`` only."""

    def __init__(self) -> None:
        self.served = ["v0.0.41"]
        self.openapi = 0
        self.sent: list[str] = []

    def upgrade(self) -> None:
        self.served = ["v0.0.42"]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.sent.append(path)
        if path == "/openapi/v3":
            self.openapi += 1
            paths = {f"/slurm/{v}/jobs": {} for v in self.served}
            return httpx.Response(200, json={"paths": paths})
        version = path.split("/")[2]
        if version not in self.served:
            return httpx.Response(404, text=NO_ROUTE)
        if path.endswith("/jobs"):
            return httpx.Response(200, json={"jobs": []})
        return httpx.Response(
            404, json={"errors": [{"error_number": 2017, "error": "Invalid job id"}]}
        )


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest) -> Callable[[Upgraded], Callable[..., Any]]:
    def build(server: Upgraded) -> Callable[..., Any]:
        cls = SlurmClient if request.param == "sync" else AsyncSlurmClient
        client = cls(URL, auth=StaticToken("t"), transport=httpx.MockTransport(server))

        async def call(method: str, *args: Any, **kw: Any) -> Any:
            result = getattr(client.jobs, method)(*args, **kw)
            return await result if request.param == "async" else result

        call.client = client  # type: ignore[attr-defined]
        return call

    return build


async def test_a_withdrawn_version_is_renegotiated_once_for_all_clients(
    make: Callable[[Upgraded], Callable[..., Any]],
) -> None:
    server = Upgraded()
    first, second = make(server), make(server)
    assert await first("list") == []
    assert await second("list") == []
    assert server.openapi == 1
    server.upgrade()
    assert await first("list") == []  # 404 for the prefix, renegotiated, retried once
    assert await second("list") == []  # learns the new version from the cache
    assert server.openapi == 2
    assert first.client.api_version == second.client.api_version == "v0.0.42"  # type: ignore[attr-defined]


async def test_a_missing_job_does_not_renegotiate(
    make: Callable[[Upgraded], Callable[..., Any]],
) -> None:
    server = Upgraded()
    call = make(server)
    with pytest.raises(NotFoundError):
        await call("get", 999999)
    assert server.openapi == 1


async def test_a_withdrawn_version_is_not_taken_for_a_purged_job(
    make: Callable[[Upgraded], Callable[..., Any]],
) -> None:
    """jobs.get() falls back to accounting for a missing job, not for a withdrawn version."""
    server = Upgraded()
    call = make(server)
    assert await call("list") == []
    server.upgrade()
    with pytest.raises(NotFoundError):
        await call("get", 5)  # renegotiated, then really missing on v0.0.42
    assert server.sent[-3:] == ["/slurm/v0.0.41/job/5", "/openapi/v3", "/slurm/v0.0.42/job/5"]


async def test_a_watch_renegotiates_at_its_next_poll(
    make: Callable[[Upgraded], Callable[..., Any]],
) -> None:
    """A poll meeting the withdrawn version does not end the watch: the next one renegotiates."""
    server = Upgraded()
    call = make(server)
    call.client.jobs.watch_options = WatchOptions(  # type: ignore[attr-defined]
        min_interval=0.01, initial_interval=0.01, max_interval=0.05
    )
    assert await call("list") == []
    server.upgrade()
    with pytest.raises(JobFailedError) as info:
        await call("wait", 5, timeout=10)  # the job is gone and no accounting is served
    assert info.value.state == "UNKNOWN"
    polls = [p for p in server.sent if p.endswith(("/jobs", "/jobs/state"))]
    assert polls[-2:] == ["/slurm/v0.0.41/jobs/state", "/slurm/v0.0.42/jobs/state"]
