"""JobSpec -> job/submit body for every REST API version, and the job record back.

Property tests over generated specs, for each of v0.0.38-v0.0.45:

* the body validates against the version's OpenAPI submission schema
  (``tests/data/openapi/<version>.json``);
* the record slurmctld makes of it, parsed by the adapter, reads back (``reported_fields``)
  to the spec's values. :func:`record_of` is this file's model of that record, per
  version; the integration tests (tests/integration/test_submit.py) check the same
  readback against real 22.05, 24.11 and 26.05.

Example tests pin each difference found on the real servers.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slurm_core import UnsupportedOperationError
from slurm_core._versions import CLIENT_VERSIONS, get_adapter
from slurm_core._versions._submit import (
    NO_REQUEUE_OPERATION,
    SCRIPT_ARGS_OPERATION,
    SIGNAL_BATCH_OPERATION,
    place_body,
    reported_fields,
    submit_body,
    submit_format,
    submitted,
)
from slurm_core.jobs import (
    ArraySpec,
    Exclusive,
    GresRequest,
    JobBuilder,
    JobSpec,
    MailType,
    SignalSpec,
    TrainingJob,
    build_dependency,
)
from slurm_core.models import INFINITE

DOCS = Path(__file__).parent.parent / "data" / "openapi"
NOW = 1_800_000_000.0
SCRIPT = "#!/bin/bash\necho hi\n"
LEGACY = "v0.0.38"

# --------------------------------------------------------------------------- strategies --
texts = st.text(
    alphabet=st.characters(exclude_characters="\x00\n\r", codec="utf-8"), min_size=1, max_size=12
).filter(str.strip)
gres_types = st.none() | st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
gres = st.builds(
    GresRequest,
    name=st.sampled_from(["gpu", "nvme", "shard"]),
    type=gres_types,
    count=st.integers(1, 64),
)
fields: dict[str, st.SearchStrategy[Any]] = {
    "name": texts,
    "partition": texts,
    "account": texts,
    "qos": texts,
    "comment": texts,
    "constraint": texts,
    "time_limit": st.integers(1, 10**6).map(lambda m: timedelta(minutes=m)) | st.just(INFINITE),
    "cpus_per_task": st.integers(1, 256),
    "ntasks": st.integers(1, 4096),
    "ntasks_per_node": st.integers(1, 256),
    "gpus": st.builds(GresRequest, name=st.just("gpu"), type=gres_types, count=st.integers(1, 8)),
    "gres": st.lists(gres, max_size=3).map(tuple),
    "exclusive": st.sampled_from(list(Exclusive)),
    "requeue": st.booleans(),
    "hold": st.booleans(),
    "signal": st.builds(
        SignalSpec,
        signal=st.sampled_from(["USR1", "USR2", "TERM", "10"]),
        delay=st.integers(0, 65535),
        batch_only=st.booleans(),
        reservation=st.booleans(),
    ),
    "nice": st.integers(-10000, 10000),
    "begin": st.integers(-86400, 10**7).map(
        lambda s: datetime.fromtimestamp(NOW + s, timezone.utc)
    ),
    "mail_types": st.lists(st.sampled_from(list(MailType)), unique=True).map(tuple),
    "mail_user": texts,
    "environment": st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
        st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=8),
        max_size=3,
    ),
    "working_directory": texts.map(lambda t: "/w/" + t),
    "output": texts,
    "error": texts,
    "dependency": st.builds(
        lambda ok, any_, single, or_: build_dependency(
            afterok=ok, afterany=any_, singleton=single, any_of=or_
        ),
        st.lists(st.integers(1, 10**6), min_size=1, max_size=3),
        st.lists(st.integers(1, 10**6), max_size=2),
        st.booleans(),
        st.booleans(),
    ),
    "array": st.sampled_from(["0-9%2", "1,3,5", "0-15:4", "7"]).map(ArraySpec.parse),
    "submission_key": st.from_regex(r"sck-[0-9a-f]{8}", fullmatch=True),
    # read from batch scripts (JobSpec.from_sbatch)
    "time_min": st.integers(1, 10**6).map(lambda m: timedelta(minutes=m)),
    "cpus_per_gpu": st.integers(1, 256),
    "gpus_per_node": st.builds(
        GresRequest, name=st.just("gpu"), type=gres_types, count=st.integers(1, 8)
    ),
    "gpus_per_task": st.builds(
        GresRequest, name=st.just("gpu"), type=gres_types, count=st.integers(1, 8)
    ),
    "input": texts,
    "licenses": texts,
    "reservation": texts,
    "wckey": texts,
    "deadline": st.integers(1, 10**7).map(lambda s: datetime.fromtimestamp(NOW + s, timezone.utc)),
    "argv": st.lists(texts, min_size=1, max_size=3).map(tuple),
}


@st.composite
def specs(draw: st.DrawFn) -> JobSpec:
    chosen = draw(st.sets(st.sampled_from(sorted(fields))))
    data: dict[str, Any] = {f: draw(fields[f]) for f in chosen}
    if "gpus_per_node" in data and "gres" in data:
        data["gres"] = tuple(g for g in data["gres"] if g.name != "gpu")
    memory = draw(st.sampled_from(["memory_per_cpu", "memory_per_node", "memory_per_gpu", None]))
    if memory:
        data[memory] = draw(st.integers(1, 2**30))
    if draw(st.booleans()):
        data["nodes"] = low = draw(st.integers(1, 512))
        if draw(st.booleans()):
            data["max_nodes"] = draw(st.integers(low, 1024))
    return JobSpec.model_validate({"script": SCRIPT, **data})


def legacy_refuses(spec: JobSpec) -> bool:
    if spec.argv is not None and len(spec.argv) > 1:  # 22.05's slurmrestd dies on argv
        return True
    return spec.requeue is False or (spec.signal is not None and spec.signal.batch_only)


# ------------------------------------------------------------------------ the schemas ----
jsonschema = pytest.importorskip("jsonschema")
_validators: dict[str, Any] = {}


def validator(version: str) -> Any:
    if version not in _validators:
        doc = json.loads((DOCS / f"{version}.json").read_text())
        op = doc["paths"][f"/slurm/{version}/job/submit"]["post"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        _validators[version] = jsonschema.Draft4Validator(
            {**schema, "components": doc["components"]}
        )
    return _validators[version]


def schema_errors(version: str, body: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:160]}"
        for e in validator(version).iter_errors(body)
    ]


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_every_spec_renders_a_body_the_schema_accepts(version: str, spec: JobSpec) -> None:
    adapter = get_adapter(version)
    if version == LEGACY and legacy_refuses(spec):
        with pytest.raises(UnsupportedOperationError) as refused:
            submit_body(adapter, [spec], now=NOW)
        assert refused.value.operation in (
            SIGNAL_BATCH_OPERATION,
            NO_REQUEUE_OPERATION,
            SCRIPT_ARGS_OPERATION,
        )
        assert refused.value.version == LEGACY
        return
    body = submit_body(adapter, [spec], now=NOW)
    assert schema_errors(version, _begin_checked(version, body)) == []
    het = submit_body(adapter, [spec, spec.replace(name="second")], now=NOW)
    assert len(het["jobs"]) == 2
    assert schema_errors(version, _begin_checked(version, het)) == []


# Where 22.05 (v0.0.38) contradicts its own schema, the server wins (checked on 22.05.8):
# begin_time: the schema says integer, the server refuses integers and takes "now+N";
# exclusive: the schema allows "true", the server refuses it and takes "exclusive";
# signal: the schema's "pattern" is prose ("(B:|)sig_num(@sig_time|)"), and "B:" is refused.
_V38_SERVER_FORMS = {
    "begin_time": re.compile(r"now(\+[1-9]\d*)?"),
    "nodes": re.compile(r"\d+-\d+"),
    "exclusive": re.compile(r"exclusive"),
    "signal": re.compile(r"(R:)?[A-Z0-9]{1,8}@\d{1,5}"),
}


def _begin_checked(version: str, body: dict[str, Any]) -> dict[str, Any]:
    """Check the v0.0.38 fields the schema gets wrong, and leave them out of its check."""
    if version == LEGACY:
        for job in body.get("jobs") or [body["job"]]:
            for key, form in _V38_SERVER_FORMS.items():
                if key in job and form.fullmatch(str(job[key])):
                    del job[key]
    return body


# ------------------------------------------------------------------ the record, modelled --
def _num(version: str, value: Any) -> Any:
    if version == LEGACY:
        return value
    if value is None:
        return {"set": False, "infinite": False, "number": 0}
    if value is INFINITE:
        return {"set": False, "infinite": True, "number": 0}
    return {"set": True, "infinite": False, "number": value}


def record_of(version: str, desc: dict[str, Any]) -> dict[str, Any]:
    """The job record slurmctld reports for a submitted job description (as observed)."""
    legacy = version == LEGACY

    def n(v: Any) -> Any:
        return _num(version, v)

    def plain(v: Any) -> Any:
        return v["number"] if isinstance(v, dict) else v

    rec: dict[str, Any] = {
        "job_id": 7,
        "name": desc.get("name", ""),
        "job_state": "PENDING" if legacy else ["PENDING"],
        "comment": desc.get("comment", ""),
        "requeue": True if legacy else desc.get("requeue", True),  # 22.05 ignores false
        "priority": n(0 if desc.get("hold") else 1),
    }
    for key in ("partition", "account", "qos", "mail_user", "current_working_directory"):
        if key in desc and not (legacy and key == "mail_user"):
            rec[key] = desc[key]
    for key in ("standard_output", "standard_error"):
        rec[key] = desc.get(key, "")
    if not legacy:
        rec["hold"] = bool(desc.get("hold"))
    limit = desc.get("time_limit")
    if limit is not None:
        unlimited = limit == 0xFFFFFFFF or (isinstance(limit, dict) and limit["infinite"])
        rec["time_limit"] = (None if legacy else n(INFINITE)) if unlimited else n(plain(limit))
    for key in ("memory_per_cpu", "memory_per_node", "tasks", "tasks_per_node"):
        if key in desc:
            rec[key] = n(plain(desc[key]))
    cpus = desc.get("cpus_per_task", 1)
    rec["cpus_per_task"] = None if legacy and cpus == 1 else n(cpus)
    if legacy and isinstance(desc.get("nodes"), str):  # "min-max": the count is set
        low, high = map(int, desc["nodes"].split("-"))
        rec["node_count"], rec["max_nodes"] = low, high
    elif legacy and "nodes" in desc:
        low, high = desc["nodes"]
        rec["node_count"], rec["max_nodes"] = low, 0 if high == low else high
    elif "minimum_nodes" in desc:
        rec["node_count"], rec["max_nodes"] = n(desc["minimum_nodes"]), n(desc["maximum_nodes"])
    prefix = "gres:" if legacy else ""
    if "gpus" in desc:
        rec["tres_per_job"] = f"gres:gpu:{desc['gpus']}"
    if "tres_per_job" in desc:
        rec["tres_per_job"] = desc["tres_per_job"]
    if "gres" in desc:
        rec["tres_per_node"] = ",".join(prefix + g for g in desc["gres"].split(","))
    if "tres_per_node" in desc:
        rec["tres_per_node"] = desc["tres_per_node"]
    if "exclusive" in desc:
        rec["shared"] = {"exclusive": "none"}.get(desc["exclusive"], desc["exclusive"])
    if "shared" in desc:
        rec["shared"] = [] if version == "v0.0.45" else desc["shared"]  # 26.05 reports []
    if "nice" in desc:
        rec["nice"] = desc["nice"] or (None if legacy else 0)
    if "begin_time" in desc:
        begin = desc["begin_time"]
        if isinstance(begin, str):  # v0.0.38: "now+N" from the server's clock
            begin = int(NOW) + (int(begin[4:]) if begin.startswith("now+") else 0)
        rec["eligible_time"] = n(plain(begin))
    if "mail_type" in desc and not legacy:
        rec["mail_type"] = desc["mail_type"]
    if "dependency" in desc:
        rec["dependency"] = _reported_dependency(desc["dependency"])
    if "array" in desc:
        rec["array_job_id"], rec["array_task_id"] = n(7), n(None)
        rec["array_task_string"] = desc["array"]
    return rec


def _reported_dependency(text: str) -> str:
    sep = "?" if "?" in text else ","
    out = []
    for term in text.split(sep):
        kind, *jobs = term.split(":")
        out += [f"{kind}:{j}(unfulfilled)" for j in jobs] or [f"{kind}(unfulfilled)"]
    return sep.join(out)


_ALL = {MailType[n] for n in ("BEGIN", "END", "FAIL", "REQUEUE", "STAGE_OUT")}
_ALL.add(MailType.INVALID_DEPENDENCY)
_UNREPORTED = {LEGACY: {"mail_types", "mail_user"}, "v0.0.45": {"exclusive"}}


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_the_job_record_reads_back_to_the_spec(version: str, spec: JobSpec) -> None:
    if version == LEGACY and legacy_refuses(spec):
        return
    adapter = get_adapter(version)
    body = submit_body(adapter, [spec], now=NOW)
    record = record_of(version, body["job"])
    job = adapter.parse_job(httpx.Response(200, json={"jobs": [record]}), 7)
    got = reported_fields(job)
    for field, value in got.items():
        wanted = getattr(spec, field)
        if wanted in (None, ()) or field in _UNREPORTED.get(version, ()):
            continue
        if field == "time_limit" and version == LEGACY and wanted is INFINITE:
            assert value is None  # v0.0.38 reports an unlimited time limit as null
            continue
        if field == "dependency":
            wanted = wanted.canonical()
        if field == "gres" and spec.gpus_per_node is not None and version != LEGACY:
            wanted = (spec.gpus_per_node, *wanted)  # both are the per-node TRES string
        if field == "mail_types" and MailType.ALL in wanted:  # sent expanded
            wanted = tuple(m for m in MailType if m in _ALL or (m in wanted and m != MailType.ALL))
        if field == "begin" and version == LEGACY and wanted.timestamp() < NOW:
            wanted = datetime.fromtimestamp(NOW, timezone.utc)  # sent as "now"
        assert value == wanted, f"{version} {field}: sent {wanted!r}, read back {value!r}"


# ---------------------------------------------------------------- what the servers taught --
def _job(version: str, builder: JobBuilder) -> dict[str, Any]:
    body = submit_body(get_adapter(version), [builder.to_spec()], now=NOW)
    return dict(body["job"])


def _b() -> JobBuilder:
    return JobBuilder().script(SCRIPT)


def test_v0038_sbatch_style_fields() -> None:
    job = _job(
        LEGACY,
        _b()
        .nodes(2, 4)
        .gpus(2, type="a100")
        .gres("gpu:1", "nvme:2")
        .exclusive()
        .signal("R:USR1@30")
        .mail("ALL", "TIME_LIMIT_90")
        .begin(datetime.fromtimestamp(NOW + 90, timezone.utc))
        .time_limit("UNLIMITED")
        .constraint("a&b")
        .ntasks(4)
        .ntasks_per_node(2),
    )
    assert job["nodes"] == [2, 4]  # a list of exactly two: [1] is refused
    assert job["gpus"] == "a100:2"
    assert job["gres"] == "gpu:1,nvme:2"
    assert job["exclusive"] == "exclusive"  # "true" is refused by 22.05
    assert job["signal"] == "R:USR1@30"
    assert job["mail_type"] == "ALL,TIME_LIMIT_90"
    assert job["begin_time"] == "now+90"  # an epoch is refused; ISO is read in server TZ
    assert job["time_limit"] == 0xFFFFFFFF  # INFINITE; the schema wants an integer
    assert (job["constraints"], job["tasks"], job["tasks_per_node"]) == ("a&b", 4, 2)
    assert _job(LEGACY, _b().nodes(3))["nodes"] == [3, 3]
    assert _job(LEGACY, _b().exclusive("user"))["exclusive"] == "user"
    past = datetime.fromtimestamp(NOW - 5, timezone.utc)
    assert _job(LEGACY, _b().begin(past))["begin_time"] == "now"


def test_v0038_refuses_what_22_05_cannot_do() -> None:
    with pytest.raises(UnsupportedOperationError) as batch:
        _job(LEGACY, _b().signal("B:USR2@300"))
    assert batch.value.operation == SIGNAL_BATCH_OPERATION
    assert "v0.0.39" in batch.value.supported_in
    with pytest.raises(UnsupportedOperationError) as requeue:
        _job(LEGACY, _b().requeue(False))
    assert requeue.value.operation == NO_REQUEUE_OPERATION
    assert _job(LEGACY, _b().requeue(True))["requeue"] is True


@pytest.mark.parametrize("version", [v for v in CLIENT_VERSIONS if v != LEGACY])
def test_data_parser_versions(version: str) -> None:
    job = _job(
        version,
        _b()
        .nodes(2, 4)
        .gpus(2, type="a100")
        .gres("gpu:1", "nvme:2")
        .exclusive("mcs")
        .signal("B:USR2@300")
        .mail("ALL", "TIME_LIMIT_90")
        .begin(datetime.fromtimestamp(NOW + 90, timezone.utc))
        .time_limit("UNLIMITED")
        .requeue(False),
    )
    assert (job["minimum_nodes"], job["maximum_nodes"]) == (2, 4)
    assert job["tres_per_job"] == "gres/gpu:a100:2"
    assert job["tres_per_node"] == "gres/gpu:1,gres/nvme:2"
    assert job["shared"] == ["mcs"]
    assert job["kill_warning_signal"] == "USR2"
    assert job["kill_warning_flags"] == ["BATCH_JOB"]
    assert job["kill_warning_delay"] == {"set": True, "infinite": False, "number": 300}
    assert job["mail_type"] == [
        "BEGIN", "END", "FAIL", "REQUEUE", "STAGE_OUT", "INVALID_DEPENDENCY", "TIME=90%"
    ]  # fmt: skip
    begin = int(NOW) + 90
    assert job["begin_time"] == (
        begin if version == "v0.0.39" else {"set": True, "infinite": False, "number": begin}
    )
    assert job["time_limit"] == {"set": False, "infinite": True, "number": 0}
    assert job["requeue"] is False
    assert _job(version, _b().exclusive())["shared"] == ["none"]


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_script_environment_and_key_placement(version: str) -> None:
    spec = _b().environment({"FOO": "1"}).comment("mine").submission_key("sck-1").to_spec()
    body = submit_body(get_adapter(version), [spec])
    job = body["job"]
    env = {"PATH": "/bin:/usr/bin", "FOO": "1"}
    if version == LEGACY:
        assert job["environment"] == env
    else:
        assert job["environment"] == ["PATH=/bin:/usr/bin", "FOO=1"]
    in_job = submit_format(get_adapter(version)).script_in_job
    assert (job.get("script"), body.get("script")) == ((SCRIPT, None) if in_job else (None, SCRIPT))
    assert job["comment"] == "mine [slurm-client:sck-1]"
    own_path = submit_body(get_adapter(version), [spec.replace(environment={"PATH": "/x"})])
    assert "PATH=/bin:/usr/bin" not in str(own_path)


def test_recorded_22_05_request_is_what_the_translator_sends() -> None:
    recorded = {
        "script": "#!/bin/bash\necho hi\n",
        "job": {
            "name": "simple",
            "current_working_directory": "/tmp/slurm-testbed/jobs",
            "standard_output": "/tmp/slurm-testbed/jobs/simple-%j.out",
            "standard_error": "/tmp/slurm-testbed/jobs/simple-%j.err",
            "environment": {"PATH": "/usr/bin:/bin", "FOO": "bar"},
            "partition": "debug",
            "time_limit": 5,
        },
    }
    spec = (
        _b()
        .name("simple")
        .working_directory("/tmp/slurm-testbed/jobs")
        .output("/tmp/slurm-testbed/jobs/simple-%j.out")
        .error("/tmp/slurm-testbed/jobs/simple-%j.err")
        .environment({"PATH": "/usr/bin:/bin", "FOO": "bar"})
        .partition("debug")
        .time_limit(5)
        .to_spec()
    )
    assert submit_body(get_adapter(LEGACY), [spec]) == recorded


def test_place_body_refuses_a_script_without_shebang() -> None:
    with pytest.raises(ValueError, match="script"):
        place_body(submit_format(get_adapter("v0.0.42")), [{}], "echo", [{}])


# --------------------------------------------------------------------- the answer ----
def _answer(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body, request=httpx.Request("POST", "http://x/job/submit"))


def test_a_held_22_05_job_is_success_with_a_warning() -> None:
    answer = {
        "errors": [
            {"error_code": 2042, "error": "Job is in held state, pending scheduler release"}
        ],
        "job_id": 5,
        "step_id": "BATCH",
        "job_submit_user_msg": "",
    }
    got = submitted(get_adapter(LEGACY), _answer(answer), "sck-1")
    assert (got.job_id, got.step_id, got.submission_key) == (5, "batch", "sck-1")
    assert got.warnings == ["Job is in held state, pending scheduler release"]


def test_24_11_result_and_warnings_are_deduplicated() -> None:
    held = "Job is in held state, pending scheduler release"
    answer = {
        "result": {"job_id": 4, "step_id": "batch", "error_code": 2042, "error": held},
        "job_id": 4,
        "step_id": "batch",
        "job_submit_user_msg": "site says hi",
        "errors": [],
        "warnings": [
            {"description": f"Job submission resulted in non-zero return code: {held}"},
            {"description": held},
        ],
    }
    got = submitted(get_adapter("v0.0.40"), _answer(answer), None)
    assert got.job_id == 4
    assert got.warnings == [
        f"Job submission resulted in non-zero return code: {held}",
        "site says hi",
    ]


@pytest.mark.parametrize("version", CLIENT_VERSIONS)
def test_a_training_spec_works_everywhere(version: str) -> None:
    spec = TrainingJob().command(["python", "t.py"]).with_checkpointing().to_spec()
    assert spec.signal is not None
    assert spec.signal.batch_only
    job = submit_body(get_adapter(version), [spec])["job"]
    env = (
        job["environment"]
        if version == LEGACY
        else dict(e.split("=", 1) for e in job["environment"])
    )
    if version == LEGACY:  # refused by 22.05: the wrapper's watchdog instead
        assert ("signal" not in job, env["SLURM_CLIENT_WATCHDOG"]) == (True, "1")
    else:
        assert (job["kill_warning_flags"], env["SLURM_CLIENT_WATCHDOG"]) == (["BATCH_JOB"], "0")
