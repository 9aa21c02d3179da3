"""The units Slurm users type: memory sizes, time limits, job arrays and GRES requests.

Each ``parse_*`` function raises :class:`~slurm_core._exceptions.JobSpecError` naming the
``field`` it validates on bad input of any type, and nothing else. ``format_*`` (or ``str()``
of a model) gives the canonical Slurm text; ``parse(format(x)) == x`` always holds. Memory is
an ``int`` of MiB with Slurm's binary units (``4GB`` is 4096); time limits are whole-minute
:class:`~datetime.timedelta` values or ``INFINITE``, seconds rounded up as slurmctld does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from slurm_core._exceptions import JobSpecError
from slurm_core.models._base import INFINITE, Infinite, InfiniteType

if TYPE_CHECKING:
    from typing_extensions import Self

# fmt: off
__all__ = [
    "MAX_ARRAY_TASK_ID", "MAX_MEMORY_MIB", "MAX_TIME_LIMIT_MINUTES", "ArrayRange", "ArraySpec",
    "GresRequest", "format_memory", "format_time_limit", "parse_gpus", "parse_gres",
    "parse_memory", "parse_time_limit",
]
# fmt: on

MAX_MEMORY_MIB: Final = 2**40  # 1 EiB: far above any node, far below Slurm's sentinels
MAX_TIME_LIMIT_MINUTES: Final = 0xFFFF_FFFD  # uint32 minutes; the top two values are markers
MAX_ARRAY_TASK_ID: Final = 4_000_000  # Slurm's ceiling; a cluster's MaxArraySize may be lower
MAX_COUNT: Final = 2**31 - 1  # tasks, nodes, GPUs: slurmrestd's int32 fields
MAX_COUNT16: Final = 0xFFFD  # CPUs per task, tasks per node: uint16 in Slurm, 0xFFFE+ markers
# slurmctld's default max_script_size (SchedulerParameters): a larger script is refused there
# unless the site raised it; refusing here keeps megabytes off the wire and out of memory.
MAX_SCRIPT_BYTES: Final = 4 * 1024 * 1024


# ------------------------------------------------------------------ shared model plumbing ----
def jobspec_error(exc: ValidationError, field: str | None = None) -> JobSpecError:
    """Turn a pydantic ``ValidationError`` into a :class:`JobSpecError`.

    ``field`` names the field for every error (used by the small models, e.g. ``"array"``);
    without it, the first location element names it (``JobSpec`` fields), falling back to
    the field carried by a :class:`JobSpecError` raised inside a validator, then ``"spec"``.
    """
    first = exc.errors(include_url=False)[0]
    cause = (first.get("ctx") or {}).get("error")
    loc = first["loc"]
    if field is None:
        field = loc[0] if loc and isinstance(loc[0], str) else getattr(cause, "field", "spec")
    if isinstance(cause, JobSpecError):
        return JobSpecError(field, cause.message)
    special = {"missing": "is required", "extra_forbidden": "is not a known field"}
    where = ".".join(str(p) for p in loc[1:]) if loc and field == loc[0] else ""
    return JobSpecError(field, (where and where + ": ") + special.get(first["type"], first["msg"]))


class SpecModel(BaseModel):
    """Frozen, closed model whose every validation failure is a :class:`JobSpecError`.

    Subclasses set ``_error_field`` to the job-spec field they describe (``"array"``...);
    ``None`` means the failing field's own name is used.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    _error_field: ClassVar[str | None] = None

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise jobspec_error(exc, self._error_field) from None

    # pydantic's other entry points bypass __init__: convert their errors too.
    @classmethod
    def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(*args, **kwargs)
        except ValidationError as exc:
            raise jobspec_error(exc, cls._error_field) from None

    @classmethod
    def model_validate_json(cls, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(*args, **kwargs)
        except ValidationError as exc:
            raise jobspec_error(exc, cls._error_field) from None

    @classmethod
    def model_validate_strings(cls, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_strings(*args, **kwargs)
        except ValidationError as exc:
            raise jobspec_error(exc, cls._error_field) from None


def describe(value: object) -> str:
    """A short, safe description of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(value: object, field: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """``value`` as an int within ``[minimum, maximum]`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobSpecError(field, f"expected an integer, got {describe(value)}")
    if not minimum <= value <= maximum:
        raise JobSpecError(field, f"must be between {minimum} and {maximum}, got {value}")
    return value


# ----------------------------------------------------------------------------- memory --------
_MIB_PER_UNIT: Final[Mapping[str, Fraction]] = {
    "K": Fraction(1, 1024),
    "M": Fraction(1),
    "G": Fraction(1024),
    "T": Fraction(1024**2),
}
_MEMORY_RE = re.compile(
    r"(\d{1,20}(?:\.\d{1,20})?|\.\d{1,20}) ?([KMGT])(?:I?B)?", re.IGNORECASE | re.ASCII
)


def parse_memory(value: object, field: str = "memory") -> int:
    """A memory size in MiB from ``"4G"``, ``"4GB"``, ``"512M"``, ``"1.5T"``, ``"1024K"`` or an int.

    Units are Slurm's binary ones (``4GB`` is 4096 MiB); fractions round up to whole MiB as
    Slurm rounds ``K``. A unitless string is refused as ambiguous; an ``int`` means MiB.

    Example::

        >>> parse_memory("4GB"), parse_memory("1.5T"), parse_memory(512)
        (4096, 1572864, 512)
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise JobSpecError(field, f"expected a size like '4G' or MiB as int, got {describe(value)}")
    if isinstance(value, int):
        mib = value
    else:
        text = value.strip()
        if text.isascii() and text.isdigit():
            raise JobSpecError(
                field, f"{text!r} has no unit; write '{text}M' for MiB, or pass the int {text}"
            )
        match = _MEMORY_RE.fullmatch(text)
        if match is None:
            raise JobSpecError(field, f"{describe(value)} is not a size like '512M', '1.5T'")
        amount = Fraction(match[1]) * _MIB_PER_UNIT[match[2].upper()]
        if amount <= 0:
            raise JobSpecError(field, f"must be positive, got {value!r}")
        mib = math.ceil(amount)
    if mib <= 0:
        raise JobSpecError(field, f"must be positive, got {value!r}")
    if mib > MAX_MEMORY_MIB:
        raise JobSpecError(field, f"{value!r} is more than {MAX_MEMORY_MIB} MiB")
    return mib


def format_memory(mib: int) -> str:
    """The canonical Slurm text for ``mib``: the largest unit that divides it exactly.

    Example::

        >>> format_memory(4096), format_memory(1536), format_memory(2 * 1024**2)
        ('4G', '1536M', '2T')
    """
    mib = parse_memory(mib)
    for unit, size in (("T", 1024**2), ("G", 1024)):
        if mib % size == 0:
            return f"{mib // size}{unit}"
    return f"{mib}M"


# ------------------------------------------------------------------------- time limits -------
_DAYS_RE = re.compile(r"(\d{1,10})-(\d{1,10})(?::(\d{1,10})(?::(\d{1,10}))?)?", re.ASCII)
_CLOCK_RE = re.compile(r"(\d{1,10})(?::(\d{1,10})(?::(\d{1,10}))?)?", re.ASCII)
_UNLIMITED_WORDS: Final = frozenset({"UNLIMITED", "INFINITE"})


def _seconds_from_text(text: str) -> int | None:
    match = _DAYS_RE.fullmatch(text)
    if match:
        d, h, m, s = (int(g) if g else 0 for g in match.groups())
        return ((d * 24 + h) * 60 + m) * 60 + s
    match = _CLOCK_RE.fullmatch(text)
    if match is None:
        return None
    parts = [int(g) for g in match.groups() if g is not None]
    if len(parts) == 1:  # minutes
        return parts[0] * 60
    if len(parts) == 2:  # minutes:seconds
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]  # hours:minutes:seconds


def parse_time_limit(value: object, field: str = "time_limit") -> timedelta | InfiniteType:
    """A time limit from a timedelta, Slurm's text forms, an int of minutes, or ``INFINITE``.

    Accepted text: ``"90"`` (minutes), ``"90:30"`` (minutes:seconds), ``"1:30:00"``,
    ``"2-12"`` (days-hours), ``"2-12:30"``, ``"2-12:30:00"``, ``"UNLIMITED"``/``"INFINITE"``.
    Seconds are rounded up to whole minutes, as slurmctld does. Zero is refused (Slurm
    reads it as "no limit"; say ``"UNLIMITED"`` for that).

    Example::

        >>> parse_time_limit("2-00:00:00"), parse_time_limit("90")
        (datetime.timedelta(days=2), datetime.timedelta(seconds=5400))
    """
    if value is INFINITE:
        return INFINITE
    if isinstance(value, timedelta):
        seconds = value.days * 86400 + value.seconds + (1 if value.microseconds else 0)
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value * 60
    elif isinstance(value, str):
        text = value.strip()
        if text.upper() in _UNLIMITED_WORDS:
            return INFINITE
        parsed = _seconds_from_text(text)
        if parsed is None:
            raise JobSpecError(field, f"{describe(value)} is not a time like '1:30:00', '2-00'")
        seconds = parsed
    else:
        raise JobSpecError(field, f"expected a timedelta, text or minutes, got {describe(value)}")
    if seconds <= 0:
        raise JobSpecError(field, f"must be positive (use 'UNLIMITED' for no limit), got {value!r}")
    minutes = -(-seconds // 60)
    if minutes > MAX_TIME_LIMIT_MINUTES:
        raise JobSpecError(field, f"{describe(value)} is longer than Slurm can represent")
    return timedelta(minutes=minutes)


def format_time_limit(value: timedelta | InfiniteType) -> str:
    """Slurm's own text for a time limit: ``"HH:MM:SS"``, ``"D-HH:MM:SS"`` or ``"UNLIMITED"``.

    Example::

        >>> format_time_limit(timedelta(hours=1)), format_time_limit(timedelta(days=2))
        ('01:00:00', '2-00:00:00')
    """
    limit = parse_time_limit(value)
    if isinstance(limit, Infinite):
        return "UNLIMITED"
    days, rest = divmod(limit // timedelta(minutes=1), 1440)
    hours, minutes = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:00"
    return f"{days}-{clock}" if days else clock


# --------------------------------------------------------------------------- job arrays ------
_ARRAY_ITEM_RE = re.compile(r"(\d{1,10})(?:-(\d{1,10})(?::(\d{1,10}))?)?", re.ASCII)
_THROTTLE_RE = re.compile(r"\d{1,10}", re.ASCII)


class ArrayRange(SpecModel):
    """One item of an array expression: ``start``, ``start-end`` or ``start-end:step``."""

    _error_field: ClassVar[str | None] = "array"
    start: int
    end: int
    step: int = 1

    @model_validator(mode="after")
    def _check(self) -> ArrayRange:
        check_int(self.start, "array", minimum=0, maximum=MAX_ARRAY_TASK_ID)
        check_int(self.end, "array", minimum=self.start, maximum=MAX_ARRAY_TASK_ID)
        check_int(self.step, "array", minimum=1, maximum=MAX_ARRAY_TASK_ID)
        return self

    def __str__(self) -> str:
        if self.start == self.end and self.step == 1:
            return str(self.start)
        return f"{self.start}-{self.end}" + (f":{self.step}" if self.step != 1 else "")

    def task_ids(self) -> range:
        """The task ids this item selects."""
        return range(self.start, self.end + 1, self.step)


class ArraySpec(SpecModel):
    """A parsed job array expression such as ``"0-9"``, ``"1,3,5"``, ``"0-15:4"``, ``"0-9%2"``.

    ``throttle`` (``%N``) caps how many tasks run at once. Task ids are bounded by
    :data:`MAX_ARRAY_TASK_ID`; the cluster's ``MaxArraySize`` (default 1001) may be lower.

    Example::

        >>> spec = ArraySpec.parse("0-15:4%2")
        >>> spec.task_ids(), spec.throttle, str(spec)
        ([0, 4, 8, 12], 2, '0-15:4%2')
    """

    _error_field: ClassVar[str | None] = "array"
    ranges: tuple[ArrayRange, ...]
    throttle: int | None = None

    @model_validator(mode="after")
    def _check(self) -> ArraySpec:
        if not self.ranges:
            raise JobSpecError("array", "needs at least one task id")
        if self.throttle is not None:  # %N: at most N tasks at once
            check_int(self.throttle, "array", maximum=MAX_ARRAY_TASK_ID + 1)
        return self

    @classmethod
    def parse(cls, value: object, field: str = "array") -> ArraySpec:
        """Parse an expression, or convert a ``range`` or an :class:`ArraySpec` (returned as is)."""
        if isinstance(value, ArraySpec):
            return value
        try:
            if isinstance(value, str):
                return cls._from_text(value.strip())
            if isinstance(value, range) and value and value.step > 0:
                return cls(ranges=(ArrayRange(start=value[0], end=value[-1], step=value.step),))
        except JobSpecError as exc:
            raise JobSpecError(field, exc.message) from None
        raise JobSpecError(field, f"expected text like '0-9%2' or a range, got {describe(value)}")

    @classmethod
    def _from_text(cls, text: str) -> ArraySpec:
        body, percent, limit = text.partition("%")
        if percent and not _THROTTLE_RE.fullmatch(limit):
            raise JobSpecError("array", f"throttle after '%' must be a number in {text!r}")
        ranges = []
        for item in body.split(","):
            match = _ARRAY_ITEM_RE.fullmatch(item)
            if match is None:
                raise JobSpecError("array", f"{item!r} is not 'N', 'N-M' or 'N-M:STEP'")
            start, end, step = int(match[1]), int(match[2] or match[1]), int(match[3] or 1)
            ranges.append(ArrayRange(start=start, end=end, step=step))
        return cls(ranges=tuple(ranges), throttle=int(limit) if percent else None)

    def __str__(self) -> str:
        text = ",".join(str(r) for r in self.ranges)
        return text + (f"%{self.throttle}" if self.throttle is not None else "")

    def task_ids(self) -> list[int]:
        """Every task id, sorted, without duplicates."""
        return sorted({t for r in self.ranges for t in r.task_ids()})


# ------------------------------------------------------------------------ GRES / GPUs ---------
_GRES_NAME, _GRES_TYPE = r"[A-Za-z_][\w.-]{0,63}", r"[\w.-]{1,64}"
_GRES_RE = re.compile(rf"({_GRES_NAME})(?::({_GRES_TYPE}?))?(?::(\d{{1,10}}))?", re.ASCII)
_GPUS_RE = re.compile(rf"(?:({_GRES_TYPE}):)?(\d{{1,10}})", re.ASCII)


class GresRequest(SpecModel):
    """One generic-resource request, ``name[:type][:count]`` (``"gpu:a100:2"``).

    ``str()`` always includes the count (``"gpu:1"``), which keeps numeric types unambiguous.

    Example::

        >>> [str(g) for g in parse_gres("gpu:a100:2,nvme")]
        ['gpu:a100:2', 'nvme:1']
    """

    _error_field: ClassVar[str | None] = "gres"
    name: str
    type: str | None = None
    count: int = 1

    @model_validator(mode="after")
    def _check(self) -> GresRequest:
        if not re.fullmatch(_GRES_NAME, self.name, re.ASCII):
            raise JobSpecError("gres", f"{describe(self.name)} is not a GRES name")
        if self.type is not None and not re.fullmatch(_GRES_TYPE, self.type, re.ASCII):
            raise JobSpecError("gres", f"{describe(self.type)} is not a GRES type")
        check_int(self.count, "gres")
        return self

    def __str__(self) -> str:
        return f"{self.name}{':' + self.type if self.type else ''}:{self.count}"


def _gres_item(item: object, field: str) -> GresRequest:
    if isinstance(item, GresRequest):
        return item
    match = _GRES_RE.fullmatch(item.strip()) if isinstance(item, str) else None
    if match is None:
        raise JobSpecError(field, f"{describe(item)} is not 'name[:type][:count]'")
    name, type_, count = match.groups()
    if count is None and type_ is not None and type_.isdigit():
        type_, count = None, type_  # "gpu:2" is a count, as in Slurm
    try:
        return GresRequest(name=name, type=type_, count=int(count or 1))
    except JobSpecError as exc:
        raise JobSpecError(field, exc.message) from None


def parse_gres(value: object, field: str = "gres") -> tuple[GresRequest, ...]:
    """GRES requests from ``"gpu"``, ``"gpu:2"``, ``"gpu:a100:2"``, a comma list, or models."""
    if isinstance(value, (str, GresRequest)):
        value = value.split(",") if isinstance(value, str) else [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise JobSpecError(field, f"expected requests like 'gpu:a100:2', got {describe(value)}")
    return tuple(_gres_item(item, field) for item in value)


def parse_gpus(value: object, field: str = "gpus") -> GresRequest:
    """A per-job GPU request from an int, ``"2"``, ``"a100:2"`` (``--gpus`` syntax) or a model."""
    if isinstance(value, GresRequest) and value.name == "gpu":
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return GresRequest(name="gpu", count=check_int(value, field))
    match = _GPUS_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise JobSpecError(field, f"expected a count like 2 or 'a100:2', got {describe(value)}")
    try:
        return GresRequest(name="gpu", type=match[1], count=check_int(int(match[2]), field))
    except JobSpecError as exc:
        raise JobSpecError(field, exc.message) from None
