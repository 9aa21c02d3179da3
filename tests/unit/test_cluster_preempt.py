"""Preempting a checkpointed job on a test cluster, against a scripted ``scontrol`` (no
daemons here; tests/integration/test_training.py and the orchestrators' example tests do it
live)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from slurm_core.testing.cluster import ClusterError, Preemption, PreemptTimeoutError, _preempt
from slurm_core.testing.cluster._preempt import job_fields, preempt


class ScriptedCluster:
    """Answers ``scontrol -o show job`` with the next of ``states``; records every command."""

    def __init__(self, states: Sequence[str], root: Path = Path("/nonexistent")) -> None:
        self.root = root
        self.states = list(states)
        self.commands: list[list[str]] = []

    def run(
        self, cmd: Sequence[str], *, timeout: float = 60.0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(cmd))
        out = ""
        if cmd[:3] == ["scontrol", "-o", "show"]:
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            out = f"JobId=7 JobName=train me UserId=alice(1000) {state} BatchFlag=1\n"
        return subprocess.CompletedProcess(list(cmd), 0, out, "")


def test_job_fields_reads_the_first_of_each_key() -> None:
    fields = job_fields(
        "JobId=7 JobName=x JobState=PENDING Reason=BeginTime Restarts=2 Command=a=b"
    )
    assert (fields["JobState"], fields["Restarts"], fields["Command"]) == ("PENDING", "2", "a=b")


def test_preempt_signals_waits_for_the_requeue_and_the_old_step_then_starts_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = ScriptedCluster(
        [
            "JobState=RUNNING Restarts=0",
            "JobState=REQUEUED Restarts=0",  # Slurm's transitional state
            "JobState=PENDING Restarts=1",
        ]
    )
    alive = [True, True, False]
    monkeypatch.setattr(_preempt, "batch_step_alive", lambda root, job_id: alive.pop(0))
    preempt(cluster, 7, timeout=10, interval=0)
    assert cluster.commands[0] == ["scancel", "--signal=USR2", "--batch", "7"]
    # a second later than the revocation of the first run's credential (same-second start:
    # "Job credential revoked")
    assert cluster.commands[-1] == ["scontrol", "update", "JobId=7", "StartTime=now+1"]
    assert len([c for c in cluster.commands if c[:2] == ["scontrol", "-o"]]) == 3
    assert alive == []  # started only once the first run's batch step was gone


def test_a_job_that_ends_instead_of_requeueing_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = ScriptedCluster(["JobState=RUNNING Restarts=0", "JobState=COMPLETED Restarts=0"])
    with pytest.raises(ClusterError, match="job 7 ended COMPLETED instead of being requeued"):
        preempt(cluster, 7, timeout=10, interval=0)
    assert not any(c[:2] == ["scontrol", "update"] for c in cluster.commands)


def test_a_requeue_that_never_comes_times_out_typed() -> None:
    cluster = ScriptedCluster(["JobState=RUNNING Restarts=0"])
    with pytest.raises(PreemptTimeoutError) as info:
        preempt(cluster, 7, timeout=0.05, interval=0.01)
    assert (info.value.job_id, info.value.stage) == (7, "the requeue")
    assert "state RUNNING" in str(info.value)
    assert isinstance(info.value, TimeoutError)


def test_a_batch_step_that_never_ends_times_out_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = ScriptedCluster(["JobState=PENDING Restarts=1"])
    monkeypatch.setattr(_preempt, "batch_step_alive", lambda root, job_id: True)
    with pytest.raises(PreemptTimeoutError) as info:
        preempt(cluster, 7, timeout=0.05, interval=0.01)
    assert info.value.stage == "the first run's batch step to end"
    assert not any(c[:2] == ["scontrol", "update"] for c in cluster.commands)


def test_the_batch_step_is_looked_for_in_this_cluster_only(tmp_path: Path) -> None:
    # a job of the same id on another cluster (another root) is not this one's
    assert not _preempt.batch_step_alive(tmp_path, 1)


def test_preemption_preempts_the_found_job_once_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = ScriptedCluster(["JobState=PENDING Restarts=1"])
    monkeypatch.setattr(_preempt, "batch_step_alive", lambda root, job_id: False)
    found = iter([None, None, 7])
    progress = iter([False, True])
    with Preemption(
        cluster, lambda: next(found), lambda j: next(progress), timeout=10, interval=0.01
    ) as p:
        for _ in range(500):
            if p.job_id is not None:
                break
            time.sleep(0.01)
    assert p.job_id == 7
    assert cluster.commands[0] == ["scancel", "--signal=USR2", "--batch", "7"]


def test_a_pipeline_that_ends_before_the_preemption_fails_the_test() -> None:
    cluster = ScriptedCluster(["JobState=RUNNING Restarts=0"])
    with (
        pytest.raises(ClusterError, match="the pipeline ended before the job to preempt"),
        Preemption(cluster, lambda: None, lambda j: True, timeout=10, interval=0.01),
    ):
        pass
    assert cluster.commands == []  # nothing signalled


def test_a_failing_probe_is_asked_again_and_named_if_it_never_answers() -> None:
    cluster = ScriptedCluster(["JobState=PENDING Restarts=1"])
    answers: list[object] = [TimeoutError("slow slurmrestd"), 7]

    def find() -> int | None:
        answer = answers.pop(0) if answers else None
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    stuck = Preemption(cluster, find, lambda j: False, timeout=0.2, interval=0.01)
    with pytest.raises(ClusterError, match="job 7's progress"), stuck:
        time.sleep(0.5)
    never = Preemption(cluster, lambda: 1 // 0, lambda j: True, timeout=0.1, interval=0.01)
    with pytest.raises(ClusterError, match="last probe failed: ZeroDivisionError"), never:
        time.sleep(0.3)
