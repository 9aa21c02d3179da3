"""Building and caching the Debian root of each release (debootstrap + idempotent steps).

A root is built in ``<roots>/<release>.partial`` and renamed to ``<roots>/<release>`` only
when complete. A stamp file inside records what was installed, so a later version of this
code that needs more (packages, steps) adds only what is missing, in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ._conf import JWT_KEY, USERS
from ._errors import ClusterError
from ._proc import chroot_run, clean_env, mounts_under, tail
from ._release import ReleaseSpec

__all__ = [
    "ACCOUNTING_PACKAGES",
    "BASE_PACKAGES",
    "STAMP",
    "build_root",
    "file_lock",
    "group_id",
    "read_stamp",
    "root_is_current",
    "user_id",
]

BASE_PACKAGES = (
    "slurmctld",
    "slurmd",
    "slurmrestd",
    "slurm-client",
    "munge",
    "slurm-wlm-jwt-plugin",
    "procps",
    # the full standard library: job-side helpers such as dagster-pipes import json, queue, shutil
    "python3",
)
ACCOUNTING_PACKAGES = ("slurmdbd", "slurm-wlm-mysql-plugin", "mariadb-server")
COMPAT_LIBMARIADB = "/opt/libmariadb-compat/libmariadb.so.3"
STAMP = "etc/slurm-client-root.json"
# Bump a step's version when its code changes: roots built before then redo only that step.
STEPS = {"policy-rc.d": 1, "munge-key": 1, "jwt-key": 1, "users": 1}
DEFAULT_MIRROR = "http://deb.debian.org/debian"

Log = Callable[[str], None]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock shared by all processes using this cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_stamp(root: Path) -> dict[str, object]:
    try:
        data = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _wanted_packages(accounting: bool) -> tuple[str, ...]:
    return BASE_PACKAGES + (ACCOUNTING_PACKAGES if accounting else ())


def _wanted_steps(spec: ReleaseSpec, accounting: bool) -> dict[str, int]:
    steps = dict(STEPS)
    if accounting and spec.compat_libmariadb:
        steps["compat-libmariadb"] = 1
    return steps


def root_is_current(root: Path, spec: ReleaseSpec, accounting: bool) -> bool:
    """True if the stamp of ``root`` covers every package and step this code wants."""
    stamp = read_stamp(root)
    packages = stamp.get("packages")
    steps = stamp.get("steps")
    if not isinstance(packages, list) or not isinstance(steps, dict):
        return False
    return set(_wanted_packages(accounting)) <= set(packages) and all(
        steps.get(name) == version for name, version in _wanted_steps(spec, accounting).items()
    )


def _id_from(db: Path, name: str) -> int:
    for line in db.read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name and len(fields) > 2:
            return int(fields[2])
    raise ClusterError(f"no entry {name!r} in {db}")


def user_id(root: Path, name: str) -> int:
    """uid of ``name`` in the root's own /etc/passwd (uids differ between suites)."""
    return _id_from(root / "etc/passwd", name)


def group_id(root: Path, name: str) -> int:
    return _id_from(root / "etc/group", name)


