"""Building an OIDC token provider from plain settings (connection extras, block fields...).

Adapters and config files hold strings; this is the one place that turns them into a
provider, with a :class:`ConfigurationError` naming the offending key.
"""

from __future__ import annotations

from collections.abc import Mapping

from slurm_core._exceptions import ConfigurationError
from slurm_core.auth._oidc import (
    ClientCredentials,
    OIDCTokenProvider,
    RefreshTokenAuth,
)
from slurm_core.auth._oidc_http import check_url
from slurm_core.auth._oidc_store import KeyringStore, RefreshTokenFile, RefreshTokenStore

OIDC_SETTINGS = (
    "oidc_grant",
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_scope",
    "oidc_audience",
    "oidc_token_endpoint",
    "oidc_refresh_token",
    "oidc_refresh_token_file",
    "oidc_keyring",
    "oidc_ca_bundle",
    "oidc_verify",
    "oidc_timeout",
)
"""Every key :func:`oidc_provider_from_settings` reads (all strings)."""

_GRANTS = ("client_credentials", "refresh_token")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _flag(settings: Mapping[str, str], key: str, default: bool) -> bool:
    raw = settings.get(key)
    if raw is None:
        return default
    value = str(raw).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{key}: expected true or false, got {raw!r}")


def oidc_provider_from_settings(settings: Mapping[str, str]) -> OIDCTokenProvider | None:
    """An OIDC provider from ``oidc_*`` settings, or ``None`` when ``oidc_issuer`` is unset.

    ``oidc_grant`` is ``client_credentials`` (needs ``oidc_client_secret``) or
    ``refresh_token`` (needs ``oidc_refresh_token``, ``oidc_refresh_token_file`` or
    ``oidc_keyring=true``: what ``slurm-client login`` wrote). Unknown ``oidc_*`` keys are
    refused, so a typo is not silently ignored.

    Example::

        >>> p = oidc_provider_from_settings({"oidc_issuer": "https://id.example.org",
        ...     "oidc_client_id": "airflow", "oidc_client_secret": "s3cret"})
        >>> type(p).__name__, p.client_id
        ('ClientCredentials', 'airflow')
    """
    unknown = sorted(k for k in settings if k.startswith("oidc_") and k not in OIDC_SETTINGS)
    if unknown:
        raise ConfigurationError(
            f"{unknown[0]}: unknown OIDC setting (known: {', '.join(OIDC_SETTINGS)})"
        )
    issuer = (settings.get("oidc_issuer") or "").strip()
    if not issuer:
        present = [k for k in OIDC_SETTINGS if settings.get(k)]
        if present:
            raise ConfigurationError(f"oidc_issuer: required with {present[0]}")
        return None
    check_url(issuer, "oidc_issuer")
    client_id = (settings.get("oidc_client_id") or "").strip()
    if not client_id:
        raise ConfigurationError("oidc_client_id: required with oidc_issuer")
    secret = settings.get("oidc_client_secret") or None
    grant = (settings.get("oidc_grant") or "").strip() or (
        "client_credentials" if secret else "refresh_token"
    )
    if grant not in _GRANTS:
        raise ConfigurationError(f"oidc_grant: expected one of {', '.join(_GRANTS)}, got {grant!r}")
    verify: bool | str = _flag(settings, "oidc_verify", True)
    ca_bundle = (settings.get("oidc_ca_bundle") or "").strip()
    if ca_bundle:
        if not verify:
            raise ConfigurationError("oidc_ca_bundle: given with oidc_verify=false")
        verify = ca_bundle
    raw_timeout = settings.get("oidc_timeout") or "10"
    try:
        timeout = float(raw_timeout)
    except ValueError:
        raise ConfigurationError(f"oidc_timeout: not a number: {raw_timeout!r}") from None
    if not 0 < timeout <= 300:
        raise ConfigurationError(f"oidc_timeout: must be in (0, 300] seconds, got {timeout:g}")
    token_endpoint = (settings.get("oidc_token_endpoint") or "").strip()
    options = {
        "scope": (settings.get("oidc_scope") or "").strip() or None,
        "audience": (settings.get("oidc_audience") or "").strip() or None,
        "endpoints": {"token_endpoint": token_endpoint} if token_endpoint else None,
        "timeout": timeout,
        "verify": verify,
    }
    if grant == "client_credentials":
        if not secret:
            raise ConfigurationError(
                "oidc_client_secret: required for oidc_grant=client_credentials"
            )
        return ClientCredentials(issuer, client_id, secret, **options)
    refresh = settings.get("oidc_refresh_token") or None
    token_file = (settings.get("oidc_refresh_token_file") or "").strip()
    use_keyring = _flag(settings, "oidc_keyring", False)
    if sum(map(bool, (refresh, token_file, use_keyring))) != 1:
        raise ConfigurationError(
            "oidc_refresh_token: give exactly one of oidc_refresh_token, "
            "oidc_refresh_token_file or oidc_keyring=true for oidc_grant=refresh_token"
        )
    store: RefreshTokenStore | None = None
    if token_file:
        store = RefreshTokenFile(token_file)
    elif use_keyring:
        store = KeyringStore(issuer, client_id)
    return RefreshTokenAuth(
        issuer, client_id, refresh, store=store, client_secret=secret, **options
    )
