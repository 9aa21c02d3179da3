"""The ``slurm-client`` command line against the real local clusters.

The CLI runs as a subprocess (``python -m slurm_core.cli``) with the environment a user
would have after ``eval "$(slurm-client cluster env)"`` (``cluster.env()``) and an empty
home (no config file). Jobs are submitted held and started with ``scontrol`` inside the
cluster at the top priority, as the watch tests do: the clusters are shared with other
tests whose pending jobs must not keep these waiting.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from slurm_core import SlurmClient, SlurmConnectionError, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster


def cli_env(cluster: LocalSlurmCluster, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    return {**env, **cluster.env(), "HOME": str(home), "COLUMNS": "160", **extra}


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slurm_core.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_doctor_passes_on_a_healthy_cluster(
    slurm_cluster: LocalSlurmCluster, tmp_path: Path
) -> None:
    env = cli_env(slurm_cluster, tmp_path)
    result = run_cli(env, "--json", "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert {c["status"] for c in checks.values()} <= {"ok", "warn"}
    assert checks["auth"]["status"] == "ok"
    assert f"using {slurm_cluster.served_versions[-1]}" in checks["versions"]["detail"]
    assert checks["clock"]["status"] == "ok"  # same machine
    assert env["SLURM_JWT"] not in result.stdout + result.stderr


def test_doctor_names_a_rejected_token(slurm_cluster: LocalSlurmCluster, tmp_path: Path) -> None:
    env = cli_env(slurm_cluster, tmp_path)
    env["SLURM_JWT"] = slurm_cluster.token()[:-4] + "AAAA"  # signature broken
    result = run_cli(env, "doctor")
    assert result.returncode == 1
    assert "scontrol token" in result.stdout
    assert env["SLURM_JWT"] not in result.stdout + result.stderr
    checks = {
        c["name"]: c["status"]
        for c in json.loads(run_cli(env, "--json", "doctor").stdout)["checks"]
    }
    assert checks["auth"] == "fail"


def test_nodes_match_the_library(slurm_cluster: LocalSlurmCluster, tmp_path: Path) -> None:
    env = cli_env(slurm_cluster, tmp_path)
    auth = StaticToken(env["SLURM_JWT"], user_name=slurm_cluster.user_name)
    with SlurmClient(slurm_cluster.rest_url, auth=auth) as client:
        names = [n.name for n in client.nodes.list()]
    listed = run_cli(env, "nodes", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [n["name"] for n in json.loads(listed.stdout)] == names
    table = run_cli(env, "nodes")
    assert all(name in table.stdout for name in names)
    one = run_cli(env, "--json", "nodes", "get", names[0])
    assert json.loads(one.stdout)["name"] == names[0]
    missing = run_cli(env, "nodes", "get", "no-such-node")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert len(missing.stderr.strip().splitlines()) == 1


def _release_when_submitted(cluster: LocalSlurmCluster, client: SlurmClient, name: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            found = [j for j in client.jobs.list() if j.name == name]
        except SlurmConnectionError:  # other tests restart slurmrestd: ride it out
            found = []
        if found:
            job_id = found[0].job_id
            cluster.run(["scontrol", "release", str(job_id)], check=True)
            cluster.run(
                ["scontrol", "update", f"jobid={job_id}", "priority=1000000000"], check=True
            )
            return job_id
        time.sleep(0.2)
    raise AssertionError(f"job {name} never appeared")


def _submit_and_wait(cluster: LocalSlurmCluster, env: dict[str, str], *command: str) -> Any:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    args = [
        sys.executable, "-m", "slurm_core.cli", "--json", "jobs", "submit", "--wait",
        "--poll-interval", "0.25", "--max-interval", "1", "--hold", "--name", name,
        "--chdir", str(cluster.shared_dir), "--time", "2", "--mem-per-cpu", "50M",
        "--env", "GREETING=hello", "--", *command,
    ]  # fmt: skip
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        auth = StaticToken(env["SLURM_JWT"], user_name=cluster.user_name)
        with SlurmClient(cluster.rest_url, auth=auth) as client:
            job_id = _release_when_submitted(cluster, client, name)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return job_id, process.returncode, out, err


def test_submit_wait_and_output(slurm_cluster: LocalSlurmCluster, tmp_path: Path) -> None:
    env = cli_env(slurm_cluster, tmp_path)
    job_id, code, out, err = _submit_and_wait(
        slurm_cluster, env, "bash", "-c", 'echo "$GREETING from $SLURM_JOB_ID"'
    )
    assert code == 0, err
    job = json.loads(out)
    assert (job["job_id"], job["state"]["base"], job["exit_code"]["return_code"]) == (
        job_id, "COMPLETED", 0,
    )  # fmt: skip
    output = run_cli(env, "jobs", "output", str(job_id))
    assert output.returncode == 0, output.stderr
    assert output.stdout == f"hello from {job_id}\n"
    got = run_cli(env, "--json", "jobs", "get", str(job_id))
    assert json.loads(got.stdout)["state"]["base"] == "COMPLETED"


def test_a_failing_job_exits_3(slurm_cluster: LocalSlurmCluster, tmp_path: Path) -> None:
    env = cli_env(slurm_cluster, tmp_path)
    job_id, code, out, err = _submit_and_wait(slurm_cluster, env, "bash", "-c", "exit 7")
    assert code == 3, out + err
    error = json.loads(err.strip().splitlines()[-1])
    assert error["type"] == "JobFailedError"
    assert f"job {job_id} ended FAILED" in error["error"]


pytestmark = pytest.mark.integration  # needs the cli extra, which every test env installs
