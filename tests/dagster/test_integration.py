"""slurm_dagster against real SLURM clusters: the real Dagster, in-process, materializing
assets whose work runs as SLURM jobs (one cluster per release in $SLURM_TEST_RELEASES).

Termination is Dagster's own path: when a run is terminated, the run worker's termination
thread calls ``dagster_shared.ipc.send_interrupt()`` (a SIGINT to its own process), and the
step's signal handler raises DagsterExecutionInterruptedError inside the step. The tests call
that same function once the SLURM job is running and check that SLURM ends it CANCELLED.
"""

import importlib.util
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    DagsterInstance,
    ExecuteInProcessResult,
    MaterializeResult,
    asset,
    materialize,
)
from dagster_shared.ipc import send_interrupt
from slurm_dagster import PipesSlurmClient, SlurmIOManager, SlurmResource

from slurm_core import JobFailedError
from slurm_core.jobs import JobBuilder
from slurm_core.testing.cluster import LocalSlurmCluster

PATH_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
IO_KEY = "an-io-manager-key-of-at-least-32-characters"


def _job(work_dir: Path, script: str, name: str) -> JobBuilder:
    return (
        JobBuilder()
        .name(name)
        .script(script)
        .working_directory(work_dir)
        .output(work_dir / f"{name}-%j.out")
        .environment(PATH_ENV)
        .time_limit("0:05:00")
    )


def _user_messages(instance: DagsterInstance, result: ExecuteInProcessResult) -> list[str]:
    return [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]


