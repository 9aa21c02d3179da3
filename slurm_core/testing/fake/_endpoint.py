"""One request through the fake: planned faults, the app of the version in its path, recorded.

:class:`FakeEndpoint` is all the transports (:mod:`._transport` in-process, :mod:`._server`
over HTTP) need; :class:`~._fake.FakeSlurmServer` owns one and hands it to them.
"""

from __future__ import annotations

import re
import threading

from ._app import FakeApp, Reply
from ._faults import Dropped, Faults, Plan, RecordedRequest, corrupted, status_body

__all__ = ["FakeEndpoint"]

_VERSION_IN_PATH = re.compile(r"^/slurm(?:db)?/(v\d+\.\d+\.\d+)/")


class FakeEndpoint:
    """Answers requests with the apps of each served version, after the injected faults.

    ``lock`` serializes answers with the server's own changes (clock, outcomes).
    """

    def __init__(self, apps: dict[str, FakeApp], default: str) -> None:
        self.apps = apps
        self.default = apps[default]
        """The app for paths that name no served version."""
        self.lock = threading.RLock()
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        """Every request received, in order (also those answered by a fault)."""

    def plan(self, method: str, path: str) -> Plan:
        """The faults due for this request (taken from the pending ones)."""
        return self.faults.plan(method, path)

    def answer(
        self,
        plan: Plan,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        """The reply to one request under ``plan``; raises :class:`Dropped` for a drop."""

        def record(status: int | None) -> None:
            self.requests.append(
                RecordedRequest(method, path, query, body, status, tuple(plan.names))
            )

        with self.lock:
            if plan.drop is not None and plan.drop.drop == "connect":
                record(None)
                raise Dropped("connect")
            if plan.status is not None:
                fault = plan.status
                reply = Reply(fault.status, status_body(fault), headers=dict(fault.headers))
            else:
                match = _VERSION_IN_PATH.match(path)
                app = self.apps.get(match.group(1), self.default) if match else self.default
                reply = app.handle(method, path, query, headers, body)
            if plan.drop is not None:
                record(None)
                raise Dropped(plan.drop.drop)
            if plan.corrupt is not None:
                reply.body = corrupted(reply.body, plan.corrupt.corrupt)
            record(reply.status)
            return reply
