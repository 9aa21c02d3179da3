"""End to end through SlurmClient/AsyncSlurmClient: every bad answer becomes a typed error.

A malformed, truncated or wrongly shaped body, a broken stream, an undecodable encoding: a
:class:`ResponseValidationError` (or a connection error), never a bare pydantic, json or
httpx exception. Unknown job states and unknown fields are parsed tolerantly. And the
server quirks recorded from the real clusters (tests/data/responses/<version>/scenarios/,
see record_responses.py): HTTP 200 bodies that report a failure, 22.05's HTTP 500 for
everything, 26.05's 422, tokens rejected without saying so.

Each test runs with the sync and the async client (``mode``) over an ``httpx.MockTransport``.
"""

from __future__ import annotations

import gzip
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from slurm_core import (
    AsyncSlurmClient,
    AuthenticationError,
    CallableAuth,
    InvalidRequestError,
    JobBaseState,
    NotFoundError,
    PermissionDeniedError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    SlurmAPIError,
    SlurmClient,
    SlurmConnectionError,
    SlurmError,
    StaticToken,
    UnsupportedOperationError,
)
from slurm_core._errmap import INFORMATIONAL_ERRNOS
from slurm_core._versions.negotiate import clear_cache

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent.parent / "data" / "responses"
URL = "http://slurm.test:6820"
LIVE = ["v0.0.38", "v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"]

Answer = tuple[int, Any]  # (status, JSON body | bytes)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_negotiation() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def recording(version: str, name: str) -> dict[str, Any]:
    path = DATA / version / f"{name}.json"
    if not path.exists():
        path = DATA / version / "scenarios" / f"{name}.json"
    return json.loads(path.read_text())  # type: ignore[no-any-return]


class Server:
    """A fake slurmrestd: ``answers[(method, path)]`` is a status and a body (JSON, or bytes
    sent as they are), or a callable making the response. Anything else is 404."""

    def __init__(self, version: str, answers: dict[tuple[str, str], Any] | None = None) -> None:
        self.version = version
        self.answers: dict[tuple[str, str], Any] = dict(answers or {})
        self.requests: list[httpx.Request] = []
        self.tokens: list[str | None] = []  # as sent (the engine scrubs failed requests)
        paths = {f"/slurm/{version}/ping": {}, f"/slurmdb/{version}/jobs": {}}
        self.answers.setdefault(("GET", "/openapi/v3"), (200, {"paths": paths}))

    def replay(self, name: str) -> tuple[str, str]:
        """Serve the recording ``name`` at its own method and path; return them."""
        rec = recording(self.version, name)
        key = (rec["request"]["method"], rec["request"]["path"])
        self.answers[key] = (rec["response"]["status"], rec["response"]["body"])
        return key

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.tokens.append(request.headers.get("x-slurm-user-token"))
        answer = self.answers.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, text="Unable find requested URL.")
        if callable(answer):
            return answer(request)  # type: ignore[no-any-return]
        status, body = answer
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    def sent(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests if r.url.path != "/openapi/v3"]


class Face:
    """``await face("jobs.get", 42)`` on either client."""

    def __init__(self, client: SlurmClient | AsyncSlurmClient) -> None:
        self.client = client

    async def __call__(self, method: str, /, *args: Any, **kw: Any) -> Any:
        target: Any = self.client
        for part in method.split("."):
            target = getattr(target, part)
        result = target(*args, **kw)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A raw request through the client's engine (what job submission uses)."""
        result = self.client._http.request(method, path, **kw)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]


MakeFace = Callable[..., Face]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_face(mode: str) -> AsyncIterator[MakeFace]:
    clients: list[SlurmClient | AsyncSlurmClient] = []

    def make(server: Server, **kw: Any) -> Face:
        kw.setdefault("auth", StaticToken("jwt", user_name="alice"))
        # Retries without waiting: initial_delay=0.
        kw.setdefault("retry", RetryPolicy(max_attempts=3, initial_delay=0, jitter=False))
        kw.setdefault("api_version", server.version)
        cls = SlurmClient if mode == "sync" else AsyncSlurmClient
        client = cls(URL, transport=httpx.MockTransport(server), **kw)
        clients.append(client)
        return Face(client)

    yield make
    for client in clients:
        if isinstance(client, AsyncSlurmClient):
            await client.aclose()
        else:
            client.close()


