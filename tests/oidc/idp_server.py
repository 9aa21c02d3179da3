"""Run the test identity provider: ``python idp_server.py PORT`` with ``$IDP_DIR`` set.

Creates the database and the users and OAuth clients of ``$IDP_DIR/seed.json`` on the
first start, then serves django-oauth-toolkit on 127.0.0.1:PORT (threaded WSGI server of
the standard library) until SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp_settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import get_application_model  # noqa: E402


def seed(path: Path) -> None:
    spec = json.loads(path.read_text())
    users = {}
    for u in spec["users"]:
        user, _ = get_user_model().objects.get_or_create(username=u["username"])
        user.set_password(u["password"])
        user.save()
        users[u["username"]] = user
    Application = get_application_model()
    for a in spec["apps"]:
        if Application.objects.filter(client_id=a["client_id"]).exists():
            continue
        Application.objects.create(
            name=a["client_id"],
            client_id=a["client_id"],
            client_secret=a.get("client_secret", ""),
            hash_client_secret=True,
            client_type=a["client_type"],
            authorization_grant_type=a["grant_type"],
            user=users[a["user"]],
            algorithm="RS256",
        )


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write("idp: " + (format % args) + "\n")


def main() -> None:
    port = int(sys.argv[1])
    call_command("migrate", verbosity=0, interactive=False)
    seed(Path(os.environ["IDP_DIR"]) / "seed.json")
    server = make_server(
        "127.0.0.1", port, get_wsgi_application(), server_class=_Server, handler_class=_QuietHandler
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write(f"idp: serving on 127.0.0.1:{port}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
