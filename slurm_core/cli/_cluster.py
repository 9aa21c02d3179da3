"""``slurm-client cluster up|down|status|env``: the local test clusters.

Every command hands its arguments to ``python -m slurm_core.testing.cluster`` (same exit
codes: ``status`` exits 3 when a cluster is not running); only ``--json`` output of
``status``/``env`` is built here, from :class:`~slurm_core.testing.cluster.LocalSlurmCluster`.

``env`` prints ``export SLURM_REST_URL=... SLURM_JWT=...`` for ``eval``; on a terminal the
token is shown as ``<redacted>`` (``eval "$(slurm-client cluster env)"`` still gets it).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from typing import Annotated

import typer

from .._redact import REDACTED
from ._errors import report_error
from ._state import state_of

__all__ = ["app"]

app = typer.Typer(
    help="Start, stop and inspect the local SLURM test clusters (needs root).", no_args_is_help=True
)

Release = Annotated[str, typer.Option("--release", "-r", help="22.05, 24.11, 26.05 or all.")]
_TOKEN = re.compile(r"(SLURM_JWT=)(\S+)")


def _module_main(argv: list[str]) -> int:
    from ..testing.cluster.__main__ import main

    return main(argv)


def _finish(code: int) -> None:
    if code:
        raise typer.Exit(code)


@app.command("up")
def up(
    release: Release = "24.11",
    no_accounting: Annotated[
        bool, typer.Option("--no-accounting", help="Without slurmdbd.")
    ] = False,
    nodes: Annotated[int, typer.Option("--nodes", help="Compute nodes.")] = 1,
    cache_dir: Annotated[
        str | None, typer.Option("--cache-dir", help="Cluster roots and state.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only print errors.")] = False,
) -> None:
    """Start a cluster (or all); a running one is left as it is."""
    argv = ["up", "--release", release, "--nodes", str(nodes)]
    argv += ["--no-accounting"] if no_accounting else []
    argv += ["--cache-dir", cache_dir] if cache_dir else []
    argv += ["--quiet"] if quiet else []
    _finish(_module_main(argv))


@app.command("down")
def down(
    release: Release = "24.11",
    cache_dir: Annotated[str | None, typer.Option("--cache-dir")] = None,
) -> None:
    """Stop a cluster (or all)."""
    argv = ["down", "--release", release] + (["--cache-dir", cache_dir] if cache_dir else [])
    _finish(_module_main(argv))


def _releases(release: str) -> list[str]:
    from ..testing.cluster import RELEASES

    if release == "all":
        return list(RELEASES)
    if release not in RELEASES:
        raise typer.BadParameter(f"{release!r}: choose from {', '.join(RELEASES)} or all")
    return [release]


@app.command("status")
def status(
    ctx: typer.Context,
    release: Release = "24.11",
    cache_dir: Annotated[str | None, typer.Option("--cache-dir")] = None,
) -> None:
    """Is a cluster running, on which URL, with which daemons (exit 3 if not running)."""
    cli = state_of(ctx)
    if not cli.json:
        argv = ["status", "--release", release] + (["--cache-dir", cache_dir] if cache_dir else [])
        _finish(_module_main(argv))
        return
    from ..testing.cluster import LocalSlurmCluster

    found = [LocalSlurmCluster(r, cache_dir=cache_dir).status() for r in _releases(release)]
    cli.print_json(found)
    _finish(0 if all(s.running for s in found) else 3)


@app.command("env")
def env(
    ctx: typer.Context,
    release: Release = "24.11",
    cache_dir: Annotated[str | None, typer.Option("--cache-dir")] = None,
) -> None:
    """Shell exports (SLURM_REST_URL, SLURM_JWT, SLURM_USER_NAME) for a running cluster."""
    cli = state_of(ctx)
    tty = sys.stdout.isatty()
    if cli.json:
        from ..testing.cluster import ClusterError, LocalSlurmCluster

        if release == "all":
            raise typer.BadParameter("env needs one --release (the variables share names)")
        _releases(release)
        running = LocalSlurmCluster.running(release, cache_dir)
        if running is None:
            error = ClusterError(f"SLURM {release} is not running: slurm-client cluster up")
            raise typer.Exit(report_error(cli, error))
        values = running.env()
        if tty:
            values["SLURM_JWT"] = REDACTED
        cli.print_json(values)
        return
    argv = ["env", "--release", release] + (["--cache-dir", cache_dir] if cache_dir else [])
    if not tty:
        _finish(_module_main(argv))
        return
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = _module_main(argv)
    typer.echo(_TOKEN.sub(lambda m: m.group(1) + REDACTED, buffer.getvalue()), nl=False)
    if code == 0:
        typer.echo('(token hidden on a terminal: eval "$(slurm-client cluster env)")', err=True)
    _finish(code)
