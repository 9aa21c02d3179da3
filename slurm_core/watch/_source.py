"""Where the watcher learns the states of the jobs it follows: ``GET jobs/state?job_id=...``.

slurmctld answers ``jobs/state`` from a cheap RPC (``REQUEST_JOB_STATE``) with only an id
and the ``job_state`` flags of each job asked for, so a poll costs in proportion to the
jobs watched, not to the size of the queue (``GET jobs`` returns the whole table as soon
as anything changed). Checked live on 24.11 (v0.0.40-42) and 26.05 (v0.0.42-45):

- several ids are repeated ``job_id`` parameters (a comma list is refused);
- the answer is ``{"jobs": [{"job_id": "42", "state": ["PENDING"]}, ...]}``; an array
  task is named ``"40_2"``, and asking for an array's id lists all its tasks;
- one task of a pending array (``"40_2"``) names every pending task of it, again for each
  such id asked: 1,000 task ids of a held array make an answer of a million entries (it
  wedged 24.11's slurmrestd). So an array is asked for once, by its id, in a request of its
  own, and each entry of that answer is one of its tasks;
- a task that started goes by its own job id (``"2003_1"`` is task 1 of array 2002): it
  is named back after its array (``"2002_1"``) here, so callers see one name per task;
- an id slurmctld does not know is left out, not refused (a 404 "Invalid job id" for
  the whole request is read the same way).

:class:`StateSource` is the one thing the watcher needs from a state provider; a fleet
poller sharing states across processes can stand in for :class:`RestStates`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import httpx

from .._body import check_success_body, parse_json
from .._engine import ClientCore, Op
from .._exceptions import NotFoundError, ResponseValidationError
from .._versions import Request

__all__ = [
    "MAX_QUERY_BYTES",
    "Fleet",
    "RestStates",
    "StateSource",
    "parse_states",
    "states_served",
]

MAX_QUERY_BYTES = 3000
"""Longest query string of one ``jobs/state`` request (each id costs ``len(id) + 8``):
well under the 8 KiB request line that HTTP servers commonly accept."""

_ID = re.compile(r"[0-9]{1,12}(?:_[0-9]{1,12})?")
_FLAG = re.compile(r"[A-Z_]{1,40}")


class StateSource(Protocol):
    """Something that tells the states of jobs by id (an operation, like every request).

    ``states`` maps each job key it knows (``"42"``, ``"40_2"``) to slurmrestd's
    ``job_state`` flags list (``["PENDING"]``, ``["COMPLETED", "REQUEUED"]``...). An id
    absent from the mapping is unknown to slurmctld (purged): the watcher then asks
    accounting. Extra keys (an array's tasks, when its id was asked for) are allowed.

    Example::

        states = run_sync(client._http, RestStates(client._core).states(["41", "42"]))
    """

    def states(self, job_ids: Sequence[str]) -> Op[Mapping[str, Sequence[str]]]: ...


class Fleet(Protocol):
    """Something that shares this process's state polls with others (:class:`RedisFleet`):
    it wraps the process's own source and answers from the shared poll where it can."""

    def source(self, inner: StateSource) -> StateSource: ...


def states_served(version: str) -> bool:
    """True if REST API ``version`` serves ``GET jobs/state`` with ``job_id`` filters.

    Example::

        >>> states_served("v0.0.38"), states_served("v0.0.40")
        (False, True)
    """
    return tuple(int(x) for x in version.lstrip("v").split(".")) >= (0, 0, 40)


def chunks(job_ids: Sequence[str], limit: int = MAX_QUERY_BYTES) -> Iterator[list[str]]:
    """``job_ids`` in groups whose ``job_id=`` query stays within ``limit`` bytes."""
    chunk: list[str] = []
    size = 0
    for key in job_ids:
        cost = len(key) + 8  # "&job_id=" + the id
        if chunk and size + cost > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(key)
        size += cost
    if chunk:
        yield chunk


def parse_states(response: httpx.Response) -> dict[str, list[str]]:
    """``{job key: flags}`` from a ``jobs/state`` answer; a typed error for any other shape."""
    data: Any = parse_json(response, what="jobs/state")
    if not isinstance(data, dict):
        raise ResponseValidationError(
            "expected a JSON object for jobs/state", path="<root>", response=response
        )
    if data.get("errors") or data.get("warnings"):
        check_success_body(response, data)
    items = data.get("jobs")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ResponseValidationError(
            "expected a list at 'jobs' for jobs/state", path="jobs", response=response
        )
    out: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        key = item.get("job_id") if isinstance(item, dict) else None
        flags = item.get("state") if isinstance(item, dict) else None
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        if isinstance(flags, str):
            flags = [flags]
        if (
            not isinstance(key, str)
            or not _ID.fullmatch(key)
            or not isinstance(flags, list)
            or not flags
            or not all(isinstance(f, str) and _FLAG.fullmatch(f) for f in flags)
        ):
            raise ResponseValidationError(
                f"invalid response for jobs/state: jobs[{i}] is not a job id and its state",
                path=f"jobs[{i}]",
                response=response,
            )
        out[key] = flags
    return out


class RestStates:
    """:class:`StateSource` over one client's slurmrestd: ``GET jobs/state``, chunked.

    Example::

        source = RestStates(client._core)
        print(run_sync(client._http, source.states(["42"])))   # {'42': ['RUNNING']}
    """

    def __init__(self, core: ClientCore, *, limit: int = MAX_QUERY_BYTES) -> None:
        self._core = core
        self._limit = limit
        self.requests = 0

    def states(self, job_ids: Sequence[str]) -> Op[Mapping[str, Sequence[str]]]:
        """The states of ``job_ids`` (an operation: one request per chunk of plain ids,
        and one per array whose tasks are asked for)."""
        a = yield from self._core.adapter()
        keys = list(dict.fromkeys(job_ids))
        out: dict[str, Sequence[str]] = {}
        for chunk in chunks([k for k in keys if "_" not in k], self._limit):
            out.update((yield from self._ask(a.slurm, chunk)))
        for array in dict.fromkeys(k.split("_", 1)[0] for k in keys if "_" in k):
            for name, flags in (yield from self._ask(a.slurm, [array])).items():
                task = name.partition("_")[2]
                out[f"{array}_{task}" if task else name] = flags
        return out

    def _ask(self, slurm: str, ids: list[str]) -> Op[dict[str, list[str]]]:
        self.requests += 1
        try:
            response = yield Request("GET", f"{slurm}/jobs/state", params={"job_id": ids})
        except NotFoundError as exc:
            if not exc.errors:
                raise  # no Slurm answer at all: the route is gone (a withdrawn version)
            return {}  # "Invalid job id" for the lot (as job/{id} says): none is known
        return parse_states(response)
