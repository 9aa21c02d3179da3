"""What each slurmrestd version writes around the objects, and request bodies decoded.

Objects themselves are encoded by :mod:`slurm_core._versions._encode`; this module adds
the envelope (``meta``, ``errors``, ``warnings``, ``last_update``...), the error styles
(22.05's HTTP 500 with an error number; 24.11's 404/422/511), and reads request bodies
with the client's own tolerant decoders (:mod:`slurm_core._versions._decode`), so plain
and wrapped numbers are both accepted, as slurmrestd does.
"""

from __future__ import annotations

import re
from typing import Any

from ..._versions._decode import WireError, boolean, count, minutes, text
from ..._versions._encode import Wire, wrap
from ...models import INFINITE
from ._cluster import SubmitRequest
from ._state import FakeJob, Reject

__all__ = [
    "decode_node_update",
    "decode_submit",
    "decode_update",
    "envelope",
    "error_body",
    "error_status",
    "minor",
    "release",
]

_RELEASES = {
    38: ("22", "05", "8"),
    39: ("23", "11", "10"),
    40: ("24", "11", "5"),
    41: ("24", "11", "5"),
    42: ("24", "11", "5"),
    43: ("25", "05", "3"),
    44: ("25", "11", "0"),
    45: ("26", "05", "0"),
}


def minor(version: str) -> int:
    """``"v0.0.42"`` -> ``42``."""
    return int(version.rsplit(".", 1)[1])


def release(version: str) -> str:
    """The Slurm release the fake plays for ``version`` (``"24.11.5"``)."""
    return ".".join(_RELEASES[minor(version)])


def _meta(version: str, user: str, cluster: str) -> Wire:
    major, month, micro = _RELEASES[minor(version)]
    if minor(version) <= 39:
        plugin = {"type": f"openapi/{version}", "name": f"Slurm OpenAPI {version}"}
        if minor(version) == 39:
            plugin["data_parser"] = f"data_parser/{version}"
        return {
            "plugin": plugin,
            "Slurm": {
                # the v0.0.38 document says strings (22.05 sends numbers), v0.0.39 numbers
                "version": (
                    {"major": major, "micro": micro, "minor": month}
                    if minor(version) == 38
                    else {"major": int(major), "micro": int(micro), "minor": int(month)}
                ),
                "release": release(version),
            },
        }
    return {
        "plugin": {
            "type": "openapi/slurmctld",
            "name": "Slurm OpenAPI slurmctld",
            "data_parser": f"data_parser/{version}",
            "accounting_storage": "accounting_storage/slurmdbd",
        },
        "client": {"source": "[fake]:0", "user": user, "group": user},
        "command": [],
        "slurm": {
            "version": {"major": major, "micro": micro, "minor": month},
            "release": release(version),
            "cluster": cluster,
        },
    }


def envelope(
    version: str,
    user: str,
    cluster: str,
    body: Wire | None = None,
    *,
    errors: list[Wire] | None = None,
    warnings: list[Wire] | None = None,
    last_update: int | None = None,
) -> Wire:
    """``body`` with this version's ``meta``, ``errors`` and (v0.0.39+) ``warnings``."""
    out: Wire = dict(body or {})
    out["meta"] = _meta(version, user, cluster)
    out["errors"] = errors or []
    if minor(version) >= 39:
        out["warnings"] = warnings or []
    if last_update is not None and minor(version) >= 40:
        if "jobs" in out:  # only job answers carry it (recorded 24.11, 26.05)
            out["last_backfill"] = wrap(0)
        out["last_update"] = wrap(last_update)
    return out


def error_entry(reject: Reject) -> Wire:
    """One ``errors`` item."""
    return {
        "description": reject.description,
        "error_number": reject.errno,
        "error": reject.error,
        "source": "fake-slurmrestd",
    }


def error_status(version: str, reject: Reject) -> int:
    """22.05 (v0.0.38) and 23.x (v0.0.39) answer most refusals with 500 (parse failures 400)."""
    if minor(version) <= 39 and reject.status not in (400, 401, 511):  # 400: parse failures
        return 500
    return reject.status


def error_body(
    version: str,
    user: str,
    cluster: str,
    reject: Reject,
    last_update: int | None = None,
    **extra: Any,
) -> Wire:
    """The error response body: the envelope with one error entry."""
    errors = [error_entry(r) for r in (reject, *reject.also)]
    return envelope(version, user, cluster, extra or None, errors=errors, last_update=last_update)


