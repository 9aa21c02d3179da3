"""Private: one adapter per slurmrestd REST API version, and version negotiation.

Public models are in :mod:`slurm_core.models`; nothing here is public API.
"""

from __future__ import annotations

from collections.abc import Sequence

from .adapters import ADAPTERS, CLIENT_VERSIONS
from .base import Adapter, Request, UnsupportedOperationError, validate_job_id, validate_name

__all__ = [
    "ADAPTERS",
    "CLIENT_VERSIONS",
    "Adapter",
    "Request",
    "UnsupportedOperationError",
    "get_adapter",
    "validate_job_id",
    "validate_name",
]


def get_adapter(version: str, server_versions: Sequence[str] = ()) -> Adapter:
    """The adapter for ``version`` (e.g. ``"v0.0.42"``); KeyError if unsupported."""
    return ADAPTERS[version](server_versions)
