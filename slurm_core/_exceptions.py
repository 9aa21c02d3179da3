"""Every error slurm-client raises: the exception tree (the mapping from answers is in ``_errmap``).

Hierarchy::

    SlurmError
    ├── ConfigurationError            from_env found nothing usable (lists every place tried)
    ├── SlurmConnectionError          slurmrestd never reached, or the connection dropped
    │   └── SlurmTimeoutError
    ├── SlurmAPIError                 a non-2xx answer (status_code, errors, warnings, ...)
    │   ├── InvalidRequestError       400/422, or an error number meaning bad input
    │   ├── AuthenticationError       401, 511, or an authentication error number
    │   ├── PermissionDeniedError     403, or an access-denied error number
    │   ├── NotFoundError             404, or e.g. 2017 "Invalid job id specified"
    │   ├── RateLimitError            429 (retry_after)
    │   └── ServerError               5xx not otherwise classified
    ├── ResponseValidationError       malformed/truncated body or wrong shape (names the field)
    │   └── ResponseTooLargeError     the body outgrew max_response_size (on the wire or decoded)
    ├── UnsupportedAPIVersionError    no REST API version both sides speak
    │   └── UnsupportedOperationError the version in use has no endpoint for this operation
    ├── CircuitOpenError              the circuit breaker for a base URL is open
    ├── JobSpecError (also ValueError)
    └── JobFailedError                a waited-for job ended badly

One warning class, :class:`SlurmSecurityWarning` (a ``UserWarning``), flags a client that
would send its token unprotected (``verify=False``, or ``http://`` to a remote host).

slurmrestd does not use HTTP statuses consistently, so which class an answer gets is decided
in :mod:`slurm_core._errmap` (error numbers first, HTTP status second).

Example::

    try:
        client.jobs.get(42)
    except NotFoundError as exc:
        print(exc.status_code, exc.errors[0].error_number)   # 404 (or 500 on 22.05), 2017
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

__all__ = [
    "AuthenticationError",
    "CircuitOpenError",
    "ConfigurationError",
    "InvalidRequestError",
    "JobFailedError",
    "JobSpecError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "SlurmAPIError",
    "SlurmConnectionError",
    "SlurmError",
    "SlurmErrorEntry",
    "SlurmSecurityWarning",
    "SlurmTimeoutError",
    "UnsupportedAPIVersionError",
    "UnsupportedOperationError",
]


class SlurmError(Exception):
    """Root of every exception raised by slurm-client.

    Every subclass pickles (orchestrators ship task errors between processes); the live
    ``response`` object, if any, is dropped on the way.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        if "response" in state:
            state["response"] = None
        return (_rebuild, (type(self), self.args, state))


def _rebuild(cls: type[SlurmError], args: tuple[Any, ...], state: dict[str, Any]) -> SlurmError:
    # Keyword-only constructors cannot be re-called with args alone: restore the state.
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


class ConfigurationError(SlurmError):
    """No usable configuration was found (or it contradicts itself).

    ``tried`` lists each place looked at and what was missing there, in order; ``field``
    names the setting at fault when there is one.
    """

    def __init__(
        self, message: str, *, tried: Sequence[str] = (), field: str | None = None
    ) -> None:
        self.tried: list[str] = list(tried)
        self.field = field
        if self.tried:
            message = message + "\n" + "\n".join(f"  - {t}" for t in self.tried)
        super().__init__(message)


class SlurmConnectionError(SlurmError):
    """slurmrestd was never reached, or the connection dropped mid-request.

    ``method`` and ``url`` (query secrets redacted) name the request.
    """

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        self.method = method
        self.url = url
        super().__init__(message)