def update_time(version: str, value: str, now: int) -> int | None:
    """The ``update_time`` query as epoch seconds (``None``: not given).

    v0.0.40/41 refuse a plain epoch (422) and take Slurm's ``now-<seconds>``; the others
    take both.
    """
    if not value:
        return None
    relative = re.fullmatch(r"now-([0-9]+)", value.strip())
    if relative:
        return now - int(relative.group(1))
    if re.fullmatch(r"[0-9]+", value) and minor(version) not in (40, 41):
        return int(value)
    query = Reject(9000, _QUERY, "Rejecting request. Failure parsing query.", 422)
    convert = "Unable to convert Data type"
    raise Reject(9202, convert, f"Parsing of {value} for timestamp failed", 422, also=(query,))


_QUERY = "Query empty or not RFC7320 compliant"


def log_paths(version: str, job: FakeJob, wire: Wire) -> Wire:
    """22.05 and 26.05 send ``""`` for a path not given; 26.05 adds ``std*_expanded``."""
    if minor(version) <= 38 or minor(version) >= 43:
        for key in ("standard_output", "standard_error", "standard_input"):
            wire.setdefault(key, "")
    if minor(version) >= 43:
        _, err, inp = job.patterns
        wire["stdout_expanded"] = job.standard_output or ""
        wire["stderr_expanded"] = (job.standard_error or "") if err else ""
        wire["stdin_expanded"] = (job.standard_input or "") if inp else ""
    return wire


# ---------------------------------------------------------------- request bodies -------------
def _bad(description: str) -> Reject:
    return Reject(9002, "Unable to parse job description", description, 400)


def _gpus(job: Wire) -> int:
    """GPUs per job: ``tres_per_job``/``tres_per_node`` (``gres/gpu[:type]:N``), or
    v0.0.38's ``gpus`` (``[type:]N``) and ``gres`` (``gpu[:type]:N``, per node)."""
    total = 0
    nodes = _min_nodes(job) or 1
    for key, scale, any_item in (
        ("tres_per_job", 1, False),
        ("gpus", 1, True),
        ("tres_per_node", nodes, False),
        ("gres", nodes, False),
    ):
        for item in (text(job.get(key), key) or "").split(","):
            if item and (any_item or "gpu" in item):
                last = item.rsplit(":", 1)[-1]
                total += (int(last) if last.isdigit() else 1) * scale
    return total


def _tres_per(job: Wire) -> dict[str, str]:
    """``tres_per_*`` as slurmctld shows them: ``gpu:1`` becomes ``gres/gpu:1``; v0.0.38's
    ``gpus`` (``[type:]N``, per job) is shown as 22.05 does, ``gres:gpu[:type]:N``."""
    out = {}
    for scope in ("job", "node", "task", "socket"):
        value = text(job.get(f"tres_per_{scope}"), f"tres_per_{scope}")
        if value:
            items = (f"gres/{i}" if i.startswith("gpu") else i for i in value.split(","))
            out[scope] = ",".join(items)
    gpus = text(job.get("gpus"), "gpus") if isinstance(job.get("gpus"), str) else None
    if gpus and "job" not in out:
        out["job"] = f"gres:gpu:{gpus}"
    return out


def _min_nodes(job: Wire) -> int | None:
    value = job.get("minimum_nodes")
    if type(value) is int:
        return value
    nodes = job.get("nodes")
    if type(nodes) is list and nodes:  # v0.0.38: [min, max]
        return count(nodes[0], "nodes")
    if type(nodes) is str and nodes:
        head = re.match(r"\d+", nodes)
        return int(head.group()) if head else None
    return count(nodes, "nodes") if type(nodes) in (int, dict) else None


def _node_names(value: Any) -> tuple[str, ...]:
    """``required_nodes``: a list (v0.0.40+) or a comma string."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return ()
    return tuple(str(v).strip() for v in value if str(v).strip())


def _environment(value: Any) -> dict[str, str]:
    if isinstance(value, dict):  # v0.0.38
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return dict(str(item).partition("=")[::2] for item in value)
    return {}


def _minutes_of(value: Any, path: str) -> int | Any:
    limit = minutes(value, path)
    if limit is None or limit is INFINITE:
        return limit
    return int(limit.total_seconds() // 60)


def _begin(value: Any, now: int) -> int:
    """``begin_time``: an epoch (plain or wrapped), or 22.05's ``"now+<seconds>"``."""
    if isinstance(value, str) and value.strip().startswith("now"):
        ahead = re.fullmatch(r"now(?:\+(\d+))?", value.strip())
        if ahead is None:
            raise WireError("begin_time", f"expected now+<seconds>, got {value!r}")
        return now + int(ahead.group(1) or 0)
    return count(value, "begin_time") or 0


