"""SlurmClient and AsyncSlurmClient: every resource method, both faces, every version.

A fake slurmrestd (``httpx.MockTransport``) serves the recordings in tests/data/responses;
each test body runs once with the sync client and once with the async one.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core import (
    AsyncSlurmClient,
    Job,
    JobBaseState,
    Node,
    NotFoundError,
    Partition,
    ResponseValidationError,
    RetryPolicy,
    SlurmClient,
    StaticToken,
    UnsupportedAPIVersionError,
    UnsupportedOperationError,
)
from slurm_core._versions import CLIENT_VERSIONS
from slurm_core._versions.negotiate import clear_cache
from slurm_core.models import INFINITE, AccountingJob, Diag, License, Ping, Reservation
from slurm_core.testing import FakeSlurmServer

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent.parent / "data" / "responses"
URL = "http://slurm.test:6820"
UTC = timezone.utc


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_negotiation() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _ok(body: Any = None) -> tuple[int, Any]:
    return 200, body if body is not None else {"errors": [], "warnings": []}


class FakeSlurmrestd:
    """Serves one version's recordings; anything else is a 404 like slurmrestd's."""

    def __init__(self, version: str, *, slurmdb: bool = True) -> None:
        self.version = version
        self.requests: list[httpx.Request] = []
        self.headers: list[dict[str, str]] = []
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {}
        for path in sorted(DATA.joinpath(version).glob("*.json")):
            rec = json.loads(path.read_text())
            key = (rec["request"]["method"], rec["request"]["path"])
            if path.stem == "jobs":  # prefer the richer v0.0.38 listing (jobs_after)
                self.routes.setdefault(key, (rec["response"]["status"], rec["response"]["body"]))
            else:
                self.routes[key] = (rec["response"]["status"], rec["response"]["body"])
        paths = {f"/slurm/{version}/ping": {}}
        if slurmdb:
            paths[f"/slurmdb/{version}/jobs"] = {}
        self.routes[("GET", "/openapi/v3")] = _ok({"openapi": "3.0.3", "paths": paths})
        s = f"/slurm/{version}"
        self.patterns: list[
            tuple[str, re.Pattern[str], Callable[[re.Match[str]], tuple[int, Any]]]
        ] = [
            (
                "GET",
                re.compile(rf"{s}/ping"),
                lambda m: _ok({"pings": [{"hostname": "h", "ping": "UP"}]}),
            ),
            ("DELETE", re.compile(rf"{s}/job/\d+(_\d+)?"), lambda m: _ok()),
            ("POST", re.compile(rf"{s}/job/\d+(_\d+)?"), lambda m: _ok()),
            ("GET", re.compile(rf"{s}/job/\d+/requeue"), lambda m: _ok()),
            ("POST", re.compile(rf"{s}/node/[^/]+"), lambda m: _ok()),
            ("GET", re.compile(rf"{s}/node/[^/]+"), lambda m: self.routes[("GET", f"{s}/nodes")]),
            (
                "GET",
                re.compile(rf"{s}/partition/[^/]+"),
                lambda m: self.routes[("GET", f"{s}/partitions")],
            ),
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        # the engine scrubs credentials from finished requests: keep what was sent
        self.headers.append(dict(request.headers))
        path = request.url.path
        found = self.routes.get((request.method, path))
        if found is None:
            for method, pattern, make in self.patterns:
                m = pattern.fullmatch(path)
                if method == request.method and m:
                    found = make(m)
                    break
        if found is None:
            found = (
                404,
                {"errors": [{"error": "Unable to find requested URL", "error_number": 9000}]},
            )
        status, body = found
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    def sent(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests if r.url.path != "/openapi/v3"]

    def last(self) -> httpx.Request:
        return self.requests[-1]


class Face:
    """Calls ``client.jobs.get(...)`` etc. on either client; awaits when needed."""

    def __init__(self, client: SlurmClient | AsyncSlurmClient) -> None:
        self.client = client

    async def __call__(self, name: str, *args: Any, **kw: Any) -> Any:
        target: Any = self.client
        for part in name.split("."):
            target = getattr(target, part)
        result = target(*args, **kw)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def close(self) -> None:
        if isinstance(self.client, AsyncSlurmClient):
            await self.client.aclose()
        else:
            self.client.close()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


MakeFace = Callable[..., Face]


@pytest.fixture
async def make_face(mode: str) -> AsyncIterator[MakeFace]:
    faces: list[Face] = []

    def make(server: Callable[[httpx.Request], httpx.Response], url: str = URL, **kw: Any) -> Face:
        kw.setdefault("auth", StaticToken("jwt", user_name="alice"))
        kw.setdefault("retry", RetryPolicy(max_attempts=1))
        transport = httpx.MockTransport(server)
        cls = SlurmClient if mode == "sync" else AsyncSlurmClient
        face = Face(cls(url, transport=transport, **kw))
        faces.append(face)
        return face

    yield make
    for face in faces:
        await face.close()


# -- every method, every version -------------------------------------------------------------
@pytest.mark.parametrize("version", CLIENT_VERSIONS)
async def test_every_read_method(make_face: MakeFace, version: str) -> None:
    server = FakeSlurmrestd(version)
    c = make_face(server)
    s, db = f"/slurm/{version}", f"/slurmdb/{version}"

    jobs = await c("jobs.list")
    assert jobs
    assert all(isinstance(j, Job) for j in jobs)
    nodes = await c("nodes.list")
    assert nodes
    assert all(isinstance(n, Node) for n in nodes)
    node = await c("nodes.get", nodes[0].name)
    assert node.name == nodes[0].name
    parts = await c("partitions.list")
    assert parts
    assert all(isinstance(p, Partition) for p in parts)
    assert (await c("partitions.get", parts[0].name)).name == parts[0].name
    assert all(isinstance(r, Reservation) for r in await c("reservations.list"))
    assert all(isinstance(x, License) for x in await c("licenses.list"))
    assert isinstance(await c("diag"), Diag)
    pings = await c("ping")
    assert pings
    assert all(isinstance(p, Ping) and p.responding for p in pings)
    acct = await c("accounting.jobs")
    assert acct
    assert all(isinstance(j, AccountingJob) for j in acct)
    assert {a.name for a in await c("accounting.accounts")} >= {"root"}
    assert {u.name for u in await c("accounting.users")} >= {"root"}
    assert await c("accounting.associations")
    assert [q.name for q in await c("accounting.qos")] == ["normal"]
    assert {t.key for t in await c("accounting.tres")} >= {"cpu", "mem"}
    assert server.sent() == [
        ("GET", f"{s}/jobs"),
        ("GET", f"{s}/nodes"),
        ("GET", f"{s}/node/{nodes[0].name}"),
        ("GET", f"{s}/partitions"),
        ("GET", f"{s}/partition/{parts[0].name}"),
        ("GET", f"{s}/reservations"),
        ("GET", f"{s}/licenses"),
        ("GET", f"{s}/diag"),
        ("GET", f"{s}/ping"),
        ("GET", f"{db}/jobs"),
        ("GET", f"{db}/accounts"),
        ("GET", f"{db}/users"),
        ("GET", f"{db}/associations"),
        ("GET", f"{db}/qos"),
        ("GET", f"{db}/tres"),
    ]
    assert server.requests[0].url.path == "/openapi/v3"  # negotiated once, first
    assert server.headers[1]["x-slurm-user-token"] == "jwt"


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
async def test_every_write_method(make_face: MakeFace, version: str) -> None:
    server = FakeSlurmrestd(version)
    c = make_face(server)
    s = f"/slurm/{version}"

    await c("jobs.cancel", 42)
    assert (server.last().method, server.last().url.path) == ("DELETE", f"{s}/job/42")
    await c("jobs.cancel", "40_2", signal="SIGUSR1")
    assert server.last().url.params["signal"] == "SIGUSR1"
    assert server.last().url.path == f"{s}/job/40_2"

    await c("jobs.hold", 42)
    hold = json.loads(server.last().content)
    assert hold == {"hold": True}

    await c("jobs.update", 42, time_limit=timedelta(hours=2), comment="longer")
    update = json.loads(server.last().content)
    assert update["comment"] == "longer"  # flat in every version (v0.0.39 too)
    assert update["time_limit"] == (
        120 if version == "v0.0.38" else {"set": True, "infinite": False, "number": 120}
    )

    await c("jobs.release", 42)  # v0.0.38 too: hold=false releases on 22.05
    assert json.loads(server.last().content) == {"hold": False}

    before = len(server.requests)
    if version == "v0.0.38":
        with pytest.raises(UnsupportedOperationError, match=r"nodes\.update"):
            await c("nodes.update", "node1", state="DRAIN", reason="check")
        assert len(server.requests) == before  # refused before sending
    else:
        await c("nodes.update", "node1", state="DRAIN", reason="check")
        assert server.last().url.path == f"{s}/node/node1"
        assert json.loads(server.last().content) == {"state": ["DRAIN"], "reason": "check"}

    before = len(server.requests)
    if version == "v0.0.45":
        await c("jobs.requeue", 42)
        assert (server.last().method, server.last().url.path) == ("GET", f"{s}/job/42/requeue")
    else:
        with pytest.raises(UnsupportedOperationError) as info:
            await c("jobs.requeue", 42)
        assert info.value.supported_in == ["v0.0.45"]
        assert isinstance(info.value, UnsupportedAPIVersionError)
        assert len(server.requests) == before


async def test_api_version_sends_nothing_and_negotiate_asks(mode: str) -> None:
    fake = FakeSlurmServer("v0.0.44")
    c = Face(fake.client() if mode == "sync" else fake.async_client())
    try:
        assert c.client.api_version is None  # not negotiated yet, and reading it asks nothing
        assert "api_version=None" in repr(c.client)
        assert fake.requests == []
        assert await c("negotiate") == "v0.0.44"
        assert [r.path for r in fake.requests] == ["/openapi/v3"]
        assert c.client.api_version == "v0.0.44"
        assert await c("negotiate") == "v0.0.44"  # known now: the server is not asked again
        assert len(fake.requests) == 1
    finally:
        await c.close()


async def test_a_pinned_api_version_is_known_before_any_request(mode: str) -> None:
    fake = FakeSlurmServer("v0.0.44", also_serve=["v0.0.42"])
    make = fake.client if mode == "sync" else fake.async_client
    c = Face(make(api_version="v0.0.42"))
    try:
        assert c.client.api_version == "v0.0.42"
        assert fake.requests == []
        assert await c("negotiate") == "v0.0.42"  # the server is still asked whether it serves it
        assert [r.path for r in fake.requests] == ["/openapi/v3"]
    finally:
        await c.close()


# -- jobs.get and its accounting fallback --------------------------------------------------
@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42", "v0.0.45"])
async def test_get_a_live_job(make_face: MakeFace, version: str) -> None:
    server = FakeSlurmrestd(version)
    c = make_face(server)
    name = "job_completed" if version == "v0.0.38" else "job_get_completed"
    rec = json.loads((DATA / version / f"{name}.json").read_text())
    job_id = int(rec["request"]["path"].rsplit("/", 1)[1])
    job = await c("jobs.get", job_id)
    assert job.job_id == job_id
    assert job.source == "slurmctld"
    assert job.state.base is JobBaseState.COMPLETED


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42", "v0.0.45"])
async def test_get_falls_back_to_accounting_for_purged_jobs(
    make_face: MakeFace, version: str
) -> None:
    server = FakeSlurmrestd(version)
    s, db = f"/slurm/{version}", f"/slurmdb/{version}"
    accounting = json.loads((DATA / version / "slurmdb_job.json").read_text())
    job_id = accounting["response"]["body"]["jobs"][0]["job_id"]
    if version == "v0.0.38":  # 22.05: HTTP 500 with error 2017 (recorded)
        missing = json.loads((DATA / version / "job_unknown.json").read_text())["response"]
    else:  # 24.11+: HTTP 404 with error 2017 (recorded)
        missing = json.loads((DATA / version / "job_get_missing.json").read_text())["response"]
    server.routes[("GET", f"{s}/job/{job_id}")] = (missing["status"], missing["body"])
    server.routes[("GET", f"{db}/job/{job_id}")] = (200, accounting["response"]["body"])
    c = make_face(server)
    job = await c("jobs.get", job_id)
    assert job.job_id == job_id
    assert job.source == "accounting"
    assert job.state.is_finished
    assert job.start_time is not None
    assert server.sent() == [("GET", f"{s}/job/{job_id}"), ("GET", f"{db}/job/{job_id}")]


async def test_get_unknown_everywhere_raises_the_original_not_found(make_face: MakeFace) -> None:
    server = FakeSlurmrestd("v0.0.41")
    server.routes[("GET", "/slurmdb/v0.0.41/job/999999")] = _ok({"jobs": []})
    c = make_face(server)
    with pytest.raises(NotFoundError) as info:
        await c("jobs.get", 999999)
    assert info.value.status_code == 404
    assert 2017 in info.value.error_numbers
    assert server.sent() == [
        ("GET", "/slurm/v0.0.41/job/999999"),
        ("GET", "/slurmdb/v0.0.41/job/999999"),
    ]


async def test_no_fallback_when_the_server_has_no_accounting(make_face: MakeFace) -> None:
    server = FakeSlurmrestd("v0.0.43", slurmdb=False)
    c = make_face(server)
    with pytest.raises(NotFoundError):
        await c("jobs.get", 999999)
    assert server.sent() == [("GET", "/slurm/v0.0.43/job/999999")]


# -- filters, validation, errors ------------------------------------------------------------
async def test_list_filters(make_face: MakeFace) -> None:
    c = make_face(FakeSlurmrestd("v0.0.38"))
    assert len(await c("jobs.list")) == 14
    assert [j.job_id for j in await c("jobs.list", states="FAILED")] == [12]
    cancelled = await c("jobs.list", states=[JobBaseState.CANCELLED])
    assert sorted(j.job_id for j in cancelled) == [4, 13, 14]
    assert await c("jobs.list", user="someone-else") == []
    assert len(await c("jobs.list", user="nobody", partition="debug")) == 13  # job 2: gpu
    assert len(await c("jobs.list", user=65534)) == 14


async def test_accounting_filters(make_face: MakeFace) -> None:
    old = FakeSlurmrestd("v0.0.38")
    c = make_face(old)
    jobs = await c("accounting.jobs", users=["nobody"], start=datetime(2026, 1, 1, tzinfo=UTC))
    assert len(jobs) == 12
    assert {j.user for j in jobs} == {"nobody"}
    assert "users" not in old.last().url.params  # filtered client side on v0.0.38
    assert await c("accounting.jobs", users="alice") == []
    new = FakeSlurmrestd("v0.0.42")
    c2 = make_face(new, url="http://other.test:6820")  # versions are cached per URL
    await c2("accounting.jobs", users="root", accounts=["root"], end=1795550000)
    assert dict(new.last().url.params) == {
        "users": "root",
        "account": "root",
        "end_time": "1795550000",
    }


async def test_arguments_are_validated_before_any_request(make_face: MakeFace) -> None:
    server = FakeSlurmrestd("v0.0.42")
    c = make_face(server)
    with pytest.raises(ValueError, match="job_id"):
        await c("jobs.get", 0)
    with pytest.raises(ValueError, match="job_id"):
        await c("jobs.cancel", "12/../13")
    with pytest.raises(TypeError, match="job_id"):
        await c("jobs.hold", 1.5)
    with pytest.raises(ValueError, match="name"):
        await c("nodes.get", "a/b")
    with pytest.raises(ValueError, match="reason"):
        await c("nodes.update", "node1", state="DRAIN")
    with pytest.raises(ValueError, match="name"):
        await c("partitions.get", "")
    assert server.requests == []  # not even negotiation


async def test_malformed_listing_surfaces_as_response_validation_error(make_face: MakeFace) -> None:
    server = FakeSlurmrestd("v0.0.45")
    server.routes[("GET", "/slurm/v0.0.45/jobs")] = (200, '{"jobs": [{"job_id": 1, "na')
    c = make_face(server)
    with pytest.raises(ResponseValidationError):
        await c("jobs.list")


async def test_time_limit_infinite_update(make_face: MakeFace) -> None:
    server = FakeSlurmrestd("v0.0.42")
    c = make_face(server)
    await c("jobs.update", 5, time_limit=INFINITE, partition="debug")
    assert json.loads(server.last().content) == {
        "time_limit": {"set": False, "infinite": True, "number": 0},
        "partition": "debug",
    }


# -- construction and lifecycle ---------------------------------------------------------------
async def test_context_managers_close_the_pool(mode: str) -> None:
    transport = httpx.MockTransport(FakeSlurmrestd("v0.0.42"))
    if mode == "sync":
        with SlurmClient(URL, auth=StaticToken("t"), transport=transport) as client:
            client.ping()
        assert client._http._client.is_closed
    else:
        async with AsyncSlurmClient(URL, auth=StaticToken("t"), transport=transport) as aclient:
            await aclient.ping()
        assert aclient._http._client.is_closed


async def test_from_env(mode: str) -> None:
    server = FakeSlurmrestd("v0.0.41")
    env = {"SLURM_REST_URL": URL, "SLURM_JWT": "envtoken", "SLURM_USER_NAME": "bob"}
    cls = SlurmClient if mode == "sync" else AsyncSlurmClient
    face = Face(cls.from_env(env=env, transport=httpx.MockTransport(server)))
    try:
        await face("diag")
    finally:
        await face.close()
    assert server.headers[-1]["x-slurm-user-token"] == "envtoken"
    assert server.headers[-1]["x-slurm-user-name"] == "bob"


def test_url_is_required() -> None:
    from slurm_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="URL"):
        SlurmClient(auth=StaticToken("t"))


def test_public_names() -> None:
    import slurm_core

    for name in slurm_core.__all__:
        assert getattr(slurm_core, name) is not None
    assert "SlurmClient" in dir(slurm_core)
    with pytest.raises(AttributeError):
        _ = slurm_core.NoSuchThing  # type: ignore[attr-defined]


def test_threads_touching_a_resource_first_share_one() -> None:
    # Resources are built on first access; `jobs` owns the watcher every watch shares, so
    # racing first accesses must still give every thread the same object.
    import threading

    for _ in range(20):
        client = SlurmClient(URL)  # no token: nothing to warn about over plain http
        seen: list[object] = []
        start = threading.Barrier(8)

        def touch(
            c: SlurmClient = client,
            start: threading.Barrier = start,
            seen: list[object] = seen,
        ) -> None:
            start.wait()
            seen.append(c.jobs)

        threads = [threading.Thread(target=touch) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        client.close()
        assert len({id(j) for j in seen}) == 1
