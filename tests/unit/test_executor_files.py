"""The executor's files without a cluster: modes, signatures, refusals, array planning.

The job side is the real runner (``python runner.py DIR BATCH INDEX``) run as a subprocess
of this interpreter, as a job would run it.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_core.executor import (
    ExecutorError,
    ResultAuthenticationError,
    VersionMismatchError,
)
from slurm_core.executor._core import ExecutorCore
from slurm_core.executor._runner import FrameError, item_key, pack, unpack


def _core(tmp_path: Path, **options: object) -> ExecutorCore:
    return ExecutorCore(
        workspace=tmp_path,
        python=None,
        spec=None,
        job_user=None,
        max_array_size=int(options.pop("max_array_size", 1001)),  # type: ignore[call-overload]
        max_result_bytes=1 << 20,
        options=options,
    )


def _run_job(core: ExecutorCore, batch_id: str, index: int) -> subprocess.CompletedProcess[str]:
    files = core.files
    return subprocess.run(
        [core.python, str(files.runner), str(files.path), batch_id, str(index)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_directory_0700_files_0600_and_no_token(tmp_path: Path) -> None:
    core = _core(tmp_path, time_limit="5:00")
    plan = core.plan_call(lambda: os.environ.get("SLURM_JWT"), (), {})
    assert core.files.path.stat().st_mode & 0o777 == 0o700
    for f in core.files.path.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600, f
    assert "SLURM_JWT" not in plan.spec.environment
    assert plan.spec.time_limit is not None


def test_a_call_runs_through_the_real_runner_and_verifies(tmp_path: Path) -> None:
    core = _core(tmp_path)
    factor = 3
    plan = core.plan_call(lambda x: x * factor, (14,), {})
    assert _run_job(core, plan.batch.id, 0).returncode == 0
    assert core.files.read_result(plan.batch, 0, "1") == (True, 42)


def test_an_exception_carries_the_remote_traceback(tmp_path: Path) -> None:
    core = _core(tmp_path)

    def fails() -> None:
        raise LookupError("nope")

    plan = core.plan_call(fails, (), {})
    assert _run_job(core, plan.batch.id, 0).returncode == 1
    ok, exc = core.files.read_result(plan.batch, 0, "1")
    assert not ok
    assert isinstance(exc, LookupError)
    assert "in fails" in str(exc.__cause__)


class _NeedsTwo(Exception):
    """An exception that pickles but cannot be rebuilt (its __init__ needs two arguments)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} {b}")


def test_an_exception_that_cannot_be_rebuilt_still_comes_back(tmp_path: Path) -> None:
    # Dagster's DagsterInvalidConfigError is one: unpickling it here used to kill the
    # executor's follower thread, and the future never settled.
    core = _core(tmp_path)

    class NeedsTwo(Exception):  # local: travels by value to the runner
        def __init__(self, a: str, b: str) -> None:
            super().__init__(f"{a} {b}")

    def fails() -> None:
        raise NeedsTwo("bad", "config")

    plan = core.plan_call(fails, (), {})
    assert _run_job(core, plan.batch.id, 0).returncode == 1
    ok, exc = core.files.read_result(plan.batch, 0, "1")
    assert not ok
    assert isinstance(exc, RuntimeError)
    assert "NeedsTwo" in str(exc)
    assert "in fails" in str(exc.__cause__)


def test_a_result_that_cannot_be_unpickled_is_an_executor_error(tmp_path: Path) -> None:
    core = _core(tmp_path)
    plan = core.plan_call(lambda: None, (), {})
    body = pickle.dumps(_NeedsTwo("a", "b"))  # loads() raises TypeError
    header = {**core.files.versions, "task": f"{plan.batch.id}.0", "status": "ok"}
    frame = pack(item_key(plan.batch.key, "0"), b"out", header, body)
    (core.files.path / f"{plan.batch.id}.0.out").write_bytes(frame)
    (core.files.path / f"{plan.batch.id}.0.out").chmod(0o600)
    with pytest.raises(ExecutorError, match="cannot be unpickled here: TypeError"):
        core.files.read_result(plan.batch, 0, "7")


