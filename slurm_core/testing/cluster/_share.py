"""Showing this process's Python inside a cluster root, as a site's shared software tree does.

Functions run as jobs (:mod:`slurm_core.executor`) with the interpreter of the process that
submits them. On a real site that interpreter lives on a filesystem every node mounts at
the same path; here each of its directories is bind-mounted, read-only, into the root at
its host path: the virtual environment (``sys.prefix``), the interpreter it links to
(``sys.base_prefix``, e.g. a pyenv build under ``/root``) and the source tree of
``slurm_core`` (an editable install). Jobs run as ``alice``, so each directory above a
mount point inside the root is made traversable (``o+x``, never readable), as
:mod:`._runtime` does for the shared directory.

:func:`share_python` is idempotent and needs no restart: a path already mounted is left
alone, so a running cluster (shared by other processes) can be given the mounts at any
time; ``up`` does it too. The mounts go with the cluster (``down`` unmounts everything
below the root).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from ._errors import ClusterError
from ._proc import chroot_run, mount, mounts_under

__all__ = ["python_paths", "share_paths", "share_python"]

log = logging.getLogger("slurm_core.testing.cluster")

_PROBE = "import sys, hmac, hashlib, json, pickle; import cloudpickle; print(sys.version_info[:2])"


def python_paths() -> list[Path]:
    """The directories a job needs to run this interpreter and import ``slurm_core``."""
    import slurm_core  # deferred: the package is loaded anyway when this runs

    candidates = [
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(slurm_core.__file__).resolve().parent.parent,
    ]
    out: list[Path] = []
    for path in sorted({p.resolve() for p in candidates}, key=lambda p: len(p.parts)):
        if path == Path("/") or any(path == o or o in path.parents for o in out):
            continue
        out.append(path)
    return out


def share_paths(root: Path, paths: Iterable[Path]) -> list[Path]:
    """Bind-mount each host directory read-only into ``root`` at the same path.

    Returns the paths mounted by this call (those already mounted are skipped).
    """
    mounted = {str(p) for p in mounts_under(root)}
    done: list[Path] = []
    for path in paths:
        path = path.resolve()
        if not path.is_dir():
            raise ClusterError(f"cannot share {path}: not a directory")
        target = root / path.relative_to("/")
        if str(target) in mounted:
            continue
        target.mkdir(parents=True, exist_ok=True)
        for parent in [target, *target.parents]:
            if parent == root:
                break
            parent.chmod(parent.stat().st_mode | 0o011)  # traversable by the job's user
        mount("--bind", str(path), str(target))
        mount("--make-private", str(target))
        mount("-o", "remount,bind,ro", str(target))
        done.append(path)
        log.info("shared %s into %s", path, root)
    return done


def share_python(root: Path, user: str | None = None) -> list[Path]:
    """Share :func:`python_paths` into ``root``; check ``user`` can run the interpreter.

    Raises :class:`ClusterError` naming what is missing (a shared library of the
    interpreter absent from the root, cloudpickle not installed...).
    """
    done = share_paths(root, python_paths())
    if user is not None:
        res = chroot_run(root, [sys.executable, "-c", _PROBE], user=user, timeout=60)
        if res.returncode != 0:
            raise ClusterError(
                f"{sys.executable} does not run as {user} inside {root}: "
                f"{(res.stderr or res.stdout).strip()[-500:]}"
            )
    return done
