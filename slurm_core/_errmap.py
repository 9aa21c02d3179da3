"""Mapping answers (by Slurm error number, then HTTP status) and failures onto the error tree.

slurmrestd does not use HTTP statuses consistently: 22.05 answers most errors with HTTP 500
and a Slurm error number in the body (``error_code`` or ``error_number``), later releases use
404/511 but still carry the number. :func:`error_from_response` therefore decides the class by
the body's error numbers first and by the HTTP status second.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from slurm_core._exceptions import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SlurmAPIError,
    SlurmConnectionError,
    SlurmError,
    SlurmErrorEntry,
    SlurmTimeoutError,
)
from slurm_core._redact import redact_text, redact_url
from slurm_core._retry import parse_retry_after, tls_failure

__all__ = [
    "DEADLINE",
    "INFORMATIONAL_ERRNOS",
    "TOKEN_UNPROVEN",
    "DeadlineExceeded",
    "answer_class",
    "decode_body",
    "error_class_for",
    "error_from_exception",
    "error_from_response",
    "error_from_success",
    "is_ambiguous",
    "load_json",
    "parse_error_entries",
    "success_body_errors",
]

_BODY_EXCERPT_CHARS = 500

# --------------------------------------------------------------------------------------------
# Slurm error numbers -> class. From slurm/slurm_errno.h (enum slurm_err_t); the values are
# stable across releases. Only numbers whose meaning is unambiguous are listed; anything else
# falls back to the HTTP status. Keep this the only table.
# --------------------------------------------------------------------------------------------
_ERRNO_CLASS: dict[int, type[SlurmAPIError]] = {
    1007: AuthenticationError,  # SLURM_PROTOCOL_AUTHENTICATION_ERROR (bad token, 24.11+: 511)
    2000: InvalidRequestError,  # ESLURM_INVALID_PARTITION_NAME (22.05 sends it as HTTP 500)
    2001: InvalidRequestError,  # ESLURM_DEFAULT_PARTITION_NOT_SET
    2002: PermissionDeniedError,  # ESLURM_ACCESS_DENIED
    2004: InvalidRequestError,  # ESLURM_REQUESTED_NODES_NOT_IN_PARTITION
    2005: InvalidRequestError,  # ESLURM_TOO_MANY_REQUESTED_CPUS
    2006: InvalidRequestError,  # ESLURM_INVALID_NODE_COUNT
    2008: InvalidRequestError,  # ESLURM_JOB_MISSING_SIZE_SPECIFICATION
    2009: InvalidRequestError,  # ESLURM_JOB_SCRIPT_MISSING
    # ESLURM_USER_ID_MISSING "Invalid user id": a non-admin updating a node (24.11 HTTP 500,
    # 26.05 HTTP 422); slurmctld logs it as a security violation.
    2010: PermissionDeniedError,
    2014: InvalidRequestError,  # ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE
    2015: InvalidRequestError,  # ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE
    2017: NotFoundError,  # ESLURM_INVALID_JOB_ID (unknown job; 22.05 sends HTTP 500)
    2018: NotFoundError,  # ESLURM_INVALID_NODE_NAME
    2029: InvalidRequestError,  # ESLURM_INVALID_FEATURE
    2044: InvalidRequestError,  # ESLURM_INVALID_TASK_MEMORY
    2045: InvalidRequestError,  # ESLURM_INVALID_ACCOUNT
    2048: InvalidRequestError,  # ESLURM_INVALID_LICENSES
    2051: InvalidRequestError,  # ESLURM_INVALID_TIME_LIMIT
    2052: PermissionDeniedError,  # ESLURM_RESERVATION_ACCESS
    2053: InvalidRequestError,  # ESLURM_RESERVATION_INVALID
    2057: InvalidRequestError,  # ESLURM_INVALID_WCKEY
    2066: InvalidRequestError,  # ESLURM_INVALID_QOS
    2063: InvalidRequestError,  # "cannot be submitted without the current working directory"
    2069: InvalidRequestError,  # ESLURM_INVALID_CPU_COUNT
    2071: InvalidRequestError,  # ESLURM_CIRCULAR_DEPENDENCY
    2072: InvalidRequestError,  # ESLURM_INVALID_GRES
    2081: InvalidRequestError,  # ESLURM_INVALID_ARRAY
    2092: PermissionDeniedError,  # ESLURM_BURST_BUFFER_PERMISSION
    9000: InvalidRequestError,  # ESLURM_REST_INVALID_QUERY
    9001: InvalidRequestError,  # ESLURM_REST_FAIL_PARSING
    9002: InvalidRequestError,  # ESLURM_REST_INVALID_JOBS_DESC
    9008: AuthenticationError,  # ESLURM_REST_AUTH_FAIL
    9009: InvalidRequestError,  # ESLURM_REST_BAD_REQUEST
}
# Whole ranges of slurm_errno.h that mean one thing.
_ERRNO_RANGES: tuple[tuple[int, int, type[SlurmAPIError]], ...] = (
    (6000, 6099, AuthenticationError),  # ESLURM_AUTH_* (cred invalid 6000, expired 6001, ...)
    (9200, 9299, InvalidRequestError),  # ESLURM_DATA_* (body could not be parsed/converted)
)

_STATUS_CLASS: dict[int, type[SlurmAPIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: InvalidRequestError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    511: AuthenticationError,  # Network Authentication Required: slurmrestd's "bad token"
}


def _class_for_errno(number: int) -> type[SlurmAPIError] | None:
    cls = _ERRNO_CLASS.get(number)
    if cls is not None:
        return cls
    for low, high, range_cls in _ERRNO_RANGES:
        if low <= number <= high:
            return range_cls
    return None


def error_class_for(
    status_code: int, errors: Sequence[SlurmErrorEntry] = ()
) -> type[SlurmAPIError]:
    """The exception class for a status and the body's error entries.

    A known Slurm error number wins over the status (22.05 sends 500 for "invalid job id");
    an authentication status (401/511) wins over everything, since the body then describes
    a consequence of the bad token rather than the request.
    """
    if status_code in (401, 511):
        return AuthenticationError
    for entry in errors:
        if entry.error_number:
            cls = _class_for_errno(entry.error_number)
            if cls is not None:
                return cls
    cls = _STATUS_CLASS.get(status_code)
    if cls is not None:
        return cls
    if status_code >= 500:
        return ServerError
    if 400 <= status_code < 500:
        return InvalidRequestError
    return SlurmAPIError


# What slurmrestd answers to an expired or invalid token where it does not say so (seen live):
# 22.05 answers HTTP 500 with error -1 "Unspecified error" (5005 "Zero Bytes were transmitted
# or received" for DELETE job); the slurmdb endpoints of 24.11/26.05 answer 502 with 7000
# "Unable to connect to database". The same answers also mean real failures (slurmctld or
# slurmdbd down), so they only count as a rejection of a token the server never accepted.
_AMBIGUOUS_STATUSES = (500, 502)
_AMBIGUOUS_ERRNOS = frozenset({-1, 5005, 7000})

TOKEN_UNPROVEN = "slurm_token_unproven"  # noqa: S105 (a name, not a secret)
"""Request extension set by the auth flow: True when the server has never accepted this
request's token, or the token's own ``exp`` claim has passed. An ambiguous answer (above)
to such a request is an authentication failure, not a server fault."""


def is_ambiguous(status_code: int, errors: Sequence[SlurmErrorEntry]) -> bool:
    """True for an answer that may be slurmrestd rejecting a token without saying so."""
    return (
        status_code in _AMBIGUOUS_STATUSES
        and bool(errors)
        and all(e.error_number in _AMBIGUOUS_ERRNOS for e in errors)
    )


def answer_class(
    response: httpx.Response,
    errors: Sequence[SlurmErrorEntry],
    request: httpx.Request | None = None,
) -> type[SlurmAPIError]:
    """:func:`error_class_for`, and an ambiguous answer to a request whose token is unproven
    (:data:`TOKEN_UNPROVEN`) is :class:`AuthenticationError`. The breaker and the error
    mapping both decide here; ``request`` defaults to the response's own."""
    cls = error_class_for(response.status_code, errors)
    if cls is not ServerError or not is_ambiguous(response.status_code, errors):
        return cls
    if request is None:
        try:
            request = response.request
        except RuntimeError:  # a response built by hand has no request
            return cls
    return AuthenticationError if request.extensions.get(TOKEN_UNPROVEN) is True else cls


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _entry(item: Any, *, warning: bool) -> SlurmErrorEntry | None:
    if isinstance(item, str):
        return SlurmErrorEntry(error=item) if not warning else SlurmErrorEntry(description=item)
    if not isinstance(item, Mapping):
        return None
    number = None
    for key in ("error_number", "error_code", "errno"):
        number = _as_int(item.get(key))
        if number is not None:
            break
    text = item.get("error")
    if text is None and warning:
        text = item.get("warning")
    return SlurmErrorEntry(
        error_number=number,
        error=_as_str(text),
        description=_as_str(item.get("description")),
        source=_as_str(item.get("source")),
    )


