"""The versionless public models: states, exit codes, INFINITE, immutability, fast building."""

from __future__ import annotations

import json
import pickle
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from slurm_core._versions import get_adapter
from slurm_core.models import (
    INFINITE,
    TRES,
    ExitCode,
    Job,
    JobBaseState,
    JobState,
    Node,
    SlurmModel,
)

DATA = Path(__file__).parent.parent / "data" / "responses"


def recorded(version: str, name: str) -> httpx.Response:
    rec = json.loads((DATA / version / f"{name}.json").read_text())
    req = rec["request"]
    return httpx.Response(
        rec["response"]["status"],
        json=rec["response"]["body"],
        request=httpx.Request(req["method"], "http://slurm.test" + req["path"]),
    )


# -- JobState ----------------------------------------------------------------------------
def test_state_single_string_and_list_forms_are_equal() -> None:
    assert JobState.parse("COMPLETED") == JobState.parse(["COMPLETED"])
    st_ = JobState.parse(["PENDING", "REQUEUED"])
    assert st_.base is JobBaseState.PENDING
    assert st_.flags == frozenset({"REQUEUED"})
    assert str(st_) == "PENDING+REQUEUED"


def test_state_flags_before_base_still_find_the_base() -> None:
    st_ = JobState.parse(["COMPLETING", "CANCELLED"])
    assert st_.base is JobBaseState.CANCELLED
    assert st_.flags == {"COMPLETING"}
    assert not st_.is_finished  # still completing


def test_unknown_states_are_preserved_as_strings() -> None:
    st_ = JobState.parse(["WARPED", "NEW_FLAG"])
    assert st_.base == "WARPED"
    assert not isinstance(st_.base, JobBaseState)
    assert st_.flags == {"NEW_FLAG"}
    assert not st_.is_finished
    assert not st_.is_running
    assert not st_.is_pending
    assert JobState.parse("").base == "UNKNOWN"
    assert JobState.parse(None).base == "UNKNOWN"


def test_state_predicates() -> None:
    assert JobState.parse("PENDING").is_pending
    assert JobState.parse("RUNNING").is_running
    assert JobState.parse("SUSPENDED").is_running
    assert JobState.parse("FAILED").is_finished
    assert not JobState.parse("FAILED").is_success
    assert JobState.parse("COMPLETED").is_success
    assert JobState.parse(["TIMEOUT"]).is_finished


def test_state_lower_case_is_normalized() -> None:
    assert JobState.parse("completed").base is JobBaseState.COMPLETED


def test_validated_states_use_the_enum() -> None:
    assert JobState.model_validate({"base": "RUNNING"}).base is JobBaseState.RUNNING
    assert JobState.model_validate({"base": "NEW_THING"}).base == "NEW_THING"


def test_equal_states_share_one_instance() -> None:
    # Listings of 10k jobs repeat a handful of states: one object each.
    assert JobState.parse(["RUNNING"]) is JobState.parse(["RUNNING"])


# -- ExitCode ----------------------------------------------------------------------------
def test_wait_status_768_is_exit_3() -> None:
    ec = ExitCode.from_wait_status(768)
    assert (ec.status, ec.return_code, ec.signal) == ("ERROR", 3, None)
    assert not ec.ok


def test_wait_status_signal_and_core_dump() -> None:
    assert ExitCode.from_wait_status(15) == ExitCode.of("SIGNALED", None, 15)
    core = ExitCode.from_wait_status(0x80 | 11)
    assert (core.status, core.signal, core.return_code) == ("CORE_DUMPED", 11, None)
    assert ExitCode.from_wait_status(0).ok


@given(st.integers(min_value=0, max_value=255))
def test_wait_status_roundtrip_exit(rc: int) -> None:
    ec = ExitCode.from_wait_status(rc << 8)
    assert ec.return_code == rc
    assert ec.signal is None
    assert ec.ok == (rc == 0)


@given(st.integers(min_value=1, max_value=127))
def test_wait_status_roundtrip_signal(sig: int) -> None:
    ec = ExitCode.from_wait_status(sig)
    assert ec.signal == sig
    assert ec.return_code is None
    assert not ec.ok


