"""Write tests/data/schemathesis_known.json: what schemathesis finds, and why (a dev tool).

    .venv/bin/python tests/data/build_schemathesis_known.py

Runs ``tests/integration/test_fake_schemathesis.py``'s exercise for v0.0.40-v0.0.45 and
lists each distinct failure (operation with ``{v}`` for the version, and schemathesis'
failure title) with the versions it shows in and its justification from ``RULES``: the
recorded real answer (under ``tests/data/responses/``) the fake follows. An operation the
fake does not serve yet is listed as ``"unserved": true`` (its answer is slurmrestd's own
404 for an unknown URL). A failure no rule explains is written as ``"why": "UNEXPLAINED"``,
which the test refuses.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "integration"))

from test_fake_schemathesis import VERSIONS, _run  # noqa: E402

R = "responses/{version}/fidelity/"
# (operation regex, failure title regex, why, recording relative to tests/data/)
RULES: list[tuple[str, str, str, str]] = [
    (
        r"DELETE /slurmdb/\{v\}/(account|user|qos|association|associations)/|"
        r"POST /slurmdb/\{v\}/users_association/",
        r"JSON deserialization error|Missing Content-Type header",
        "a removal (or user association) that changes nothing is answered 304 with no body "
        "and no content type",
        R + "w_db_account_delete_unknown.json",
    ),
    (
        r"GET /slurmdb/\{v\}/instances?/",
        r"Response violates schema",
        "with no instances the answer has no 'instances', only a 'found nothing' warning",
        R + "w_db_instance.json",
    ),
    (
        r"POST /slurmdb/\{v\}/tres/",
        r".",
        "adding TRES is refused (2036, 'Updating TRES is not currently supported')",
        R + "w_db_tres_add_user.json",
    ),
    (
        r"GET /slurmdb/\{v\}/(wckeys|wckey/\{id\})",
        r"Server error|Schema-valid request rejected",
        "listing wckeys is refused with 2002 unless the user is a slurmdbd administrator",
        R + "w_db_wckeys.json",
    ),
    (
        r"DELETE /slurm/\{v\}/jobs/",
        r".",
        "a bulk cancel without ids or filters is refused with 2173 (500 on 24.11, 422 on 26.05)",
        R + "w_jobs_delete_unknown_field.json",
    ),
    (
        r"POST /slurm/\{v\}/nodes/",
        r".",
        "an update naming no known node is refused with 2018 (500 on 24.11, 422 on 26.05)",
        R + "w_nodes_update_unknown.json",
    ),
    (
        r"(POST|DELETE) /slurm/\{v\}/reservations?",
        r".",
        "a reservation slurmctld cannot make or find is refused (2053, an unknown node 2018; 422)",
        R + "w_resv_delete_unknown.json",
    ),
    (
        r"(POST /slurm/\{v\}/partitions/|DELETE /slurm/\{v\}/partition/)",
        r".",
        "a partition slurmctld cannot find is refused with 2000 (422)",
        R + "w_partition_delete.json",
    ),
    (
        r"GET /slurm/\{v\}/resources/\{job_id\}",
        r".",
        "the layout of an unknown job is refused with 404 (2017) and of a job not running "
        "with 422 (2085), each with an empty 'nodes'",
        R + "w_resources_unknown.json",
    ),
    (
        r"POST /slurm/\{v\}/new/node/",
        r".",
        "a node_conf slurmctld cannot read is refused",
        R + "w_new_node_invalid.json",
    ),
    (
        r"POST /slurm/\{v\}/jobs/requeue",
        r".",
        "requeueing jobs slurmctld does not have is refused",
        R + "w_requeue_unknown.json",
    ),
    (
        r"POST /slurmdb/\{v\}/jobs?/",
        r".",
        "modifying a job slurmdbd does not have is refused",
        R + "w_db_job_modify_unknown.json",
    ),
    (
        r"POST /slurmdb/\{v\}/",
        r".",
        "a body without the documented list, or an item without its name, is refused with "
        "9200 'Missing required field' (500 on 24.11, 422 on 26.05) and only errors",
        R + "w_db_account_add_missing.json",
    ),
    (
        r".",
        r"Undocumented Content-Type",
        "not served by the fake yet: slurmrestd's own 404 text/plain for an unknown URL",
        R + "method_put_unknown.json",
    ),
    (
        r"GET /slurm/\{v\}/jobs/$",
        r".",
        "a string update_time that is not a time is refused with 422 and no 'jobs' (9202, 9000)",
        R + "jobs_update_time_superscript.json",
    ),
    (
        r"GET /slurm/\{v\}/jobs/state/$",
        r".",
        "jobs/state answers {job_id: '<string>', state} per job, not its documented "
        "job_info; a job_id that is not an id is refused (422, 9000)",
        R + "jobs_state_one.json",
    ),
    (
        r"GET /slurm/\{v\}/node/\{node_name\}",
        r".",
        "an unknown node is answered 200 without 'nodes'",
        R + "node_unknown.json",
    ),
    (
        r"GET /slurm/\{v\}/partition/\{partition_name\}",
        r".",
        "an unknown partition is answered 422 (9000) without 'partitions'",
        R + "partition_unknown.json",
    ),
    (
        r"GET /slurm/\{v\}/reservation/\{reservation_name\}",
        r".",
        "an unknown reservation is refused without 'reservations'",
        R + "reservation_unknown.json",
    ),
    (
        r"DELETE /slurm/\{v\}/job/\{job_id\}|GET /slurmdb/\{v\}/diag/",
        r"Response violates schema",
        "the document's generator writes nested required fields as 'error/string'; the "
        "server sends them nested (tests/data/openapi/README.md)",
        R + "../scenarios/job_cancel_unknown.json",
    ),
    (
        r"POST /slurm/\{v\}/job/(submit|allocate)",
        r".",
        "slurmctld refuses names it does not know (reservation 2053, license 2048, "
        "constraint 2029, node 2018, partition 2000), which the document's strings allow",
        R + "submit_unknown_reservation.json",
    ),
    (
        r"POST /slurm/\{v\}/job/\{job_id\}",
        r".",
        "an update of a job that does not exist is refused",
        R + "job_update_unknown_key.json",
    ),
    (
        r"POST /slurm/\{v\}/node/\{node_name\}",
        r".",
        "a state that is not a valid transition is refused with 500 (9207, then 2028/2180)",
        R + "node_state_bogus.json",
    ),
    (
        r"DELETE /slurm/\{v\}/node/\{node_name\}",
        r".",
        "deleting a node that does not exist is refused with 500",
        R + "node_delete_unknown.json",
    ),
]


def explain(operation: str, failure: str) -> dict[str, object]:
    for op, title, why, recorded in RULES:
        if re.search(op, operation) and re.search(title, failure):
            entry: dict[str, object] = {"why": why, "recorded": recorded}
            if "Undocumented Content-Type" in failure:
                entry["unserved"] = True
            return entry
    return {"why": "UNEXPLAINED", "recorded": None}


def reexplain() -> None:
    """Apply ``RULES`` again to the failures already listed (no schemathesis run)."""
    path = HERE / "schemathesis_known.json"
    data = json.loads(path.read_text())
    for entry in data["failures"]:
        for key in ("why", "recorded", "unserved"):
            entry.pop(key, None)
        entry.update(explain(entry["operation"], entry["failure"]))
    path.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    seen: dict[tuple[str, str], list[str]] = {}
    for version in VERSIONS:
        found, crashes = _run(version)
        print(version, len(found), "failures", len(crashes), "crashes", flush=True)
        for key in found:
            operation, failure = key.replace(version, "{v}").split(" | ", 1)
            seen.setdefault((operation, failure), []).append(version)
    failures = [
        {"operation": op, "failure": f, "versions": vs, **explain(op, f)}
        for (op, f), vs in sorted(seen.items())
    ]
    out = {
        "about": "schemathesis failures against fake.serve(), each with the recorded real "
        "answer the fake follows; written by tests/data/build_schemathesis_known.py",
        "failures": failures,
    }
    (HERE / "schemathesis_known.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    reexplain() if sys.argv[1:] == ["--reexplain"] else main()
