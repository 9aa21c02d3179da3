"""Copy the slurmrestd OpenAPI documents v0.0.38-v0.0.45, trimmed to what the tests use.

Usage (from the repository root)::

    python tests/data/openapi/trim.py /work/shared/openapi

For each version it keeps the ``paths`` of the endpoints listed in ``ENDPOINTS`` (the
ones the client calls and ``FakeSlurmServer`` serves) and every component schema they
reach through ``$ref``, and drops the rest (about a tenth of the size remains). The
provenance of the source documents is in README.md next to this script.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

VERSIONS = [f"v0.0.{n}" for n in range(38, 46)]
ENDPOINTS = [
    ("get", "slurm", "/ping"),
    ("get", "slurm", "/diag"),
    ("get", "slurm", "/jobs"),
    ("get", "slurm", "/jobs/state"),
    ("post", "slurm", "/job/submit"),
    ("post", "slurm", "/job/allocate"),
    ("get", "slurm", "/job/{job_id}"),
    ("post", "slurm", "/job/{job_id}"),
    ("delete", "slurm", "/job/{job_id}"),
    ("get", "slurm", "/job/{job_id}/requeue"),
    ("get", "slurm", "/nodes"),
    ("get", "slurm", "/node/{node_name}"),
    ("post", "slurm", "/node/{node_name}"),
    ("get", "slurm", "/partitions"),
    ("get", "slurm", "/partition/{partition_name}"),
    ("get", "slurm", "/reservations"),
    ("get", "slurm", "/licenses"),
    ("get", "slurmdb", "/jobs"),
    ("get", "slurmdb", "/job/{job_id}"),
    ("get", "slurmdb", "/accounts"),
    ("get", "slurmdb", "/users"),
    ("get", "slurmdb", "/associations"),
    ("get", "slurmdb", "/qos"),
    ("get", "slurmdb", "/tres"),
    ("get", "slurm", "/reservation/{reservation_name}"),
    ("delete", "slurm", "/node/{node_name}"),
    ("get", "slurm", "/reconfigure"),
    ("get", "slurmdb", "/clusters"),
    ("get", "slurmdb", "/cluster/{cluster_name}"),
    ("get", "slurmdb", "/wckeys"),
    ("get", "slurmdb", "/account/{account_name}"),
    ("get", "slurmdb", "/instances"),
    ("get", "slurmdb", "/user/{name}"),
    ("get", "slurmdb", "/qos/{qos}"),
    ("get", "slurmdb", "/ping"),
    # the rest of the documents (issue #22): _dbwrite.py and _ctldwrite.py
    ("get", "slurmdb", "/instance"),
    ("get", "slurmdb", "/association"),
    ("get", "slurmdb", "/wckey/{id}"),
    ("get", "slurmdb", "/config"),
    ("get", "slurmdb", "/conf"),
    ("get", "slurmdb", "/diag"),
    ("post", "slurmdb", "/accounts"),
    ("post", "slurmdb", "/accounts_association"),
    ("post", "slurmdb", "/users"),
    ("post", "slurmdb", "/users_association"),
    ("post", "slurmdb", "/associations"),
    ("post", "slurmdb", "/qos"),
    ("post", "slurmdb", "/wckeys"),
    ("post", "slurmdb", "/tres"),
    ("post", "slurmdb", "/clusters"),
    ("post", "slurmdb", "/config"),
    ("delete", "slurmdb", "/account/{account_name}"),
    ("delete", "slurmdb", "/user/{name}"),
    ("delete", "slurmdb", "/qos/{qos}"),
    ("delete", "slurmdb", "/wckey/{id}"),
    ("delete", "slurmdb", "/cluster/{cluster_name}"),
    ("delete", "slurmdb", "/association"),
    ("delete", "slurmdb", "/associations"),
    ("delete", "slurm", "/jobs"),
    ("get", "slurm", "/shares"),
    ("post", "slurm", "/nodes"),
    ("post", "slurm", "/reservation"),
    ("post", "slurm", "/reservations"),
    ("delete", "slurm", "/reservation/{reservation_name}"),
    ("get", "slurm", "/resources/{job_id}"),
    ("post", "slurm", "/new/node"),
    ("get", "slurm", "/conf"),
    ("post", "slurm", "/jobs/requeue"),
    ("post", "slurmdb", "/job/{job_id}"),
    ("post", "slurmdb", "/jobs"),
    ("post", "slurm", "/partitions"),
    ("delete", "slurm", "/partition/{partition_name}"),
]
_REF = re.compile(r"^#/components/schemas/(.+)$")


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and (m := _REF.match(ref)):
            out.add(m.group(1))
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def trim(doc: dict[str, Any], version: str) -> dict[str, Any]:
    wanted = set(ENDPOINTS)
    paths: dict[str, Any] = {}
    for path, ops in doc["paths"].items():
        m = re.match(rf"^/(slurm|slurmdb)/{re.escape(version)}(/.*?)/?$", path)
        if not m:
            continue
        keep = {
            method: op for method, op in ops.items() if (method, m.group(1), m.group(2)) in wanted
        }
        if keep:
            paths[path] = keep
    schemas = doc["components"]["schemas"]
    needed: set[str] = set()
    _refs(paths, needed)
    todo = list(needed)
    while todo:
        name = todo.pop()
        found: set[str] = set()
        _refs(schemas[name], found)
        for extra in found - needed:
            needed.add(extra)
            todo.append(extra)
    return {
        "openapi": doc["openapi"],
        "info": doc.get("info", {}),
        "paths": paths,
        "components": {"schemas": {k: schemas[k] for k in sorted(needed)}},
    }


def main(source: str) -> None:
    here = Path(__file__).parent
    for version in VERSIONS:
        doc = json.loads(Path(source, f"{version}.json").read_text())
        out = trim(doc, version)
        here.joinpath(f"{version}.json").write_text(
            json.dumps(out, sort_keys=True, separators=(",", ":")) + "\n"
        )
        print(version, len(out["paths"]), "paths", len(out["components"]["schemas"]), "schemas")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/openapi")