def decode_submit(body: Any, now: int) -> SubmitRequest:
    """``POST job/submit`` of any version (script beside or inside ``job``)."""
    if isinstance(body, dict) and "jobs" in body and "job" not in body:
        raise _bad("heterogeneous jobs ('jobs') are not supported by FakeSlurmServer")
    if not isinstance(body, dict) or not isinstance(body.get("job"), dict):
        raise _bad("expected an object with a 'job' object")
    job: Wire = body["job"]
    script = job.get("script", body.get("script"))
    if not isinstance(script, str) or not script.startswith("#!"):
        raise Reject(2009, "Batch job script missing", "Batch job submission failed")
    try:
        return SubmitRequest(
            script=script,
            name=text(job.get("name"), "name") or "sbatch",
            partition=text(job.get("partition"), "partition"),
            account=text(job.get("account"), "account"),
            qos=text(job.get("qos"), "qos"),
            comment=text(job.get("comment"), "comment"),
            working_directory=text(
                job.get("current_working_directory"), "current_working_directory"
            ),
            standard_output=text(job.get("standard_output"), "standard_output"),
            standard_error=text(job.get("standard_error"), "standard_error"),
            standard_input=text(job.get("standard_input"), "standard_input"),
            environment=_environment(job.get("environment")),
            tasks=count(job.get("tasks"), "tasks"),
            cpus_per_task=count(job.get("cpus_per_task"), "cpus_per_task"),
            min_nodes=_min_nodes(job),
            memory_per_cpu=count(job.get("memory_per_cpu"), "memory_per_cpu"),
            memory_per_node=count(job.get("memory_per_node"), "memory_per_node"),
            gpus=_gpus(job),
            time_limit=_minutes_of(job.get("time_limit"), "time_limit"),
            dependency=text(job.get("dependency"), "dependency"),
            array=text(job.get("array"), "array"),
            begin_time=_begin(job.get("begin_time"), now),
            hold=bool(boolean(job.get("hold"), "hold")),
            nice=count(job.get("nice"), "nice"),
            priority=count(job.get("priority"), "priority"),
            requeue=boolean(job.get("requeue"), "requeue"),
            reservation=text(job.get("reservation"), "reservation"),
            licenses=text(job.get("licenses"), "licenses"),
            constraints=text(job.get("constraints"), "constraints"),
            required_nodes=_node_names(job.get("required_nodes")),
            tres_per=_tres_per(job),
        )
    except (WireError, ValueError) as exc:
        raise _bad(f"job.{exc}") from None


def decode_update(body: Any) -> dict[str, Any]:
    """``POST job/{id}``: flat (most versions) or wrapped as ``{"job": {...}}`` (v0.0.39)."""
    if isinstance(body, dict) and set(body) == {"job"} and isinstance(body["job"], dict):
        body = body["job"]
    if not isinstance(body, dict):
        raise _bad("expected a job description object")
    out: dict[str, Any] = {}
    try:
        if "hold" in body:
            out["hold"] = bool(boolean(body["hold"], "hold"))
        if "time_limit" in body:
            out["time_limit"] = _minutes_of(body["time_limit"], "time_limit")
        if "priority" in body:
            out["priority"] = count(body["priority"], "priority")
        if "nice" in body:
            out["nice"] = count(body["nice"], "nice")
        for key in ("name", "comment", "account", "qos", "partition"):
            if key in body:
                out[key] = text(body[key], key)
    except WireError as exc:
        raise _bad(str(exc)) from None
    return out


_NODE_STATES = ("RESUME", "UNDRAIN", "IDLE", "DRAIN", "FAIL", "DOWN")


def decode_node_update(version: str, name: str, body: Any) -> dict[str, Any]:
    """``POST node/{name}``: ``state`` flags checked, ``weight`` plain or wrapped.

    An unknown state is refused as the data parser and slurmctld do (recorded on 24.11 and
    26.05): error 9207 for the flag, then 2028 (v0.0.41/42) or 2180 (v0.0.43+).
    """
    if not isinstance(body, dict):
        raise Reject(9001, "Unable to parse request", "expected a node update object", 400)
    out = dict(body)
    states = body.get("state", [])
    states = states.split(",") if isinstance(states, str) else states
    if not isinstance(states, list):
        raise Reject(9208, "Data parser expected a list", "state: expected a list", 400)
    unknown = [s for s in states if str(s).upper() not in _NODE_STATES]
    if unknown:
        flag = "Data parser unable to parse invalid flag"
        parsed = Reject(9207, flag, f'Unknown flag "{unknown[0]}"')
        failure = f"Failure to update node {name}"
        if minor(version) <= 40:
            rest = Reject(9207, flag, "Parsing flags failed")
        elif minor(version) <= 42:
            rest = Reject(2028, "Invalid node state specified", failure)
        else:
            rest = Reject(2180, "Invalid node state transition", failure)
        raise Reject(parsed.errno, parsed.error, parsed.description, also=(rest,))
    out["state"] = [str(s).upper() for s in states]
    try:
        if body.get("weight") is not None:
            weight = count(body["weight"], "weight")
            out["weight"] = None if weight is None else int(weight)
    except (WireError, ValueError) as exc:
        raise Reject(9202, "Unable to convert Data type", str(exc), 400) from None
    return out
