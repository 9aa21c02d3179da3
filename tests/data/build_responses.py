"""Rebuild tests/data/responses/ from the shared recordings (a dev tool, not run by tests).

    .venv/bin/python tests/data/build_responses.py /work/shared

Every file written is ``{"source": ..., "request": {...} | null, "response": {"status": N,
"body": ...}}``.

* ``source: "recorded ..."``: copied unchanged from a real slurmrestd (Slurm 22.05.8 for
  v0.0.38, 24.11.5 for v0.0.40-v0.0.42, 26.05.5 for v0.0.43-v0.0.45).
* ``source: "synthesized ..."``: no recording exists (v0.0.39 is served by no release we
  run). The object is a real recording of a neighbouring version (or a small seed)
  *conformed to the version's OpenAPI schema*: keys the schema lacks are dropped, missing
  ones get zero values, and every value is converted to the schema's encoding (number
  wrappers, state string vs list, raw wait status vs verbose exit code).

diag, licenses, reservations and slurmdb qos of v0.0.38 and v0.0.40-v0.0.45, and the write
scenarios in ``<version>/scenarios/``, are recorded from the live clusters by the sibling
``record_responses.py``; this script leaves them alone.

It also writes ``openapi/<release>.json`` (the live documents reduced to their path keys,
which is all negotiation reads) and ``request_schemas.json`` (property kinds of the
request bodies per version, to check the adapters' request translation).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUT = HERE / "responses"


def load(p: Path) -> Any:
    return json.loads(p.read_text())


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


def recorded_2205(path: Path, method: str, url: str) -> dict[str, Any]:
    """22.05 files are bare bodies; ``*.response.txt`` end with an ``HTTP <status>`` line."""
    text = path.read_text()
    status = 200
    if path.name.endswith(".txt"):
        body_text, _, tail = text.rpartition("HTTP ")
        status = int(tail.strip())
        text = body_text
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text.strip()
    return {
        "source": f"recorded Slurm 22.05.8: {path.name}",
        "request": {"method": method, "path": url},
        "response": {"status": status, "body": body},
    }


def recorded(path: Path, release: str) -> dict[str, Any]:
    d = load(path)
    req = d["request"]
    return {
        "source": f"recorded Slurm {release}: {path.parent.name}/{path.name}",
        "request": {"method": req["method"], "path": req["path"], "body": req.get("body")},
        "response": d["response"],
    }


# -- schema conformance ------------------------------------------------------------------
class Schema:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.schemas = doc["components"]["schemas"]

    def resolve(self, s: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        name = None
        while "$ref" in s:
            name = s["$ref"].rsplit("/", 1)[-1]
            s = self.schemas[name]
        return name, s

    def is_number_wrapper(self, s: dict[str, Any]) -> bool:
        props = s.get("properties", {})
        return s.get("type") == "object" and {"set", "infinite", "number"} <= set(props)


def _unwrap_number(v: Any) -> Any:
    if isinstance(v, dict) and "number" in v:
        if v.get("infinite"):
            return -1
        return v["number"] if v.get("set") else 0
    if isinstance(v, dict) and "return_code" in v:  # verbose exit code -> wait status
        sig = v.get("signal", {}).get("id")
        sig_n = _unwrap_number(sig) if sig is not None else 0
        if sig_n:
            return int(sig_n)
        return (int(_unwrap_number(v.get("return_code")) or 0) & 0xFF) << 8
    return v


def conform(schema: Schema, s: dict[str, Any], v: Any) -> Any:
    _, s = schema.resolve(s)
    if schema.is_number_wrapper(s):
        if isinstance(v, dict) and "number" in v:  # already a wrapper: same meaning
            return {
                "set": bool(v.get("set")),
                "infinite": bool(v.get("infinite")),
                "number": v["number"],
            }
        n = _unwrap_number(v)
        if n is None:
            return {"set": False, "infinite": False, "number": 0}
        return {"set": True, "infinite": False, "number": n}
    t = s.get("type")
    if t == "object" or "properties" in s:
        if isinstance(v, str) and "step_id" in s.get("properties", {}):
            job, _, step = v.partition(".")  # "4.batch" -> {"job_id": 4, "step_id": "batch"}
            v = {"job_id": int(job), "step_id": step}
        src = v if isinstance(v, dict) else {}
        props = s.get("properties", {})
        if not props:
            return src
        return {k: conform(schema, ps, src.get(k)) for k, ps in props.items()}
    if t == "array":
        items = s.get("items", {})
        if v is None or v == "":
            return []
        seq = v if isinstance(v, list) else [v]
        return [conform(schema, items, x) for x in seq]
    if t == "string":
        if isinstance(v, list):
            return str(v[0]) if v else ""
        if isinstance(v, dict):
            return str(_unwrap_number(v))
        return "" if v is None else str(v)
    if t == "integer":
        n = _unwrap_number(v)
        return int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else 0
    if t == "number":
        n = _unwrap_number(v)
        return float(n) if isinstance(n, (int, float)) else 0.0
    if t == "boolean":
        return bool(v)
    return v


def synthesized(
    schema: Schema,
    response_schema: str,
    key: str,
    items: list[Any],
    note: str,
    method: str,
    path: str,
) -> dict[str, Any]:
    _, resp = schema.resolve({"$ref": f"#/components/schemas/{response_schema}"})
    item_schema = resp["properties"][key]
    body = {
        "meta": {},
        "errors": [],
        "warnings": [],
        key: conform(schema, item_schema, items),
    }
    return {
        "source": f"synthesized from {response_schema} of the OpenAPI document: {note}",
        "request": {"method": method, "path": path},
        "response": {"status": 200, "body": body},
    }


def response_schema_for(schema: Schema, doc: dict[str, Any], path: str) -> str:
    p = doc["paths"].get(path) or doc["paths"][path + "/"]
    ref = p["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return str(ref.rsplit("/", 1)[-1])


RESERVATION_SEED = {
    "name": "maint",
    "accounts": "root",
    "users": "root,alice",
    "node_list": "node[1-2]",
    "node_count": 2,
    "core_count": 8,
    "partition": "debug",
    "start_time": 1795550000,
    "end_time": 1795553600,
    "flags": ["MAINT", "IGNORE_JOBS"],
    "tres": "cpu=8",
}
LICENSE_SEED = {"LicenseName": "matlab", "Total": 5, "Used": 2, "Free": 3, "Reserved": 0}


def main(shared: Path) -> None:
    live = shared / "slurmrestd-live"
    ex22 = live / "22.05" / "examples"
    v38 = OUT / "v0.0.38"
    # -- v0.0.38: recorded on 22.05 ----------------------------------------------------
    for name, method, url in [
        ("GET_v0.0.38_ping.json", "GET", "/slurm/v0.0.38/ping"),
        ("GET_v0.0.38_jobs_after.json", "GET", "/slurm/v0.0.38/jobs"),
        ("GET_v0.0.38_job_completed.json", "GET", "/slurm/v0.0.38/job/1"),
        ("GET_v0.0.38_job_array.json", "GET", "/slurm/v0.0.38/job/6"),
        ("GET_v0.0.38_job_gpu_completed.json", "GET", "/slurm/v0.0.38/job/2"),
        ("GET_v0.0.38_job_unknown.response.txt", "GET", "/slurm/v0.0.38/job/999999"),
        ("GET_v0.0.38_nodes.json", "GET", "/slurm/v0.0.38/nodes"),
        ("GET_v0.0.38_partitions.json", "GET", "/slurm/v0.0.38/partitions"),
        ("DELETE_v0.0.38_job.response.txt", "DELETE", "/slurm/v0.0.38/job/4"),
        ("DELETE_v0.0.38_job_unknown.response.txt", "DELETE", "/slurm/v0.0.38/job/999999"),
        ("POST_v0.0.38_job_update.response.txt", "POST", "/slurm/v0.0.38/job/14"),
        ("GET_dbv0.0.38_jobs.json", "GET", "/slurmdb/v0.0.38/jobs"),
        ("GET_dbv0.0.38_job.json", "GET", "/slurmdb/v0.0.38/job/2"),
        ("GET_dbv0.0.38_accounts.json", "GET", "/slurmdb/v0.0.38/accounts"),
        ("GET_dbv0.0.38_users.json", "GET", "/slurmdb/v0.0.38/users"),
        ("GET_dbv0.0.38_associations.json", "GET", "/slurmdb/v0.0.38/associations"),
        ("GET_dbv0.0.38_tres.json", "GET", "/slurmdb/v0.0.38/tres"),
    ]:
        out = name.replace("GET_v0.0.38_", "").replace("GET_dbv0.0.38_", "slurmdb_")
        out = out.replace(".response.txt", ".json").replace("DELETE_v0.0.38_", "delete_")
        out = out.replace("POST_v0.0.38_", "post_")
        write(v38 / out, recorded_2205(ex22 / name, method, url))
    for stem in ("simple", "to_update", "array"):
        req = load(ex22 / f"POST_v0.0.38_job_submit_{stem}.request.json")
        rec = recorded_2205(
            ex22 / f"POST_v0.0.38_job_submit_{stem}.response.json",
            "POST",
            "/slurm/v0.0.38/job/submit",
        )
        rec["request"]["body"] = req
        write(v38 / f"job_submit_{stem}.json", rec)
    upd = recorded_2205(
        ex22 / "POST_v0.0.38_job_update.response.txt", "POST", "/slurm/v0.0.38/job/14"
    )
    upd["request"]["body"] = load(ex22 / "POST_v0.0.38_job_update.request.json")
    write(v38 / "post_job_update.json", upd)

    # -- v0.0.40-v0.0.45: recorded on 24.11 and 26.05 ----------------------------------
    recorded_files = [
        "ping", "jobs", "job_get_completed", "job_get_cancelled", "job_get_missing",
        "job_delete", "job_submit", "nodes", "partitions", "slurmdb_jobs", "slurmdb_job",
        "slurmdb_accounts", "slurmdb_users", "slurmdb_associations", "slurmdb_tres",
    ]  # fmt: skip
    where = {"v0.0.40": "24.11", "v0.0.41": "24.11", "v0.0.42": "24.11"}
    where.update({"v0.0.43": "26.05", "v0.0.44": "26.05", "v0.0.45": "26.05"})
    releases = {"24.11": "24.11.5", "26.05": "26.05.5"}
    for version, rel in where.items():
        for f in recorded_files:
            src = live / rel / "examples" / version / f"{f}.json"
            write(OUT / version / f"{f}.json", recorded(src, releases[rel]))

    # -- synthesized where nothing was recorded ----------------------------------------
    def seed_body(p: Path) -> Any:
        d = load(p)
        return d["response"]["body"] if "response" in d else d

    seeds = {
        "jobs": seed_body(live / "24.11/examples/v0.0.40/jobs.json")["jobs"],
        "nodes": seed_body(live / "24.11/examples/v0.0.40/nodes.json")["nodes"],
        "partitions": seed_body(live / "24.11/examples/v0.0.40/partitions.json")["partitions"],
        "diag": seed_body(ex22 / "GET_v0.0.38_diag.json")["statistics"],
        "qos": seed_body(ex22 / "GET_dbv0.0.38_qos.json")["QOS"],
        "slurmdb_jobs": seed_body(live / "24.11/examples/v0.0.40/slurmdb_jobs.json")["jobs"],
        "accounts": seed_body(live / "24.11/examples/v0.0.40/slurmdb_accounts.json")["accounts"],
        "users": seed_body(live / "24.11/examples/v0.0.40/slurmdb_users.json")["users"],
        "associations": seed_body(live / "24.11/examples/v0.0.40/slurmdb_associations.json")[
            "associations"
        ],
        "tres": seed_body(live / "24.11/examples/v0.0.40/slurmdb_tres.json")["TRES"],
    }
    todo: dict[str, list[tuple[str, str, str, Any, str]]] = {
        "v0.0.39": [
            ("jobs", "slurm", "jobs", seeds["jobs"], "v0.0.40 jobs of Slurm 24.11.5"),
            ("nodes", "slurm", "nodes", seeds["nodes"], "v0.0.40 nodes of Slurm 24.11.5"),
            ("partitions", "slurm", "partitions", seeds["partitions"], "v0.0.40 partitions"),
            ("reservations", "slurm", "reservations", [RESERVATION_SEED], "a seed reservation"),
            ("licenses", "slurm", "licenses", [LICENSE_SEED], "a seed license"),
            ("slurmdb_jobs", "slurmdb", "jobs", seeds["slurmdb_jobs"], "v0.0.40 slurmdb jobs"),
            ("slurmdb_accounts", "slurmdb", "accounts", seeds["accounts"], "v0.0.40 accounts"),
            ("slurmdb_users", "slurmdb", "users", seeds["users"], "v0.0.40 users"),
            ("slurmdb_associations", "slurmdb", "associations", seeds["associations"], "v0.0.40"),
            ("slurmdb_qos", "slurmdb", "qos", seeds["qos"], "dbv0.0.38 QOS of Slurm 22.05.8"),
            ("slurmdb_tres", "slurmdb", "tres", seeds["tres"], "v0.0.40 TRES"),
        ]
    }
    for version, items in todo.items():
        doc = load(shared / "openapi" / f"{version}.json")
        schema = Schema(doc)
        for fname, api, key, seed, note in items:
            url = f"/{api}/{version}/{fname.removeprefix('slurmdb_')}"
            rs = response_schema_for(schema, doc, url)
            props = schema.resolve({"$ref": f"#/components/schemas/{rs}"})[1]["properties"]
            body_key = next(k for k in props if k.lower() == key)  # "TRES"/"tres", "QOS"/"qos"
            write(
                OUT / version / f"{fname}.json",
                synthesized(schema, rs, body_key, seed, note, "GET", url),
            )
        # diag: statistics object (v0.0.39 only; the others are recorded)
        url = f"/slurm/{version}/diag"
        rs = response_schema_for(schema, doc, url)
        _, resp = schema.resolve({"$ref": f"#/components/schemas/{rs}"})
        stats = conform(schema, resp["properties"]["statistics"], seeds["diag"])
        write(
            OUT / version / "diag.json",
            {
                "source": f"synthesized from {rs} of the OpenAPI document: v0.0.38 diag of 22.05.8",
                "request": {"method": "GET", "path": url},
                "response": {
                    "status": 200,
                    "body": {"meta": {}, "errors": [], "statistics": stats},
                },
            },
        )

    # -- openapi path keys and request schemas -----------------------------------------
    for rel in ("22.05", "24.11", "26.05"):
        doc = load(live / rel / "openapi-v3.json")
        write(
            HERE / "openapi" / f"{rel}.json",
            {
                "openapi": doc.get("openapi"),
                "info": doc.get("info"),
                "paths": {k: {} for k in doc["paths"]},
            },
        )
    kinds: dict[str, dict[str, dict[str, str]]] = {}
    for v in range(39, 46):
        version = f"v0.0.{v}"
        doc = load(shared / "openapi" / f"{version}.json")
        schema = Schema(doc)
        kinds[version] = {}
        for name in ("job_desc_msg", "update_node_msg"):
            _, s = schema.resolve({"$ref": f"#/components/schemas/{version}_{name}"})
            kinds[version][name] = {
                k: ("number" if schema.is_number_wrapper(schema.resolve(ps)[1]) else
                    str(schema.resolve(ps)[1].get("type", "object")))
                for k, ps in s["properties"].items()
            }  # fmt: skip
    live22 = load(live / "22.05" / "openapi-v3.json")
    _, props38 = Schema(live22).resolve({"$ref": "#/components/schemas/v0.0.38_job_properties"})
    kinds["v0.0.38"] = {
        "job_desc_msg": {k: str(p.get("type", "object")) for k, p in props38["properties"].items()}
    }
    write(HERE / "request_schemas.json", kinds)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared"))
