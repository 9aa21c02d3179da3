"""Django settings of the test identity provider (django-oauth-toolkit with OpenID Connect).

Everything comes from ``$IDP_DIR``: the SQLite database and the RSA signing keys
(``key.pem`` active, ``inactive-*.pem`` still published in the JWKS). Access tokens are
RS256 JWTs (RFC 9068 style, as Keycloak and Entra issue them), which is what slurmctld's
auth/jwt can verify against the JWKS.
"""

from __future__ import annotations

import os
from pathlib import Path

_DIR = Path(os.environ["IDP_DIR"])

SECRET_KEY = os.environ["IDP_DJANGO_SECRET"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "idp_urls"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [str(Path(__file__).parent / "templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_DIR / "idp.db")}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR"}},
}

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": (_DIR / "key.pem").read_text(),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [p.read_text() for p in sorted(_DIR.glob("inactive-*.pem"))],
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("IDP_TOKEN_LIFETIME", "300")),
    "ACCESS_TOKEN_GENERATOR": "idp_tokens.jwt_access_token",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "ROTATE_REFRESH_TOKEN": True,
    "SCOPES": {"openid": "OpenID Connect", "slurm": "Use the SLURM REST API"},
    "DEFAULT_SCOPES": ["slurm"],
    "DEVICE_FLOW_INTERVAL": 1,
    "OAUTH_DEVICE_VERIFICATION_URI": os.environ["IDP_URL"] + "/o/device/",
    "PKCE_REQUIRED": False,
}
