"""The base adapter: one slurmrestd API version's paths, request bodies and parsing.

An adapter never does I/O. Request methods return a :class:`Request` (method, path,
params, body, idempotency); ``parse_*`` methods turn a 2xx :class:`httpx.Response` into
public models (:mod:`._responses`). Versions differ only in the class attributes of the
small subclasses in :mod:`.adapters` (and in :meth:`~._responses.ResponseParser.partition_item`
for v0.0.38).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from .._exceptions import UnsupportedOperationError
from ..models import INFINITE
from ._request import Request
from ._responses import ResponseParser
from ._submit import DEFAULT_PATH, place_body, submit_format
from ._validate import (
    JobId,
    as_epoch,
    as_minutes,
    as_name_list,
    validate_job_id,
    validate_name,
)

__all__ = [
    "Adapter",
    "JobId",
    "Request",
    "UnsupportedOperationError",
    "validate_job_id",
    "validate_name",
]


_REGISTERED: dict[str, type[Adapter]] = {}
"""Every concrete adapter class by its version, in definition order (oldest first)."""


class Adapter(ResponseParser):
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
    has_node_update: ClassVar[bool] = True
    """``POST /slurm/<v>/node/{name}`` exists from v0.0.39."""
    has_requeue: ClassVar[bool] = False
    """``GET /slurm/<v>/job/{id}/requeue`` exists from v0.0.45."""
    accounting_users_param: ClassVar[bool] = True
    """``GET /slurmdb/<v>/jobs?users=`` exists from v0.0.39; v0.0.38 filters client side."""
    users_with_assocs: ClassVar[bool] = True
    """v0.0.40+ fill a user's default account only with ``?with_assocs`` (seen on 24.11 and
    26.05); v0.0.38/v0.0.39 have no such parameter (22.05 always sends it)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A registry rather than importing the subclasses back: adapters.py builds on this
        # module, so this module must not import it.
        super().__init_subclass__(**kwargs)
        if "version" in cls.__dict__:
            _REGISTERED[cls.version] = cls

    def __init__(self, server_versions: Sequence[str] = ()) -> None:
        self.server_versions = tuple(server_versions)
        self.slurm = f"/slurm/{self.version}"
        self.slurmdb = f"/slurmdb/{self.version}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.version}>"

    # -- helpers -----------------------------------------------------------------------
    def other_versions(self) -> list[str]:
        """The other REST API versions this client speaks, oldest first."""
        return [v for v in _REGISTERED if v != self.version]

    def _unsupported(self, operation: str, attribute: str) -> UnsupportedOperationError:
        have = [v for v, cls in _REGISTERED.items() if getattr(cls, attribute)]
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
        """The body of ``POST /slurm/<v>/job/{id}`` for wire-named ``fields``.

        Flat in every version: v0.0.39 too parses the whole body as one ``job_desc_msg``
        (its OpenAPI ``requestBody`` and ``_job_post_update`` in Slurm 23.02), unlike
        submission, which wraps the job in ``{"job": ...}``.
        """
        return dict(fields)

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
            out["time_limit"] = self.number(as_minutes(time_limit))
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
        # "hold: false" releases in every version; on 22.05 (v0.0.38) too: checked live,
        # slurmctld recomputes the priority and clears JobHeldUser.
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
        """The body of ``POST /slurm/<v>/job/submit`` for a wire-form job description.

        ``job`` holds job-description fields named as in v0.0.40+ (``name``,
        ``current_working_directory``...), already in wire form (a plain ``time_limit`` in
        minutes is converted); the script and the environment (default: only ``PATH``) are
        placed the way the version expects. To translate a typed
        :class:`~slurm_core.jobs.JobSpec`, see :func:`._submit.submit_body`.
        """
        desc = dict(job)
        if "time_limit" in desc and type(desc["time_limit"]) is not dict:
            desc["time_limit"] = self.number(as_minutes(desc["time_limit"]))
        env = environment or {"PATH": DEFAULT_PATH}
        return place_body(submit_format(self), [desc], script, [env])

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
            params["start_time"] = as_epoch(start, "start")
        if end is not None:
            params["end_time"] = as_epoch(end, "end")
        user_list = as_name_list(users, "users")
        if user_list and self.accounting_users_param:
            params["users"] = user_list
        account_list = as_name_list(accounts, "accounts")
        if account_list:
            params["account"] = account_list
        return Request("GET", f"{self.slurmdb}/jobs", params=params or None)

    def accounting_job(self, job_id: JobId) -> Request:
        return Request("GET", f"{self.slurmdb}/job/{validate_job_id(job_id)}")

    def accounts(self) -> Request:
        return Request("GET", f"{self.slurmdb}/accounts")

    def users(self) -> Request:
        params = {"with_assocs": "true"} if self.users_with_assocs else None
        return Request("GET", f"{self.slurmdb}/users", params=params)

    def associations(self) -> Request:
        return Request("GET", f"{self.slurmdb}/associations")

    def qos(self) -> Request:
        return Request("GET", f"{self.slurmdb}/qos")

    def tres(self) -> Request:
        return Request("GET", f"{self.slurmdb}/tres")
