"""Unit tests of slurm_dagster: resource configuration, the IO manager's layout, library
registration, and (on slurm_core.testing's fake) the resource and Pipes client."""

import pickle
from pathlib import Path

import pytest
import slurm_dagster
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    DagsterInstance,
    DailyPartitionsDefinition,
    EnvVar,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    materialize,
)
from dagster_helpers import in_thread, wait_for
from dagster_shared.ipc import send_interrupt
from slurm_dagster import PipesSlurmClient, SlurmIOManager, SlurmResource, asset_dir

from slurm_core import (
    ConfigurationError,
    Job,
    JWTKeyAuth,
    SlurmClient,
    StaticToken,
    TokenCommand,
    TokenFile,
)
from slurm_core.jobs import JobBuilder, TrainingJob
from slurm_core.testing import FakeSlurmServer

URL = "http://slurm.test:6820"
IO_KEY = "an-io-manager-key-of-at-least-32-characters"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"


# ---------------------------------------------------------------------- SlurmResource config
@pytest.mark.parametrize(
    ("fields", "provider"),
    [
        ({"token": TOKEN}, StaticToken),
        ({"token_file": "/run/slurm/jwt"}, TokenFile),
        ({"token_command": ["scontrol", "token"]}, TokenCommand),
    ],
)
def test_each_auth_method_maps_to_its_provider(fields: dict[str, object], provider: type) -> None:
    res = SlurmResource(url=URL, user_name="alice", **fields)  # type: ignore[arg-type]
    assert res.auth_method() == next(iter(fields))
    p = res.token_provider()
    assert isinstance(p, provider)
    assert p.user_name == "alice"


def test_jwt_key_file_mints_tokens_for_the_user(tmp_path: Path) -> None:
    key = tmp_path / "jwt_hs256.key"
    key.write_bytes(b"k" * 32)
    key.chmod(0o600)  # a key others can read is refused
    res = SlurmResource(url=URL, jwt_key_file=str(key), user_name="alice", jwt_lifespan_seconds=600)
    p = res.token_provider()
    assert isinstance(p, JWTKeyAuth)
    assert p.lifespan == 600
    assert p.user_name == "alice"


def test_no_auth_method_is_refused_naming_the_fields() -> None:
    with pytest.raises(ConfigurationError) as err:
        SlurmResource(url=URL)
    msg = str(err.value)
    for name in ("token", "token_file", "token_command", "jwt_key_file"):
        assert name in msg
    assert "no token" in msg
    assert err.value.field == "token"


def test_two_auth_methods_are_refused_naming_both() -> None:
    with pytest.raises(ConfigurationError, match="not token and token_command"):
        SlurmResource(url=URL, token=TOKEN, token_command=["scontrol", "token"])


def test_jwt_key_needs_a_user_name() -> None:
    with pytest.raises(ConfigurationError, match="user_name"):
        SlurmResource(url=URL, jwt_key_file="/etc/slurm/jwt.key")


def test_empty_values_do_not_count_as_an_auth_method() -> None:
    with pytest.raises(ConfigurationError, match="no token"):
        SlurmResource(url=URL, token="", token_command=[])
    assert SlurmResource(url=URL, token="", token_file="/t").auth_method() == "token_file"


def test_token_stays_out_of_repr_and_errors() -> None:
    res = SlurmResource(url=URL, token=TOKEN, user_name="alice")
    assert TOKEN not in repr(res)
    assert TOKEN not in repr(res.token_provider())
    with pytest.raises(ConfigurationError) as err:
        SlurmResource(url=URL, token=TOKEN, token_file="/t")
    assert TOKEN not in str(err.value)


def test_env_var_token_is_resolved_outside_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_DAGSTER_TEST_JWT", TOKEN)
    res = SlurmResource(url=URL, token=EnvVar("SLURM_DAGSTER_TEST_JWT"))
    assert res.token_provider().token().get() == TOKEN


def test_env_var_token_is_resolved_by_dagster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_DAGSTER_TEST_JWT", TOKEN)
    seen: list[str] = []

    @asset
    def probe(slurm: SlurmResource) -> None:
        seen.append(slurm.token_provider().token().get())

    result = materialize(
        [probe],
        resources={"slurm": SlurmResource(url=URL, token=EnvVar("SLURM_DAGSTER_TEST_JWT"))},
    )
    assert result.success
    assert seen == [TOKEN]
    # The stored run config names the variable, never its value.
    assert TOKEN not in repr(result.dagster_run.run_config)


