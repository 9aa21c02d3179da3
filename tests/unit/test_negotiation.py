"""Version negotiation: from /openapi/v3 (the live documents), by probing ping, pinning, caching."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core import SlurmClient, StaticToken
from slurm_core._exceptions import (
    AuthenticationError,
    NotFoundError,
    ServerError,
    SlurmAPIError,
    UnsupportedAPIVersionError,
)
from slurm_core._versions import CLIENT_VERSIONS
from slurm_core._versions.negotiate import (
    ServedVersions,
    choose_version,
    clear_cache,
    negotiate,
    versions_from_openapi,
)

OPENAPI = Path(__file__).parent.parent / "data" / "openapi"
URL = "http://slurm.test:6820"


def doc(release: str) -> dict[str, Any]:
    return json.loads((OPENAPI / f"{release}.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.mark.parametrize(
    ("release", "chosen", "slurm", "slurmdb"),
    [
        ("22.05", "v0.0.38", ("v0.0.38", "v0.0.37", "v0.0.36"), ("v0.0.38", "v0.0.37", "v0.0.36")),
        ("24.11", "v0.0.42", ("v0.0.42", "v0.0.41", "v0.0.40"), ("v0.0.42", "v0.0.41", "v0.0.40")),
        ("26.05", "v0.0.45", ("v0.0.45", "v0.0.44", "v0.0.43", "v0.0.42"), None),
    ],
)
def test_versions_from_the_live_documents(
    release: str, chosen: str, slurm: tuple[str, ...], slurmdb: tuple[str, ...] | None
) -> None:
    served = versions_from_openapi(doc(release))
    assert served is not None
    assert served.slurm == slurm
    assert served.slurmdb == (slurmdb or slurm)
    assert choose_version(served, None) == chosen


def test_pinning() -> None:
    served = ServedVersions(("v0.0.42", "v0.0.41", "v0.0.40"), None, "openapi")
    assert choose_version(served, "v0.0.40") == "v0.0.40"
    with pytest.raises(UnsupportedAPIVersionError) as info:
        choose_version(served, "v0.0.45")
    err = info.value
    assert err.requested == "v0.0.45"
    assert err.server_versions == ["v0.0.42", "v0.0.41", "v0.0.40"]
    assert err.client_versions == list(CLIENT_VERSIONS)
    assert "v0.0.42" in str(err)
    assert "v0.0.38" in str(err)


def test_no_common_version() -> None:
    served = ServedVersions(("v0.0.37", "v0.0.36"), None, "openapi")
    with pytest.raises(UnsupportedAPIVersionError) as info:
        choose_version(served, None)
    assert info.value.requested is None
    assert info.value.server_versions == ["v0.0.37", "v0.0.36"]


def test_documents_without_versions() -> None:
    assert versions_from_openapi({"paths": {"/openapi/v3": {}}}) is None
    assert versions_from_openapi([1, 2]) is None
    assert versions_from_openapi({"no": "paths"}) is None


# -- the sans-I/O generator -------------------------------------------------------------
Answer = Callable[[str], httpx.Response | Exception]


def drive(
    answer: Answer, key: tuple[str, str | None] = (URL, None), pinned: str | None = None
) -> tuple[str, list[str]]:
    """Run negotiate() like a client would; return (version, paths requested)."""
    gen = negotiate(key, pinned)
    paths: list[str] = []
    try:
        request = next(gen)
        while True:
            paths.append(request.path)
            result = answer(request.path)
            request = gen.throw(result) if isinstance(result, Exception) else gen.send(result)
    except StopIteration as stop:
        return stop.value[0], paths


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body, request=httpx.Request("GET", URL))


def api_error(cls: type[SlurmAPIError], status: int) -> SlurmAPIError:
    return cls(f"HTTP {status}", status_code=status)


def test_openapi_document_is_read_once_then_cached() -> None:
    version, paths = drive(lambda p: ok(doc("24.11")))
    assert (version, paths) == ("v0.0.42", ["/openapi/v3"])
    version, paths = drive(lambda p: pytest.fail("cached: no request expected"))
    assert (version, paths) == ("v0.0.42", [])
    # another socket on the same URL is another server
    version, paths = drive(lambda p: ok(doc("22.05")), key=(URL, "/run/slurmrestd.sock"))
    assert (version, paths) == ("v0.0.38", ["/openapi/v3"])


def test_falls_back_to_probing_ping_newest_first() -> None:
    def answer(path: str) -> httpx.Response | Exception:
        if path == "/slurm/v0.0.41/ping":
            return ok({"pings": []})
        return api_error(NotFoundError, 404)

    version, paths = drive(answer)
    assert version == "v0.0.41"
    assert paths == [
        "/openapi/v3",
        "/slurm/v0.0.45/ping",
        "/slurm/v0.0.44/ping",
        "/slurm/v0.0.43/ping",
        "/slurm/v0.0.42/ping",
        "/slurm/v0.0.41/ping",
    ]


def test_probe_when_the_document_is_not_json() -> None:
    def answer(path: str) -> httpx.Response | Exception:
        if path == "/openapi/v3":
            return httpx.Response(200, content=b"<html>", request=httpx.Request("GET", URL))
        return ok({"pings": []})

    assert drive(answer) == ("v0.0.45", ["/openapi/v3", "/slurm/v0.0.45/ping"])


def test_pinned_probe_only_tries_the_pinned_version() -> None:
    version, paths = drive(
        lambda p: api_error(ServerError, 500) if p == "/openapi/v3" else ok({}), pinned="v0.0.40"
    )
    assert (version, paths) == ("v0.0.40", ["/openapi/v3", "/slurm/v0.0.40/ping"])


def test_a_failing_server_is_reported_as_such_not_as_serving_no_version() -> None:
    with pytest.raises(ServerError):
        drive(lambda p: api_error(ServerError, 503))
    with pytest.raises(ServerError):
        drive(lambda p: api_error(ServerError, 503), pinned="v0.0.42")


def test_authentication_errors_are_not_probed_around() -> None:
    with pytest.raises(AuthenticationError):
        drive(lambda p: api_error(AuthenticationError, 401))


def test_nothing_found_raises_and_is_not_cached() -> None:
    with pytest.raises(UnsupportedAPIVersionError) as info:
        drive(lambda p: api_error(NotFoundError, 404))
    assert info.value.server_versions == []
    version, _ = drive(lambda p: ok(doc("26.05")))
    assert version == "v0.0.45"


def test_pinned_version_the_client_does_not_know_fails_without_io() -> None:
    with pytest.raises(UnsupportedAPIVersionError) as info:
        SlurmClient(URL, auth=StaticToken("t"), api_version="v0.0.37")
    assert info.value.requested == "v0.0.37"


# -- through the client ------------------------------------------------------------------
class Server:
    def __init__(self, release: str) -> None:
        self.release = release
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls.append(request.url.path)
        if request.url.path == "/openapi/v3":
            return httpx.Response(200, json=doc(self.release))
        return httpx.Response(200, json={"pings": [{"hostname": "h", "pinged": "UP"}]})


def test_client_negotiates_lazily_and_shares_the_cache() -> None:
    server = Server("26.05")
    client = SlurmClient(URL, auth=StaticToken("t"), transport=httpx.MockTransport(server))
    assert server.calls == []  # nothing until first use
    assert client.api_version is None  # reading it is not a use
    assert client.negotiate() == "v0.0.45"
    client.ping()
    other = SlurmClient(URL, auth=StaticToken("t"), transport=httpx.MockTransport(server))
    other.ping()
    assert server.calls == ["/openapi/v3", "/slurm/v0.0.45/ping", "/slurm/v0.0.45/ping"]


def test_client_pinned_version_not_served() -> None:
    server = Server("24.11")
    client = SlurmClient(
        URL, auth=StaticToken("t"), api_version="v0.0.45", transport=httpx.MockTransport(server)
    )
    with pytest.raises(UnsupportedAPIVersionError) as info:
        client.ping()
    assert info.value.server_versions == ["v0.0.42", "v0.0.41", "v0.0.40"]
    assert info.value.requested == "v0.0.45"


def test_pinned_through_from_env() -> None:
    server = Server("26.05")
    env = {"SLURM_REST_URL": URL, "SLURM_JWT": "t", "SLURM_REST_API_VERSION": "v0.0.43"}
    client = SlurmClient.from_env(env=env, transport=httpx.MockTransport(server))
    assert client.negotiate() == "v0.0.43"


def test_concurrent_first_use_is_consistent() -> None:
    server = Server("24.11")
    clients = [
        SlurmClient(URL, auth=StaticToken("t"), transport=httpx.MockTransport(server))
        for _ in range(8)
    ]
    results: list[str] = []
    barrier = threading.Barrier(len(clients))

    def work(c: SlurmClient) -> None:
        barrier.wait()
        results.append(c.negotiate())

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["v0.0.42"] * len(clients)
    assert 1 <= server.calls.count("/openapi/v3") <= len(clients)
    # once settled, nobody asks again
    before = len(server.calls)
    assert (
        SlurmClient(URL, auth=StaticToken("t"), transport=httpx.MockTransport(server)).negotiate()
        == "v0.0.42"
    )
    assert len(server.calls) == before
