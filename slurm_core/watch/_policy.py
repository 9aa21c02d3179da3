"""How often the watcher polls: fast after a change, backing off while nothing moves.

The floor is the larger of :attr:`WatchOptions.min_interval` (the client option) and
``$SLURM_CLIENT_MIN_POLL_INTERVAL`` (set by an administrator; code cannot go below it).
Nothing polls faster than the floor: not a new watch, not ``max_interval``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping

from .._exceptions import CircuitOpenError, ConfigurationError, RateLimitError, SlurmAPIError

__all__ = ["MIN_INTERVAL_ENV", "IntervalPolicy", "WatchOptions", "env_floor", "server_hint"]

_MAX_HINT = 3600.0
"""The longest ``Retry-After`` taken from a server (a hostile one could say a year)."""

MIN_INTERVAL_ENV = "SLURM_CLIENT_MIN_POLL_INTERVAL"


@dataclasses.dataclass(frozen=True)
class WatchOptions:
    """Poll-loop settings of one client (``client.jobs.watch_options``), in seconds.

    ``initial_interval`` applies right after a watch starts or something changed; each
    poll that finds nothing new multiplies it by ``backoff`` up to ``max_interval``.
    Errors (slurmrestd down, 5xx) back off the same way, doubling. ``min_interval`` is
    the floor (raised by ``$SLURM_CLIENT_MIN_POLL_INTERVAL`` if that is higher).
    ``full_refresh`` bounds how long the loop trusts ``update_time`` "nothing changed"
    answers before asking for a full listing again.

    Example::

        client.jobs.watch_options = WatchOptions(initial_interval=2, max_interval=60)
    """

    min_interval: float = 1.0
    initial_interval: float = 1.0
    max_interval: float = 30.0
    backoff: float = 1.5
    full_refresh: float = 60.0

    def __post_init__(self) -> None:
        for name in ("min_interval", "initial_interval", "max_interval", "full_refresh"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"WatchOptions.{name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.backoff, (int, float)) or not 1 <= self.backoff <= 10:
            raise ValueError(f"WatchOptions.backoff must be between 1 and 10, got {self.backoff!r}")
        if self.max_interval < self.initial_interval:
            raise ValueError("WatchOptions.max_interval must be >= initial_interval")


def env_floor(env: Mapping[str, str] | None = None) -> float:
    """The administrator's floor from ``$SLURM_CLIENT_MIN_POLL_INTERVAL`` (0 if unset)."""
    raw = (os.environ if env is None else env).get(MIN_INTERVAL_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(
            f"{MIN_INTERVAL_ENV} must be a number of seconds >= 0, got {raw!r}"
        )
    return value


def server_hint(exc: BaseException) -> float | None:
    """Seconds the server asked us to stay away after ``exc``, or ``None`` if it did not.

    429 and 503 are the server saying "too much": their ``Retry-After`` (seconds, bounded
    by an hour), else 0 (the caller then backs off to ``max_interval``). An open circuit
    breaker gives its own wait.

    Example::

        >>> server_hint(RateLimitError("slow down", status_code=429, retry_after=20))
        20.0
    """
    if isinstance(exc, CircuitOpenError):
        return min(exc.retry_after, _MAX_HINT)
    if not isinstance(exc, SlurmAPIError) or exc.status_code not in (429, 503):
        return None
    hint = exc.retry_after if isinstance(exc, RateLimitError) else None
    if hint is None and exc.response is not None:
        try:
            hint = float(exc.response.headers.get("retry-after", ""))
        except ValueError:
            hint = None  # an HTTP date or garbage: back off to max_interval anyway
    if hint is None or not math.isfinite(hint) or hint < 0:
        return 0.0
    return min(float(hint), _MAX_HINT)


class IntervalPolicy:
    """The adaptive interval. Pure state: no clock, no sleeping.

    Example::

        >>> p = IntervalPolicy(WatchOptions(min_interval=0.5, initial_interval=1,
        ...                                 max_interval=4, backoff=2), floor=0)
        >>> [p.after_poll(changed=False) for _ in range(4)]
        [2.0, 4.0, 4.0, 4.0]
        >>> p.after_poll(changed=True)
        1.0
    """

    def __init__(self, options: WatchOptions, floor: float | None = None) -> None:
        self.options = options
        self.floor = max(options.min_interval, env_floor() if floor is None else floor)
        self._current = float(options.initial_interval)

    def reset(self) -> float:
        """Back to the fast interval (a new watch, or something changed)."""
        self._current = float(self.options.initial_interval)
        return self.interval()

    def after_poll(self, *, changed: bool, cap: float | None = None) -> float:
        """The interval after a poll; ``cap`` is the smallest ``max_interval`` of the watches."""
        if changed:
            self._current = float(self.options.initial_interval)
        else:
            self._current = min(self._current * self.options.backoff, self.options.max_interval)
        return self.interval(cap)

    def after_error(self, cap: float | None = None, hint: float | None = None) -> float:
        """The interval after a failed poll (doubles, up to ``max_interval``).

        ``hint`` (from :func:`server_hint`: the server said 429/503) jumps straight to
        ``max_interval``, and to the server's ``Retry-After`` if longer, past any cap.
        """
        base = max(self._current, self.options.initial_interval, 0.1)
        self._current = min(base * 2, self.options.max_interval)
        if hint is None:
            return self.interval(cap)
        self._current = float(self.options.max_interval)
        return max(self.interval(), hint)

    def interval(self, cap: float | None = None) -> float:
        """The current interval: capped by ``cap``, never below the floor."""
        value = self._current if cap is None else min(self._current, cap)
        return max(value, self.floor)
