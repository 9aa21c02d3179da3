"""The one-job supervisor against real slurmrestd: re-attach by key, dependency fail-fast,
live output and the cancel policy (docs/concepts/lifecycle.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from test_submit_helpers import finished, make_client, unique

from slurm_core import (
    AsyncSlurmClient,
    JobBuilder,
    JobFailedError,
    JobSpec,
    SlurmClient,
    StaticToken,
)
from slurm_core.jobs import SharedFilesystemReader, split_comment
from slurm_core.lifecycle import (
    AsyncJobSupervisor,
    CancelReason,
    DependencyNeverSatisfiedError,
    JobSupervisor,
    OutputLine,
)
from slurm_core.models import JobBaseState
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import WaitTimeoutError


@pytest.fixture
def client(slurm_cluster: LocalSlurmCluster) -> Iterator[SlurmClient]:
    with make_client(slurm_cluster) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _job(client: SlurmClient, cluster: LocalSlurmCluster, script: str) -> JobBuilder:
    shared = str(cluster.shared_dir)
    return (
        client.jobs.submit()
        .script("#!/bin/bash\n" + script + "\n")
        .name(unique("lifecycle"))
        .working_directory(shared)
        .output(shared + "/lifecycle-%j.out")
        .error(shared + "/lifecycle-%j.err")
        .time_limit(timedelta(minutes=3))
        .memory_per_cpu("50M")
    )


def _jobs_with_key(client: SlurmClient, key: str) -> list[int]:
    return sorted(j.job_id for j in client.jobs.list() if split_comment(j.comment)[1] == key)


def _state(client: SlurmClient, job_id: int) -> JobBaseState | str:
    return client.jobs.get(job_id).state.base


def test_a_second_supervisor_attaches_to_the_live_job(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    key = unique("lc-live")
    first = JobSupervisor(client, _job(client, slurm_cluster, "sleep 120"), key=key)
    submitted = first.start()
    assert not submitted.attached
    try:
        # A restarted worker: a new client, a new supervisor, the same key.
        with make_client(slurm_cluster) as again:
            second = JobSupervisor(again, _job(again, slurm_cluster, "sleep 120"), key=key)
            found = second.start()
            assert found.attached
            assert found.job_id == submitted.job_id
            assert _jobs_with_key(client, key) == [submitted.job_id]
            assert second.cancel(CancelReason.ORCHESTRATOR_CANCELLED) is True
    finally:
        client.jobs.cancel(submitted.job_id)
    assert finished(client, submitted.job_id).state.base is JobBaseState.CANCELLED


def test_a_finished_job_is_attached_not_run_again(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    key = unique("lc-done")
    done = JobSupervisor(client, _job(client, slurm_cluster, "exit 0"), key=key, poll_interval=1)
    first = done.run(timeout=120)
    again = JobSupervisor(client, _job(client, slurm_cluster, "exit 0"), key=key, poll_interval=1)
    result = again.run(timeout=120)
    assert result.attached
    assert result.job_id == first.job_id
    assert result.state == "COMPLETED"
    assert result.exit_code == 0
    assert _jobs_with_key(client, key) == [first.job_id]


def test_another_users_job_with_the_key_is_never_adopted(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    key = unique("lc-decoy")
    bob = StaticToken(slurm_cluster.token("bob"), user_name="bob")
    with SlurmClient(slurm_cluster.rest_url, auth=bob, timeout=30) as mallory:
        decoy = _job(mallory, slurm_cluster, "sleep 300").hold().submission_key(key).execute()
        try:
            mine = JobSupervisor(client, _job(client, slurm_cluster, "sleep 60"), key=key).start()
            try:
                assert not mine.attached
                assert mine.job_id != decoy.job_id
                assert client.jobs.get(mine.job_id).user_name == slurm_cluster.user_name
            finally:
                client.jobs.cancel(mine.job_id)
        finally:
            mallory.jobs.cancel(decoy.job_id)


def test_afterok_downstream_fails_fast_naming_the_failed_upstream(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    upstream = _job(client, slurm_cluster, "sleep 3; exit 3").execute()
    downstream = _job(client, slurm_cluster, "echo never").depends_on(afterok=[upstream.job_id])
    supervisor = JobSupervisor(client, downstream, key=unique("lc-dep"), poll_interval=1)
    with pytest.raises(DependencyNeverSatisfiedError) as caught:
        supervisor.run(timeout=120)  # without the fail-fast: WaitTimeoutError
    err = caught.value
    assert err.upstream_job_id == upstream.job_id
    assert err.upstream_state == "FAILED"
    assert err.upstream_exit_code == 3
    assert f"job {upstream.job_id}" in str(err)
    assert supervisor.job_id is not None
    # It would pend forever: the policy cancels it.
    assert finished(client, supervisor.job_id).state.base is JobBaseState.CANCELLED


def test_a_job_given_by_id_fails_fast_from_slurmctlds_reason(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    upstream = _job(client, slurm_cluster, "exit 4").execute()
    finished(client, upstream.job_id)
    builder = _job(client, slurm_cluster, "echo never").depends_on(afterok=[upstream.job_id])
    downstream = builder.execute()
    with pytest.raises(DependencyNeverSatisfiedError) as caught:
        JobSupervisor(client, downstream.job_id, poll_interval=1).run(timeout=120)
    assert caught.value.upstream_job_id == upstream.job_id
    assert caught.value.upstream_state == "FAILED"
    assert finished(client, downstream.job_id).state.base is JobBaseState.CANCELLED


def test_stderr_lines_arrive_while_the_job_runs(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    seen: list[tuple[OutputLine, JobBaseState | str]] = []

    def on_output(line: OutputLine) -> None:
        seen.append((line, _state(client, line.job_id)))

    script = "echo 'warming up' >&2; echo step1; sleep 8; echo done >&2"
    supervisor = JobSupervisor(
        client,
        _job(client, slurm_cluster, script),
        key=unique("lc-out"),
        poll_interval=1,
        reader=SharedFilesystemReader(roots=[str(slurm_cluster.shared_dir)]),
        on_output=on_output,
    )
    supervisor.run(timeout=120)
    lines = [(line.stream, line.text) for line, _ in seen]
    assert lines.count(("stderr", "warming up")) == 1
    assert ("stderr", "done") in lines
    assert ("stdout", "step1") in lines
    first_err = next(state for line, state in seen if line.text == "warming up")
    assert first_err is JobBaseState.RUNNING, "stderr came only after the job ended"


def test_our_process_exiting_leaves_the_job_for_the_next_attempt(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    key = unique("lc-exit")

    def exit_now(_: object) -> None:
        raise SystemExit(1)  # e.g. a worker shutting down mid-job

    supervisor = JobSupervisor(
        client, _job(client, slurm_cluster, "sleep 60"), key=key, poll_interval=1, on_event=exit_now
    )
    with pytest.raises(SystemExit):
        supervisor.run(timeout=120)
    job_id = supervisor.job_id
    assert job_id is not None
    try:
        assert _state(client, job_id) in (JobBaseState.PENDING, JobBaseState.RUNNING)
        nxt = JobSupervisor(client, _job(client, slurm_cluster, "sleep 60"), key=key)
        assert nxt.start().job_id == job_id  # the next attempt re-attaches
    finally:
        client.jobs.cancel(job_id)


def test_a_kill_and_a_timeout_cancel_the_job(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    def interrupt(_: object) -> None:
        raise KeyboardInterrupt  # the orchestrator's kill

    killed = JobSupervisor(
        client, _job(client, slurm_cluster, "sleep 60"), key=unique("lc-kill"), on_event=interrupt
    )
    with pytest.raises(KeyboardInterrupt):
        killed.run(timeout=120)
    assert killed.job_id is not None
    assert finished(client, killed.job_id).state.base is JobBaseState.CANCELLED

    late = JobSupervisor(
        client, _job(client, slurm_cluster, "sleep 60"), key=unique("lc-late"), poll_interval=1
    )
    with pytest.raises(WaitTimeoutError):
        late.run(timeout=3)
    assert late.job_id is not None
    assert finished(client, late.job_id).state.base is JobBaseState.CANCELLED


def test_a_failed_job_raises_with_its_exit_code(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    supervisor = JobSupervisor(
        client, _job(client, slurm_cluster, "exit 7"), key=unique("lc-fail"), poll_interval=1
    )
    with pytest.raises(JobFailedError) as caught:
        supervisor.run(timeout=120)
    assert caught.value.state == "FAILED"
    assert caught.value.exit_code == 7
    assert supervisor.outcome is not None
    assert not supervisor.outcome.ok


@pytest.mark.anyio
async def test_async_cancel_of_the_task_cancels_the_job_and_attach_works(
    slurm_cluster: LocalSlurmCluster,
) -> None:
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    shared = str(slurm_cluster.shared_dir)
    key = unique("lc-async")
    async with AsyncSlurmClient(slurm_cluster.rest_url, auth=auth, timeout=30) as client:

        def spec() -> JobSpec:
            return (
                client.jobs.submit()
                .script("#!/bin/bash\nsleep 60\n")
                .name(unique("lifecycle"))
                .working_directory(shared)
                .memory_per_cpu("50M")
                .to_spec()
            )

        supervisor = AsyncJobSupervisor(client, spec(), key=key, poll_interval=1)
        started = anyio.Event()
        supervisor.on_event = lambda event: started.set()
        async with anyio.create_task_group() as tg:
            tg.start_soon(supervisor.run)
            await started.wait()
            again = AsyncJobSupervisor(client, spec(), key=key)
            assert (await again.start()).job_id == supervisor.job_id
            tg.cancel_scope.cancel()  # the orchestrator cancels the task
        assert supervisor.job_id is not None
    with make_client(slurm_cluster) as sync:
        assert finished(sync, supervisor.job_id).state.base is JobBaseState.CANCELLED


DOC = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "lifecycle.md"


def test_the_documented_example_runs_as_written(slurm_cluster: LocalSlurmCluster) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(slurm_cluster.env())
    result = subprocess.run(
        [sys.executable, "-c", blocks[0]],
        env=env,
        cwd=slurm_cluster.shared_dir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()  # one poll reads stdout, then stderr
    assert sorted(lines[:2]) == ["stderr starting", "stdout result=42"]
    assert lines[2:] == ["COMPLETED 0 False"]
