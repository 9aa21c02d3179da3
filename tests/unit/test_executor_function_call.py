"""``FunctionCall``: a call's outcome read back by another process (a resumed deferred task,
a retry that re-attached), without a cluster. The job side is the real runner, run as a
subprocess as a job would run it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from slurm_core import JobFailedError
from slurm_core.executor import (
    ExecutorError,
    FunctionCall,
    MissingResultError,
    RemoteTraceback,
    ResultAuthenticationError,
)
from slurm_core.jobs import SubmittedJob


def _plan(tmp_path: Path, fn: object, *args: object) -> FunctionCall:
    return FunctionCall.plan(fn, args, {}, workspace=tmp_path, time_limit="5:00")  # type: ignore[arg-type]


def _run_job(call: FunctionCall) -> int:
    """What the job does: the spec's script, run here."""
    assert call.spec is not None
    assert call.spec.script is not None
    return subprocess.run(
        ["/bin/sh", "-c", call.spec.script], capture_output=True, check=False, timeout=60
    ).returncode


def test_another_process_reads_the_value_by_the_directory(tmp_path: Path) -> None:
    call = _plan(tmp_path, lambda x: x * 6, 7)
    assert call.spec is not None
    assert call.spec.working_directory == call.directory  # how a retry finds it again
    assert _run_job(call) == 0
    again = FunctionCall.reopen(tmp_path, call.directory)  # nothing shared but the path
    assert again.outcome(42, "COMPLETED", 0) == (True, 42)
    again.close()
    assert not Path(call.directory).exists()


def test_the_function_exception_comes_back_with_its_remote_traceback(tmp_path: Path) -> None:
    def broken() -> None:
        raise KeyError("no such column")

    call = _plan(tmp_path, broken)
    assert _run_job(call) == 1
    ok, exc = FunctionCall.reopen(tmp_path, call.directory).outcome(7, "FAILED", 1)
    assert not ok
    assert isinstance(exc, KeyError)
    assert isinstance(exc.__cause__, RemoteTraceback)
    assert "in broken" in exc.__cause__.tb


def test_a_job_that_died_or_wrote_nothing(tmp_path: Path) -> None:
    call = _plan(tmp_path, abs, -1)
    ok, exc = call.outcome(8, "CANCELLED", 0, "cancelled by user")
    assert not ok
    assert isinstance(exc, JobFailedError)
    assert exc.state == "CANCELLED"
    ok, exc = call.outcome(8, "COMPLETED", 0)
    assert isinstance(exc, MissingResultError)


def test_a_swapped_key_or_result_is_refused_not_unpickled(tmp_path: Path) -> None:
    first, second = _plan(tmp_path, abs, -1), _plan(tmp_path, abs, -2)
    assert _run_job(first) == 0
    assert _run_job(second) == 0
    # another call's genuine result moved in: its MAC does not verify under this key
    out = next(Path(first.directory).glob("*.0.out"))
    (theirs,) = Path(second.directory).glob("*.0.out")
    out.unlink()
    os.link(theirs, out)
    ok, exc = FunctionCall.reopen(tmp_path, first.directory).outcome(9, "COMPLETED", 0)
    assert not ok
    assert isinstance(exc, ResultAuthenticationError)


@pytest.mark.parametrize("where", ["outside", "link", "mode", "two-keys"])
def test_reopen_refuses_what_is_not_a_call_directory(tmp_path: Path, where: str) -> None:
    call = _plan(tmp_path, abs, -1)
    directory = Path(call.directory)
    if where == "outside":
        directory = tmp_path / "elsewhere" / directory.name
        directory.mkdir(parents=True, mode=0o700)
    elif where == "link":
        directory = tmp_path / "slurm-executor-link"
        directory.symlink_to(call.directory)
    elif where == "mode":
        directory.chmod(0o755)
    else:
        (directory / "b9-0000.key").write_text("00")
    with pytest.raises(ExecutorError):
        FunctionCall.reopen(tmp_path, directory)


def test_a_loose_key_file_is_refused(tmp_path: Path) -> None:
    call = _plan(tmp_path, abs, -1)
    (key,) = Path(call.directory).glob("*.key")
    key.chmod(0o644)
    with pytest.raises(ResultAuthenticationError):
        FunctionCall.reopen(tmp_path, call.directory)


def test_a_reopened_call_cannot_plan_more(tmp_path: Path) -> None:
    call = _plan(tmp_path, abs, -1)
    again = FunctionCall.reopen(tmp_path, call.directory)
    with pytest.raises(ExecutorError, match="not to submit"):
        again._files.new_batch(1)


def test_adopt_keeps_a_new_job_and_drops_its_own_files_for_an_attached_one(
    tmp_path: Path,
) -> None:
    earlier = _plan(tmp_path, lambda: "first try")
    assert _run_job(earlier) == 0
    later = _plan(tmp_path, lambda: "second try")
    assert later.adopt(None, SubmittedJob(job_id=5)) is later  # type: ignore[arg-type]

    class Jobs:
        def get(self, job_id: int) -> object:
            assert job_id == 6
            return type("Job", (), {"working_directory": earlier.directory})()

    client = type("Client", (), {"jobs": Jobs()})()
    found = later.adopt(client, SubmittedJob(job_id=6, attached=True))  # type: ignore[arg-type]
    assert found.directory == earlier.directory
    assert not Path(later.directory).exists()
    assert found.outcome(6, "COMPLETED", 0) == (True, "first try")
