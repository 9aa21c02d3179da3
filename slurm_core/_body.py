"""JSON bodies without I/O: encoding requests, decoding answers, and the errors a 2xx reports.

Example::

    data = parse_json(response, what="jobs")   # or a ResponseValidationError naming "jobs"
"""

from __future__ import annotations

import gc
import json as _json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from slurm_core._errmap import error_from_success, load_json, success_body_errors
from slurm_core._exceptions import ResponseValidationError
from slurm_core._redact import redact_text, redact_url

__all__ = ["check_success_body", "encode_json", "gc_paused", "parse_json"]

logger = logging.getLogger("slurm_core.http")


def _dumps(value: Any) -> bytes:
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


try:  # orjson is ~5x faster for big job lists; optional ("fast" extra).
    import orjson as _orjson

    def _dumps_fast(value: Any) -> bytes:
        try:
            return _orjson.dumps(value)
        except TypeError:  # e.g. int > 64 bit, non-str keys: the stdlib copes
            return _dumps(value)

    _loads: Callable[[bytes], Any] = _orjson.loads
    encode_json: Callable[[Any], bytes] = _dumps_fast
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _loads = _json.loads
    encode_json = _dumps


_NO_BODY: Any = object()


def parse_json(
    response: httpx.Response,
    *,
    what: str | None = None,
    loads: Callable[[bytes], Any] | None = None,
) -> Any:
    """Decode a response body as JSON, raising :class:`ResponseValidationError` if it is not.

    ``loads`` replaces the decoder (orjson when installed, else the standard library).

    Example::

        data = parse_json(http.request("GET", "/slurm/v0.0.40/jobs"), what="jobs")
    """
    content = response.content
    for_what = f" for {what}" if what else ""
    if not content:
        raise ResponseValidationError(f"empty response body{for_what}", response=response)
    try:
        return load_json(content, loads or _loads)
    except ValueError as exc:  # json.JSONDecodeError and orjson.JSONDecodeError both are
        hint = " (truncated?)" if content.rstrip()[-1:] not in (b"}", b"]") else ""
        raise ResponseValidationError(
            f"response body is not valid JSON{for_what}{hint}: "
            f"{type(exc).__name__} at byte {getattr(exc, 'pos', '?')}",
            response=response,
        ) from exc


def check_success_body(response: httpx.Response, body: Any = _NO_BODY) -> None:
    """Raise the typed error a 2xx answer reports in its body; log its ``warnings``.

    See :data:`~slurm_core._exceptions.INFORMATIONAL_ERRNOS` for the error numbers that do
    not count. ``body`` is the decoded body if the caller has it; a body that is not JSON
    carries nothing to check.
    """
    if body is _NO_BODY:
        content = response.content
        if not content:
            return
        try:
            body = load_json(content, _loads)
        except ValueError:
            return
    if not isinstance(body, dict) or not (
        body.get("errors") or body.get("warnings") or body.get("status")
    ):
        return
    errors, warnings = success_body_errors(body)
    if warnings:
        request = response.request
        # A write's warnings matter ("Required node not available" for a submission); a
        # read's are chatter ("found nothing", "Unable to find partition").
        level = logging.DEBUG if request.method == "GET" else logging.WARNING
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "slurmrestd warns about %s %s: %s",
                request.method,
                redact_url(request.url),
                redact_text("; ".join(str(w) for w in warnings)),
            )
    if errors:
        raise error_from_success(response, body, errors)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building a large object tree.

    Decoding a 10k-job listing allocates millions of containers, none of them garbage;
    the generational GC would rescan them many times (about 40% of the decode time).
    Reference counting still frees everything as usual.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
