"""The job lifecycle through Dagster, on a real cluster (issue #17): a re-executed step
re-attaches to its still-running job, an ``afterok`` chain whose upstream failed fails
fast, and the job's stderr reaches the step's compute log while the job runs.

The first test kills a real Dagster run worker with SIGKILL (a child process running
``execute_job`` on a persistent instance), then re-executes the step with Dagster's own
``ReexecutionOptions``, as the UI's "re-execute" does.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    ReexecutionOptions,
    asset,
    execute_job,
    materialize,
    reconstructable,
)
from dagster_helpers import wait_for
from slurm_dagster import SlurmResource

from slurm_core.jobs import JobBuilder
from slurm_core.testing.cluster import LocalSlurmCluster

PATH_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}

# A job definition importable by both the run worker we kill and the re-execution.
REEXEC_MODULE = """\
import os
from dagster import OpExecutionContext, in_process_executor, job, op
from slurm_core.jobs import JobBuilder
from slurm_dagster import SlurmResource

WORK = os.environ["REEXEC_WORK_DIR"]


@op
def sleeper(context: OpExecutionContext, slurm: SlurmResource) -> None:
    script = (
        "#!/bin/bash\\n"
        f"echo $SLURM_JOB_ID >> {WORK}/started\\n"
        f"for i in $(seq 300); do [ -e {WORK}/release ] && exit 0; sleep 0.5; done\\n"
        "exit 1\\n"
    )
    job = (JobBuilder().name("reexec").script(script).working_directory(WORK)
           .output(f"{WORK}/reexec-%j.out").environment({"PATH": "/usr/bin:/bin"})
           .time_limit("0:05:00"))
    slurm.run_job(job, context)


@job(
    executor_def=in_process_executor,
    resource_defs={
        "slurm": SlurmResource(
            url=os.environ["REEXEC_URL"],
            token=os.environ["REEXEC_TOKEN"],
            user_name=os.environ["REEXEC_USER"],
            poll_interval_seconds=1,
        )
    },
)
def sleep_job() -> None:
    sleeper()
"""

RUN_WORKER = """\
import sys
from dagster import DagsterInstance, execute_job, reconstructable
import reexec_defs

with DagsterInstance.get() as instance:
    execute_job(reconstructable(reexec_defs.sleep_job), instance=instance)
