"""One poll loop per process for all the clients of one cluster: the registry of brains.

Airflow's triggers, Prefect's tasks and Dagster's steps each make their own client; their
watches of one cluster share one :class:`~._core.WatchCore` (one ``jobs/state`` per
interval for all of them) when the clients have the same base URL (and socket), the same
pinned API version and the same user. The brain holds no credentials: each poll is sent
by the waiting client that leads it, with that client's own transport and auth. Brains
are held weakly: when the last client's watcher goes, so does its loop.

A client with the ``watch_fleet`` setting (a Redis URL, e.g. from
:meth:`~slurm_core.SlurmClient.from_settings`) makes its loop share its polls with other
processes through the process's one :class:`~._fleet.RedisFleet` for that Redis, cluster
and user.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Hashable

from .._engine import ClientCore
from .._http import AsyncHTTP, SyncHTTP
from ._core import WatchCore
from ._fleet import RedisFleet

__all__ = ["loop_key", "shared_brain"]

logger = logging.getLogger("slurm_core.watch")
_brains: weakref.WeakValueDictionary[Hashable, WatchCore] = weakref.WeakValueDictionary()
_lock = threading.Lock()
_fleets: dict[tuple[str, str, str], RedisFleet] = {}
"""One fleet (one Redis thread) per Redis URL, cluster and user in the process."""


def _user(http: SyncHTTP | AsyncHTTP) -> str | None:
    user = getattr(http.options.auth, "header_user_name", None)
    return user if isinstance(user, str) and user else None


def loop_key(core: ClientCore, http: SyncHTTP | AsyncHTTP) -> Hashable:
    """Which clients may share a loop: same server, pinned version and user.

    The user is the auth's ``X-SLURM-USER-NAME`` (configured, or the token's own claim once
    a token was read); without one, only clients sharing the same auth object share (the
    jobs another user may see are not ours to poll).
    """
    user = _user(http)
    who = ("user", user) if user else ("auth", id(http.options.auth))
    return (core.key, core.pinned, who)


def shared_brain(core: ClientCore, http: SyncHTTP | AsyncHTTP) -> WatchCore:
    """The process's loop for ``core``'s cluster and ``http``'s user (made on first use).

    Example::

        assert shared_brain(a._core, a._http) is shared_brain(b._core, b._http)
    """
    key = loop_key(core, http)
    with _lock:
        brain = _brains.get(key)
        if brain is None:
            brain = _brains[key] = WatchCore(core)
    _share_configured_fleet(brain, core, http)
    return brain


def _share_configured_fleet(brain: WatchCore, core: ClientCore, http: SyncHTTP | AsyncHTTP) -> None:
    """Share ``brain``'s polls through the client's ``watch_fleet`` setting, if it has one:
    the process's one :class:`RedisFleet` for that Redis, cluster and user (made here).

    Without a user name the fleet's keys cannot be namespaced: a warning, no sharing.
    """
    url = http.options.watch_fleet
    if not url or brain.fleet is not None:
        return
    user = _user(http)
    if user is None:
        logger.warning(
            "watch_fleet is set but the client has no user name (set user_name): "
            "its watches poll on their own"
        )
        return
    host, uds = core.key
    cluster = host if uds is None else f"{host}#unix:{uds}"
    key = (url, cluster, user)
    with _lock:
        fleet = _fleets.get(key)
        if fleet is None or fleet.closed:
            fleet = _fleets[key] = RedisFleet(url, cluster_url=cluster, user=user)
    brain.fleet = fleet
