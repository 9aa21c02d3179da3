"""``slurm-client doctor``: is everything in place to talk to slurmrestd? What to fix if not.

Checks, in order (a failed one may skip those that need it):

============  ===========================================================================
config        a URL and a token source were found (env, config file, scontrol)
reachable     slurmrestd answered at that URL (any HTTP answer counts)
versions      REST API versions served vs spoken by this client; the one in use
ready         ``client.ready()``: ``GET /readyz`` where served (26.05+), else ``diag``
auth          ``diag`` with the token succeeds (credentials accepted)
token         the JWT's ``exp``: fail when expired, warn under 10 minutes (unless the
              token source refreshes itself)
clock         the server's clock vs this machine's (JWTs depend on it): the ``Date``
              header if slurmrestd sends one (24.11 does not), else ``diag``'s
              ``req_time`` (slurmctld's clock)
============  ===========================================================================

Exit code 1 when any check failed; warnings alone exit 0.
"""

from __future__ import annotations

import dataclasses
import time
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import typer
from rich.text import Text

from .._exceptions import (
    AuthenticationError,
    PermissionDeniedError,
    SlurmAPIError,
    SlurmConnectionError,
    SlurmError,
    UnsupportedAPIVersionError,
)
from .._options import RequestHooks, ResponseInfo
from .._redact import redact_text, redact_url
from ._config import token_status
from ._render import table
from ._state import CliState, state_of

__all__ = ["Check", "doctor", "run_checks"]

Status = Literal["ok", "warn", "fail", "skip"]
TOKEN_WARN_SECONDS = 600
SKEW_WARN_SECONDS = 5.0
SKEW_FAIL_SECONDS = 60.0
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


