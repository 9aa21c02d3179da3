"""One poll loop per process for all the clients of one cluster: the registry of brains.

Airflow's triggers, Prefect's tasks and Dagster's steps each make their own client; their
watches of one cluster share one :class:`~._core.WatchCore` (one ``jobs/state`` per
interval for all of them) when the clients have the same base URL (and socket), the same
pinned API version and the same user. The brain holds no credentials: each poll is sent
by the waiting client that leads it, with that client's own transport and auth. Brains
are held weakly: when the last client's watcher goes, so does its loop.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable

from .._engine import ClientCore
from .._http import AsyncHTTP, SyncHTTP
from ._core import WatchCore

__all__ = ["loop_key", "shared_brain"]

_brains: weakref.WeakValueDictionary[Hashable, WatchCore] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def loop_key(core: ClientCore, http: SyncHTTP | AsyncHTTP) -> Hashable:
    """Which clients may share a loop: same server, pinned version and user.

    The user is the auth's ``X-SLURM-USER-NAME`` (configured, or the token's own claim once
    a token was read); without one, only clients sharing the same auth object share (the
    jobs another user may see are not ours to poll).
    """
    auth = http.options.auth
    user = getattr(auth, "header_user_name", None)
    who = ("user", user) if isinstance(user, str) and user else ("auth", id(auth))
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
        return brain
