"""How ``sbatch`` reads option values that a :class:`~slurm_core.jobs.spec.JobSpec` field
does not take as they are: memory with MiB as the default unit, node ranges, Slurm's time
words for ``--begin``/``--deadline``, and ``--export`` lists.

Each function re-expresses the rule of SchedMD's code it names (``str_to_mbytes``,
``verify_node_count``, ``parse_time``, ``env_merge_filter``) and raises
:class:`~slurm_core._exceptions.JobSpecError` naming the option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Final

from slurm_core._exceptions import JobSpecError

__all__ = ["export_environment", "sbatch_memory", "sbatch_nodes", "sbatch_time"]

_MEMORY_RE = re.compile(r"(\d{1,18})([KMGT]B?)?", re.IGNORECASE | re.ASCII)
_MIB: Final = {"K": None, "M": 1, "G": 1024, "T": 1024**2}


def sbatch_memory(option: str, value: str) -> int:
    """MiB from ``str_to_mbytes`` text: an integer, MiB unless a ``K/M/G/T[B]`` suffix says."""
    match = _MEMORY_RE.fullmatch(value.strip())
    if match is None:
        raise JobSpecError(option, f"{value!r} is not a size such as 4000, 500M or 4G")
    amount, unit = int(match[1]), (match[2] or "M")[0].upper()
    mib = -(-amount // 1024) if unit == "K" else amount * (_MIB[unit] or 1)
    if mib <= 0:
        raise JobSpecError(option, f"{value!r}: slurm-client needs a positive size (0 is 'all')")
    return mib


_NODES_RE = re.compile(r"(\d{1,10})(?:-(\d{1,10}))?", re.ASCII)


def sbatch_nodes(option: str, value: str) -> tuple[int, int | None]:
    """``N`` or ``MIN-MAX`` (``verify_node_count``); a size list ``1,4,8`` is not translated."""
    match = _NODES_RE.fullmatch(value.strip())
    if match is None:
        raise JobSpecError(option, f"{value!r} is not a node count 'N' or 'MIN-MAX'")
    return int(match[1]), int(match[2]) if match[2] else None


# ------------------------------------------------------------------- parse_time --------------
_UNITS: Final = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_NOW_RE = re.compile(r"now\s*(?:([+-])\s*(\d{1,9})\s*([a-z]*))?", re.IGNORECASE | re.ASCII)
_WORDS: Final = {"midnight": 0, "noon": 12, "elevenses": 11, "fika": 15, "teatime": 16}
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?\s*(am|pm)?", re.I | re.A)
_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_US_DATE_RE = re.compile(r"(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?", re.ASCII)


def _unit(option: str, text: str, word: str) -> int:
    word = word.lower()
    if not word:
        return 1
    found = _UNITS.get(word) or _UNITS.get(word.removesuffix("s"))
    if found is None:
        raise JobSpecError(option, f"{text!r}: unknown unit {word!r} (seconds...weeks)")
    return found


def _clock(option: str, text: str, part: str) -> time:
    word = _WORDS.get(part.lower())
    if word is not None:
        return time(word)
    match = _CLOCK_RE.fullmatch(part)
    if match is None:
        raise JobSpecError(option, f"{text!r} is not a time Slurm reads (see 'man sbatch')")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4]:
        hour = hour % 12 + (12 if match[4].lower() == "pm" else 0)
    try:
        return time(hour, minute, second)
    except ValueError:
        raise JobSpecError(option, f"{text!r}: {part!r} is not a time of day") from None


def _date(option: str, text: str, part: str, now: datetime) -> datetime:
    lowered = part.lower()
    if lowered in ("today", "tomorrow"):
        return now + timedelta(days=lowered == "tomorrow")
    iso, us = _ISO_DATE_RE.fullmatch(part), _US_DATE_RE.fullmatch(part)
    try:
        if iso:
            return now.replace(year=int(iso[1]), month=int(iso[2]), day=int(iso[3]))
        if us:
            year = int(us[3]) if us[3] else now.year
            year += 2000 if us[3] and len(us[3]) == 2 else 0
            return now.replace(year=year, month=int(us[1]), day=int(us[2]))
    except ValueError:
        raise JobSpecError(option, f"{text!r}: {part!r} is not a date") from None
    raise JobSpecError(option, f"{text!r} is not a time Slurm reads (see 'man sbatch')")


def sbatch_time(option: str, value: str, now: datetime) -> datetime:
    """A moment from ``parse_time`` text, in ``now``'s time zone (the submitting host's).

    Reads ``now[+N[seconds|minutes|hours|days|weeks]]``, ``uts<epoch>``, ``HH:MM[:SS]``
    (today, or tomorrow once passed), ``YYYY-MM-DD[THH:MM[:SS]]``, ``MM/DD[/YY]``,
    ``today``/``tomorrow`` and the words ``midnight``, ``noon``, ``elevenses``, ``fika``,
    ``teatime``, alone or with a date.
    """
    text = value.strip()
    if text[:3].lower() == "uts" and text[3:].isdigit() and len(text) <= 15:
        return datetime.fromtimestamp(int(text[3:]), now.tzinfo)
    now_match = _NOW_RE.fullmatch(text)
    if now_match is not None:
        sign, amount = now_match[1], int(now_match[2] or 0)
        seconds = amount * _unit(option, text, now_match[3] or "")
        return now + timedelta(seconds=-seconds if sign == "-" else seconds)
    date_part, _, clock_part = text.replace("T", " ", 1).partition(" ")
    if clock_part or (":" not in date_part and date_part.lower() not in _WORDS):
        day = _date(option, text, date_part, now)
        clock = _clock(option, text, clock_part.strip()) if clock_part else time(0)
        return datetime.combine(day.date(), clock, now.tzinfo)
    clock = _clock(option, text, date_part)
    when = datetime.combine(now.date(), clock, now.tzinfo)
    return when if when > now else when + timedelta(days=1)


# ------------------------------------------------------------------------ --export -----------
_SECRETS: Final = frozenset({"SLURM_JWT"})  # sbatch's DEF_ENV_EXCLUDE; a token stays home


def _slurm_vars(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k.startswith(("SLURM_", "SPANK_"))}


def _tokens(text: str) -> list[str]:
    """Comma-separated items; a quoted item keeps its commas (``find_quote_token``)."""
    items, current, quote = [], "", ""
    for char in text:
        if char in "'\"" and (not quote or quote == char):
            quote = "" if quote else char
        if char == "," and not quote:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    out = []
    for item in items:
        if len(item) >= 2 and item[0] in "'\"" and item[-1] == item[0]:
            item = item[1:-1]
        out.append(item)
    return [i for i in out if i]


def export_environment(
    option: str, value: str | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """The job's environment for ``--export=value`` (``None``: the default, every variable).

    ``ALL``: every variable; ``NONE``/``NIL``: only ``SLURM_*``/``SPANK_*`` (``NONE`` also
    asks slurmd for the user's login environment, ``SLURM_GET_USER_ENV=1``); a list
    ``A,B=x`` or ``ALL,B=x``: those variables, plus ``SLURM_*``. ``SLURM_JWT`` never leaves.
    """
    env = {k: v for k, v in environ.items() if k not in _SECRETS}
    if value is None or value.strip().upper() == "ALL":
        return env
    word = value.strip().upper()
    if word in ("NONE", "NIL"):
        out = _slurm_vars(env)
        return {**out, "SLURM_GET_USER_ENV": "1"} if word == "NONE" else out
    out = {}
    for item in _tokens(value):
        name, eq, assigned = item.partition("=")
        if item.strip().upper() == "ALL":
            out.update(env)
        elif eq:
            out[name] = assigned
        elif name in env:
            out[name] = env[name]
    if not _tokens(value):
        raise JobSpecError(option, f"{value!r} names no variable")
    return {**out, **_slurm_vars(env), "SLURM_GET_USER_ENV": "1"}
