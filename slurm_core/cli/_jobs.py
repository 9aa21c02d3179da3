"""``slurm-client jobs``: list, get, submit, cancel, watch, wait, output."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Annotated, Literal

import typer

from .._versions.base import JobId
from ..jobs._units import MAX_SCRIPT_BYTES
from ..jobs.builder import IgnoredDirectivesWarning
from ..models import Job
from ._progress import follow, wait_for, watch_options
from ._render import job_pairs, job_table, kv_table, safe_text
from ._state import CliState, state_of

__all__ = ["app"]

app = typer.Typer(help="List, inspect, submit, cancel and follow jobs.", no_args_is_help=True)

Timeout = Annotated[
    float | None, typer.Option("--timeout", help="Give up after this many seconds (exit 4).")
]
PollInterval = Annotated[
    float | None,
    typer.Option("--poll-interval", help="Seconds between polls at first (default 1)."),
]
MaxInterval = Annotated[
    float | None,
    typer.Option("--max-interval", help="Longest pause between polls (default 30)."),
]


def _job_id(text: str) -> JobId:
    """``"42"`` -> 42; an array task ``"40_2"`` stays a string."""
    return int(text) if text.isdigit() else text


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's jobs.")] = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state", "-t", help="Only jobs in this state (repeatable): RUNNING, PENDING..."
        ),
    ] = None,
    partition: Annotated[
        str | None, typer.Option("--partition", "-p", help="Only this partition.")
    ] = None,
) -> None:
    """Jobs slurmctld knows (like squeue)."""
    cli = state_of(ctx)
    with cli.client() as client:
        jobs = client.jobs.list(user=user, states=state or None, partition=partition)
    if cli.json:
        cli.print_json(jobs)
    else:
        cli.out.print(job_table(jobs, title=f"{len(jobs)} job(s)"))


@app.command("get")
def get_job(
    ctx: typer.Context, job_id: Annotated[str, typer.Argument(help="Job id (42, 40_2).")]
) -> None:
    """One job (from the accounting database when slurmctld has forgotten it)."""
    cli = state_of(ctx)
    with cli.client() as client:
        job = client.jobs.get(_job_id(job_id))
    if cli.json:
        cli.print_json(job)
    else:
        cli.out.print(kv_table(f"job {job.id_string}", job_pairs(job)))


def _env_pairs(values: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--env")
        env[key] = value
    return env


@app.command(
    "submit",
    context_settings={"allow_interspersed_args": False},
)
def submit(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(help="Command to run, after -- (instead of --script).", show_default=False),
    ] = None,
    script: Annotated[
        Path | None, typer.Option("--script", "-s", help="Batch script file (must start with #!).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-J", help="Job name.")] = None,
    partition: Annotated[str | None, typer.Option("--partition", "-p")] = None,
    account: Annotated[str | None, typer.Option("--account", "-A")] = None,
    qos: Annotated[str | None, typer.Option("--qos", "-q")] = None,
    time_limit: Annotated[
        str | None,
        typer.Option("--time", help="Time limit: minutes, MM:SS, HH:MM:SS or D-HH:MM:SS."),
    ] = None,
    mem: Annotated[str | None, typer.Option("--mem", help="Memory per node (4G, 500M).")] = None,
    mem_per_cpu: Annotated[
        str | None, typer.Option("--mem-per-cpu", help="Memory per CPU.")
    ] = None,
    cpus: Annotated[int | None, typer.Option("--cpus", "-c", help="CPUs per task.")] = None,
    ntasks: Annotated[int | None, typer.Option("--ntasks", "-n")] = None,
    nodes: Annotated[int | None, typer.Option("--nodes", "-N")] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", "-G", help="GPUs: 2 or a100:2.")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="stdout file (%j, %x...).")
    ] = None,
    error: Annotated[str | None, typer.Option("--error", "-e", help="stderr file.")] = None,
    chdir: Annotated[
        str | None,
        typer.Option("--chdir", "-D", help="Working directory on the cluster (default: this one)."),
    ] = None,
    dependency: Annotated[
        str | None, typer.Option("--dependency", "-d", help="e.g. afterok:12:13,afterany:14")
    ] = None,
    array: Annotated[str | None, typer.Option("--array", "-a", help="e.g. 0-9%2")] = None,
    env: Annotated[
        list[str] | None,
        typer.Option("--env", help="KEY=VALUE for the job's environment (repeatable)."),
    ] = None,
    hold: Annotated[bool, typer.Option("--hold", help="Submit held (release it later).")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the request body instead of submitting.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", "-W", help="Wait for the job to finish.")] = False,
    timeout: Timeout = None,
    poll_interval: PollInterval = None,
    max_interval: MaxInterval = None,
) -> None:
    """Submit a job: ``--script FILE`` or ``-- command args...`` (like sbatch)."""
    cli = state_of(ctx)
    if (script is None) == (not command):
        raise typer.BadParameter("give either --script FILE or -- command args...")
    with cli.client() as client:
        builder = client.jobs.submit()
        if script is not None:
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always", IgnoredDirectivesWarning)
                builder.script(_read_script(script))
            for ignored in seen:  # one clean line: `slurm-client sbatch` reads them
                cli.err.print(safe_text(f"warning: {ignored.message}"))
        else:
            assert command is not None
            builder.command(command)
        builder.working_directory(chdir or os.getcwd())
        if name is not None:
            builder.name(name)
        if partition is not None:
            builder.partition(partition)
        if account is not None:
            builder.account(account)
        if qos is not None:
            builder.qos(qos)
        if time_limit is not None:
            builder.time_limit(time_limit)
        if mem is not None:
            builder.memory_per_node(mem)
        if mem_per_cpu is not None:
            builder.memory_per_cpu(mem_per_cpu)
        if cpus is not None:
            builder.cpus_per_task(cpus)
        if ntasks is not None:
            builder.ntasks(ntasks)
        if nodes is not None:
            builder.nodes(nodes)
        if output is not None:
            builder.output(output)
        if error is not None:
            builder.error(error)
        if dependency is not None:
            builder.depends_on(dependency)
        if array is not None:
            builder.array(array)
        if gpus is not None:
            builder.gpus(int(gpus) if gpus.isdigit() else gpus)
        if env:
            builder.environment(_env_pairs(env))
        if hold:
            builder.hold()
        if dry_run:
            cli.print_json(builder.dry_run())
            return
        submitted = builder.execute()
        if not wait:
            if cli.json:
                cli.print_json(submitted)
            else:
                cli.out.print(f"Submitted job {submitted.job_id}")
                for warning in submitted.warnings:
                    cli.err.print(safe_text(f"warning: {warning}"))
            return
        if not cli.json:
            cli.err.print(f"Submitted job {submitted.job_id}")
        job = wait_for(
            cli,
            client,
            submitted.job_id,
            timeout=timeout,
            options=watch_options(poll_interval, max_interval),
        )
    _print_done(cli, job)


def _read_script(path: Path) -> str:
    """The script's text, reading no more than the spec can accept (a 1 GB file stays out)."""
    with path.open("rb") as fh:
        data = fh.read(MAX_SCRIPT_BYTES + 1)
    # One byte over is enough for the spec to refuse it with its own message (a character
    # cut in two there does not matter); a script that fits must be valid UTF-8.
    return data.decode("utf-8", errors="replace" if len(data) > MAX_SCRIPT_BYTES else "strict")


