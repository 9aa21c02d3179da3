"""The OpenAPI document the fake serves at ``/openapi/v3``: the real one of each version.

``openapi/<version>.json.gz`` beside this module are the documents real slurmrestd served
(22.05.8, 24.11.5, 26.05.5; v0.0.39 SchedMD's plugin document), cut per version by
``tests/data/openapi/package_fake.py``. A fake serving several versions serves their union,
as one slurmrestd does. Tools such as schemathesis or OpenAPI client generators can then
work from the fake alone.
"""

from __future__ import annotations

import functools
import gzip
import json
from importlib import resources
from typing import Any

__all__ = ["document", "document_bytes", "documented"]


@functools.cache
def _load(version: str) -> dict[str, Any]:
    data = (resources.files(__package__) / "openapi" / f"{version}.json.gz").read_bytes()
    loaded: dict[str, Any] = json.loads(gzip.decompress(data))
    return loaded


def document(versions: tuple[str, ...]) -> dict[str, Any]:
    """The merged document of ``versions`` (the newest one's header, every path and schema)."""
    newest = _load(max(versions, key=lambda v: int(v.rsplit(".", 1)[1])))
    out = {k: v for k, v in newest.items() if k not in ("paths", "components")}
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for version in versions:
        doc = _load(version)
        paths.update(doc["paths"])
        for kind, entries in doc.get("components", {}).items():
            components.setdefault(kind, {}).update(entries)
    out["paths"] = paths
    out["components"] = components
    return out


@functools.cache
def document_bytes(versions: tuple[str, ...]) -> bytes:
    """:func:`document` encoded once (it is about 0.5 MB per version)."""
    return json.dumps(document(tuple(sorted(versions)))).encode()


@functools.cache
def _operations(version: str) -> frozenset[tuple[str, str]]:
    return frozenset(
        (method.upper(), path.rstrip("/"))
        for path, ops in _load(version)["paths"].items()
        for method in ops
    )


def documented(version: str, method: str, template: str) -> bool:
    """Whether ``version``'s document has ``method template`` (trailing slash ignored)."""
    return (method, template.rstrip("/")) in _operations(version)