"""


@pytest.fixture
def persistent_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


@pytest.fixture(autouse=True)
def _one_release(slurm_cluster: Any) -> None:
    """Slow scenarios, the same on every release: run once (on 24.11)."""
    if slurm_cluster.release != "24.11":
        pytest.skip("a slow orchestrator scenario, run on 24.11 only")


def test_a_reexecuted_step_reattaches_to_its_running_job(
    slurm_cluster: LocalSlurmCluster,
    slurm: SlurmResource,
    work_dir: Path,
    persistent_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "reexec_defs.py").write_text(REEXEC_MODULE)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(persistent_home),
        "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]),
        "REEXEC_WORK_DIR": str(work_dir),
        "REEXEC_URL": slurm_cluster.rest_url,
        "REEXEC_TOKEN": slurm_cluster.token(),
        "REEXEC_USER": slurm_cluster.user_name,
    }
    for name in ("DAGSTER_HOME", "REEXEC_WORK_DIR", "REEXEC_URL", "REEXEC_TOKEN", "REEXEC_USER"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.syspath_prepend(str(code))
    started = work_dir / "started"

    # 1. A real run worker runs the step; it is killed (kill -9) while the job runs.
    worker = subprocess.Popen([sys.executable, "-c", RUN_WORKER], env=env)
    try:
        wait_for(lambda: started.exists() and started.read_text().strip() != "", timeout=120)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    first_job = int(started.read_text().split()[0])
    with slurm.get_client() as client:
        assert str(client.jobs.get(first_job).state.base) == "RUNNING"

    # 2. Re-execute the step: it re-attaches to the job (no second one), which then ends.
    import reexec_defs  # type: ignore[import-not-found]

    with DagsterInstance.get() as instance:
        [parent] = instance.get_runs()
        releaser = threading.Timer(3.0, lambda: (work_dir / "release").touch())
        releaser.start()
        try:
            result = execute_job(
                reconstructable(reexec_defs.sleep_job),
                instance=instance,
                reexecution_options=ReexecutionOptions(
                    parent_run_id=parent.run_id, step_selection=["sleeper"]
                ),
            )
        finally:
            releaser.cancel()
        assert result.success
        messages = [e.user_message for e in instance.all_logs(result.run_id) if e.user_message]
    assert any(f"re-attached to SLURM job {first_job}" in m for m in messages), messages
    outputs = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    job_md = outputs[0].step_output_data.metadata
    assert job_md["slurm_job_id"].value == first_job
    assert job_md["slurm_attached"].value is True
    assert started.read_text().split() == [str(first_job)], "a second job was submitted"


def test_afterok_upstream_failure_fails_the_downstream_step_naming_it(
    slurm: SlurmResource, work_dir: Path
) -> None:
    poll = 3.0
    resource = slurm.model_copy(update={"poll_interval_seconds": poll})
    upstream_ids: list[int] = []

    @asset
    def chained(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        with slurm.get_client() as client:  # an upstream job submitted elsewhere
            upstream = (
                client.jobs.submit()
                .name("upstream")
                .script("#!/bin/bash\nsleep 2\nexit 4\n")
                .working_directory(work_dir)
                .output(work_dir / "up-%j.out")
                .environment(PATH_ENV)
                .time_limit("0:02:00")
                .execute()
            )
        upstream_ids.append(upstream.job_id)
        down = (
            JobBuilder()
            .name("downstream")
            .script("#!/bin/bash\necho never\n")
            .working_directory(work_dir)
            .output(work_dir / "down-%j.out")
            .time_limit("0:02:00")
            .depends_on(afterok=[upstream.job_id])
        )
        slurm.run_job(down, context)

    instance = DagsterInstance.ephemeral()
    result = materialize(
        [chained], resources={"slurm": resource}, instance=instance, raise_on_error=False
    )
    assert not result.success
    [upstream_id] = upstream_ids
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = failure.step_failure_data
    text = str(data.error.to_string() if data.error else "")
    assert str(upstream_id) in text, text
    assert "FAILED" in text, text
    md = data.user_failure_data.metadata  # type: ignore[union-attr]
    assert md["slurm_upstream_job_id"].value == str(upstream_id)
    assert md["slurm_upstream_state"].value == "FAILED"
    with slurm.get_client() as client:
        ended = client.jobs.get(upstream_id).end_time
        submitted = client.jobs.get(md["slurm_job_id"].value).submit_time
    assert ended is not None
    assert submitted is not None
    # Within two poll intervals of the upstream's end, or of the downstream's submission when
    # a slow step submitted it after the upstream had ended (plus Slurm's one-second grain).
    failed_at = next(
        e.timestamp
        for e in instance.all_logs(result.run_id)
        if e.dagster_event is not None and e.dagster_event.event_type_value == "STEP_FAILURE"
    )
    since = max(ended, submitted)
    delay = failed_at - since.timestamp()
    what = "the upstream's end" if since == ended else "its submission"
    assert delay <= 2 * poll + 1.5, f"the downstream step failed {delay:.1f}s after {what}"


def test_stderr_reaches_the_compute_log_while_the_job_runs(
    slurm_cluster: LocalSlurmCluster, slurm: SlurmResource, work_dir: Path, dagster_home: Path
) -> None:
    release = work_dir / "release"
    name = f"chatty-{uuid.uuid4().hex[:6]}"
    script = (
        "#!/bin/bash\n"
        "echo live-stderr-line-$SLURM_JOB_ID >&2\n"
        f"for i in $(seq 180); do [ -e {release} ] && exit 0; sleep 0.5; done\n"
        "exit 1\n"
    )
    resource = slurm.model_copy(update={"poll_interval_seconds": 1.0})

    @asset
    def chatty(context: AssetExecutionContext, slurm: SlurmResource) -> None:
        job = (
            JobBuilder()
            .name(name)
            .script(script)
            .working_directory(work_dir)
            .output(work_dir / "chatty-%j.out")
            .error(work_dir / "chatty-%j.err")
            .environment(PATH_ENV)
            .time_limit("0:03:00")
        )
        slurm.run_job(job, context)

    seen: list[Path] = []

    def wait_until_running() -> None:
        # slurmctld's view (squeue), not slurmrestd's: a loaded slurmrestd must not end this.
        deadline = time.monotonic() + 240
        bumped = False
        while time.monotonic() < deadline:
            found = slurm_cluster.run(["squeue", "-h", "-n", name, "-o", "%i %T"]).stdout.split()
            if found and not bumped:  # the cluster is shared: ahead of other tests' pending jobs
                update = ["scontrol", "update", f"jobid={found[0]}", "priority=1000000000"]
                bumped = slurm_cluster.run(update).returncode == 0
            if found and found[1] != "PENDING":
                return
            time.sleep(0.5)

    def release_when_logged() -> None:
        wait_until_running()  # the clock starts when the job runs: it may pend on a busy cluster
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for log in dagster_home.rglob("*.err"):
                if "live-stderr-line-" in log.read_text(errors="replace"):
                    seen.append(log)
                    release.touch()
                    return
            time.sleep(0.2)

    watcher = threading.Thread(target=release_when_logged, daemon=True)
    watcher.start()
    try:
        with DagsterInstance.get() as instance:
            result = materialize([chatty], resources={"slurm": resource}, instance=instance)
    finally:
        watcher.join(5)
        release.touch()  # whatever happened, the job ends
    assert result.success  # the job ended only because the line reached the compute log
    assert seen, "stderr never reached the compute log"
    md = result.asset_materializations_for_node("chatty")[0].metadata
    assert md["slurm_stderr"].value.endswith(f"chatty-{md['slurm_job_id'].value}.err")
