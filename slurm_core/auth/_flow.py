"""Putting tokens on requests: the ``httpx.Auth`` flow, and recognising a rejected token."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Generator

import httpx

from slurm_core._errmap import TOKEN_UNPROVEN, error_class_for, is_ambiguous, load_json
from slurm_core._errmap import parse_error_entries as _parse_entries
from slurm_core._exceptions import AuthenticationError, ConfigurationError, SlurmErrorEntry
from slurm_core._redact import REDACTED, Secret
from slurm_core.auth._provider import HeaderStyle, TokenProvider

logger = logging.getLogger("slurm_core.auth")  # one logger for the package: what users filter


_AUTH_ERRNOS_STATUSES = (401, 511)


def _errors_of(response: httpx.Response) -> list[SlurmErrorEntry] | None:
    """The error entries of an answer's JSON body; None without one (empty or undecodable)."""
    if not response.content:
        return None
    try:
        body = load_json(response.content)
    except ValueError:
        return None
    return _parse_entries(body)[0]


def is_auth_rejection(response: httpx.Response) -> bool:
    """True when slurmrestd refused the credentials (401, 511, or an auth error number)."""
    status = response.status_code
    if status in _AUTH_ERRNOS_STATUSES:
        return True
    if status < 400:
        return False
    errors = _errors_of(response)
    return errors is not None and error_class_for(status, errors) is AuthenticationError


def maybe_auth_rejection(response: httpx.Response) -> bool:
    """True for an error that may be slurmrestd rejecting the token without saying so
    (22.05's HTTP 500 -1; see :func:`slurm_core._errmap.is_ambiguous`)."""
    errors = _errors_of(response)
    return errors is not None and is_ambiguous(response.status_code, errors)


def _proves_token(response: httpx.Response) -> bool:
    """Did the server accept the token? A success from a real endpoint does, and so does
    an error about the request itself (a Slurm error number that is not ambiguous)."""
    path = response.request.url.path
    # /openapi/v3 (22.05) and ping answer 200 to any non-empty token: they prove nothing.
    if path.startswith("/openapi") or path.endswith("/ping"):
        return False
    if response.status_code < 400:
        return True
    if is_auth_rejection(response):
        return False
    errors = _errors_of(response)
    return (
        errors is not None
        and any(e.error_number for e in errors)
        and not is_ambiguous(response.status_code, errors)
    )


class SlurmAuth(httpx.Auth):
    """Puts a provider's token on each request; refreshes once when it is rejected.

    ``header_style="x-slurm"`` sends ``X-SLURM-USER-TOKEN``; ``"bearer"`` sends
    ``Authorization: Bearer <token>`` (slurmrestd 23.02+; 22.05 answers it with 401). The
    default is the provider's ``preferred_header_style``: ``"x-slurm"``, except for the
    OAuth2/OIDC providers, whose tokens go as Bearer only (never both headers).
    ``X-SLURM-USER-NAME`` goes with either when a name is known: the provider's
    ``user_name``, else the token's own ``sun`` claim (22.05 requires the header).

    Example::

        client = httpx.Client(auth=SlurmAuth(StaticToken(os.environ["SLURM_JWT"])))
    """

    # The body decides whether 22.05's HTTP 500 was an authentication failure.
    requires_response_body = True

    def __init__(self, provider: TokenProvider, *, header_style: HeaderStyle | None = None) -> None:
        if header_style is None:
            header_style = provider.preferred_header_style
        if header_style not in ("x-slurm", "bearer"):
            raise ConfigurationError(f"SlurmAuth: unknown header_style {header_style!r}")
        if provider.bearer_only and header_style != "bearer":
            raise ConfigurationError(
                f"SlurmAuth: header_style: {type(provider).__name__} tokens go as "
                "Authorization: Bearer only"
            )
        self.provider = provider
        self.header_style: HeaderStyle = header_style
        self._token_header = "Authorization" if header_style == "bearer" else "X-SLURM-USER-TOKEN"
        self._accepted: Secret | None = None  # the last token the server accepted

    def _rejected(self, response: httpx.Response, token: Secret) -> bool:
        """Should ``token`` be replaced and the request sent once more?"""
        self._note(response, token)
        if not self.provider.can_refresh or response.status_code < 400:
            return False
        if is_auth_rejection(response):
            return True
        # An ambiguous failure is blamed on a token only if it never worked.
        return response.request.extensions.get(TOKEN_UNPROVEN) is True and (
            maybe_auth_rejection(response)
        )

    def _note(self, response: httpx.Response, token: Secret) -> None:
        if token is not self._accepted and _proves_token(response):
            self._accepted = token

    def _unproven(self, token: Secret) -> bool:
        """Never accepted by the server, or past its own ``exp``: an ambiguous answer to it
        is a rejected token (``_errmap.TOKEN_UNPROVEN``), not a server fault."""
        if token is not self._accepted:
            return True
        exp = self.provider.expires_at
        return exp is not None and time.time() >= exp

    def _apply(self, request: httpx.Request, token: Secret) -> None:
        request.extensions[TOKEN_UNPROVEN] = self._unproven(token)
        headers = request.headers
        if self.header_style == "bearer":
            headers["Authorization"] = "Bearer " + token.get()
        else:
            headers["X-SLURM-USER-TOKEN"] = token.get()
        user_name = self.provider.header_user_name
        if user_name:
            headers["X-SLURM-USER-NAME"] = user_name

    def _forget(self, request: httpx.Request) -> None:
        # A failed request stays reachable from exception chains and tracebacks: leave no
        # token on it. (Not done on success: a header write costs ~5 us per request.)
        request.headers[self._token_header] = REDACTED

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        try:
            token = self.provider.token()
            self._apply(request, token)
            response = yield request
            if response.status_code >= 400:
                # httpx reads bodies for ``requires_response_body`` only in the base flow,
                # which this one replaces; the checks below read an error's body.
                response.read()
            if self._rejected(response, token):
                logger.debug("token rejected (HTTP %s); refreshing once", response.status_code)
                token = self.provider.token(force_refresh=True, rejected=token)
                self._apply(request, token)
                response = yield request
                if response.status_code >= 400:
                    response.read()
                self._note(response, token)
        except BaseException:  # transport error: httpx closes the flow (GeneratorExit)
            self._forget(request)
            raise

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        try:
            token = await self.provider.atoken()
            self._apply(request, token)
            response = yield request
            if response.status_code >= 400:
                await response.aread()  # as in the sync flow
            if self._rejected(response, token):
                logger.debug("token rejected (HTTP %s); refreshing once", response.status_code)
                token = await self.provider.atoken(force_refresh=True, rejected=token)
                self._apply(request, token)
                response = yield request
                if response.status_code >= 400:
                    await response.aread()
                self._note(response, token)
        except BaseException:  # transport error: httpx closes the flow (GeneratorExit)
            self._forget(request)
            raise

    def __repr__(self) -> str:
        return f"SlurmAuth({self.provider!r}, header_style={self.header_style!r})"
