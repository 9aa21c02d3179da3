"""Write slurm_core/testing/fake/shapes/<version>.json.gz from real recordings (a dev tool).

    .venv/bin/python tests/data/build_fake_shapes.py

For each version, the first record of each kind the fake serves (slurmctld job, node,
partition, diag statistics, license, reservation) in ``tests/data/responses/<version>/`` is
reduced to its shape: every key kept, every value neutral (``""``, ``0``, ``False``, an unset
number, ``[]`` for a list of plain values, a one-item list for a list of objects). The fake
lays its own records over these shapes (``slurm_core/testing/fake/_shapes.py``), so a record
carries every key a real one of that version has, in the real shape, without inventing values.

The slurmdbd kinds (accounting job, account, user, association, QOS, TRES, cluster, diag
statistics) go to ``<version>.slurmdb.json.gz``; there an unset number keeps its real
``infinite`` flag (an unset limit is unlimited, as in a fresh slurmdbd).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUT = HERE.parent.parent / "slurm_core" / "testing" / "fake" / "shapes"
# kind -> (recordings to try in order, list key in the body)
SOURCES = {
    "job": (["job_get_completed", "job_completed", "jobs"], "jobs"),
    "node": (["nodes"], "nodes"),
    "partition": (["partitions"], "partitions"),
    "diag": (["diag"], "statistics"),
    "license": (["licenses"], "licenses"),
    "reservation": (["reservations"], "reservations"),
}
DB_SOURCES = {
    "db_job": (["slurmdb_job_stats", "slurmdb_job", "slurmdb_jobs"], "jobs"),
    "account": (["slurmdb_account", "slurmdb_accounts"], "accounts"),
    "user": (["slurmdb_user", "slurmdb_users"], "users"),
    "association": (["slurmdb_association", "slurmdb_associations"], "associations"),
    "qos": (["slurmdb_qos_one", "slurmdb_qos"], "qos"),
    "tres": (["slurmdb_tres"], "TRES"),
    "cluster": (["slurmdb_clusters"], "clusters"),
    "db_diag": (["slurmdb_diag"], "statistics"),
}

# 22.05's slurmdbd records contradict the v0.0.38 document (steps[].task an object): kept thin
THIN = {("v0.0.38", ".slurmdb")}


def neutral(value: Any, *, keep_unset: bool = False) -> Any:
    if isinstance(value, dict):
        if keep_unset and set(value) == {"set", "infinite", "number"} and not value["set"]:
            return dict(value)
        return {k: neutral(v, keep_unset=keep_unset) for k, v in value.items()}
    if isinstance(value, list):
        firsts = [v for v in value if isinstance(v, dict)]
        return [neutral(firsts[0], keep_unset=keep_unset)] if firsts else []
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0
    if isinstance(value, str):
        return ""
    return None


def shapes_of(folder: Path, sources: dict[str, Any], *, keep_unset: bool) -> dict[str, Any]:
    shapes: dict[str, Any] = {}
    for kind, (names, key) in sources.items():
        for name in names:
            path = folder / f"{name}.json"
            if not path.exists():
                continue
            body = json.loads(path.read_text())["response"]["body"]
            # 23.11 names slurmdbd's TRES list "tres", later ones "TRES"
            items = (body.get(key) or body.get(key.lower())) if isinstance(body, dict) else None
            if isinstance(items, dict):  # one object (diag's statistics)
                items = [items]
            if items:
                shapes[kind] = neutral(items[0], keep_unset=keep_unset)
                break
    return shapes


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for folder in sorted((HERE / "responses").glob("v0.0.*")):
        for suffix, sources, keep in (("", SOURCES, False), (".slurmdb", DB_SOURCES, True)):
            if (folder.name, suffix) in THIN:
                continue
            shapes = shapes_of(folder, sources, keep_unset=keep)
            target = OUT / f"{folder.name}{suffix}.json.gz"
            data = json.dumps(shapes, sort_keys=True).encode()
            target.write_bytes(gzip.compress(data, mtime=0))
            print(target.name, sorted(shapes))


if __name__ == "__main__":
    main()
