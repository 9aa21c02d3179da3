"""Making a running cluster trust an identity provider's keys (JWKS), without a restart.

slurmctld's auth/jwt verifies RS256 tokens against ``AuthAltParameters=jwks=<file>`` and
reads that file only when the plugin loads. From 23.11 on, ``scontrol reconfigure`` makes
slurmctld re-execute itself (same listening sockets, jobs kept), which reloads it; slurmctld
then runs under a new pid, which the run state must follow. 22.05 reconfigures in place
and keeps its plugins, so there only a restart would do: not done here.

The HS256 key (``jwt_key=``) stays configured, so ``scontrol token`` keeps working.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._conf import ETC_SLURM, JWKS_FILE, LOG_DIR, RUN_DIR, auth_alt_parameters
from ._errors import ClusterError
from ._proc import chroot_run, lives_in
from ._release import ReleaseSpec

_AUTH_ALT = re.compile(r"^AuthAltParameters=.*$", re.MULTILINE)


def reloads_jwks(spec: ReleaseSpec) -> bool:
    """True when ``scontrol reconfigure`` reloads auth/jwt (it re-executes: 23.11+)."""
    major, minor = (int(x) for x in spec.release.split(".")[:2])
    return (major, minor) >= (23, 11)


def check_jwks(jwks: Mapping[str, Any]) -> str:
    """``jwks`` as JSON text, refused unless every RS256 key has kid, n and e.

    slurmctld ``fatal()``s on an RS256 key without them: a bad file would stop the cluster.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise ClusterError("JWKS: expected an object with a 'keys' list")
    for i, key in enumerate(keys):
        if not isinstance(key, Mapping):
            raise ClusterError(f"JWKS: keys[{i}] is not an object")
        if str(key.get("alg", "")).upper() != "RS256":
            continue  # slurmctld skips these
        for field in ("kid", "n", "e"):
            if not isinstance(key.get(field), str) or not key[field]:
                raise ClusterError(f"JWKS: keys[{i}] (RS256) has no {field}")
        if "d" in key or "p" in key:
            raise ClusterError(f"JWKS: keys[{i}] holds private key material")
    return json.dumps({"keys": keys}, indent=1) + "\n"


def write_jwks(root: Path, jwks: Mapping[str, Any], owner_ids: tuple[int, int]) -> None:
    """Write the key set atomically (public keys: mode 0644, owned by SlurmUser)."""
    text = check_jwks(jwks)
    path = root / JWKS_FILE.lstrip("/")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chown(tmp, *owner_ids)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def configure_jwks(root: Path, spec: ReleaseSpec) -> None:
    """Point the root's slurm.conf at the JWKS file (what a start with ``jwks`` renders)."""
    conf = root / ETC_SLURM.lstrip("/") / "slurm.conf"
    text = conf.read_text()
    line = f"AuthAltParameters={auth_alt_parameters(spec, jwks=True)}"
    new, count = _AUTH_ALT.subn(line, text)
    if count != 1:
        raise ClusterError(f"{conf}: expected one AuthAltParameters line, found {count}")
    if new != text:
        tmp = conf.with_name(".slurm.conf.tmp")
        tmp.write_text(new)
        tmp.chmod(0o644)
        os.replace(tmp, conf)


def reconfigure(
    root: Path, pids: dict[str, int], save: Callable[[], None], ready: Callable[[], bool]
) -> float:
    """``scontrol reconfigure``, then wait until slurmctld runs again (logged "Running as
    primary controller" and answers ``ready``) and follow its pid; returns the seconds taken.

    In the foreground (``-D``, as here) slurmctld re-executes in place and keeps its pid; a
    daemonized one hands over to a child, whose pid the pid file tells.
    """
    log_file = root / LOG_DIR.lstrip("/") / "slurmctld.log"
    offset = log_file.stat().st_size if log_file.exists() else 0
    t0 = time.monotonic()
    res = chroot_run(root, ["scontrol", "reconfigure"], timeout=60)
    if res.returncode != 0:
        raise ClusterError(f"scontrol reconfigure failed: {res.stderr.strip()[:500]}")
    pid_file = root / RUN_DIR.lstrip("/") / "slurmctld.pid"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with log_file.open("rb") as fh:
            fh.seek(offset)
            back = b"Running as primary controller" in fh.read()
        try:
            pid = int(pid_file.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if back and pid and lives_in(pid, root) and ready():
            if pids.get("slurmctld") != pid:
                pids["slurmctld"] = pid
                save()
            return time.monotonic() - t0
        time.sleep(0.05)
    raise ClusterError(f"slurmctld did not come back within 30 s of reconfigure (see {log_file})")
