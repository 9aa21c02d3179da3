"""Job submission for every REST API version: :class:`JobSpec` -> request body, and back.

One table-driven translator; :class:`SubmitFormat` holds the few things that differ, as
found in each version's OpenAPI ``job_desc_msg`` and on real slurmrestd 22.05, 24.11 and
26.05:

================  ===========================  ===========================================
spec field        v0.0.38 (Slurm 22.05)        v0.0.39+ (v0.0.40+ checked on 24.11, 26.05)
================  ===========================  ===========================================
numbers           plain; unlimited 0xFFFFFFFF  ``{"set", "infinite", "number"}``
environment       ``{"K": "v"}``               ``["K=v"]``
script            beside ``job``               v0.0.39: beside; v0.0.40+: in ``job``
nodes/max_nodes   ``nodes: [min, max]``        ``minimum_nodes``/``maximum_nodes``
                  (exactly two items;
                  ``"N-N"`` for max == min)
gpus              ``gpus: "[type:]N"``         ``tres_per_job: "gres/gpu[:type]:N"``
gres              ``gres: "gpu:1,..."``        ``tres_per_node: "gres/gpu:1,..."``
exclusive         ``exclusive: "exclusive"``   ``shared: ["none"|"user"|"mcs"]``
                  / ``"user"`` / ``"mcs"``
                  (``"true"`` is refused)
signal            ``signal: "[R:]SIG@secs"``   ``kill_warning_signal``/``_delay``/``_flags``
                  (``B:`` is refused; a        (``B:`` -> ``BATCH_JOB``, ``R:`` ->
                  TrainingJob: its watchdog)   ``RESERVATION_JOB``)
requeue=False     ignored by 22.05: refused    ``requeue: false``
begin             ``"now+<seconds>"`` (an      v0.0.39: epoch; v0.0.40+: wrapped epoch
                  epoch is refused, though
                  the schema says integer;
                  ISO text is read in the
                  server's time zone)
mail_types        ``"END,FAIL"``               ``["END", "FAIL"]``, ``TIME_LIMIT_90`` ->
                                               ``"TIME=90%"``, ``ALL`` expanded
================  ===========================  ===========================================

What a version refuses or ignores raises :class:`~slurm_core.UnsupportedOperationError`
before anything is sent (``operation``: :data:`SIGNAL_BATCH_OPERATION`,
:data:`NO_REQUEUE_OPERATION`, :data:`SCRIPT_ARGS_OPERATION`: 22.05's slurmrestd crashes on
``argv``, so v0.0.38 never gets it; only ``argv[0]``, the script's name, is then lost).
Other fields map by name (``constraint`` -> ``constraints``,
``ntasks[_per_node]`` -> ``tasks[_per_node]``, ``working_directory`` ->
``current_working_directory``, ``output``/``error`` -> ``standard_output``/``_error``;
``dependency``, ``array`` as text); the submission key rides in ``comment``.
:func:`reported_fields` reads a job record back into spec terms.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

import httpx

from .._errmap import parse_error_entries
from .._exceptions import UnsupportedOperationError
from ..jobs._units import ArraySpec, GresRequest, parse_gres
from ..jobs.dependency import Dependency
from ..jobs.spec import Exclusive, JobSpec, MailType, SignalSpec, SubmittedJob
from ..jobs.submission import comment_with_key, split_comment
from ..jobs.training import watchdog_instead
from ..models import INFINITE, Job
from ._decode import boolean, count, text
from ._responses import ResponseParser
from ._validate import as_minutes


class WireFlags(Protocol):
    """What the submission format is built from: an adapter's class attributes."""

    @property
    def version(self) -> str: ...
    @property
    def number_wrappers(self) -> bool: ...
    @property
    def environment_as_object(self) -> bool: ...
    @property
    def script_in_job(self) -> bool: ...
    def other_versions(self) -> Sequence[str]: ...


__all__ = [
    "DEFAULT_PATH",
    "NO_REQUEUE_OPERATION",
    "SCRIPT_ARGS_OPERATION",
    "SIGNAL_BATCH_OPERATION",
    "SubmitFormat",
    "place_body",
    "reported_fields",
    "submit_body",
    "submit_format",
    "submitted",
    "submitted_from",
]

