"""Record what the fake must imitate (issue #22) from real slurmrestd (a dev tool).

    .venv/bin/python tests/data/record_fidelity.py                  # 22.05, 24.11, 26.05
    .venv/bin/python tests/data/record_fidelity.py --release 24.11

Needs the local clusters running (``python -m slurm_core.testing.cluster up``). For every
REST API version a cluster serves it writes ``responses/<version>/fidelity/<name>.json``
(``{"source", "request", "response": {"status", "content_type", "body"}}``, like the
scenarios): methods a path does not have, a query that is not a number, a percent-encoded
path segment, a node update with ``weight`` in its ``{set, infinite, number}`` form and with
a state that does not exist, ``job/allocate``, ``jobs/state`` with and without ``job_id``
filters, and submissions slurmctld refuses (unknown reservation, license, constraint, node).
``tests/unit/test_fake_fidelity.py`` replays them against the fake.

Side effects on the clusters: a few short jobs (cancelled), node1's weight set to 1 (its
configured value).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from record_responses import cli, submit_body, versions_to_record

from slurm_core.testing.cluster import LocalSlurmCluster

HERE = Path(__file__).parent
OUT = HERE / "responses"


def _minor(version: str) -> int:
    return int(version.rsplit(".", 1)[1])


class Recorder:
    tool = "tests/data/record_fidelity.py"

    def __init__(self, cluster: LocalSlurmCluster, version: str, release: str) -> None:
        self.version = version
        self.release = release
        self.http = httpx.Client(base_url=cluster.rest_url, timeout=60, trust_env=False)
        self.tokens = {u: cluster.token(u, lifespan=600) for u in ("alice", "root")}

    def call(
        self, name: str, method: str, path: str, *, body: Any = None, user: str = "alice"
    ) -> Any:
        headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": self.tokens[user]}
        response = self.http.request(method, path, json=body, headers=headers)
        try:
            decoded: Any = response.json()
        except ValueError:
            decoded = response.text
        record = {
            "source": f"recorded Slurm {self.release}: {self.tool}",
            "request": {"method": method, "path": path, "body": body, "user": user},
            "response": {
                "status": response.status_code,
                "content_type": response.headers.get("content-type", ""),
                "body": decoded,
            },
        }
        target = OUT / self.version / "fidelity" / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record, indent=1) + "\n")
        print(f"  {target.relative_to(HERE)}: HTTP {response.status_code}")
        return decoded

    def submit(self, name: str, **job: Any) -> Any:
        body = submit_body(self.version, {"name": "fidelity", **job})
        return self.call(name, "POST", f"/slurm/{self.version}/job/submit", body=body)

    def cancel(self, answer: Any) -> None:
        if isinstance(answer, dict) and answer.get("job_id"):
            headers = {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": self.tokens["alice"]}
            self.http.delete(f"/slurm/{self.version}/job/{answer['job_id']}", headers=headers)

    def record(self) -> None:
        s, minor = f"/slurm/{self.version}", _minor(self.version)
        for method in ("PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
            self.call(f"method_{method.lower()}_ping", method, f"{s}/ping")
        self.call("method_put_unknown", "PUT", f"{s}/no/such/path")
        for name, method, path in (
            ("jobs_update_time_superscript", "GET", "jobs?update_time=%C2%B2"),
            ("partition_percent_encoded", "GET", "partition/%64ebug"),
            ("reservation_unknown", "GET", "reservation/nosuch"),
            ("node_unknown", "GET", "node/nosuch"),
            ("partition_unknown", "GET", "partition/nosuch"),
        ):
            self.call(name, method, f"{s}/{path}")
        self.call("job_update_unknown_key", "POST", f"{s}/job/999999", body={"nosuch": 1})
        if minor >= 39:
            self.call("node_delete_unknown", "DELETE", f"{s}/node/nosuch", user="root")
        if minor >= 39:
            weight = {"weight": {"set": True, "infinite": False, "number": 1}}
            self.call("node_weight_number", "POST", f"{s}/node/node1", body=weight, user="root")
            bogus = {"state": ["BOGUS"]}
            self.call("node_state_bogus", "POST", f"{s}/node/node1", body=bogus, user="root")
        for name, extra in (
            ("submit_unknown_reservation", {"reservation": "nosuch"}),
            ("submit_unknown_license", {"licenses": "nosuch:1"}),
            ("submit_unknown_constraint", {"constraints": "nosuch"}),
            (
                "submit_unknown_node",
                {"required_nodes": "nosuch" if minor <= 38 else ["nosuch"]},
            ),
        ):
            self.cancel(self.submit(name, **extra))
        for name, extra in (
            ("job_output_default", {}),
            ("job_output_pattern", {"standard_output": "/tmp/out-%j-%x.log"}),
        ):
            submitted = self.submit(f"{name}_submit", **extra)
            self.call(name, "GET", f"{s}/job/{submitted['job_id']}")
            self.cancel(submitted)
        if minor >= 41:
            body = {"job": {"name": "alloc", "current_working_directory": "/tmp",
                            "environment": ["PATH=/bin"], "tasks": 1}}  # fmt: skip
            try:  # slurmrestd answers once the allocation is granted: a busy node blocks it
                self.cancel(self.call("job_allocate", "POST", f"{s}/job/allocate", body=body))
            except httpx.TimeoutException:
                print("  job_allocate: no allocation within the timeout, kept the old recording")
        if minor >= 40:
            running = self.submit("jobs_state_submit")
            time.sleep(2)
            job_id = running["job_id"]
            for name, query in (
                ("jobs_state_one", f"?job_id={job_id}"),
                ("jobs_state_two", f"?job_id={job_id},999999"),
                ("jobs_state_repeated", f"?job_id={job_id}&job_id=999999"),
                ("jobs_state_unknown", "?job_id=999999"),
                ("jobs_state_bad", "?job_id=abc"),
                ("jobs_state_all", ""),
            ):
                self.call(name, "GET", f"{s}/jobs/state{query}")
            self.cancel(running)


def record_with(recorder: type[Recorder], release: str, *, from_minor: int = 0) -> None:
    """Run ``recorder`` on each version ``release`` serves from ``v0.0.<from_minor>`` on."""
    cluster = LocalSlurmCluster.running(release)
    if cluster is None:
        raise SystemExit(f"SLURM {release} is not running: python -m slurm_core.testing.cluster up")
    for version in versions_to_record(cluster, release):
        if _minor(version) >= from_minor:
            recorder(cluster, version, release).record()


def record_release(release: str) -> None:
    record_with(Recorder, release)


if __name__ == "__main__":
    cli(record_release, __doc__)
