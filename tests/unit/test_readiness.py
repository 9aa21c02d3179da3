"""``client.ready()`` on the fake, and the fake's health endpoints against the real answers
recorded from the three test clusters (``tests/data/health-endpoints.json``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core import AuthenticationError, RetryPolicy, UnsupportedAPIVersionError
from slurm_core.testing import FakeSlurmServer

pytestmark = pytest.mark.anyio

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "health-endpoints.json").read_text()
)
# The versions each test cluster serves (newest first, as the fake takes them).
RELEASES = {
    "22.05": ("v0.0.38",),
    "24.11": ("v0.0.42", "v0.0.41", "v0.0.40"),
    "26.05": ("v0.0.45", "v0.0.44", "v0.0.43", "v0.0.42"),
}
ONCE = RetryPolicy(max_attempts=1)
TOKEN = "the-token"
HEADERS = {
    "token": {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": TOKEN},
    "bad_token": {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": "eyJhbGciOiJIUzI1NiJ9.e30.x"},
    "no_token": {},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _fake(release: str, **kw: Any) -> FakeSlurmServer:
    newest, *older = RELEASES[release]
    return FakeSlurmServer(api_version=newest, also_serve=older, **kw)


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_fake_health_paths_answer_as_the_real_release(release: str) -> None:
    fake = _fake(release, token=TOKEN, require_token=True)
    with httpx.Client(base_url=fake.url, transport=fake.transport()) as http:
        for path in ("/readyz", "/livez", "/healthz"):
            for kind, headers in HEADERS.items():
                real = RECORDED[release][path][kind]
                got = http.get(path, headers=headers)
                assert (got.status_code, got.headers.get("content-type")) == (
                    real["status"],
                    real["content_type"],
                ), (path, kind)
                if real["status"] != 401:  # the fake's 401 text is the fake's own
                    assert got.text == real["body"], (path, kind)
        document = http.get("/openapi/v3", headers=HEADERS["token"]).json()
    assert [p for p in document["paths"] if p in ("/readyz", "/livez", "/healthz")] == (
        RECORDED[release]["in_openapi"]
    )


def test_ready_on_26_05_asks_readyz_only() -> None:
    fake = _fake("26.05")
    with fake.client() as client:
        assert client.ready()
        assert client.ready()
    # Nothing else: no version negotiation, no diag.
    assert [r.path for r in fake.requests_to(".*")] == ["/readyz", "/readyz"]


@pytest.mark.parametrize("release", ["22.05", "24.11"])
def test_ready_before_26_05_falls_back_to_diag_and_probes_readyz_once(release: str) -> None:
    fake = _fake(release)
    version = RELEASES[release][0]
    with fake.client() as client:
        assert client.ready()
        assert client.ready()
    paths = [r.path for r in fake.requests_to(".*") if r.path != "/openapi/v3"]
    assert paths == ["/readyz", f"/slurm/{version}/diag", f"/slurm/{version}/diag"]


async def test_async_ready_remembers_per_client_too() -> None:
    fake = _fake("24.11")
    async with fake.async_client() as client:
        assert await client.ready()
        assert await client.ready()
    assert len(fake.requests_to("/readyz$")) == 1
    fake26 = _fake("26.05")
    async with fake26.async_client() as client:
        assert await client.ready()
    assert [r.path for r in fake26.requests_to(".*")] == ["/readyz"]


@pytest.mark.parametrize("release", ["24.11", "26.05"])
def test_ready_is_false_while_the_server_errs_or_is_unreachable(release: str) -> None:
    fake = _fake(release)
    with fake.client(retry=ONCE) as client:
        fake.fail_next(status=503, path=r"/(readyz|diag)$")
        assert client.ready() is False
        fake.drop_next("connect", path=r"/(readyz|diag)$")
        assert client.ready() is False
        assert client.ready() is True


@pytest.mark.parametrize("release", ["22.05", "26.05"])
def test_ready_raises_on_a_refused_token(release: str) -> None:
    # No token at all: 401 on every release (waiting would not fix it).
    fake = _fake(release, token=TOKEN, require_token=True)
    with fake.client(auth=None, retry=ONCE) as client, pytest.raises(AuthenticationError):
        client.ready()


def test_ready_raises_when_no_version_is_spoken_by_both() -> None:
    fake = _fake("22.05")
    with fake.client(api_version="v0.0.45") as client, pytest.raises(UnsupportedAPIVersionError):
        client.ready()