async def raises(face: Face, error: type[SlurmError], method: str, /, *args: Any, **kw: Any) -> Any:
    """Call ``method`` and return the typed error it must raise (never a foreign one)."""
    try:
        await face(method, *args, **kw)
    except error as exc:
        return exc
    except Exception as exc:  # pragma: no cover - the failure message names the culprit
        pytest.fail(f"{method} raised {type(exc).__module__}.{type(exc).__name__}: {exc}")
    pytest.fail(f"{method} did not raise {error.__name__}")


# ---------------------------------------------------------------------------------------------
# Malformed, truncated, wrongly shaped bodies: on every read method
# ---------------------------------------------------------------------------------------------
V = "v0.0.44"
S, DB = f"/slurm/{V}", f"/slurmdb/{V}"
READS: list[tuple[str, tuple[Any, ...], str, str]] = [
    # (method, args, path, recording)
    ("ping", (), f"{S}/ping", "ping"),
    ("diag", (), f"{S}/diag", "diag"),
    ("jobs.list", (), f"{S}/jobs", "jobs"),
    ("jobs.get", (7,), f"{S}/job/7", "jobs"),
    ("nodes.list", (), f"{S}/nodes", "nodes"),
    ("nodes.get", ("node1",), f"{S}/node/node1", "nodes"),
    ("partitions.list", (), f"{S}/partitions", "partitions"),
    ("partitions.get", ("debug",), f"{S}/partition/debug", "partitions"),
    ("reservations.list", (), f"{S}/reservations", "reservations"),
    ("licenses.list", (), f"{S}/licenses", "licenses"),
    ("accounting.jobs", (), f"{DB}/jobs", "slurmdb_jobs"),
    ("accounting.accounts", (), f"{DB}/accounts", "slurmdb_accounts"),
    ("accounting.users", (), f"{DB}/users", "slurmdb_users"),
    ("accounting.associations", (), f"{DB}/associations", "slurmdb_associations"),
    ("accounting.qos", (), f"{DB}/qos", "slurmdb_qos"),
    ("accounting.tres", (), f"{DB}/tres", "slurmdb_tres"),
]
READ_IDS = [r[0] for r in READS]


def _real_body(name: str) -> dict[str, Any]:
    return recording(V, name)["response"]["body"]  # type: ignore[no-any-return]


def _list_key(body: dict[str, Any]) -> str | None:
    return next((k for k, v in body.items() if isinstance(v, list) and v and k != "errors"), None)


BAD_BODIES: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "truncated": lambda b: json.dumps(b).encode()[: len(json.dumps(b)) // 2],
    "not json": lambda b: b"<html><body>502 Bad Gateway</body></html>",
    "empty": lambda b: b"",
    "a json list": lambda b: b"[1, 2, 3]",
    "a json string": lambda b: b'"ok"',
    "null": lambda b: b"null",
    "invalid utf-8": lambda b: b'{"jobs": ["\xff\xfe"]}',
}


@pytest.mark.parametrize("bad", list(BAD_BODIES))
@pytest.mark.parametrize(("method", "args", "path", "name"), READS, ids=READ_IDS)
async def test_unusable_bodies_are_response_validation_errors(
    make_face: MakeFace, method: str, args: tuple[Any, ...], path: str, name: str, bad: str
) -> None:
    body = BAD_BODIES[bad](_real_body(name))
    server = Server(V, {("GET", path): (200, body)})
    exc = await raises(make_face(server), ResponseValidationError, method, *args)
    assert exc.response is not None
    assert exc.response.status_code == 200
    # the 2xx answer's request went out with the token; the error must not keep it
    assert exc.response.request.headers["x-slurm-user-token"] == "<redacted>"
    assert server.tokens[-1] == "jwt"
    if bad == "truncated":
        assert "truncated" in str(exc)
    assert not isinstance(exc.__cause__, pydantic.ValidationError) or exc.path


