"""``sbatch``'s option table, and what each option it covers means for a job spec.

The names, short letters and argument kinds are those ``sbatch`` registers (SchedMD's
``src/common/slurm_opt.c``: options with a common or an sbatch setter). Knowing every name
matters even for options slurm-client does not translate: ``getopt_long`` accepts an
unambiguous prefix (``--part=debug``), and ambiguity is decided against the whole table.

An option of the table without a translation is refused with a
:class:`~slurm_core._exceptions.JobSpecError` naming it: never dropped.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs._sbatch_values import sbatch_memory, sbatch_nodes, sbatch_time

__all__ = ["CLIENT_SIDE", "OPTIONS", "SHORT", "Context", "Option", "translate"]

# fmt: off
# name, then "=" (takes an argument), "?" (optional argument, only as --name=value) or
# nothing; "/X" is the short letter. From slurm_opt.c (sbatch's table).
_TABLE: Final = """
account=/A acctg-freq= array=/a batch= bbf= autocomplete= begin=/b bb= consolidate-segments
cluster-constraint= chdir=/D clusters=/M cluster= comment= constraint=/C container=
container-id= runtime= context= contiguous core-spec=/S cores-per-socket= cpu-freq=
cpus-per-gpu= cpus-per-task=/c deadline= delay-boot= dependency=/d distribution=/m error=/e
exclude=/x exclusive? export= export-file= external extra= extra-node-info=/B get-user-env
gid= gpu-bind= tres-bind= gpu-freq= gpus=/G gpus-per-node= gpus-per-socket= gpus-per-task=
tres-per-task= gres= gres-flags= help/h hint= hold/H ignore-pbs input=/i job-name=/J
kill-on-invalid-dep= licenses=/L mail-type= mail-user= mcs-label= oom-kill-step? mem=
mem-bind= mem-per-cpu= mem-per-gpu= mem-update= mincpus= network= nice? no-kill?/k no-requeue
nodefile=/F nodelist=/w nodes=/N ntasks=/n ntasks-per-core= ntasks-per-node=
ntasks-per-socket= ntasks-per-tres= ntasks-per-gpu= open-mode= output=/o overcommit/O
oversubscribe/s parsable partition=/p prefer= priority= profile= propagate? qos=/q quiet/Q
reboot requeue? reservation= resources= resv-ports? segment= signal= sockets-per-node=
spread-job spread-segments stepmgr switches= tasks-per-node= test-only thread-spec=
threads-per-core= time=/t time-min= tmp= uid= use-min-nodes usage verbose/v version/V
wait/W wait-all-nodes= wckey= wrap=
"""
# fmt: on


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of the table: ``arg`` is ``"="`` (required), ``"?"`` (optional) or ``""``."""

    name: str
    arg: str
    short: str | None


def _load() -> tuple[dict[str, Option], dict[str, Option]]:
    longs, shorts = {}, {}
    for item in _TABLE.split():
        spec, _, short = item.partition("/")
        arg = spec[-1] if spec[-1] in "=?" else ""
        option = Option(spec.rstrip("=?"), arg, short or None)
        longs[option.name] = option
        if short:
            shorts[short] = option
    return longs, shorts


OPTIONS, SHORT = _load()
"""Every long option by name, and the options with a short letter by that letter."""

CLIENT_SIDE: Final = frozenset({"parsable", "quiet", "verbose"})
"""Options that change what ``sbatch`` prints, not the job: read and ignored."""

ALIASES: Final = {"tasks-per-node": "ntasks-per-node", "no-requeue": "requeue"}
"""Options that set the same thing as another (the later one wins)."""


@dataclasses.dataclass(frozen=True)
class Context:
    """What a translation needs besides the value: the submitting directory and clock."""

    cwd: str
    now: datetime


Translate = Callable[[str | None, Context], Mapping[str, object]]


def _field(field: str) -> Translate:
    return lambda value, ctx: {field: value}


def _memory(field: str, option: str) -> Translate:
    return lambda value, ctx: {field: sbatch_memory(option, value or "")}


def _time_limit(field: str) -> Translate:
    # time_str2mins: "-1", "INFINITE" and "UNLIMITED" all mean no limit
    return lambda value, ctx: {field: "UNLIMITED" if (value or "").strip() == "-1" else value}


def _int(field: str, option: str) -> Translate:
    def parse(value: str | None, ctx: Context) -> Mapping[str, object]:
        text = (value or "").strip()
        if not text.isascii() or not text.isdigit():
            raise JobSpecError(option, f"{value!r} is not a whole number")
        return {field: int(text)}

    return parse


def _nodes(value: str | None, ctx: Context) -> Mapping[str, object]:
    low, high = sbatch_nodes("--nodes", value or "")
    return {"nodes": low, "max_nodes": high}


