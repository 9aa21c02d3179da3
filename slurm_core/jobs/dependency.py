"""Job dependency expressions: a typed model, a parser and a canonical printer.

Slurm's syntax (``sbatch --dependency``)::

    afterok:1:2,afterany:3       all of: 1 and 2 succeeded, 3 ended    (',' = AND)
    afterok:1?afternotok:2       any of: 1 succeeded, or 2 failed       ('?' = OR)
    after:5+10                   10 minutes after job 5 started
    afterok:7_3,aftercorr:8_*    array task 7_3; every task of array 8
    singleton                    one running job of this name and user at a time

Semantics worth knowing (they follow slurmctld's): every ``kind:job`` pair is one record.
In an AND expression all records must be satisfied; in an OR expression any single record
satisfies it, so ``afterok:1:2?afterany:3`` means "1 ok, or 2 ok, or 3 ended". slurmctld
silently turns an expression mixing ``,`` and ``?`` into an all-OR one; this module refuses
such text instead.

When slurmctld reports a job's dependency it adds a state to each record
(``afterok:12(failed)``, ``singleton(unfulfilled)``); :func:`parse_dependency` reads those into
:attr:`DependencyTerm.state` (a job spec refuses them: they are reports, not requests).

Example::

    >>> dep = parse_dependency("afterok:1:2,afterany:3")
    >>> dep.kind, [str(t) for t in dep.terms], str(dep)
    (<DependencyOperator.AND: 'and'>, ['afterok:1:2', 'afterany:3'], 'afterok:1:2,afterany:3')
    >>> str(build_dependency(afterok=[1, "2_4"], singleton=True))
    'afterok:1:2_4,singleton'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, ClassVar, Final, Literal

from pydantic import field_validator, model_validator

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs._units import MAX_ARRAY_TASK_ID, SpecModel, check_int, describe

__all__ = [
    "Dependency",
    "DependencyKind",
    "DependencyOperator",
    "DependencyState",
    "DependencyTerm",
    "JobRef",
    "build_dependency",
    "format_dependency",
    "parse_dependency",
]

MAX_JOB_ID: Final = 0xFFFF_FFFD
"""Largest job id (slurmctld keeps ids in a uint32 whose top two values are markers)."""
MAX_DELAY_MINUTES: Final = (2**32 - 1) // 60
"""Largest ``after:job+minutes`` delay slurmctld can store (it keeps seconds in a uint32)."""

_FIELD: Final = "dependency"


class DependencyKind(str, Enum):
    """What a term waits for. ``SINGLETON`` takes no job ids."""

    AFTER = "after"  # the job started (optionally +minutes ago)
    AFTERANY = "afterany"  # the job ended, however
    AFTEROK = "afterok"  # the job ended successfully
    AFTERNOTOK = "afternotok"  # the job failed
    AFTERCORR = "aftercorr"  # the same task of that array ended successfully
    AFTERBURSTBUFFER = "afterburstbuffer"  # the job ended and its burst buffer staged out
    SINGLETON = "singleton"  # no other job with this name and user runs

    def __str__(self) -> str:
        return self.value


class DependencyOperator(str, Enum):
    """How the terms of a :class:`Dependency` combine: ``AND`` (``,``) or ``OR`` (``?``)."""

    AND = "and"
    OR = "or"

    @property
    def separator(self) -> str:
        """The character Slurm uses between terms."""
        return "," if self is DependencyOperator.AND else "?"


class DependencyState(str, Enum):
    """A record's state as slurmctld reports it (``afterok:12(failed)``)."""

    UNFULFILLED = "unfulfilled"
    FULFILLED = "fulfilled"
    FAILED = "failed"
    UNKNOWN = "unknown"


_JOB_REF_RE = re.compile(r"(\d{1,10})(?:_(\d{1,10}|\*))?(?:\+(\d{1,10}))?", re.ASCII)