def parse_error_entries(body: Any) -> tuple[list[SlurmErrorEntry], list[SlurmErrorEntry]]:
    """``(errors, warnings)`` from a decoded slurmrestd body; tolerant of every version's shape.

    Example::

        errors, warnings = parse_error_entries(response.json())
    """
    if not isinstance(body, Mapping):
        return [], []
    out: list[list[SlurmErrorEntry]] = []
    for key, warning in (("errors", False), ("warnings", True)):
        raw = body.get(key)
        items = raw if isinstance(raw, list) else ([raw] if isinstance(raw, Mapping) else [])
        entries = [e for e in (_entry(i, warning=warning) for i in items) if e is not None]
        out.append(entries)
    return out[0], out[1]


_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-correlation-id")
_WS = re.compile(r"\s+")


def load_json(content: bytes, loads: Callable[[bytes], Any] = _json.loads) -> Any:
    """``loads(content)``, with nesting too deep for the decoder raised as a ``ValueError``.

    The stdlib decoder recurses once per ``[``/``{``: 100k of them raise ``RecursionError``,
    which no caller expects from a body (orjson stops at depth 1024 with its own ValueError).
    """
    try:
        return loads(content)
    except RecursionError:
        raise ValueError("JSON nested deeper than the decoder allows") from None


