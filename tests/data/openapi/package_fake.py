"""Write the OpenAPI document each fake version serves at ``/openapi/v3`` (a dev tool).

Usage (from the repository root)::

    python tests/data/openapi/package_fake.py /work/shared

The documents are the ones real slurmrestd served at ``/openapi/v3``, recorded from the
project's clusters (``slurmrestd-live/<release>/openapi-v3.json``): 22.05.8 for v0.0.38,
24.11.5 for v0.0.40-v0.0.42, 26.05.5 for v0.0.43-v0.0.45. No cluster runs 23.x, so v0.0.39
is SchedMD's own plugin document (``openapi/v0.0.39.json``, see ``provenance.txt``). Each
is cut to one version's ``/slurm`` and ``/slurmdb`` paths and the schemas they reach, and
written gzipped into ``slurm_core/testing/fake/openapi/`` (shipped with the package);
``slurm_core.testing.fake._openapi`` merges those of the versions a fake serves.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

from trim import _refs

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "slurm_core" / "testing" / "fake" / "openapi"
SOURCES = {
    "v0.0.38": "slurmrestd-live/22.05/openapi-v3.json",
    "v0.0.39": "openapi/v0.0.39.json",
    **{f"v0.0.{n}": "slurmrestd-live/24.11/openapi-v3.json" for n in (40, 41, 42)},
    **{f"v0.0.{n}": "slurmrestd-live/26.05/openapi-v3.json" for n in (43, 44, 45)},
}


def cut(doc: dict[str, Any], version: str) -> dict[str, Any]:
    pattern = re.compile(rf"^/slurm(db)?/{re.escape(version)}/")
    paths = {p: ops for p, ops in doc["paths"].items() if pattern.match(p)}
    schemas = doc["components"]["schemas"]
    needed: set[str] = set()
    _refs(paths, needed)
    todo = list(needed)
    while todo:
        found: set[str] = set()
        _refs(schemas[todo.pop()], found)
        todo += found - needed
        needed |= found
    out = {k: v for k, v in doc.items() if k not in ("paths", "components")}
    out["paths"] = paths
    out["components"] = {
        **doc["components"],
        "schemas": {k: schemas[k] for k in sorted(needed)},
    }
    return out


def main(shared: str) -> None:
    OUT.mkdir(exist_ok=True)
    for version, source in SOURCES.items():
        doc = cut(json.loads(Path(shared, source).read_text()), version)
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        target = OUT / f"{version}.json.gz"
        target.write_bytes(gzip.compress(data, mtime=0))
        print(version, source, len(doc["paths"]), "paths", target.stat().st_size, "bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared")
