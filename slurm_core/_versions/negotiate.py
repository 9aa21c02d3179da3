"""Which REST API version to speak with a slurmrestd: learned once per URL, then cached.

1. ``GET /openapi/v3`` (served by every release we support) lists the paths of every
   loaded plugin; the versions are read from them (``/slurm/v0.0.42/...``,
   ``/slurmdb/v0.0.42/...``).
2. If that document is unavailable, ``GET /slurm/<v>/ping`` is tried newest first.
3. The newest version both sides speak is used, unless one is pinned (``api_version=``
   or ``SLURM_REST_API_VERSION``). A pinned version the client does not know, or the
   server does not serve, raises :class:`UnsupportedAPIVersionError` naming both sides.

The result is cached process-wide per (base URL, unix socket), guarded by a lock.
When a version disappears (an upgrade withdrew it), slurmrestd answers every path under
it with a plain-text 404 ("Unable find requested URL"), unlike a missing job (a JSON body
with error 2017): :func:`withdrawn_version` tells them apart, and :func:`forget_version`
drops the cached answer once for every client of that server, which renegotiate.
Negotiation is sans-I/O: :func:`negotiate` is a generator that yields the requests it
needs and receives the responses, so the sync and the async client share it.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Generator
from typing import Any

import httpx

from .._body import gc_paused, parse_json
from .._exceptions import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmAPIError,
    SlurmError,
    UnsupportedAPIVersionError,
)
from ._names import CLIENT_VERSIONS
from ._request import Request

__all__ = [
    "OPENAPI_PATH",
    "ServedVersions",
    "cached_versions",
    "choose_version",
    "clear_cache",
    "forget_version",
    "negotiate",
    "versions_from_openapi",
    "withdrawn_version",
]

OPENAPI_PATH = "/openapi/v3"
_PATH_VERSION = re.compile(r"^/(slurm|slurmdb)/(v\d+\.\d+\.\d+)/")


@dataclasses.dataclass(frozen=True)
class ServedVersions:
    """What a slurmrestd serves: ``slurm`` and ``slurmdb`` versions, newest first.

    ``slurmdb`` is ``None`` when unknown (learned by probing ping, not from the document).
    """

    slurm: tuple[str, ...]
    slurmdb: tuple[str, ...] | None
    source: str  # "openapi" or "ping"


_cache: dict[tuple[str, str | None], ServedVersions] = {}
_lock = threading.Lock()


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v[1:].split("."))


def cached_versions(key: tuple[str, str | None]) -> ServedVersions | None:
    """The cached answer for ``(base_url, uds)``, if any."""
    with _lock:
        return _cache.get(key)


def _store(key: tuple[str, str | None], served: ServedVersions) -> None:
    with _lock:
        _cache[key] = served


def forget_server(base_url: str) -> None:
    """Forget what was negotiated with ``base_url``: another server now answers there (a
    test server on a port an earlier one used)."""
    url = base_url.rstrip("/")
    with _lock:
        for key in [k for k in _cache if k[0].rstrip("/") == url]:
            del _cache[key]


def clear_cache() -> None:
    """Forget every negotiated version (tests; or after upgrading slurmrestd)."""
    with _lock:
        _cache.clear()


def withdrawn_version(exc: SlurmError) -> str | None:
    """The version whose whole prefix slurmrestd does not serve, if ``exc`` says so: a 404
    with no Slurm error entries and no JSON body, for a ``/slurm/<v>/`` or ``/slurmdb/<v>/``
    path. A missing job or node (JSON, error 2017/2018) is no such answer."""
    if not isinstance(exc, NotFoundError) or exc.status_code != 404 or exc.errors:
        return None
    if (exc.body or "").lstrip().startswith(("{", "[")) or not exc.url:
        return None
    m = _PATH_VERSION.match(httpx.URL(exc.url).path)
    return m.group(2) if m else None


def forget_version(key: tuple[str, str | None], version: str) -> bool:
    """Drop the cached answer for ``key`` if it still offers ``version`` (so the next
    negotiation asks the server again); False if another client already did."""
    with _lock:
        served = _cache.get(key)
        if served is None or version not in served.slurm + (served.slurmdb or ()):
            return False
        del _cache[key]
        return True


def versions_from_openapi(document: Any) -> ServedVersions | None:
    """Read the served versions from an OpenAPI document's ``paths`` keys."""
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return None
    slurm: set[str] = set()
    slurmdb: set[str] = set()
    for path in document["paths"]:
        m = _PATH_VERSION.match(str(path))
        if m:
            (slurm if m.group(1) == "slurm" else slurmdb).add(m.group(2))
    if not slurm and not slurmdb:
        return None
    return ServedVersions(
        tuple(sorted(slurm, key=_version_key, reverse=True)),
        tuple(sorted(slurmdb, key=_version_key, reverse=True)),
        "openapi",
    )


def choose_version(served: ServedVersions, pinned: str | None) -> str:
    """The version to use: ``pinned`` if served, else the newest one both sides speak."""
    if pinned is not None:
        if pinned not in CLIENT_VERSIONS or pinned not in served.slurm:
            raise UnsupportedAPIVersionError(pinned, served.slurm, CLIENT_VERSIONS)
        return pinned
    for v in served.slurm:  # newest first
        if v in CLIENT_VERSIONS:
            return v
    raise UnsupportedAPIVersionError(None, served.slurm, CLIENT_VERSIONS)


def check_pinned(pinned: str | None) -> None:
    """Fail early (no I/O) for a pinned version this client cannot speak."""
    if pinned is not None and pinned not in CLIENT_VERSIONS:
        raise UnsupportedAPIVersionError(pinned, (), CLIENT_VERSIONS)


def negotiate(
    key: tuple[str, str | None], pinned: str | None
) -> Generator[Request, httpx.Response, tuple[str, ServedVersions]]:
    """Yield the requests needed to learn the served versions; return ``(version, served)``."""
    check_pinned(pinned)
    served = cached_versions(key)
    if served is None:
        served = yield from _discover(pinned)
        # Cache what describes the whole server: the document, or a full newest-first
        # probe. A probe of the pinned version alone, or a failure, is not cached.
        if served.slurm and (served.source == "openapi" or pinned is None):
            _store(key, served)
    return choose_version(served, pinned), served


def _discover(pinned: str | None) -> Generator[Request, httpx.Response, ServedVersions]:
    try:
        response = yield Request("GET", OPENAPI_PATH)
        with gc_paused():
            served = versions_from_openapi(parse_json(response, what="OpenAPI document"))
        if served is not None:
            return served
    except (AuthenticationError, PermissionDeniedError):
        raise  # a credentials problem: probing would fail the same way (or lie, see ping)
    except (SlurmAPIError, ResponseValidationError):
        pass  # no document here: probe instead
    candidates = [pinned] if pinned else list(reversed(CLIENT_VERSIONS))
    for version in candidates:
        try:
            yield Request("GET", f"/slurm/{version}/ping")
        except (AuthenticationError, PermissionDeniedError, ServerError, RateLimitError):
            # Credentials, or a failing server (already retried): probing on would end in
            # "no version served", which is not what is wrong.
            raise
        except SlurmAPIError:
            continue
        return ServedVersions((version,), None, "ping")
    return ServedVersions((), None, "ping")
