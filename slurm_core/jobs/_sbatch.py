"""Reading a batch script, its command line and ``SBATCH_*`` variables the way ``sbatch`` does.

The rules are SchedMD's (``src/sbatch/opt.c``), re-expressed:

* **The directive block.** A line is a directive only if it *starts* with ``#SBATCH`` (or
  the old ``#SLURM``). Blank lines and other comments (``#!``, ``# text``, an indented
  ``  #SBATCH``) are skipped; the first line that is anything else is the first command,
  and every directive after it is ignored, as ``sbatch`` ignores it.
* **A directive line** holds options as on a command line, long (``--mem=4G``,
  ``--mem 4G``, ``--part=debug`` as an unambiguous prefix) or short (``-p debug``,
  ``-pdebug``, ``-N2``). Quotes group words, a backslash escapes, an unquoted ``#`` starts
  a comment. A word that is not an option is an error, as in ``sbatch``.
* **Precedence**: directives, then ``SBATCH_*`` variables, then the command line; the later
  wins. (``--mem``/``--mem-per-cpu``/``--mem-per-gpu`` are mutually exclusive when two
  come from the script and command line; a variable yields to either.)
* **Heterogeneous jobs**: ``#SBATCH hetjob`` (or ``packjob``) lines and ``:`` words on the
  command line separate components; variables apply to each.
* **Arguments**: the first command-line word that is not an option (or every word after
  ``--``) starts the script's arguments, the job's ``argv[1:]``.

:func:`read_sbatch` returns, per component, the job spec fields with where each came from;
:meth:`JobSpec.from_sbatch <slurm_core.jobs.spec.JobSpec.from_sbatch>` validates them.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Final

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs._sbatch_script import (
    Origin,
    ignored_directives,
    load_script,
    named,
    script_components,
)
from slurm_core.jobs._sbatch_table import (
    ALIASES,
    CLIENT_SIDE,
    MEMORY_OPTIONS,
    OPTIONS,
    SHORT,
    Context,
    Option,
    translate,
)
from slurm_core.jobs._sbatch_values import export_environment

__all__ = [
    "ENV_OPTIONS",
    "Origin",
    "Settings",
    "ignored_directives",
    "load_script",
    "named",
    "options",
    "read_sbatch",
]

# fmt: off
ENV_OPTIONS: Final = {  # variable -> option, in sbatch's order (opt.c's env_vars)
    "SBATCH_ACCOUNT": "account", "SBATCH_ARRAY_INX": "array", "SBATCH_ACCTG_FREQ": "acctg-freq",
    "SBATCH_BATCH": "batch", "SBATCH_BURST_BUFFER": "bb",
    "SBATCH_CLUSTER_CONSTRAINT": "cluster-constraint", "SBATCH_CLUSTERS": "clusters",
    "SLURM_CLUSTERS": "clusters", "SBATCH_CONSOLIDATE_SEGMENTS": "consolidate-segments",
    "SBATCH_CONTAINER": "container", "SBATCH_CONTAINER_ID": "container-id",
    "SBATCH_RUNTIME": "runtime", "SBATCH_CONSTRAINT": "constraint",
    "SBATCH_CORE_SPEC": "core-spec", "SBATCH_CPU_FREQ_REQ": "cpu-freq",
    "SBATCH_CPUS_PER_GPU": "cpus-per-gpu", "SBATCH_DELAY_BOOT": "delay-boot",
    "SBATCH_DISTRIBUTION": "distribution", "SBATCH_EXCLUSIVE": "exclusive",
    "SBATCH_EXPORT": "export", "SBATCH_GET_USER_ENV": "get-user-env", "SBATCH_GRES": "gres",
    "SBATCH_GRES_FLAGS": "gres-flags", "SBATCH_GPUS": "gpus", "SBATCH_GPU_BIND": "gpu-bind",
    "SBATCH_GPU_FREQ": "gpu-freq", "SBATCH_GPUS_PER_NODE": "gpus-per-node",
    "SBATCH_GPUS_PER_SOCKET": "gpus-per-socket", "SBATCH_GPUS_PER_TASK": "gpus-per-task",
    "SLURM_HINT": "hint", "SBATCH_HINT": "hint", "SBATCH_JOB_NAME": "job-name",
    "SBATCH_MEM_BIND": "mem-bind", "SBATCH_MEM_PER_CPU": "mem-per-cpu",
    "SBATCH_MEM_PER_GPU": "mem-per-gpu", "SBATCH_MEM_PER_NODE": "mem",
    "SBATCH_NETWORK": "network", "SBATCH_NO_KILL": "no-kill", "SBATCH_NO_REQUEUE": "no-requeue",
    "SBATCH_OPEN_MODE": "open-mode", "SBATCH_OVERCOMMIT": "overcommit",
    "SBATCH_PARTITION": "partition", "SBATCH_PROFILE": "profile", "SBATCH_QOS": "qos",
    "SBATCH_REQ_SWITCH": "switches", "SBATCH_REQUEUE": "requeue",
    "SBATCH_RESERVATION": "reservation", "SBATCH_SEGMENT_SIZE": "segment",
    "SBATCH_SIGNAL": "signal", "SBATCH_SPREAD_JOB": "spread-job",
    "SBATCH_SPREAD_SEGMENTS": "spread-segments", "SBATCH_THREAD_SPEC": "thread-spec",
    "SBATCH_THREADS_PER_CORE": "threads-per-core", "SBATCH_TIMELIMIT": "time",
    "SBATCH_TRES_BIND": "tres-bind", "SBATCH_TRES_PER_TASK": "tres-per-task",
    "SBATCH_USE_MIN_NODES": "use-min-nodes", "SBATCH_WAIT": "wait",
    "SBATCH_WAIT_ALL_NODES": "wait-all-nodes", "SBATCH_WAIT4SWITCH": "switches",
    "SBATCH_WCKEY": "wckey", "SBATCH_ERROR": "error", "SBATCH_INPUT": "input",
    "SBATCH_OUTPUT": "output",
}
# fmt: on


@dataclasses.dataclass
class Settings:
    """One job component: spec field -> (raw value, origin), and the script's argv."""

    fields: dict[str, tuple[object, Origin | None]]
    argv: list[str]

    def validated(self, normalize: Callable[[str, object], object]) -> dict[str, object]:
        """The fields through ``normalize(field, value)``; an error names the origin."""
        out: dict[str, object] = {}
        for field, (value, origin) in self.fields.items():
            try:
                out[field] = normalize(field, value)
            except JobSpecError as exc:
                if origin is None:
                    raise
                raise origin.error(exc.message) from None
        if self.argv:
            out["argv"] = normalize("argv", self.argv)
        return out

    def blame(self, exc: JobSpecError) -> JobSpecError:
        """``exc`` (about a spec field) restated with the option and line that set it."""
        origin = self.fields.get(exc.field, (None, None))[1]
        return exc if origin is None else origin.error(exc.message)


