"""The daemons of a local cluster: how each is launched, when it is ready, how it stops."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._conf import LOG_DIR, ClusterConfig
from ._errors import ClusterError
from ._proc import clean_env, launch, listening_ports, lives_in, tail, terminate

__all__ = ["MUNGE_SOCKET", "MYSQL_SOCKET", "Daemon", "DaemonSet", "daemon_specs"]

MUNGE_SOCKET = "/run/munge/munge.socket.2"
MYSQL_SOCKET = "/run/mysqld/mysqld.sock"
COMPAT_LIB_DIR = "/opt/libmariadb-compat"
log = logging.getLogger("slurm_core.testing.cluster")

LAUNCH_MARK = "=== launched"
# Daemons in the order they start; stop goes the other way.
ORDER = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "slurmrestd")


@dataclass(frozen=True)
class Daemon:
    """How to run one daemon in the foreground, and what "ready" means for it."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    socket: str | None = None  # ready when this unix socket exists (path inside the root)
    port: int | None = None  # ready when this TCP port listens
    log_file: str | None = None  # the daemon's own log file, inside the root

    @property
    def kind(self) -> str:
        return self.name.split("@", 1)[0]


def daemon_specs(cfg: ClusterConfig) -> dict[str, Daemon]:
    """Every daemon of the cluster described by ``cfg``, in start order."""
    spec, ports = cfg.spec, cfg.spec.ports
    daemons = [
        # setpriv exec()s (runuser would fork), so the recorded pid is munged itself.
        Daemon(
            "munged",
            (
                "setpriv",
                "--reuid=munge",
                "--regid=munge",
                "--clear-groups",
                "/usr/sbin/munged",
                "--foreground",
            ),
            socket=MUNGE_SOCKET,
        )
    ]
    if cfg.accounting:
        daemons += [
            Daemon(
                "mariadbd",
                # Unix socket only: no clash with a database server of the host.
                (
                    "/usr/sbin/mariadbd",
                    "--user=mysql",
                    "--skip-networking",
                    f"--socket={MYSQL_SOCKET}",
                    "--pid-file=/run/mysqld/mysqld.pid",
                    "--innodb-buffer-pool-size=64M",
                    "--innodb-lock-wait-timeout=900",
                ),
                socket=MYSQL_SOCKET,
            ),
            Daemon(
                "slurmdbd",
                ("/usr/sbin/slurmdbd", "-D"),
                env=(("LD_LIBRARY_PATH", COMPAT_LIB_DIR),) if spec.compat_libmariadb else (),
                port=ports.slurmdbd,
                log_file=f"{LOG_DIR}/slurmdbd.log",
            ),
        ]
    daemons.append(
        Daemon(
            "slurmctld",
            ("/usr/sbin/slurmctld", "-D"),
            port=ports.slurmctld,
            log_file=f"{LOG_DIR}/slurmctld.log",
        )
    )
    for index, node in enumerate(cfg.node_names, start=1):
        daemons.append(
            Daemon(
                f"slurmd@{node}",
                ("/usr/sbin/slurmd", "-D", "-N", node),
                port=ports.node_port(index),
                log_file=f"{LOG_DIR}/slurmd-{node}.log",
            )
        )
    daemons.append(
        Daemon(
            "slurmrestd",
            # Refuses to run as root: numeric ids because 26.05 cannot resolve "nobody".
            (
                "/usr/sbin/slurmrestd",
                "-a",
                "rest_auth/jwt",
                "-s",
                spec.rest_plugin_arg(cfg.accounting),
                "-u",
                "65534",
                "-g",
                "65534",
                f"127.0.0.1:{ports.slurmrestd}",
            ),
            # SLURM_JWT=daemon makes auth/jwt its primary auth plugin; without it every request
            # is rejected ("Rejecting thread config token").
            env=(("SLURM_JWT", "daemon"),),
            port=ports.slurmrestd,
        )
    )
    return {d.name: d for d in daemons}


