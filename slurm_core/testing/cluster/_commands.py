"""Slurm's own client commands run inside a cluster's root: the reference behaviour that
tests compare slurm-client against (e.g. the real ``sbatch`` for the sbatch parity test)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ._errors import ClusterError
from ._proc import chroot_run

__all__ = ["license_reservation", "run_sbatch"]

# cd to the script's directory (sbatch's default --chdir), then sbatch [options] script [args]
_SBATCH = 'cd "$1" && shift && exec sbatch --parsable "$@"'


def run_sbatch(
    root: Path,
    script: Path,
    options: Sequence[str],
    script_args: Sequence[str],
    *,
    user: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> int:
    """Submit ``script`` (a path valid inside the root) with the real ``sbatch`` as ``user``,
    from the script's directory; returns the job id. A refusal is a :class:`ClusterError`
    carrying sbatch's own message."""
    argv = ["sh", "-c", _SBATCH, "sbatch", str(script.parent), *options, str(script), *script_args]
    res = chroot_run(root, argv, env=env, timeout=timeout, user=user)
    if res.returncode != 0:
        raise ClusterError(f"sbatch refused {script.name}: {res.stderr.strip()}")
    try:
        return int(res.stdout.strip().split(";", 1)[0])
    except ValueError:
        raise ClusterError(f"sbatch printed no job id: {res.stdout.strip()!r}") from None


def license_reservation(name: str, users: Sequence[str], licenses: str = "matlab:1") -> list[str]:
    """The ``scontrol`` command that creates a license-only reservation a day ahead: it is
    listed and can be named by jobs, but stands in nobody's way on a shared cluster.

    Example::

        c.run(license_reservation("mine", ["alice"]), check=True)
    """
    return [
        "scontrol", "create", "reservation", f"ReservationName={name}", "StartTime=now+1day",
        "Duration=60", f"Users={','.join(users)}", "Flags=ANY_NODES", f"Licenses={licenses}",
    ]  # fmt: skip