def test_configured_at_launch_without_auth_fails_the_run_with_the_reason() -> None:
    @asset
    def probe(slurm: SlurmResource) -> None:
        raise AssertionError("not reached")

    result = materialize(
        [probe],
        resources={"slurm": SlurmResource.configure_at_launch()},
        run_config={"resources": {"slurm": {"config": {"url": URL}}}},
        raise_on_error=False,
    )
    assert not result.success
    errors = [str(getattr(e.event_specific_data, "error", "")) for e in result.all_events]
    assert any("no token: set one of token, token_file" in e for e in errors)


def test_tls_options_reach_the_client_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    res = SlurmResource(url=URL, token=TOKEN, ca_bundle=str(ca), request_timeout_seconds=7.0)
    settings = res.settings()
    assert settings.verify == str(ca)
    assert settings.timeout == 7.0
    no_verify = SlurmResource(url=URL, token=TOKEN, verify_tls=False)
    assert no_verify.settings().verify is False
    with pytest.raises(ConfigurationError, match="client_key given without client_cert"):
        SlurmResource(url=URL, token=TOKEN, client_key="/k.pem")
    mtls = SlurmResource(url=URL, token=TOKEN, client_cert="/c.pem", client_key="/k.pem")
    assert mtls.settings().cert == ("/c.pem", "/k.pem")


def test_api_version_is_passed_to_the_client() -> None:
    res = SlurmResource(url=URL, token=TOKEN, api_version="v0.0.42")
    with res.get_client() as client:
        assert client.api_version == "v0.0.42"
    with SlurmResource(url=URL, token=TOKEN).get_client() as client:
        assert client.api_version is None


# ---------------------------------------------------------------------- registration
def test_library_is_registered_with_dagster() -> None:
    from dagster._core.libraries import DagsterLibraryRegistry

    assert DagsterLibraryRegistry.get()["slurm_dagster"] == slurm_dagster.__version__


# ---------------------------------------------------------------------- SlurmIOManager
def _io_manager(base: Path) -> SlurmIOManager:
    return SlurmIOManager(base_dir=str(base), secret_key=IO_KEY)


def _unpickle(data: bytes) -> object:
    return pickle.loads(data)  # noqa: S301 - files this test wrote


def test_io_manager_round_trips_a_value_in_the_documented_layout(tmp_path: Path) -> None:
    @asset(key_prefix=["ml"])
    def features() -> dict[str, list[int]]:
        return {"x": [1, 2, 3]}

    @asset(ins={"features": AssetIn(key=["ml", "features"])})
    def total(features: dict[str, list[int]]) -> int:
        return sum(features["x"])

    result = materialize([features, total], resources={"io_manager": _io_manager(tmp_path)})
    assert result.success
    stored = tmp_path / "ml" / "features" / "__all__.pkl"
    assert _unpickle(stored.read_bytes()) == {"x": [1, 2, 3]}
    assert _unpickle((tmp_path / "total" / "__all__.pkl").read_bytes()) == 6
    assert stored.stat().st_mode & 0o004  # readable by the job's (other) user
    md = result.asset_materializations_for_node("ml__features")[0].metadata
    assert md["path"].value == str(stored)


def test_io_manager_stores_a_path_output_as_a_pointer(tmp_path: Path) -> None:
    data = tmp_path / "job-output" / "model.bin"
    data.parent.mkdir()
    data.write_bytes(b"weights")
    received: list[object] = []

    @asset
    def model() -> Path:
        return data

    @asset
    def evaluated(model: Path) -> None:
        received.append(model)

    result = materialize([model, evaluated], resources={"io_manager": _io_manager(tmp_path)})
    assert result.success
    assert (tmp_path / "model" / "__all__.path").read_text().strip() == str(data)
    assert not (tmp_path / "model" / "__all__.pkl").exists()
    assert received == [data]


def test_path_annotated_input_gets_the_pickle_location(tmp_path: Path) -> None:
    received: list[object] = []

    @asset
    def table() -> list[int]:
        return [1, 2]

    @asset
    def consumer(table: Path) -> None:
        received.append(table)

    result = materialize([table, consumer], resources={"io_manager": _io_manager(tmp_path)})
    assert result.success
    assert received == [tmp_path / "table" / "__all__.pkl"]