class DaemonSet:
    """Launches, watches and stops the daemons of one cluster; pids go to ``on_change``."""

    def __init__(
        self,
        root: Path,
        daemons: Mapping[str, Daemon],
        logs: Path,
        pids: dict[str, int],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.root, self.daemons, self.logs = root, daemons, logs
        self.pids = pids
        self._on_change = on_change

    def resolve(self, name: str) -> list[str]:
        """Names matching ``name``: itself, or all ``slurmd@*`` for ``"slurmd"``."""
        if name in self.daemons:
            return [name]
        matches = [d for d in self.daemons if self.daemons[d].kind == name]
        if not matches:
            known = ", ".join(dict.fromkeys(d.kind for d in self.daemons.values()))
            raise ClusterError(f"no daemon {name!r} in this cluster; known: {known}")
        return matches

    def output_log(self, name: str) -> Path:
        return self.logs / f"{name}.out"

    def log_tail(self, name: str, lines: int = 25) -> str:
        """Tail of the daemon's own log file and of its captured stdout/stderr."""
        parts = []
        own = self.daemons[name].log_file
        if own:
            text = tail(self.root / own.lstrip("/"), lines)
            if text:
                parts.append(f"--- {own} (in the root) ---\n{text}")
        text = tail(self.output_log(name), 10_000).rpartition(LAUNCH_MARK)[2]
        text = "\n".join(text.splitlines()[1:][-lines:])
        if text:
            parts.append(f"--- {self.output_log(name)} ---\n{text}")
        return "\n".join(parts) or "(no log output)"

    def alive(self, name: str) -> bool:
        pid = self.pids.get(name)
        return pid is not None and lives_in(pid, self.root)

    def launch(self, name: str) -> int:
        daemon = self.daemons[name]
        out = self.output_log(name)
        out.parent.mkdir(parents=True, exist_ok=True)
        # Restarts append to the same file; errors quote only the latest run.
        with out.open("a") as fh:
            fh.write(
                f"{LAUNCH_MARK} {time.strftime('%Y-%m-%dT%H:%M:%S')}: {' '.join(daemon.argv)}\n"
            )
        pid = launch(self.root, daemon.argv, out, clean_env(dict(daemon.env)))
        self.pids[name] = pid
        self._on_change()
        return pid

    def died(self, name: str, what: str = "died during start") -> ClusterError:
        return ClusterError(f"{name} {what}:\n{self.log_tail(name)}")

    def wait(
        self, name: str, timeout: float = 60.0, check: Callable[[], bool] | None = None
    ) -> None:
        """Block until ``name`` is ready; ClusterError with its log if it dies or hangs."""
        daemon = self.daemons[name]
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive(name):
                raise self.died(name)
            ready = True
            if daemon.socket:
                ready = (self.root / daemon.socket.lstrip("/")).exists()
            if ready and daemon.port:
                ready = daemon.port in listening_ports()
            if ready and check is not None:
                ready = check()
            if ready:
                return
            if time.monotonic() > deadline:
                raise self.died(name, f"not ready after {timeout:g} s")
            time.sleep(0.05)

    def stop(self, names: Iterable[str], timeout: float = 15.0) -> None:
        """Stop ``names`` kind by kind in reverse start order (SIGTERM, SIGKILL after
        ``timeout``); daemons of one kind (the slurmd of several nodes) stop together."""
        wanted = set(names)
        for kind in reversed(ORDER):
            group = sorted(n for n in wanted if n.split("@", 1)[0] == kind)
            if not group:
                continue
            t0 = time.monotonic()
            terminate([self.pids[n] for n in group if n in self.pids and self.alive(n)], timeout)
            log.debug("%s stopped in %.2f s", ", ".join(group), time.monotonic() - t0)
            for n in group:
                self.pids.pop(n, None)
            self._on_change()
