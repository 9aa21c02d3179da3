"""The versionless job specification: :class:`JobSpec`, and what a submission returns.

A :class:`JobSpec` holds every submission option in normalized units (memory in MiB, time
limits as whole-minute :class:`~datetime.timedelta` or ``INFINITE``, parsed dependency and
array expressions). It is frozen, refuses unknown fields, survives a JSON round trip, and
every validation failure is a :class:`~slurm_core._exceptions.JobSpecError` naming the field
(never a bare pydantic ``ValidationError``). Each field accepts the forms users type
(``memory_per_cpu="4GB"``, ``time_limit="1-12:00"``, ``dependency="afterok:1:2"``).

The per-version adapters translate a spec into a slurmrestd request body; this module knows
nothing of versions.

Example::

    spec = JobSpec(script="#!/bin/bash\\necho hi", memory_per_cpu="4G", time_limit="1:00:00")
    spec.memory_per_cpu                             # 4096
    text = spec.model_dump_json()                   # store it...
    assert JobSpec.model_validate_json(text) == spec  # ...and load it back
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import partial
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs._sbatch import load_script, read_sbatch
from slurm_core.jobs._signal import SignalSpec
from slurm_core.jobs._units import (
    MAX_COUNT16,
    MAX_SCRIPT_BYTES,
    ArraySpec,
    GresRequest,
    SpecModel,
    check_int,
    describe,
    format_time_limit,
    parse_gpus,
    parse_gres,
    parse_memory,
    parse_time_limit,
)
from slurm_core.jobs.dependency import Dependency
from slurm_core.models._base import InfiniteType

__all__ = ["Exclusive", "JobSpec", "MailType", "SignalSpec", "SubmittedJob", "normalize_field"]


class Exclusive(str, Enum):
    """Node sharing: whole nodes (``--exclusive``), or shared only with the same user or MCS."""

    NODE = "node"
    USER = "user"
    MCS = "mcs"


class MailType(str, Enum):
    """Events that trigger an e-mail (``sbatch --mail-type`` names)."""

    BEGIN = "BEGIN"
    END = "END"
    FAIL = "FAIL"
    REQUEUE = "REQUEUE"
    ALL = "ALL"
    INVALID_DEPENDENCY = "INVALID_DEPENDENCY"
    STAGE_OUT = "STAGE_OUT"
    TIME_LIMIT = "TIME_LIMIT"
    TIME_LIMIT_90 = "TIME_LIMIT_90"
    TIME_LIMIT_80 = "TIME_LIMIT_80"
    TIME_LIMIT_50 = "TIME_LIMIT_50"
    ARRAY_TASKS = "ARRAY_TASKS"


# ------------------------------------------------------------------------- normalizers -------
_BAD_LINE_CHARS = re.compile(r"[\x00\n\r]")
_ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUBMISSION_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_NICE_LIMIT: Final = 2147483645


def _text(value: object, field: str, *, multiline: bool = False) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise JobSpecError(field, f"expected a string, got {describe(value)}")
    if not value.strip():
        raise JobSpecError(field, "must not be empty")
    if "\x00" in value or (not multiline and _BAD_LINE_CHARS.search(value)):
        what = "a NUL character" if multiline else "a newline or NUL character"
        raise JobSpecError(field, f"must not contain {what}")
    return value


def _script(value: object) -> str:
    text = _text(value, "script", multiline=True)
    # Characters never outnumber UTF-8 bytes: a long text is refused without encoding it.
    size = len(text) if len(text) > MAX_SCRIPT_BYTES else len(text.encode("utf-8", "replace"))
    if size > MAX_SCRIPT_BYTES:
        raise JobSpecError(
            "script",
            f"is {size} bytes or more; Slurm refuses scripts over {MAX_SCRIPT_BYTES} bytes "
            "(max_script_size); stage large data in files the script reads",
        )
    if not text.startswith("#!"):
        raise JobSpecError("script", "must start with a '#!' line such as '#!/bin/bash'")
    # A CR ending the shebang line is what breaks a DOS-edited script ("bad interpreter");
    # a CR inside a quoted argument further down is legitimate.
    if text.split("\n", 1)[0].endswith("\r"):
        raise JobSpecError("script", "has DOS line breaks (\\r\\n); use UNIX line breaks (\\n)")
    return text


def _environment(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise JobSpecError("environment", f"expected a mapping, got {describe(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_KEY_RE.fullmatch(key):
            raise JobSpecError("environment", f"{describe(key)} is not a valid variable name")
        if not isinstance(item, str):
            raise JobSpecError("environment", f"{key}'s value is not a string: {describe(item)}")
        if "\x00" in item:
            raise JobSpecError("environment", f"{key}'s value contains a NUL character")
        out[key] = item
    return out


def _exclusive(value: object) -> Exclusive:
    if value is True:
        return Exclusive.NODE
    if isinstance(value, str) and value.lower() in {e.value for e in Exclusive}:
        return Exclusive(value.lower())
    raise JobSpecError("exclusive", f"expected True, 'node', 'user', 'mcs': {describe(value)}")


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise JobSpecError(field, f"expected True or False, got {describe(value)}")
    return value


def _moment(value: object, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise JobSpecError(field, f"{describe(value)} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise JobSpecError(field, f"expected a timezone-aware datetime, got {describe(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise JobSpecError(field, "must be timezone-aware (e.g. tzinfo=timezone.utc)")
    try:
        when = value.astimezone(timezone.utc)
        if when.microsecond:  # slurmctld counts whole seconds: never start early
            when = when.replace(microsecond=0) + timedelta(seconds=1)
    except OverflowError:
        raise JobSpecError(field, f"{describe(value)} is out of range") from None
    return when


def _argv(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise JobSpecError("argv", f"expected a list of strings, got {describe(value)}")
    items = tuple(value)
    if not all(isinstance(a, str) and "\x00" not in a for a in items):
        raise JobSpecError("argv", "every argument must be a string without NUL")
    return items


def _het(value: object) -> tuple[JobSpec, ...]:
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise JobSpecError("het", f"expected a list of job specs, got {describe(value)}")
    items = tuple(v if isinstance(v, JobSpec) else JobSpec.model_validate(v) for v in value)
    if any(item.het for item in items):
        raise JobSpecError("het", "a component of a heterogeneous job has no components")
    return items


def _mail_types(value: object) -> tuple[MailType, ...]:
    items: Iterable[object]
    if isinstance(value, str):
        items = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, Iterable):
        items = value
    else:
        raise JobSpecError("mail_types", f"expected e.g. ['END', 'FAIL'], got {describe(value)}")
    chosen = set()
    for item in items:
        name = item.strip().upper() if isinstance(item, str) else ""
        if name not in MailType.__members__:
            known = ", ".join(MailType.__members__)
            raise JobSpecError("mail_types", f"unknown mail type {describe(item)} (known: {known})")
        chosen.add(MailType[name])
    return tuple(m for m in MailType if m in chosen)


def _dependency(value: object) -> Dependency:
    dep: Dependency = _model(Dependency, Dependency.parse)(value)
    if dep.has_states:
        raise JobSpecError("dependency", "has '(state)' marks, which slurmctld reports, not takes")
    return dep


def _model(cls: type[SpecModel], parse: Callable[[object], Any]) -> Callable[[object], Any]:
    def normalize(value: object) -> Any:
        return cls.model_validate(value) if isinstance(value, Mapping) else parse(value)

    return normalize


def _gres(value: object) -> tuple[GresRequest, ...]:
    if isinstance(value, (list, tuple)):
        if not value:
            return ()
        value = [GresRequest.model_validate(v) if isinstance(v, Mapping) else v for v in value]
    return parse_gres(value)


def _submission_key(value: object) -> str:
    if not isinstance(value, str) or not _SUBMISSION_KEY_RE.fullmatch(value):
        raise JobSpecError("submission_key", "must be 1-128 letters, digits and '._:-'")
    return value


_NORMALIZERS: Final[Mapping[str, Callable[[object], Any]]] = {
    "script": _script,
    **{f: partial(_text, field=f) for f in ("name", "partition", "account", "qos")},
    **{f: partial(_text, field=f) for f in ("constraint", "mail_user", "input")},
    **{f: partial(_text, field=f) for f in ("licenses", "reservation", "wckey")},
    "comment": partial(_text, field="comment", multiline=True),
    **{f: partial(_text, field=f) for f in ("working_directory", "output", "error")},
    **{f: partial(parse_time_limit, field=f) for f in ("time_limit", "time_min")},
    "memory_per_cpu": partial(parse_memory, field="memory_per_cpu"),
    "memory_per_node": partial(parse_memory, field="memory_per_node"),
    "memory_per_gpu": partial(parse_memory, field="memory_per_gpu"),
    **{f: partial(check_int, field=f) for f in ("ntasks", "nodes", "max_nodes")},
    **{
        f: partial(check_int, field=f, maximum=MAX_COUNT16)
        for f in ("cpus_per_task", "ntasks_per_node", "cpus_per_gpu")
    },
    **{
        f: _model(GresRequest, partial(parse_gpus, field=f))
        for f in ("gpus", "gpus_per_node", "gpus_per_task")
    },
    "gres": _gres,
    "exclusive": _exclusive,
    **{f: partial(_bool, field=f) for f in ("requeue", "hold")},
    "signal": _model(SignalSpec, SignalSpec.parse),
    "nice": partial(check_int, field="nice", minimum=-_NICE_LIMIT, maximum=_NICE_LIMIT),
    **{f: partial(_moment, field=f) for f in ("begin", "deadline")},
    "mail_types": _mail_types,
    "environment": _environment,
    "dependency": _dependency,
    "array": _model(ArraySpec, ArraySpec.parse),
    "submission_key": _submission_key,
    "argv": _argv,
    "het": _het,
}
_EMPTY_DEFAULTS: Final[Mapping[str, Any]] = {
    "gres": (),
    "mail_types": (),
    "environment": {},
    "het": (),
}


def normalize_field(field: str, value: object) -> Any:
    """Validate one :class:`JobSpec` field's value and return its normalized form.

    This is the code the spec itself runs for the field, so a builder can check a value the
    moment it is set. Raises :class:`JobSpecError` naming ``field`` (or ``field`` unknown).

    Example::

        >>> normalize_field("memory_per_cpu", "4GB")
        4096
    """
    normalizer = _NORMALIZERS.get(field)
    if normalizer is None:
        raise JobSpecError(field, "is not a job spec field")
    if value is None:
        return _EMPTY_DEFAULTS.get(field)
    try:
        return normalizer(value)
    except JobSpecError as exc:
        if exc.field == field:
            raise
        raise JobSpecError(field, exc.message) from None


# ------------------------------------------------------------------------------ models -------
_JsonText = PlainSerializer(str, return_type=str, when_used="json")
TimeLimit = Annotated[
    timedelta | InfiniteType, PlainSerializer(format_time_limit, return_type=str, when_used="json")
]


class JobSpec(SpecModel):
    """Everything about a job submission, versionless and normalized. See the module docstring.

    Units: ``memory_per_cpu``/``memory_per_node`` in MiB; ``time_limit`` a whole-minute
    timedelta or ``INFINITE``; ``begin`` an aware UTC datetime (whole seconds); ``nodes`` the
    minimum node count and ``max_nodes`` the maximum (``None``: same as ``nodes``); ``gpus`` a
    per-job request, ``gres`` per-node requests. ``argv`` is the script's argv (``argv[0]``
    its name, then ``$1``...). ``het`` holds the further components of a heterogeneous job
    (each a spec without components of its own). ``submission_key`` is set by the client to
    find a job again after an uncertain submission (no duplicates on retry).
    """

    script: str
    name: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    comment: str | None = None
    constraint: str | None = None
    time_limit: TimeLimit | None = None
    time_min: TimeLimit | None = None
    memory_per_cpu: int | None = None
    memory_per_node: int | None = None
    memory_per_gpu: int | None = None
    cpus_per_task: int | None = None
    cpus_per_gpu: int | None = None
    ntasks: int | None = None
    ntasks_per_node: int | None = None
    nodes: int | None = None
    max_nodes: int | None = None
    gpus: GresRequest | None = None
    gpus_per_node: GresRequest | None = None
    gpus_per_task: GresRequest | None = None
    gres: tuple[GresRequest, ...] = ()
    exclusive: Exclusive | None = None
    requeue: bool | None = None
    hold: bool | None = None
    signal: SignalSpec | None = None
    nice: int | None = None
    begin: datetime | None = None
    deadline: datetime | None = None
    mail_types: tuple[MailType, ...] = ()
    mail_user: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    working_directory: str | None = None
    output: str | None = None
    error: str | None = None
    input: str | None = None
    licenses: str | None = None
    reservation: str | None = None
    wckey: str | None = None
    argv: tuple[str, ...] | None = None
    dependency: Annotated[Dependency, _JsonText] | None = None
    array: Annotated[ArraySpec, _JsonText] | None = None
    submission_key: str | None = None
    het: tuple[JobSpec, ...] = ()

    @field_validator("*", mode="before")
    @classmethod
    def _normalize(cls, value: object, info: ValidationInfo) -> Any:
        assert info.field_name is not None
        return normalize_field(info.field_name, value)

    @model_validator(mode="after")
    def _check_combination(self) -> JobSpec:
        memory = [f for f in _MEMORY_FIELDS if getattr(self, f) is not None]
        if len(memory) > 1:
            raise JobSpecError(memory[-1], f"{' and '.join(memory)} are mutually exclusive")
        if self.gpus_per_node is not None and any(g.name == "gpu" for g in self.gres):
            raise JobSpecError("gpus_per_node", "excludes a 'gpu' request in gres")
        if self.max_nodes is not None and (self.nodes is None or self.max_nodes < self.nodes):
            raise JobSpecError("max_nodes", "needs nodes set, and must be at least nodes")
        return self

    @classmethod
    def from_sbatch(
        cls,
        script: str | os.PathLike[str],
        args: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
        *,
        cwd: str | os.PathLike[str] | None = None,
    ) -> JobSpec:
        """The job ``sbatch [args] script`` would submit, read the way ``sbatch`` reads it.

        ``script`` is the text, or a path (then ``argv[0]``). ``args`` are sbatch's
        command-line words: options (``:`` between het components), then the script's
        arguments. ``environ`` (default ``os.environ``) gives ``SBATCH_*`` options and what
        ``--export`` sends; ``cwd`` (default: the current directory) is the default
        ``--chdir``. Directive rules, precedence and het jobs: :mod:`slurm_core.jobs._sbatch`.
        Raises :class:`JobSpecError` naming the option and line for what cannot be sent.

        Example::

            spec = JobSpec.from_sbatch("#!/bin/bash\n#SBATCH --mem=4G -t 10\nsrun app\n",
                                       ["--partition=debug"], environ={})
            spec.memory_per_node, spec.partition          # 4096, 'debug'
        """
        text, path = load_script(script)
        home = os.fspath(cwd) if cwd is not None else None
        env = os.environ if environ is None else environ
        specs = []
        for settings in read_sbatch(text, args, env, cwd=home, argv0=path):
            try:
                specs.append(
                    cls.model_validate(settings.validated(normalize_field) | {"script": text})
                )
            except JobSpecError as exc:
                raise settings.blame(exc) from None
        return specs[0].replace(het=specs[1:]) if len(specs) > 1 else specs[0]

    def replace(self, **changes: Any) -> JobSpec:
        """A copy with ``changes`` applied and validated (``pydantic``'s ``model_copy`` is not).

        Example::

            keyed = spec.replace(submission_key="3f2a9c")
        """
        return type(self).model_validate({**dict(self), **changes})


_MEMORY_FIELDS: Final = ("memory_per_cpu", "memory_per_node", "memory_per_gpu")


class SubmittedJob(BaseModel):
    """What a successful submission returns: the job id (the array or het leader id), the
    batch step id, slurmrestd's warnings, and the submission key the job carries.
    ``attached`` is true when ``execute(attach=True)`` found the job already there (nothing
    was submitted)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: int
    step_id: str | None = None
    warnings: list[str] = []
    submission_key: str | None = None
    attached: bool = False
