"""``--signal=[{R|B}:]SIG[@SECONDS]`` as a model: :class:`SignalSpec` (re-exported by
:mod:`slurm_core.jobs.spec`)."""

from __future__ import annotations

import re
from typing import ClassVar, Final

from pydantic import model_validator

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs._units import SpecModel, check_int, describe

__all__ = ["SignalSpec"]

# fmt: off
_SIGNAL_NAMES: Final = frozenset((  # the names Slurm's sig_name2num() knows
    "HUP", "INT", "QUIT", "ABRT", "KILL", "ALRM", "TERM", "USR1", "USR2", "URG", "CONT",
    "STOP", "TSTP", "TTIN", "TTOU", "XCPU"))
# fmt: on
_SIGNAL_RE = re.compile(r"(?:([RB]{1,2}):)?(?:SIG)?([A-Z0-9]{1,8})(?:@(\d{1,6}))?", re.I | re.A)


class SignalSpec(SpecModel):
    """``--signal=[{R|B}:]SIG[@SECONDS]``: send ``signal`` ``delay`` seconds before the end.

    ``batch_only`` (``B:``) signals only the batch shell; ``reservation`` (``R:``) uses the
    end of the job's reservation instead of its time limit. ``signal`` is a name without the
    ``SIG`` prefix (``"USR2"``) or a number (``"10"``).

    Example::

        >>> s = SignalSpec.parse("B:SIGUSR2@300")
        >>> s.signal, s.delay, s.batch_only, str(s)
        ('USR2', 300, True, 'B:USR2@300')
    """

    _error_field: ClassVar[str | None] = "signal"
    signal: str
    delay: int = 60
    batch_only: bool = False
    reservation: bool = False

    @model_validator(mode="after")
    def _check(self) -> SignalSpec:
        if self.signal.isascii() and self.signal.isdigit():
            check_int(int(self.signal), "signal", maximum=64)
        elif self.signal not in _SIGNAL_NAMES:
            known = ", ".join(sorted(_SIGNAL_NAMES))
            raise JobSpecError("signal", f"unknown signal {self.signal!r} (known: {known})")
        check_int(self.delay, "signal", minimum=0, maximum=0xFFFF)
        return self

    @classmethod
    def parse(cls, value: object) -> SignalSpec:
        """Parse ``"USR2"``, ``"B:USR2@300"``, ``"R:10@60"``; a SignalSpec is returned as is."""
        if isinstance(value, SignalSpec):
            return value
        match = _SIGNAL_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise JobSpecError("signal", f"{describe(value)} is not '[B:|R:]SIGNAL[@SECONDS]'")
        flags = (match[1] or "").upper()
        if len(set(flags)) != len(flags):
            raise JobSpecError("signal", f"repeated flag in {value!r}")
        delay = int(match[3]) if match[3] is not None else 60
        return cls(
            signal=match[2].upper(), delay=delay, batch_only="B" in flags, reservation="R" in flags
        )

    def __str__(self) -> str:
        flags = ("R" if self.reservation else "") + ("B" if self.batch_only else "")
        return f"{flags + ':' if flags else ''}{self.signal}@{self.delay}"
