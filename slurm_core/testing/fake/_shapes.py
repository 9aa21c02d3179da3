"""Real record shapes: every key a real record of a version has, laid under the fake's.

The client's encoders (:mod:`slurm_core._versions._encode`) write the fields its public
models carry, which is fewer than slurmrestd sends (``tres_per_*``, ``features``,
``job_resources``, step statistics...). ``shapes/<version>.json.gz`` holds, per kind of
record, the shape of a real one of that version (all keys, neutral values; written by
``tests/data/build_fake_shapes.py`` from the recordings); ``shapes/<version>.slurmdb.json.gz``
those of slurmdbd (accounting job, account, user, association, QOS, TRES, cluster,
``db_diag``), where an unset limit stays unlimited as in a fresh slurmdbd. :func:`thicken`
lays an encoded record over it: the fake's values win, each key it lacks gets the neutral
value of the real shape (a list of objects it knows nothing about stays empty).
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from typing import Any

__all__ = ["only_known", "thicken"]


@functools.cache
def _shapes(version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (f"{version}.json.gz", f"{version}.slurmdb.json.gz"):  # the second wins
        path = resources.files(__package__) / "shapes" / name
        if path.is_file():
            out.update(json.loads(gzip.decompress(path.read_bytes())))
    return out


def thicken(version: str, kind: str, wire: dict[str, Any]) -> dict[str, Any]:
    """``wire`` with every key of a real ``kind`` record (``job``, ``db_job``, ``node``...)."""
    if version == "v0.0.38":  # 22.05 sends shapes its own document refuses: kept thin
        return wire
    shape = _shapes(version).get(kind)
    return _merge(shape, wire) if isinstance(shape, dict) else wire


def _merge(shape: Any, value: Any) -> Any:
    if isinstance(shape, dict) and isinstance(value, dict):
        # a real null (22.05 sends some against its document) is not copied
        out = {
            k: _merge(s, value[k]) if k in value else _empty(s)
            for k, s in shape.items()
            if k in value or s is not None
        }
        out.update((k, v) for k, v in value.items() if k not in shape)
        return out
    if isinstance(shape, list) and shape and isinstance(value, list):
        return [_merge(shape[0], item) for item in value]
    return value


def _empty(shape: Any) -> Any:
    if isinstance(shape, dict):
        return {k: _empty(v) for k, v in shape.items() if v is not None}
    if isinstance(shape, list):
        return []
    return shape


def only_known(version: str, kind: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``extra`` a real ``kind`` record of ``version`` has (none without a shape)."""
    shape = _shapes(version).get(kind) if version != "v0.0.38" else None
    return _prune(shape, extra) if isinstance(shape, dict) else {}


def _prune(shape: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in extra.items():
        if key not in shape:
            continue
        inner = shape[key]
        both = isinstance(inner, dict) and isinstance(value, dict)
        out[key] = _prune(inner, value) if both else value
    return out