@dataclasses.dataclass
class Check:
    """One check's outcome; ``fix`` says what to do when it is not ``ok``."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


class _Seen:
    """Records the ``Date`` header of the first response (and when it arrived)."""

    def __init__(self) -> None:
        self.date: str | None = None
        self.local: float | None = None
        self.responses = 0

    def on_response(self, info: ResponseInfo) -> None:
        self.responses += 1
        if self.date is None:
            headers = {k.lower(): v for k, v in info.headers.items()}
            if headers.get("date"):
                self.date, self.local = headers["date"], time.time()


def _message(exc: BaseException) -> str:
    return redact_text(" ".join(str(exc).split()))


def _versions(client: Any, seen: _Seen, checks: list[Check]) -> bool:
    """reachable + versions; True when the server can be talked to at all."""
    from .._versions import CLIENT_VERSIONS
    from .._versions.negotiate import cached_versions

    url = redact_url(client._http.base_url)
    try:
        version = client.negotiate()
    except SlurmConnectionError as exc:
        checks.append(
            Check(
                "reachable",
                "fail",
                _message(exc),
                f"check the URL ({url}) and port, that slurmrestd runs there "
                "(systemctl status slurmrestd), and TLS (SLURM_CA_BUNDLE)",
            )
        )
        return False
    except (AuthenticationError, PermissionDeniedError) as exc:
        checks.append(Check("reachable", "ok", f"{url} answered (HTTP {exc.status_code})"))
        checks.append(Check("versions", "skip", "the server refused to list its versions"))
        return True
    except UnsupportedAPIVersionError as exc:
        checks.append(Check("reachable", "ok", f"{url} answered"))
        checks.append(
            Check(
                "versions",
                "fail",
                _message(exc),
                "drop the --api-version/SLURM_REST_API_VERSION pin, or enable a "
                f"supported openapi plugin in slurmrestd ({CLIENT_VERSIONS[0]}"
                f"..{CLIENT_VERSIONS[-1]})",
            )
        )
        return True
    except SlurmAPIError as exc:
        checks.append(Check("reachable", "ok", f"{url} answered HTTP {exc.status_code}"))
        checks.append(
            Check(
                "versions",
                "fail",
                _message(exc),
                "look at slurmrestd's log; is slurmctld up (scontrol ping)?",
            )
        )
        return True
    checks.append(Check("reachable", "ok", f"{url} answered"))
    served = cached_versions(client._core.key)
    slurm = list(served.slurm) if served else [version]
    newer = [v for v in slurm if v not in CLIENT_VERSIONS and v > CLIENT_VERSIONS[-1]]
    detail = f"using {version}; server offers {', '.join(slurm)}"
    if served is not None and served.slurmdb is not None:
        detail += f"; slurmdb {', '.join(served.slurmdb) or 'none'}"
    status: Status = "ok"
    fix = None
    if served is not None and served.slurmdb is not None and version not in served.slurmdb:
        status, fix = (
            "warn",
            (
                "accounting (jobs.get of purged jobs, costs) is unavailable: load the "
                "openapi/slurmdbd plugin in slurmrestd"
            ),
        )
    elif newer:
        status, fix = "warn", f"the server offers {', '.join(newer)}: upgrade slurm-client"
    checks.append(Check("versions", status, detail, fix))
    return True


def _auth(client: Any, settings: Any, checks: list[Check]) -> tuple[Any, float] | None:
    """The auth check; returns ``(diag, local time of the request)`` when it passed."""
    before = time.time()
    try:
        diag = client.diag()
    except (AuthenticationError, PermissionDeniedError) as exc:
        checks.append(
            Check(
                "auth",
                "fail",
                _message(exc),
                "get a fresh token (scontrol token lifespan=3600) into SLURM_JWT or "
                "the profile's token_file, and check SLURM_USER_NAME matches it",
            )
        )
        return None
    except SlurmError as exc:
        # 22.05 answers a token it cannot verify with HTTP 500 and error -1 (ambiguous).
        fix = (
            "check the token (a fresh one from scontrol token lifespan=3600: Slurm 22.05 "
            "reports a bad signature as HTTP 500 [-1]) and slurmctld's log"
        )
        checks.append(Check("auth", "fail", _message(exc), fix))
        return None
    who = settings.user_name or "the token's user"
    checks.append(Check("auth", "ok", f"diag accepted for {who} ({diag.jobs_running} running)"))
    return diag, (before + time.time()) / 2


def _ready(client: Any, checks: list[Check]) -> None:
    try:
        ready = client.ready()
    except (AuthenticationError, PermissionDeniedError):
        checks.append(Check("ready", "skip", "the server refused the token (see auth)"))
        return
    except SlurmError as exc:  # no version to ask diag with (see versions)
        checks.append(Check("ready", "skip", _message(exc)))
        return
    how = "GET /readyz" if client._core.readyz else "diag"
    if ready:
        checks.append(Check("ready", "ok", f"slurmrestd is ready ({how})"))
        return
    fix = "look at slurmrestd's and slurmctld's logs; is slurmctld up (scontrol ping)?"
    checks.append(Check("ready", "fail", f"slurmrestd answered but is not ready ({how})", fix))


def _token(settings: Any, checks: list[Check]) -> None:
    from ..auth import StaticToken, TokenFile

    info = token_status(settings.auth)
    if info.get("token") is None:
        status: Status = "skip" if settings.auth is None else "fail"
        checks.append(
            Check(
                "token",
                status,
                str(info.get("error")),
                None
                if status == "skip"
                else "fix the token source shown by `slurm-client config show`",
            )
        )
        return
    left = info.get("expires_in")
    refreshes = not isinstance(settings.auth, (StaticToken, TokenFile))
    if left is None:
        checks.append(
            Check(
                "token",
                "warn",
                "the token has no exp claim (not a JWT?)",
                "use a token from `scontrol token`",
            )
        )
    elif left <= 0:
        checks.append(
            Check(
                "token",
                "fail",
                f"expired {-left // 60} min ago",
                "get a fresh token: scontrol token lifespan=3600",
            )
        )
    elif left < TOKEN_WARN_SECONDS and not refreshes:
        checks.append(
            Check(
                "token",
                "warn",
                f"expires in {left // 60} min {left % 60} s",
                "get a longer-lived token (scontrol token lifespan=3600), or a "
                "token_command that refreshes it",
            )
        )
    else:
        note = " (refreshed automatically)" if refreshes else ""
        checks.append(Check("token", "ok", f"expires in {left // 60} min{note}"))


def _server_time(seen: _Seen, diag: tuple[Any, float] | None) -> tuple[float, float, str] | None:
    """``(server time, local time, what)`` from the Date header, else diag's req_time."""
    if seen.date is not None and seen.local is not None:
        try:
            return parsedate_to_datetime(seen.date).timestamp(), seen.local, "Date header"
        except (TypeError, ValueError):
            pass
    if diag is not None and getattr(diag[0], "req_time", None) is not None:
        return diag[0].req_time.timestamp(), diag[1], "slurmctld (diag req_time)"
    return None


