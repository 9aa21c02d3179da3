"""LocalSlurmCluster against real SLURM 22.05, 24.11 and 26.05, through plain HTTP.

One cluster per release serves the whole session (the ``slurm_cluster`` fixture); the
last test stops it, checks that nothing is left behind and starts it again.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from slurm_core.testing.cluster import ClusterError, LocalSlurmCluster
from slurm_core.testing.cluster._proc import is_alive, listening_ports, mounts_under, pids_in_root

EXPECTED_VERSIONS = {
    "22.05": ("v0.0.36", "v0.0.37", "v0.0.38"),
    "24.11": ("v0.0.40", "v0.0.41", "v0.0.42"),
    "26.05": ("v0.0.42", "v0.0.43", "v0.0.44", "v0.0.45"),
}
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


@pytest.fixture
def http(slurm_cluster: LocalSlurmCluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=slurm_cluster.rest_url, timeout=30) as client:
        yield client


def auth(token: str, user: str) -> dict[str, str]:
    # 22.05 requires the user name header next to the token; later releases accept both.
    return {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token}


def newest(cluster: LocalSlurmCluster) -> str:
    return cluster.served_versions[-1]


def submit_body(version: str, script: str, **job: Any) -> dict[str, Any]:
    """The submission body of ``version`` (the shapes differ, see slurmrestd-live/)."""
    env = {"PATH": "/usr/bin:/bin", "GREETING": "hello"}
    if version <= "v0.0.38":
        # v0.0.38: environment is an object; the script sits beside the job.
        return {"job": {**job, "environment": env}, "script": script}
    return {"job": {**job, "environment": [f"{k}={v}" for k, v in env.items()], "script": script}}


def submit(
    cluster: LocalSlurmCluster,
    http: httpx.Client,
    script: str,
    user: str | None = None,
    **job: Any,
) -> int:
    user = user or cluster.user_name
    version = newest(cluster)
    job.setdefault("current_working_directory", str(cluster.shared_dir))
    resp = http.post(
        f"/slurm/{version}/job/submit",
        json=submit_body(version, script, **job),
        headers=auth(cluster.token(user), user),
    )
    assert resp.status_code == 200, resp.text
    job_id = resp.json()["job_id"]
    assert isinstance(job_id, int)
    return job_id


def job_state(cluster: LocalSlurmCluster, http: httpx.Client, job_id: int) -> str:
    resp = http.get(
        f"/slurm/{newest(cluster)}/job/{job_id}", headers=auth(cluster.token(), cluster.user_name)
    )
    assert resp.status_code == 200, resp.text
    state = resp.json()["jobs"][0]["job_state"]
    # A string up to v0.0.38, a list of flags from v0.0.39 on.
    return str(state if isinstance(state, str) else state[0])


def wait_final(
    cluster: LocalSlurmCluster, http: httpx.Client, job_id: int, timeout: float = 60
) -> str:
    deadline = time.monotonic() + timeout
    while (state := job_state(cluster, http, job_id)) not in FINAL_STATES:
        assert time.monotonic() < deadline, f"job {job_id} still {state} after {timeout} s"
        time.sleep(0.2)
    return state


def test_serves_the_versions_of_its_release(slurm_cluster: LocalSlurmCluster) -> None:
    assert slurm_cluster.served_versions == EXPECTED_VERSIONS[slurm_cluster.release]
    status = slurm_cluster.status()
    assert status.running
    assert all(status.daemons.values()), status.daemons
    assert status.url == slurm_cluster.rest_url


def test_diag_answers_with_the_default_token(
    slurm_cluster: LocalSlurmCluster, http: httpx.Client
) -> None:
    env = slurm_cluster.env()
    assert set(env) == {"SLURM_REST_URL", "SLURM_JWT", "SLURM_USER_NAME"}
    assert env["SLURM_REST_URL"] == slurm_cluster.rest_url
    url = f"/slurm/{newest(slurm_cluster)}/diag"
    resp = http.get(url, headers=auth(env["SLURM_JWT"], env["SLURM_USER_NAME"]))
    assert resp.status_code == 200, resp.text
    if slurm_cluster.release != "22.05":
        assert http.get(url, headers={"X-SLURM-USER-TOKEN": env["SLURM_JWT"]}).status_code == 200
    assert http.get(url, headers={"X-SLURM-USER-TOKEN": "garbage"}).status_code != 200


def test_a_token_minted_from_the_jwt_key_is_accepted(
    slurm_cluster: LocalSlurmCluster, http: httpx.Client
) -> None:
    key_path = slurm_cluster.jwt_key_path
    assert key_path.stat().st_mode & 0o077 == 0
    now = int(time.time())
    token = jwt.encode({"iat": now, "exp": now + 300, "sun": "bob"}, key_path.read_bytes())
    resp = http.get(f"/slurm/{newest(slurm_cluster)}/diag", headers=auth(token, "bob"))
    assert resp.status_code == 200, resp.text


def test_job_output_appears_in_the_shared_dir(
    slurm_cluster: LocalSlurmCluster, http: httpx.Client
) -> None:
    out = slurm_cluster.shared_dir / "hello-%j.out"
    job_id = submit(
        slurm_cluster,
        http,
        '#!/bin/bash\necho "$GREETING from $(id -un) job $SLURM_JOB_ID"\n',
        name="hello",
        partition="debug",
        standard_output=str(out),
    )
    assert wait_final(slurm_cluster, http, job_id) == "COMPLETED"
    path = Path(str(out).replace("%j", str(job_id)))
    assert path.read_text() == f"hello from alice job {job_id}\n"


def test_gpu_job_sees_one_fake_gpu(slurm_cluster: LocalSlurmCluster, http: httpx.Client) -> None:
    version = newest(slurm_cluster)
    gres = {"gres": "gpu:1"} if version <= "v0.0.38" else {"tres_per_node": "gres/gpu:1"}
    out = slurm_cluster.shared_dir / "gpu-%j.out"
    job_id = submit(
        slurm_cluster,
        http,
        "#!/bin/bash\necho CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES\n",
        name="gpu",
        partition="gpu",
        standard_output=str(out),
        **gres,
    )
    assert wait_final(slurm_cluster, http, job_id) == "COMPLETED"
    text = Path(str(out).replace("%j", str(job_id))).read_text()
    assert text == "CUDA_VISIBLE_DEVICES=0\n"


def test_admin_token_cancels_another_users_job(
    slurm_cluster: LocalSlurmCluster, http: httpx.Client
) -> None:
    job_id = submit(slurm_cluster, http, "#!/bin/bash\nsleep 300\n", user="bob", name="long")
    url = f"/slurm/{newest(slurm_cluster)}/job/{job_id}"
    # How the refusal looks differs per version (HTTP 500, or 200 with an error status
    # in the body on 24.11): what matters is that the job survives.
    http.delete(url, headers=auth(slurm_cluster.token(), "alice"))
    time.sleep(0.5)
    assert job_state(slurm_cluster, http, job_id) not in FINAL_STATES
    admin = slurm_cluster.admin_user_name
    resp = http.delete(url, headers=auth(slurm_cluster.admin_token(), admin))
    assert resp.status_code == 200, resp.text
    assert wait_final(slurm_cluster, http, job_id) == "CANCELLED"


def test_accounting_knows_the_users(slurm_cluster: LocalSlurmCluster, http: httpx.Client) -> None:
    if not slurm_cluster.accounting:
        pytest.skip("cluster runs without accounting")
    version = slurm_cluster.served_db_versions[-1]
    resp = http.get(
        f"/slurmdb/{version}/associations", headers=auth(slurm_cluster.token(), "alice")
    )
    assert resp.status_code == 200, resp.text
    pairs = {(a["account"], a.get("user")) for a in resp.json()["associations"]}
    assert {("research", "alice"), ("research", "bob")} <= pairs


def test_run_executes_inside_the_root(slurm_cluster: LocalSlurmCluster) -> None:
    res = slurm_cluster.run(["scontrol", "show", "partition", "gpu"], check=True)
    assert "PartitionName=gpu" in res.stdout
    assert "SLURM_JWT" not in slurm_cluster.run(["env"], check=True).stdout
    who = slurm_cluster.run(["id", "-u"], user="bob", check=True).stdout.strip()
    assert who == "1002"
    log = slurm_cluster.host_path("/var/log/slurm/slurmctld.log")
    assert log.is_file()


def test_slurmrestd_can_be_stopped_and_started(slurm_cluster: LocalSlurmCluster) -> None:
    url = f"/slurm/{newest(slurm_cluster)}/diag"
    headers = auth(slurm_cluster.token(), "alice")
    slurm_cluster.stop_daemon("slurmrestd")
    try:
        assert slurm_cluster.status().daemons["slurmrestd"] is None
        assert not slurm_cluster.is_running()
        # refused, or reset by the listening socket of the daemon as it goes away
        with pytest.raises((httpx.ConnectError, httpx.ReadError)):
            httpx.get(slurm_cluster.rest_url + url, headers=headers, timeout=5)
    finally:
        slurm_cluster.start_daemon("slurmrestd")
    assert slurm_cluster.is_running()
    # a fresh connection: the shared client's pooled one died with the old slurmrestd
    fresh = httpx.get(slurm_cluster.rest_url + url, headers=headers, timeout=10)
    assert fresh.status_code == 200


def test_starting_a_cluster_with_one_daemon_stopped_revives_it_and_keeps_the_jobs(
    slurm_cluster: LocalSlurmCluster, http: httpx.Client
) -> None:
    # Another process's fault test has slurmrestd down: a second start() must not tear the
    # shared cluster down (and must not claim it, or it would stop it at its end).
    job_id = submit(slurm_cluster, http, "#!/bin/bash\nsleep 300\n", name="bystander")
    slurm_cluster.stop_daemon("slurmrestd")
    second = LocalSlurmCluster(slurm_cluster.release).start()
    assert not second.started_here
    assert slurm_cluster.is_running()
    http.close()  # its pooled connection died with the old slurmrestd
    with httpx.Client(base_url=slurm_cluster.rest_url, timeout=30) as fresh:
        assert job_state(slurm_cluster, fresh, job_id) in {"PENDING", "RUNNING"}
        resp = fresh.delete(
            f"/slurm/{newest(slurm_cluster)}/job/{job_id}",
            headers=auth(slurm_cluster.token(), slurm_cluster.user_name),
        )
    assert resp.status_code == 200, resp.text


def test_slurmctld_restart_keeps_jobs(slurm_cluster: LocalSlurmCluster, http: httpx.Client) -> None:
    job_id = submit(slurm_cluster, http, "#!/bin/bash\nsleep 300\n", name="survivor")
    slurm_cluster.restart_daemon("slurmctld")
    assert slurm_cluster.is_running()
    assert job_state(slurm_cluster, http, job_id) in {"PENDING", "RUNNING"}
    resp = http.delete(
        f"/slurm/{newest(slurm_cluster)}/job/{job_id}",
        headers=auth(slurm_cluster.token(), slurm_cluster.user_name),
    )
    assert resp.status_code == 200, resp.text
    assert wait_final(slurm_cluster, http, job_id) == "CANCELLED"


def test_a_daemon_that_dies_is_reported_with_its_log(slurm_cluster: LocalSlurmCluster) -> None:
    slurm_cluster.stop_daemon("slurmrestd")
    try:
        dies = pytest.raises(ClusterError, match=r"(?s)slurmrestd died.*slurmrestd\.out")
        with _squat(slurm_cluster.ports.slurmrestd), dies:
            slurm_cluster.start_daemon("slurmrestd", timeout=30)
    finally:
        slurm_cluster.start_daemon("slurmrestd")
    assert slurm_cluster.is_running()


@contextlib.contextmanager
def _squat(port: int) -> Iterator[None]:
    """Listen on ``port`` (retrying while the connections of the old owner wind down)."""
    deadline = time.monotonic() + 30
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        while True:
            try:
                sock.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        sock.listen()
        yield


def test_stop_leaves_nothing_behind(slurm_cluster: LocalSlurmCluster) -> None:
    # Keep this test last in the file: it stops the cluster and starts it again.
    # A running job leaves slurmstepd and the job's processes behind the daemons.
    out = f"{slurm_cluster.shared_dir}/left-%j.out"
    slurm_cluster.run(["sbatch", "--wrap", "sleep 300", "-o", out], user="alice", check=True)
    deadline = time.monotonic() + 30
    while "sleep" not in {_comm(p) for p in pids_in_root(slurm_cluster.root)}:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    daemons = [p for p in slurm_cluster.status().daemons.values() if p is not None]
    assert daemons
    slurm_cluster.stop()
    try:
        assert not slurm_cluster.is_running()
        assert not any(is_alive(p) for p in daemons)
        assert pids_in_root(slurm_cluster.root) == []
        assert mounts_under(slurm_cluster.root) == []
        ports = slurm_cluster.ports.all(slurm_cluster.nodes, accounting=True)
        assert set(ports).isdisjoint(listening_ports())
    finally:
        slurm_cluster.start()
    assert slurm_cluster.is_running()


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
