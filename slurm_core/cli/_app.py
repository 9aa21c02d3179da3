"""The ``slurm-client`` application: global options, error reporting, the command tree.

Global options (``--profile``, ``--url``, ``--api-version``, ``--json``, ``--debug``) may
stand anywhere before a ``--``: ``slurm-client jobs list --json`` is read as
``slurm-client --json jobs list``.

Errors are one line on stderr (with ``--json`` a one-line JSON object
``{"error": ..., "type": ...}``) and an exit code (:mod:`._errors`); ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .._exceptions import SlurmError
from ._errors import EXIT_ERROR, EXIT_INTERRUPTED, report_error
from ._state import CliState

__all__ = ["RootGroup", "app", "hoist_globals", "run"]

_GLOBAL_FLAGS = frozenset({"--json", "--debug"})
_GLOBAL_VALUED = frozenset({"--profile", "--url", "--api-version"})


def hoist_globals(args: Sequence[str]) -> list[str]:
    """Move global options found after the command name to the front (up to ``--``).

    Example::

        >>> hoist_globals(["jobs", "get", "7", "--json", "--profile", "lab"])
        ['--json', '--profile', 'lab', 'jobs', 'get', '7']
    """
    front: list[str] = []
    rest: list[str] = []
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        if arg == "--":
            rest.extend(items[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif name in _GLOBAL_VALUED:
            front.append(arg)
            if "=" not in arg and i + 1 < len(items):
                front.append(items[i + 1])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


class RootGroup(TyperGroup):
    """Hoists global options; turns expected errors into one line and an exit code."""

    # ``ctx`` is typer's (vendored) click context; Any keeps the overrides version-proof.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        parsed: list[str] = super().parse_args(ctx, hoist_globals(args))
        return parsed

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (SlurmError, OSError, ValueError, ImportError) as exc:
            state = ctx.find_object(CliState)
            if state is not None and state.debug:
                raise
            raise typer.Exit(report_error(state, exc)) from None


app = typer.Typer(
    cls=RootGroup,
    name="slurm-client",
    help="Talk to slurmrestd: jobs, nodes, partitions, graphs, costs, audit logs, health.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", envvar="SLURM_PROFILE", help="Profile of the config file to use."
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="slurmrestd URL (http://host:6820 or unix:/path); overrides config."
        ),
    ] = None,
    api_version: Annotated[
        str | None, typer.Option("--api-version", help="Pin the REST API version (e.g. v0.0.42).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON output.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    state = ctx.ensure_object(CliState)
    state.profile = profile or state.profile
    state.url = url or state.url
    if api_version:
        state.api_version = api_version if api_version.startswith("v") else "v" + api_version
    state.json = json_output or state.json
    state.debug = debug or state.debug


def _register() -> None:
    from . import _analytics, _cluster, _config, _doctor, _jobs, _login, _resources, _sbatch

    app.add_typer(_jobs.app, name="jobs")
    app.command("sbatch", context_settings=_sbatch.CONTEXT)(_sbatch.sbatch)
    app.add_typer(_resources.nodes_app, name="nodes")
    app.add_typer(_resources.partitions_app, name="partitions")
    app.command("graph")(_resources.graph)
    app.command("costs")(_analytics.costs)
    app.add_typer(_analytics.audit_app, name="audit")
    app.add_typer(_cluster.app, name="cluster")
    app.add_typer(_config.app, name="config")
    app.command("doctor")(_doctor.doctor)
    app.command("login")(_login.login)


_register()


def run(argv: list[str], *, state: CliState | None = None) -> int:
    """Run the application on ``argv``; returns the exit code (never raises SystemExit)."""
    try:
        app(args=argv, prog_name="slurm-client", obj=state or CliState(), standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_ERROR)
    return 0
