"""The batch script side of reading like ``sbatch``: where a setting came from
(:class:`Origin`), loading a script file, and the directive block (SchedMD's
``_opt_batch_script`` and ``get_argument`` in ``src/sbatch/opt.c``, re-expressed); the rules
are described in :mod:`slurm_core.jobs._sbatch`."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterator
from typing import Final

from slurm_core._exceptions import JobSpecError
from slurm_core._localfile import read_regular
from slurm_core.jobs._units import MAX_SCRIPT_BYTES

__all__ = [
    "IgnoredDirectivesWarning",
    "Origin",
    "check_directives",
    "ignored_directives",
    "load_script",
    "named",
    "script_components",
]


class IgnoredDirectivesWarning(UserWarning):
    """A script given to a builder has ``#SBATCH`` directives, which slurmrestd ignores.

    ``directives`` holds (line number, line). Make it an error per call with
    ``builder.script(text, strict=True)``, or everywhere with
    ``warnings.simplefilter("error", IgnoredDirectivesWarning)``.
    """

    def __init__(self, message: str, directives: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.directives = directives


MAX_DIRECTIVES: Final = 1000
"""Directive lines read from one script (a hostile one stays cheap to read)."""
_MAGIC: Final = ("#SBATCH", "#SLURM")
_SEPARATORS: Final = ("hetjob", "packjob")


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where a setting came from: a script ``line``, a variable, or a command-line word."""

    option: str
    text: str
    line: int | None = None
    variable: str | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"line {self.line} ({self.text})"
        if self.variable is not None:
            return f"variable {self.variable}"
        return f"argument {self.text!r}"

    def error(self, message: str) -> JobSpecError:
        """A :class:`JobSpecError` naming the option, with the line number if any."""
        return JobSpecError(self.option, f"{self}: {message}", line=self.line)


def load_script(script: str | os.PathLike[str]) -> tuple[str, str | None]:
    """(text, absolute path): a path-like or a one-line string not starting with ``#!`` is
    a file (read without following a symlink, at most one byte over Slurm's limit); any
    other string is the script itself."""
    if isinstance(script, str) and ("\n" in script or script.startswith("#!")):
        return script, None
    if not isinstance(script, (str, os.PathLike)):
        raise JobSpecError("script", f"expected the script's text or its path, got {script!r}")
    path = os.path.abspath(os.fspath(script))
    try:
        data = read_regular(path, max_bytes=MAX_SCRIPT_BYTES + 1).data
    except OSError as exc:
        raise JobSpecError("script", f"cannot read {path}: {exc.strerror or exc}") from None
    # One byte over lets the spec refuse it with its own message; one that fits is UTF-8.
    try:
        return data.decode("utf-8", "replace" if len(data) > MAX_SCRIPT_BYTES else "strict"), path
    except UnicodeDecodeError:
        raise JobSpecError("script", f"{path} is not UTF-8 text") from None


def _words(line: str, lineno: int) -> list[str]:
    """A directive's words (``get_argument``): quotes group, ``\\`` escapes, ``#`` comments."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            break
        word, quote, started = "", "", False
        while i < n and (quote or not line[i].isspace()):
            char = line[i]
            if char == "\\" and i + 1 < n:
                word, i, started = word + line[i + 1], i + 2, True
                continue
            if quote and char == quote:
                quote = ""
            elif not quote and char in "\"'":
                quote, started = char, True
            elif not quote and char == "#":
                i = n
                break
            else:
                word, started = word + char, True
            i += 1
        if quote:
            raise JobSpecError(
                "script", f"line {lineno}: unmatched {quote} in {line!r}", line=lineno
            )
        if started:
            words.append(word)
    return words


def _directive_lines(script: str) -> Iterator[tuple[int, str, bool]]:
    """(line number, text after the magic word, in the block) for every ``#SBATCH`` line."""
    in_block = True
    for lineno, line in enumerate(script.split("\n"), start=1):
        magic = next((m for m in _MAGIC if line.startswith(m)), None)
        if magic is not None:
            yield lineno, line[len(magic) :], in_block
        elif in_block and line.strip() and not line.lstrip().startswith("#"):
            in_block = False


def named(word: str) -> str:
    """What an error about ``word`` names before it is known as an option (``--mem``)."""
    if word.startswith("--"):
        return word.split("=", 1)[0]
    return word[:2] if word.startswith("-") else word


def script_components(script: str) -> list[list[tuple[str, Origin]]]:
    """Per het component, the directive words, each with its line."""
    components: list[list[tuple[str, Origin]]] = [[]]
    count = 0
    for lineno, rest, in_block in _directive_lines(script):
        if not in_block:
            continue
        count += 1
        if count > MAX_DIRECTIVES or len(components) > MAX_DIRECTIVES // 10:
            message = f"line {lineno}: more than {MAX_DIRECTIVES} directive lines"
            raise JobSpecError("script", message, line=lineno)
        body = rest.lstrip()
        head = body.split(None, 1)[0].lower() if body.strip() else ""
        if head in _SEPARATORS:
            components.append([])
            body = body[len(head) :]
        words = _words(body, lineno)
        count += len(words) // 10  # a line of many words counts as many lines
        if count > MAX_DIRECTIVES:
            raise JobSpecError("script", f"line {lineno}: too many directive words", line=lineno)
        for word in words:
            if word.startswith(":"):
                raise JobSpecError("script", f"line {lineno}: unexpected ':'", line=lineno)
            components[-1].append((word, Origin(named(word), word, line=lineno)))
    return components


def ignored_directives(script: str) -> list[tuple[int, str]]:
    """``#SBATCH`` lines a REST submission would ignore: (line number, line) in the block.

    Example::

        >>> ignored_directives("#!/bin/bash\\n#SBATCH --mem=4G\\nsrun hostname\\n")
        [(2, '#SBATCH --mem=4G')]
    """
    lines = script.split("\n")
    found = []
    for lineno, rest, in_block in _directive_lines(script):
        if in_block and rest.strip():
            found.append((lineno, lines[lineno - 1].rstrip()))
    return found


def check_directives(script: str, *, strict: bool, stacklevel: int = 3) -> None:
    """Warn (or, ``strict``, raise :class:`JobSpecError`) when ``script`` has ``#SBATCH``
    directives that a REST submission would ignore, naming each with its line."""
    found = ignored_directives(script)
    if not found:
        return
    shown = "; ".join(f"line {n}: {text}" for n, text in found[:8])
    more = f" and {len(found) - 8} more" if len(found) > 8 else ""
    message = (
        f"slurmrestd ignores #SBATCH directives, so these would be ignored: {shown}{more}. "
        "Set them with the builder's methods, or submit with client.jobs.submit_script() "
        "(JobSpec.from_sbatch) to have them read as sbatch reads them"
    )
    if strict:
        raise JobSpecError("script", message, line=found[0][0])
    warnings.warn(IgnoredDirectivesWarning(message, found), stacklevel=stacklevel)
