"""``slurm-client``: the command line for slurmrestd (needs the ``cli`` extra: typer, rich).

Example::

    slurm-client --profile lab jobs list --state RUNNING
    slurm-client jobs submit --name hello --time 10:00 --wait -- echo hello
    slurm-client --json nodes list | jq '.[].name'
    slurm-client doctor

Nothing here is imported by ``import slurm_core``; typer and rich are imported only when
the command line runs (:func:`main`). Inside, each command imports the layers it uses when
it runs, so ``--help`` and quick commands start fast: those imports are deferred for start-up
time, never to dodge a cycle (the import contract counts them).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``argv`` defaults to ``sys.argv[1:]``); returns the exit code."""
    try:
        from ._app import run
    except ImportError as exc:
        if exc.name not in ("typer", "rich", "click"):
            raise
        missing = exc.name
        print(
            f"slurm-client: the command line needs the cli extra ({missing} is missing): "
            "pip install 'slurm-client[cli]'",
            file=sys.stderr,
        )
        return 1
    return run(list(sys.argv[1:] if argv is None else argv))