def test_partitions_are_files_named_by_partition_key(tmp_path: Path) -> None:
    parts = StaticPartitionsDefinition(["a", "b"])

    @asset(partitions_def=parts)
    def shard(context: AssetExecutionContext) -> str:
        return f"data-{context.partition_key}"

    io = {"io_manager": _io_manager(tmp_path)}
    for key in ("a", "b"):
        assert materialize([shard], resources=io, partition_key=key).success
    assert _unpickle((tmp_path / "shard" / "a.pkl").read_bytes()) == "data-a"
    assert _unpickle((tmp_path / "shard" / "b.pkl").read_bytes()) == "data-b"


def test_a_downstream_of_many_partitions_gets_them_by_key(tmp_path: Path) -> None:
    days = DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-03")
    received: list[object] = []

    @asset(partitions_def=days)
    def daily(context: AssetExecutionContext) -> int:
        return int(context.partition_key[-1])

    @asset
    def summary(daily: dict[str, int]) -> None:
        received.append(daily)

    io = {"io_manager": _io_manager(tmp_path)}
    for key in ("2026-01-01", "2026-01-02"):
        assert materialize([daily], resources=io, partition_key=key).success
    assert materialize([daily, summary], resources=io, selection=[summary]).success
    assert received == [{"2026-01-01": 1, "2026-01-02": 2}]


def test_asset_dir_refuses_path_tricks(tmp_path: Path) -> None:
    assert asset_dir(tmp_path, ["a", "b"]) == tmp_path / "a" / "b"
    for bad in ("..", "", "x/y"):
        with pytest.raises(ValueError, match="path component"):
            asset_dir(tmp_path, ["a", bad])


