"""What a DAG file that uses our operator pays at every parse (timed in bench/imports.py)."""

from __future__ import annotations

import subprocess
import sys

_OPERATOR = """
import sys
import airflow.sdk
from slurm_airflow.operators.slurm import SlurmSubmitJobOperator
SlurmSubmitJobOperator(task_id="t", script="#!/bin/bash\\ntrue", partition="debug")
print(" ".join(sorted(m for m in sys.modules if m.startswith("slurm_core"))))
"""


def test_declaring_our_airflow_operator_imports_no_client() -> None:
    # What a DAG file pays at every parse: the client, job builders and response parsers
    # are imported when a task runs, not when the DAG file declares it.
    imported = subprocess.run(
        [sys.executable, "-c", _OPERATOR], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = (
        "slurm_core._client",
        "slurm_core._versions",
        "slurm_core.jobs",
        "slurm_core._http",
        "slurm_core.auth",  # the hook's EXTRA_FIELDS names its oidc_* keys only when read
    )
    assert not [m for m in imported if m.startswith(heavy)]
