"""Every recorded real GET replayed against the fake, diffed key by key and type by type.

``tests/data/responses/<version>/*.json`` are answers of real 22.05, 24.11 and 26.05
servers. Each GET is replayed against a fake of the same version holding a completed and a
cancelled job (job ids in paths map to them; the cancelled one is cancelled while running
or while pending, as the recorded one was). Both answers are compared by key path (lists
by their first item) and by the type of the value at each path present on both sides
(object, list, string, number, boolean, null); values themselves are not compared: times,
ids and counts differ by nature.

A difference must be listed in ``tests/data/fake_differences.json`` with a ``why``: one
line naming the recorded answer and why the fake cannot (or does not yet) match it. A
missing or extra subtree is listed once, by its topmost path. A new difference fails, a
listed one that is gone fails (so the list shrinks), an entry with an empty ``why`` fails.
``FAKE_DIFF_WRITE=1`` rewrites the file, keeping the whys of entries that remain (new
entries get an empty one, to be written by hand).
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
SIDES = ("missing", "extra", "types")


def key_paths(value: Any, prefix: str = "") -> dict[str, str]:
    """``a.b[].c``-style path of every key (lists by their first item) -> its value's type."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out[path] = type_name(item)
            out.update(key_paths(item, path))
    elif isinstance(value, list) and value:
        out.update(key_paths(value[0], f"{prefix}[]"))
        if not isinstance(value[0], dict | list):
            out[f"{prefix}[]"] = type_name(value[0])
    return out


def type_name(value: Any) -> str:
    """The JSON type: ``object``, ``list``, ``string``, ``number``, ``boolean`` or ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def topmost(paths: set[str]) -> list[str]:
    """``paths`` without those under another one of them (a subtree is listed once)."""

    def ancestors(path: str) -> list[str]:
        return [path[: m.start()] for m in re.finditer(r"\.|\[\]", path) if m.start()]

    return sorted(p for p in paths if not any(a in paths for a in ancestors(p)))


def _fake_answer(version: str, path: str, *, cancelled: bool, pending: bool) -> Any:
    fake = FakeSlurmServer(version, default_runtime=5)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    headers = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": "t"}
    ids = []
    for name in ("done", "cancelled"):
        body = get_adapter(version).job_submit_body({"name": name}, script="#!/bin/sh\ntrue\n")
        answer = http.post(f"/slurm/{version}/job/submit", json=body, headers=headers).json()
        ids.append(str(answer["job_id"]))
    if not pending:
        fake.advance(1)
    http.delete(f"/slurm/{version}/job/{ids[1]}", headers=headers)
    fake.advance(10)
    path = re.sub(r"/job/(?!999999)[0-9]+", f"/job/{ids[1] if cancelled else ids[0]}", path)
    # the recorded cluster's name is the fake's own
    path = re.sub(r"(/slurmdb/v[0-9.]+/cluster/)[^/?]+", rf"\g<1>{fake.cluster.name}", path)
    return http.get(path, headers=headers).json()


def _never_ran(body: Any) -> bool:
    """The recorded job was cancelled while pending (it names no node)."""
    jobs = body.get("jobs") if isinstance(body, dict) else None
    return bool(jobs) and isinstance(jobs[0], dict) and not jobs[0].get("nodes")


def diff(recording: Path) -> dict[str, list[str]]:
    """The key paths only one side has (topmost) and the paths whose value types differ."""
    record = json.loads(recording.read_text())
    version = recording.parent.name
    real = record["response"]["body"]
    cancelled = "cancel" in recording.stem
    path = record["request"]["path"]
    ours = _fake_answer(version, path, cancelled=cancelled, pending=cancelled and _never_ran(real))
    theirs = key_paths({k: v for k, v in real.items() if k != "meta"})
    mine = key_paths({k: v for k, v in ours.items() if k != "meta"})
    types = [
        f"{path}: {theirs[path]} != {mine[path]}"
        for path in sorted(set(theirs) & set(mine))
        if theirs[path] != mine[path]
    ]
    return {
        "missing": topmost(set(theirs) - set(mine)),
        "extra": topmost(set(mine) - set(theirs)),
        "types": types,
    }


def _listed() -> dict[str, dict[str, dict[str, str]]]:
    loaded: dict[str, dict[str, dict[str, str]]] = json.loads(LISTED.read_text())
    return loaded


def test_write_the_inventory_when_asked() -> None:
    if not os.environ.get("FAKE_DIFF_WRITE"):
        pytest.skip("FAKE_DIFF_WRITE=1 rewrites tests/data/fake_differences.json")
    old = _listed() if LISTED.exists() else {}
    out = {}
    for p in RECORDINGS:
        name = f"{p.parent.name}/{p.stem}"
        found = diff(p)
        kept = old.get(name, {})
        out[name] = {
            side: {entry: _why(kept.get(side), entry) for entry in found[side]} for side in SIDES
        }
    LISTED.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


def _why(listed: object, entry: str) -> str:
    return str(listed.get(entry, "")) if isinstance(listed, dict) else ""


def test_every_listed_difference_says_why() -> None:
    unexplained = [
        f"{name} {side} {entry}"
        for name, sides in _listed().items()
        for side in SIDES
        for entry, why in sides.get(side, {}).items()
        if not why.strip()
    ]
    assert not unexplained, f"fake_differences.json entries without a why: {unexplained}"


@pytest.mark.parametrize(
    "recording", RECORDINGS, ids=[f"{p.parent.name}-{p.stem}" for p in RECORDINGS]
)
def test_only_listed_differences(recording: Path) -> None:
    listed = _listed().get(f"{recording.parent.name}/{recording.stem}")
    assert listed is not None, "not in fake_differences.json: FAKE_DIFF_WRITE=1 adds it"
    found = diff(recording)
    for side in SIDES:
        new = sorted(set(found[side]) - set(listed.get(side, {})))
        assert not new, f"new {side} differences: {new}"
        fixed = sorted(set(listed.get(side, {})) - set(found[side]))
        assert not fixed, f"no longer {side} (remove from fake_differences.json): {fixed}"
