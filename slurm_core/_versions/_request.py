"""One HTTP request an operation needs, as plain data: no version knowledge, no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["Request"]


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request an operation needs; sent by ``SyncHTTP`` or ``AsyncHTTP``."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    idempotent: bool | None = None
