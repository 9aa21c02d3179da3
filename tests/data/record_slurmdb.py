"""Record the slurmdbd answers the fake's accounting side is measured by (a dev tool).

    .venv/bin/python tests/data/record_slurmdb.py          # 22.05, 24.11, 26.05

Needs the local clusters running. For v0.0.38 (22.05) it records only ``slurmdb_job_stats``
(below). For every REST API version from v0.0.40 on it writes,
beside the other recordings of ``responses/<version>/`` (replayed by
``tests/unit/test_fake_differential.py``), read-only GETs as root: ``slurmdb_diag``,
``slurmdb_config``, ``slurmdb_clusters``, ``slurmdb_cluster``, ``slurmdb_wckeys``,
``slurmdb_instances``, ``slurmdb_account`` (root), ``slurmdb_user`` (root),
``slurmdb_qos_one`` (normal), ``slurmdb_association`` (root's), and
``slurmdb_job_stats``: the slurmdbd record of a finished job that burnt CPU and held
~40 MB (sampled every second), so its step carries real statistics and CPU times.

In ``responses/<version>/fidelity/`` (replayed by ``tests/unit/test_fake_refusals.py``) it
writes the refusals whose numbers the fake once guessed: a duplicate and an impossible
reservation (v0.0.43+: 26.05 updates the first and refuses the node with 2018; a
reservation ending before it starts: 2053) and deleting a partition a job is in (v0.0.45:
2075).

Side effects on the clusters: one short job (finished), and on 26.05 a reservation
``fakedb-resv`` a year ahead and a partition ``fakedb-part`` over node1 with one short job
in it; each is deleted (the job cancelled) before the script ends, also on failure.
"""

from __future__ import annotations

import time
from typing import Any

from record_fidelity import Recorder, _minor, record_with
from record_responses import cli, submit_body

# Burns ~2 s of CPU while a pipe buffers 40 MB (tail -n 1 keeps a line that never ends).
STATS_SCRIPT = """#!/bin/sh
(head -c 40000000 /dev/zero; sleep 3) | tail -n 1 >/dev/null &
i=0; while [ $i -lt 1500000 ]; do i=$((i+1)); done
wait
exit 3
"""


class SlurmdbRecorder(Recorder):
    tool = "tests/data/record_slurmdb.py"

    def send(self, method: str, path: str, *, body: Any = None, user: str = "alice") -> Any:
        """A request that is not kept (submissions, polls, clean-ups)."""
        headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": self.tokens[user]}
        return self.http.request(method, path, json=body, headers=headers).json()

    def top(self, name: str, path: str) -> Any:
        """A GET as root, kept beside the other top-level recordings."""
        return self.call(f"../{name}", "GET", path, user="root")

    def _wait_done(self, job_id: int) -> None:
        for _ in range(120):
            time.sleep(1)
            got = self.send("GET", f"/slurm/{self.version}/job/{job_id}")
            states = set(got["jobs"][0]["job_state"]) if got.get("jobs") else set()
            if not states & {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING"}:
                return
        raise SystemExit(f"job {job_id} did not finish within two minutes")

    def record(self) -> None:
        v, minor = self.version, _minor(self.version)
        d = f"/slurmdb/{v}"
        if minor < 40:  # 22.05: the sampled job only (the fake keeps its other records thin)
            self.stats_job()
            return
        self.top("slurmdb_diag", f"{d}/diag")
        self.top("slurmdb_config", f"{d}/config")
        clusters = self.top("slurmdb_clusters", f"{d}/clusters")
        self.top("slurmdb_cluster", f"{d}/cluster/{clusters['clusters'][0]['name']}")
        self.top("slurmdb_wckeys", f"{d}/wckeys")
        self.top("slurmdb_instances", f"{d}/instances")
        self.top("slurmdb_account", f"{d}/account/root")
        self.top("slurmdb_user", f"{d}/user/root")
        self.top("slurmdb_qos_one", f"{d}/qos/normal")
        self.top("slurmdb_association", f"{d}/association?account=root&user=root")
        self.stats_job()
        if minor >= 43:
            self.reservations()
        if minor >= 45:
            self.partition_in_use()

    def stats_job(self) -> None:
        old = _minor(self.version) < 40  # v0.0.38: plain numbers, the script beside the job
        body = submit_body(
            self.version,
            {
                "name": "fakedb-stats",
                "memory_per_node": 200 if old else {"set": True, "number": 200},
                "time_limit": 2 if old else {"set": True, "number": 2},
                "account_gather_frequency": "task=1",
            },
        )
        (body if old else body["job"])["script"] = STATS_SCRIPT
        answer = self.send("POST", f"/slurm/{self.version}/job/submit", body=body)
        try:
            self._wait_done(answer["job_id"])
            time.sleep(2)  # slurmdbd has the step's statistics a moment after the job ends
            self.top("slurmdb_job_stats", f"/slurmdb/{self.version}/job/{answer['job_id']}")
        finally:
            self.cancel(answer)

    def reservations(self) -> None:
        s = f"/slurm/{self.version}"
        start = int(time.time()) + 365 * 86400
        resv = {
            "name": "fakedb-resv", "node_list": ["node1"], "users": ["alice"],
            "start_time": {"set": True, "number": start},
            "duration": {"set": True, "number": 60},
        }  # fmt: skip
        try:
            self.call("r_resv_add", "POST", f"{s}/reservation", body=resv, user="root")
            self.call("r_resv_add_duplicate", "POST", f"{s}/reservation", body=resv, user="root")
        finally:
            self.call("r_resv_delete", "DELETE", f"{s}/reservation/fakedb-resv", user="root")
        bad = {**resv, "name": "fakedb-resv-bad", "node_list": ["fakedb-nosuch"]}
        backwards = {
            **resv, "name": "fakedb-resv-bad", "duration": {"set": False},
            "end_time": {"set": True, "number": start - 3600},
        }  # fmt: skip
        try:
            self.call("r_resv_add_unknown_node", "POST", f"{s}/reservation", body=bad, user="root")
            self.call("r_resv_add_backwards", "POST", f"{s}/reservation", body=backwards,
                      user="root")  # fmt: skip
        finally:  # in case one was made after all
            self.send("DELETE", f"{s}/reservation/fakedb-resv-bad", user="root")

    def partition_in_use(self) -> None:
        s = f"/slurm/{self.version}"
        part = {"partitions": [{"name": "fakedb-part", "nodes": {"configured": "node1"}}]}
        job: Any = None
        try:
            self.call("r_partition_add", "POST", f"{s}/partitions", body=part, user="root")
            body = submit_body(self.version, {"name": "fakedb-part", "partition": "fakedb-part"})
            job = self.send("POST", f"{s}/job/submit", body=body)
            self.call("r_partition_delete_in_use", "DELETE", f"{s}/partition/fakedb-part",
                      user="root")  # fmt: skip
        finally:
            self.cancel(job)
            for _ in range(30):  # the cancelled job must be gone from the partition first
                time.sleep(1)
                done = self.call("r_partition_delete_after", "DELETE",
                                 f"{s}/partition/fakedb-part", user="root")  # fmt: skip
                if not done.get("errors") or done["errors"][0].get("error_number") != 2075:
                    break


def record_release(release: str) -> None:
    record_with(SlurmdbRecorder, release)


if __name__ == "__main__":
    cli(record_release, __doc__)
