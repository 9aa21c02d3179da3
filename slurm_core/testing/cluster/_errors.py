"""The one exception type of :mod:`slurm_core.testing.cluster`."""

from __future__ import annotations

import re

__all__ = ["ClusterError", "redact"]

# A JWT is three base64url parts; the header always starts with "eyJ" ('{"').
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    """Mask anything that looks like a JWT, so log tails quoted in errors carry no secret.

    >>> redact("SLURM_JWT=eyJhbGciOi.eyJleHAi.sig")
    'SLURM_JWT=<redacted>'
    """
    return _JWT_RE.sub("<redacted>", text)


class ClusterError(RuntimeError):
    """A local SLURM cluster cannot be built, started, reached or stopped.

    The message says why and what to do; when a daemon died it ends with the tail of its
    log. Messages never contain a JWT or the JWT key.

    Example::

        try:
            LocalSlurmCluster("24.11").start()
        except ClusterError as exc:
            print(f"no cluster: {exc}")
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))
