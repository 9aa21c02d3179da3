"""Response parsing shared by every adapter: 2xx ``httpx.Response`` -> public models.

Decoding pauses the cyclic GC and picks the JSON decoder by body size (see
``_LARGE_BODY``); every shape problem becomes a :class:`ResponseValidationError` whose
``path`` names the field (``jobs[3].time_limit``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from .._body import check_success_body, gc_paused, parse_json
from .._errmap import parse_error_entries
from .._exceptions import NotFoundError, ResponseValidationError
from .._redact import redact_url
from ..models import (
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
from ._validate import JobId

__all__ = ["ResponseParser", "gc_paused"]

T = TypeVar("T")


class ResponseParser:
    """The ``parse_*`` half of an adapter (mixed into :class:`~.base.Adapter`)."""

    def _body(self, response: httpx.Response, what: str) -> dict[str, Any]:
        data = _load_json(response, what)
        if not isinstance(data, dict):
            raise ResponseValidationError(
                f"expected a JSON object for {what}, got {type(data).__name__}",
                path="<root>",
                response=response,
            )
        if data.get("errors") or data.get("warnings"):
            # A 2xx body may still report a failure (or warn): raise it / log them.
            check_success_body(response, data)
        return data

    def _items(
        self,
        response: httpx.Response,
        keys: tuple[str, ...],
        parse: Callable[[dict[str, Any]], T],
        what: str,
        *,
        missing_ok: bool = False,
    ) -> list[T]:
        with gc_paused():
            data = self._body(response, what)
            key = next((k for k in keys if k in data), None)
            if key is None:
                if missing_ok:
                    return []
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
            except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
                # A shape no decoder anticipated: still a typed error naming the object.
                path = f"{key}[{i}]"
                raise ResponseValidationError(
                    f"invalid response for {what}: {path}: {type(exc).__name__}: {exc}",
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
        # An unknown node: 24.11/26.05 answer HTTP 200 without "nodes" (and an error entry
        # numbered 0, "Failure to query node"); 22.05 answers 500 with 2018.
        nodes = self._items(response, ("nodes",), _parse.node, "nodes", missing_ok=True)
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
        # An unknown partition: 26.05 answers HTTP 200 without "partitions" (and a warning).
        parts = self._items(
            response, ("partitions",), self.partition_item, "partitions", missing_ok=True
        )
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
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ResponseValidationError(
                f"invalid response for diag: statistics: {type(exc).__name__}: {exc}",
                path="statistics",
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
    if len(response.content) < _LARGE_BODY:
        return parse_json(response, what=what)  # orjson when installed
    return parse_json(response, what=what, loads=json.loads)


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