class SlurmTimeoutError(SlurmConnectionError):
    """A connect, read, write or pool timeout. ``phase`` says which (``"read"``, ...)."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        phase: str | None = None,
    ) -> None:
        self.phase = phase
        super().__init__(message, method=method, url=url)


@dataclasses.dataclass(frozen=True, slots=True)
class SlurmErrorEntry:
    """One entry of slurmrestd's ``errors`` or ``warnings`` list.

    Versions disagree on field names (``errno`` in v0.0.36/37, ``error_code`` in some 22.05
    answers, ``error_number`` later); :func:`parse_error_entries` normalises them.
    """

    error_number: int | None = None
    error: str | None = None
    description: str | None = None
    source: str | None = None

    def __str__(self) -> str:
        text = self.description or self.error or ""
        if self.error and self.description and self.error not in self.description:
            text = f"{self.error}: {self.description}"
        if self.error_number not in (None, 0):
            text = f"[{self.error_number}] {text}"
        if self.source:
            text = f"{text} (in {self.source})"
        return text


class SlurmAPIError(SlurmError):
    """slurmrestd answered, but not with success.

    Attributes: ``status_code``, ``errors`` and ``warnings`` (lists of
    :class:`SlurmErrorEntry`), ``method``, ``url`` (query secrets redacted), ``request_id``
    (if the server or a proxy sent one), ``body`` (a redacted excerpt of the body) and
    ``response`` (the :class:`httpx.Response`, its auth headers scrubbed).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        errors: Sequence[SlurmErrorEntry] = (),
        warnings: Sequence[SlurmErrorEntry] = (),
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
        body: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.status_code = status_code
        self.errors: list[SlurmErrorEntry] = list(errors)
        self.warnings: list[SlurmErrorEntry] = list(warnings)
        self.method = method
        self.url = url
        self.request_id = request_id
        self.body = body
        self.response = response
        super().__init__(message)

    @property
    def error_numbers(self) -> list[int]:
        """The Slurm error numbers in ``errors`` (zeros and missing ones left out)."""
        return [e.error_number for e in self.errors if e.error_number]


class InvalidRequestError(SlurmAPIError):
    """The request was rejected as bad input (400/422 or e.g. 2000 invalid partition)."""


class AuthenticationError(SlurmAPIError):
    """Missing, expired or invalid token (401, 511, or an authentication error number)."""


class PermissionDeniedError(SlurmAPIError):
    """Authenticated, but not allowed (403 or e.g. 2002 access denied)."""


class NotFoundError(SlurmAPIError):
    """The object does not exist (404 or e.g. 2017 invalid job id)."""


class RateLimitError(SlurmAPIError):
    """429 Too Many Requests. ``retry_after`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(SlurmAPIError):
    """A 5xx answer not explained by a known Slurm error number (e.g. slurmctld down)."""


class ResponseValidationError(SlurmError):
    """The body was malformed, truncated, or not the shape the client expected.

    ``path`` names the bad field (``"jobs[3].job_state"``), ``response`` is the response if
    there is one. The original pydantic/JSON error is chained as ``__cause__``.

    Example::

        try:
            job = JobModel.model_validate(data)
        except pydantic.ValidationError as exc:
            raise ResponseValidationError.from_pydantic(exc, response=resp) from exc
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        self.path = path
        self.response = response
        super().__init__(message)

    @classmethod
    def from_pydantic(
        cls,
        exc: Exception,
        *,
        response: httpx.Response | None = None,
        what: str | None = None,
    ) -> ResponseValidationError:
        """Build from a ``pydantic.ValidationError`` naming its first bad field.

        Only ``loc``, ``msg`` and ``type`` are used; input values (which could hold
        anything the server sent) are not copied into the message.
        """
        errors_fn = getattr(exc, "errors", None)
        details: list[Mapping[str, Any]] = []
        if callable(errors_fn):
            try:
                details = list(errors_fn(include_input=False, include_url=False))
            except TypeError:  # pragma: no cover - pydantic < 2.0 style
                details = list(errors_fn())
        if not details:
            return cls(f"invalid response{_what(what)}: {type(exc).__name__}", response=response)
        first = details[0]
        path = format_loc(first.get("loc", ()))
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        message = f"invalid response{_what(what)}: {path or '<root>'}: {first.get('msg')}{more}"
        return cls(message, path=path or None, response=response)


class ResponseTooLargeError(ResponseValidationError):
    """The answer's body exceeded ``max_response_size``: as declared (``Content-Length``),
    as read off the wire, or once decompressed (a gzip bomb). Reading stopped there.

    ``limit`` is the configured maximum in bytes; ``method`` and ``url`` (redacted) name
    the request.

    Example::

        try:
            client.jobs.list()
        except ResponseTooLargeError as exc:
            print(f"more than {exc.limit} bytes: filter the listing or raise max_response_size")
    """

    def __init__(
        self, message: str, *, limit: int, method: str | None = None, url: str | None = None
    ) -> None:
        self.limit = limit
        self.method = method
        self.url = url
        super().__init__(message)


