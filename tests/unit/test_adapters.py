"""Adapters v0.0.38-v0.0.45: real recorded responses -> models, and request translation.

Recordings are in tests/data/responses/<version>/ (see tests/data/build_responses.py for
where each file comes from; ``source`` inside each file says "recorded" or "synthesized").
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slurm_core._exceptions import NotFoundError, ResponseValidationError
from slurm_core._versions import (
    ADAPTERS,
    CLIENT_VERSIONS,
    UnsupportedOperationError,
    get_adapter,
)
from slurm_core.models import INFINITE, JobBaseState, SlurmModel, SlurmObject

DATA = Path(__file__).parent.parent / "data"
RESPONSES = DATA / "responses"
REQUEST_SCHEMAS: dict[str, dict[str, dict[str, str]]] = json.loads(
    (DATA / "request_schemas.json").read_text()
)
UTC = timezone.utc


def record(version: str, name: str) -> dict[str, Any]:
    return json.loads((RESPONSES / version / f"{name}.json").read_text())  # type: ignore[no-any-return]


def response(
    version: str, name: str, *, body: Any = None, content: bytes | None = None
) -> httpx.Response:
    rec = record(version, name)
    req = httpx.Request(rec["request"]["method"], "http://slurm.test" + rec["request"]["path"])
    if content is not None:
        return httpx.Response(rec["response"]["status"], content=content, request=req)
    return httpx.Response(
        rec["response"]["status"],
        json=rec["response"]["body"] if body is None else body,
        request=req,
    )


# Which parse method reads which recording.
PARSERS: dict[str, str] = {
    "jobs": "parse_jobs",
    "jobs_after": "parse_jobs",
    "nodes": "parse_nodes",
    "partitions": "parse_partitions",
    "reservations": "parse_reservations",
    "licenses": "parse_licenses",
    "ping": "parse_pings",
    "diag": "parse_diag",
    "slurmdb_jobs": "parse_accounting_jobs",
    "slurmdb_accounts": "parse_accounts",
    "slurmdb_users": "parse_users",
    "slurmdb_associations": "parse_associations",
    "slurmdb_qos": "parse_qos",
    "slurmdb_tres": "parse_tres",
}


def test_one_adapter_per_supported_version() -> None:
    assert tuple(f"v0.0.{n}" for n in range(38, 46)) == CLIENT_VERSIONS
    assert all(ADAPTERS[v].version == v for v in CLIENT_VERSIONS)


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_every_recording_of_every_version_parses(version: str) -> None:
    a = get_adapter(version)
    files = sorted(p.stem for p in (RESPONSES / version).glob("*.json"))
    parsed = 0
    for name in files:
        method = PARSERS.get(name)
        if method is None:
            continue
        result = getattr(a, method)(response(version, name))
        for m in result if isinstance(result, list) else [result]:
            assert isinstance(m, SlurmModel)
            if isinstance(m, SlurmObject):
                assert isinstance(m.raw, dict)
                assert m.raw
        parsed += 1
    expected = {"jobs", "nodes", "partitions", "reservations", "licenses", "diag", "slurmdb_jobs"}
    expected |= {"slurmdb_accounts", "slurmdb_users", "slurmdb_associations", "slurmdb_qos"}
    assert parsed >= len(expected)


# -- v0.0.38 (Slurm 22.05, recorded) -----------------------------------------------------
def test_v0038_jobs_after_a_test_run() -> None:
    jobs = {
        j.job_id: j for j in get_adapter("v0.0.38").parse_jobs(response("v0.0.38", "jobs_after"))
    }
    assert len(jobs) == 14
    failed = jobs[12]
    assert failed.state.base is JobBaseState.FAILED
    assert failed.state_reason == "NonZeroExitCode"
    assert failed.exit_code is not None
    assert (failed.exit_code.status, failed.exit_code.return_code) == ("ERROR", 3)  # raw 768
    cancelled = jobs[4]
    assert cancelled.exit_code is not None
    assert cancelled.exit_code.signal == 15
    assert jobs[14].hold is True
    assert jobs[14].priority == 0
    assert jobs[14].state_reason == "JobHeldUser"
    assert jobs[1].hold is False
    assert jobs[1].time_limit == timedelta(minutes=5)
    assert jobs[1].start_time == datetime.fromtimestamp(1795549241, UTC)
    assert jobs[13].nodes is None  # never ran
    assert jobs[13].start_time is None or jobs[13].start_time.tzinfo is UTC
    assert jobs[1].user_name == "nobody"
    assert jobs[1].user_id == 65534
    task = jobs[7]
    assert (task.array_job_id, task.array_task_id, task.id_string) == (6, 0, "6_0")
    assert jobs[1].array_job_id is None
    assert jobs[1].array_task_id is None
    assert jobs[3].nodes == "node[1-3]"
    assert jobs[1].raw["batch_features"] == ""  # the wire object, unmodelled fields included


def test_v0038_get_picks_the_array_task() -> None:
    a = get_adapter("v0.0.38")
    job = a.parse_job(response("v0.0.38", "job_array"), "6_1")
    assert (job.job_id, job.array_job_id, job.array_task_id) == (8, 6, 1)
    assert a.parse_job(response("v0.0.38", "job_array"), 6).array_task_id == 3
    with pytest.raises(NotFoundError):
        a.parse_job(response("v0.0.38", "job_array"), "6_9")


def test_v0038_nodes_partitions_and_accounting() -> None:
    a = get_adapter("v0.0.38")
    node = a.parse_nodes(response("v0.0.38", "nodes"))[0]
    assert (node.name, node.state, node.version) == ("node1", "IDLE", "22.05.8")
    assert node.partitions == ("debug", "gpu")
    assert node.real_memory == 2000
    debug = a.parse_partition(response("v0.0.38", "partitions"), "debug")
    assert debug.is_default
    assert debug.state == "UP"
    assert debug.max_time == timedelta(hours=1)
    assert debug.max_nodes_per_job is INFINITE  # -1 on the wire
    assert debug.total_cpus == 12
    acct = {j.job_id: j for j in a.parse_accounting_jobs(response("v0.0.38", "slurmdb_jobs"))}
    step = acct[4].steps[0]
    assert step.step_id == "batch"
    assert step.exit_code is not None
    assert (step.exit_code.status, step.exit_code.signal, step.exit_code.signal_name) == (
        "SIGNALED",
        15,
        "Terminated",
    )
    gpu = a.parse_accounting_job(response("v0.0.38", "slurmdb_job"), 2)
    assert {t.key: t.count for t in gpu.tres_allocated}["gres/gpu"] == 2
    assert gpu.time_limit == timedelta(minutes=5)
    qos = a.parse_qos(response("v0.0.38", "slurmdb_qos"))
    assert [(q.name, q.priority, q.usage_factor) for q in qos] == [("normal", 0, 1.0)]
    assert [lic.name for lic in a.parse_licenses(response("v0.0.38", "licenses"))] == ["matlab"]
    assert a.parse_pings(response("v0.0.38", "ping"))[0].responding


# -- v0.0.40-v0.0.45 (Slurm 24.11 / 26.05, recorded) --------------------------------------
@pytest.mark.parametrize(
    "version", ["v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"]
)
def test_recorded_job_get(version: str) -> None:
    a = get_adapter(version)
    rec = record(version, "job_get_completed")
    job_id = int(rec["request"]["path"].rsplit("/", 1)[1])
    job = a.parse_job(response(version, "job_get_completed"), job_id)
    assert job.state.base is JobBaseState.COMPLETED
    assert job.state.is_success
    assert job.exit_code is not None
    assert job.exit_code.ok
    assert job.time_limit is INFINITE  # {"set": false, "infinite": true}
    assert job.memory_per_cpu == 100
    assert job.memory_per_node is None
    assert job.submit_time is not None
    assert job.submit_time.tzinfo is UTC
    assert job.cpus == 1
    assert job.node_count == 1
    cancelled = a.parse_jobs(response(version, "job_get_cancelled"))[0]
    assert cancelled.state.base is JobBaseState.CANCELLED


def test_v0042_signaled_exit_code() -> None:
    job = get_adapter("v0.0.42").parse_job(response("v0.0.42", "job_get_cancelled"), 9)
    assert job.exit_code is not None
    assert (job.exit_code.status, job.exit_code.signal, job.exit_code.signal_name) == (
        "SIGNALED",
        15,
        "TERM",
    )
    assert job.exit_code.return_code is None


def test_v0045_listing_and_accounting() -> None:
    a = get_adapter("v0.0.45")
    jobs = a.parse_jobs(response("v0.0.45", "jobs"))
    assert len(jobs) == 12
    assert [j.job_id for j in jobs if j.state.is_pending] == [11]
    acct = a.parse_accounting_jobs(response("v0.0.45", "slurmdb_jobs"))
    first = acct[0]
    assert first.steps
    assert first.steps[0].step_id == "batch"
    assert first.elapsed == timedelta(seconds=1)
    assert {t.key for t in first.tres_allocated} >= {"cpu", "mem", "node"}
    node = a.parse_nodes(response("v0.0.45", "nodes"))[0]
    assert node.state == "IDLE"
    assert node.free_memory == 22440
    assert node.version == "26.05.5"
    part = a.parse_partitions(response("v0.0.45", "partitions"))[0]
    assert part.is_default
    assert part.max_time is INFINITE
    assert part.state == "UP"
    users = a.parse_users(response("v0.0.45", "slurmdb_users"))
    assert users[0].admin_level == "Administrator"
    assert users[0].flags == frozenset()
    assoc = a.parse_associations(response("v0.0.45", "slurmdb_associations"))
    assert any(x.is_default and x.user == "root" for x in assoc)
    assert assoc[0].max_jobs is INFINITE


@pytest.mark.parametrize(
    "version", ["v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"]
)
def test_recorded_ping(version: str) -> None:
    pings = get_adapter(version).parse_pings(response(version, "ping"))
    assert pings
    assert all(p.hostname for p in pings)
    assert pings[0].responding
    assert pings[0].latency is not None
    # v0.0.40/41 answer {"pinged": "UP"}; "responding"/"primary" appear in v0.0.42
    assert pings[0].primary is (None if version in ("v0.0.40", "v0.0.41") else True)


# -- recorded by tests/data/record_responses.py (formerly synthesized) ---------------------
LIVE_VERSIONS = ["v0.0.38", "v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"]


@pytest.mark.parametrize("version", LIVE_VERSIONS)
def test_recorded_licenses_reservations_qos_and_diag(version: str) -> None:
    a = get_adapter(version)
    for name in ("diag", "licenses", "reservations", "slurmdb_qos"):
        assert record(version, name)["source"].startswith("recorded Slurm"), name
    (lic,) = a.parse_licenses(response(version, "licenses"))  # Licenses=matlab:2
    assert (lic.name, lic.total, lic.used, lic.free, lic.remote) == ("matlab", 2, 0, 2, False)
    (resv,) = a.parse_reservations(response(version, "reservations"))
    assert resv.name == "recorder"
    assert resv.licenses == "matlab:1"
    assert resv.users == ("alice", "bob")
    assert resv.flags == {"ANY_NODES"}
    assert resv.node_list is None  # a license-only reservation
    assert resv.start_time is not None
    assert resv.start_time.tzinfo is UTC
    assert resv.end_time == resv.start_time + timedelta(hours=1)
    (normal,) = a.parse_qos(response(version, "slurmdb_qos"))
    assert (normal.name, normal.id, normal.priority, normal.usage_factor) == ("normal", 1, 0, 1.0)
    # dbv0.0.38 leaves unset limits null, later versions send them as infinite
    assert normal.max_jobs_per_user is (None if version == "v0.0.38" else INFINITE)
    diag = a.parse_diag(response(version, "diag"))
    assert diag.req_time is not None
    assert diag.req_time.tzinfo is UTC
    assert diag.jobs_submitted is not None
    assert diag.jobs_submitted > 0
    assert diag.server_thread_count is not None
    assert diag.server_thread_count >= 1
    assert diag.bf_active is False


# -- v0.0.39 (synthesized from its OpenAPI schema) ----------------------------------------
def test_v0039_schema_examples() -> None:
    a = get_adapter("v0.0.39")
    assert record("v0.0.39", "jobs")["source"].startswith("synthesized")
    jobs = a.parse_jobs(response("v0.0.39", "jobs"))
    assert [str(j.state.base) for j in jobs] == ["COMPLETED", "COMPLETED", "CANCELLED"]
    assert all(j.exit_code is not None and j.exit_code.ok for j in jobs)  # wait status 0
    assert jobs[0].time_limit is INFINITE
    assert jobs[0].start_time is not None
    part = a.parse_partitions(response("v0.0.39", "partitions"))[0]
    assert part.state is None
    assert part.max_nodes_per_job is INFINITE
    acct = a.parse_accounting_jobs(response("v0.0.39", "slurmdb_jobs"))
    assert acct[0].steps[0].step_id == "batch"


# -- malformed, truncated, unknown ------------------------------------------------------------
def _jobs_body() -> dict[str, Any]:
    return record("v0.0.45", "jobs")["response"]["body"]  # type: ignore[no-any-return]


def test_unknown_states_and_fields_are_tolerated() -> None:
    body = _jobs_body()
    body["jobs"][0]["job_state"] = ["QUANTUM_SUPERPOSITION", "ENTANGLED"]
    body["jobs"][1]["job_state"] = ["PENDING", "BRAND_NEW_FLAG"]
    body["jobs"][0]["field_from_the_future"] = {"nested": [1, 2, 3]}
    jobs = get_adapter("v0.0.45").parse_jobs(response("v0.0.45", "jobs", body=body))
    assert jobs[0].state.base == "QUANTUM_SUPERPOSITION"
    assert jobs[0].state.flags == {"ENTANGLED"}
    assert jobs[1].state.base is JobBaseState.PENDING
    assert "BRAND_NEW_FLAG" in jobs[1].state.flags
    assert jobs[0].raw["field_from_the_future"] == {"nested": [1, 2, 3]}


def test_truncated_body_is_a_response_validation_error() -> None:
    content = json.dumps(_jobs_body()).encode()
    truncated = response("v0.0.45", "jobs", content=content[: len(content) // 2])
    with pytest.raises(ResponseValidationError) as info:
        get_adapter("v0.0.45").parse_jobs(truncated)
    assert "truncated" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda b: b["jobs"][3].__setitem__("time_limit", "soon"), "jobs[3].time_limit"),
        (lambda b: b["jobs"][0].pop("job_id"), "jobs[0].job_id"),
        (lambda b: b["jobs"][2].__setitem__("job_state", {"odd": 1}), "jobs[2].job_state"),
        (lambda b: b["jobs"][1].__setitem__("exit_code", [1]), "jobs[1].exit_code"),
        (lambda b: b["jobs"].__setitem__(4, "not an object"), "jobs[4]"),
        (lambda b: b.__setitem__("jobs", {"a": 1}), "jobs"),
        (lambda b: b.pop("jobs"), "jobs"),
    ],
)
def test_wrong_shapes_name_the_field(mutate: Any, path: str) -> None:
    body = _jobs_body()
    mutate(body)
    with pytest.raises(ResponseValidationError) as info:
        get_adapter("v0.0.45").parse_jobs(response("v0.0.45", "jobs", body=body))
    assert info.value.path == path
    assert path in str(info.value)


def test_non_object_and_empty_bodies() -> None:
    a = get_adapter("v0.0.42")
    with pytest.raises(ResponseValidationError) as info:
        a.parse_jobs(response("v0.0.42", "jobs", body=[1, 2]))
    assert info.value.path == "<root>"
    with pytest.raises(ResponseValidationError):
        a.parse_jobs(response("v0.0.42", "jobs", content=b""))
    with pytest.raises(ResponseValidationError):
        a.parse_diag(response("v0.0.42", "diag", body={"statistics": None}))


def test_nested_accounting_paths() -> None:
    body = record("v0.0.41", "slurmdb_jobs")["response"]["body"]
    body["jobs"][1]["steps"][0]["time"]["start"] = "yesterday"
    with pytest.raises(ResponseValidationError) as info:
        get_adapter("v0.0.41").parse_accounting_jobs(response("v0.0.41", "slurmdb_jobs", body=body))
    assert info.value.path == "jobs[1].steps[0].time.start"


# -- request translation ------------------------------------------------------------------
@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_paths(version: str) -> None:
    a = get_adapter(version)
    s, db = f"/slurm/{version}", f"/slurmdb/{version}"
    assert a.ping().path == f"{s}/ping"
    assert a.diag().path == f"{s}/diag"
    assert (a.jobs_list().method, a.jobs_list().path) == ("GET", f"{s}/jobs")
    assert a.job_get("12_3").path == f"{s}/job/12_3"
    assert a.nodes_list().path == f"{s}/nodes"
    assert a.node_get("n1").path == f"{s}/node/n1"
    assert a.partition_get("debug").path == f"{s}/partition/debug"
    assert a.reservations_list().path == f"{s}/reservations"
    assert a.licenses_list().path == f"{s}/licenses"
    assert a.accounting_job(5).path == f"{db}/job/5"
    for name in ("accounts", "users", "associations", "qos", "tres"):
        assert getattr(a, name)().path == f"{db}/{name}"
    # v0.0.40+ fill the default account only with associations requested
    old = version in ("v0.0.38", "v0.0.39")
    assert a.users().params == (None if old else {"with_assocs": "true"})


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_cancel(version: str) -> None:
    a = get_adapter(version)
    plain = a.job_cancel(42)
    assert (plain.method, plain.path, plain.params) == ("DELETE", f"/slurm/{version}/job/42", None)
    assert a.job_cancel(42, signal="SIGUSR1").params == {"signal": "SIGUSR1"}
    assert a.job_cancel(42, signal=15).params == {"signal": "15"}
    with pytest.raises(ValueError, match="signal"):
        a.job_cancel(42, signal=99)


def test_v0038_update_matches_the_recorded_request() -> None:
    a = get_adapter("v0.0.38")
    rec = record("v0.0.38", "post_job_update")
    req = a.job_update(14, a.job_update_fields(time_limit=7, comment="updated via rest"))
    assert (req.method, req.path) == ("POST", rec["request"]["path"])
    assert req.json == rec["request"]["body"]  # {"time_limit": 7, "comment": ...}
    assert set(req.json) <= set(REQUEST_SCHEMAS["v0.0.38"]["job_desc_msg"])


@pytest.mark.parametrize("version", CLIENT_VERSIONS[1:])
def test_update_bodies_follow_the_openapi_schema(version: str) -> None:
    a = get_adapter(version)
    fields = a.job_update_fields(
        time_limit=timedelta(minutes=90, seconds=1),
        name="n",
        partition="debug",
        comment="c",
        account="root",
        qos="normal",
        nice=10,
        priority=100,
    )
    body = a.job_update(1, fields).json  # flat in every version (v0.0.39 too)
    kinds = REQUEST_SCHEMAS[version]["job_desc_msg"]
    for key, value in body.items():
        assert key in kinds, key
        if kinds[key] == "number":
            assert value == {"set": True, "infinite": False, "number": value["number"]}
        else:
            assert not isinstance(value, dict)
    assert body["time_limit"]["number"] == 91  # rounded up to whole minutes
    unlimited = a.job_update_fields(time_limit=INFINITE)["time_limit"]
    assert unlimited == {"set": False, "infinite": True, "number": 0}


def test_update_argument_errors() -> None:
    a = get_adapter("v0.0.42")
    with pytest.raises(ValueError, match="at least one"):
        a.job_update_fields()
    with pytest.raises(TypeError, match="time_limit"):
        a.job_update_fields(time_limit="2h")
    with pytest.raises(ValueError, match="time_limit"):
        a.job_update_fields(time_limit=-5)
    with pytest.raises(TypeError, match="name"):
        a.job_update_fields(name=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_hold_release_requeue(version: str) -> None:
    a = get_adapter(version)
    hold = a.job_hold(7)
    assert (hold.method, hold.path, hold.json) == (
        "POST",
        f"/slurm/{version}/job/7",
        {"hold": True},
    )
    # v0.0.38 releases with "hold: false" too (checked against Slurm 22.05.8).
    release = a.job_release(7)
    assert (release.method, release.path, release.json) == (
        "POST",
        f"/slurm/{version}/job/7",
        {"hold": False},
    )
    if version == "v0.0.45":
        req = a.job_requeue(7)
        assert (req.method, req.path) == ("GET", "/slurm/v0.0.45/job/7/requeue")
    else:
        with pytest.raises(UnsupportedOperationError) as info:
            a.job_requeue(7)
        assert info.value.supported_in == ["v0.0.45"]
        assert version in str(info.value)


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_node_update(version: str) -> None:
    a = get_adapter(version)
    fields = {"state": ["DRAIN"], "reason": "disk check"}
    if version == "v0.0.38":
        with pytest.raises(UnsupportedOperationError, match=r"nodes\.update"):
            a.node_update("node1", fields)
        return
    req = a.node_update("node1", fields)
    assert (req.method, req.path, req.json) == ("POST", f"/slurm/{version}/node/node1", fields)
    kinds = REQUEST_SCHEMAS[version]["update_node_msg"]
    assert set(req.json) <= set(kinds)
    assert kinds["state"] == "array"


def test_submit_body_v0038_matches_the_recorded_request() -> None:
    recorded_body = record("v0.0.38", "job_submit_simple")["request"]["body"]
    job = {k: v for k, v in recorded_body["job"].items() if k != "environment"}
    body = get_adapter("v0.0.38").job_submit_body(
        job, script=recorded_body["script"], environment=recorded_body["job"]["environment"]
    )
    assert body == recorded_body  # script beside job, environment as an object
    req = get_adapter("v0.0.38").job_submit(body)
    assert (req.method, req.path, req.idempotent) == ("POST", "/slurm/v0.0.38/job/submit", False)


@pytest.mark.parametrize(
    "version", ["v0.0.40", "v0.0.41", "v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"]
)
def test_submit_body_matches_the_recorded_request(version: str) -> None:
    recorded_body = record(version, "job_submit")["request"]["body"]
    job = {k: v for k, v in recorded_body["job"].items() if k not in ("script", "environment")}
    env = dict(e.split("=", 1) for e in recorded_body["job"]["environment"])
    body = get_adapter(version).job_submit_body(
        job, script=recorded_body["job"]["script"], environment=env
    )
    assert body == recorded_body  # script and environment list inside job
    assert get_adapter(version).parse_submit(response(version, "job_submit")) > 0


def test_submit_body_v0039_and_time_limit() -> None:
    body = get_adapter("v0.0.39").job_submit_body(
        {"name": "t", "time_limit": 5}, script="#!/bin/sh\ntrue\n", environment={"A": "1"}
    )
    assert body["script"].startswith("#!")
    assert body["job"]["environment"] == ["A=1"]
    assert body["job"]["time_limit"] == {"set": True, "infinite": False, "number": 5}
    with pytest.raises(ValueError, match="script"):
        get_adapter("v0.0.39").job_submit_body({}, script="echo no shebang")


def test_v0038_submit_response() -> None:
    assert get_adapter("v0.0.38").parse_submit(response("v0.0.38", "job_submit_simple")) == 1


def test_accounting_query_parameters() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    naive_end = datetime(2026, 1, 2)
    new = get_adapter("v0.0.42").accounting_jobs(
        start=start, end=naive_end, users=["alice", "bob"], accounts="physics"
    )
    assert new.params == {
        "start_time": str(int(start.timestamp())),
        "end_time": str(int(naive_end.replace(tzinfo=UTC).timestamp())),
        "users": "alice,bob",
        "account": "physics",
    }
    old = get_adapter("v0.0.38").accounting_jobs(users="alice")
    assert old.params is None  # dbv0.0.38 has no users filter: applied client side
    # dbv0.0.38 refuses UNIX timestamps: times go relative to the server's "now"
    now = datetime.now(UTC)
    old = get_adapter("v0.0.38").accounting_jobs(
        start=now - timedelta(hours=1), end=now.timestamp() + 30
    )
    assert old.params is not None
    start_s, end_s = old.params["start_time"], old.params["end_time"]
    assert start_s in ("now-3600", "now-3601", "now-3599")
    assert end_s in ("now+30", "now+29", "now+31")
    params = get_adapter("v0.0.38").accounting_jobs(start=now).params
    assert params in ({"start_time": "now"}, {"start_time": "now-1"})
    # v0.0.40/41 (24.11) refuse UNIX timestamps too; v0.0.42+ take them
    for version in CLIENT_VERSIONS:
        sent = get_adapter(version).accounting_jobs(start=now - timedelta(hours=1)).params
        assert sent is not None
        relative = version in ("v0.0.38", "v0.0.40", "v0.0.41")
        assert sent["start_time"].startswith("now-") is relative, version
    with pytest.raises(ValueError, match="users"):
        get_adapter("v0.0.41").accounting_jobs(users=["a,b"])


@pytest.mark.parametrize("bad", [0, -3, True, "abc", "12/3", "12_", "_3", "", 1.5, None, "007"])
def test_job_id_is_validated_naming_the_parameter(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="job_id"):
        get_adapter("v0.0.42").job_get(bad)


@pytest.mark.parametrize("bad", ["", "a/b", "n?x", "a b", 5])
def test_names_are_validated_naming_the_parameter(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="name"):
        get_adapter("v0.0.42").node_get(bad)


def test_large_listings_take_the_low_memory_decoder() -> None:
    """Bodies over 8 MiB are decoded by the stdlib json (lower peak memory than orjson)."""
    from slurm_core._versions import _responses as base

    body = _jobs_body()
    template = body["jobs"][0]
    body["jobs"] = [{**template, "job_id": i + 1} for i in range(2000)]
    content = json.dumps(body).encode()
    assert len(content) > base._LARGE_BODY
    jobs = get_adapter("v0.0.45").parse_jobs(response("v0.0.45", "jobs", content=content))
    assert [j.job_id for j in jobs] == list(range(1, 2001))
    small = get_adapter("v0.0.45").parse_jobs(response("v0.0.45", "jobs", body=_jobs_body()))
    assert jobs[0].model_dump(exclude={"job_id", "raw"}) == small[0].model_dump(
        exclude={"job_id", "raw"}
    )
    with pytest.raises(ResponseValidationError, match="truncated"):
        get_adapter("v0.0.45").parse_jobs(response("v0.0.45", "jobs", content=content[:-100]))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["set", "infinite", "number", "id", "x"]), children, max_size=4
        )
    ),
    max_leaves=8,
)


@pytest.mark.parametrize(
    ("version", "name", "method"),
    [
        ("v0.0.38", "jobs_after", "parse_jobs"),
        ("v0.0.45", "jobs", "parse_jobs"),
        ("v0.0.41", "slurmdb_jobs", "parse_accounting_jobs"),
        ("v0.0.38", "nodes", "parse_nodes"),
        ("v0.0.44", "partitions", "parse_partitions"),
        ("v0.0.38", "partitions", "parse_partitions"),
    ],
)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_garbage_in_any_field_is_parsed_or_a_typed_error(
    version: str, name: str, method: str, data: st.DataObject
) -> None:
    """Whatever a field holds, the result is a model or a ResponseValidationError."""
    body = record(version, name)["response"]["body"]
    key = next(k for k in body if isinstance(body[k], list) and body[k])
    item = body[key][0]
    field = data.draw(st.sampled_from(sorted(item)))
    item[field] = data.draw(JSON_VALUES)
    error: ResponseValidationError | None = None
    try:
        getattr(get_adapter(version), method)(response(version, name, body=body))
    except ResponseValidationError as exc:
        error = exc
    if error is not None:
        assert error.path is not None
        assert error.path.startswith(f"{key}[0]")
