"""Unit tests of slurm_airflow: connection translation, provider registration, and (on
slurm_core.testing fakes) the trigger, operator and sensor logic. No cluster needed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection
from slurm_airflow.hooks.slurm import SlurmHook, settings_from_connection

from slurm_core import ConfigurationError, SlurmClient
from slurm_core.auth import JWTKeyAuth, StaticToken, TokenCommand, TokenFile

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"


def conn(
    *,
    host: str | None = "slurm.example.org",
    port: int | None = 6820,
    schema: str | None = None,
    login: str | None = None,
    password: str | None = TOKEN,
    **extra: Any,
) -> Connection:
    return Connection(
        conn_id="slurm_test",
        conn_type="slurm",
        host=host,
        port=port,
        schema=schema,
        login=login,
        password=password,
        extra=json.dumps(extra) if extra else None,
    )


# ------------------------------------------------------------------ URL ----------------------
@pytest.mark.parametrize(
    ("host", "port", "schema", "url"),
    [
        ("slurm.example.org", 6820, None, "http://slurm.example.org:6820"),
        ("slurm.example.org", 6820, "https", "https://slurm.example.org:6820"),
        ("slurm.example.org", None, "HTTPS", "https://slurm.example.org"),
        ("https://slurm.example.org", 8443, None, "https://slurm.example.org:8443"),
        ("https://slurm.example.org:8443", None, "https", "https://slurm.example.org:8443"),
        ("https://slurm.example.org:8443", 8443, None, "https://slurm.example.org:8443"),
        ("https://gw.example.org/slurmrestd/", None, None, "https://gw.example.org/slurmrestd"),
        ("::1", 6820, None, "http://[::1]:6820"),
        ("  127.0.0.1 ", 6820, "http", "http://127.0.0.1:6820"),
    ],
)
def test_url_from_host_port_schema(
    host: str, port: int | None, schema: str | None, url: str
) -> None:
    assert settings_from_connection(conn(host=host, port=port, schema=schema)).url == url


@pytest.mark.parametrize(
    ("host", "port", "schema", "message"),
    [
        (None, 6820, None, "url is required (or a socket)"),
        ("", 6820, None, "url is required (or a socket)"),
        ("slurm.example.org", 6820, "ftp", "schema must be http or https, got 'ftp'"),
        ("ftp://slurm.example.org", 6820, None, "schema must be http or https"),
        ("https://slurm.example.org", 6820, "http", "contradicts the scheme"),
        ("https://slurm.example.org:8443", 6820, None, "port 6820 contradicts"),
        ("slurm.example.org/api", 6820, None, "has a path"),
        ("https://:8443", None, None, "names no host"),
    ],
)
def test_bad_url_fields_name_the_connection_and_field(
    host: str | None, port: int | None, schema: str | None, message: str
) -> None:
    with pytest.raises(ConfigurationError, match="connection 'slurm_test'") as info:
        settings_from_connection(conn(host=host, port=port, schema=schema))
    assert message in str(info.value)
    assert TOKEN not in str(info.value)


# ------------------------------------------------------------------ auth ---------------------
def test_password_is_a_static_token_and_login_the_user() -> None:
    s = settings_from_connection(conn(login="alice", user_name="alice"))
    assert isinstance(s.auth, StaticToken)
    assert s.auth.token().get() == TOKEN
    assert s.auth.user_name == "alice"
    # The core parser's one rule set: a login and a different user_name extra contradict.
    with pytest.raises(ConfigurationError, match="user and user_name differ") as info:
        settings_from_connection(conn(login="alice", user_name="bob"))
    assert info.value.field == "user"


def test_user_name_extra_when_login_is_empty() -> None:
    s = settings_from_connection(conn(login="", user_name="bob"))
    assert s.auth is not None
    assert s.auth.user_name == "bob"


def test_no_user_name_leaves_the_token_claim_to_slurm_core() -> None:
    s = settings_from_connection(conn())
    assert s.auth is not None
    assert s.auth.user_name is None
    assert s.auth.header_user_name == "alice"  # the token's own "sun" claim


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("scontrol token lifespan=3600", ["scontrol", "token", "lifespan=3600"]),
        (["/usr/bin/get token", "--for", "alice"], ["/usr/bin/get token", "--for", "alice"]),
    ],
)
def test_token_command_extra(command: str | list[str], argv: list[str]) -> None:
    s = settings_from_connection(conn(password=None, login="alice", token_command=command))
    assert isinstance(s.auth, TokenCommand)
    assert s.auth.argv == argv
    assert s.auth.user_name == "alice"


def test_token_file_extra(tmp_path: Path) -> None:
    path = tmp_path / "jwt"
    path.write_text(f"SLURM_JWT={TOKEN}\n")
    s = settings_from_connection(conn(password=None, token_file=str(path)))
    assert isinstance(s.auth, TokenFile)
    assert s.auth.token().get() == TOKEN


def test_jwt_key_file_mints_tokens_for_the_login_user(tmp_path: Path) -> None:
    key = tmp_path / "jwt_hs256.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)  # a key others can read is refused
    s = settings_from_connection(conn(password=None, login="alice", jwt_key_file=str(key)))
    assert isinstance(s.auth, JWTKeyAuth)
    assert s.auth.user_name == "alice"
    with pytest.raises(ConfigurationError, match="jwt_key_file") as info:
        settings_from_connection(conn(password=None, jwt_key_file=str(key)))
    assert "user" in str(info.value)


def test_one_token_source_only() -> None:
    with pytest.raises(ConfigurationError, match="token_file") as info:
        settings_from_connection(conn(token_file="/tmp/jwt"))
    assert TOKEN not in str(info.value)


def test_a_token_is_required_over_tcp() -> None:
    with pytest.raises(ConfigurationError, match="no token"):
        settings_from_connection(conn(password=None))


def test_unix_socket_needs_no_token_or_host() -> None:
    s = settings_from_connection(conn(host=None, port=None, password=None, socket="/run/rest.sock"))
    assert (s.url, s.uds, s.auth) == ("http://localhost", "/run/rest.sock", None)


def test_airflow2_prefixed_extras_and_blank_form_fields() -> None:
    c = conn(
        password=None,
        login="alice",
        token_command="",  # an empty form field is unset
        **{"extra__slurm__token_command": "scontrol token", "extra__slurm__api_version": "0.0.42"},
    )
    s = settings_from_connection(c)
    assert isinstance(s.auth, TokenCommand)
    assert s.api_version == "v0.0.42"


# ------------------------------------------------------------------ TLS / version ------------
@pytest.mark.parametrize(
    ("extra", "verify"),
    [
        ({}, True),
        ({"verify": False}, False),
        ({"verify": "false"}, False),
        ({"verify": "True"}, True),
        ({"ca_bundle": "/etc/ssl/site.pem"}, "/etc/ssl/site.pem"),
        ({"ca_bundle": "/etc/ssl/site.pem", "verify": True}, "/etc/ssl/site.pem"),
    ],
)
def test_verify_and_ca_bundle(extra: dict[str, Any], verify: bool | str) -> None:
    assert settings_from_connection(conn(**extra)).verify == verify


def test_tls_contradictions_are_refused() -> None:
    for extra, field in (
        ({"ca_bundle": "/ca.pem", "verify": False}, "ca_bundle"),
        ({"verify": "maybe"}, "verify"),
        ({"client_key": "/k.pem"}, "client_key"),
    ):
        with pytest.raises(ConfigurationError, match="connection 'slurm_test'") as info:
            settings_from_connection(conn(**extra))
        assert info.value.field == field


def test_client_certificate() -> None:
    assert settings_from_connection(conn(client_cert="/both.pem")).cert == "/both.pem"
    s = settings_from_connection(conn(client_cert="/c.pem", client_key="/k.pem"))
    assert s.cert == ("/c.pem", "/k.pem")


def test_api_version_is_pinned_as_given_or_with_a_v() -> None:
    assert settings_from_connection(conn(api_version="v0.0.41")).api_version == "v0.0.41"
    assert settings_from_connection(conn()).api_version is None


def test_unknown_extras_are_refused_by_name() -> None:
    # Every extra goes to the core parser, which refuses what it does not know (a typo
    # would otherwise silently drop a setting).
    with pytest.raises(ConfigurationError, match="token_fiel") as info:
        settings_from_connection(conn(token_fiel="/tmp/x"))
    assert info.value.field == "token_fiel"


def test_settings_repr_never_shows_the_token() -> None:
    s = settings_from_connection(conn(login="alice"))
    assert TOKEN not in repr(s)
    assert TOKEN not in repr(s.client_options())


# ------------------------------------------------------------------ hook ---------------------
def test_hook_reads_its_connection_from_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SLURM_UNIT", conn(login="alice").as_json())
    hook = SlurmHook(slurm_conn_id="slurm_unit")
    with hook.get_client() as client:
        assert isinstance(client, SlurmClient)
        assert "http://slurm.example.org:6820" in repr(client)
    assert hook.settings().auth is not None


@pytest.mark.anyio
async def test_hook_async_client_reads_the_connection_asynchronously(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SLURM_UNIT", conn(schema="https").as_json())
    client = await SlurmHook("slurm_unit").get_async_client()
    async with client:
        assert "https://slurm.example.org:6820" in repr(client)


def test_hook_metadata() -> None:
    assert SlurmHook.conn_name_attr == "slurm_conn_id"
    assert SlurmHook.default_conn_name == "slurm_default"
    assert (SlurmHook.conn_type, SlurmHook.hook_name) == ("slurm", "SLURM")
    assert SlurmHook().slurm_conn_id == "slurm_default"


def test_test_connection_reports_a_bad_configuration_without_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SLURM_UNIT", conn(schema="ftp").as_json())
    ok, message = SlurmHook("slurm_unit").test_connection()
    assert not ok
    assert "ConfigurationError" in message
    assert "schema must be http or https" in message
    assert TOKEN not in message


@pytest.mark.parametrize("version", ["v0.0.42", "v0.0.45"])
def test_test_connection_says_a_server_that_is_not_ready_is_not(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    from slurm_core import RetryPolicy
    from slurm_core.testing import FakeSlurmServer

    fake = FakeSlurmServer(api_version=version)
    host = f"slurm-{version}.example.org"  # versions are cached per URL for the process
    monkeypatch.setenv("AIRFLOW_CONN_SLURM_UNIT", conn(host=host).as_json())
    hook = SlurmHook("slurm_unit", transport=fake.transport(), retry=RetryPolicy(max_attempts=1))
    ok, message = hook.test_connection()
    assert ok, message
    assert f"REST API {version}" in message
    fake.fail_next(status=503, path=r"/(readyz|diag)$")
    ok, message = hook.test_connection()
    assert (ok, message) == (
        False,
        f"slurmrestd at http://{host}:6820 is not ready (see its log)",
    )
    # 26.05's /readyz is answered without looking at the token: diag still checks it
    assert fake.requests_to("/diag$"), "the token was not checked"


def test_the_watch_fleet_extra_reaches_the_core_and_stays_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slurm_airflow.get_provider_info import get_provider_info

    url = "redis://:fleet-pw-123@redis.example:6379/0"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLURM_UNIT", conn(user_name="alice", watch_fleet=url).as_json()
    )
    hook = SlurmHook("slurm_unit")
    assert hook.settings().watch_fleet == url
    with hook.get_client() as client:
        assert client._http.options.watch_fleet == url  # the core shares the watch with it
        assert "fleet-pw-123" not in repr(client._http.options) + repr(hook.settings())
    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["conn-fields"]["watch_fleet"]["schema"]["format"] == "password"


# ------------------------------------------------------------------ provider -----------------
def test_provider_info_declares_everything() -> None:
    from slurm_airflow.get_provider_info import get_provider_info

    info = get_provider_info()
    assert info["package-name"] == "slurm-client"
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "slurm"
    assert conn_type["hook-class-name"] == "slurm_airflow.hooks.slurm.SlurmHook"
    modules = {
        m for key in ("hooks", "operators", "sensors", "triggers") for m in _modules(info, key)
    }
    assert modules == {
        "slurm_airflow.hooks.slurm",
        "slurm_airflow.operators.slurm",
        "slurm_airflow.sensors.slurm",
        "slurm_airflow.triggers.slurm",
    }
    for module in modules:
        __import__(module)
    # every form field is an extra the hook understands
    from slurm_airflow.hooks.slurm import EXTRA_FIELDS

    assert set(conn_type["conn-fields"]) == set(EXTRA_FIELDS)


def _modules(info: dict[str, Any], key: str) -> list[str]:
    return [m for entry in info[key] for m in entry["python-modules"]]


def test_providers_manager_finds_the_provider_and_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    pm = ProvidersManager()
    assert "slurm-client" in pm.providers
    assert "extra__slurm__token_command" in pm.connection_form_widgets
    assert pm.field_behaviours["slurm"]["relabeling"]["password"] == "Token (JWT)"
    hook = ProvidersManagerTaskRuntime().hooks["slurm"]
    assert hook is not None
    assert hook.hook_class_name == "slurm_airflow.hooks.slurm.SlurmHook"
    assert hook.connection_id_attribute_name == "slurm_conn_id"


# ------------------------------------------------------------------ trigger ------------------
def test_trigger_serializes_to_plain_values_that_recreate_it() -> None:
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    trigger = SlurmJobTrigger(
        job_id="42",
        conn_id="slurm_x",
        poll_interval=5,
        target_states=["running", "COMPLETED"],
        failure_states=["SUSPENDED"],
        cancel_on_kill=True,
        log_output=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "slurm_airflow.triggers.slurm.SlurmJobTrigger"
    assert kwargs == {
        "job_id": 42,
        "conn_id": "slurm_x",
        "poll_interval": 5.0,
        "target_states": ["RUNNING", "COMPLETED"],
        "failure_states": ["SUSPENDED"],
        "cancel_on_kill": True,
        "log_output": True,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON values only
    # what the task runner and dag.test() do with them
    again = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert again == trigger
    assert again.serialize() == (classpath, kwargs)
    assert again != SlurmJobTrigger(job_id=42, conn_id="slurm_x")


def test_trigger_keeps_array_task_ids_as_text() -> None:
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    assert SlurmJobTrigger(job_id="40_2").serialize()[1]["job_id"] == "40_2"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"job_id": 0}, "job_id must be a positive integer"),
        ({"job_id": "abc"}, "job_id must be a positive job id"),
        ({"job_id": 1, "poll_interval": 0}, "poll_interval must be a number of seconds > 0"),
        ({"job_id": 1, "poll_interval": True}, "poll_interval"),
        ({"job_id": 1, "target_states": ["DONE"]}, "target_states: unknown job state 'DONE'"),
        ({"job_id": 1, "target_states": []}, "target_states: name at least one state"),
        ({"job_id": 1, "failure_states": ["COMPLETED"]}, "both target and failure: COMPLETED"),
        ({"job_id": 1, "conn_id": ""}, "conn_id must be a non-empty string"),
    ],
)
def test_trigger_validates_its_arguments(kwargs: dict[str, Any], message: str) -> None:
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    with pytest.raises(ValueError, match=message):
        SlurmJobTrigger(**kwargs)


# ------------------------------------------------------------------ operator -----------------
SCRIPT = "#!/bin/bash\necho hi\n"


def op(**kwargs: Any) -> Any:
    from slurm_airflow.operators.slurm import SlurmSubmitJobOperator

    kwargs.setdefault("task_id", "submit")
    return SlurmSubmitJobOperator(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "give exactly one of script, command or job_spec$"),
        ({"script": SCRIPT, "command": ["true"]}, ValueError, r"\(got script and command\)"),
        ({"command": "echo hi"}, TypeError, "command must be a list of arguments"),
        (
            {"job_spec": {"script": SCRIPT}, "name": "x", "afterok": [1]},
            ValueError,
            "job_spec already describes the job; drop name, afterok",
        ),
        ({"script": SCRIPT, "dependency": "afterok:1", "afterok": [2]}, ValueError, "not both"),
        ({"script": SCRIPT, "poll_interval": 0}, ValueError, "poll_interval"),
        (
            {"script": SCRIPT, "log_output": True, "wait_for_completion": False},
            ValueError,
            "log_output needs wait_for_completion",
        ),
        ({"job_spec": "{not json"}, ValueError, "job_spec is not valid JSON"),
        ({"job_spec": "[1, 2]"}, ValueError, "job_spec JSON must be an object"),
        ({"job_spec": 42}, TypeError, "job_spec must be a JobSpec, a dict or JSON text"),
    ],
)
def test_operator_argument_validation(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        op(**kwargs)


def test_operator_refuses_an_invalid_static_job_spec_at_parse_time() -> None:
    from slurm_core import JobSpecError

    with pytest.raises(JobSpecError) as info:
        op(job_spec={"script": "#!/bin/bash\necho", "memory_per_cpu": "lots"})
    assert info.value.field == "memory_per_cpu"
    # a templated spec is only checked once rendered
    op(job_spec={"script": "{{ params.script }}"})


def test_operator_keeps_a_job_spec_as_plain_data() -> None:
    from slurm_core.jobs import JobSpec

    spec = JobSpec(script=SCRIPT, name="x", memory_per_cpu="1G", time_limit="1:00:00")
    submit = op(job_spec=spec)
    assert isinstance(submit.job_spec, dict)
    assert JobSpec.model_validate(submit.job_spec) == spec
    assert json.loads(json.dumps(submit.job_spec)) == submit.job_spec
    text = op(job_spec=spec.model_dump_json()).job_spec
    assert JobSpec.model_validate_json(text) == spec


def test_operator_builds_the_job_from_its_fields() -> None:
    from slurm_core import JobBuilder

    submit = op(
        command=["python", "train.py", "--name", "run 1"],
        name="train",
        partition="gpu",
        gpus=2,
        memory_per_node="4G",
        time_limit="1:30:00",
        environment={"A": "1"},
        working_directory="/shared/w",
        output_path="/shared/w/%j.out",
        error_path="/shared/w/%j.err",
        requeue=True,
        signal="B:USR1@60",
        afterok="17",  # a rendered single XCom value
    )
    spec = submit.build(JobBuilder()).to_spec()
    assert spec.script == "#!/bin/bash\nexec python train.py --name 'run 1'\n"
    assert (spec.name, spec.partition, spec.memory_per_node) == ("train", "gpu", 4096)
    assert spec.gpus is not None
    assert spec.gpus.count == 2
    assert str(spec.time_limit) == "1:30:00"
    assert spec.environment == {"A": "1"}
    assert (spec.output, spec.error) == ("/shared/w/%j.out", "/shared/w/%j.err")
    assert spec.requeue is True
    assert str(spec.signal) == "B:USR1@60"
    assert str(spec.dependency) == "afterok:17"


def test_operator_bad_field_values_name_the_field() -> None:
    from slurm_core import JobBuilder, JobSpecError

    with pytest.raises(JobSpecError) as info:
        op(script=SCRIPT, time_limit="soon").build(JobBuilder())
    assert info.value.field == "time_limit"
    with pytest.raises(JobSpecError) as info:
        op(script="echo no shebang").build(JobBuilder()).to_spec()
    assert info.value.field == "script"


def test_operator_template_fields_exist_and_render() -> None:
    submit = op(
        script="#!/bin/bash\necho {{ params.msg }}\n",
        name="n-{{ params.msg }}",
        environment={"MSG": "{{ params.msg }}"},
        partition="{{ params.part }}",
        working_directory="/w/{{ params.msg }}",
    )
    for field in ("script", "name", "environment", "partition", "working_directory"):
        assert field in submit.template_fields
    for field in submit.template_fields:
        assert hasattr(submit, field), field
    submit.render_template_fields({"params": {"msg": "hello", "part": "debug"}})
    assert submit.script == "#!/bin/bash\necho hello"  # Jinja drops the last newline
    assert (submit.name, submit.partition) == ("n-hello", "debug")
    assert submit.environment == {"MSG": "hello"}
    assert submit.working_directory == "/w/hello"


def test_operator_keeps_its_xcom_output_property() -> None:
    from airflow.sdk import DAG, XComArg

    with DAG("xcom_output", schedule=None):
        submit = op(script=SCRIPT, output_path="/w/%j.out")
    assert isinstance(submit.output, XComArg)
    assert submit.output_path == "/w/%j.out"


def test_dag_with_the_operators_serializes() -> None:
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization
    from slurm_airflow.sensors.slurm import SlurmJobSensor

    from slurm_core.jobs import JobSpec

    with DAG("serialize_me", schedule=None) as dag:
        first = op(task_id="first", job_spec=JobSpec(script=SCRIPT, name="a"))
        second = op(task_id="second", script=SCRIPT, afterok=[first.output["job_id"]])
        SlurmJobSensor(task_id="sense", job_id=second.output["job_id"], deferrable=True)
    data = DagSerialization.serialize_dag(dag)
    again = DagSerialization.deserialize_dag(data)
    assert set(again.task_dict) == {"first", "second", "sense"}
    assert again.task_dict["sense"].upstream_task_ids == {"second"}
    assert again.task_dict["second"].upstream_task_ids == {"first"}


# ------------------------------------------------------------------ sensor arguments ---------
def test_sensor_validates_states_at_parse_time() -> None:
    from slurm_airflow.sensors.slurm import SlurmJobSensor

    with pytest.raises(ValueError, match="target_states: unknown job state 'FINISHED'"):
        SlurmJobSensor(task_id="s", job_id=1, target_states=["FINISHED"])
    with pytest.raises(ValueError, match="both target and failure"):
        SlurmJobSensor(task_id="s", job_id=1, failure_states=["completed"])
    sensor = SlurmJobSensor(task_id="s", job_id="{{ x }}", target_states="running")
    assert sensor.target_states == ("RUNNING",)
    assert sensor.template_fields == ("job_id",)


# ------------------------------------------------------------------ on the fake slurmrestd ---
# ``fake_conn`` serves slurm_core.testing's FakeSlurmServer over HTTP and points the
# ``slurm_default`` connection at it: hook, operator, sensor and trigger run unchanged.
REALTIME = pytest.mark.slurm_fake(realtime=True, speed=30, default_runtime=30)  # ~1 s jobs


class _TI:
    """What ``execute`` and ``resume_execution`` use of a task instance."""

    def __init__(self, run_id: str = "manual__2026-12-07T12:00:00+00:00") -> None:
        self.xcom: dict[str, Any] = {}
        self.dag_id, self.run_id, self.task_id, self.map_index = "dag", run_id, "task", -1
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be plain JSON
        self.xcom[key] = value

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcom.get(key)


def _ctx(ti: _TI | None = None, store: _Store | None = None) -> Any:
    context: dict[str, Any] = {"ti": ti or _TI()}
    if store is not None:
        context["task_state_store"] = store
    return context


class _Store(dict[str, Any]):
    """Airflow 3.3's task state store as the operator uses it: one task instance's keys."""

    def set(self, key: str, value: Any) -> None:
        json.dumps(value)
        self[key] = value


def _submit(fake: Any, **kwargs: Any) -> int:
    with fake.client() as client:
        builder = client.jobs.submit().command(["true"])
        for key, value in kwargs.items():
            getattr(builder, key)(value)
        return int(builder.execute().job_id)


def _sensor(**kwargs: Any) -> Any:
    from slurm_airflow.sensors.slurm import SlurmJobSensor

    kwargs.setdefault("task_id", "sense")
    return SlurmJobSensor(**kwargs)


def test_sensor_pokes_until_the_job_completes(fake_conn: Any) -> None:
    from airflow.sdk import PokeReturnValue

    job_id = _submit(fake_conn)
    sensor = _sensor(job_id=f" {job_id} ")  # as a template renders it
    assert sensor.poke(_ctx()) is False  # PENDING
    fake_conn.advance(1)
    assert sensor.poke(_ctx()) is False  # RUNNING
    fake_conn.advance(120)
    result = sensor.poke(_ctx())
    assert isinstance(result, PokeReturnValue)
    assert result.is_done
    assert result.xcom_value["status"] == "success"
    assert (result.xcom_value["job_id"], result.xcom_value["state"]) == (job_id, "COMPLETED")
    assert result.xcom_value["exit_code"] == 0


def test_sensor_can_wait_for_a_job_to_start(fake_conn: Any) -> None:
    job_id = _submit(fake_conn)
    sensor = _sensor(job_id=job_id, target_states=["RUNNING"])
    assert sensor.poke(_ctx()) is False
    fake_conn.advance(1)
    assert sensor.poke(_ctx())


def test_sensor_fails_without_retry_on_a_failed_job_or_skips_with_soft_fail(
    fake_conn: Any,
) -> None:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
    from slurm_airflow.exceptions import SlurmJobSensorFailedException

    job_id = _submit(fake_conn)
    fake_conn.set_job_outcome(job_id, state="FAILED", exit_code=3)
    fake_conn.advance(1)
    fake_conn.advance(120)
    with pytest.raises(SlurmJobSensorFailedException) as info:
        _sensor(job_id=job_id, poke_interval=0).execute(_ctx())
    assert isinstance(info.value, AirflowFailException)  # Airflow does not retry it
    assert (info.value.job_id, info.value.state, info.value.exit_code) == (job_id, "FAILED", 3)
    assert f"job {job_id} ended FAILED with exit code 3" in str(info.value)
    with pytest.raises(AirflowSkipException):
        _sensor(job_id=job_id, soft_fail=True, poke_interval=0).execute(_ctx())


def test_sensor_failure_states_end_the_wait_early(fake_conn: Any) -> None:
    from slurm_airflow.exceptions import SlurmJobSensorFailedException

    job_id = _submit(fake_conn, hold=True)
    fake_conn.advance(1)
    sensor = _sensor(job_id=job_id, failure_states=["PENDING"])
    with pytest.raises(SlurmJobSensorFailedException, match="ended PENDING"):
        sensor.poke(_ctx())


def test_sensor_times_out_in_poke_mode(fake_conn: Any) -> None:
    from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

    job_id = _submit(fake_conn)  # the fake's clock stands still: it never ends
    with pytest.raises(AirflowSensorTimeout):
        _sensor(job_id=job_id, poke_interval=0, timeout=0).execute(_ctx())
    with pytest.raises(AirflowSkipException):
        _sensor(job_id=job_id, poke_interval=0, timeout=0, soft_fail=True).execute(_ctx())


def test_sensor_rejects_a_bad_rendered_job_id() -> None:
    with pytest.raises(ValueError, match="job_id must be a positive job id"):
        _sensor(job_id="None").poke(_ctx())


def test_deferrable_sensor_defers_to_the_trigger_with_its_timeout() -> None:
    from datetime import timedelta

    from airflow.sdk.exceptions import TaskDeferred

    sensor = _sensor(
        job_id="17", deferrable=True, timeout=600, poke_interval=5, target_states=["RUNNING"]
    )
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(_ctx())
    assert info.value.method_name == "execute_complete"
    assert info.value.timeout == timedelta(seconds=600)
    classpath, kwargs = info.value.trigger.serialize()
    assert classpath == "slurm_airflow.triggers.slurm.SlurmJobTrigger"
    assert kwargs == {
        "job_id": 17,
        "conn_id": "slurm_default",
        "poll_interval": 5.0,
        "target_states": ["RUNNING"],
        "failure_states": [],
        "cancel_on_kill": False,  # the sensor does not own the job
        "log_output": False,
    }


@pytest.mark.parametrize("soft_fail", [False, True])
def test_deferrable_sensor_resumes_like_any_airflow_sensor(soft_fail: bool) -> None:
    from airflow.sdk.bases.operator import TriggerFailureReason
    from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException
    from slurm_airflow.exceptions import SlurmJobSensorFailedException
    from slurm_airflow.triggers.slurm import event_payload

    sensor = _sensor(job_id=5, deferrable=True, soft_fail=soft_fail)
    ok = event_payload("success", 5, "COMPLETED", exit_code=0)
    assert sensor.resume_execution("execute_complete", {"event": ok}, _ctx()) == ok
    bad = event_payload("error", 5, "TIMEOUT", reason="TimeLimit")
    timeout = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    if soft_fail:
        with pytest.raises(AirflowSkipException):
            sensor.resume_execution("execute_complete", {"event": bad}, _ctx())
        with pytest.raises(AirflowSkipException):
            sensor.resume_execution("__fail__", timeout, _ctx())
    else:
        with pytest.raises(SlurmJobSensorFailedException, match="job 5 ended TIMEOUT"):
            sensor.resume_execution("execute_complete", {"event": bad}, _ctx())
        with pytest.raises(AirflowSensorTimeout):
            sensor.resume_execution("__fail__", timeout, _ctx())


# ------------------------------------------------------------------ trigger on the fake ------
async def _events(trigger: Any) -> list[Any]:
    return [event async for event in trigger.run()]


@pytest.mark.anyio
@REALTIME
@pytest.mark.parametrize("slurm_fake_version", ["v0.0.38", "v0.0.42", "v0.0.45"])
async def test_trigger_fires_one_event_when_the_job_completes(
    fake_conn: Any, slurm_fake_version: str
) -> None:
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    job_id = _submit(fake_conn)
    (event,) = await _events(SlurmJobTrigger(job_id=job_id, poll_interval=1))
    assert event.payload == {
        "status": "success",
        "job_id": job_id,
        "state": "COMPLETED",
        "exit_code": 0,
        "signal": None,
        "reason": None,
        "message": f"job {job_id} reached COMPLETED",
    }
    assert fake_conn.job(job_id).state.is_success


@pytest.mark.anyio
@REALTIME
async def test_trigger_reports_a_failed_job_with_exit_code(fake_conn: Any) -> None:
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    job_id = _submit(fake_conn)
    fake_conn.set_job_outcome(job_id, state="FAILED", exit_code=3)
    (event,) = await _events(SlurmJobTrigger(job_id=job_id, poll_interval=1))
    payload = event.payload
    assert (payload["status"], payload["state"], payload["exit_code"]) == ("error", "FAILED", 3)
    assert f"job {job_id} ended FAILED with exit code 3" in payload["message"]


@pytest.mark.anyio
@REALTIME
async def test_trigger_can_target_running(fake_conn: Any) -> None:
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    job_id = _submit(fake_conn)
    fake_conn.set_job_outcome(job_id, runtime=3600)
    trigger = SlurmJobTrigger(job_id=job_id, poll_interval=1, target_states=["RUNNING"])
    (event,) = await _events(trigger)
    assert (event.payload["status"], event.payload["state"]) == ("success", "RUNNING")


@pytest.mark.anyio
async def test_trigger_reports_an_unknown_job_as_an_error(fake_conn: Any) -> None:
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    (event,) = await _events(SlurmJobTrigger(job_id=424242, poll_interval=1))
    assert event.payload["status"] == "error"
    assert "424242" in event.payload["message"]


@pytest.mark.anyio
@pytest.mark.slurm_fake(token="the-right-token", require_token=True)
async def test_trigger_reports_bad_credentials_without_the_token(fake_conn: Any) -> None:
    from conftest import FAKE_TOKEN
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    (event,) = await _events(SlurmJobTrigger(job_id=1, poll_interval=1))
    assert event.payload["status"] == "error"
    assert event.payload["state"] is None
    assert "AuthenticationError" in event.payload["message"]
    assert FAKE_TOKEN not in json.dumps(event.payload)


@pytest.mark.anyio
@pytest.mark.parametrize("cancel_on_kill", [True, False])
async def test_trigger_on_kill_cancels_only_a_job_the_task_owns(
    fake_conn: Any, cancel_on_kill: bool
) -> None:
    from slurm_airflow.triggers.slurm import SlurmJobTrigger

    job_id = _submit(fake_conn)
    fake_conn.advance(1)
    await SlurmJobTrigger(job_id=job_id, cancel_on_kill=cancel_on_kill).on_kill()
    state = fake_conn.job(job_id).state
    assert (str(state.base) == "CANCELLED") is cancel_on_kill


# ------------------------------------------------------------------ operator on the fake -----
@REALTIME
def test_operator_submits_waits_and_pushes_plain_xcoms(fake_conn: Any) -> None:
    ti = _TI()
    submit = op(
        script="#!/bin/bash\necho hi\n",
        name="unit",
        environment={"A": "1"},
        deferrable=False,
        poll_interval=1,
    )
    result = submit.execute(_ctx(ti))
    job_id = ti.xcom["job_id"]
    assert result == {
        "status": "success",
        "job_id": job_id,
        "state": "COMPLETED",
        "exit_code": 0,
        "signal": None,
        "reason": None,
        "message": f"job {job_id} reached COMPLETED",
    }
    assert (ti.xcom["state"], ti.xcom["exit_code"]) == ("COMPLETED", 0)
    assert fake_conn.script(job_id) == "#!/bin/bash\necho hi\n"
    assert fake_conn.environment(job_id)["A"] == "1"
    assert fake_conn.job(job_id).name == "unit"


needs_resumable = pytest.mark.skipif(
    not hasattr(__import__("airflow.sdk").sdk, "ResumableJobMixin"),
    reason="Airflow < 3.3 has no ResumableJobMixin (the core's key alone re-attaches)",
)


@needs_resumable
def test_a_try_follows_the_job_an_earlier_try_kept_in_the_task_state_store(
    fake_conn: Any,
) -> None:
    """Airflow's ResumableJobMixin: the task instance's store names a live job, so the
    operator follows it instead of submitting (even a job its key would not find)."""
    earlier = _submit(fake_conn, name="earlier")
    store = _Store(slurm_job_id=earlier)
    ti = _TI()
    result = op(command=["true"], name="again", wait_for_completion=False).execute(_ctx(ti, store))
    assert (result["job_id"], ti.xcom["job_id"]) == (earlier, earlier)
    assert [j.name for j in fake_conn.jobs()] == ["earlier"]  # nothing submitted


@needs_resumable
@REALTIME
def test_the_task_state_store_keeps_the_job_and_a_failed_one_is_run_again(
    fake_conn: Any,
) -> None:
    store = _Store()
    first = op(command=["true"], deferrable=False, poll_interval=1).execute(_ctx(_TI(), store))
    assert store == {"slurm_job_id": first["job_id"]}
    # A later try of a task whose job completed: its result, no second job.
    again = op(command=["true"], deferrable=False, poll_interval=1).execute(_ctx(_TI(), store))
    assert (again["job_id"], again["state"]) == (first["job_id"], "COMPLETED")
    assert len(fake_conn.jobs()) == 1
    # A stored job that failed: a new job, whose id replaces it in the store.
    fake_conn.set_job_outcome(name="doomed", state="FAILED", exit_code=1)
    failed = _submit(fake_conn, name="doomed")
    fake_conn.advance(60)
    store = _Store(slurm_job_id=failed)
    ti = _TI(run_id="manual__another")
    rerun = op(command=["true"], deferrable=False, poll_interval=1).execute(_ctx(ti, store))
    assert rerun["job_id"] not in (first["job_id"], failed)
    assert store == {"slurm_job_id": rerun["job_id"]}


@REALTIME
def test_operator_fails_the_task_with_the_jobs_exit_code(fake_conn: Any) -> None:
    from slurm_airflow.exceptions import SlurmJobFailedException

    fake_conn.set_job_outcome(name="doomed", state="FAILED", exit_code=3)
    ti = _TI()
    with pytest.raises(SlurmJobFailedException) as info:
        op(command=["false"], name="doomed", deferrable=False, poll_interval=1).execute(_ctx(ti))
    assert (info.value.job_id, info.value.state) == (ti.xcom["job_id"], "FAILED")
    assert info.value.exit_code == 3
    assert "with exit code 3" in str(info.value)


def test_operator_submits_a_job_spec(fake_conn: Any) -> None:
    from slurm_core.jobs import JobSpec

    ti = _TI()
    spec = JobSpec(script="#!/bin/sh\ntrue\n", name="from-spec", partition="debug")
    result = op(job_spec=spec, wait_for_completion=False).execute(_ctx(ti))
    assert result["state"] is None
    assert fake_conn.job(ti.xcom["job_id"]).name == "from-spec"
    assert fake_conn.script(ti.xcom["job_id"]) == spec.script


def test_deferrable_operator_defers_to_a_trigger_that_owns_the_job(fake_conn: Any) -> None:
    from datetime import timedelta

    from airflow.sdk.exceptions import TaskDeferred

    ti = _TI()
    submit = op(
        script=SCRIPT, deferrable=True, poll_interval=7, execution_timeout=timedelta(minutes=9)
    )
    with pytest.raises(TaskDeferred) as info:
        submit.execute(_ctx(ti))
    assert info.value.method_name == "execute_complete"
    assert info.value.timeout == timedelta(minutes=9)
    _, kwargs = info.value.trigger.serialize()
    assert kwargs["job_id"] == ti.xcom["job_id"]
    assert (kwargs["poll_interval"], kwargs["cancel_on_kill"]) == (7.0, True)


def test_operator_resumes_from_trigger_events() -> None:
    from airflow.sdk.exceptions import AirflowException
    from slurm_airflow.exceptions import SlurmJobFailedException
    from slurm_airflow.triggers.slurm import event_payload

    submit = op(script=SCRIPT)
    ti = _TI()
    ok = event_payload("success", 9, "COMPLETED", exit_code=0)
    assert submit.resume_execution("execute_complete", {"event": ok}, _ctx(ti)) == ok
    assert (ti.xcom["state"], ti.xcom["exit_code"]) == ("COMPLETED", 0)
    bad = event_payload("error", 9, "OUT_OF_MEMORY", exit_code=None, signal=9)
    with pytest.raises(SlurmJobFailedException, match="job 9 ended OUT_OF_MEMORY"):
        submit.execute_complete(_ctx(), bad)
    lost = event_payload("error", 9, None, message="watching job 9 failed: NotFoundError")
    with pytest.raises(AirflowException, match="watching job 9 failed"):
        submit.execute_complete(_ctx(), lost)


def test_operator_cancels_its_job_when_the_deferral_times_out(fake_conn: Any) -> None:
    from airflow.sdk.bases.operator import TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralTimeout

    ti = _TI()
    submit = op(script=SCRIPT, wait_for_completion=False)
    submit.execute(_ctx(ti))
    job_id = ti.xcom["job_id"]
    fake_conn.advance(1)
    timeout = {"error": TriggerFailureReason.TRIGGER_TIMEOUT}
    with pytest.raises(TaskDeferralTimeout):
        op(script=SCRIPT).resume_execution("__fail__", timeout, _ctx(ti))
    assert str(fake_conn.job(job_id).state.base) == "CANCELLED"


@pytest.mark.parametrize("cancel_on_kill", [True, False])
def test_operator_on_kill_cancels_the_submitted_job(fake_conn: Any, cancel_on_kill: bool) -> None:
    ti = _TI()
    submit = op(script=SCRIPT, wait_for_completion=False, cancel_on_kill=cancel_on_kill)
    op(script=SCRIPT).on_kill()  # nothing submitted: nothing to cancel
    submit.execute(_ctx(ti))
    fake_conn.advance(1)
    submit.on_kill()
    state = fake_conn.job(ti.xcom["job_id"]).state
    assert (str(state.base) == "CANCELLED") is cancel_on_kill


@REALTIME
def test_operator_log_output_tolerates_an_unreadable_output_file(
    fake_conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ti = _TI()
    submit = op(
        script=SCRIPT,
        output_path="/nonexistent/dir/%j.out",
        log_output=True,
        deferrable=False,
        poll_interval=1,
    )
    assert submit.execute(_ctx(ti))["state"] == "COMPLETED"


def test_operator_checkpoint_dir_makes_a_training_job() -> None:
    from datetime import timedelta

    from slurm_core import JobBuilder
    from slurm_core.jobs import TrainingJob

    submit = op(
        script=SCRIPT,
        gpus=1,
        checkpoint_dir="/shared/ckpt/%x",
        checkpoint_signal_before=timedelta(minutes=10),
    )
    assert "checkpoint_dir" in submit.template_fields
    spec = submit.build(TrainingJob()).to_spec()
    assert "slurm-client TrainingJob wrapper" in spec.script
    assert str(spec.signal) == "B:USR2@600"
    assert spec.requeue is True
    assert spec.environment["SLURM_CLIENT_CHECKPOINT_DIR"] == "/shared/ckpt/%x"
    with pytest.raises(TypeError, match="needs a TrainingJob builder"):
        submit.build(JobBuilder())
    with pytest.raises(ValueError, match="checkpoint_dir sets signal and requeue itself"):
        op(script=SCRIPT, checkpoint_dir="c", signal="B:USR1@60", requeue=True)
    with pytest.raises(ValueError, match="not job_spec"):
        op(job_spec={"script": SCRIPT}, checkpoint_dir="c")


@pytest.mark.parametrize("slurm_fake_version", ["v0.0.38", "v0.0.45"])
def test_operator_submits_training_jobs_on_every_version(
    fake_conn: Any, slurm_fake_version: str
) -> None:
    ti = _TI()
    submit = op(script=SCRIPT, checkpoint_dir="ckpt", wait_for_completion=False)
    submit.execute(_ctx(ti))
    env = fake_conn.environment(ti.xcom["job_id"])
    # v0.0.38 cannot ask for a B: signal: slurm-client's wrapper watches the clock instead
    assert env["SLURM_CLIENT_WATCHDOG"] == ("1" if slurm_fake_version == "v0.0.38" else "0")
    assert "slurm-client TrainingJob wrapper" in fake_conn.script(ti.xcom["job_id"])


# ------------------------------------------------------------------ #17 ----------------------
def test_default_deferrable_is_airflows_operators_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default is read where the operator/sensor module is imported (Airflow's own
    # providers do the same), so the config is checked in a fresh interpreter.
    import subprocess
    import sys

    code = (
        "from slurm_airflow.operators.slurm import SlurmSubmitJobOperator as O\n"
        "from slurm_airflow.sensors.slurm import SlurmJobSensor as S\n"
        "print(O(task_id='o', script='#!/bin/sh\\ntrue').deferrable,"
        " S(task_id='s', job_id=1).deferrable)\n"
    )
    for value, expected in (("True", "True True"), ("False", "False False")):
        env = dict(os.environ, AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE=value)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.split()[-2:] == expected.split()


def test_resource_fields_are_templated_and_rendered_counts_become_numbers() -> None:
    from slurm_core import JobBuilder

    submit = op(
        script=SCRIPT,
        time_limit="{{ params.minutes }}:00",
        memory_per_cpu="{{ params.mem }}",
        gpus="{{ params.gpus }}",
        cpus_per_task="{{ params.cpus }}",
        working_directory="/tmp",
    )
    for field in ("time_limit", "memory_per_cpu", "gpus", "cpus_per_task", "nodes", "ntasks"):
        assert field in submit.template_fields
    # what Airflow's rendering leaves in the fields
    submit.time_limit, submit.memory_per_cpu, submit.gpus, submit.cpus_per_task = (
        "15:00",
        "2G",
        "2",
        "4",
    )
    spec = submit.build(JobBuilder()).to_spec()
    assert spec.cpus_per_task == 4
    assert spec.memory_per_cpu is not None


def test_the_key_is_the_task_instance_not_the_try_and_the_comment_names_it() -> None:
    from slurm_airflow._lifecycle import task_comment, task_key

    first, retry, other_run = _TI(), _TI(), _TI(run_id="scheduled__2026-12-08")
    retry.try_number = 2  # type: ignore[attr-defined]
    assert task_key(first) == task_key(retry) != task_key(other_run)
    assert task_key(first).startswith("airflow-")
    comment = task_comment(first, "nightly")
    assert comment.startswith("nightly airflow ")
    assert "dag_id=dag" in comment
    assert "task_id=task" in comment
    assert "run_id=manual__2026-12-07T12:00:00+00:00" in comment


def test_skip_on_exit_code_skips_instead_of_failing() -> None:
    from airflow.sdk.exceptions import AirflowSkipException
    from slurm_airflow.exceptions import SlurmJobFailedException
    from slurm_airflow.triggers.slurm import event_payload

    submit = op(script=SCRIPT, skip_on_exit_code=[99])
    with pytest.raises(AirflowSkipException, match="exited with code 99"):
        submit.execute_complete(_ctx(), event_payload("error", 9, "FAILED", exit_code=99))
    with pytest.raises(SlurmJobFailedException):
        submit.execute_complete(_ctx(), event_payload("error", 9, "FAILED", exit_code=1))