def _clock(seen: _Seen, diag: tuple[Any, float] | None, checks: list[Check]) -> None:
    found = _server_time(seen, diag)
    if found is None:
        checks.append(Check("clock", "skip", "no server time seen (no Date header, no diag)"))
        return
    server, local, what = found
    skew = server - local  # both carry whole seconds: allow for that
    if abs(skew) < 2:
        detail = f"{what}: in step (to the second)"
    else:
        detail = f"{what}: server clock {'ahead' if skew > 0 else 'behind'} by {abs(skew):.0f} s"
    fix = "sync both clocks with NTP (chrony or systemd-timesyncd): JWT exp/iat checks use them"
    if abs(skew) > SKEW_FAIL_SECONDS:
        checks.append(Check("clock", "fail", detail, fix))
    elif abs(skew) > SKEW_WARN_SECONDS:
        checks.append(Check("clock", "warn", detail, fix))
    else:
        checks.append(Check("clock", "ok", detail))


def run_checks(cli: CliState) -> list[Check]:
    """Every check, in order (see the module docstring)."""
    from .._retry import RetryPolicy

    checks: list[Check] = []
    try:
        settings = cli.settings()
    except SlurmError as exc:
        checks.append(
            Check(
                "config",
                "fail",
                _message(exc),
                "set SLURM_REST_URL and SLURM_JWT, or add a profile: slurm-client "
                "config add NAME --url URL --token-file FILE",
            )
        )
        return checks
    where = settings.sources.get("url", "?")
    checks.append(
        Check(
            "config",
            "ok",
            f"{redact_url(settings.url)} (from {where}), token from "
            f"{settings.sources.get('auth', 'unix socket peer')}",
        )
    )
    seen = _Seen()
    hooks = RequestHooks(on_response=seen.on_response)
    client = cli.client(hooks=hooks, retry=RetryPolicy(max_attempts=1), timeout=10.0)
    diag = None
    with client:
        if _versions(client, seen, checks):
            _ready(client, checks)
            diag = _auth(client, settings, checks)
    _token(settings, checks)
    _clock(seen, diag, checks)
    return checks


def doctor(ctx: typer.Context) -> None:
    """Check URL, versions, credentials, token expiry and clock skew; say what to fix."""
    cli = state_of(ctx)
    checks = run_checks(cli)
    failed = any(c.status == "fail" for c in checks)
    if cli.json:
        cli.print_json({"ok": not failed, "checks": checks})
    else:
        rows = [[c.name, Text(c.status.upper(), style=_STYLE[c.status]), c.detail] for c in checks]
        cli.out.print(table("slurm-client doctor", ["CHECK", "STATUS", "DETAIL"], rows))
        for c in checks:
            if c.fix and c.status in ("fail", "warn"):
                cli.out.print(Text.assemble((c.name, _STYLE[c.status]), f": fix: {c.fix}"))
        if failed:
            cli.out.print("problems found", style="bold red")
        else:
            cli.out.print("all good", style="green")
    if failed:
        raise typer.Exit(1)
