"""Low-level process, mount and port helpers for daemons living in a chroot (Linux only)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ._errors import ClusterError

__all__ = [
    "chroot_run",
    "clean_env",
    "describe_pid",
    "is_alive",
    "kill_root_processes",
    "launch",
    "listening_ports",
    "lives_in",
    "mount",
    "mounts_under",
    "pids_in_root",
    "port_owners",
    "tail",
    "terminate",
    "umount",
]

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Daemons this process started. Keeping the Popen objects lets us reap them: an unreaped
# child stays a zombie, and orphans are reaped only lazily by PID 1 on these machines.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for commands in the root.

    Built from scratch on purpose: an inherited ``SLURM_JWT`` switches libslurm to auth/jwt
    (a restarted slurmctld then dies with "AuthType change requires restart"), and other
    ``SLURM_*`` variables of the host would leak into the cluster.
    """
    env = {"PATH": _PATH, "LANG": "C.UTF-8", "HOME": "/root"}
    env.update(extra or {})
    return env


def chroot_run(
    root: Path,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60.0,
    user: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside ``root`` (optionally as ``user``) and capture its output."""
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []
    try:
        return subprocess.run(
            ["chroot", str(root), *prefix, *argv],
            env=clean_env(env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"{' '.join(argv)!r} did not finish within {timeout:g} s") from exc


def launch(root: Path, argv: Sequence[str], log: Path, env: Mapping[str, str]) -> int:
    """Start a foreground daemon in ``root`` in its own session; returns its pid.

    ``chroot`` exec()s, so the pid is the daemon's own (as long as ``argv`` execs too).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["chroot", str(root), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def is_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (``kill -0`` succeeds on zombies)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1] not in ("Z", "X")
    return False


def lives_in(pid: int, root: Path) -> bool:
    """True if ``pid`` is alive and is ours: a child of this process, or living in ``root``.

    The root check guards against a recycled pid read from another process's state file.
    """
    if pid in _CHILDREN:
        return is_alive(pid)
    return is_alive(pid) and _proc_root(str(pid)) == str(root.resolve())


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if is_alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if is_alive(p)]
    return left


def terminate(pids: Iterable[int], timeout: float = 10.0) -> None:
    """SIGTERM ``pids`` together, SIGKILL whatever is still alive after ``timeout``."""
    alive = [p for p in pids if is_alive(p)]
    for pid in alive:
        _signal(pid, signal.SIGTERM)
    for pid in _wait_gone(alive, timeout):
        _signal(pid, signal.SIGKILL)
    _wait_gone(alive, 5.0)


def _proc_root(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/root")
    except OSError:
        return None


def pids_in_root(root: Path) -> list[int]:
    """Processes whose root directory is ``root`` (daemons, slurmstepd, job steps)."""
    target = str(root.resolve())
    me = os.getpid()
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit() and int(entry) != me and _proc_root(entry) == target
    ]


def kill_root_processes(root: Path, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process living in ``root`` until none is left; returns what was killed."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while pids := [p for p in pids_in_root(root) if is_alive(p)]:
        if time.monotonic() > deadline:
            raise ClusterError(f"processes in {root} survive SIGKILL: {pids}")
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        killed += [p for p in pids if p not in killed]
        _wait_gone(pids, 1.0)
    return killed


def _unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first (the order to unmount them)."""
    base = str(root.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape_mountinfo(line.split()[4])
        if point == base or point.startswith(base + "/"):
            found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def mount(*args: str) -> None:
    """Run ``mount`` with ``args``; ClusterError with its message when it fails."""
    res = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ClusterError(f"mount {' '.join(args)} failed: {res.stderr.strip()}")


def umount(point: Path) -> None:
    """Unmount ``point``, lazily if it is still busy."""
    res = subprocess.run(["umount", str(point)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        lazy = subprocess.run(["umount", "-l", str(point)], capture_output=True, text=True)
        if lazy.returncode != 0:
            raise ClusterError(f"cannot unmount {point}: {lazy.stderr.strip()}")


def listening_ports() -> dict[int, set[int]]:
    """TCP ports in LISTEN state (IPv4 and IPv6) mapped to their socket inodes."""
    ports: dict[int, set[int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A":  # 0A = TCP_LISTEN
                port = int(cols[1].rsplit(":", 1)[1], 16)
                ports.setdefault(port, set()).add(int(cols[9]))
    return ports


def port_owners(inodes: set[int]) -> list[int]:
    """Pids holding any of the socket ``inodes``."""
    wanted = {f"socket:[{i}]" for i in inodes}
    owners = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}") in wanted:
                    owners.append(int(entry))
                    break
            except OSError:
                continue
    return owners


def describe_pid(pid: int) -> str:
    """``pid 123 (slurmctld, root /x)`` for messages."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = "?"
    root = _proc_root(str(pid)) or "?"
    return f"pid {pid} ({comm}, root {root})"


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of ``path`` ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