def _exclusive(value: str | None, ctx: Context) -> Mapping[str, object]:
    word = (value or "exclusive").strip().lower()
    known = {"exclusive": "node", "user": "user", "mcs": "mcs"}
    if word not in known:
        raise JobSpecError(
            "--exclusive", f"{value!r}: slurm-client translates exclusive, user and mcs"
        )
    return {"exclusive": known[word]}


def _requeue(value: str | None, ctx: Context) -> Mapping[str, object]:
    if value:
        raise JobSpecError("--requeue", f"{value!r}: slurm-client does not translate it")
    return {"requeue": True}


def _nice(value: str | None, ctx: Context) -> Mapping[str, object]:
    text = (value or "100").strip()
    sign = text[:1] if text[:1] in "+-" else ""
    if not text[len(sign) :].isdigit():
        raise JobSpecError("--nice", f"{value!r} is not a whole number")
    return {"nice": int(text)}


def _chdir(value: str | None, ctx: Context) -> Mapping[str, object]:
    text = value or ""
    return {"working_directory": text if os.path.isabs(text) else os.path.join(ctx.cwd, text)}


def _moment(field: str, option: str) -> Translate:
    return lambda value, ctx: {field: sbatch_time(option, value or "", ctx.now)}


def _gres(value: str | None, ctx: Context) -> Mapping[str, object]:
    items = [
        i.strip().removeprefix("gres/").removeprefix("gres:") for i in (value or "").split(",")
    ]
    if [i.lower() for i in items] == ["none"]:
        raise JobSpecError("--gres", "'none' (no GRES for steps) is not translated")
    return {"gres": ",".join(items)}


def _mail_type(value: str | None, ctx: Context) -> Mapping[str, object]:
    words = [w.strip() for w in (value or "").split(",") if w.strip()]
    return {"mail_types": [] if [w.upper() for w in words] == ["NONE"] else words}


def _flag(field: str) -> Translate:
    return lambda value, ctx: {field: True}


_TRANSLATIONS: Final[Mapping[str, Translate]] = {
    **{o: _field(f) for o, f in (("job-name", "name"), ("partition", "partition"))},
    **{o: _field(o) for o in ("account", "qos", "comment", "constraint", "licenses")},
    **{o: _field(o) for o in ("reservation", "wckey", "dependency", "array", "signal")},
    **{o: _field(o) for o in ("output", "error", "input")},
    "tasks-per-node": _int("ntasks_per_node", "--tasks-per-node"),
    "mail-user": _field("mail_user"),
    "mail-type": _mail_type,
    "time": _time_limit("time_limit"),
    "time-min": _time_limit("time_min"),
    "nodes": _nodes,
    "ntasks": _int("ntasks", "--ntasks"),
    "ntasks-per-node": _int("ntasks_per_node", "--ntasks-per-node"),
    "cpus-per-task": _int("cpus_per_task", "--cpus-per-task"),
    "cpus-per-gpu": _int("cpus_per_gpu", "--cpus-per-gpu"),
    "mem": _memory("memory_per_node", "--mem"),
    "mem-per-cpu": _memory("memory_per_cpu", "--mem-per-cpu"),
    "mem-per-gpu": _memory("memory_per_gpu", "--mem-per-gpu"),
    "gres": _gres,
    "gpus": _field("gpus"),
    "gpus-per-node": _field("gpus_per_node"),
    "gpus-per-task": _field("gpus_per_task"),
    "exclusive": _exclusive,
    "requeue": _requeue,
    "no-requeue": lambda value, ctx: {"requeue": False},
    "hold": _flag("hold"),
    "nice": _nice,
    "chdir": _chdir,
    "begin": _moment("begin", "--begin"),
    "deadline": _moment("deadline", "--deadline"),
}
MEMORY_OPTIONS: Final = ("mem", "mem-per-cpu", "mem-per-gpu")
"""Mutually exclusive when two are given on the command line or in the script."""


def translate(name: str, value: str | None, ctx: Context) -> Mapping[str, object]:
    """The job spec fields option ``name`` (a table name) sets; refusals name the option."""
    handler = _TRANSLATIONS.get(name)
    if handler is None:
        raise JobSpecError(f"--{name}", _refusal(name))
    return handler(value, ctx)


def _refusal(name: str) -> str:
    if name in ("wrap", "test-only", "wait", "help", "usage", "version"):
        return "is a command-line behaviour of sbatch: use 'slurm-client sbatch' for it"
    if name in ("uid", "gid", "export-file", "get-user-env", "batch", "bbf"):
        return "cannot be expressed over slurmrestd's REST API"
    return "is not translated by slurm-client: remove it, or submit this script with sbatch"
