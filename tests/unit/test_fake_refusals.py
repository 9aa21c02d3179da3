"""The fake refuses reservation and partition writes with slurmctld's recorded numbers.

``tests/data/responses/<version>/fidelity/r_*.json`` were recorded on 26.05 by
``tests/data/record_slurmdb.py``: a reservation made, made again under the same name (an
update, not error 2082), deleted; one over a node that does not exist (2018, not 2053);
one that ends before it starts (2053); and (v0.0.45) a partition deleted while a job is in
it (2075), then again once the job is gone. Replayed in that order against one fake per
version: status, error numbers and descriptions must match.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core._versions import get_adapter
from slurm_core.testing import FakeSlurmServer

DATA = Path(__file__).parent.parent / "data" / "responses"
ORDER = [
    "r_resv_add", "r_resv_add_duplicate", "r_resv_delete", "r_resv_add_unknown_node",
    "r_resv_add_backwards", "r_partition_add", "r_partition_delete_in_use",
    "r_partition_delete_after",
]  # fmt: skip
VERSIONS = sorted({p.parent.parent.name for p in DATA.glob("v0.0.*/fidelity/r_resv_add.json")})


def _errors(body: Any) -> list[tuple[int, str]]:
    entries = body.get("errors") or [] if isinstance(body, dict) else []
    return [(e.get("error_number"), e.get("description")) for e in entries]


@pytest.mark.parametrize("version", VERSIONS)
def test_reservation_and_partition_refusals_match_the_recordings(version: str) -> None:
    fake = FakeSlurmServer(version)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    root = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": "t"}
    job_id = None
    compared = 0
    for name in ORDER:
        path = DATA / version / "fidelity" / f"{name}.json"
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        request = record["request"]
        if name == "r_partition_delete_after" and job_id is not None:
            http.delete(f"/slurm/{version}/job/{job_id}", headers=root)
            fake.advance(1)
        answer = http.request(
            request["method"], request["path"], json=request["body"], headers=root
        )
        real = record["response"]
        assert answer.status_code == real["status"], name
        assert _errors(answer.json()) == _errors(real["body"]), name
        compared += 1
        if name == "r_partition_add":  # a job in the new partition, as the recorder did
            body = get_adapter(version).job_submit_body(
                {"name": "fakedb-part", "partition": "fakedb-part"}, script="#!/bin/sh\nsleep 30\n"
            )
            job_id = http.post(f"/slurm/{version}/job/submit", json=body, headers=root).json()[
                "job_id"
            ]
    assert compared >= 5


def test_a_reservation_made_again_is_updated_not_refused() -> None:
    fake = FakeSlurmServer("v0.0.45")
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    root = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": "t"}
    start = fake.cluster.clock.now() + 86400
    resv = {"name": "r1", "node_list": ["node1"], "start_time": {"set": True, "number": start}}
    for minutes in (60, 90):
        resv["duration"] = {"set": True, "number": minutes}
        made = http.post("/slurm/v0.0.45/reservation", json=resv, headers=root)
        assert made.status_code == 200
    listed = http.get("/slurm/v0.0.45/reservation/r1", headers=root).json()["reservations"]
    assert len(listed) == 1
    assert listed[0]["end_time"]["number"] - start == 90 * 60
