"""``slurm-client sbatch``: a drop-in for ``sbatch`` on hosts without Slurm installed.

The command line, the script's ``#SBATCH`` directives and ``SBATCH_*`` variables are read
exactly as :meth:`JobSpec.from_sbatch <slurm_core.jobs.spec.JobSpec.from_sbatch>` reads
them, then submitted over REST. Besides the job options it takes ``--parsable`` (print only
the id), ``--wrap=CMD`` (submit ``CMD`` as a ``/bin/sh`` script) and ``--test-only`` (print
the job spec and send nothing). Without a script and ``--wrap`` the script is read from
standard input, as with ``sbatch``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..jobs._sbatch_cli import WRAP_TEMPLATE, split_command
from ..jobs._units import MAX_SCRIPT_BYTES
from ..jobs.spec import JobSpec
from ._render import dumps, safe_text
from ._state import state_of

__all__ = ["sbatch"]

CONTEXT: dict[str, Any] = {"ignore_unknown_options": True, "allow_interspersed_args": False}
"""Every word goes to sbatch's own parser: typer only sees ``--help``."""


def sbatch(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="sbatch's options, then the script and its arguments (as for sbatch).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Submit a batch script as sbatch would (#SBATCH directives, SBATCH_* variables)."""
    cli = state_of(ctx)
    cmd = split_command(args or [])
    if cmd.wrap is not None:
        script: str | os.PathLike[str] = WRAP_TEMPLATE.format(cmd.wrap)
    elif cmd.script is not None:
        script = Path(cmd.script)  # a path, even when it is one word
    else:
        script = _stdin()
    words = [*cmd.options, "--", *cmd.script_args] if cmd.script_args else cmd.options
    spec = JobSpec.from_sbatch(script, words)
    if cmd.test_only:
        shown = spec.model_dump(mode="json", exclude={"script"}, exclude_defaults=True)
        shown["environment"] = sorted(spec.environment)  # names only: values stay home
        typer.echo(dumps(shown))
        cli.err.print("test only: nothing was sent (environment: variable names only)")
        return
    with cli.client() as client:
        submitted = client.jobs.submit_spec(spec)
    if cli.json:
        cli.print_json(submitted)
        return
    typer.echo(str(submitted.job_id) if cmd.parsable else f"Submitted batch job {submitted.job_id}")
    for warning in submitted.warnings:
        if "held state" not in warning or not spec.hold:  # asked for: not news
            cli.err.print(safe_text(f"sbatch: warning: {warning}"))


def _stdin() -> str:
    data = sys.stdin.buffer.read(MAX_SCRIPT_BYTES + 1)
    return data.decode("utf-8", "replace")