class _Builder:
    def __init__(self, spec: ReleaseSpec, root: Path, mirror: str, log: Log) -> None:
        self.spec, self.root, self.mirror, self.log = spec, root, mirror, log

    def _chroot(self, script: str, what: str, timeout: float = 1800) -> None:
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        # apt in the root needs the host's proxy settings, if any.
        env.update({k: v for k, v in os.environ.items() if k.lower().endswith("_proxy")})
        res = chroot_run(self.root, ["sh", "-ec", script], env=env, timeout=timeout)
        if res.returncode != 0:
            output = "\n".join((res.stdout + res.stderr).splitlines()[-25:])
            raise ClusterError(f"{what} failed in {self.root}:\n{output}")

    @property
    def _apt(self) -> str:
        opts = "" if self.spec.apt_check_valid_until else " -o Acquire::Check-Valid-Until=false"
        return f"apt-get -q{opts}"

    def debootstrap(self) -> None:
        exe = ensure_debootstrap(self.log)
        log_file = self.root.with_name(self.root.name + ".debootstrap.log")
        self.log(f"debootstrap {self.spec.suite} into {self.root} (about a minute) ...")
        cmd = [
            exe,
            "--variant=minbase",
            "--include=" + ",".join(BASE_PACKAGES),
            self.spec.suite,
            str(self.root),
            self.mirror,
        ]
        env = dict(os.environ, PATH=clean_env()["PATH"])
        with log_file.open("wb") as out:
            res = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        if res.returncode != 0 or not _has_slurm(self.root):
            raise ClusterError(
                f"debootstrap of {self.spec.suite} failed (exit {res.returncode}); "
                f"log {log_file}:\n{tail(log_file)}"
            )

    def installed_packages(self) -> set[str]:
        res = chroot_run(self.root, ["dpkg-query", "-W", "-f", "${Package} ${Status}\\n"])
        return {line.split()[0] for line in res.stdout.splitlines() if line.endswith(" installed")}

    def install(self, packages: list[str]) -> None:
        self.log(f"installing {' '.join(packages)} into {self.root} ...")
        shutil.copyfile("/etc/resolv.conf", self.root / "etc/resolv.conf")
        self._chroot(
            f"{self._apt} update -qq && {self._apt} install -y -qq --no-install-recommends "
            f"{' '.join(packages)} && apt-get clean && rm -rf /var/lib/apt/lists/*",
            f"installing {' '.join(packages)}",
        )

    def compat_libmariadb(self) -> None:
        # slurmdbd fails with the 11.8 client library of trixie and sid ("5027 Number of
        # columns in result ... exceeds maximum"): fetch bookworm's (same soname) for it.
        if (self.root / COMPAT_LIBMARIADB.lstrip("/")).exists():
            return
        self.log("fetching bookworm's libmariadb.so.3 for slurmdbd ...")
        shutil.copyfile("/etc/resolv.conf", self.root / "etc/resolv.conf")
        src = "/etc/apt/sources.list.d/zz-slurm-client-bookworm.list"
        target = os.path.dirname(COMPAT_LIBMARIADB)
        self._chroot(
            f"""
            echo 'deb {self.mirror} bookworm main' > {src}
            trap 'rm -f {src}; rm -rf /var/lib/apt/lists/* /tmp/lm /tmp/libmariadb3_*.deb' EXIT
            {self._apt} update -qq
            cd /tmp && {self._apt} download -qq libmariadb3/bookworm
            dpkg-deb -x libmariadb3_*.deb lm && mkdir -p {target}
            cp lm/usr/lib/x86_64-linux-gnu/libmariadb.so.3 {target}/
            """,
            "fetching bookworm's libmariadb3",
        )

    def policy_rc_d(self) -> None:
        # Keeps package scripts from starting services (mariadb) inside the root.
        path = self.root / "usr/sbin/policy-rc.d"
        path.write_text("#!/bin/sh\nexit 101\n")
        path.chmod(0o755)

    def munge_key(self) -> None:
        key = self.root / "etc/munge/munge.key"
        if not (key.exists() and key.stat().st_size > 0):
            self._chroot("mungekey --create --keyfile=/etc/munge/munge.key", "mungekey")
        uid, gid = user_id(self.root, "munge"), group_id(self.root, "munge")
        os.chown(key.parent, uid, gid)
        os.chown(key, uid, gid)
        key.parent.chmod(0o700)
        key.chmod(0o600)

    def jwt_key(self) -> None:
        key = self.root / JWT_KEY.lstrip("/")
        if not (key.exists() and key.stat().st_size >= 32):
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
        # auth/jwt insists on the key being owned by SlurmUser and private.
        os.chown(key, user_id(self.root, "slurm"), group_id(self.root, "slurm"))
        key.chmod(0o600)

    def users(self) -> None:
        passwd = (self.root / "etc/passwd").read_text()
        for name, uid in USERS:
            if f"\n{name}:" in "\n" + passwd:
                if user_id(self.root, name) != uid:
                    raise ClusterError(f"user {name} in {self.root} does not have uid {uid}")
                continue
            self._chroot(
                f"groupadd -g {uid} {name} && useradd -m -u {uid} -g {uid} -s /bin/bash {name}",
                f"creating user {name}",
            )

    def write_stamp(self, accounting: bool) -> None:
        stamp = read_stamp(self.root)
        old = stamp.get("packages")
        packages = set(old if isinstance(old, list) else []) | set(_wanted_packages(accounting))
        old_steps = stamp.get("steps")
        steps = dict(old_steps) if isinstance(old_steps, dict) else {}
        steps.update(_wanted_steps(self.spec, accounting))
        data = {
            "schema": 1,
            "release": self.spec.release,
            "suite": self.spec.suite,
            "packages": sorted(packages),
            "steps": steps,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp = self.root / (STAMP + ".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(self.root / STAMP)

    def complete(self, accounting: bool) -> None:
        """The idempotent post-debootstrap steps."""
        self.policy_rc_d()
        wanted = _wanted_packages(accounting)
        installed = self.installed_packages()
        missing = [p for p in wanted if p not in installed]
        if missing:
            self.install(missing)
        if accounting and self.spec.compat_libmariadb:
            self.compat_libmariadb()
        self.munge_key()
        self.jwt_key()
        self.users()
        # debootstrap leaves its .debs behind (about 55 MB).
        for deb in (self.root / "var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        self.write_stamp(accounting)


def ensure_debootstrap(log: Log) -> str:
    """Path of debootstrap, installed with apt-get if missing."""
    search = clean_env()["PATH"]
    path = shutil.which("debootstrap", path=search)
    if path:
        return path
    log("installing debootstrap with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "debootstrap"]
    output = ""
    # A fresh machine may have no package lists yet: update once, then retry.
    for cmd in (install, ["apt-get", "update", "-q"], install):
        try:
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ClusterError(f"debootstrap is missing and apt-get cannot run: {exc}") from exc
        output = res.stdout + res.stderr
        path = shutil.which("debootstrap", path=search)
        if path:
            return path
    last = "\n".join(output.splitlines()[-10:])
    raise ClusterError(f"debootstrap is missing and `apt-get install debootstrap` failed:\n{last}")


def _has_slurm(root: Path) -> bool:
    # lexists: the link points to /etc/alternatives/... inside the root, absent on the host.
    return os.path.lexists(root / "usr/sbin/slurmctld")


def _debootstrap_running(target: Path) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"debootstrap" in a for a in argv[:2]) and str(target).encode() in argv:
            return True
    return False


def build_root(
    spec: ReleaseSpec, roots_dir: Path, accounting: bool, log: Log, mirror: str | None = None
) -> Path:
    """The cached root of ``spec``, built or completed as needed (minutes the first time)."""
    final = roots_dir / spec.release
    if final.is_dir() and root_is_current(final, spec, accounting):
        return final
    mirror = mirror or os.environ.get("SLURM_CLIENT_DEBIAN_MIRROR") or DEFAULT_MIRROR
    with file_lock(roots_dir / f"{spec.release}.lock"):
        if final.is_dir():
            if not root_is_current(final, spec, accounting):
                # Completed in place: the stamp is only written once every step succeeded.
                _Builder(spec, final, mirror, log).complete(accounting)
            return final
        partial = roots_dir / f"{spec.release}.partial"
        if _debootstrap_running(partial):
            raise ClusterError(f"a debootstrap is still writing {partial}; try again later")
        if mounts_under(partial):
            raise ClusterError(f"{partial} has mounts below it; unmount them first")
        builder = _Builder(spec, partial, mirror, log)
        started = time.monotonic()
        if not _has_slurm(partial):
            # Nothing usable yet (or an interrupted debootstrap): start over.
            shutil.rmtree(partial, ignore_errors=True)
            roots_dir.mkdir(parents=True, exist_ok=True)
            builder.debootstrap()
        builder.complete(accounting)
        partial.rename(final)
        log(f"root {final} ready in {time.monotonic() - started:.0f} s")
        return final
