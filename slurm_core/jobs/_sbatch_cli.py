"""An ``sbatch`` command line taken apart: the options that describe the job, the options
that only change what ``sbatch`` itself does (``--parsable``, ``--test-only``, ``--wrap``),
the script and its arguments. Used by ``slurm-client sbatch``.

Example::

    >>> cmd = split_command(["-p", "debug", "--parsable", "job.sh", "in.txt"])
    >>> cmd.options, cmd.script, cmd.script_args, cmd.parsable
    (['-p', 'debug'], 'job.sh', ['in.txt'], True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs._sbatch import Origin, named, options

__all__ = ["WRAP_TEMPLATE", "SbatchCommand", "split_command"]

WRAP_TEMPLATE: Final = "#!/bin/sh\n# This script was created by sbatch --wrap.\n\n{}\n"
"""The script ``sbatch --wrap=CMD`` submits (its own text, so ``$0`` and ``ps`` agree)."""

_CLIENT_ONLY: Final = frozenset({"parsable", "test-only", "wrap"})


@dataclasses.dataclass
class SbatchCommand:
    """The parts of one command line (``options`` keeps ``:`` between het components)."""

    options: list[str]
    script: str | None
    script_args: list[str]
    parsable: bool = False
    test_only: bool = False
    wrap: str | None = None


def split_command(args: Sequence[str]) -> SbatchCommand:
    """Split ``args`` as ``sbatch`` does (options up to the first other word, ``:``
    between het components); raises :class:`JobSpecError` for a malformed option."""
    words = [(a, Origin(named(a), a)) for a in args]
    kept: list[str] = []
    cmd = SbatchCommand(options=kept, script=None, script_args=[])
    start = 0
    while True:
        spans: list[tuple[str, int, int]] = []
        found, end, dashdash = options(words[start:], operands=True, spans=spans)
        taken = {
            s
            for (name, s, _), (_, value, _) in zip(spans, found, strict=True)
            if name in _CLIENT_ONLY and _note(cmd, name, value)
        }
        for offset in range(end - (1 if dashdash else 0)):
            span = next((sp for sp in spans if sp[1] <= offset < sp[2]), None)
            if span is None or span[1] not in taken:
                kept.append(words[start + offset][0])
        start += end
        if not dashdash and start < len(words) and words[start][0] == ":":
            kept.append(":")
            start += 1
            continue
        rest = [w for w, _ in words[start:]]
        if cmd.wrap is not None and rest:
            raise JobSpecError("--wrap", "script arguments are not permitted with --wrap")
        if cmd.wrap is None and rest:
            cmd.script, cmd.script_args = rest[0], rest[1:]
        return cmd


def _note(cmd: SbatchCommand, name: str, value: str | None) -> bool:
    if name == "parsable":
        cmd.parsable = True
    elif name == "test-only":
        cmd.test_only = True
    else:
        cmd.wrap = value
    return True