def _print_done(cli: CliState, job: Job) -> None:
    if cli.json:
        cli.print_json(job)
        return
    code = job.exit_code
    if code is None:
        shown = "-"
    else:
        shown = str(code.return_code) if code.return_code is not None else code.status
    cli.out.print(safe_text(f"job {job.id_string} {job.state} (exit {shown})"))


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(help="One or more job ids.")],
    signal: Annotated[
        str | None,
        typer.Option(
            "--signal", "-s", help="Send this signal instead of cancelling (USR1, 15...)."
        ),
    ] = None,
) -> None:
    """Cancel jobs, or send them a signal (like scancel)."""
    cli = state_of(ctx)
    sig: int | str | None = int(signal) if signal and signal.isdigit() else signal
    done: list[str] = []
    with cli.client() as client:
        for job_id in job_ids:
            client.jobs.cancel(_job_id(job_id), signal=sig)
            done.append(job_id)
            if not cli.json:
                what = f"sent {sig} to" if sig is not None else "cancelled"
                cli.out.print(f"{what} job {job_id}")
    if cli.json:
        cli.print_json({"cancelled" if sig is None else "signalled": done, "signal": sig})


@app.command("watch")
def watch(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(help="One or more job ids.")],
    timeout: Timeout = None,
    poll_interval: PollInterval = None,
    max_interval: MaxInterval = None,
) -> None:
    """Print every state change of jobs until all have finished (JSON lines with --json).

    Exits 3 when any of them did not complete successfully.
    """
    cli = state_of(ctx)
    ids = [_job_id(j) for j in job_ids]
    with cli.client() as client:
        finals = follow(
            cli, client, ids, timeout=timeout, options=watch_options(poll_interval, max_interval)
        )
    if any(e.type.value != "COMPLETED" for e in finals):
        raise typer.Exit(3)


@app.command("wait")
def wait(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    timeout: Timeout = None,
    poll_interval: PollInterval = None,
    max_interval: MaxInterval = None,
) -> None:
    """Wait for a job to finish; exit 0 if it completed, 3 if it failed, 4 on --timeout."""
    cli = state_of(ctx)
    with cli.client() as client:
        job = wait_for(
            cli,
            client,
            _job_id(job_id),
            timeout=timeout,
            options=watch_options(poll_interval, max_interval),
        )
    _print_done(cli, job)


@app.command("output")
def output(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    stderr: Annotated[
        bool, typer.Option("--stderr", help="Show the job's stderr instead.")
    ] = False,
) -> None:
    """What a job wrote so far (read from the shared filesystem, like cat on slurm-%j.out)."""
    cli = state_of(ctx)
    stream: Literal["stdout", "stderr"] = "stderr" if stderr else "stdout"
    with cli.client() as client:
        text = client.jobs.output(_job_id(job_id), stream)
    if cli.json:
        cli.print_json({"job_id": job_id, "stream": stream, "text": text})
    else:
        typer.echo(text, nl=False)
