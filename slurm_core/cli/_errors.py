"""Exit codes and the one-line error report every command shares.

=====  =====================================================================
code   meaning
=====  =====================================================================
0      success
1      an error (one line on stderr), a failed ``doctor`` check, a broken log
2      a usage error (unknown option, bad value)
3      a waited-for job did not complete (``JobFailedError``)
4      a wait timed out (``WaitTimeoutError``)
130    interrupted (Ctrl-C)
=====  =====================================================================
"""

from __future__ import annotations

import json

import typer

from .._exceptions import JobFailedError
from .._redact import redact_text
from ._render import safe_text
from ._state import CliState

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_TIMEOUT",
    "exit_code_for",
    "report_error",
]

EXIT_ERROR = 1
EXIT_JOB_FAILED = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error (see the module docstring)."""
    from ..watch import WaitTimeoutError

    if isinstance(exc, JobFailedError):
        return EXIT_JOB_FAILED
    if isinstance(exc, WaitTimeoutError):
        return EXIT_TIMEOUT
    return EXIT_ERROR


def report_error(state: CliState | None, exc: BaseException) -> int:
    """Print ``exc`` on stderr (one JSON line with ``--json``); return its exit code.

    The message is the exception's own: slurm-client's errors carry no token (URLs and
    bodies are redacted where they are raised; known tokens are redacted once more here).
    It can quote the server, so the terminal gets it through :func:`safe_text`.
    """
    message = redact_text(str(exc).strip()) or type(exc).__name__
    if state is not None and state.json:
        typer.echo(json.dumps({"error": message, "type": type(exc).__name__}), err=True)
    else:
        typer.echo(f"error: {safe_text(message).plain}", err=True)
    return exit_code_for(exc)
