"""Methods that work in sync and async code, the way Prefect's own blocks do.

``@sync_or_async(aimpl)`` puts Prefect's ``async_dispatch`` on a blocking method: called
from async code it returns ``aimpl``'s coroutine instead. It is typed as the blocking
method (``async_dispatch`` is typed as returning either); async code that wants precise
types calls the ``a``-prefixed twin (``await job.atrigger()``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from prefect._internal.compatibility.async_dispatch import async_dispatch

__all__ = ["sync_or_async"]

P = ParamSpec("P")
R = TypeVar("R")


def sync_or_async(
    async_impl: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Dispatch to ``async_impl`` in async contexts (``prefect._internal``'s decorator)."""
    return cast(Callable[[Callable[P, R]], Callable[P, R]], async_dispatch(async_impl))
