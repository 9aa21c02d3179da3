"""Per-op SLURM options from op tags, for :data:`slurm_dagster.slurm_executor`.

An op (or asset) tagged ``{"slurm/partition": "gpu", "slurm/gpus": "1"}`` runs its step's
job with those builder fields (:class:`slurm_core.jobs.JobBuilder`), over the executor's
``job_options``. Tags are strings; each is converted and checked here, before any job is
submitted, and a bad one is a :class:`SlurmTagError` naming the tag.

Example::

    @op(tags={"slurm/partition": "gpu", "slurm/gpus": "1", "slurm/time_limit": "30:00"})
    def train(): ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from slurm_core import JobSpecError
from slurm_core.jobs import JobBuilder

__all__ = ["TAGS", "TAG_PREFIX", "SlurmTagError", "step_options"]

TAG_PREFIX = "slurm/"


def _int(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError("must be a whole number")
    return int(text)


def _count_or_text(text: str) -> int | str:
    return int(text) if text.strip().isdigit() else text


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "false", "yes", "no", "1", "0"):
        raise ValueError("must be true or false")
    return value in ("true", "yes", "1")


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


TAGS: Mapping[str, Callable[[str], Any]] = {
    "partition": str,
    "account": str,
    "qos": str,
    "constraint": str,
    "comment": str,
    "name": str,
    "time_limit": str,
    "memory_per_cpu": str,
    "memory_per_node": str,
    "cpus_per_task": _int,
    "ntasks": _int,
    "ntasks_per_node": _int,
    "nice": int,
    "nodes": str,
    "gpus": _count_or_text,
    "gres": _words,
    "exclusive": str,
    "requeue": _bool,
}
"""Tag name (after ``slurm/``) to how its string becomes the builder field's value."""


class SlurmTagError(JobSpecError):
    """An op's ``slurm/...`` tag is unknown or its value is invalid; ``field`` is the tag
    (e.g. ``"slurm/gpus"``) and ``step`` the step that carries it."""

    def __init__(self, tag: str, message: str, step: str | None = None) -> None:
        where = f" (step {step!r})" if step else ""
        super().__init__(tag, f"{message}{where}")
        self.step = step


def _check(builder: JobBuilder, field: str, value: Any) -> None:
    setter = getattr(builder, field)
    if field == "gres":
        setter(*value)
    else:
        setter(value)


def step_options(tags: Mapping[str, str], step: str | None = None) -> dict[str, Any]:
    """The job options an op's tags ask for (``slurm/`` tags only; others are ignored).

    Raises :class:`SlurmTagError` naming the tag for an unknown ``slurm/`` tag or a value
    the builder refuses.

    Example::

        step_options({"slurm/gpus": "2", "dagster/priority": "3"})   # {"gpus": 2}
    """
    options: dict[str, Any] = {}
    builder = JobBuilder()
    for tag, raw in tags.items():
        if not tag.startswith(TAG_PREFIX):
            continue
        field = tag[len(TAG_PREFIX) :]
        convert = TAGS.get(field)
        if convert is None:
            known = ", ".join(TAG_PREFIX + name for name in sorted(TAGS))
            raise SlurmTagError(tag, f"is not a SLURM option tag; known tags: {known}", step)
        if not isinstance(raw, str):
            raise SlurmTagError(tag, f"must be a string, got {type(raw).__name__}", step)
        try:
            value = convert(raw)
            _check(builder, field, value)
        except JobSpecError as exc:
            raise SlurmTagError(tag, f"{raw!r}: {exc.message}", step) from None
        except ValueError as exc:
            raise SlurmTagError(tag, f"{raw!r} {exc}", step) from None
        options[field] = value
    return options