class SlurmSecurityWarning(UserWarning):
    """A client was configured so that its token travels unprotected: TLS certificate
    verification off (``verify=False``), or plain ``http://`` to a host that is not loopback
    (and no unix socket). Issued once per client, when it is made.

    Example::

        import warnings
        warnings.filterwarnings("ignore", category=SlurmSecurityWarning)  # you know why
    """


def _what(what: str | None) -> str:
    return f" for {what}" if what else ""


def format_loc(loc: Iterable[Any]) -> str:
    """``("jobs", 3, "job_state")`` -> ``"jobs[3].job_state"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class UnsupportedAPIVersionError(SlurmError):
    """The server and this client share no REST API version (or the requested one is missing)."""

    def __init__(
        self,
        requested: str | None,
        server_versions: Sequence[str],
        client_versions: Sequence[str],
    ) -> None:
        self.requested = requested
        self.server_versions = list(server_versions)
        self.client_versions = list(client_versions)
        server = ", ".join(self.server_versions) or "none found"
        client = ", ".join(self.client_versions)
        if requested:
            head = f"REST API version {requested} is not usable"
        else:
            head = "no REST API version is supported by both server and client"
        super().__init__(f"{head}: server offers [{server}], client supports [{client}]")


class UnsupportedOperationError(UnsupportedAPIVersionError):
    """The negotiated REST API version has no endpoint for this operation.

    ``operation`` names it (``"jobs.requeue"``), ``version`` is the version in use and
    ``supported_in`` the client versions that do have it. (A subclass of
    :class:`UnsupportedAPIVersionError`, so one ``except`` catches both.)

    Example::

        try:
            client.jobs.requeue(42)
        except UnsupportedOperationError as exc:
            print(exc.version, exc.supported_in)     # v0.0.42 ['v0.0.45']
    """

    def __init__(
        self,
        operation: str,
        version: str,
        supported_in: Sequence[str],
        server_versions: Sequence[str] = (),
    ) -> None:
        self.operation = operation
        self.version = version
        self.supported_in = list(supported_in)
        self.requested = version
        self.server_versions = list(server_versions)
        self.client_versions = list(supported_in)
        needs = ", ".join(self.supported_in) or "no supported version"
        served = ", ".join(self.server_versions) or "unknown"
        SlurmError.__init__(
            self,
            f"{operation} is not available in slurmrestd REST API {version} "
            f"(available in: {needs}; server offers: {served})",
        )


class CircuitOpenError(SlurmError):
    """Requests to ``base_url`` are failing fast: too many consecutive failures.

    ``dependency`` names the daemon whose circuit is open (``"slurmctld"`` or ``"slurmdbd"``):
    with slurmdbd down, accounting calls fail fast while submissions go on.

    ``retry_at`` (aware UTC datetime) is when one probe request will be let through;
    ``retry_after`` is the same in seconds from when the error was raised.
    """

    def __init__(self, base_url: str, *, retry_after: float, dependency: str | None = None) -> None:
        self.base_url = base_url
        self.dependency = dependency
        self.retry_after = max(0.0, retry_after)
        self.retry_at = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=self.retry_after)
        behind = f" ({dependency} behind it)" if dependency else ""
        super().__init__(
            f"circuit open for {base_url}{behind}: too many consecutive failures; "
            f"next attempt allowed in {self.retry_after:.1f}s"
        )


class JobSpecError(SlurmError, ValueError):
    """A job description is invalid before it is sent. ``field`` names the offending field
    (for a batch script read like ``sbatch``, the option); ``line`` is the script's line."""

    def __init__(self, field: str, message: str, *, line: int | None = None) -> None:
        self.field = field
        self.message = message
        self.line = line
        super().__init__(f"{field}: {message}")


class JobFailedError(SlurmError):
    """A job the client waited for ended in a failed state."""

    def __init__(
        self,
        job_id: int | str,
        state: str,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.exit_code = exit_code
        self.reason = reason
        msg = f"job {job_id} ended {state}"
        if exit_code is not None:
            msg += f" with exit code {exit_code}"
        if reason and reason.lower() != "none":
            msg += f" (reason: {reason})"
        super().__init__(msg)