DEFAULT_PATH: Final = "/bin:/usr/bin"
"""``PATH`` given to a job whose environment does not set one."""
SIGNAL_BATCH_OPERATION: Final = "jobs.submit with signal 'B:' (batch shell only)"
"""``UnsupportedOperationError.operation`` when a version cannot signal the batch shell."""
NO_REQUEUE_OPERATION: Final = "jobs.submit with requeue=False"
"""``UnsupportedOperationError.operation`` when a version cannot refuse requeueing."""
SCRIPT_ARGS_OPERATION: Final = "jobs.submit with script arguments (argv)"
"""``UnsupportedOperationError.operation`` when a version cannot pass script arguments."""


@dataclasses.dataclass(frozen=True)
class SubmitFormat:
    """What differs between versions in a submission body (see the module docstring)."""

    version: str
    wrapped_numbers: bool
    environment_as_object: bool
    script_in_job: bool
    legacy_options: bool
    """v0.0.38: the sbatch-option style fields (``nodes`` list, ``gpus``, ``exclusive``...)."""
    wrapped_begin: bool
    """v0.0.40+: ``begin_time`` is a number wrapper (v0.0.39: a plain epoch)."""
    other_versions: tuple[str, ...] = ()
    """The other versions the client speaks (a refusal names where an option works)."""

    def number(self, value: object) -> Any:
        if not self.wrapped_numbers:  # 22.05 takes "UNLIMITED" too; the schema says integer
            return _INFINITE32 if value is INFINITE else value
        if value is INFINITE:
            return {"set": False, "infinite": True, "number": 0}
        return {"set": True, "infinite": False, "number": value}


_INFINITE32: Final = 0xFFFFFFFF  # Slurm's INFINITE for 32-bit numbers
_FORMATS: dict[str, SubmitFormat] = {}


def submit_format(adapter: WireFlags) -> SubmitFormat:
    """The submission format of ``adapter``'s version (built from its class attributes)."""
    fmt = _FORMATS.get(adapter.version)
    if fmt is None:
        legacy = not adapter.number_wrappers
        fmt = _FORMATS[adapter.version] = SubmitFormat(
            version=adapter.version,
            wrapped_numbers=adapter.number_wrappers,
            environment_as_object=adapter.environment_as_object,
            script_in_job=adapter.script_in_job,
            legacy_options=legacy,
            wrapped_begin=not legacy and adapter.version != "v0.0.39",
            other_versions=tuple(adapter.other_versions()),
        )
    return fmt


# ------------------------------------------------------------------ spec -> job_desc ------
_BY_NAME: Final = {  # spec field -> wire name, value sent as it is
    "name": "name",
    "partition": "partition",
    "account": "account",
    "qos": "qos",
    "constraint": "constraints",
    "mail_user": "mail_user",
    "working_directory": "current_working_directory",
    "output": "standard_output",
    "error": "standard_error",
    "input": "standard_input",
    "licenses": "licenses",
    "reservation": "reservation",
    "wckey": "wckey",
    "cpus_per_task": "cpus_per_task",
    "ntasks": "tasks",
    "ntasks_per_node": "tasks_per_node",
    "requeue": "requeue",
    "hold": "hold",
    "nice": "nice",
}
_NUMBERS: Final = ("memory_per_cpu", "memory_per_node")  # wrapped from v0.0.39 on
_TEXTS: Final = ("dependency", "array")  # str() of the parsed expression
_LEGACY_EXCLUSIVE: Final = {Exclusive.NODE: "exclusive", Exclusive.USER: "user"}
_SHARED: Final = {Exclusive.NODE: "none", Exclusive.USER: "user", Exclusive.MCS: "mcs"}
_MAIL_WIRE: Final = {
    MailType.TIME_LIMIT: "TIME=100%",
    MailType.TIME_LIMIT_90: "TIME=90%",
    MailType.TIME_LIMIT_80: "TIME=80%",
    MailType.TIME_LIMIT_50: "TIME=50%",
}
_MAIL_ALL: Final = ("BEGIN", "END", "FAIL", "REQUEUE", "STAGE_OUT", "INVALID_DEPENDENCY")


def _mail_list(types: Sequence[MailType]) -> list[str]:
    out: list[str] = []
    for t in types:
        for name in _MAIL_ALL if t is MailType.ALL else (_MAIL_WIRE.get(t, t.value),):
            if name not in out:
                out.append(name)
    return out


def _unsupported(fmt: SubmitFormat, operation: str) -> Exception:
    return UnsupportedOperationError(operation, fmt.version, list(fmt.other_versions))


