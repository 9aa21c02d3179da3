"""``slurm-client costs`` and ``slurm-client audit verify|show``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import typer

from ._render import table
from ._state import CliState, state_of

__all__ = ["audit_app", "costs", "parse_when"]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DIMENSIONS = ("user", "account", "partition", "qos")


def parse_when(text: str, now: datetime) -> datetime:
    """``2026-11-01``, ``2026-11-01T08:00`` (local time unless an offset is given), ``now``,
    or an age before ``now``: ``7d``, ``12h``, ``30m``, ``2w``.

    Example::

        >>> parse_when("2d", datetime(2026, 1, 3, tzinfo=timezone.utc)).day
        1
    """
    value = text.strip().lower()
    if value == "now":
        return now
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: use a date (2026-11-01), a date and time (2026-11-01T08:00), "
            "'now', or an age such as 7d, 12h, 30m"
        ) from None
    return when.astimezone() if when.tzinfo is None else when


def _rate_pairs(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected TRES=PRICE, got {item!r}", param_hint="--rate")
        out[key] = value
    return out


def costs(
    ctx: typer.Context,
    user: Annotated[
        list[str] | None, typer.Option("--user", "-u", help="Only these users.")
    ] = None,
    account: Annotated[
        list[str] | None, typer.Option("--account", "-A", help="Only these accounts.")
    ] = None,
    partition: Annotated[
        list[str] | None, typer.Option("--partition", "-p", help="Only these.")
    ] = None,
    since: Annotated[
        str, typer.Option("--since", help="Start: a date, date+time, or age (7d).")
    ] = "30d",
    until: Annotated[
        str, typer.Option("--until", help="End: a date, date+time, age, or now.")
    ] = "now",
    cpu_hour: Annotated[str | None, typer.Option("--cpu-hour", help="Price per CPU-hour.")] = None,
    gpu_hour: Annotated[str | None, typer.Option("--gpu-hour", help="Price per GPU-hour.")] = None,
    mem_gb_hour: Annotated[
        str | None, typer.Option("--mem-gb-hour", help="Price per GiB-hour.")
    ] = None,
    node_hour: Annotated[
        str | None, typer.Option("--node-hour", help="Price per node-hour.")
    ] = None,
    rate: Annotated[
        list[str] | None,
        typer.Option("--rate", help="Other TRES price, e.g. billing=0.01 or license/matlab=2."),
    ] = None,
    currency: Annotated[
        str, typer.Option("--currency", help="Shown after amounts (e.g. EUR).")
    ] = "",
    by: Annotated[
        list[str] | None,
        typer.Option("--by", help="Break down by user, account, partition or qos (repeatable)."),
    ] = None,
    csv: Annotated[
        bool,
        typer.Option("--csv", help="Print CSV: the per-job rows, or the first --by breakdown."),
    ] = False,
) -> None:
    """What jobs cost from the accounting database: usage x a rate card (Decimal money)."""
    from ..analytics import RateCard, TimeRange

    cli = state_of(ctx)
    prices = [cpu_hour, gpu_hour, mem_gb_hour, node_hour]
    if all(p is None for p in prices) and not rate:
        raise typer.BadParameter(
            "give at least one price: --cpu-hour, --gpu-hour, --mem-gb-hour, --node-hour, --rate"
        )
    card = RateCard(
        cpu_hour=cpu_hour or 0,
        gpu_hour=gpu_hour or 0,
        mem_gb_hour=mem_gb_hour or 0,
        node_hour=node_hour or 0,
        other=_rate_pairs(rate or []),
        currency=currency,
    )
    dims = list(dict.fromkeys(by or []))
    unknown = [d for d in dims if d not in _DIMENSIONS]
    if unknown:
        raise typer.BadParameter(f"--by {unknown[0]!r}: choose from {', '.join(_DIMENSIONS)}")
    now = datetime.now(timezone.utc)
    window = TimeRange(parse_when(since, now), parse_when(until, now))
    with cli.client() as client:
        query = client.costs.in_time_range(window).with_rates(card)
        if user:
            query = query.for_user(user)
        if account:
            query = query.for_account(account)
        if partition:
            query = query.in_partition(partition)
        if dims:
            query = query.with_breakdown(*dims)
        report = query.as_of(now).get()
    if csv:
        typer.echo(report.to_csv(breakdown=dims[0] if dims else None), nl=False)
    elif cli.json:
        cli.print_json(report.to_dict())
    else:
        _print_report(cli, report, dims, currency)


def _money(value: Any, currency: str) -> str:
    return f"{value} {currency}".strip()


def _print_report(cli: CliState, report: Any, dims: list[str], currency: str) -> None:
    start, end = report.range.start.astimezone(), report.range.end.astimezone()
    cli.out.print(
        f"{len(report.rows)} job(s) from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}: "
        f"total {_money(report.total, currency)}"
    )
    resources = [(k, v) for k, v in report.by_resource.items() if v]
    if resources:
        cli.out.print(
            table(
                "by resource",
                ["RESOURCE", "COST"],
                [[k, _money(v, currency)] for k, v in resources],
            )
        )
    for dim in dims:
        rows = [[k, _money(v, currency)] for k, v in report.breakdowns[dim].items()]
        cli.out.print(table(f"by {dim}", [dim.upper(), "COST"], rows))
    if not dims:
        rows = [
            [
                r.job_id,
                r.name,
                r.user,
                r.account,
                r.partition,
                f"{r.seconds / 3600:.2f}",
                _money(r.total, currency),
            ]
            for r in report.rows
        ]
        cli.out.print(
            table("jobs", ["JOBID", "NAME", "USER", "ACCOUNT", "PARTITION", "HOURS", "COST"], rows)
        )


# ------------------------------------------------------------------ audit ----------------
audit_app = typer.Typer(help="Check and read hash-chained audit logs.", no_args_is_help=True)

KeyFile = Annotated[
    Path | None,
    typer.Option("--key-file", help="File with the HMAC key the log was written with (raw bytes)."),
]


def _key(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None else None


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The audit log (JSON lines).")],
    key_file: KeyFile = None,
) -> None:
    """Check the hash chain; name the first bad line. Exits 1 when the log is broken."""
    from ..analytics.audit import AuditLog

    cli = state_of(ctx)
    if not path.exists():
        raise FileNotFoundError(f"no audit log at {path}")
    result = AuditLog.verify(path, key=_key(key_file))
    if cli.json:
        cli.print_json(result)
    elif result.authenticated:
        cli.out.print(f"{path}: verified, {result.lines} line(s), head {result.head}")
    elif result.ok:  # intact as far as plain hashes tell: anyone who can write it could redo them
        cli.out.print(
            f"{path}: unauthenticated (no key: intact hashes prove nothing against a rewrite), "
            f"{result.lines} line(s), head {result.head}"
        )
    else:
        where = f" at line {result.first_bad_line}" if result.first_bad_line else ""
        cli.out.print(f"{path}: {result.status.upper()}{where}: {result.reason}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("show")
def show(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The audit log (JSON lines).")],
    event: Annotated[
        str | None, typer.Option("--event", help="Only entries of this event.")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only entries of this user.")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", help="Only the last N entries.")
    ] = None,
    key_file: KeyFile = None,
) -> None:
    """The entries of a log, after checking its chain (exits 1 if the chain is broken)."""
    from ..analytics.audit import AuditLog

    cli = state_of(ctx)
    if not path.exists():
        raise FileNotFoundError(f"no audit log at {path}")
    log = AuditLog(path, key=_key(key_file))
    result = AuditLog.verify(path, key=_key(key_file))
    if not result.ok:
        raise ValueError(
            f"{path}: chain broken at line {result.first_bad_line}: {result.reason} "
            "(run `slurm-client audit verify` for details)"
        )
    entries = [
        e
        for e in log.entries(verify=False)
        if (event is None or e.event == event) and (user is None or e.fields.get("user") == user)
    ]
    if limit is not None:
        entries = entries[-limit:] if limit > 0 else []
    if cli.json:
        cli.print_json(entries)
        return
    rows = [
        [
            e.line,
            e.seq,
            e.time,
            e.event,
            e.fields.get("user"),
            e.fields.get("method"),
            e.fields.get("url"),
            e.fields.get("status"),
            _extra(e.fields),
        ]
        for e in entries
    ]
    cli.out.print(
        table(
            f"{path}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}",
            ["LINE", "SEQ", "TIME", "EVENT", "USER", "METHOD", "URL", "STATUS", "OTHER"],
            rows,
        )
    )


def _extra(fields: Any) -> str | None:
    skip = {"user", "method", "url", "status", "attempt", "elapsed_ms"}
    other = {k: v for k, v in fields.items() if k not in skip}
    return ", ".join(f"{k}={v}" for k, v in other.items()) or None
