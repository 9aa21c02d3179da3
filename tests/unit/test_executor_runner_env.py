"""The job side's environment: cloudpickle missing on the cluster, or in another version.

The job is the real runner, run by a real interpreter as a subprocess; what the user gets
is read through the executor as its future would (on the fake, or the executor's core).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest

from slurm_core import SlurmExecutor
from slurm_core.executor import ExecutorError, VersionMismatchError
from slurm_core.executor._core import ExecutorCore
from slurm_core.executor._runner import item_key, pack, python_version
from slurm_core.testing.fake import FakeSlurmServer


def _bare_python(tmp_path: Path) -> str:
    """This interpreter without site-packages (``-I -S``): only the standard library."""
    wrapper = tmp_path / "bare-python"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    wrapper.chmod(stat.S_IRWXU)
    return str(wrapper)


def test_missing_cloudpickle_on_the_cluster_fails_the_future_naming_the_fix(
    tmp_path: Path,
) -> None:
    python = _bare_python(tmp_path)
    no_cp = subprocess.run([python, "-c", "import cloudpickle"], capture_output=True, check=False)
    assert no_cp.returncode != 0  # the interpreter the job runs cannot import it
    fake = FakeSlurmServer(realtime=True)
    # The job ends as the runner makes it end: exit code 3, a few seconds after it starts.
    fake.set_job_outcome(name="python-function", state="FAILED", exit_code=3, runtime=3)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with (
        fake.client() as client,
        SlurmExecutor(client, workspace=workspace, python=python, time_limit="5:00") as ex,
    ):
        fut = ex.submit(abs, -1)
        job = subprocess.run(  # what the node runs: the job's script
            ["/bin/sh", "-c", fake.script(int(fut.job_id))],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert job.returncode == 3
        assert "cloudpickle is not installed" in job.stderr  # in the job's log too
        started = time.monotonic()
        with pytest.raises(ExecutorError) as info:
            fut.result(timeout=60)
        assert time.monotonic() - started < 60
    message = str(info.value)
    assert info.value.job_id == fut.job_id
    assert f"cloudpickle is not installed for {sys.executable}" in message  # the job's
    assert f"install cloudpickle=={cloudpickle.__version__} there" in message
    assert "slurm-client[functions]" in message


def _core(tmp_path: Path) -> ExecutorCore:
    return ExecutorCore(
        workspace=tmp_path,
        python=None,
        spec=None,
        job_user=None,
        max_array_size=1001,
        max_result_bytes=1 << 20,
        options={},
    )


def test_a_cloudpickle_mismatch_alone_is_refused_by_the_job_before_unpickling(
    tmp_path: Path,
) -> None:
    core = _core(tmp_path)
    marker = tmp_path / "unpickled"
    core.files.versions = {"python": python_version(), "cloudpickle": "0.1"}
    # The call's function would leave a marker if the job ever ran it.
    plan = core.plan_call(marker.touch, (), {})
    res = subprocess.run(
        [core.python, str(core.files.runner), str(core.files.path), plan.batch.id, "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 3
    assert "version mismatch, nothing unpickled" in res.stderr
    assert not marker.exists()
    with pytest.raises(VersionMismatchError) as info:
        core.files.read_result(plan.batch, 0, "7")
    assert info.value.client == {"python": python_version(), "cloudpickle": "0.1"}
    assert info.value.job == {"python": python_version(), "cloudpickle": cloudpickle.__version__}
    assert "cloudpickle 0.1" in str(info.value)
    assert f"cloudpickle {cloudpickle.__version__}" in str(info.value)


def test_a_result_from_another_cloudpickle_is_refused_by_the_client_before_unpickling(
    tmp_path: Path,
) -> None:
    core = _core(tmp_path)
    plan = core.plan_call(abs, (-1,), {})
    # A genuine, signed result from a job whose cloudpickle differs: the body is not even
    # a pickle, so unpickling it would fail differently.
    header = {"python": python_version(), "cloudpickle": "9.9", "task": f"{plan.batch.id}.0"}
    frame = pack(item_key(plan.batch.key, "0"), b"out", {**header, "status": "ok"}, b"\x00")
    out = core.files.path / f"{plan.batch.id}.0.out"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(frame)
    with pytest.raises(VersionMismatchError) as info:
        core.files.read_result(plan.batch, 0, "8")
    assert info.value.job == {"python": python_version(), "cloudpickle": "9.9"}
    assert json.dumps(info.value.client["cloudpickle"]) == json.dumps(cloudpickle.__version__)