def _signal(sig: SignalSpec, fmt: SubmitFormat) -> dict[str, Any]:
    if fmt.legacy_options:
        if sig.batch_only:
            raise _unsupported(fmt, SIGNAL_BATCH_OPERATION)
        return {"signal": ("R:" if sig.reservation else "") + f"{sig.signal}@{sig.delay}"}
    flags = (["BATCH_JOB"] if sig.batch_only else []) + (
        ["RESERVATION_JOB"] if sig.reservation else []
    )
    out: dict[str, Any] = {
        "kill_warning_signal": sig.signal,
        "kill_warning_delay": fmt.number(sig.delay),
    }
    if flags:
        out["kill_warning_flags"] = flags
    return out


def _begin(when: datetime, fmt: SubmitFormat, now: float) -> Any:
    epoch = int(when.timestamp())
    if fmt.legacy_options:
        # 22.05 refuses an epoch and reads ISO text in its own time zone: say "in N s".
        ahead = math.ceil(epoch - now)
        return f"now+{ahead}" if ahead > 0 else "now"
    return fmt.number(epoch) if fmt.wrapped_begin else epoch


def _per_gpu(spec: JobSpec, fmt: SubmitFormat) -> dict[str, Any]:
    """The per-GPU and per-task GPU counts: v0.0.38's own fields, TRES strings after."""
    legacy, out = fmt.legacy_options, {}
    for field, wire, tres in (
        ("gpus_per_node", "gpus_per_node", "tres_per_node"),
        ("gpus_per_task", "gpus_per_task", "tres_per_task"),
    ):
        g = getattr(spec, field)
        if g is not None:
            if legacy:
                out[wire] = f"{g.type}:{g.count}" if g.type else str(g.count)
            elif tres == "tres_per_task":  # "gres/gpu=1", as sbatch sends it (24.11)
                out[tres] = f"gres/gpu{':' + g.type if g.type else ''}={g.count}"
            else:
                out[tres] = f"gres/{g}"
    for field, wire, tres in (
        ("cpus_per_gpu", "cpus_per_gpu", "cpus_per_tres"),
        ("memory_per_gpu", "memory_per_gpu", "memory_per_tres"),
    ):
        n = getattr(spec, field)
        if n is not None:  # v0.0.38's cpus_per_gpu is a string, memory_per_gpu a number
            out.update(
                {wire: str(n) if wire == "cpus_per_gpu" else n}
                if legacy
                else {tres: f"gres/gpu:{n}"}
            )
    return out


def _special(spec: JobSpec, fmt: SubmitFormat, now: float) -> dict[str, Any]:
    legacy = fmt.legacy_options
    out: dict[str, Any] = _per_gpu(spec, fmt)
    if legacy and spec.requeue is False:  # 22.05 takes "requeue": false and ignores it
        raise _unsupported(fmt, NO_REQUEUE_OPERATION)
    if spec.time_limit is not None:
        out["time_limit"] = fmt.number(as_minutes(spec.time_limit))
    if spec.time_min is not None:
        out["time_minimum"] = fmt.number(as_minutes(spec.time_min))
    if spec.argv is not None:
        # 22.05's slurmrestd frees a job's argv twice and dies (seen here): never send it
        if legacy and len(spec.argv) > 1:
            raise _unsupported(fmt, SCRIPT_ARGS_OPERATION)
        if not legacy:
            out["argv"] = list(spec.argv)
    if spec.nodes is not None:
        high = spec.max_nodes if spec.max_nodes is not None else spec.nodes
        if legacy and spec.max_nodes == spec.nodes:
            # "-N 2-2": a [2, 2] list leaves 22.05's maximum unset (0); text sets it
            out["nodes"] = f"{spec.nodes}-{high}"
        elif legacy:
            out["nodes"] = [spec.nodes, high]
        else:
            out["minimum_nodes"], out["maximum_nodes"] = spec.nodes, high
    if spec.gpus is not None:
        g = spec.gpus
        if legacy:
            out["gpus"] = f"{g.type}:{g.count}" if g.type else str(g.count)
        else:
            out["tres_per_job"] = f"gres/{g}"
    if spec.gres:
        per_node = ",".join(str(g) if legacy else f"gres/{g}" for g in spec.gres)
        if not legacy and "tres_per_node" in out:  # gpus_per_node is one more item
            per_node = f"{out['tres_per_node']},{per_node}"
        out["gres" if legacy else "tres_per_node"] = per_node
    if spec.exclusive is not None:
        if legacy:
            out["exclusive"] = _LEGACY_EXCLUSIVE.get(spec.exclusive, spec.exclusive.value)
        else:
            out["shared"] = [_SHARED[spec.exclusive]]
    if spec.signal is not None:
        out.update(_signal(spec.signal, fmt))
    if spec.begin is not None:
        out["begin_time"] = _begin(spec.begin, fmt, now)
    if spec.deadline is not None:  # a plain epoch from v0.0.39 on (never wrapped)
        epoch = int(spec.deadline.timestamp())
        out["deadline"] = _begin(spec.deadline, fmt, now) if legacy else epoch
    if spec.mail_types:
        mail = _mail_list(spec.mail_types)
        out["mail_type"] = ",".join(t.value for t in spec.mail_types) if legacy else mail
    return out