# --------------------------------------------------------------------- getopt ----------------
Found = list[tuple[str, str | None, Origin]]


def _long(word: str, words: Sequence[tuple[str, Origin]], i: int) -> tuple[Option, str | None, int]:
    """A ``--name[=value]`` word: the option, its value, and the index of the next word."""
    origin = words[i][1]
    name, eq, value = word[2:].partition("=")
    option = OPTIONS.get(name)
    if option is None:
        matches = [o for n, o in OPTIONS.items() if n.startswith(name)] if name else []
        if len(matches) != 1:
            listed = ", ".join(o.name for o in matches)
            raise origin.error(
                f"option '--{name}' is {f'ambiguous ({listed})' if matches else 'unknown'}"
            )
        option = matches[0]
    if option.arg == "" and eq:
        raise origin.error(f"option '--{option.name}' takes no value")
    if option.arg == "=" and not eq:
        if i + 1 >= len(words):
            raise origin.error(f"option '--{option.name}' needs a value")
        return option, words[i + 1][0], i + 2
    return option, value if eq else None, i + 1


def _short(word: str, words: Sequence[tuple[str, Origin]], i: int, out: Found) -> int:
    """A ``-abc``/``-pdebug``/``-p debug`` word: appends its options, returns the next index."""
    origin = words[i][1]
    for j in range(1, len(word)):
        option = SHORT.get(word[j])
        if option is None:
            raise origin.error(f"unknown option '-{word[j]}'")
        if option.arg == "":
            out.append((option.name, None, origin))
            continue
        tail = word[j + 1 :]
        if not tail and option.arg == "=":
            if i + 1 >= len(words):
                raise origin.error(f"option '-{word[j]}' needs a value")
            out.append((option.name, words[i + 1][0], origin))
            return i + 2
        out.append((option.name, tail or None, origin))
        break
    return i + 1


def options(
    words: Sequence[tuple[str, Origin]],
    *,
    operands: bool,
    spans: list[tuple[str, int, int]] | None = None,
) -> tuple[Found, int, bool]:
    """``getopt_long`` with a leading ``+``: the options, the index of the first operand, and
    whether ``--`` ended them. ``operands=False`` (directives) makes an operand an error.
    ``spans`` collects (option, first word, next word) for each option."""
    out: Found = []
    i = 0
    while i < len(words):
        first, before = i, len(out)
        word, origin = words[i]
        if word == "--":
            return out, i + 1, True
        if not word.startswith("-") or word == "-":
            if operands:
                return out, i, False
            raise origin.error(f"{word!r} is not an option (invalid directive)")
        if word.startswith("--"):
            option, value, i = _long(word, words, i)
            out.append((option.name, value, origin))
        else:
            i = _short(word, words, i, out)
        if spans is not None:
            spans.extend((name, first, i) for name, _, _ in out[before:])
    return out, len(words), False


