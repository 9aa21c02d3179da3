"""The base adapter: one slurmrestd API version's paths, request bodies and parsing.

An adapter never does I/O. Request methods return a :class:`Request` (method, path,
params, body, idempotency); ``parse_*`` methods turn a 2xx :class:`httpx.Response` into
public models. Versions differ only in the class attributes of the small subclasses in
:mod:`.adapters` (and in :meth:`Adapter.parse_partition` for v0.0.38).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

import httpx

from .._exceptions import (
    NotFoundError,
    ResponseValidationError,
    SlurmError,
    UnsupportedAPIVersionError,
    parse_error_entries,
)
from .._http import parse_json
from .._redact import redact_url
from ..models import (
    INFINITE,
    QOS,
    TRES,
    Account,
    AccountingJob,
    Association,
    Diag,
    Job,
    License,
    Node,
    Partition,
    Ping,
    Reservation,
    User,
)
from . import _parse
from ._decode import WireError, count, tres_list

__all__ = [
    "Adapter",
    "JobId",
    "Request",
    "UnsupportedOperationError",
    "gc_paused",
    "validate_job_id",
    "validate_name",
]

T = TypeVar("T")
JobId = int | str

UTC = timezone.utc


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request an operation needs; sent by ``SyncHTTP`` or ``AsyncHTTP``."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    idempotent: bool | None = None


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


_JOB_ID = re.compile(r"^[1-9][0-9]*(?:_[0-9]+)?$")
_BAD_NAME = re.compile(r"[/?#%\s\x00-\x1f\x7f]")


def validate_job_id(job_id: object, param: str = "job_id") -> str:
    """Return ``job_id`` as a path segment: a positive int or ``"123"``/``"123_4"``."""
    if isinstance(job_id, bool) or not isinstance(job_id, (int, str)):
        raise TypeError(
            f"{param} must be an int or a str like '123_4', got {type(job_id).__name__}"
        )
    if isinstance(job_id, int):
        if job_id <= 0:
            raise ValueError(f"{param} must be a positive integer, got {job_id}")
        return str(job_id)
    if not _JOB_ID.match(job_id):
        raise ValueError(
            f"{param} must be a positive job id like '123' or an array task like '123_4', "
            f"got {job_id!r}"
        )
    return job_id


def validate_name(name: object, param: str) -> str:
    """Return ``name`` if it is usable as one path segment (non-empty, no ``/``)."""
    if not isinstance(name, str):
        raise TypeError(f"{param} must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError(f"{param} must be a non-empty string")
    if _BAD_NAME.search(name):
        raise ValueError(
            f"{param} must not contain '/', '?', '#', '%', whitespace or control characters, "
            f"got {name!r}"
        )
    return name


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


def _epoch(value: datetime | int | float, param: str) -> str:
    if isinstance(value, bool):
        raise TypeError(f"{param} must be a datetime or a UNIX timestamp")
    if isinstance(value, (int, float)):
        return str(int(value))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(int(value.timestamp()))
    raise TypeError(f"{param} must be a datetime or a UNIX timestamp, got {type(value).__name__}")


def _names(value: str | Sequence[str] | None, param: str) -> str | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item or "," in item:
            raise ValueError(f"{param} must be names without commas, got {item!r}")
    return ",".join(items) if items else None


class Adapter:
    """Translation for one slurmrestd REST API version. Subclasses set the class attributes.

    Example::

        >>> a = get_adapter("v0.0.42")
        >>> a.job_get(42)
        Request(method='GET', path='/slurm/v0.0.42/job/42', params=None, json=None, idempotent=None)
    """

    version: ClassVar[str] = ""
    number_wrappers: ClassVar[bool] = True
    """v0.0.39+ encode numbers in requests as ``{"set": true, "infinite": false, "number": n}``."""
    environment_as_object: ClassVar[bool] = False
    """v0.0.38 wants ``environment`` as ``{"KEY": "value"}``, later ones ``["KEY=value"]``."""
    script_in_job: ClassVar[bool] = True
    """v0.0.40+ put the batch script inside ``job``; earlier versions beside it."""
    job_update_wrapped: ClassVar[bool] = False
    """v0.0.39 (openapi/v0.0.39) expects job updates as ``{"job": {...}}``; others flat."""
    has_node_update: ClassVar[bool] = True
    """``POST /slurm/<v>/node/{name}`` exists from v0.0.39."""
    has_release: ClassVar[bool] = True
    """Release needs the ``hold: false`` update field (v0.0.39+); v0.0.38 can only hold."""
    has_requeue: ClassVar[bool] = False
    """``GET /slurm/<v>/job/{id}/requeue`` exists from v0.0.45."""
    accounting_users_param: ClassVar[bool] = True
    """``GET /slurmdb/<v>/jobs?users=`` exists from v0.0.39; v0.0.38 filters client side."""

    def __init__(self, server_versions: Sequence[str] = ()) -> None:
        self.server_versions = tuple(server_versions)
        self.slurm = f"/slurm/{self.version}"
        self.slurmdb = f"/slurmdb/{self.version}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.version}>"

    # -- helpers -----------------------------------------------------------------------
    def _unsupported(self, operation: str, attribute: str) -> UnsupportedOperationError:
        from .adapters import ADAPTERS

        have = [v for v, cls in ADAPTERS.items() if getattr(cls, attribute)]
        return UnsupportedOperationError(operation, self.version, have, self.server_versions)

    def number(self, value: int | float | object | None) -> Any:
        """A number for a request body in this version's encoding (``INFINITE`` allowed)."""
        if not self.number_wrappers:
            if value is INFINITE:
                return "UNLIMITED"
            return value
        if value is None:
            return {"set": False, "infinite": False, "number": 0}
        if value is INFINITE:
            return {"set": False, "infinite": True, "number": 0}
        return {"set": True, "infinite": False, "number": value}

    # -- requests: cluster -------------------------------------------------------------
    def ping(self) -> Request:
        return Request("GET", f"{self.slurm}/ping")

    def diag(self) -> Request:
        return Request("GET", f"{self.slurm}/diag")

    def nodes_list(self) -> Request:
        return Request("GET", f"{self.slurm}/nodes")

    def node_get(self, name: str) -> Request:
        return Request("GET", f"{self.slurm}/node/{validate_name(name, 'name')}")

    def node_update(self, name: str, fields: Mapping[str, Any]) -> Request:
        """``fields`` in versionless form: ``state`` (list of str), ``reason``, ``comment``..."""
        name = validate_name(name, "name")
        if not self.has_node_update:
            raise self._unsupported("nodes.update", "has_node_update")
        return Request("POST", f"{self.slurm}/node/{name}", json=dict(fields), idempotent=True)

    def partitions_list(self) -> Request:
        return Request("GET", f"{self.slurm}/partitions")

    def partition_get(self, name: str) -> Request:
        return Request("GET", f"{self.slurm}/partition/{validate_name(name, 'name')}")

    def reservations_list(self) -> Request:
        return Request("GET", f"{self.slurm}/reservations")

    def licenses_list(self) -> Request:
        return Request("GET", f"{self.slurm}/licenses")

    # -- requests: jobs ----------------------------------------------------------------
    def jobs_list(self) -> Request:
        return Request("GET", f"{self.slurm}/jobs")

    def job_get(self, job_id: JobId) -> Request:
        return Request("GET", f"{self.slurm}/job/{validate_job_id(job_id)}")

    def job_cancel(self, job_id: JobId, signal: int | str | None = None) -> Request:
        params: dict[str, Any] | None = None
        if signal is not None:
            if isinstance(signal, bool) or not isinstance(signal, (int, str)) or signal == "":
                raise ValueError(
                    f"signal must be a number or a name like 'SIGTERM', got {signal!r}"
                )
            if isinstance(signal, int) and not 0 < signal < 64:
                raise ValueError(f"signal must be between 1 and 63, got {signal}")
            params = {"signal": str(signal)}
        # Cancelling twice is harmless (slurmrestd reports an already-done job as success).
        return Request(
            "DELETE", f"{self.slurm}/job/{validate_job_id(job_id)}", params=params, idempotent=True
        )

    def job_update_body(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The body of ``POST /slurm/<v>/job/{id}`` for wire-named ``fields``."""
        body = dict(fields)
        return {"job": body} if self.job_update_wrapped else body

    def job_update(self, job_id: JobId, fields: Mapping[str, Any]) -> Request:
        # Setting fields to given values is idempotent: safe to retry.
        return Request(
            "POST",
            f"{self.slurm}/job/{validate_job_id(job_id)}",
            json=self.job_update_body(fields),
            idempotent=True,
        )

    def job_update_fields(
        self,
        *,
        time_limit: timedelta | int | object | None = None,
        name: str | None = None,
        partition: str | None = None,
        comment: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        nice: int | None = None,
        priority: int | None = None,
    ) -> dict[str, Any]:
        """Versionless keyword arguments of ``jobs.update`` -> this version's wire fields."""
        out: dict[str, Any] = {}
        if time_limit is not None:
            out["time_limit"] = self.number(_minutes(time_limit))
        for key, value in (
            ("name", name),
            ("partition", partition),
            ("comment", comment),
            ("account", account),
            ("qos", qos),
        ):
            if value is not None:
                if not isinstance(value, str):
                    raise TypeError(f"{key} must be a str, got {type(value).__name__}")
                out[key] = value
        if nice is not None:
            if isinstance(nice, bool) or not isinstance(nice, int):
                raise TypeError(f"nice must be an int, got {type(nice).__name__}")
            out["nice"] = nice
        if priority is not None:
            if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
                raise ValueError(f"priority must be a non-negative int, got {priority!r}")
            out["priority"] = self.number(priority)
        if not out:
            raise ValueError("jobs.update needs at least one field to change")
        return out

    def job_hold(self, job_id: JobId) -> Request:
        # v0.0.38: sbatch's --hold (priority 0); v0.0.39+: "hold: true" (same effect).
        return self.job_update(job_id, {"hold": True})

    def job_release(self, job_id: JobId) -> Request:
        validate_job_id(job_id)
        if not self.has_release:
            raise self._unsupported("jobs.release", "has_release")
        return self.job_update(job_id, {"hold": False})

    def job_requeue(self, job_id: JobId) -> Request:
        validate_job_id(job_id)
        if not self.has_requeue:
            raise self._unsupported("jobs.requeue", "has_requeue")
        return Request(
            "GET", f"{self.slurm}/job/{validate_job_id(job_id)}/requeue", idempotent=False
        )

    def job_submit_body(
        self,
        job: Mapping[str, Any],
        *,
        script: str,
        environment: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The body of ``POST /slurm/<v>/job/submit``.

        The seam for job submission: ``job`` holds job-description fields named as in
        v0.0.40+ (``name``, ``partition``, ``current_working_directory``, ...), already in
        wire form; this method places the script and the environment the way the version
        expects. (Translating a typed job specification into ``job`` comes later.)
        """
        if not isinstance(script, str) or not script.startswith("#!"):
            raise ValueError("script must be a string starting with '#!' (a batch script)")
        env = dict(environment) if environment else {"PATH": "/bin:/usr/bin"}
        desc = dict(job)
        if "time_limit" in desc and type(desc["time_limit"]) is not dict:
            desc["time_limit"] = self.number(_minutes(desc["time_limit"]))
        if self.environment_as_object:
            desc["environment"] = env
        else:
            desc["environment"] = [f"{k}={v}" for k, v in env.items()]
        if self.script_in_job:
            desc["script"] = script
            return {"job": desc}
        return {"script": script, "job": desc}

    def job_submit(self, body: Mapping[str, Any]) -> Request:
        # Never retried once it may have left: a retry could submit the job twice.
        return Request("POST", f"{self.slurm}/job/submit", json=dict(body), idempotent=False)

    # -- requests: accounting ----------------------------------------------------------
    def accounting_jobs(
        self,
        *,
        start: datetime | int | float | None = None,
        end: datetime | int | float | None = None,
        users: str | Sequence[str] | None = None,
        accounts: str | Sequence[str] | None = None,
    ) -> Request:
        params: dict[str, Any] = {}
        if start is not None:
            params["start_time"] = _epoch(start, "start")
        if end is not None:
            params["end_time"] = _epoch(end, "end")
        user_list = _names(users, "users")
        if user_list and self.accounting_users_param:
            params["users"] = user_list
        account_list = _names(accounts, "accounts")
        if account_list:
            params["account"] = account_list
        return Request("GET", f"{self.slurmdb}/jobs", params=params or None)

    def accounting_job(self, job_id: JobId) -> Request:
        return Request("GET", f"{self.slurmdb}/job/{validate_job_id(job_id)}")

    def accounts(self) -> Request:
        return Request("GET", f"{self.slurmdb}/accounts")

    def users(self) -> Request:
        return Request("GET", f"{self.slurmdb}/users")

    def associations(self) -> Request:
        return Request("GET", f"{self.slurmdb}/associations")

    def qos(self) -> Request:
        return Request("GET", f"{self.slurmdb}/qos")

    def tres(self) -> Request:
        return Request("GET", f"{self.slurmdb}/tres")

    # -- parsing -----------------------------------------------------------------------
    def _body(self, response: httpx.Response, what: str) -> dict[str, Any]:
        data = _load_json(response, what)
        if not isinstance(data, dict):
            raise ResponseValidationError(
                f"expected a JSON object for {what}, got {type(data).__name__}",
                path="<root>",
                response=response,
            )
        return data

    def _items(
        self,
        response: httpx.Response,
        keys: tuple[str, ...],
        parse: Callable[[dict[str, Any]], T],
        what: str,
    ) -> list[T]:
        with gc_paused():
            data = self._body(response, what)
            key = next((k for k in keys if k in data), None)
            if key is None:
                errors, _ = parse_error_entries(data)
                why = f" (server said: {'; '.join(map(str, errors))})" if errors else ""
                raise ResponseValidationError(
                    f"missing {keys[0]!r} in the response for {what}{why}",
                    path=keys[0],
                    response=response,
                )
            items = data[key]
            if items is None:
                return []
            if type(items) is not list:
                raise ResponseValidationError(
                    f"expected a list at {key!r} for {what}, got {type(items).__name__}",
                    path=key,
                    response=response,
                )
            out: list[T] = []
            append = out.append
            i = 0
            try:
                for i, item in enumerate(items):  # noqa: B007 - i is used in the handler
                    if type(item) is not dict:
                        raise WireError("", f"expected an object, got {type(item).__name__}")
                    append(parse(item))
            except WireError as exc:
                path = f"{key}[{i}]" + (f".{exc.path}" if exc.path else "")
                raise ResponseValidationError(
                    f"invalid response for {what}: {path}: {exc.message}",
                    path=path,
                    response=response,
                ) from exc
            return out

    def parse_jobs(self, response: httpx.Response) -> list[Job]:
        return self._items(response, ("jobs",), _parse.job, "jobs")

    def parse_job(self, response: httpx.Response, job_id: JobId) -> Job:
        """The job ``job_id`` out of ``GET job/{id}`` (which may list a whole array)."""
        jobs = self.parse_jobs(response)
        found = _pick(jobs, job_id)
        if found is None:
            raise _not_found(response, f"job {job_id} is not in the response")
        return found

    def parse_nodes(self, response: httpx.Response) -> list[Node]:
        return self._items(response, ("nodes",), _parse.node, "nodes")

    def parse_node(self, response: httpx.Response, name: str) -> Node:
        nodes = self.parse_nodes(response)
        found = next((n for n in nodes if n.name == name), nodes[0] if len(nodes) == 1 else None)
        if found is None:
            raise _not_found(response, f"node {name!r} is not in the response")
        return found

    def partition_item(self, item: dict[str, Any]) -> Partition:
        """One wire partition -> :class:`Partition` (v0.0.38 overrides: flat shape)."""
        return _parse.partition(item)

    def parse_partitions(self, response: httpx.Response) -> list[Partition]:
        return self._items(response, ("partitions",), self.partition_item, "partitions")

    def parse_partition(self, response: httpx.Response, name: str) -> Partition:
        parts = self.parse_partitions(response)
        found = next((p for p in parts if p.name == name), None)
        if found is None:
            raise _not_found(response, f"partition {name!r} is not in the response")
        return found

    def parse_reservations(self, response: httpx.Response) -> list[Reservation]:
        return self._items(response, ("reservations",), _parse.reservation, "reservations")

    def parse_licenses(self, response: httpx.Response) -> list[License]:
        return self._items(response, ("licenses",), _parse.license_, "licenses")

    def parse_pings(self, response: httpx.Response) -> list[Ping]:
        return self._items(response, ("pings",), _parse.ping, "ping")

    def parse_diag(self, response: httpx.Response) -> Diag:
        data = self._body(response, "diag")
        stats = data.get("statistics")
        if type(stats) is not dict:
            raise ResponseValidationError(
                "missing 'statistics' object in the response for diag",
                path="statistics",
                response=response,
            )
        try:
            return _parse.diag(stats)
        except WireError as exc:
            raise ResponseValidationError(
                f"invalid response for diag: statistics.{exc.path}: {exc.message}",
                path=f"statistics.{exc.path}",
                response=response,
            ) from exc

    def parse_submit(self, response: httpx.Response) -> int:
        """The new job's id from ``POST job/submit``."""
        data = self._body(response, "job submission")
        job_id = count(data.get("job_id"), "job_id")
        if job_id is None:
            result = data.get("result")
            if type(result) is dict:
                job_id = count(result.get("job_id"), "result.job_id")
        if not job_id:
            raise ResponseValidationError(
                "missing 'job_id' in the job submission response", path="job_id", response=response
            )
        return job_id

    def parse_accounting_jobs(self, response: httpx.Response) -> list[AccountingJob]:
        return self._items(response, ("jobs",), _parse.accounting_job, "accounting jobs")

    def parse_accounting_job(self, response: httpx.Response, job_id: JobId) -> AccountingJob:
        jobs = self.parse_accounting_jobs(response)
        found = _pick(jobs, job_id)
        if found is None:
            raise _not_found(response, f"job {job_id} is not in the accounting response")
        return found

    def parse_accounts(self, response: httpx.Response) -> list[Account]:
        return self._items(response, ("accounts",), _parse.account, "accounts")

    def parse_users(self, response: httpx.Response) -> list[User]:
        return self._items(response, ("users",), _parse.user, "users")

    def parse_associations(self, response: httpx.Response) -> list[Association]:
        return self._items(response, ("associations",), _parse.association, "associations")

    def parse_qos(self, response: httpx.Response) -> list[QOS]:
        # dbv0.0.38 names the list "QOS", later versions "qos".
        return self._items(response, ("qos", "QOS"), _parse.qos, "qos")

    def parse_tres(self, response: httpx.Response) -> list[TRES]:
        def one(item: dict[str, Any]) -> TRES:
            return tres_list([item], "")[0]

        return self._items(response, ("TRES", "tres"), one, "tres")


_LARGE_BODY = 8 << 20
"""Bodies from this size on are decoded with the stdlib ``json``, smaller ones with orjson.

orjson first parses into its own document and then builds the Python objects: on a
10k-job v0.0.45 listing (56 MiB) it peaked at about +330 MiB RSS for a ~180 MiB tree,
the stdlib at about +215 MiB. With the GC paused the stdlib is fast enough for such
bodies (parse + models take ~0.8x the time of a plain ``json.loads``). Below this size
orjson's speed wins and its transient memory is affordable.
"""


def _load_json(response: httpx.Response, what: str) -> Any:
    content = response.content
    if len(content) < _LARGE_BODY:
        return parse_json(response, what=what)  # orjson when installed
    try:
        return json.loads(content)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        hint = " (truncated?)" if content.rstrip()[-1:] not in (b"}", b"]") else ""
        raise ResponseValidationError(
            f"response body is not valid JSON for {what}{hint}: "
            f"{type(exc).__name__} at byte {getattr(exc, 'pos', '?')}",
            response=response,
        ) from exc


_J = TypeVar("_J", Job, AccountingJob)


def _pick(jobs: list[_J], job_id: JobId) -> _J | None:
    """The job matching ``job_id`` ("123" or array task "120_3") in a response."""
    s = str(job_id)
    if "_" in s:
        array_id, task = (int(x) for x in s.split("_", 1))
        for j in jobs:
            if j.array_job_id == array_id and j.array_task_id == task:
                return j
        return None
    n = int(s)
    for j in jobs:
        if j.job_id == n:
            return j
    return None


def _not_found(response: httpx.Response, message: str) -> NotFoundError:
    request = response.request
    errors, warnings = parse_error_entries(_safe_json(response))
    return NotFoundError(
        message,
        status_code=response.status_code,
        errors=errors,
        warnings=warnings,
        method=request.method,
        url=redact_url(request.url),
        response=response,
    )


def _safe_json(response: httpx.Response) -> Any:
    try:
        return _load_json(response, "error details")
    except ResponseValidationError:
        return None


def _minutes(value: object) -> int | object:
    """A time limit as whole minutes (rounded up), or ``INFINITE``."""
    if value is INFINITE:
        return INFINITE
    if isinstance(value, timedelta):
        secs = value.total_seconds()
        if secs < 0:
            raise ValueError(f"time_limit must not be negative, got {value}")
        return int(-(-secs // 60))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"time_limit must be a timedelta, whole minutes (int) or INFINITE, got {value!r}"
        )
    if value < 0:
        raise ValueError(f"time_limit must not be negative, got {value}")
    return value
