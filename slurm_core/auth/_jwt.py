"""Reading a JWT's claims without PyJWT (expiry, the header's shape); never verifying it."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds) of a JWT, read WITHOUT verifying; ``None`` otherwise.

    Example::

        >>> token_expiry("not-a-jwt") is None
        True
    """
    exp = read_claims(token).get("exp")
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def read_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read WITHOUT verifying (we only look, slurmctld verifies).

    Read by hand, not with PyJWT: looking at two base64url JSON segments needs no crypto,
    and importing PyJWT (which imports ``cryptography``) cost every client import ~30 ms
    (~150 ms where no bytecode is cached). What is accepted is what PyJWT (2.10+) accepts
    unverified: a JSON object as header and as payload, and a base64url signature.
    """
    segments = token.split(".")
    if len(segments) != 3:
        return {}
    try:
        header = json.loads(_b64url(segments[0]))
        claims = json.loads(_b64url(segments[1]))
        _b64url(segments[2])
    except (ValueError, RecursionError):  # binascii.Error and JSONDecodeError are ValueErrors
        return {}
    return claims if isinstance(header, dict) and isinstance(claims, dict) else {}


def _b64url(segment: str) -> bytes:
    """Decode base64url, padded or not; anything else is a ``ValueError`` (as in PyJWT 2.10+)."""
    data = segment.rstrip("=")
    if (data != segment and len(segment) % 4) or not _BASE64URL.fullmatch(data):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
