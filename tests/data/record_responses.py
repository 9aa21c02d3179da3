"""Record real slurmrestd answers into tests/data/responses/ (a dev tool, not run by tests).

    .venv/bin/python tests/data/record_responses.py                  # 22.05, 24.11, 26.05
    .venv/bin/python tests/data/record_responses.py --release 24.11

Needs the local clusters running (``python -m slurm_core.testing.cluster up --release X``,
as root) with ``Licenses=matlab:2`` in their slurm.conf. For every REST API version each
cluster serves (v0.0.38 on 22.05, v0.0.40-v0.0.42 on 24.11, v0.0.43-v0.0.45 on 26.05, like
the other recordings) it writes, with plain httpx so nothing of the
SDK shapes the recording:

* ``<version>/diag.json``, ``licenses.json``, ``reservations.json``, ``slurmdb_qos.json``:
  the endpoints build_responses.py used to synthesize (a license-only reservation in the
  future is created for the recording, so the listing is not empty, and deleted after);
* ``<version>/scenarios/*.json``: write operations and the errors they produce -- job
  hold/release/update, cancel (own job, someone else's, twice, unknown), node drain/resume as
  admin and as a plain user, v0.0.45 requeue of a pending job, a bad token; on 22.05 also a
  submission with ``hold`` (HTTP 200 with error 2042).

Each file is ``{"source": "recorded Slurm <release>: ...", "request": {...}, "response":
{"status": N, "body": ...}}`` like the others. Kept in a subfolder, the scenarios do not
become routes of the unit tests' fake server, which serves ``<version>/*.json``.

Side effects on the clusters: a few short-lived jobs (cancelled), node1 drained and resumed
for a moment, one reservation created and deleted.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from slurm_core._versions import CLIENT_VERSIONS
from slurm_core.testing.cluster import LocalSlurmCluster

HERE = Path(__file__).parent
OUT = HERE / "responses"
RELEASES = ("22.05", "24.11", "26.05")
SCRIPT = "#!/bin/sh\nsleep 30\n"


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


def slurm_release(body: Any) -> str:
    meta = body.get("meta", {}) if isinstance(body, dict) else {}
    for key in ("slurm", "Slurm"):  # 24.11+ / 22.05
        release = meta.get(key, {}).get("release")
        if release:
            return str(release)
    return "?"


def submit_body(version: str, job: dict[str, Any]) -> dict[str, Any]:
    """A ``job/submit`` body of ``version`` (v0.0.38: script beside the job, env a dict)."""
    job = {"current_working_directory": "/tmp", **job}
    if version == "v0.0.38":
        return {"script": SCRIPT, "job": {**job, "environment": {"PATH": "/bin:/usr/bin"}}}
    return {"job": {**job, "environment": ["PATH=/bin:/usr/bin"], "script": SCRIPT}}


class Recorder:
    def __init__(self, cluster: LocalSlurmCluster, version: str) -> None:
        self.cluster = cluster
        self.version = version
        self.http = httpx.Client(base_url=cluster.rest_url, timeout=60, trust_env=False)
        self.tokens = {
            user: cluster.token(user, lifespan=600)
            for user in (cluster.user_name, "bob", cluster.admin_user_name)
        }
        self.release = "?"

    def close(self) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, *, user: str = "alice", body: Any = None, token: str = ""
    ) -> tuple[dict[str, Any], Any]:
        headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token or self.tokens[user]}
        response = self.http.request(method, path, json=body, headers=headers)
        try:
            decoded: Any = response.json()
        except ValueError:
            decoded = response.text
        if self.release == "?":
            self.release = slurm_release(decoded)
        request = {"method": method, "path": path, "body": body}
        return {
            "request": request,
            "response": {"status": response.status_code, "body": decoded},
        }, decoded

    def save(self, name: str, record: dict[str, Any], note: str) -> None:
        folder = OUT / self.version / ("scenarios" if "/" not in name else "")
        target = folder / f"{name.rsplit('/', 1)[-1]}.json"
        source = f"recorded Slurm {self.release}: tests/data/record_responses.py ({note})"
        write(target, {"source": source, **record})
        print(f"  {target.relative_to(HERE)}: HTTP {record['response']['status']}")

    # -- the recordings ------------------------------------------------------------------
    def reads(self) -> None:
        s, db = f"/slurm/{self.version}", f"/slurmdb/{self.version}"
        for name, path, note in (
            ("main/diag", f"{s}/diag", "GET diag"),
            ("main/licenses", f"{s}/licenses", "Licenses=matlab:2"),
            ("main/reservations", f"{s}/reservations", "a license-only reservation"),
            ("main/slurmdb_qos", f"{db}/qos", "GET slurmdb qos"),
        ):
            record, _ = self.call("GET", path)
            self.save(name, record, note)

    def submit(self, user: str = "alice", **job: Any) -> int:
        body = submit_body(self.version, {"name": "recorder", **job})
        record, decoded = self.call(
            "POST", f"/slurm/{self.version}/job/submit", user=user, body=body
        )
        if job.get("hold") and self.version == "v0.0.38":
            self.save("job_submit_held", record, "submission with hold=true")
        return int(decoded["job_id"])

    def later(self) -> Any:
        # A begin time in the future keeps the job pending (and off the node) throughout.
        if self.version == "v0.0.38":
            return "now+600"
        return {"set": True, "infinite": False, "number": int(time.time()) + 600}

    def writes(self) -> None:
        s = f"/slurm/{self.version}"
        job = self.submit(begin_time=self.later())
        for name, body in (
            ("job_hold", {"hold": True}),
            ("job_release", {"hold": False}),
            (
                "job_update",
                {
                    "name": "renamed",
                    "comment": "recorded",
                    "time_limit": 7
                    if self.version == "v0.0.38"
                    else {"set": True, "infinite": False, "number": 7},
                },
            ),
        ):
            record, _ = self.call("POST", f"{s}/job/{job}", body=body)
            self.save(name, record, f"POST job {sorted(body)}")
        if self.version == "v0.0.45":
            record, _ = self.call("GET", f"{s}/job/{job}/requeue")
            self.save("job_requeue_pending", record, "requeue of a pending job")
        record, _ = self.call("DELETE", f"{s}/job/{job}", user="bob")
        self.save("job_cancel_other_user", record, "bob cancels alice's job")
        record, _ = self.call("DELETE", f"{s}/job/{job}")
        self.save("job_cancel", record, "alice cancels her pending job")
        record, _ = self.call("DELETE", f"{s}/job/{job}")
        self.save("job_cancel_again", record, "alice cancels it again")
        record, _ = self.call("DELETE", f"{s}/job/999999")
        self.save("job_cancel_unknown", record, "cancel of an unknown job")
        record, _ = self.call("GET", f"{s}/diag", token="not-a-token")
        self.save("diag_bad_token", record, "a token that is not a JWT")
        if self.version == "v0.0.38":
            held = self.submit(hold=True)
            self.call("DELETE", f"{s}/job/{held}")
            return
        drain = {"state": ["DRAIN"], "reason": "recorded by tests/data/record_responses.py"}
        record, _ = self.call("POST", f"{s}/node/node1", body=drain)
        self.save("node_drain_unprivileged", record, "alice drains node1")
        record, _ = self.call("POST", f"{s}/node/node1", user="root", body=drain)
        self.save("node_drain", record, "root drains node1")
        record, _ = self.call("POST", f"{s}/node/node1", user="root", body={"state": ["RESUME"]})
        self.save("node_resume", record, "root resumes node1")


def record_release(release: str) -> None:
    cluster = LocalSlurmCluster.running(release)
    if cluster is None:
        raise SystemExit(f"SLURM {release} is not running: python -m slurm_core.testing.cluster up")
    resv = "recorder"
    cluster.run(["scontrol", "delete", f"ReservationName={resv}"])  # a leftover of a crash
    cluster.run(
        [
            "scontrol", "create", "reservation", f"ReservationName={resv}",
            "StartTime=now+1day", "Duration=60", "Users=alice,bob", "Flags=ANY_NODES",
            "Licenses=matlab:1",
        ],
        check=True,
    )  # fmt: skip
    try:
        for version in versions_to_record(cluster, release):
            recorder = Recorder(cluster, version)
            try:
                recorder.reads()
                recorder.writes()
            finally:
                recorder.close()
    finally:
        cluster.run(["scontrol", "delete", f"ReservationName={resv}"])


def versions_to_record(cluster: LocalSlurmCluster, release: str) -> Iterator[str]:
    """The client's versions ``cluster`` serves, each recorded from one release only."""
    for version in cluster.served_versions:
        if version not in CLIENT_VERSIONS:
            continue
        if release == "26.05" and version == "v0.0.42":
            continue  # the v0.0.42 folder holds 24.11.5 recordings (build_responses.py)
        print(f"SLURM {release} {version}")
        yield version


def cli(record: Callable[[str], None], doc: str) -> None:
    """``--release`` (repeatable; all by default), each recorded with ``record``."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--release", action="append", choices=RELEASES)
    for release in parser.parse_args().release or RELEASES:
        record(release)


if __name__ == "__main__":
    cli(record_release, __doc__)
