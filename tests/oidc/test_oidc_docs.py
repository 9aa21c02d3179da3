"""The OIDC section of docs/concepts/auth.md runs as written, against the real provider
and SLURM 26.05; its slurm.conf lines are the ones the test cluster runs with."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from idp import CLI_CLIENT, SERVICE_CLIENT, LocalIdP

from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.testing.cluster._conf import auth_alt_parameters
from slurm_core.testing.cluster._release import get_release

pytestmark = pytest.mark.integration
DOC = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "auth.md"
SECTION = "## Tokens from an identity provider"


def blocks(lang: str) -> list[str]:
    text = DOC.read_text()
    section = text[text.index(SECTION) :]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.DOTALL)


@pytest.fixture
def env(
    trusted_cluster: LocalSlurmCluster,
    idp: LocalIdP,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    values = {
        "OIDC_ISSUER": idp.issuer,
        "OIDC_CLIENT_ID": SERVICE_CLIENT,
        "OIDC_CLIENT_SECRET": idp.secrets[SERVICE_CLIENT],
        "SLURM_REST_URL": trusted_cluster.rest_url,
        "HOME": str(tmp_path),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def run(argv: list[str], idp: LocalIdP, stream: str = "stdout") -> None:
    """Run an example; when it shows a device code, the person approves it in a browser."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            # slurm-client from the interpreter's own environment, as an install puts it
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "COLUMNS": "300",
            "PYTHONUNBUFFERED": "1",
        },
    )
    if stream:
        pipe = proc.stdout if stream == "stdout" else proc.stderr
        assert pipe is not None
        found = re.search(r"Open (\S+) and enter the code (\S+)", pipe.readline())
        assert found, proc.communicate(timeout=60)
        assert found.group(1).startswith(idp.issuer)
        idp.approve_device(found.group(2))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_the_documented_examples_run(env: dict[str, str], idp: LocalIdP) -> None:
    client_credentials, device, refresh = blocks("python")
    (login,) = blocks("bash")
    assert CLI_CLIENT in device
    assert CLI_CLIENT in login
    run([sys.executable, "-c", client_credentials], idp, stream="")
    run([sys.executable, "-c", device], idp)
    run(["bash", "-c", login.strip()], idp, stream="stderr")
    stored = Path(env["HOME"]) / ".config" / "slurm-client" / "refresh-token"
    assert (stored.stat().st_mode & 0o777) == 0o600
    # The refresh-token example starts from what the documented login command stored.
    run([sys.executable, "-c", refresh], idp, stream="")


def test_the_documented_slurm_conf_lines_are_the_ones_the_tests_use(
    trusted_cluster: LocalSlurmCluster,
) -> None:
    (conf,) = blocks("ini")
    expected = f"AuthAltParameters={auth_alt_parameters(get_release('26.05'), jwks=True)}"
    assert conf.splitlines() == ["AuthAltTypes=auth/jwt", expected]
    live = (trusted_cluster.root / "etc/slurm/slurm.conf").read_text().splitlines()
    assert expected in live