# --------------------------------------------------------------------- assembling ------------
def _split_command_line(args: Sequence[str]) -> tuple[list[Found], list[str]]:
    """Options per het component (``:`` separates them), then the script's arguments."""
    words = [(a, Origin(named(a), a)) for a in args]
    segments: list[Found] = []
    start = 0
    while True:
        found, end, dashdash = options(words[start:], operands=True)
        segments.append(_stamp(found))
        start += end
        if not dashdash and start < len(words) and words[start][0] == ":":
            start += 1
            continue
        return segments, [w for w, _ in words[start:]]


def _stamp(found: Found) -> Found:
    return [(n, v, dataclasses.replace(o, option=f"--{n}")) for n, v, o in found]


def _env_settings(environ: Mapping[str, str]) -> Found:
    out = []
    for variable, name in ENV_OPTIONS.items():
        if variable in environ:
            value: str | None = environ[variable]
            if OPTIONS[name].arg == "" or (OPTIONS[name].arg == "?" and not value):
                value = None
            out.append((name, value, Origin(f"--{name}", variable, variable=variable)))
    return out


def _component(
    layers: Sequence[tuple[str, Found]],
    ctx: Context,
    environ: Mapping[str, str],
) -> dict[str, tuple[object, Origin | None]]:
    final: dict[str, tuple[str, str | None, Origin, str]] = {}
    for layer, found in layers:
        for name, value, origin in found:
            final[ALIASES.get(name, name)] = (name, value, origin, layer)
    memory_cli = [k for k in MEMORY_OPTIONS if k in final and final[k][3] != "env"]
    if len(memory_cli) > 1:
        raise final[memory_cli[-1]][2].error(
            "--mem, --mem-per-cpu and --mem-per-gpu are mutually exclusive"
        )
    for other in MEMORY_OPTIONS:
        if memory_cli and other != memory_cli[0]:
            final.pop(other, None)
    fields: dict[str, tuple[object, Origin | None]] = {"working_directory": (ctx.cwd, None)}
    export: tuple[str, str | None, Origin, str] | None = final.pop("export", None)
    for name, value, origin, _ in final.values():
        if name in CLIENT_SIDE:
            continue
        try:
            fields.update((f, (v, origin)) for f, v in translate(name, value, ctx).items())
        except JobSpecError as exc:
            raise origin.error(exc.message) from None
    _absolute_streams(fields)
    try:
        env = export_environment("--export", export[1] if export else None, environ)
    except JobSpecError as exc:
        raise (export[2] if export else Origin("--export", "")).error(exc.message) from None
    fields["environment"] = (env, export[2] if export else None)
    return fields


def _absolute_streams(fields: dict[str, tuple[object, Origin | None]]) -> None:
    """sbatch's ``_fullpath``: stdin is ``/dev/null`` unless given, and relative stream
    paths are made absolute against the working directory (26.05 reports them so)."""
    fields.setdefault("input", ("/dev/null", None))
    chdir = str(fields["working_directory"][0])
    for field in ("output", "error", "input"):
        if field in fields:
            value, origin = fields[field]
            if isinstance(value, str) and value and not value.startswith("/"):
                fields[field] = (os.path.join(chdir, value), origin)


def read_sbatch(
    script: str,
    args: Sequence[str],
    environ: Mapping[str, str],
    *,
    cwd: str | None = None,
    now: datetime | None = None,
    argv0: str | None = None,
) -> list[Settings]:
    """The job components ``sbatch script args`` would submit (see the module docstring).

    ``environ`` is the submitting environment: ``SBATCH_*`` options and what ``--export``
    sends (``sbatch`` adds ``SLURM_SUBMIT_DIR``/``SLURM_SUBMIT_HOST``). ``cwd`` (default: the
    current directory) is the default working directory; ``argv0`` the script's path.
    """
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise JobSpecError("args", f"expected a list of words, got {args!r}")
    ctx = Context(cwd=cwd or os.getcwd(), now=now or datetime.now().astimezone())
    submit_env = {
        **environ,
        "SLURM_SUBMIT_DIR": ctx.cwd,
        "SLURM_SUBMIT_HOST": environ.get("SLURM_SUBMIT_HOST") or socket.gethostname(),
    }
    in_script = [_stamp(options(c, operands=False)[0]) for c in script_components(script)]
    on_line, script_args = _split_command_line(args)
    from_env = _env_settings(environ)
    count = max(len(in_script), len(on_line))
    argv = [argv0 or "script", *script_args] if (argv0 or script_args) else []
    components = []
    for index in range(count):
        layers = [
            ("script", in_script[index] if index < len(in_script) else []),
            ("env", from_env),
            ("cli", on_line[index] if index < len(on_line) else []),
        ]
        fields = _component(layers, ctx, submit_env)
        components.append(Settings(fields, argv if index == 0 else []))
    return components
