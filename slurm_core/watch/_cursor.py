"""``update_time`` deltas for ``GET /slurm/<v>/jobs``, per REST API version.

slurmctld answers "nothing changed" when no job changed since ``update_time`` and the
whole listing otherwise (it is all or nothing, so a listing that arrives is complete).
How each version takes and reports it (checked live on 22.05, 24.11 and 26.05):

==============  ==============================================================================
v0.0.38         epoch seconds; "no change" is HTTP 304 with an empty body; the body has no
                ``last_update``, so the server clock is learned once from ``diag.req_time``.
v0.0.39         not used (no release here to check it against): full listings.
v0.0.40-41      an epoch is refused (422 "Parsing of ... for timestamp failed"); Slurm's
                relative form ``now-<seconds>`` works. "No change": ``last_update`` is 0.
v0.0.42+        epoch seconds; we send back the ``last_update`` of the previous listing (the
                server's own clock). "No change": 200 with no jobs and ``last_update`` 0.
==============  ==============================================================================

A listing is fetched in full at least every ``full_refresh`` seconds regardless, and after
any error, so a clock estimate gone wrong can delay an event but never lose it.
"""

from __future__ import annotations

import enum
import math
import re
from typing import Any

import httpx

__all__ = ["Cursor", "DeltaMode", "delta_mode", "last_update"]

_MARGIN = 2
"""Seconds subtracted from client-side estimates of the server's time (rounding, skew)."""


class DeltaMode(enum.Enum):
    """How a REST API version takes ``update_time`` (see the module docstring)."""

    NONE = "none"
    SERVER_EPOCH = "server-epoch"
    CALIBRATED_EPOCH = "calibrated-epoch"
    RELATIVE = "relative"


def delta_mode(version: str) -> DeltaMode:
    """How ``version`` takes ``update_time`` (see the module docstring).

    Example::

        >>> delta_mode("v0.0.38"), delta_mode("v0.0.42")
        (<DeltaMode.CALIBRATED_EPOCH: 'calibrated-epoch'>, <DeltaMode.SERVER_EPOCH: 'server-epoch'>)
    """
    number = tuple(int(x) for x in version.lstrip("v").split("."))
    if number == (0, 0, 38):
        return DeltaMode.CALIBRATED_EPOCH
    if number in ((0, 0, 40), (0, 0, 41)):
        return DeltaMode.RELATIVE
    if number >= (0, 0, 42):
        return DeltaMode.SERVER_EPOCH
    return DeltaMode.NONE


_KEY = b'"last_update"'
_VALUE = re.compile(rb'\s*:\s*(?:(\d+)|\{[^{}]*?"number"\s*:\s*(\d+)[^{}]*\})')


def last_update(content: bytes) -> int | None:
    """The top-level ``last_update`` of a listing body, without parsing the whole body.

    Only the response object has that key (not jobs), so the last unescaped occurrence
    is it; a job comment containing the text would appear escaped (``\\"last_update\\"``).
    """
    end = len(content)
    while True:
        i = content.rfind(_KEY, 0, end)
        if i < 0:
            return None
        if i == 0 or content[i - 1 : i] != b"\\":
            match = _VALUE.match(content, i + len(_KEY))
            if match is None:
                return None
            return int(match[1] or match[2])
        end = i


class Cursor:
    """Where the last complete listing left off, and the ``update_time`` for the next one.

    Times: ``mono`` is the client's monotonic clock, ``wall`` its epoch clock.
    """

    def __init__(self, mode: DeltaMode, full_refresh: float) -> None:
        self.mode = mode
        self.full_refresh = full_refresh
        self.offset: float | None = None  # server epoch - client epoch (calibrated mode)
        self._base: float | None = None
        self._last_full = -math.inf

    def needs_calibration(self) -> bool:
        return self.mode is DeltaMode.CALIBRATED_EPOCH and self.offset is None

    def calibrate(self, server_epoch: float | None, sent_wall: float, received_wall: float) -> None:
        """Learn the server clock from a ``diag`` answer (``req_time``); none: no deltas."""
        if server_epoch is None:
            self.mode = DeltaMode.NONE
            return
        self.offset = server_epoch - (sent_wall + received_wall) / 2

    def disable(self) -> None:
        """Stop using deltas (the server refused ``update_time``)."""
        self.mode = DeltaMode.NONE
        self._base = None

    def reset(self) -> None:
        """Forget the position: the next listing is a full one (after an error)."""
        self._base = None

    def params(self, mono: float) -> dict[str, Any] | None:
        """The query for the next listing: ``{"update_time": ...}``, or ``None`` for a full one."""
        base = self._base
        if base is None or self.mode is DeltaMode.NONE:
            return None
        if mono - self._last_full >= self.full_refresh:
            return None
        if self.mode is DeltaMode.RELATIVE:
            return {"update_time": f"now-{math.ceil(mono - base) + _MARGIN}"}
        if self.mode is DeltaMode.CALIBRATED_EPOCH:
            return {"update_time": int(base) - _MARGIN}
        return {"update_time": int(base)}

    def unchanged(self, response: httpx.Response) -> bool:
        """True if a 200 answer to a delta request says "nothing changed" (data_parser)."""
        return last_update(response.content) == 0

    def after_listing(self, response: httpx.Response, sent_mono: float, sent_wall: float) -> None:
        """Record a complete listing, requested at ``sent_mono``/``sent_wall``."""
        self._last_full = sent_mono
        if self.mode is DeltaMode.SERVER_EPOCH:
            stamp = last_update(response.content)
            if not stamp:
                self.disable()  # no usable position: full listings from now on
                return
            self._base = float(stamp)
        elif self.mode is DeltaMode.CALIBRATED_EPOCH and self.offset is not None:
            self._base = sent_wall + self.offset
        elif self.mode is DeltaMode.RELATIVE:
            self._base = sent_mono