def decode_body(content: bytes) -> Any:
    """The decoded body of an error answer, or None when it is empty or not JSON."""
    if not content:
        return None
    try:
        return load_json(content)
    except ValueError:
        return None


def error_from_response(
    response: httpx.Response,
    *,
    method: str | None = None,
    url: str | None = None,
) -> SlurmAPIError:
    """Map a non-2xx :class:`httpx.Response` to the right :class:`SlurmAPIError` subclass.

    Works on every slurmrestd version's error body, on plain-text bodies (401 "Authentication
    failure") and on malformed JSON (the class then comes from the status alone). The body
    must already be read. ``method``/``url`` default to the response's request.

    Example::

        >>> r = httpx.Response(500, json={"errors": [{"error_code": 2000, "error": "Invalid"}]})
        >>> type(error_from_response(r)).__name__
        'InvalidRequestError'
    """
    body = decode_body(response.content)
    errors, warnings = parse_error_entries(body)
    return _build_error(response, body, errors, warnings, method, url)


# --------------------------------------------------------------------------------------------
# Errors inside a successful (2xx) answer.
#
# slurmrestd sometimes answers HTTP 200 and reports the failure in the body: 24.11+ cancel
# another user's job ("status": [{"error": {"code": 2002}}]), 22.05 submit to a bad partition
# (errors: [{"error_code": 2000}]). The rule: a 2xx body whose ``errors`` (or, for a v0.0.42+
# job DELETE, ``status[].error``) is not empty is an error -- except for the numbers below,
# which slurmrestd reports as "errors" although the request did what was asked. Keep this the
# only list, and explain every entry.
# --------------------------------------------------------------------------------------------
INFORMATIONAL_ERRNOS: frozenset[int] = frozenset(
    {
        # SLURM_SUCCESS "No error". 24.11/26.05 answer GET node/<unknown> with HTTP 200, no
        # "nodes" and an entry numbered 0 ("Failure to query node"); the parser reports the
        # missing node as NotFoundError.
        0,
        # ESLURM_ALREADY_DONE "Job/step already completing or completed": cancelling a job
        # that has ended (v0.0.42+ DELETE job, in status[]). Cancel is idempotent by design.
        2021,
        # ESLURM_JOB_HELD "Job is in held state, pending scheduler release": 22.05 (v0.0.38)
        # answers a submission with hold=true with HTTP 200, the new job_id AND this "error".
        # The job exists; v0.0.39+ report the same as a warning. (Job submission relies on it.)
        2042,
        # ESLURM_REST_EMPTY_RESULT "Nothing found with query": 22.05's slurmdb endpoints
        # answer an empty listing (no wckeys, no jobs in the window) with HTTP 200 and this.
        9003,
    }
)


def _status_entries(status: Any) -> list[SlurmErrorEntry]:
    # v0.0.42+ DELETE job: {"status": [{"error": {"string", "code", "message"}, "step_id",
    # "job_id", ...}]} -- one item per job/step that could not be signalled.
    if not isinstance(status, list):
        return []
    out = []
    for item in status:
        err = item.get("error") if isinstance(item, Mapping) else None
        if not isinstance(err, Mapping):
            continue
        step = item.get("step_id")
        out.append(
            SlurmErrorEntry(
                error_number=_as_int(err.get("code")),
                error=_as_str(err.get("string")),
                description=_as_str(err.get("message")),
                source=f"job {step}" if step not in (None, "") else None,
            )
        )
    return out