@pytest.mark.parametrize(("method", "args", "path", "name"), READS, ids=READ_IDS)
async def test_wrong_shapes_are_response_validation_errors_naming_the_field(
    make_face: MakeFace, method: str, args: tuple[Any, ...], path: str, name: str
) -> None:
    body = _real_body(name)
    key = _list_key(body) or "statistics"
    # The collection is an object instead of a list (or diag's statistics a list).
    body[key] = [1] if key == "statistics" else {"oops": 1}
    server = Server(V, {("GET", path): (200, body)})
    exc = await raises(make_face(server), ResponseValidationError, method, *args)
    assert exc.path == key
    # An item that is not an object, where there is a list.
    if key != "statistics":
        body = _real_body(name)
        body[key] = ["not an object"]
        server = Server(V, {("GET", path): (200, body)})
        exc = await raises(make_face(server), ResponseValidationError, method, *args)
        assert exc.path == f"{key}[0]"


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("time_limit", "soon", "jobs[0].time_limit"),
        ("job_state", {"odd": 1}, "jobs[0].job_state"),
        ("submit_time", {"set": True, "number": "yesterday"}, "jobs[0].submit_time"),
        ("exit_code", [1], "jobs[0].exit_code"),
        ("job_id", None, "jobs[0].job_id"),
        ("name", {"deep": ["x"]}, "jobs[0].name"),
    ],
)
async def test_a_bad_field_in_a_listing_is_named(
    make_face: MakeFace, field: str, value: Any, path: str
) -> None:
    body = _real_body("jobs")
    body["jobs"][0][field] = value
    server = Server(V, {("GET", f"{S}/jobs"): (200, body)})
    exc = await raises(make_face(server), ResponseValidationError, "jobs.list")
    assert exc.path == path
    assert path in str(exc)


async def test_unknown_states_and_fields_are_tolerated(make_face: MakeFace) -> None:
    body = _real_body("jobs")
    first, second = body["jobs"][0], body["jobs"][1]
    first["job_state"] = ["QUANTUM_SUPERPOSITION", "ENTANGLED"]
    second["job_state"] = ["PENDING", "BRAND_NEW_FLAG"]
    first["field_from_the_future"] = {"nested": [1, 2, 3]}
    body["top_level_novelty"] = True
    server = Server(V, {("GET", f"{S}/jobs"): (200, body)})
    jobs = await make_face(server)("jobs.list")
    assert jobs[0].state.base == "QUANTUM_SUPERPOSITION"
    assert jobs[0].state.flags == {"ENTANGLED"}
    assert not jobs[0].state.is_finished
    assert jobs[0].raw["field_from_the_future"] == {"nested": [1, 2, 3]}
    assert jobs[1].state.base is JobBaseState.PENDING
    assert "BRAND_NEW_FLAG" in jobs[1].state.flags
    # an unknown state still filters by its name
    found = await make_face(server)("jobs.list", states="QUANTUM_SUPERPOSITION")
    assert [j.job_id for j in found] == [jobs[0].job_id]


async def test_an_unknown_node_state_is_kept(make_face: MakeFace) -> None:
    body = _real_body("nodes")
    body["nodes"][0]["state"] = ["HIBERNATING", "DREAMING"]
    server = Server(V, {("GET", f"{S}/nodes"): (200, body)})
    (node,) = await make_face(server)("nodes.list")
    assert (node.state, node.state_flags) == ("HIBERNATING", {"DREAMING"})
    assert not node.is_available


async def test_a_body_that_breaks_off_mid_stream_is_a_connection_error(
    make_face: MakeFace, mode: str
) -> None:
    content = json.dumps(_real_body("jobs")).encode()

    class Broken(httpx.SyncByteStream, httpx.AsyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield content[:100]
            raise httpx.ReadError("connection reset by peer")

        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield content[:100]
            raise httpx.ReadError("connection reset by peer")

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Broken())

    server = Server(V, {("GET", f"{S}/jobs"): broken})
    exc = await raises(make_face(server), SlurmConnectionError, "jobs.list")
    assert "ReadError" in str(exc)
    assert server.sent() == [f"GET {S}/jobs"] * 3  # a read: retried, then given up


async def test_an_undecodable_content_encoding_is_a_response_validation_error(
    make_face: MakeFace,
) -> None:
    def corrupt_gzip(request: httpx.Request) -> httpx.Response:
        # A gzip header, then a deflate block of the reserved type 3: zlib refuses it.
        data = gzip.compress(json.dumps(_real_body("jobs")).encode())[:10] + b"\xff" * 40
        headers = {"Content-Encoding": "gzip"}
        return httpx.Response(200, stream=httpx.ByteStream(data), headers=headers)

    server = Server(V, {("GET", f"{S}/jobs"): corrupt_gzip})
    exc = await raises(make_face(server), ResponseValidationError, "jobs.list")
    assert "undecodable" in str(exc)


