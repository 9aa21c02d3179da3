"""A real OpenID Connect provider for the tests: django-oauth-toolkit, in a cached venv.

Why django-oauth-toolkit: a maintained, production-grade OAuth2/OIDC server from PyPI that
implements all three grants we use (client credentials, refresh token with rotation,
RFC 8628 device authorization), publishes a JWKS and a discovery document, and revokes a
client when its owner deletes it. Its access tokens are opaque by default; the settings
make them RS256 JWTs (its ``ACCESS_TOKEN_GENERATOR`` hook), the form slurmrestd verifies.

It runs in its own venv (``<cache>/oidc-idp/venv-<hash>``, made once with the pinned
requirements below), so Django never enters the test environment of an orchestrator.
A person's browser is played over plain HTTP against its real pages: the login form, the
device code form and the accept button, and the client-deletion page.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
# oauthlib 4 adds "scope" to the device answer, which django-oauth-toolkit 3.4.1 rejects.
REQUIREMENTS = (
    "django-oauth-toolkit==3.4.1",
    "oauthlib>=3.2.2,<4",
    "django>=5.2,<6.0",
    "jwcrypto>=1.5",
)

USERS = {"alice": "alice-password-1", "bob": "bob-password-1"}
SERVICE_CLIENT = "svc-alice"  # client credentials; its owner alice is the Slurm user
REVOCABLE_CLIENT = "svc-revocable"
CLI_CLIENT = "slurm-cli"  # public client: device grant, refresh tokens
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TOKEN_LIFETIME = 20  # seconds: expiry happens within a test
JWKS_RELEASE = "26.05"  # the one shared cluster made to trust the provider
_TRUSTED: dict[str, Any] = {}


def trust(cluster: Any, idp: LocalIdP, *, force: bool = False) -> float:
    """Make ``cluster`` trust the provider's current keys (what a site admin does after a
    key rotation); a no-op if it already does. Returns the seconds slurmctld took."""
    jwks = idp.jwks()
    if not force and _TRUSTED.get(cluster.release) == jwks:
        return 0.0
    took: float = cluster.trust_jwks(jwks)
    _TRUSTED[cluster.release] = jwks
    return took


def cache_dir() -> Path:
    base = os.environ.get("SLURM_CLIENT_CACHE") or "~/.cache/slurm-client"
    return Path(base).expanduser() / "oidc-idp"


def idp_python() -> Path:
    """The cached venv's interpreter, made on first use (under a lock: parallel sessions)."""
    digest = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:12]
    venv = cache_dir() / f"venv-{digest}"
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    if marker.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        try:
            import uv  # noqa: F401

            cmd = [sys.executable, "-m", "uv", "pip", "install", "--python", str(python)]
        except ImportError:
            cmd = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*cmd, *REQUIREMENTS], check=True, capture_output=True, text=True)
        marker.touch()
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _new_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class LocalIdP:
    """The provider process: start, stop, rotate its key, and a person's browser."""

    def __init__(self, workdir: Path, token_lifetime: int = 300) -> None:
        self.dir = workdir
        self.token_lifetime = token_lifetime
        self.port = _free_port()
        self.secrets = {SERVICE_CLIENT: secrets.token_urlsafe(24)}
        self.secrets[REVOCABLE_CLIENT] = secrets.token_urlsafe(24)
        self._proc: subprocess.Popen[bytes] | None = None
        self._rotations = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/o"

    def start(self) -> LocalIdP:
        self.dir.mkdir(parents=True, exist_ok=True)
        key = self.dir / "key.pem"
        if not key.exists():
            key.write_text(_new_key())
            (self.dir / "seed.json").write_text(json.dumps(self._seed()))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "IDP_DIR": str(self.dir),
            "IDP_URL": f"http://127.0.0.1:{self.port}",
            "IDP_DJANGO_SECRET": secrets.token_urlsafe(32),
            "IDP_TOKEN_LIFETIME": str(self.token_lifetime),
        }
        log = (self.dir / "idp.log").open("ab")
        self._proc = subprocess.Popen(
            [str(idp_python()), str(HERE / "idp_server.py"), str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the identity provider exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.issuer + "/.well-known/openid-configuration").status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the identity provider did not answer in 60 s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def rotate_key(self, *, keep_old_published: bool = False) -> None:
        """A new signing key (restart); the old one stays in the JWKS only if asked."""
        self.stop()
        key = self.dir / "key.pem"
        self._rotations += 1
        if keep_old_published:
            key.rename(self.dir / f"inactive-{self._rotations}.pem")
        key.write_text(_new_key())
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        path = self.dir / "idp.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def jwks(self) -> dict[str, Any]:
        doc = httpx.get(self.issuer + "/.well-known/openid-configuration").json()
        return dict(httpx.get(doc["jwks_uri"]).json())

    def _seed(self) -> dict[str, Any]:
        return {
            "users": [{"username": u, "password": p} for u, p in USERS.items()],
            "apps": [
                {
                    "client_id": SERVICE_CLIENT,
                    "client_secret": self.secrets[SERVICE_CLIENT],
                    "client_type": "confidential",
                    "grant_type": "client-credentials",
                    "user": "alice",
                },
                {
                    "client_id": REVOCABLE_CLIENT,
                    "client_secret": self.secrets[REVOCABLE_CLIENT],
                    "client_type": "confidential",
                    "grant_type": "client-credentials",
                    "user": "alice",
                },
                {
                    "client_id": CLI_CLIENT,
                    "client_type": "public",
                    "grant_type": DEVICE_GRANT,
                    "user": "alice",
                },
            ],
        }

    # -- a person's browser, over the provider's real pages ---------------------------
    @contextlib.contextmanager
    def browser(self, user: str) -> Iterator[httpx.Client]:
        """A client logged in as ``user`` through the login form."""
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", follow_redirects=True) as web:
            page = web.get("/accounts/login/")
            page = web.post(
                "/accounts/login/",
                data={"username": user, "password": USERS[user], **_csrf(page)},
                headers={"Referer": str(page.url)},
            )
            if "sessionid" not in web.cookies:
                raise RuntimeError(f"login as {user} failed: HTTP {page.status_code}")
            yield web

    def approve_device(self, user_code: str, user: str = "alice") -> None:
        """Enter the code on the device page and press Accept, as ``user``."""
        with self.browser(user) as web:
            page = web.get("/o/device/")
            page = web.post(
                "/o/device/",
                data={"user_code": user_code, **_csrf(page)},
                headers={"Referer": str(page.url)},
            )
            if "device-confirm" not in str(page.url):
                raise RuntimeError(f"the device page refused code {user_code}: {page.text[:300]}")
            done = web.post(
                str(page.url),
                data={"action": "accept", **_csrf(page)},
                headers={"Referer": str(page.url)},
            )
            if done.status_code != 200 or "device-grant-status" not in str(done.url):
                raise RuntimeError(f"accepting the device failed: HTTP {done.status_code}")

    def delete_client(self, client_id: str, owner: str = "alice") -> None:
        """The owner deletes the OAuth client on its management page (revokes it)."""
        with self.browser(owner) as web:
            listing = web.get("/o/applications/")
            link = rf'href="/o/applications/(\d+)/">{re.escape(client_id)}<'
            found = re.search(link, listing.text)
            if not found:
                raise RuntimeError(f"no client {client_id} on {owner}'s page")
            page = web.get(f"/o/applications/{found.group(1)}/delete/")
            done = web.post(str(page.url), data=_csrf(page), headers={"Referer": str(page.url)})
            if done.status_code != 200:
                raise RuntimeError(f"deleting {client_id} failed: HTTP {done.status_code}")


def _csrf(page: httpx.Response) -> dict[str, str]:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if not found:
        raise RuntimeError(f"no CSRF token on {page.url} (HTTP {page.status_code})")
    return {"csrfmiddlewaretoken": found.group(1)}