def test_a_missing_value_is_reported_with_its_path(tmp_path: Path) -> None:
    @asset
    def upstream() -> int:
        return 1

    @asset
    def downstream(upstream: Path) -> None:
        raise AssertionError("not reached")

    io = {"io_manager": _io_manager(tmp_path)}
    result = materialize(
        [upstream, downstream], resources=io, selection=[downstream], raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    assert failure.step_failure_data is not None
    assert str(tmp_path / "upstream" / "__all__.pkl") in str(failure.step_failure_data.error)


# ---------------------------------------------------------------------- on the fake slurmrestd
def _ids(fake: FakeSlurmServer) -> list[int]:
    return [j.job_id for j in fake.jobs()]


@pytest.mark.slurm_fake(realtime=True, speed=20.0, default_runtime=20)
def test_run_job_submits_waits_and_attaches_metadata(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource
) -> None:
    @asset
    def hello(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        spec = JobBuilder().name("hello").script("#!/bin/bash\necho hi\n").partition("debug")
        run = slurm.run_job(spec.environment({"GREETING": "hi"}), context)
        assert run.job.state.is_success

    instance = DagsterInstance.ephemeral()
    result = materialize([hello], resources={"slurm": fake_slurm}, instance=instance)
    assert result.success
    [job_id] = _ids(slurm_fake)
    md = result.asset_materializations_for_node("hello")[0].metadata
    assert md["slurm_job_id"].value == job_id
    assert md["slurm_state"].value == "COMPLETED"
    assert md["slurm_exit_code"].value == 0
    # (the fake reports no nodes for a finished job; the integration tests check them)
    assert md["slurm_elapsed_seconds"].value == pytest.approx(20, abs=2)
    assert slurm_fake.script(job_id) == "#!/bin/bash\necho hi\n"
    assert slurm_fake.environment(job_id)["GREETING"] == "hi"
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"submitted SLURM job {job_id}" in m for m in logs)
    assert any(f"SLURM job {job_id}" in m and "COMPLETED" in m for m in logs)
    assert not any(TOKEN in m for m in logs)


@pytest.mark.slurm_fake(realtime=True, speed=20.0, default_runtime=10)
def test_a_failed_job_fails_the_step_with_state_exit_code_and_metadata(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource
) -> None:
    slurm_fake.set_job_outcome(name="bad", state="FAILED", exit_code=3)

    @asset
    def bad(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        slurm.run_job(JobBuilder().name("bad").script("#!/bin/bash\nexit 3\n"), context)

    result = materialize([bad], resources={"slurm": fake_slurm}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = failure.step_failure_data
    assert data is not None
    assert data.error is not None
    assert "FAILED" in data.error.message
    assert "exit code 3" in data.error.message
    assert data.user_failure_data is not None
    assert data.user_failure_data.metadata["slurm_exit_code"].value == 3


@pytest.mark.slurm_fake(realtime=True, speed=1.0, default_runtime=3600)
def test_a_step_that_stops_waiting_cancels_its_job(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource
) -> None:
    @asset
    def slow(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        slurm.run_job(JobBuilder().script("#!/bin/bash\nsleep 1h\n"), context, timeout=1.5)

    result = materialize([slow], resources={"slurm": fake_slurm}, raise_on_error=False)
    assert not result.success
    [job_id] = _ids(slurm_fake)
    assert slurm_fake.job(job_id).state.base == "CANCELLED"


@pytest.mark.slurm_fake(realtime=True, speed=1.0, default_runtime=3600)
def test_an_interrupted_step_cancels_its_job(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource
) -> None:
    """Dagster's own termination path: SIGINT while a step runs becomes
    DagsterExecutionInterruptedError in the step; run_job cancels the job and re-raises."""

    @asset
    def endless(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        slurm.run_job(JobBuilder().script("#!/bin/bash\nsleep 1h\n"), context)

    def interrupt_once_running() -> None:
        wait_for(lambda: any(j.state.base == "RUNNING" for j in slurm_fake.jobs()))
        send_interrupt()  # what Dagster's run worker does on termination

    instance = DagsterInstance.ephemeral()
    with in_thread(interrupt_once_running):
        result = materialize(
            [endless], resources={"slurm": fake_slurm}, instance=instance, raise_on_error=False
        )
    assert not result.success
    [job_id] = _ids(slurm_fake)
    assert slurm_fake.job(job_id).state.base == "CANCELLED"
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"run terminated: cancelling SLURM job {job_id}" in m for m in logs)


@pytest.mark.slurm_fake(realtime=True, speed=20.0, default_runtime=10)
def test_async_run_job(slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource) -> None:
    @asset
    async def hello_async(
        context: AssetExecutionContext, slurm: SlurmResource
    ) -> MaterializeResult[None]:
        run = await slurm.arun_job(
            JobBuilder().script("#!/bin/bash\ntrue\n"), context, add_output_metadata=False
        )
        return MaterializeResult(metadata=run.metadata)

    result = materialize([hello_async], resources={"slurm": fake_slurm})
    assert result.success
    md = result.asset_materializations_for_node("hello_async")[0].metadata
    assert md["slurm_job_id"].value == _ids(slurm_fake)[0]
    assert md["slurm_exit_code"].value == 0


# ---------------------------------------------------------------------- Pipes on the fake
def _play_pipes_job(env: dict[str, str]) -> None:
    """Do what the job's script would do inside the cluster, with the env it was given."""
    from dagster_pipes import PipesMappingParamsLoader, open_dagster_pipes

    with open_dagster_pipes(params_loader=PipesMappingParamsLoader(env)) as pipes:
        pipes.log.info("hello from the job")
        pipes.report_asset_materialization(metadata={"rows": pipes.extras["rows"]})
        pipes.report_asset_check(check_name="non_empty", passed=True)


def test_pipes_client_bootstraps_the_job_and_relays_its_messages(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource, tmp_path: Path
) -> None:
    """The fake runs no scripts: this test plays the job (manual clock, no timing)."""
    pipes = PipesSlurmClient(
        slurm=fake_slurm, shared_dir=str(tmp_path / "pipes"), extra_pythonpath=["/shared/py"]
    )
    seen: dict[str, object] = {}

    @asset(check_specs=[AssetCheckSpec("non_empty", asset="scored")])
    def scored(context: AssetExecutionContext, pipes_slurm: PipesSlurmClient):  # type: ignore[no-untyped-def]
        job = JobBuilder().script("#!/bin/bash\npython3 score.py\n").environment({"A": "1"})
        return pipes_slurm.run(context=context, job=job, extras={"rows": 7}).get_results()

    def job_side() -> None:
        # Submitted held, released once its user owns the session files.
        wait_for(lambda: any(not j.hold for j in slurm_fake.jobs()))
        [job_id] = _ids(slurm_fake)
        env = slurm_fake.environment(job_id)
        seen["env"] = env
        seen["job"] = slurm_fake.job(job_id)
        slurm_fake.advance(1)  # RUNNING
        _play_pipes_job(env)
        slurm_fake.advance(60)  # COMPLETED (default runtime), not yet purged

    instance = DagsterInstance.ephemeral()
    with in_thread(job_side):
        result = materialize(
            [scored], resources={"pipes_slurm": pipes}, instance=instance, raise_on_error=False
        )
    assert result.success
    env = seen["env"]
    assert isinstance(env, dict)
    assert env["A"] == "1"
    assert env["PYTHONPATH"] == "/shared/py"
    assert {"DAGSTER_PIPES_CONTEXT", "DAGSTER_PIPES_MESSAGES"} <= set(env)
    job = seen["job"]
    assert isinstance(job, Job)
    assert job.standard_output is not None
    assert job.standard_output.startswith(str(tmp_path / "pipes" / result.run_id))
    md = result.asset_materializations_for_node("scored")[0].metadata
    assert md["rows"].value == 7
    assert md["slurm_job_id"].value == job.job_id
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("hello from the job" in m for m in logs)
    assert not list((tmp_path / "pipes" / result.run_id).iterdir())  # session dir removed


@pytest.mark.slurm_fake(realtime=True, speed=1.0, default_runtime=3600)
def test_pipes_client_cancels_the_job_on_interrupt(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource, tmp_path: Path
) -> None:
    pipes = PipesSlurmClient(slurm=fake_slurm, shared_dir=str(tmp_path))

    @asset
    def endless(context: AssetExecutionContext, pipes_slurm: PipesSlurmClient):  # type: ignore[no-untyped-def]
        job = JobBuilder().script("#!/bin/bash\nsleep 1h\n")
        return pipes_slurm.run(context=context, job=job).get_results()

    def interrupt_once_running() -> None:
        wait_for(lambda: any(j.state.base == "RUNNING" for j in slurm_fake.jobs()))
        send_interrupt()  # what Dagster's run worker does on termination

    with in_thread(interrupt_once_running):
        result = materialize([endless], resources={"pipes_slurm": pipes}, raise_on_error=False)
    assert not result.success
    [job_id] = _ids(slurm_fake)
    assert slurm_fake.job(job_id).state.base == "CANCELLED"
    # A failed session keeps its directory (the job's logs) for inspection.
    assert list((tmp_path / result.run_id).iterdir())


@pytest.mark.slurm_fake(realtime=True, speed=20.0, default_runtime=10)
def test_run_job_takes_a_builder_factory_bound_to_the_steps_client(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource
) -> None:
    """A preset made with client.jobs.submit(...) is submitted by its own execute()."""
    made: list[object] = []

    def factory(client: SlurmClient) -> TrainingJob:
        job = client.jobs.submit(TrainingJob).name("trainer").command(["python3", "train.py"])
        made.append(job)
        return job.with_gpus(1).with_checkpointing("/shared/ckpt")

    @asset
    def trained(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        slurm.run_job(factory, context)

    assert materialize([trained], resources={"slurm": fake_slurm}).success
    [job_id] = _ids(slurm_fake)
    assert len(made) == 1
    assert slurm_fake.environment(job_id)["SLURM_CLIENT_CHECKPOINT_DIR"] == "/shared/ckpt"
    assert "TrainingJob wrapper" in slurm_fake.script(job_id)


def test_run_job_refuses_what_is_not_a_job() -> None:
    res = SlurmResource(url=URL, token=TOKEN)

    @asset
    def wrong(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        slurm.run_job(lambda client: "not a builder", context)  # type: ignore[arg-type,return-value]

    result = materialize([wrong], resources={"slurm": res}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_failure_data is not None
    assert "not a JobBuilder" in str(failure.step_failure_data.error)


@pytest.mark.slurm_fake(realtime=True, speed=1.0, default_runtime=3600)
def test_an_interrupted_async_step_has_its_job_cancelled_at_teardown(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource
) -> None:
    """SIGINT lands in the step's event loop, not in arun_job's coroutine (Dagster abandons
    it): the resource's teardown, which Dagster runs on termination too, cancels the job."""

    @asset
    async def endless_async(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        await slurm.arun_job(JobBuilder().script("#!/bin/bash\nsleep 1h\n"), context)

    def interrupt_once_running() -> None:
        wait_for(lambda: any(j.state.base == "RUNNING" for j in slurm_fake.jobs()))
        send_interrupt()  # what Dagster's run worker does on termination

    instance = DagsterInstance.ephemeral()
    with in_thread(interrupt_once_running):
        result = materialize(
            [endless_async],
            resources={"slurm": fake_slurm},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    [job_id] = _ids(slurm_fake)
    assert slurm_fake.job(job_id).state.base == "CANCELLED"
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"run ended before the job: cancelling SLURM job {job_id}" in m for m in logs)


@pytest.mark.slurm_fake(realtime=True, speed=1.0, default_runtime=3600)
def test_async_timeout_cancels_the_job(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource
) -> None:
    @asset
    async def slow_async(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        await slurm.arun_job(JobBuilder().script("#!/bin/bash\nsleep 1h\n"), context, timeout=1.5)

    result = materialize([slow_async], resources={"slurm": fake_slurm}, raise_on_error=False)
    assert not result.success
    [job_id] = _ids(slurm_fake)
    assert slurm_fake.job(job_id).state.base == "CANCELLED"


# ---------------------------------------------------------------------- settings and keys (#17)
def test_fields_go_through_the_shared_parser_with_its_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError) as err:
        SlurmResource(url=URL, token=TOKEN, poll_interval_seconds=0)
    assert err.value.field == "poll_interval"
    with pytest.raises(ConfigurationError) as err:
        SlurmResource(url=URL, token=TOKEN, working_directory="relative/dir")
    assert err.value.field == "working_directory"
    res = SlurmResource(url=URL, token=TOKEN, poll_interval_seconds=3, working_directory="/w")
    assert (res.settings().poll_interval, res.settings().working_directory) == (3.0, "/w")


def test_env_var_url_is_checked_when_set_and_read_when_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLURM_DAGSTER_TEST_URL", raising=False)
    res = SlurmResource(url=EnvVar("SLURM_DAGSTER_TEST_URL"), token=TOKEN)  # defined elsewhere
    monkeypatch.setenv("SLURM_DAGSTER_TEST_URL", "http://slurm.test:6820")
    assert res.settings().url == "http://slurm.test:6820"
    monkeypatch.setenv("SLURM_DAGSTER_TEST_URL", "ftp://nope")
    with pytest.raises(ConfigurationError) as err:
        SlurmResource(url=EnvVar("SLURM_DAGSTER_TEST_URL"), token=TOKEN)
    assert err.value.field == "url"


def test_the_watch_fleet_field_reaches_the_core_and_stays_out_of_repr() -> None:
    url = "redis://:fleet-pw-123@redis.example:6379/0"
    res = SlurmResource(url=URL, token=TOKEN, user_name="alice", watch_fleet=url)
    assert res.settings().watch_fleet == url
    with SlurmClient.from_settings(res.settings()) as client:
        assert client._http.options.watch_fleet == url  # the core shares the watch with it
    assert "fleet-pw-123" not in repr(res) + repr(res.settings())


def test_oidc_fields_reach_the_parser_and_their_secrets_stay_out_of_repr() -> None:
    secret = "an-oidc-client-secret-value"
    res = SlurmResource(
        url=URL,
        oidc_issuer="https://idp.test/realms/hpc",
        oidc_client_id="dagster",
        oidc_client_secret=secret,
    )
    assert secret not in repr(res)
    assert res.auth_method() == "oidc"


def test_a_dynamic_step_key_makes_a_valid_distinct_submission_key() -> None:
    from slurm_dagster._jobs import step_key

    class Ctx:
        def __init__(self, step: str) -> None:
            self.run = type("R", (), {"root_run_id": None, "run_id": "3f2a-run"})()
            self._step = step

        def get_step_execution_context(self) -> object:
            return type("S", (), {"step": type("T", (), {"key": self._step})()})()

    a = step_key(Ctx("fan_out[a b]"))  # type: ignore[arg-type]
    b = step_key(Ctx("fan_out[a_b]"))  # type: ignore[arg-type]
    assert a != b
    for key in (a, b, step_key(Ctx("x" * 300))):  # type: ignore[arg-type]
        JobBuilder().submission_key(key)  # valid: 1-128 of letters, digits and ._:-
        assert len(key) <= 120
