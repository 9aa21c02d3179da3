"""The fake answers like the real slurmrestd where issue #22 found it did not.

``tests/data/responses/<version>/fidelity/`` holds answers recorded on 22.05, 24.11 and
26.05 by ``tests/data/record_fidelity.py``. Each is replayed over real HTTP
(``fake.serve()``, raw ``http.client`` so no client library rewrites the request) against a
fake of the same version in the same situation. Status, content type, plain-text bodies,
error numbers and top-level keys must match.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from slurm_core._versions import get_adapter
from slurm_core.testing import FakeSlurmServer

DATA = Path(__file__).parent.parent / "data" / "responses"
RECORDED_ID = "{recorded}"

# The recordings replayed here; each needs the situation named (see ``_situation``).
REPLAYED = {
    "method_put_ping": "plain",
    "method_patch_ping": "plain",
    "method_delete_ping": "plain",
    "method_options_ping": "plain",
    "method_trace_ping": "plain",
    "method_put_unknown": "plain",
    "jobs_update_time_superscript": "plain",
    "partition_percent_encoded": "plain",
    "node_weight_number": "plain",
    "node_state_bogus": "plain",
    "job_allocate": "plain",
}
RECORDINGS = sorted(p for p in DATA.glob("v0.0.*/fidelity/*.json") if p.stem in REPLAYED)


class Served:
    """A fake of one version over HTTP, and raw requests to it."""

    def __init__(self, fake: FakeSlurmServer, url: str) -> None:
        self.fake = fake
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def send(self, method: str, path: str, body: Any, user: str) -> tuple[int, str, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": "t"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read().decode()
            kind = response.getheader("Content-Type", "")
        finally:
            conn.close()
        try:
            decoded: Any = json.loads(raw)
        except ValueError:
            decoded = raw
        return response.status, kind, decoded


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    version = request.param
    fake = FakeSlurmServer(version, default_runtime=600)
    with fake.serve() as url:
        yield Served(fake, url)


def _numbers(body: Any) -> list[int]:
    if not isinstance(body, dict):
        return []
    out = [e.get("error_number", e.get("error_code")) for e in body.get("errors") or []]
    return sorted(n for n in out if n is not None)


def _keys(body: Any) -> set[str]:
    return set(body) - {"meta"} if isinstance(body, dict) else set()


def _submit(served: Served, version: str) -> int:
    body = get_adapter(version).job_submit_body({"name": "x"}, script="#!/bin/sh\ntrue\n")
    status, _, answer = served.send("POST", f"/slurm/{version}/job/submit", body, "alice")
    assert status == 200, answer
    return int(answer["job_id"])


@pytest.mark.parametrize(
    ("served", "recording"),
    [(p.parent.parent.name, p) for p in RECORDINGS],
    ids=[f"{p.parent.parent.name}-{p.stem}" for p in RECORDINGS],
    indirect=["served"],
)
def test_replayed_answer_matches_the_real_one(served: Served, recording: Path) -> None:
    record = json.loads(recording.read_text())
    request, expected = record["request"], record["response"]
    status, kind, body = served.send(
        request["method"], request["path"], request["body"], request.get("user", "alice")
    )
    assert status == expected["status"], (record["source"], body)
    assert kind.split(";")[0] == expected["content_type"].split(";")[0]
    if isinstance(expected["body"], str):
        assert body == expected["body"]
        return
    assert _numbers(body) == _numbers(expected["body"]), body
    assert _keys(body) == _keys(expected["body"])


@pytest.mark.parametrize("served", ["v0.0.42"], indirect=True)
def test_node_weight_in_its_documented_form_is_applied(served: Served) -> None:
    weight = {"weight": {"set": True, "infinite": False, "number": 7}}
    status, _, _ = served.send("POST", "/slurm/v0.0.42/node/node1", weight, "root")
    assert status == 200
    assert served.fake.node("node1").weight == 7


@pytest.mark.parametrize("served", ["v0.0.42", "v0.0.45"], indirect=True)
def test_allocate_makes_a_job_and_updates_nothing(served: Served) -> None:
    version = served.fake.api_version
    first = _submit(served, version)
    body = {"job": {"name": "alloc", "environment": ["PATH=/bin"], "tasks": 1}}
    status, _, answer = served.send("POST", f"/slurm/{version}/job/allocate", body, "alice")
    assert status == 200, answer
    assert answer["job_id"] == first + 1
    assert served.fake.job(answer["job_id"]).name == "alloc"
    assert served.fake.job(first).name == "x"


def test_openapi_v3_is_the_real_document_of_the_served_versions() -> None:
    fake = FakeSlurmServer("v0.0.42", also_serve=("v0.0.40", "v0.0.41"))
    with httpx.Client(base_url=fake.url, transport=fake.transport()) as http:
        doc = http.get("/openapi/v3", headers={"X-SLURM-USER-TOKEN": "t"}).json()
    # the paths real 24.11.5 served (kept by the recording scripts)
    live = json.loads((DATA.parent / "openapi" / "24.11.json").read_text())
    assert doc["info"]["title"] == live["info"]["title"]
    assert set(doc["paths"]) == set(live["paths"])
    refs = re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc))
    assert refs
    assert set(refs) <= set(doc["components"]["schemas"])
