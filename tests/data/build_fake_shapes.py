"""Write slurm_core/testing/fake/shapes/<version>.json.gz from real recordings (a dev tool).

    .venv/bin/python tests/data/build_fake_shapes.py

For each version, the first record of each kind the fake serves (slurmctld job, slurmdbd
job, node, partition, diag statistics, license, reservation) in
``tests/data/responses/<version>/`` is reduced to its shape: every key kept, every value
neutral (``""``, ``0``, ``False``, an unset number, ``[]`` for a list of plain values, a
one-item list for a list of objects). The fake lays its own records over these shapes
(``slurm_core/testing/fake/_shapes.py``), so a record carries every key a real one of that
version has, in the real shape, without inventing values.
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
    "db_job": (["slurmdb_job", "slurmdb_jobs"], "jobs"),
    "node": (["nodes"], "nodes"),
    "partition": (["partitions"], "partitions"),
    "diag": (["diag"], "statistics"),
    "license": (["licenses"], "licenses"),
    "reservation": (["reservations"], "reservations"),
}

# 22.05's slurmdbd jobs contradict the v0.0.38 document (steps[].task an object): kept thin
THIN = {("v0.0.38", "db_job")}


def neutral(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: neutral(v) for k, v in value.items()}
    if isinstance(value, list):
        firsts = [v for v in value if isinstance(v, dict)]
        return [neutral(firsts[0])] if firsts else []
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return 0
    if isinstance(value, str):
        return ""
    return None


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for folder in sorted((HERE / "responses").glob("v0.0.*")):
        shapes: dict[str, Any] = {}
        for kind, (names, key) in SOURCES.items():
            if (folder.name, kind) in THIN:
                continue
            for name in names:
                path = folder / f"{name}.json"
                if not path.exists():
                    continue
                body = json.loads(path.read_text())["response"]["body"]
                items = body.get(key) if isinstance(body, dict) else None
                if isinstance(items, dict):  # diag: one object
                    items = [items]
                if items:
                    shapes[kind] = neutral(items[0])
                    break
        target = OUT / f"{folder.name}.json.gz"
        target.write_bytes(gzip.compress(json.dumps(shapes, sort_keys=True).encode(), mtime=0))
        print(target.name, sorted(shapes))


if __name__ == "__main__":
    main()