async def test_a_garbage_openapi_document_falls_back_to_probing(make_face: MakeFace) -> None:
    server = Server(V, {("GET", "/openapi/v3"): (200, b"{not json")})
    server.answers[("GET", f"{S}/ping")] = (200, _real_body("ping"))
    pings = await make_face(server, api_version=None)("ping")
    assert pings[0].responding
    assert server.sent()[-1] == f"GET {S}/ping"


# ---------------------------------------------------------------------------------------------
# Server quirks, replayed from the real clusters
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", LIVE)
async def test_cancelling_someone_elses_job(make_face: MakeFace, version: str) -> None:
    server = Server(version)
    _, path = server.replay("job_cancel_other_user")
    job_id = int(path.rsplit("/", 1)[1])
    face = make_face(server)
    if version in ("v0.0.40", "v0.0.41"):
        # 24.11 with v0.0.40/41 answers 200 with no error at all and leaves the job alone
        # (seen live): nothing in the answer to raise on. v0.0.42+ report it.
        await face("jobs.cancel", job_id)
        return
    exc = await raises(face, PermissionDeniedError, "jobs.cancel", job_id)
    # 22.05: HTTP 500 + errors[2002]; 24.11/26.05 with v0.0.42+: HTTP 200 + status[].error 2002
    assert exc.status_code == (500 if version == "v0.0.38" else 200)
    assert exc.error_numbers == [2002]
    assert "Access/permission denied" in str(exc)
    assert server.sent() == [f"DELETE {path}"]  # not retried


@pytest.mark.parametrize("version", LIVE)
async def test_cancelling_an_unknown_job(make_face: MakeFace, version: str) -> None:
    server = Server(version)
    _, path = server.replay("job_cancel_unknown")
    face = make_face(server)
    if version in ("v0.0.40", "v0.0.41"):
        await face("jobs.cancel", 999999)  # silent on 24.11 with v0.0.40/41 (seen live)
        return
    exc = await raises(face, NotFoundError, "jobs.cancel", 999999)
    assert exc.error_numbers == [2017]
    assert server.sent() == [f"DELETE {path}"]


@pytest.mark.parametrize("version", LIVE)
async def test_cancelling_twice_and_the_other_writes_succeed(
    make_face: MakeFace, version: str
) -> None:
    server = Server(version)
    for name in ("job_cancel", "job_hold", "job_release", "job_update"):
        server.replay(name)
    _, path = server.replay("job_cancel_again")  # v0.0.42+: 200 + status[] with 2021
    job_id = int(path.rsplit("/", 1)[1])
    face = make_face(server)
    await face("jobs.hold", job_id)
    await face("jobs.release", job_id)
    if version == "v0.0.38":
        # 22.05 ignores a new name without a word: refused before sending
        await raises(face, UnsupportedOperationError, "jobs.update", job_id, name="renamed")
        await face("jobs.update", job_id, comment="recorded", time_limit=7)
    else:
        await face("jobs.update", job_id, name="renamed", comment="recorded", time_limit=7)
    await face("jobs.cancel", job_id)
    if version not in ("v0.0.38", "v0.0.40", "v0.0.41"):
        body = recording(version, "job_cancel_again")["response"]["body"]
        assert body["status"][0]["error"]["code"] == 2021 in INFORMATIONAL_ERRNOS


@pytest.mark.parametrize("version", [v for v in LIVE if v != "v0.0.38"])
async def test_draining_without_admin_rights(make_face: MakeFace, version: str) -> None:
    server = Server(version)
    _, path = server.replay("node_drain_unprivileged")
    exc = await raises(
        make_face(server), PermissionDeniedError, "nodes.update", "node1", state="DRAIN", reason="c"
    )
    # 24.11: HTTP 500, 26.05: HTTP 422, both with error 2010 "Invalid user id"
    assert exc.status_code == (500 if version in ("v0.0.40", "v0.0.41", "v0.0.42") else 422)
    assert exc.error_numbers == [2010]
    assert server.sent() == [f"POST {path}"]  # a 500 explained by its error number: no retry


