"""``ready()`` on real slurmrestd: ``/readyz`` on 26.05, ``diag`` on 22.05 and 24.11, and
the health endpoints still answering as recorded in ``tests/data/health-endpoints.json``
(which the fake's answers are checked against)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from slurm_core import AsyncSlurmClient, RequestHooks, RequestInfo, SlurmClient, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "health-endpoints.json").read_text()
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_ready_uses_readyz_where_served(slurm_cluster: LocalSlurmCluster) -> None:
    release, token = slurm_cluster.release, slurm_cluster.token()
    headers = {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": token}  # 22.05 wants both
    readyz = httpx.get(f"{slurm_cluster.rest_url}/readyz", headers=headers)
    assert readyz.status_code == RECORDED[release]["/readyz"]["token"]["status"]

    paths: list[str] = []

    def seen(info: RequestInfo) -> None:
        paths.append(httpx.URL(info.url).path)

    auth = StaticToken(token, user_name="alice")
    with SlurmClient(
        slurm_cluster.rest_url, auth=auth, hooks=RequestHooks(on_request=seen)
    ) as client:
        assert client.ready() is True
        assert client.ready() is True
    if release == "26.05":
        assert paths == ["/readyz", "/readyz"]
    else:  # asked once, then diag every time
        assert paths.count("/readyz") == 1
        assert len([p for p in paths if p.endswith("/diag")]) == 2


async def test_async_ready(slurm_cluster: LocalSlurmCluster) -> None:
    auth = StaticToken(slurm_cluster.token(), user_name="alice")
    async with AsyncSlurmClient(slurm_cluster.rest_url, auth=auth) as client:
        assert await client.ready() is True
