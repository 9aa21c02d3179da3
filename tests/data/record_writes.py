"""Record real answers to the writes the fake serves (issue #22, a dev tool).

    .venv/bin/python tests/data/record_writes.py --release 24.11 --release 26.05

Needs the local clusters running. For every REST API version from v0.0.40 on it writes
``responses/<version>/fidelity/w_<name>.json`` (the format of ``record_fidelity.py``):
slurmdbd writes and deletes (accounts, associations, users, QOS, wckeys, clusters) by
root and by a user who is not an administrator, the reads after them, bulk ``DELETE jobs``,
``shares``, ``POST nodes``, slurmdbd ``diag``/``config``/``instance`` and, where the version
has them, reservation, partition, ``resources`` and ``conf``.
``tests/unit/test_fake_writes.py`` replays them in order against the fake.

Side effects on the clusters: every entity it makes is named ``fk-...`` and deleted again;
a few short jobs (cancelled); node1's weight set to 1 (its configured value).
"""

from __future__ import annotations

import time
from typing import Any

from record_fidelity import Recorder, _minor, record_with
from record_responses import cli


class WriteRecorder(Recorder):
    def w(self, name: str, method: str, path: str, **kw: Any) -> Any:
        return self.call(f"w_{name}", method, path, **kw)

    def record(self) -> None:
        v, minor = self.version, _minor(self.version)
        s, d = f"/slurm/{v}", f"/slurmdb/{v}"
        cluster = self.w("db_clusters", "GET", f"{d}/clusters")["clusters"][0]["name"]
        acct = {"name": "fk-acct", "description": "fk test", "organization": "fk"}
        self.w("db_account_add_user", "POST", f"{d}/accounts", body={"accounts": [acct]})
        self.w("db_account_add", "POST", f"{d}/accounts", body={"accounts": [acct]}, user="root")
        self.w("db_account_add_missing", "POST", f"{d}/accounts", body={"": {}}, user="root")
        self.w("db_account_get", "GET", f"{d}/account/fk-acct")
        self.w("db_account_get_unknown", "GET", f"{d}/account/fk-nosuch")
        assoc = {"account": "fk-acct", "cluster": cluster, "user": "", "partition": ""}
        self.w(
            "db_assoc_add", "POST", f"{d}/associations", body={"associations": [assoc]}, user="root"
        )
        self.w("db_assoc_get", "GET", f"{d}/association?account=fk-acct")
        user = {"name": "fk-user", "default": {"account": "fk-acct"}}
        self.w("db_user_add", "POST", f"{d}/users", body={"users": [user]}, user="root")
        cond = {
            "association_condition": {
                "accounts": ["fk-acct"], "users": ["fk-user"], "clusters": [cluster]
            },
            "user": {},
        }  # fmt: skip
        self.w("db_user_assoc_add", "POST", f"{d}/users_association", body=cond, user="root")
        self.w("db_user_get", "GET", f"{d}/user/fk-user")
        self.w("db_user_get_unknown", "GET", f"{d}/user/fk-nosuch")
        qos = {"name": "fk-qos", "description": "fk test"}
        self.w("db_qos_add_user", "POST", f"{d}/qos", body={"qos": [qos]})
        self.w("db_qos_add", "POST", f"{d}/qos", body={"qos": [qos]}, user="root")
        self.w("db_qos_get", "GET", f"{d}/qos/fk-qos")
        wckey = {"name": "fk-wckey", "user": "fk-user", "cluster": cluster}
        self.w("db_wckey_add", "POST", f"{d}/wckeys", body={"wckeys": [wckey]}, user="root")
        keys = self.w("db_wckeys", "GET", f"{d}/wckeys")
        self.w("db_tres_add_user", "POST", f"{d}/tres", body={"TRES": [{"type": "fk"}]})
        clu = {"name": "fk-clu"}
        self.w("db_cluster_add", "POST", f"{d}/clusters", body={"clusters": [clu]}, user="root")
        self.w("db_cluster_get", "GET", f"{d}/cluster/fk-clu")
        self.w("db_diag", "GET", f"{d}/diag")
        self.w("db_instance", "GET", f"{d}/instance")
        self.w("shares", "GET", f"{s}/shares")
        self.w("shares_user", "GET", f"{s}/shares?users=alice")
        # deletes, each by a user first, then by root, then again (nothing left)
        for key in (keys or {}).get("wckeys") or []:
            if key.get("name") == "fk-wckey":
                self.w("db_wckey_delete", "DELETE", f"{d}/wckey/{key['id']}", user="root")
        self.w("db_wckey_delete_unknown", "DELETE", f"{d}/wckey/999999", user="root")
        self.w("db_cluster_delete", "DELETE", f"{d}/cluster/fk-clu", user="root")
        self.w("db_qos_delete_user", "DELETE", f"{d}/qos/fk-qos")
        self.w("db_qos_delete", "DELETE", f"{d}/qos/fk-qos", user="root")
        self.w("db_qos_delete_unknown", "DELETE", f"{d}/qos/fk-qos", user="root")
        self.w("db_user_delete", "DELETE", f"{d}/user/fk-user", user="root")
        self.w("db_user_delete_unknown", "DELETE", f"{d}/user/fk-user", user="root")
        self.w("db_assoc_delete", "DELETE", f"{d}/association?account=fk-acct", user="root")
        self.w("db_account_delete_user", "DELETE", f"{d}/account/fk-acct")
        self.w("db_account_delete", "DELETE", f"{d}/account/fk-acct", user="root")
        self.w("db_account_delete_unknown", "DELETE", f"{d}/account/fk-acct", user="root")
        self.w("db_account_get_deleted", "GET", f"{d}/account/fk-acct")
        # slurmctld
        a = self.submit("w_jobs_delete_submit_a")
        b = self.submit("w_jobs_delete_submit_b")
        time.sleep(1)
        if minor >= 44:
            self.w("resources", "GET", f"{s}/resources/{a['job_id']}")
            self.w("resources_unknown", "GET", f"{s}/resources/999999")
        kill = {"jobs": [str(a["job_id"]), str(b["job_id"])]}
        self.w("jobs_delete", "DELETE", f"{s}/jobs", body=kill)
        self.w("jobs_delete_unknown", "DELETE", f"{s}/jobs", body={"jobs": ["999999"]})
        self.w("jobs_delete_empty", "DELETE", f"{s}/jobs", body={})
        self.w("jobs_delete_unknown_field", "DELETE", f"{s}/jobs", body={"x": 1})
        if minor >= 40:
            upd = {"name": ["node1"], "weight": {"set": True, "number": 1}}
            self.w("nodes_update_user", "POST", f"{s}/nodes", body=upd)
            self.w("nodes_update", "POST", f"{s}/nodes", body=upd, user="root")
            bad = {"name": ["nosuch"], "weight": {"set": True, "number": 1}}
            self.w("nodes_update_unknown", "POST", f"{s}/nodes", body=bad, user="root")
        if minor >= 43:
            start = int(time.time()) + 300 * 86400
            resv = {
                "name": "fk-resv", "node_list": ["node1"], "users": ["alice"],
                "start_time": {"set": True, "number": start},
                "duration": {"set": True, "number": 60},
            }  # fmt: skip
            self.w("resv_add_user", "POST", f"{s}/reservation", body=resv)
            self.w("resv_add", "POST", f"{s}/reservation", body=resv, user="root")
            self.w("resv_get", "GET", f"{s}/reservation/fk-resv")
            self.w("resv_delete_user", "DELETE", f"{s}/reservation/fk-resv")
            self.w("resv_delete", "DELETE", f"{s}/reservation/fk-resv", user="root")
            self.w("resv_delete_unknown", "DELETE", f"{s}/reservation/fk-resv", user="root")
        if minor >= 44:
            bad = {"node_conf": "fk-invalid"}
            self.w("new_node_invalid", "POST", f"{s}/new/node", body=bad, user="root")
            change = {"comment": {"job": "fk"}}
            self.w("db_job_modify_unknown", "POST", f"{d}/job/999999", body=change, user="root")
        if minor >= 45:
            self.w("requeue_unknown", "POST", f"{s}/jobs/requeue", body={"jobs": ["999999"]})
            self.w("conf", "GET", f"{s}/conf")
            part = {"partitions": [{"name": "fk-part", "nodes": {"configured": "node1"}}]}
            self.w("partition_add_user", "POST", f"{s}/partitions", body=part)
            self.w("partition_delete_user", "DELETE", f"{s}/partition/fk-part")
            self.w("partition_delete", "DELETE", f"{s}/partition/fk-part", user="root")


def record_release(release: str) -> None:
    record_with(WriteRecorder, release, from_minor=40)


if __name__ == "__main__":
    cli(record_release, __doc__)
