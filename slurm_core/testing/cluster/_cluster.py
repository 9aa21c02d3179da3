"""LocalSlurmCluster: a real single-machine SLURM cluster in a cached Debian root."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _jwks, _runtime
from ._commands import run_sbatch
from ._conf import JWT_KEY, ClusterConfig
from ._daemons import DaemonSet, daemon_specs
from ._errors import ClusterError
from ._proc import chroot_run, lives_in
from ._release import Ports, get_release
from ._root import build_root, file_lock, group_id, user_id
from ._share import share_python as _share_python
from ._state import ClusterStatus, RunDir, RunState

__all__ = ["ClusterStatus", "LocalSlurmCluster", "default_cache_dir"]

log = logging.getLogger("slurm_core.testing.cluster")

DEFAULT_USER = "alice"
# SlurmUser is "slurm", so root is an ordinary REST user with full rights on all three
# releases (the 22.05 host testbed, with SlurmUser=root, saw root's tokens rejected).
ADMIN_USER = "root"
STORED_TOKEN_LIFESPAN = _runtime.STORED_TOKEN_LIFESPAN


def default_cache_dir() -> Path:
    """``$SLURM_CLIENT_CACHE`` or ``~/.cache/slurm-client``."""
    return Path(os.environ.get("SLURM_CLIENT_CACHE") or "~/.cache/slurm-client").expanduser()


class LocalSlurmCluster:
    """A real SLURM cluster (slurmctld, slurmd, slurmrestd with JWT auth and, with
    ``accounting``, slurmdbd on MariaDB) on this machine, in a cached Debian root.

    Needs root and Linux. The first start of a release builds its root with debootstrap
    (a minute or two); later starts take seconds. The run state lives in
    ``<cache>/run/<release>/``, so any process can attach to, use or stop a cluster that
    another process (e.g. ``python -m slurm_core.testing.cluster up``) started.

    Attributes: ``release``, ``accounting``, ``nodes``, ``cache_dir``, ``root`` (the Debian
    root), ``shared_dir`` (a host directory mounted into the root at the same path, mode
    1777 and emptied on every start: job output written there is readable on the host),
    ``user_name`` (``alice``, the default REST user) and ``admin_user_name`` (``root``).

    Example::

        with LocalSlurmCluster("24.11") as c:
            r = httpx.get(f"{c.rest_url}/slurm/v0.0.42/diag",
                          headers={"X-SLURM-USER-TOKEN": c.token()})
    """

    user_name = DEFAULT_USER
    admin_user_name = ADMIN_USER

    def __init__(
        self,
        release: str = "24.11",
        accounting: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        nodes: int = 1,
        *,
        start_timeout: float = 120.0,
        jwks: bool = False,
    ) -> None:
        self.spec = get_release(release)
        self.release = release
        self.accounting = accounting
        self.nodes = nodes
        self.start_timeout = start_timeout
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.root = self.cache_dir / "roots" / release
        self._run = RunDir(self.cache_dir / "run" / release)
        self.shared_dir = self._run.shared
        self._config = ClusterConfig(self.spec, _hostname(), nodes, accounting, jwks=jwks)
        self._started_here = False

    # ------------------------------------------------------------------ properties
    @property
    def ports(self) -> Ports:
        """The TCP ports of this release (ctld x817, slurmd x818, dbd x819, rest x820)."""
        return self.spec.ports

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:<x820>``."""
        return f"http://127.0.0.1:{self.ports.slurmrestd}"

    @property
    def jwt_key_path(self) -> Path:
        """Host path of the cluster's HS256 key (to mint tokens without ``scontrol``)."""
        return self.root / JWT_KEY.lstrip("/")

    @property
    def served_versions(self) -> tuple[str, ...]:
        """REST versions under ``/slurm/``, as read from the live ``/openapi/v3``."""
        state = self._run.load()
        if state and state.served_versions:
            return tuple(state.served_versions)
        return self.spec.versions

    @property
    def served_db_versions(self) -> tuple[str, ...]:
        """REST versions under ``/slurmdb/`` (empty without accounting)."""
        state = self._run.load()
        if state and state.ready:
            return tuple(state.served_db_versions)
        return self.spec.db_versions if self.accounting else ()

    @property
    def started_here(self) -> bool:
        """True if this object's :meth:`start` launched the daemons (it did not attach)."""
        return self._started_here

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def running(
        cls, release: str, cache_dir: str | os.PathLike[str] | None = None
    ) -> LocalSlurmCluster | None:
        """The cluster of ``release`` if it is running (configured as it was started).

        Example::

            c = LocalSlurmCluster.running("26.05")
            if c is not None:
                print(c.token())
        """
        probe = cls(release, cache_dir=cache_dir)
        state = probe._run.load()
        if state is None or not probe.is_running():
            return None
        return cls(release, state.accounting, cache_dir, state.nodes)

    def is_running(self) -> bool:
        """True if every daemon recorded for this release is alive."""
        state = self._run.load()
        if state is None or not state.ready:
            return False
        wanted = daemon_specs(self._state_config(state))
        return all(n in state.pids and lives_in(state.pids[n], self.root) for n in wanted)

    def start(self) -> LocalSlurmCluster:
        """Start the cluster and wait until slurmrestd is ready (``client.ready()``:
        ``/readyz`` on 26.05, else ``/diag``) and every node is idle.

        Attaches instead if it is already running (started by any process). Cleans up
        after itself and raises :class:`ClusterError` if the cluster cannot start.

        Example::

            c = LocalSlurmCluster("22.05", accounting=False).start()
        """
        _require_root()
        with file_lock(self._run.lock_file):
            state = self._run.load()
            if state is not None and self.is_running():
                self._check_compatible(state)
                log.info("SLURM %s is already running at %s", self.release, self.rest_url)
                return self
            if state is not None and state.ready and self._revive(state):
                return self
            self._teardown(state)
            self._check_ports()
            build_root(self.spec, self.cache_dir / "roots", self.accounting, log.info)
            t0 = time.monotonic()
            try:
                _runtime.start(
                    self.root,
                    self._run,
                    self._config,
                    self.user_name,
                    self.admin_user_name,
                    self.start_timeout,
                )
            except BaseException:
                self._teardown(self._run.load())
                raise
            self._started_here = True
            _share_python(self.root)
            log.info(
                "SLURM %s started in %.1f s at %s",
                self.release,
                time.monotonic() - t0,
                self.rest_url,
            )
        return self

    def uid(self, user: str | None = None) -> int:
        """The uid of ``user`` (default :attr:`user_name`) inside the root: the uid its jobs
        run as, e.g. for ``SlurmExecutor(job_user=...)`` from a process running as root.

        Example::

            SlurmExecutor(client, workspace=str(c.shared_dir), job_user=c.uid())
        """
        return user_id(self.root, user or self.user_name)

    def share_python(self, check: bool = True) -> list[Path]:
        """Make this process's Python (venv, base interpreter, ``slurm_core`` source tree)
        visible inside the root at the same paths, read-only; idempotent, no restart.

        With ``check``, also run the interpreter as :attr:`user_name` inside the root and
        raise :class:`ClusterError` if it cannot import what a function job needs
        (cloudpickle). Returns the paths mounted by this call. ``start`` shares too.

        Example::

            LocalSlurmCluster.running("24.11").share_python()
        """
        _require_root()
        with file_lock(self._run.lock_file):
            self._live_state()
            return _share_python(self.root, self.user_name if check else None)

    def stop(self) -> None:
        """Stop every daemon, kill leftover job steps, unmount; no-op if not running."""
        _require_root()
        with file_lock(self._run.lock_file):
            self._teardown(self._run.load())
        self._started_here = False

    def __enter__(self) -> LocalSlurmCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A cluster that was already running (e.g. started by the CLI) is left running.
        if self._started_here:
            self.stop()

    def __repr__(self) -> str:
        return (
            f"LocalSlurmCluster(release={self.release!r}, accounting={self.accounting}, "
            f"nodes={self.nodes}, url={self.rest_url!r})"
        )

    def status(self) -> ClusterStatus:
        """Daemons with their pids (None = down), URL, ports and served versions."""
        state = self._run.load()
        daemons: dict[str, int | None] = {}
        if state is not None:
            cfg = self._state_config(state)
            for name in daemon_specs(cfg):
                pid = state.pids.get(name)
                daemons[name] = pid if pid is not None and lives_in(pid, self.root) else None
        return ClusterStatus(
            release=self.release,
            running=self.is_running(),
            url=self.rest_url,
            ports=self.ports,
            accounting=state.accounting if state else self.accounting,
            nodes=state.nodes if state else self.nodes,
            root=self.root,
            shared_dir=self.shared_dir,
            daemons=daemons,
            served_versions=self.served_versions,
        )

    # ------------------------------------------------------------------ daemons
    def _state_config(self, state: RunState) -> ClusterConfig:
        return ClusterConfig(self.spec, self._config.hostname, state.nodes, state.accounting)

    def _daemon_set(self, state: RunState) -> DaemonSet:
        cfg = self._state_config(state)
        return DaemonSet(
            self.root, daemon_specs(cfg), self._run.logs, state.pids, lambda: self._run.save(state)
        )

    def _live_state(self) -> RunState:
        state = self._run.load()
        if state is None or not state.ready:
            raise ClusterError(
                f"SLURM {self.release} is not running; start it with LocalSlurmCluster"
                f"({self.release!r}).start() or `python -m slurm_core.testing.cluster up "
                f"--release {self.release}`"
            )
        return state

    def stop_daemon(self, name: str) -> None:
        """Stop one daemon (``"slurmd"`` means the slurmd of every node).

        Example::

            c.stop_daemon("slurmrestd")   # REST calls now fail to connect
        """
        _require_root()
        with file_lock(self._run.lock_file):
            state = self._live_state()
            daemons = self._daemon_set(state)
            daemons.stop(daemons.resolve(name))

    def start_daemon(self, name: str, timeout: float = 60.0) -> None:
        """Start a daemon stopped with :meth:`stop_daemon` and wait until it is ready."""
        _require_root()
        with file_lock(self._run.lock_file):
            state = self._live_state()
            self._launch_missing(state, self._daemon_set(state).resolve(name), timeout)

    def _launch_missing(self, state: RunState, names: list[str], timeout: float) -> None:
        daemons = self._daemon_set(state)
        for one in names:
            if not daemons.alive(one):
                daemons.launch(one)
                cfg = self._state_config(state)
                _runtime.wait_ready(self.root, cfg, self._run, daemons, one, timeout)

    def _revive(self, state: RunState) -> bool:
        """Bring back the stopped daemons of a cluster another process runs (a fault test
        stops one on purpose); never tear a shared cluster down. False if none is alive."""
        daemons = self._daemon_set(state)
        if not any(daemons.alive(name) for name in daemons.daemons):
            return False
        self._check_compatible(state)
        down = [name for name in daemons.daemons if not daemons.alive(name)]
        log.info("SLURM %s is running without %s: starting them", self.release, down)
        self._launch_missing(state, down, self.start_timeout)
        return True

    def restart_daemon(self, name: str, timeout: float = 60.0) -> None:
        """:meth:`stop_daemon` then :meth:`start_daemon`."""
        self.stop_daemon(name)
        self.start_daemon(name, timeout)

    def trust_jwks(self, jwks: Mapping[str, Any]) -> float:
        """Make the running slurmctld trust RS256 tokens signed by ``jwks``'s keys (an
        identity provider's ``jwks_uri`` document); returns the seconds slurmctld took to
        reload. Writes ``/etc/slurm/jwks.json`` and ``AuthAltParameters``, then runs
        ``scontrol reconfigure`` (23.11+ only: 22.05 would need a restart). The HS256 key
        keeps working; jobs and other clients are not disturbed. slurmctld only: slurmdbd
        (the ``/slurmdb/`` endpoints) reads the key set when it starts (``jwks=True``).

        Example::

            c.trust_jwks(httpx.get("https://id.example.org/jwks").json())
        """
        _require_root()
        if not _jwks.reloads_jwks(self.spec):
            raise ClusterError(f"SLURM {self.release} reloads its JWKS only on a restart")
        with file_lock(self._run.lock_file):
            state = self._live_state()
            owner = (user_id(self.root, "slurm"), group_id(self.root, "slurm"))
            _jwks.write_jwks(self.root, jwks, owner)
            _jwks.configure_jwks(self.root, self.spec)
            took = _jwks.reconfigure(
                self.root, state.pids, lambda: self._run.save(state), self._ctld_ready
            )
        log.info("SLURM %s reloaded its JWKS in %.2f s", self.release, took)
        return took

    def _ctld_ready(self) -> bool:
        return chroot_run(self.root, ["scontrol", "ping"], timeout=10).returncode == 0

    # ------------------------------------------------------------------ tokens & commands
    def token(self, user: str | None = None, lifespan: int = 3600) -> str:
        """A fresh JWT for ``user`` (default :attr:`user_name`), from ``scontrol token``.

        Example::

            headers = {"X-SLURM-USER-TOKEN": c.token("bob", lifespan=600)}
        """
        self._live_state()
        return _runtime.mint_token(self.root, user or self.user_name, lifespan)

    def admin_token(self, lifespan: int = 3600) -> str:
        """A JWT for :attr:`admin_user_name` (drain nodes, cancel anyone's jobs)."""
        return self.token(self.admin_user_name, lifespan)

    def env(self) -> dict[str, str]:
        """``SLURM_REST_URL``, ``SLURM_JWT`` and ``SLURM_USER_NAME`` for the default user.

        Example::

            subprocess.run(["my-tool"], env={**os.environ, **c.env()})
        """
        state = self._live_state()
        token = self._run.read_token()
        if token is None or state.token_expires < time.time() + 600:
            token = _runtime.mint_token(self.root, self.user_name, STORED_TOKEN_LIFESPAN)
            self._run.write_token(token)
            state.token_expires = time.time() + STORED_TOKEN_LIFESPAN
            self._run.save(state)
        return {
            "SLURM_REST_URL": self.rest_url,
            "SLURM_JWT": token,
            "SLURM_USER_NAME": self.user_name,
        }

    def host_path(self, path_inside: str | os.PathLike[str]) -> Path:
        """Where a path inside the cluster is on the host (the shared dir maps to itself).

        Example::

            c.host_path("/var/log/slurm/slurmctld.log").read_text()
        """
        inside = Path(path_inside)
        if not inside.is_absolute():
            raise ValueError(f"need an absolute path inside the cluster, got {inside}")
        if inside == self.shared_dir or self.shared_dir in inside.parents:
            return inside
        return self.root / inside.relative_to("/")

    def run(
        self,
        cmd: Sequence[str],
        *,
        user: str | None = None,
        input: str | None = None,
        timeout: float = 60.0,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the root (as root or ``user``), without ``SLURM_JWT``.

        Example::

            out = c.run(["scontrol", "show", "job", "5"], check=True).stdout
        """
        _require_root()
        res = chroot_run(self.root, cmd, input=input, timeout=timeout, user=user)
        if check and res.returncode != 0:
            raise ClusterError(
                f"{' '.join(cmd)!r} failed with exit code {res.returncode}: {res.stderr.strip()}"
            )
        return res

    def sbatch(
        self,
        script: str | os.PathLike[str],
        *options: str,
        script_args: Sequence[str] = (),
        user: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> int:
        """The real ``sbatch [options] script [script_args]`` as ``user`` (default
        :attr:`user_name`), from the script's directory (in :attr:`shared_dir`, which has
        the same path inside); returns the job id, or raises :class:`ClusterError` with
        sbatch's message. ``env`` adds variables (``SBATCH_*``) to a clean environment.

        Example::

            job_id = c.sbatch(c.shared_dir / "job.sh", "--hold")
        """
        _require_root()
        return run_sbatch(
            self.root, Path(script), options, script_args, user=user or self.user_name, env=env
        )

    # ------------------------------------------------------------------ internals
    def _check_compatible(self, state: RunState) -> None:
        if (state.accounting, state.nodes) != (self.accounting, self.nodes):
            raise ClusterError(
                f"already running with accounting={state.accounting}, "
                f"nodes={state.nodes}; stop it first (python -m slurm_core.testing.cluster "
                f"down --release {self.release}) or use LocalSlurmCluster.running()"
            )

    def _check_ports(self) -> None:
        _runtime.check_ports(self.ports.all(self.nodes, self.accounting), self.release)

    def _teardown(self, state: RunState | None) -> None:
        """Stop recorded daemons gracefully, then kill whatever else lives in the root."""
        _runtime.teardown(self.root, self._run, self._daemon_set(state) if state else None)


def _hostname() -> str:
    return os.uname().nodename or "localhost"


def _require_root() -> None:
    if not sys.platform.startswith("linux"):
        raise ClusterError("LocalSlurmCluster needs Linux (chroot, mount, /proc)")
    if os.geteuid() != 0:
        raise ClusterError(
            "LocalSlurmCluster needs root (debootstrap, chroot, mount, mknod); run it as root, "
            "e.g. in a CI job's container or VM"
        )
