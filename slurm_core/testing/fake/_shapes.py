"""Real record shapes: every key a real record of a version has, laid under the fake's.

The client's encoders (:mod:`slurm_core._versions._encode`) write the fields its public
models carry, which is fewer than slurmrestd sends (``tres_per_*``, ``features``,
``job_resources``, step statistics...). ``shapes/<version>.json.gz`` holds, per kind of
record, the shape of a real one of that version (all keys, neutral values; written by
``tests/data/build_fake_shapes.py`` from the recordings); ``shapes/<version>.slurmdb.json.gz``
those of slurmdbd (accounting job, account, user, association, QOS, TRES, cluster,
``db_diag``), where an unset limit stays unlimited as in a fresh slurmdbd. :func:`thicken`
lays an encoded record over it: the fake's values win, each key it lacks gets the neutral
value of the real shape (a list of objects it knows nothing about stays empty). ``extras``
are values the fake knows beyond the public models (:mod:`._records`), versionless: each is
written in the form the real shape has at its key (a number wrapper or a plain number...),
and left out where a version's records have no such key.
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from typing import Any

from ..._versions._encode import UNLIMITED, wrap
from ...models import INFINITE

__all__ = ["only_known", "thicken"]

_WRAPPER = frozenset({"set", "infinite", "number"})


@functools.cache
def _shapes(version: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (f"{version}.json.gz", f"{version}.slurmdb.json.gz"):  # the second wins
        path = resources.files(__package__) / "shapes" / name
        if path.is_file():
            out.update(json.loads(gzip.decompress(path.read_bytes())))
    return out


def thicken(
    version: str, kind: str, wire: dict[str, Any], extras: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``wire`` with every key of a real ``kind`` record (``job``, ``db_job``, ``node``...).

    ``extras`` (versionless values: ``None`` unset, :data:`~slurm_core.models.INFINITE`)
    replace what ``wire`` has at their keys, in the form of this version's records.
    """
    shape = _shapes(version).get(kind)
    if not isinstance(shape, dict):
        return wire
    if extras:
        wire = _overlay(wire, _form(shape, extras))
    merged: dict[str, Any] = _merge(shape, wire)
    return merged


def _by_index(shape: Any) -> bool:
    """v0.0.39/40's sockets and cores: objects keyed by index, not fixed keys."""
    return isinstance(shape, dict) and bool(shape) and all(k.isdigit() for k in shape)


def _overlay(wire: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """``wire`` with ``extras`` laid over it, object by object."""
    out = dict(wire)
    for key, value in extras.items():
        below = out.get(key)
        both = isinstance(below, dict) and isinstance(value, dict) and set(value) != _WRAPPER
        out[key] = _overlay(below, value) if both else value  # type: ignore[arg-type]
    return out


def _form(shape: Any, value: Any) -> Any:
    """``value`` written as ``shape`` is (keys ``shape`` lacks are left out)."""
    if isinstance(shape, dict) and set(shape) == _WRAPPER and not isinstance(value, dict):
        return wrap(value)
    if isinstance(shape, dict) and isinstance(value, dict):
        if _by_index(shape):
            return {k: _form(next(iter(shape.values())), v) for k, v in value.items()}
        # a real null (22.05: an unset value) stays unwritten, as in _merge
        return {k: _form(shape[k], v) for k, v in value.items() if shape.get(k) is not None}
    if isinstance(shape, list) and shape and isinstance(value, list):
        return [_form(shape[0], item) for item in value]
    if value is INFINITE:  # a plain number (v0.0.38): Slurm's "infinite" marker
        return UNLIMITED
    return _empty(shape) if value is None else value


def _merge(shape: Any, value: Any) -> Any:
    if _by_index(shape) and isinstance(value, dict):  # a map: its keys are the fake's
        return {k: _merge(next(iter(shape.values())), v) for k, v in value.items()}
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
