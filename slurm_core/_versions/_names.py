"""The REST API versions this client speaks, oldest first: one adapter class each.

A leaf, so that checking a pinned version or negotiating needs none of the adapters (they
import the models); a unit test keeps it equal to the adapters' own list.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLIENT_VERSIONS"]

CLIENT_VERSIONS: Final[tuple[str, ...]] = (
    "v0.0.38",
    "v0.0.39",
    "v0.0.40",
    "v0.0.41",
    "v0.0.42",
    "v0.0.43",
    "v0.0.44",
    "v0.0.45",
)