def _step_error(result: ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "no step failed"
    data = failures[0].step_failure_data
    return str(data.error.to_string() if data.error else "")


def _final_state(slurm: SlurmResource, job_id: int) -> str:
    """The state SLURM gives the job once it has ended (waited for by slurm_core)."""
    with slurm.get_client() as client:
        try:
            job = client.jobs.wait(job_id, timeout=60)
        except JobFailedError as exc:
            return str(exc.state)
        return str(job.state.base)


@contextmanager
def interrupt_when(marker: Path, timeout: float = 90.0) -> Iterator[None]:
    """Interrupt this process as Dagster's run worker does on termination, once ``marker``
    exists (the job is running). Waits on the file, never on a fixed delay."""
    stop = threading.Event()
    fired = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < deadline:
            if marker.exists() and marker.stat().st_size > 0:
                fired.set()
                send_interrupt()  # what Dagster's run worker does on termination
                return
            stop.wait(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    assert fired.is_set(), f"the job never wrote {marker}"


# ---------------------------------------------------------------------- SlurmResource.run_job
def test_run_job_materializes_with_job_metadata(slurm: SlurmResource, work_dir: Path) -> None:
    @asset
    def greeting(context: AssetExecutionContext, slurm: SlurmResource) -> MaterializeResult[None]:
        job = _job(work_dir, "#!/bin/bash\necho hello from $SLURM_JOB_ID\nsleep 1\n", "hello")
        run = slurm.run_job(job, context, add_output_metadata=False)
        return MaterializeResult(metadata=run.metadata)

    instance = DagsterInstance.ephemeral()
    result = materialize([greeting], resources={"slurm": slurm}, instance=instance)
    assert result.success
    md = result.asset_materializations_for_node("greeting")[0].metadata
    job_id = md["slurm_job_id"].value
    assert isinstance(job_id, int)
    assert md["slurm_exit_code"].value == 0
    assert md["slurm_state"].value == "COMPLETED"
    assert md["slurm_nodes"].value
    elapsed = md["slurm_elapsed_seconds"].value
    assert isinstance(elapsed, float)
    assert elapsed >= 0
    out = (work_dir / f"hello-{job_id}.out").read_text()
    assert out == f"hello from {job_id}\n"
    messages = _user_messages(instance, result)
    assert any(f"submitted SLURM job {job_id}" in m for m in messages)
    assert any(f"SLURM job {job_id}" in m and "COMPLETED" in m for m in messages)


def test_run_job_adds_output_metadata_to_a_returned_value(
    slurm: SlurmResource, work_dir: Path, tmp_path: Path
) -> None:
    @asset
    def answer(context: AssetExecutionContext, slurm: SlurmResource) -> int:
        slurm.run_job(_job(work_dir, "#!/bin/bash\ntrue\n", "answer"), context)
        return 42

    result = materialize(
        [answer],
        resources={
            "slurm": slurm,
            "io_manager": SlurmIOManager(base_dir=str(tmp_path), secret_key=IO_KEY),
        },
    )
    assert result.success
    md = result.asset_materializations_for_node("answer")[0].metadata
    assert md["slurm_exit_code"].value == 0
    assert md["stored_as"].value == "pickle"


def test_a_failing_job_fails_the_step_with_its_reason(slurm: SlurmResource, work_dir: Path) -> None:
    @asset
    def broken(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        slurm.run_job(_job(work_dir, "#!/bin/bash\necho oops >&2\nexit 3\n", "broken"), context)

    result = materialize([broken], resources={"slurm": slurm}, raise_on_error=False)
    assert not result.success
    error = _step_error(result)
    assert "FAILED" in error
    assert "exit code 3" in error
    assert "NonZeroExitCode" in error  # slurmctld's reason
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    md = failure.step_failure_data.user_failure_data.metadata  # type: ignore[union-attr]
    assert md["slurm_exit_code"].value == 3
    assert md["slurm_state"].value == "FAILED"


def test_terminating_the_run_cancels_the_job(
    slurm: SlurmResource, slurm_cluster: LocalSlurmCluster, work_dir: Path
) -> None:
    marker = work_dir / "started"
    script = (
        f"#!/bin/bash\necho $SLURM_JOB_ID > {marker}.tmp\nmv {marker}.tmp {marker}\nsleep 300\n"
    )

    @asset
    def long_running(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        slurm.run_job(_job(work_dir, script, "long"), context)

    instance = DagsterInstance.ephemeral()
    with interrupt_when(marker):
        result = materialize(
            [long_running], resources={"slurm": slurm}, instance=instance, raise_on_error=False
        )
    assert not result.success
    job_id = int(marker.read_text())
    assert _final_state(slurm, job_id) == "CANCELLED"
    messages = _user_messages(instance, result)
    assert any(f"run terminated: cancelling SLURM job {job_id}" in m for m in messages)


# ---------------------------------------------------------------------- Pipes
PIPES_JOB = """\
import os
from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    job = os.environ["SLURM_JOB_ID"]
    pipes.log.info("hello from inside SLURM job " + job)
    rows = pipes.extras["rows"]
    pipes.report_asset_materialization(metadata={"rows": rows, "job_inside": job})
    pipes.report_asset_check(check_name="rows_positive", passed=rows > 0, metadata={"rows": rows})
"""

PIPES_SLEEPER = """\
import os, time
from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    marker = pipes.extras["marker"]
    with open(marker + ".tmp", "w") as fh:
        fh.write(os.environ["SLURM_JOB_ID"])
    os.rename(marker + ".tmp", marker)
    pipes.log.info("sleeping")
    time.sleep(300)
"""


@pytest.fixture
def pipes_slurm(slurm: SlurmResource, work_dir: Path, pipes_pythonpath: str) -> PipesSlurmClient:
    return PipesSlurmClient(
        slurm=slurm, shared_dir=str(work_dir / "pipes"), extra_pythonpath=[pipes_pythonpath]
    )


def test_pipes_messages_from_the_job_reach_dagster(
    pipes_slurm: PipesSlurmClient, work_dir: Path
) -> None:
    script = work_dir / "pipes_job.py"
    script.write_text(PIPES_JOB)

    @asset(check_specs=[AssetCheckSpec("rows_positive", asset="scored")])
    def scored(context: AssetExecutionContext, pipes_slurm: PipesSlurmClient):  # type: ignore[no-untyped-def]
        job = _job(work_dir, f"#!/bin/bash\nexec python3 {script}\n", "pipes").unset("output")
        return pipes_slurm.run(context=context, job=job, extras={"rows": 42}).get_results()

    instance = DagsterInstance.ephemeral()
    result = materialize([scored], resources={"pipes_slurm": pipes_slurm}, instance=instance)
    assert result.success
    md = result.asset_materializations_for_node("scored")[0].metadata
    assert md["rows"].value == 42
    job_id = md["slurm_job_id"].value
    assert md["job_inside"].value == str(job_id)
    assert md["slurm_exit_code"].value == 0
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "rows_positive"
    assert check.passed
    assert check.metadata["rows"].value == 42
    messages = _user_messages(instance, result)
    assert any(f"hello from inside SLURM job {job_id}" in m for m in messages)
    # A successful session cleans up its directory.
    assert not any((work_dir / "pipes").glob("*/*"))


def test_pipes_job_failure_fails_the_step(pipes_slurm: PipesSlurmClient, work_dir: Path) -> None:
    @asset
    def doomed(context: AssetExecutionContext, pipes_slurm: PipesSlurmClient):  # type: ignore[no-untyped-def]
        job = _job(work_dir, "#!/bin/bash\necho no pipes here\nexit 7\n", "doomed").unset("output")
        return pipes_slurm.run(context=context, job=job).get_results()

    result = materialize([doomed], resources={"pipes_slurm": pipes_slurm}, raise_on_error=False)
    assert not result.success
    assert "exit code 7" in _step_error(result)


def test_pipes_termination_cancels_the_job(
    pipes_slurm: PipesSlurmClient, slurm: SlurmResource, work_dir: Path
) -> None:
    script = work_dir / "sleeper.py"
    script.write_text(PIPES_SLEEPER)
    marker = work_dir / "pipes-started"

    @asset
    def endless(context: AssetExecutionContext, pipes_slurm: PipesSlurmClient):  # type: ignore[no-untyped-def]
        job = _job(work_dir, f"#!/bin/bash\nexec python3 {script}\n", "sleeper")
        return pipes_slurm.run(
            context=context, job=job, extras={"marker": str(marker)}
        ).get_results()

    instance = DagsterInstance.ephemeral()
    with interrupt_when(marker):
        result = materialize(
            [endless],
            resources={"pipes_slurm": pipes_slurm},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    job_id = int(marker.read_text())
    assert _final_state(slurm, job_id) == "CANCELLED"
    messages = _user_messages(instance, result)
    assert any("sleeping" in m for m in messages)
    assert any(f"run terminated: cancelling SLURM job {job_id}" in m for m in messages)


# ---------------------------------------------------------------------- SlurmIOManager
def test_io_manager_round_trips_between_two_slurm_assets(
    slurm: SlurmResource, slurm_cluster: LocalSlurmCluster, work_dir: Path
) -> None:
    """The pickle is 0640 in 0750 directories of the job user's group: the job reads it,
    other users do not."""
    gid = slurm_cluster.run(["id", "-g"], user=slurm_cluster.user_name).stdout.strip()
    base = work_dir / "assets"
    numbers_file = work_dir / "numbers.txt"
    sum_file = work_dir / "sum.txt"

    @asset
    def numbers(context: AssetExecutionContext, slurm: SlurmResource) -> list[int]:
        slurm.run_job(_job(work_dir, f"#!/bin/bash\nseq 1 5 > {numbers_file}\n", "nums"), context)
        return [int(x) for x in numbers_file.read_text().split()]

    @asset(ins={"numbers": AssetIn()})
    def total(context: AssetExecutionContext, slurm: SlurmResource, numbers: Path) -> int:
        # The job unpickles the stored value itself, from the path the IO manager gives.
        code = (
            "import pickle, sys; "
            f"open({str(sum_file)!r}, 'w').write(str(sum(pickle.load(open(sys.argv[1], 'rb')))))"
        )
        script = f'#!/bin/bash\npython3 -c "{code}" {numbers}\n'
        slurm.run_job(_job(work_dir, script, "total"), context)
        return int(sum_file.read_text())

    result = materialize(
        [numbers, total],
        resources={
            "slurm": slurm,
            "io_manager": SlurmIOManager(base_dir=str(base), secret_key=IO_KEY, job_group=gid),
        },
    )
    assert result.success
    stored = (base / "numbers" / "__all__.pkl").stat()
    assert (stored.st_mode & 0o777, stored.st_gid) == (0o640, int(gid))
    assert result.output_for_node("total") == 15
    job_ids = {
        node: result.asset_materializations_for_node(node)[0].metadata["slurm_job_id"].value
        for node in ("numbers", "total")
    }
    assert job_ids["numbers"] != job_ids["total"]


# ---------------------------------------------------------------------- the example
def test_ml_pipeline_example_materializes(
    slurm: SlurmResource, work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_DAGSTER_IO_KEY", IO_KEY)
    path = Path(__file__).parents[2] / "examples" / "dagster" / "ml_pipeline.py"
    spec = importlib.util.spec_from_file_location("ml_pipeline_example", path)
    assert spec is not None
    assert spec.loader is not None
    ml_pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ml_pipeline)
    base = str(work_dir / "ml")
    result = materialize(ml_pipeline.ASSETS, resources=ml_pipeline.resources(base, slurm))
    assert result.success
    metrics = result.output_for_node("evaluate")
    assert metrics["rows"] == 200
    assert metrics["mse"] < 0.1
    for node in ("preprocess", "train", "evaluate"):
        md = result.asset_materializations_for_node(node)[0].metadata
        assert md["slurm_exit_code"].value == 0
    checkpoints = sorted((work_dir / "ml" / "train" / "files" / "checkpoints").iterdir())
    assert [p.name for p in checkpoints] == ["epoch-0001", "epoch-0002", "epoch-0003"]
