"""Shared pieces of the public models: the base class and the ``INFINITE`` marker.

Conventions used by every model in :mod:`slurm_core.models`:

* times are timezone-aware UTC :class:`~datetime.datetime` objects;
* durations and time limits are :class:`~datetime.timedelta` objects;
* memory sizes are integers in MiB;
* a value slurmrestd reports as *unset* (``{"set": false}``, ``null``, or a ``0`` that
  means "not set", such as a start time of a pending job) is ``None``;
* a value slurmrestd reports as *infinite/unlimited* is :data:`INFINITE`;
* ``raw`` holds the wire object exactly as slurmrestd sent it (the already-parsed dict,
  not a copy), for anything the model does not expose.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["INFINITE", "Infinite", "InfiniteType", "SlurmModel", "SlurmObject"]


class Infinite(enum.Enum):
    """Type of the :data:`INFINITE` marker (a one-member enum, so it is typed and picklable)."""

    INFINITE = "INFINITE"

    def __repr__(self) -> str:
        return "INFINITE"

    def __str__(self) -> str:
        return "INFINITE"


INFINITE: Final = Infinite.INFINITE
"""Marker for limits Slurm reports as infinite/unlimited (``{"infinite": true}``, ``UNLIMITED``).

Example::

    >>> from slurm_core.models import INFINITE
    >>> job.time_limit is INFINITE          # no time limit
    False
"""

InfiniteType = Literal[Infinite.INFINITE]
"""Annotation for a field that may hold :data:`INFINITE`: ``timedelta | InfiniteType | None``."""

_M = TypeVar("_M", bound="SlurmModel")


class SlurmModel(BaseModel):
    """Base of all public models: frozen and strict about field names.

    Adapters build instances with :meth:`_build`, which skips validation (the adapter has
    already normalized every value); ``Model.model_validate(...)`` still works for users
    who build models by hand, e.g. in tests.
    """

    # defer_build: pydantic builds a model's validator and serializer when it is first
    # used, not when its class is defined. Building all of them cost ~20 ms of every
    # `from slurm_core import SlurmClient` (~100 ms where no bytecode is cached), while
    # parsing responses goes through `_build`, which needs neither.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    _fields_set_cache: ClassVar[set[str] | None] = None

    @classmethod
    def _build(cls: type[_M], values: dict[str, Any]) -> _M:
        """Create an instance from already-normalized values without validation.

        This is the fast path used when parsing large listings (10k jobs): it is what
        ``model_construct`` does, minus the per-field default handling, so ``values``
        must contain every field. Tests check each model against ``model_validate``.
        """
        fields_set = cls.__dict__.get("_fields_set_cache")
        if fields_set is None:
            fields_set = set(cls.model_fields)
            cls._fields_set_cache = fields_set
        obj = cls.__new__(cls)
        _setattr(obj, "__dict__", values)
        _setattr(obj, "__pydantic_fields_set__", fields_set)
        _setattr(obj, "__pydantic_extra__", None)
        _setattr(obj, "__pydantic_private__", None)
        return obj


class SlurmObject(SlurmModel):
    """A model of a Slurm object (job, node...), keeping the wire object in ``raw``."""

    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


_setattr = object.__setattr__