class JobRef(SpecModel):
    """A job named in a dependency: ``123``, array task ``123_4``, whole array ``123_*``.

    ``delay`` (minutes, ``123+10``) is only allowed in an ``after`` term.

    Example::

        >>> JobRef.parse("123_4"), str(JobRef(job_id=5, delay=10))
        (JobRef(job_id=123, array_task_id=4, delay=None), '5+10')
    """

    _error_field: ClassVar[str | None] = _FIELD
    job_id: int
    array_task_id: int | Literal["*"] | None = None
    delay: int | None = None

    @model_validator(mode="after")
    def _check(self) -> JobRef:
        check_int(self.job_id, _FIELD, maximum=MAX_JOB_ID)
        if isinstance(self.array_task_id, int):
            check_int(self.array_task_id, _FIELD, minimum=0, maximum=MAX_ARRAY_TASK_ID)
        if self.delay is not None:
            check_int(self.delay, _FIELD, maximum=MAX_DELAY_MINUTES)
        return self

    @classmethod
    def parse(cls, value: object) -> JobRef:
        """A reference from an int id, text (``"123"``, ``"123_4"``, ``"5+10"``), dict or JobRef."""
        if isinstance(value, JobRef):
            return value
        if isinstance(value, Mapping):
            return cls.model_validate(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(job_id=value)
        if not isinstance(value, str):
            raise JobSpecError(
                _FIELD, f"expected a job id such as 123 or '123_4', got {describe(value)}"
            )
        match = _JOB_REF_RE.fullmatch(value)
        if match is None:
            raise JobSpecError(
                _FIELD, f"{describe(value)} is not a job id like 123, '123_4' or '123_*'"
            )
        task: int | Literal["*"] | None = None
        if match[2] == "*":
            task = "*"
        elif match[2] is not None:
            task = int(match[2])
        delay = int(match[3]) if match[3] is not None else None
        return cls(job_id=int(match[1]), array_task_id=task, delay=delay)

    def __str__(self) -> str:
        text = str(self.job_id)
        if self.array_task_id is not None:
            text += f"_{self.array_task_id}"
        return text + (f"+{self.delay}" if self.delay is not None else "")


class DependencyTerm(SpecModel):
    """One ``kind:job[:job...]`` term (or ``singleton``).

    ``job_ids`` accepts ints and text on input and holds :class:`JobRef` values.

    Example::

        >>> str(DependencyTerm(kind="afterok", job_ids=[1, "2_3"]))
        'afterok:1:2_3'
    """

    _error_field: ClassVar[str | None] = _FIELD
    kind: DependencyKind
    job_ids: tuple[JobRef, ...] = ()
    state: DependencyState | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> object:
        if isinstance(value, str) and not isinstance(value, DependencyKind):
            word = value.strip().lower()
            if word not in _KINDS:
                known = ", ".join(_KINDS)
                raise JobSpecError(_FIELD, f"unknown dependency type {value!r} (known: {known})")
            return DependencyKind(word)
        return value

    @field_validator("job_ids", mode="before")
    @classmethod
    def _job_ids(cls, value: object) -> object:
        if isinstance(value, (str, int)) or not isinstance(value, Iterable):
            raise JobSpecError(_FIELD, f"job_ids must be a list of job ids, got {describe(value)}")
        return tuple(JobRef.parse(v) for v in value)

    @model_validator(mode="after")
    def _check(self) -> DependencyTerm:
        if self.kind is DependencyKind.SINGLETON:
            if self.job_ids:
                raise JobSpecError(_FIELD, "'singleton' takes no job ids")
        elif not self.job_ids:
            raise JobSpecError(_FIELD, f"'{self.kind}' needs at least one job id")
        if self.kind is not DependencyKind.AFTER and any(r.delay is not None for r in self.job_ids):
            raise JobSpecError(
                _FIELD, f"a '+minutes' delay is only allowed with 'after', not '{self.kind}'"
            )
        return self

    def __str__(self) -> str:
        text = self.kind.value + "".join(f":{ref}" for ref in self.job_ids)
        return text + (f"({self.state.value})" if self.state is not None else "")


_KINDS: Final = tuple(k.value for k in DependencyKind)
_STATE_RE = re.compile(r"\(([A-Za-z]+)\)$")


class Dependency(SpecModel):
    """A whole dependency expression: ``kind`` (AND/OR) joining one or more ``terms``.

    An OR expression needs at least two terms (``?`` must appear in its text); to wait for
    any of several jobs write one term per job (:func:`build_dependency` does this).

    Example::

        >>> dep = Dependency.parse("afterok:1?afternotok:2")
        >>> dep.kind is DependencyOperator.OR, dep.job_ids()
        (True, [1, 2])
    """

    _error_field: ClassVar[str | None] = _FIELD
    kind: DependencyOperator = DependencyOperator.AND
    terms: tuple[DependencyTerm, ...]

    @model_validator(mode="after")
    def _check(self) -> Dependency:
        if not self.terms:
            raise JobSpecError(_FIELD, "needs at least one term")
        if self.kind is DependencyOperator.OR and len(self.terms) < 2:
            raise JobSpecError(
                _FIELD,
                "an OR dependency needs at least two terms; for any of several jobs "
                "write one term per job, e.g. 'afterok:1?afterok:2'",
            )
        return self

    @classmethod
    def parse(cls, value: object) -> Dependency:
        """Parse Slurm text; a :class:`Dependency` is returned unchanged."""
        if isinstance(value, Dependency):
            return value
        if not isinstance(value, str):
            raise JobSpecError(_FIELD, f"expected a dependency expression, got {describe(value)}")
        return _parse(value.strip())

    def __str__(self) -> str:
        return self.kind.separator.join(str(t) for t in self.terms)

    def job_ids(self) -> list[int]:
        """The job ids named, in order of first appearance, without duplicates."""
        seen: dict[int, None] = {}
        for term in self.terms:
            for ref in term.job_ids:
                seen.setdefault(ref.job_id, None)
        return list(seen)

    def canonical(self) -> Dependency:
        """One term per job and no ``(state)`` marks: the shape slurmctld reports back.

        Example::

            >>> str(Dependency.parse("afterok:1(unfulfilled),afterok:2").canonical())
            'afterok:1,afterok:2'
            >>> str(Dependency.parse("afterok:1:2").canonical())
            'afterok:1,afterok:2'
        """
        terms = [
            DependencyTerm(kind=t.kind, job_ids=(ref,))
            if t.job_ids
            else t.model_copy(update={"state": None})
            for t in self.terms
            for ref in (t.job_ids or (None,))
        ]
        return Dependency(kind=self.kind, terms=tuple(terms))

    @property
    def has_states(self) -> bool:
        """True if any term carries a state reported by slurmctld."""
        return any(t.state is not None for t in self.terms)


def _parse(text: str) -> Dependency:
    if not text:
        raise JobSpecError(_FIELD, "is empty")
    if "," in text and "?" in text:
        raise JobSpecError(
            _FIELD,
            f"{describe(text)} mixes ',' (AND) and '?' (OR); Slurm allows only one of them "
            "per expression",
        )
    operator = DependencyOperator.OR if "?" in text else DependencyOperator.AND
    terms = [_parse_term(chunk, text) for chunk in text.split(operator.separator)]
    return Dependency(kind=operator, terms=tuple(terms))


def _parse_term(chunk: str, text: str) -> DependencyTerm:
    if not chunk:
        raise JobSpecError(_FIELD, f"empty term in {describe(text)}")
    state: str | None = None
    match = _STATE_RE.search(chunk)
    if match:
        state = match[1].lower()
        if state not in {s.value for s in DependencyState}:
            raise JobSpecError(_FIELD, f"unknown dependency state {match[1]!r} in {describe(text)}")
        chunk = chunk[: match.start()]
    kind, *refs = chunk.split(":")
    if kind.isascii() and kind.isdigit():
        raise JobSpecError(
            _FIELD, f"{describe(chunk)} has no type; write e.g. 'afterany:{chunk}' explicitly"
        )
    if any(not r for r in refs):
        raise JobSpecError(_FIELD, f"empty job id in {describe(text)}")
    data: dict[str, Any] = {"kind": kind, "job_ids": tuple(refs), "state": state}
    return DependencyTerm(**data)


def parse_dependency(text: str | Dependency) -> Dependency:
    """Parse a Slurm dependency expression (see the module docstring for the grammar).

    Raises :class:`JobSpecError` (``field == "dependency"``) on bad text, including text that
    mixes ``,`` and ``?``. The canonical text of the result is ``str(dep)``.
    """
    return Dependency.parse(text)


def format_dependency(dependency: Dependency) -> str:
    """The canonical Slurm text of ``dependency`` (same as ``str(dependency)``).

    ``format_dependency(parse_dependency(s)) == s`` for any canonical ``s`` (lower-case
    types, job ids without leading zeros).
    """
    return str(Dependency.parse(dependency))


JobIds = Iterable[int | str | JobRef]


def build_dependency(
    *,
    afterok: JobIds = (),
    afternotok: JobIds = (),
    afterany: JobIds = (),
    after: JobIds = (),
    aftercorr: JobIds = (),
    afterburstbuffer: JobIds = (),
    singleton: bool = False,
    any_of: bool = False,
) -> Dependency:
    """Build an expression from job ids per type; all must hold, or any one if ``any_of``.

    Job ids are ints, text (``"123_4"``, ``"123_*"``, and ``"5+10"`` for ``after``) or
    :class:`JobRef`. With ``any_of=True`` each job becomes its own term, since in Slurm's
    syntax the ids of one term are always required together.

    Example::

        >>> str(build_dependency(afterok=[1, 2], after=["3+5"]))
        'afterok:1:2,after:3+5'
        >>> str(build_dependency(afterok=[1, 2], any_of=True))
        'afterok:1?afterok:2'
    """
    groups = {
        DependencyKind.AFTEROK: afterok,
        DependencyKind.AFTERNOTOK: afternotok,
        DependencyKind.AFTERANY: afterany,
        DependencyKind.AFTER: after,
        DependencyKind.AFTERCORR: aftercorr,
        DependencyKind.AFTERBURSTBUFFER: afterburstbuffer,
    }
    terms: list[DependencyTerm] = []
    for kind, ids in groups.items():
        if isinstance(ids, (str, int)) or not isinstance(ids, Iterable):
            raise JobSpecError(
                _FIELD, f"{kind.value} must be a list of job ids, got {describe(ids)}"
            )
        refs = tuple(JobRef.parse(i) for i in ids)
        if not refs:
            continue
        if any_of:
            terms.extend(DependencyTerm(kind=kind, job_ids=(r,)) for r in refs)
        else:
            terms.append(DependencyTerm(kind=kind, job_ids=refs))
    if not isinstance(singleton, bool):
        raise JobSpecError(_FIELD, f"singleton must be True or False, got {describe(singleton)}")
    if singleton:
        terms.append(DependencyTerm(kind=DependencyKind.SINGLETON))
    if not terms:
        raise JobSpecError(_FIELD, "name at least one job (or singleton=True)")
    operator = DependencyOperator.OR if any_of and len(terms) > 1 else DependencyOperator.AND
    return Dependency(kind=operator, terms=tuple(terms))