@pytest.mark.parametrize("version", [v for v in LIVE if v != "v0.0.38"])
async def test_drain_and_resume_answers(make_face: MakeFace, version: str) -> None:
    server = Server(version)
    server.replay("node_drain")
    server.replay("node_resume")
    face = make_face(server)
    await face("nodes.update", "node1", state="DRAIN", reason="check")
    await face("nodes.update", "node1", state="RESUME")
    assert [json.loads(r.content) for r in server.requests[1:]] == [
        {"state": ["DRAIN"], "reason": "check"},
        {"state": ["RESUME"]},
    ]


async def test_requeueing_a_pending_job(make_face: MakeFace) -> None:
    server = Server("v0.0.45")
    _, path = server.replay("job_requeue_pending")
    job_id = int(path.split("/")[-2])
    exc = await raises(make_face(server), InvalidRequestError, "jobs.requeue", job_id)
    assert exc.status_code == 422
    assert exc.error_numbers == [2024]  # ESLURM_JOB_PENDING


async def test_held_submission_on_2205_is_not_an_error(make_face: MakeFace) -> None:
    server = Server("v0.0.38")
    method, path = server.replay("job_submit_held")
    response = await make_face(server).request(method, path, json={"job": {}})
    assert response.json()["errors"][0]["error_code"] == 2042
    assert 2042 in INFORMATIONAL_ERRNOS


async def test_a_2205_submission_to_a_bad_partition_is_an_error(make_face: MakeFace) -> None:
    # 22.05 answers HTTP 200 (recorded in /work/shared/slurmrestd-live/22.05/examples).
    body = {"errors": [{"error_code": 2000, "error": "Invalid partition name specified"}]}
    path = "/slurm/v0.0.38/job/submit"
    server = Server("v0.0.38", {("POST", path): (200, body)})
    face = make_face(server)
    with pytest.raises(InvalidRequestError) as info:
        await face.request("POST", path, json={"job": {}})
    assert info.value.status_code == 200
    assert info.value.error_numbers == [2000]
    assert "Invalid partition name specified" in str(info.value)


async def test_an_unknown_error_number_in_a_2xx_body_is_still_an_error(
    make_face: MakeFace,
) -> None:
    path = f"{S}/job/5"
    body = {"errors": [{"error_number": 4242, "error": "Something new"}], "warnings": []}
    server = Server(V, {("POST", path): (200, body)})
    with pytest.raises(SlurmAPIError) as info:
        await make_face(server)("jobs.update", 5, comment="x")
    assert type(info.value) is SlurmAPIError
    assert info.value.error_numbers == [4242]


async def test_errors_in_a_2xx_listing_are_raised_unless_informational(
    make_face: MakeFace,
) -> None:
    listing = _real_body("jobs")
    listing["errors"] = [{"error_number": 2002, "error": "Access/permission denied"}]
    server = Server(V, {("GET", f"{S}/jobs"): (200, listing)})
    await raises(make_face(server), PermissionDeniedError, "jobs.list")
    # 22.05's empty slurmdb answer: HTTP 200 with 9003 "Nothing found with query"
    empty = {"errors": [{"error_number": 9003, "error": "Nothing found with query"}], "jobs": []}
    server = Server(V, {("GET", f"{DB}/jobs"): (200, empty)})
    assert await make_face(server)("accounting.jobs") == []


async def test_warnings_of_a_successful_write_are_logged(
    make_face: MakeFace, caplog: pytest.LogCaptureFixture
) -> None:
    # What 26.05 answered to a submission while node1 was drained (seen live).
    warnings = [
        {
            "description": "Required node not available (down, drained or reserved)",
            "source": "slurm_submit_batch_job()",
        }
    ]
    path = f"{S}/job/submit"
    body = {"job_id": 12, "errors": [], "warnings": warnings}
    server = Server(V, {("POST", path): (200, body)})
    with caplog.at_level(logging.WARNING, logger="slurm_core.http"):
        response = await make_face(server).request("POST", path, json={"job": {}})
    assert response.json()["job_id"] == 12
    (line,) = [r for r in caplog.records if r.name == "slurm_core.http"]
    assert line.levelno == logging.WARNING
    assert "Required node not available" in line.getMessage()
    assert path in line.getMessage()


