"""Provider metadata for Airflow's ``ProvidersManager`` (entry point ``apache_airflow_provider``).

The connection form is declared here (``conn-fields``, ``ui-field-behaviour``): since
Airflow 3.2 that is how a provider describes it, without importing the hook; the hook's
``get_connection_form_widgets``/``get_ui_field_behaviour`` are deprecated.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]

_INTEGRATION = "SLURM"

_STRING: dict[str, Any] = {"type": ["string", "null"]}
_SECRET: dict[str, Any] = {"type": ["string", "null"], "format": "password"}  # masked
_NUMBER: dict[str, Any] = {"type": ["number", "null"]}

_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "token_command": {
        "label": "Token command",
        "description": "A command printing a JWT, e.g. 'scontrol token lifespan=3600' "
        "(instead of the password)",
        "schema": _STRING,
    },
    "token_file": {
        "label": "Token file",
        "description": "A file holding the JWT, re-read when it changes (instead of the password)",
        "schema": _STRING,
    },
    "jwt_key_file": {
        "label": "JWT key file",
        "description": "The cluster's HS256 key, to mint tokens for the login user",
        "schema": _STRING,
    },
    "user_name": {
        "label": "Slurm user name",
        "description": "Sent as X-SLURM-USER-NAME when Login is empty",
        "schema": _STRING,
    },
    "api_version": {
        "label": "REST API version",
        "description": "Pin a version such as v0.0.42; negotiated when empty",
        "schema": _STRING,
    },
    "verify": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_bundle": {"label": "CA bundle file", "schema": _STRING},
    "client_cert": {"label": "Client certificate file (mTLS)", "schema": _STRING},
    "client_key": {"label": "Client key file (mTLS)", "schema": _STRING},
    "socket": {
        "label": "Unix socket",
        "description": "slurmrestd's unix socket path, instead of host and port",
        "schema": _STRING,
    },
    "working_directory": {
        "label": "Default working directory",
        "description": "An absolute path on the cluster, for jobs that set none",
        "schema": _STRING,
    },
    "poll_interval": {
        "label": "Poll interval (s)",
        "description": "Longest pause between two looks at a job",
        "schema": _NUMBER,
    },
    "timeout": {"label": "Request timeout (s)", "schema": _NUMBER},
    "watch_fleet": {
        "label": "Watch fleet (Redis URL)",
        "description": "redis://[:password@]host:6379/0: processes share their job polls",
        "schema": _SECRET,
    },
    # Tokens from an identity provider (slurm_core.auth OIDC providers).
    "oidc_issuer": {"label": "OIDC issuer URL", "schema": _STRING},
    "oidc_client_id": {"label": "OIDC client id", "schema": _STRING},
    "oidc_client_secret": {
        "label": "OIDC client secret",
        "schema": _SECRET,
    },
    "oidc_grant": {"label": "OIDC grant", "schema": _STRING},
    "oidc_scope": {"label": "OIDC scope", "schema": _STRING},
    "oidc_audience": {"label": "OIDC audience", "schema": _STRING},
    "oidc_token_endpoint": {"label": "OIDC token endpoint", "schema": _STRING},
    "oidc_refresh_token": {
        "label": "OIDC refresh token",
        "schema": _SECRET,
    },
    "oidc_refresh_token_file": {"label": "OIDC refresh token file", "schema": _STRING},
    "oidc_keyring": {"label": "OIDC keyring entry", "schema": _STRING},
    "oidc_ca_bundle": {"label": "OIDC CA bundle file", "schema": _STRING},
    "oidc_verify": {"label": "OIDC: verify TLS", "schema": {"type": ["boolean", "null"]}},
    "oidc_timeout": {"label": "OIDC timeout (s)", "schema": _NUMBER},
}

_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": [],
    "relabeling": {"schema": "Scheme", "login": "Slurm user name", "password": "Token (JWT)"},
    "placeholders": {
        "host": "slurm.example.org or https://slurm.example.org",
        "port": "6820",
        "schema": "http or https",
        "login": "alice",
    },
}


def get_provider_info() -> dict[str, Any]:
    """What this package brings to Airflow: hook, operator, sensor, trigger, ``@task.slurm``,
    connection type.

    Example::

        >>> get_provider_info()["connection-types"][0]["connection-type"]
        'slurm'
    """
    return {
        "package-name": "slurm-client",
        "name": "SLURM",
        "description": "Run and watch SLURM jobs through slurmrestd with slurm-client.",
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://slurm.schedmd.com/rest.html",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {"integration-name": _INTEGRATION, "python-modules": ["slurm_airflow.hooks.slurm"]}
        ],
        "operators": [
            {"integration-name": _INTEGRATION, "python-modules": ["slurm_airflow.operators.slurm"]}
        ],
        "sensors": [
            {"integration-name": _INTEGRATION, "python-modules": ["slurm_airflow.sensors.slurm"]}
        ],
        "triggers": [
            {"integration-name": _INTEGRATION, "python-modules": ["slurm_airflow.triggers.slurm"]}
        ],
        "task-decorators": [
            {"class-name": "slurm_airflow.decorators.slurm.slurm_task", "name": "slurm"}
        ],
        "connection-types": [
            {
                "connection-type": "slurm",
                "hook-class-name": "slurm_airflow.hooks.slurm.SlurmHook",
                "hook-name": "SLURM",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": _UI_FIELD_BEHAVIOUR,
            }
        ],
    }
