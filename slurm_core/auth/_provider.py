"""The token provider base: caching a token, refreshing it ahead of expiry and once on rejection."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import ClassVar, Literal

from slurm_core._exceptions import ConfigurationError, SlurmError
from slurm_core._redact import Secret, redact_text, register_secret
from slurm_core.auth._jwt import read_claims, token_expiry

logger = logging.getLogger("slurm_core.auth")  # one logger for the package: what users filter


HeaderStyle = Literal["x-slurm", "bearer"]
DEFAULT_REFRESH_MARGIN = 60.0
_REREAD_STEP = 0.1
"""Seconds between two reads of a source that has no usable token yet."""


class TokenProvider:
    """Base class: caches one token, knows its expiry, refreshes before it.

    Subclasses implement :meth:`_fetch` (blocking is fine: the async path runs it in a worker
    thread). ``clock`` returns epoch seconds (injectable for tests).
    """

    can_refresh: ClassVar[bool] = True
    """False when asking again cannot yield a different token (static tokens)."""
    reread_window: ClassVar[float] = 0.0
    """Seconds to keep reading a source that has no usable token yet: empty or cut short
    (a file being rewritten in place), or still the token the server just rejected (a
    rotation running late). Bounded; :class:`TokenFile` sets it."""
    preferred_header_style: ClassVar[HeaderStyle] = "x-slurm"
    """How :class:`SlurmAuth` sends the token unless told otherwise."""
    bearer_only: ClassVar[bool] = False
    """True for tokens slurmrestd accepts only as ``Authorization: Bearer`` (OIDC)."""

    def __init__(
        self,
        *,
        user_name: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_name = user_name
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._expires_at: float | None = None
        self._refresh_at: float | None = None
        self._token_user: str | None = None

    # -- to implement ------------------------------------------------------------------
    def _fetch(self) -> str:
        raise NotImplementedError

    def _source_changed(self) -> bool:
        """Cheap check run on every request (TokenFile: mtime)."""
        return False

    # -- public ------------------------------------------------------------------------
    @property
    def header_user_name(self) -> str | None:
        """The name for ``X-SLURM-USER-NAME``: the configured one, else the token's ``sun``.

        slurmrestd 22.05 rejects a token without this header; taking it from the token's
        own claim can never ask for another user's identity.
        """
        return self.user_name or self._token_user

    @property
    def expires_at(self) -> float | None:
        """Epoch seconds when the current token expires (``None``: unknown or no token yet)."""
        return self._expires_at

    def _fresh(self, token: Secret | None) -> bool:
        if token is None or self._source_changed():
            return False
        refresh_at = self._refresh_at
        return refresh_at is None or self._clock() < refresh_at

    def _store(self, value: str) -> Secret:
        register_secret(value)  # so redact_text hides it even if it is no JWT
        self._token = Secret(value)
        claims = read_claims(value)
        sun = claims.get("sun")
        self._token_user = sun if isinstance(sun, str) and sun else None
        exp = self._expires_at = token_expiry(value)
        if exp is None:
            self._refresh_at = None
        else:
            # A token shorter-lived than the margin would be re-fetched on every request:
            # refresh such a token half-way through its life instead.
            life = exp - self._clock()
            self._refresh_at = exp - min(self.refresh_margin, max(life, 0.0) / 2)
        return self._token

    def token(self, *, force_refresh: bool = False, rejected: Secret | None = None) -> Secret:
        """The current token, fetching a new one if missing, about to expire, or forced.

        ``rejected`` is the token the server just refused: with ``force_refresh`` a new one is
        fetched only if nobody replaced it meanwhile (one refresh for many failed requests).
        """
        current = self._token
        if not force_refresh and self._fresh(current):
            assert current is not None
            return current
        with self._lock:
            current = self._token
            if force_refresh:
                if current is not None and rejected is not None and current != rejected:
                    return current
            elif self._fresh(current):
                assert current is not None
                return current
            try:
                value = self._fetch_usable(current, rejected if force_refresh else None)
            except Exception as exc:
                # A failed early refresh keeps the old token while it is still valid.
                kept = self._kept(current, force_refresh)
                if kept is not None:
                    logger.warning(
                        "%r: token refresh failed (%s); keeping the current token",
                        self,
                        type(exc).__name__,
                    )
                    return kept
                if isinstance(exc, SlurmError):
                    raise
                raise ConfigurationError(
                    f"{self!r} could not obtain a token: "
                    f"{type(exc).__name__}: {redact_text(str(exc))[:300]}"
                ) from exc
            if not self._complete(value, current):
                kept = self._kept(current, force_refresh)
                if kept is not None:  # mid-rewrite: the last good token, while valid
                    logger.warning(
                        "%r: no complete token to read yet; keeping the current one", self
                    )
                    return kept
                if not value:
                    raise ConfigurationError(f"{self!r} produced an empty token")
            token = self._store(value)
            logger.debug("%r: obtained a token (expires at %s)", self, self._expires_at)
            return token

    def _kept(self, current: Secret | None, force_refresh: bool) -> Secret | None:
        """The current token, if it may stand in for a failed read: only while valid, and
        not when it is the one being replaced (rejected)."""
        exp = self._expires_at
        if current is None or force_refresh or (exp is not None and self._clock() >= exp):
            return None
        return current

    @staticmethod
    def _complete(value: str, current: Secret | None) -> bool:
        """Not empty, and a JWT if the last good token was one (not a file cut short)."""
        if not value:
            return False
        return current is None or not read_claims(current.get()) or bool(read_claims(value))

    def _fetch_usable(self, current: Secret | None, rejected: Secret | None) -> str:
        """:meth:`_fetch`, read again for up to :attr:`reread_window` seconds while what it
        gives is incomplete or the token just rejected."""
        deadline = time.monotonic() + self.reread_window
        while True:
            value = self._fetch()
            stale = rejected is not None and value == rejected.get()
            if (self._complete(value, current) and not stale) or time.monotonic() >= deadline:
                return value
            time.sleep(_REREAD_STEP)

    async def atoken(
        self, *, force_refresh: bool = False, rejected: Secret | None = None
    ) -> Secret:
        """Async :meth:`token`; fetching (file, command, callable) runs in a worker thread."""
        current = self._token
        if not force_refresh and self._fresh(current):
            assert current is not None
            return current
        fn = functools.partial(self.token, force_refresh=force_refresh, rejected=rejected)
        import anyio.to_thread  # here, not at the top: only async clients need it (import cost)

        return await anyio.to_thread.run_sync(fn)

    def _repr_fields(self) -> str:
        return f"user_name={self.user_name!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_fields()})"