@pytest.mark.parametrize("version", LIVE)
async def test_a_bad_static_token(make_face: MakeFace, version: str) -> None:
    server = Server(version)
    _, path = server.replay("diag_bad_token")
    face = make_face(server)
    if version == "v0.0.38":
        # 22.05 answers HTTP 500 with error -1 ("Unspecified error"): for a token the server
        # never accepted, that is the rejection. Not retried, not counted by the breaker.
        exc = await raises(face, AuthenticationError, "diag")
        assert exc.status_code == 500
        assert "never accepted" in str(exc)
        assert server.sent() == [f"GET {path}"]
        return
    exc = await raises(face, AuthenticationError, "diag")
    assert exc.status_code == 511
    assert exc.error_numbers == [1007]
    assert server.sent() == [f"GET {path}"]


@pytest.mark.parametrize("version", LIVE)
async def test_a_rejected_token_is_replaced_once(make_face: MakeFace, version: str) -> None:
    """A refreshable provider's first token is refused (22.05: HTTP 500 with error -1, which
    says nothing about tokens): the client fetches a new one and the caller never notices."""
    rejection = recording(version, "diag_bad_token")["response"]
    ok = recording(version, "diag")["response"]

    def diag(request: httpx.Request) -> httpx.Response:
        good = request.headers["x-slurm-user-token"] == "good"
        answer = ok if good else rejection
        return httpx.Response(answer["status"], json=answer["body"])

    server = Server(version, {("GET", f"/slurm/{version}/diag"): diag})
    tokens = iter(["bad", "good"])
    face = make_face(server, auth=CallableAuth(lambda: next(tokens), user_name="alice"))
    await face("diag")
    assert server.tokens == ["bad", "bad", "good"]  # /openapi/v3, diag, diag again


async def test_an_accepted_token_is_not_blamed_for_a_2205_server_failure(
    make_face: MakeFace,
) -> None:
    """Once a token worked, 22.05's ambiguous HTTP 500 -1 is a server failure, not a reason
    to mint tokens (which, with ``scontrol token``, would need the failing slurmctld)."""
    fetched: list[str] = []
    answers = iter([(200, recording("v0.0.38", "diag")["response"]["body"])])
    failure = recording("v0.0.38", "diag_bad_token")["response"]

    def diag(request: httpx.Request) -> httpx.Response:
        status, body = next(answers, (failure["status"], failure["body"]))
        return httpx.Response(status, json=body)

    def fetch() -> str:
        fetched.append("token")
        return f"token-{len(fetched)}"

    server = Server("v0.0.38", {("GET", "/slurm/v0.0.38/diag"): diag})
    face = make_face(server, auth=CallableAuth(fetch, user_name="alice"))
    await face("diag")
    await raises(face, ServerError, "diag")
    assert fetched == ["token"]


# What each release answers for an unknown partition or node (seen live).
UNKNOWN = {
    "partition": {
        "v0.0.38": (
            500,
            {"errors": [{"error": "Invalid partition name specified", "errno": 2000}]},
        ),
        "v0.0.41": (
            422,
            {
                "errors": [
                    {
                        "description": "Unable to find partition nosuch",
                        "error_number": 9000,
                        "error": "Query empty or not RFC7320 compliant",
                    }
                ],
                "warnings": [],
            },
        ),
        "v0.0.45": (
            200,
            {"errors": [], "warnings": [{"description": "Unable to find partition nosuch"}]},
        ),
    },
    "node": {
        "v0.0.38": (500, {"errors": [{"error": "Invalid node name specified", "errno": 2018}]}),
        "v0.0.41": (
            200,
            {
                "errors": [
                    {
                        "description": "Failure to query node nosuch",
                        "error_number": 0,
                        "error": "No error",
                    }
                ],
                "warnings": [],
            },
        ),
    },
}
UNKNOWN["node"]["v0.0.45"] = UNKNOWN["node"]["v0.0.41"]


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.41", "v0.0.45"])
@pytest.mark.parametrize("kind", ["partition", "node"])
async def test_an_unknown_partition_or_node_is_not_found(
    make_face: MakeFace, version: str, kind: str
) -> None:
    path = f"/slurm/{version}/{kind}/nosuch"
    server = Server(version, {("GET", path): UNKNOWN[kind][version]})
    exc = await raises(make_face(server), NotFoundError, f"{kind}s.get", "nosuch")
    assert "nosuch" in str(exc)
    assert server.sent() == [f"GET {path}"]  # not retried