def job_desc(spec: JobSpec, fmt: SubmitFormat, *, now: float | None = None) -> dict[str, Any]:
    """One job description (without script and environment) in ``fmt``'s wire form."""
    values = dict(spec)
    out: dict[str, Any] = {w: values[f] for f, w in _BY_NAME.items() if values[f] is not None}
    out.update({f: fmt.number(values[f]) for f in _NUMBERS if values[f] is not None})
    out.update({f: str(values[f]) for f in _TEXTS if values[f] is not None})
    out.update(_special(spec, fmt, time.time() if now is None else now))
    if spec.submission_key is not None:
        out["comment"] = comment_with_key(spec.comment, spec.submission_key)
    elif spec.comment is not None:
        out["comment"] = spec.comment
    return out


def _with_path(env: Mapping[str, str]) -> dict[str, str]:
    return dict(env) if "PATH" in env else {"PATH": DEFAULT_PATH, **env}


def place_body(
    fmt: SubmitFormat,
    jobs: Sequence[Mapping[str, Any]],
    script: str,
    environments: Sequence[Mapping[str, str]],
    *,
    het: bool = False,
) -> dict[str, Any]:
    """Put job descriptions, the script and environments where ``fmt``'s version wants them.

    ``jobs`` are wire job descriptions (one, or the components of a heterogeneous job);
    ``environments`` one per job. The script goes beside the job(s) in v0.0.38/v0.0.39
    and into the (first) job from v0.0.40 on.
    """
    if not isinstance(script, str) or not script.startswith("#!"):
        raise ValueError("script must be a string starting with '#!' (a batch script)")
    as_object = fmt.environment_as_object
    descs = [
        {**j, "environment": dict(e) if as_object else [f"{k}={v}" for k, v in e.items()]}
        for j, e in zip(jobs, environments, strict=True)
    ]
    if fmt.script_in_job:
        descs[0]["script"] = script
    body: dict[str, Any] = {} if fmt.script_in_job else {"script": script}
    if het:
        body["jobs"] = descs
    else:
        body["job"] = descs[0]
    return body


def submit_body(
    adapter: WireFlags, specs: Sequence[JobSpec], *, now: float | None = None
) -> dict[str, Any]:
    """The ``POST job/submit`` body for one spec, or for the components of a het job.

    A heterogeneous job runs the first component's script; every component carries its
    own environment (``PATH`` added when missing) and the submission key. Raises
    :class:`JobSpecError` or :class:`~slurm_core.UnsupportedOperationError` (e.g. ``B:``
    signals on v0.0.38) before anything is sent.
    """
    if not specs:
        raise ValueError("no job to submit")
    # a spec read from a script with 'hetjob' carries its further components
    specs = [c for s in specs for c in (s.replace(het=()) if s.het else s, *s.het)]
    key = specs[0].submission_key
    specs = [s if s.submission_key == key else s.replace(submission_key=key) for s in specs]
    fmt = submit_format(adapter)
    specs = [watchdog_instead(s) if fmt.legacy_options else s for s in specs]
    descs = [job_desc(s, fmt, now=now) for s in specs]
    envs = [_with_path(s.environment) for s in specs]
    return place_body(fmt, descs, specs[0].script, envs, het=len(specs) > 1)


# ------------------------------------------------------------------ response -> result ----
def submitted(adapter: ResponseParser, response: httpx.Response, key: str | None) -> SubmittedJob:
    """:class:`SubmittedJob` from a 2xx submission answer.

    Warnings collect ``warnings``, ``job_submit_user_msg``, and ``errors`` entries of a
    *successful* answer (22.05 reports a held job as 200 with error 2042 in ``errors``).
    """
    job_id = adapter.parse_submit(response)
    return submitted_from(adapter._body(response, "job submission"), key, job_id)


