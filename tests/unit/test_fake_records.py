"""The fake's slurmctld records carry the values the fake knows, not blanks (issue #22).

The differential test (``test_fake_differential.py``) proves the keys and types match
the recorded real answers; these check the values a user's test would read: the GPU
request as submitted, the allocation per node, ``requeue``/``restart_cnt``, the
``USING_DEFAULT_*`` flags, the RPCs ``diag`` counts, and what 24.11 and 26.05 send for a
job that asked for nothing (recorded in ``tests/data/responses/v0.0.4x/jobs.json``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from slurm_core._versions import get_adapter
from slurm_core.testing import FakeSlurmServer

HEADERS = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": "t"}
SCRIPT = "#!/bin/sh\ntrue\n"


def _submit(http: httpx.Client, version: str, **job: Any) -> int:
    body = get_adapter(version).job_submit_body({"name": "r"}, script=SCRIPT)
    body["job"].update(job)
    answer = http.post(f"/slurm/{version}/job/submit", json=body, headers=HEADERS)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["job_id"])


def _job(http: httpx.Client, version: str, job_id: int) -> dict[str, Any]:
    jobs = http.get(f"/slurm/{version}/job/{job_id}", headers=HEADERS).json()["jobs"]
    return dict(jobs[0])


def _number(value: Any) -> Any:
    return value["number"] if isinstance(value, dict) and value.get("set") else value


@pytest.mark.parametrize("version", ["v0.0.42", "v0.0.45"])
def test_a_gpu_job_shows_its_request_and_its_allocation(version: str) -> None:
    fake = FakeSlurmServer(version, default_runtime=60)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    job_id = _submit(
        http,
        version,
        partition="gpu",
        tres_per_node="gpu:1",
        constraints="gpu",
        requeue=False,
        tasks=2,
        memory_per_cpu={"set": True, "infinite": False, "number": 500},
    )
    fake.advance(1)
    job = _job(http, version, job_id)
    assert job["tres_per_node"] == "gres/gpu:1"
    assert job["features"] == "gpu"
    assert job["requeue"] is False
    assert job["flags"] == ["USING_DEFAULT_ACCOUNT", "USING_DEFAULT_QOS", "USING_DEFAULT_WCKEY"]
    assert job["gres_detail"] == ["gpu:fake:1(IDX:0)"]
    node = job["nodes"]
    assert node in ("gpu1", "gpu2")
    assert job["batch_host"] == node
    resources = job["job_resources"]
    assert resources["cpus"] == 2
    assert resources["nodes"]["list"] == node
    (allocation,) = resources["nodes"]["allocation"]
    assert allocation["name"] == node
    assert allocation["cpus"]["count"] == 2
    assert allocation["memory"]["allocated"] == 1000
    cores = allocation["sockets"][0]["cores"]
    assert len(cores) == 16  # every core of the node, the job's own first
    assert [c["status"] for c in cores[:3]] == [["ALLOCATED"], ["ALLOCATED"], ["UNALLOCATED"]]
    fake.advance(120)
    done = _job(http, version, job_id)
    assert done["job_state"] == ["COMPLETED"]
    assert done["job_resources"]["nodes"]["list"] == node, "a finished job keeps its allocation"
    assert done["gres_detail"] == [], "recorded: a finished job lists no GRES in use"


@pytest.mark.parametrize("version", ["v0.0.40", "v0.0.42"])
def test_jobs_sharing_a_node_hold_different_cores(version: str) -> None:
    fake = FakeSlurmServer(version, default_runtime=60)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    first, second = _submit(http, version), _submit(http, version)
    fake.advance(1)
    held = []
    for job_id in (first, second):
        resources = _job(http, version, job_id)["job_resources"]
        if version == "v0.0.40":  # only the allocated cores, by index
            (node,) = resources["allocated_nodes"]
            held.append(sorted(node["sockets"]["0"]["cores"]))
        else:
            (node,) = resources["nodes"]["allocation"]
            cores = node["sockets"][0]["cores"]
            held.append([str(c["index"]) for c in cores if c["status"] == ["ALLOCATED"]])
    assert held == [["0"], ["1"]]


def test_an_unasked_job_shows_what_slurmctld_fills_in() -> None:
    version = "v0.0.42"
    fake = FakeSlurmServer(version, default_runtime=5)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    job = _job(http, version, _submit(http, version))
    assert job["requeue"] is True
    assert _number(job["memory_per_cpu"]) == 100  # DefMemPerCPU
    assert job["tasks_per_core"] == {"set": False, "infinite": True, "number": 0}
    assert job["thread_spec"] == 32766
    assert job["mail_user"] == "root"
    assert job["profile"] == ["NOT_SET"]
    assert job["job_resources"] is None, "pending: nothing allocated yet"


def test_a_requeued_job_counts_its_restarts() -> None:
    version = "v0.0.45"
    fake = FakeSlurmServer(version, default_runtime=60)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    job_id = _submit(http, version)
    fake.advance(1)
    assert _job(http, version, job_id)["restart_cnt"] == 0
    assert http.get(f"/slurm/{version}/job/{job_id}/requeue", headers=HEADERS).status_code == 200
    assert _job(http, version, job_id)["restart_cnt"] == 1


def test_diag_counts_the_rpcs_served_by_type_and_user() -> None:
    version = "v0.0.44"
    fake = FakeSlurmServer(version)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    _submit(http, version)
    _submit(http, version)
    http.get(f"/slurm/{version}/jobs", headers=HEADERS)
    stats = http.get(f"/slurm/{version}/diag", headers=HEADERS).json()["statistics"]
    counts = {r["message_type"]: r["count"] for r in stats["rpcs_by_message_type"]}
    assert counts["REQUEST_SUBMIT_BATCH_JOB"] == 2
    assert counts["REQUEST_JOB_INFO"] == 1
    by_type = {r["message_type"]: r["type_id"] for r in stats["rpcs_by_message_type"]}
    assert by_type["REQUEST_SUBMIT_BATCH_JOB"] == 4003  # the recorded ids
    (root,) = stats["rpcs_by_user"]
    assert (root["user"], root["user_id"]) == ("root", 0)
    assert root["count"] == sum(counts.values())


def test_nodes_show_their_gres_use_and_release() -> None:
    version = "v0.0.43"
    fake = FakeSlurmServer(version, default_runtime=60)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    _submit(http, version, partition="gpu", tres_per_job="gres/gpu:2", required_nodes=["gpu1"])
    fake.advance(1)
    nodes = http.get(f"/slurm/{version}/nodes", headers=HEADERS).json()["nodes"]
    gpu1 = next(n for n in nodes if n["name"] == "gpu1")
    assert gpu1["gres_used"] == "gpu:fake:2(IDX:0-1)"
    assert gpu1["alloc_idle_cpus"] == 15
    assert gpu1["version"] == "25.05.3"
    assert gpu1["next_state_after_reboot"] == ["INVALID"]