def test_altered_planted_and_swapped_results_are_refused(tmp_path: Path) -> None:
    core = _core(tmp_path)
    a = core.plan_call(abs, (-1,), {})
    b = core.plan_call(abs, (-2,), {})
    assert _run_job(core, a.batch.id, 0).returncode == 0
    out_a = core.files.path / f"{a.batch.id}.0.out"
    out_b = core.files.path / f"{b.batch.id}.0.out"
    genuine = out_a.read_bytes()

    out_b.write_bytes(genuine)  # a genuine result of another task
    out_b.chmod(0o600)
    with pytest.raises(ResultAuthenticationError, match="HMAC"):
        core.files.read_result(b.batch, 0, "2")

    out_a.write_bytes(genuine[:-1] + bytes([genuine[-1] ^ 1]))
    with pytest.raises(ResultAuthenticationError, match="HMAC"):
        core.files.read_result(a.batch, 0, "1")

    out_a.write_bytes(pickle.dumps("planted"))
    with pytest.raises(ResultAuthenticationError, match="not a slurm-client"):
        core.files.read_result(a.batch, 0, "1")

    out_a.write_bytes(genuine)
    out_a.chmod(0o622)  # writable by others: refused even with a good MAC
    with pytest.raises(ResultAuthenticationError, match="writable by no one else"):
        core.files.read_result(a.batch, 0, "1")

    out_a.unlink()
    out_a.symlink_to(out_b)
    with pytest.raises(ResultAuthenticationError, match="symbolic link"):
        core.files.read_result(a.batch, 0, "1")


def test_the_runner_refuses_a_call_it_cannot_verify(tmp_path: Path) -> None:
    core = _core(tmp_path)
    plan = core.plan_call(abs, (-1,), {})
    call = core.files.path / f"{plan.batch.id}.0.in"
    data = call.read_bytes()
    call.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    res = _run_job(core, plan.batch.id, 0)
    assert res.returncode == 3
    assert "HMAC does not verify" in res.stderr
    assert not (core.files.path / f"{plan.batch.id}.0.out").exists()


def test_a_version_mismatch_is_reported_before_unpickling(tmp_path: Path) -> None:
    core = _core(tmp_path)
    core.files.versions = {"python": "2.7", "cloudpickle": "0.1"}
    plan = core.plan_call(abs, (-1,), {})
    res = _run_job(core, plan.batch.id, 0)
    assert res.returncode == 3
    with pytest.raises(VersionMismatchError) as info:
        core.files.read_result(plan.batch, 0, "7")
    assert info.value.client == {"python": "2.7", "cloudpickle": "0.1"}
    assert info.value.job["python"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert "2.7" in str(info.value)


def test_map_is_one_array_split_beyond_the_max_array_size(tmp_path: Path) -> None:
    core = _core(tmp_path, max_array_size=4)
    plans, sizes = core.plan_map(abs, [range(10)], chunksize=2, throttle=3)
    assert sizes == [2, 2, 2, 2, 2]
    assert [len(p.tasks) for p in plans] == [4, 1]
    assert str(plans[0].spec.array) == "0-3%3"
    assert _run_job(core, plans[1].batch.id, 0).returncode == 0
    assert core.files.read_result(plans[1].batch, 0, "9_0") == (True, [8, 9])


def test_per_item_arrays_give_each_task_its_own_value(tmp_path: Path) -> None:
    core = _core(tmp_path)
    plans, _ = core.plan_map(pow, [[2, 3], [5, 2]], chunksize=1, throttle=None, per_item=True)
    assert len(plans) == 1
    assert str(plans[0].spec.array) == "0-1"
    assert _run_job(core, plans[0].batch.id, 1).returncode == 0
    assert core.files.read_result(plans[0].batch, 1, "7_1") == (True, 9)  # not [9]
    with pytest.raises(ValueError, match="chunksize"):
        core.plan_map(abs, [[1]], chunksize=2, throttle=None, per_item=True)


def test_frames_bind_direction_and_key() -> None:
    key = item_key(b"k" * 32, "0")
    frame = pack(key, b"in", {"task": "t"}, b"body")
    assert unpack(key, b"in", frame) == ({"task": "t"}, b"body")
    with pytest.raises(FrameError):
        unpack(key, b"out", frame)
    with pytest.raises(FrameError):
        unpack(item_key(b"k" * 32, "1"), b"in", frame)


def test_bad_options_name_the_field(tmp_path: Path) -> None:
    from slurm_core import JobSpecError

    with pytest.raises(JobSpecError, match="no_such"):
        _core(tmp_path, no_such=1)
    with pytest.raises(JobSpecError, match="script"):
        _core(tmp_path, script="#!/bin/sh")


def test_importing_slurm_core_and_the_executor_does_not_import_cloudpickle() -> None:
    code = (
        "import sys, slurm_core; from slurm_core import SlurmExecutor, AsyncSlurmExecutor; "
        "print(json.dumps('cloudpickle' in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) is False