# -- INFINITE ------------------------------------------------------------------------------
def test_infinite_is_a_typed_singleton() -> None:
    assert repr(INFINITE) == "INFINITE"
    assert pickle.loads(pickle.dumps(INFINITE)) is INFINITE  # noqa: S301 - our own object
    job = Job.model_validate(
        {"job_id": 1, "name": "x", "state": JobState.parse("RUNNING"), "time_limit": INFINITE}
    )
    assert job.time_limit is INFINITE
    assert json.loads(job.model_dump_json())["time_limit"] == "INFINITE"


def test_time_limit_rejects_other_values() -> None:
    with pytest.raises(ValidationError):
        Job.model_validate(
            {"job_id": 1, "name": "x", "state": JobState.parse("RUNNING"), "time_limit": "lots"}
        )


# -- immutability and strictness -----------------------------------------------------------
def test_models_are_frozen() -> None:
    job = Job.model_validate({"job_id": 1, "name": "x", "state": JobState.parse("RUNNING")})
    with pytest.raises(ValidationError):
        job.name = "y"  # type: ignore[misc]


def test_unknown_model_fields_are_rejected_when_validating() -> None:
    with pytest.raises(ValidationError):
        Job.model_validate(
            {"job_id": 1, "name": "x", "state": JobState.parse("RUNNING"), "colour": "red"}
        )


def _all_parsed() -> list[SlurmModel]:
    out: list[SlurmModel] = []
    for version in ("v0.0.38", "v0.0.39", "v0.0.41", "v0.0.45"):
        a = get_adapter(version)
        names = {p.stem for p in (DATA / version).glob("*.json")}
        out += a.parse_jobs(recorded(version, "jobs_after" if version == "v0.0.38" else "jobs"))
        out += a.parse_nodes(recorded(version, "nodes"))
        out += a.parse_partitions(recorded(version, "partitions"))
        out += a.parse_reservations(recorded(version, "reservations"))
        out += a.parse_licenses(recorded(version, "licenses"))
        out.append(a.parse_diag(recorded(version, "diag")))
        if "ping" in names:
            out += a.parse_pings(recorded(version, "ping"))
        out += a.parse_accounting_jobs(recorded(version, "slurmdb_jobs"))
        out += a.parse_accounts(recorded(version, "slurmdb_accounts"))
        out += a.parse_users(recorded(version, "slurmdb_users"))
        out += a.parse_associations(recorded(version, "slurmdb_associations"))
        out += a.parse_qos(recorded(version, "slurmdb_qos"))
        out += a.parse_tres(recorded(version, "slurmdb_tres"))
    return out


def test_fast_built_models_equal_validated_models() -> None:
    """``_build`` skips validation; every parsed model must survive full validation unchanged.

    This catches a misspelt field (extra="forbid"), a value of the wrong type, or a
    missing field in any parser, for every model type and version.
    """
    models = _all_parsed()
    kinds = {type(m).__name__ for m in models}
    assert {"Job", "Node", "Partition", "Reservation", "License", "Diag", "Ping"} <= kinds
    assert {"AccountingJob", "Account", "User", "Association", "QOS", "TRES"} <= kinds
    for m in models:
        values: dict[str, Any] = dict(m.__dict__)
        again = type(m).model_validate(values)
        assert again == m, type(m).__name__
        assert set(values) == set(type(m).model_fields), type(m).__name__


def test_times_are_aware_utc() -> None:
    for m in _all_parsed():
        for value in m.__dict__.values():
            if isinstance(value, datetime):
                assert value.tzinfo is timezone.utc


def test_tres_key_and_node_helpers() -> None:
    assert TRES(type="gres", name="gpu", id=1001, count=2).key == "gres/gpu"
    assert TRES(type="cpu").key == "cpu"
    drained = Node.model_validate({"name": "n1", "state": "IDLE", "state_flags": {"DRAIN"}})
    assert drained.is_drained
    assert not drained.is_available
    assert Node.model_validate({"name": "n2", "state": "MIXED"}).is_available


def test_job_id_string_for_array_tasks() -> None:
    base = {"name": "a", "state": JobState.parse("RUNNING")}
    assert (
        Job.model_validate({**base, "job_id": 7, "array_job_id": 6, "array_task_id": 0}).id_string
        == "6_0"
    )
    assert Job.model_validate({**base, "job_id": 7}).id_string == "7"


def test_time_limit_is_a_timedelta() -> None:
    jobs = get_adapter("v0.0.38").parse_jobs(recorded("v0.0.38", "jobs_after"))
    assert jobs[0].time_limit == timedelta(minutes=5)
