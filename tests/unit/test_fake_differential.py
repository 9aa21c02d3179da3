"""Every recorded real GET replayed against the fake, diffed key by key.

``tests/data/responses/<version>/*.json`` are answers of real 22.05, 24.11 and 26.05
servers. Each GET is replayed against a fake of the same version holding a completed and a
cancelled job (job ids in paths map to them), and the key paths of both answers are
compared (lists by their first item; values are not compared: times, ids and counts
differ by nature). A key path on one side only must be listed in
``tests/data/fake_differences.json``: that file is the inventory of what the fake's records
still lack (``missing``) or add (``extra``), each entry with a one-line ``why``. A new
difference fails; a fixed one is reported so the list shrinks. ``FAKE_DIFF_WRITE=1``
rewrites the file (keeping each ``why``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core._versions import get_adapter
from slurm_core.testing import FakeSlurmServer

DATA = Path(__file__).parent.parent / "data"
LISTED = DATA / "fake_differences.json"
RECORDINGS = sorted(
    p
    for p in DATA.glob("responses/v0.0.*/*.json")
    if json.loads(p.read_text()).get("request", {}).get("method") == "GET"
)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """``a.b[].c``-style paths of every key (lists by their first item)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out.add(path)
            out |= key_paths(item, path)
    elif isinstance(value, list) and value:
        out |= key_paths(value[0], f"{prefix}[]")
    return out


def _fake_answer(version: str, path: str, *, cancelled: bool) -> Any:
    fake = FakeSlurmServer(version, default_runtime=5)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    headers = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": "t"}
    ids = []
    for name in ("done", "cancelled"):
        body = get_adapter(version).job_submit_body({"name": name}, script="#!/bin/sh\ntrue\n")
        answer = http.post(f"/slurm/{version}/job/submit", json=body, headers=headers).json()
        ids.append(str(answer["job_id"]))
    fake.advance(1)
    http.delete(f"/slurm/{version}/job/{ids[1]}", headers=headers)
    fake.advance(10)
    path = re.sub(r"/job/(?!999999)[0-9]+", f"/job/{ids[1] if cancelled else ids[0]}", path)
    # the recorded cluster's name is the fake's own
    path = re.sub(r"(/slurmdb/v[0-9.]+/cluster/)[^/?]+", rf"\g<1>{fake.cluster.name}", path)
    return http.get(path, headers=headers).json()


def _diff(recording: Path) -> dict[str, list[str]]:
    record = json.loads(recording.read_text())
    version = recording.parent.name
    real = record["response"]["body"]
    ours = _fake_answer(version, record["request"]["path"], cancelled="cancel" in recording.stem)
    real_paths = key_paths({k: v for k, v in real.items() if k != "meta"})
    our_paths = key_paths({k: v for k, v in ours.items() if k != "meta"})
    return {"missing": sorted(real_paths - our_paths), "extra": sorted(our_paths - real_paths)}


def test_write_the_inventory_when_asked() -> None:
    if not os.environ.get("FAKE_DIFF_WRITE"):
        pytest.skip("FAKE_DIFF_WRITE=1 rewrites tests/data/fake_differences.json")
    old = json.loads(LISTED.read_text()) if LISTED.exists() else {}
    out: dict[str, dict[str, Any]] = {}
    for p in RECORDINGS:
        key = f"{p.parent.name}/{p.stem}"
        entry: dict[str, Any] = dict(_diff(p))
        if entry["missing"] or entry["extra"]:
            entry["why"] = old.get(key, {}).get("why", "")
        out[key] = entry
    LISTED.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize(
    "name", sorted(n for n in json.loads(LISTED.read_text()) if "/slurmdb_" in n)
)
def test_every_slurmdb_difference_says_why(name: str) -> None:
    entry = json.loads(LISTED.read_text())[name]
    if entry["missing"] or entry["extra"]:
        assert entry.get("why", "").strip(), f"{name}: differences without a one-line why"


@pytest.mark.parametrize(
    "recording", RECORDINGS, ids=[f"{p.parent.name}-{p.stem}" for p in RECORDINGS]
)
def test_only_listed_key_differences(recording: Path) -> None:
    listed = json.loads(LISTED.read_text()).get(f"{recording.parent.name}/{recording.stem}")
    assert listed is not None, "not in fake_differences.json: FAKE_DIFF_WRITE=1 adds it"
    found = _diff(recording)
    for side in ("missing", "extra"):
        new = sorted(set(found[side]) - set(listed[side]))
        assert not new, f"new {side} key paths: {new}"
        fixed = sorted(set(listed[side]) - set(found[side]))
        assert not fixed, f"no longer {side} (remove from fake_differences.json): {fixed}"
