"""What a route handler gets (:class:`Call`) and the shape of a handler (:data:`Handler`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["Call", "Handler"]


@dataclasses.dataclass
class Call:
    """What a handler gets: the route's groups, the query, the parsed body, the user."""

    groups: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    user: str
    token_ok: bool


Handler = Callable[[Call], tuple[int, dict[str, Any]]]
"""A route handler: a :class:`Call` in, ``(status, JSON body)`` out."""