def success_body_errors(
    body: Any,
) -> tuple[list[SlurmErrorEntry], list[SlurmErrorEntry]]:
    """``(errors, warnings)`` of a decoded 2xx body; informational error numbers left out.

    Example::

        >>> success_body_errors({"errors": [{"error_code": 2042}], "job_id": 3})[0]
        []
    """
    if not isinstance(body, Mapping):
        return [], []
    errors, warnings = parse_error_entries(body)
    errors += _status_entries(body.get("status"))
    kept = [e for e in errors if e.error_number not in INFORMATIONAL_ERRNOS]
    return kept, warnings


def error_from_success(
    response: httpx.Response, body: Any, errors: Sequence[SlurmErrorEntry]
) -> SlurmAPIError:
    """The error for a 2xx answer whose body reports ``errors`` (see
    :func:`success_body_errors`): classed by the error numbers, e.g. 2002 ->
    :class:`PermissionDeniedError`, else a plain :class:`SlurmAPIError`."""
    _, warnings = parse_error_entries(body)
    return _build_error(response, body, errors, warnings, None, None)


def _build_error(
    response: httpx.Response,
    body: Any,
    errors: Sequence[SlurmErrorEntry],
    warnings: Sequence[SlurmErrorEntry],
    method: str | None,
    url: str | None,
) -> SlurmAPIError:
    request: httpx.Request | None
    try:
        request = response.request
    except RuntimeError:
        request = None
    if method is None and request is not None:
        method = request.method
    if url is None and request is not None:
        url = redact_url(request.url)

    content = response.content
    status = response.status_code
    cls = answer_class(response, errors)

    excerpt: str | None = None
    if content:
        text = content[: _BODY_EXCERPT_CHARS * 4].decode("utf-8", "replace")
        excerpt = redact_text(text)
        if len(excerpt) > _BODY_EXCERPT_CHARS:
            excerpt = excerpt[:_BODY_EXCERPT_CHARS] + "..."

    reason = response.reason_phrase or ""
    where = f" for {method} {url}" if method and url else ""
    detail = "; ".join(str(e) for e in errors if str(e))
    if not detail and excerpt and body is None:
        detail = _WS.sub(" ", excerpt).strip()[:200]
    message = f"HTTP {status} {reason}{where}".rstrip()
    if detail:
        message = f"{message}: {redact_text(detail)}"
    if cls is AuthenticationError and is_ambiguous(status, errors):
        message += (
            " (how this slurmrestd answers a rejected token: this token has expired or was"
            " never accepted by the server)"
        )

    request_id = None
    for name in _REQUEST_ID_HEADERS:
        request_id = response.headers.get(name)
        if request_id:
            break

    kwargs: dict[str, Any] = {
        "status_code": status,
        "errors": errors,
        "warnings": warnings,
        "method": method,
        "url": url,
        "request_id": request_id,
        "body": excerpt,
        "response": response,
    }
    if cls is RateLimitError:
        return RateLimitError(
            message, retry_after=parse_retry_after(response.headers.get("retry-after")), **kwargs
        )
    return cls(message, **kwargs)


DEADLINE = "slurm_deadline"
"""Request extension: the ``time.monotonic()`` by which the attempt must be over (set by
the engine, honoured by the transports; absent means no deadline)."""


class DeadlineExceeded(httpx.TimeoutException):
    """A transport's signal that the attempt's deadline passed (mapped to phase "deadline")."""


_TIMEOUT_PHASE: dict[type[httpx.TimeoutException], str] = {
    DeadlineExceeded: "deadline",
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


def error_from_exception(exc: httpx.HTTPError, request: httpx.Request) -> SlurmError:
    """The error for a request that got no answer: a timeout (naming its phase), a TLS
    failure (with what to check), an undecodable body, or an unreachable server."""
    method, url = request.method, redact_url(request.url)
    detail = redact_text(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        phase = _TIMEOUT_PHASE.get(type(exc), "unknown")
        return SlurmTimeoutError(
            f"{phase} timeout for {method} {url}: {detail}", method=method, url=url, phase=phase
        )
    tls = tls_failure(exc)
    if tls is not None:
        reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or tls
        return SlurmConnectionError(
            f"TLS handshake with {url} failed: {reason} (check verify=/ca_bundle and cert=)",
            method=method,
            url=url,
        )
    if isinstance(exc, httpx.DecodingError):
        return ResponseValidationError(f"undecodable response body for {method} {url}: {detail}")
    return SlurmConnectionError(
        f"cannot reach slurmrestd for {method} {url}: {type(exc).__name__}: {detail}",
        method=method,
        url=url,
    )
