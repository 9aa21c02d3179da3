"""Private: one adapter per slurmrestd REST API version, and version negotiation.

Public models are in :mod:`slurm_core.models`; nothing here is public API. Names resolve
on first use: the adapters import every model, and a client negotiates (or parses) only
when it first sends, so ``from slurm_core import SlurmClient`` does not pay for them.
Checking a pinned version and negotiating need only :mod:`._names` and :mod:`.negotiate`.
"""

import importlib as _importlib
import typing as _typing

_EXPORTS: dict[str, str] = {
    "ADAPTERS": ".adapters",
    "CLIENT_VERSIONS": "._names",
    "Adapter": ".base",
    "JobId": "._validate",
    "Request": "._request",
    "UnsupportedOperationError": ".base",
    "get_adapter": ".adapters",
    "validate_job_id": "._validate",
    "validate_name": "._validate",
}

__all__ = [
    "ADAPTERS",
    "CLIENT_VERSIONS",
    "Adapter",
    "JobId",
    "Request",
    "UnsupportedOperationError",
    "get_adapter",
    "validate_job_id",
    "validate_name",
]

if _typing.TYPE_CHECKING:
    from ._names import CLIENT_VERSIONS
    from ._request import Request
    from ._validate import JobId, validate_job_id, validate_name
    from .adapters import ADAPTERS, get_adapter
    from .base import Adapter, UnsupportedOperationError


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value  # resolved once
    return value