def submitted_from(data: Mapping[str, Any], key: str | None, job_id: int) -> SubmittedJob:
    """:class:`SubmittedJob` from a decoded answer whose job id is known."""
    raw_result = data.get("result")
    result: dict[str, Any] = raw_result if isinstance(raw_result, dict) else {}
    step = data.get("step_id") or result.get("step_id")
    errors, warnings = parse_error_entries(data)
    notes = [e.description or e.error or "" for e in (*errors, *warnings)]
    for msg in (data.get("job_submit_user_msg"), result.get("job_submit_user_msg")):
        if isinstance(msg, str) and msg.strip():
            notes.append(msg.strip())
    kept = [n for n in notes if n and not any(n in other for other in notes if other != n)]
    return SubmittedJob(
        job_id=job_id,
        step_id=str(step).lower() if step is not None else None,
        warnings=list(dict.fromkeys(kept)),
        submission_key=key,
    )


# ------------------------------------------------------------------ record -> spec --------
def _gres_items(value: Any) -> tuple[GresRequest, ...]:
    parts = [p.strip() for p in (text(value) or "").split(",") if p.strip()]
    # "gres/gpu:1" from v0.0.39 on, "gres:gpu:1" from 22.05
    parts = [p.removeprefix("gres/").removeprefix("gres:") for p in parts]
    return parse_gres(",".join(parts)) if parts else ()


def _exclusive(value: Any) -> Exclusive | None:
    back = {wire: e for e, wire in _SHARED.items()}
    return next(
        (back[n] for n in (value if isinstance(value, list) else [value]) if n in back), None
    )


def _mail_types(value: Any) -> tuple[MailType, ...] | None:
    if not isinstance(value, list):
        return None  # v0.0.38 does not report it
    back = {w: t for t, w in _MAIL_WIRE.items()}
    return tuple(sorted({back.get(v) or MailType(v) for v in value}, key=list(MailType).index))


_READERS: Final[Mapping[str, Callable[[Job, Mapping[str, Any]], Any]]] = {
    "name": lambda j, r: j.name or None,
    "partition": lambda j, r: j.partition,
    "account": lambda j, r: j.account,
    "qos": lambda j, r: j.qos,
    "comment": lambda j, r: split_comment(j.comment)[0],
    "submission_key": lambda j, r: split_comment(j.comment)[1],
    "time_limit": lambda j, r: j.time_limit,
    "memory_per_cpu": lambda j, r: j.memory_per_cpu,
    "memory_per_node": lambda j, r: j.memory_per_node,
    "cpus_per_task": lambda j, r: j.cpus_per_task or 1,  # v0.0.38 reports 1 as null
    "ntasks": lambda j, r: j.tasks,
    "ntasks_per_node": lambda j, r: count(r.get("tasks_per_node")) or None,
    "nodes": lambda j, r: j.node_count,
    "max_nodes": lambda j, r: count(r.get("max_nodes")) or j.node_count,  # v0.0.38: 0
    "gpus": lambda j, r: (_gres_items(r.get("tres_per_job")) or (None,))[0],
    "gres": lambda j, r: _gres_items(r.get("tres_per_node")),
    "exclusive": lambda j, r: _exclusive(r.get("shared")),
    "requeue": lambda j, r: boolean(r.get("requeue")),
    "hold": lambda j, r: j.hold,
    "nice": lambda j, r: r.get("nice") or 0,
    "begin": lambda j, r: j.eligible_time,
    "mail_types": lambda j, r: _mail_types(r.get("mail_type")),
    "mail_user": lambda j, r: text(r.get("mail_user")),
    "working_directory": lambda j, r: j.working_directory,
    "output": lambda j, r: j.standard_output,
    "error": lambda j, r: j.standard_error,
    "dependency": lambda j, r: Dependency.parse(j.dependency).canonical() if j.dependency else None,
    "array": lambda j, r: ArraySpec.parse(j.array_task_string) if j.array_task_string else None,
}
REPORTED_FIELDS: Final = tuple(_READERS)
"""Spec fields a job record reports back (``script``, ``environment``, ``signal`` are not)."""


def reported_fields(job: Job) -> dict[str, Any]:
    """What ``job``'s record says about the spec fields in :data:`REPORTED_FIELDS`.

    Values are in spec terms (MiB, timedelta, :class:`GresRequest`...). Some are only
    meaningful while the job is pending (``dependency``, ``array``, ``begin``); a version
    that does not report a field gives ``None`` (v0.0.38: ``mail_types``, ``mail_user``;
    v0.0.45: ``exclusive``; v0.0.38 reports an unlimited time limit as ``None``).
    """
    return {field: read(job, job.raw) for field, read in _READERS.items()}
