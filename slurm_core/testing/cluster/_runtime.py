"""Bringing a cluster up inside its root: clean state, configs, mounts, daemons, accounts."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from ..._client import SlurmClient
from ..._exceptions import SlurmError
from ..._retry import RetryPolicy
from ...auth import StaticToken
from ._conf import (
    ACCOUNT,
    GPU_DEVICES,
    LOG_DIR,
    RUN_DIR,
    SLURMDBD_CONF,
    SPOOL_DIR,
    STATE_DIR,
    USERS,
    ClusterConfig,
    render_all,
)
from ._daemons import MYSQL_SOCKET, DaemonSet, daemon_specs
from ._errors import ClusterError
from ._proc import (
    chroot_run,
    describe_pid,
    kill_root_processes,
    listening_ports,
    mount,
    mounts_under,
    port_owners,
    umount,
)
from ._root import group_id, user_id
from ._state import RunDir, RunState

__all__ = ["check_ports", "http_get", "mint_token", "start", "teardown", "wait_ready"]

log = logging.getLogger("slurm_core.testing.cluster")

STORED_TOKEN_LIFESPAN = 86400
# The cluster is on 127.0.0.1: never route it through an http_proxy of the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, token: str, user: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body) of a GET as ``user`` with ``token``; status 0 if nothing answers."""
    if not url.startswith("http://"):
        raise ValueError(f"not an http URL: {url}")
    # slurmrestd 22.05 rejects a token without the user name header; later ones accept both.
    headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token}
    req = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def mint_token(root: Path, user: str, lifespan: int) -> str:
    """A JWT for ``user`` from ``scontrol token`` in ``root`` (needs slurmctld)."""
    res = chroot_run(root, ["scontrol", "token", f"lifespan={int(lifespan)}", f"username={user}"])
    for line in res.stdout.splitlines():
        if line.startswith("SLURM_JWT="):
            return line.split("=", 1)[1].strip()
    raise ClusterError(
        f"scontrol token username={user} failed (exit {res.returncode}): {res.stderr.strip()}"
    )


def _chown(path: Path, root: Path, owner: str) -> None:
    os.chown(path, user_id(root, owner), group_id(root, owner))


def _fresh_dir(root: Path, inside: str, owner: str = "root", mode: int = 0o755) -> Path:
    path = root / inside.lstrip("/")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    path.chmod(mode)
    _chown(path, root, owner)
    return path


def _prepare_root(root: Path, cfg: ClusterConfig, shared: Path) -> None:
    """Clean state, fresh configs, GPU device nodes and mounts."""
    _fresh_dir(root, STATE_DIR, "slurm")
    _fresh_dir(root, LOG_DIR, "slurm")
    _fresh_dir(root, RUN_DIR, "slurm")
    _fresh_dir(root, SPOOL_DIR)
    for node in cfg.node_names:
        _fresh_dir(root, f"{SPOOL_DIR}/{node}")
    _fresh_dir(root, "/run/munge", "munge")
    for d in ("/var/lib/munge", "/var/log/munge"):
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True, mode=0o700)
        _chown(root / d.lstrip("/"), root, "munge")
    if cfg.accounting:
        _fresh_dir(root, "/run/mysqld", "mysql")
        # sid's client library looks for the socket in /run/mariadbd, trixie's in /run/mysqld.
        alias = root / "run/mariadbd"
        if not alias.is_symlink():
            shutil.rmtree(alias, ignore_errors=True)
            alias.symlink_to("mysqld")

    files = render_all(cfg)
    for stale in (SLURMDBD_CONF,):
        if stale not in files:
            (root / stale.lstrip("/")).unlink(missing_ok=True)
    for inside, text in files.items():
        path = root / inside.lstrip("/")
        path.write_text(text)
        path.chmod(0o644)
    if SLURMDBD_CONF in files:
        # slurmdbd refuses a config readable by others or not owned by SlurmUser.
        dbd = root / SLURMDBD_CONF.lstrip("/")
        dbd.chmod(0o600)
        _chown(dbd, root, "slurm")

    for minor, device in enumerate(GPU_DEVICES):
        path = root / device.lstrip("/")
        if not (path.exists() and stat.S_ISCHR(path.stat().st_mode)):
            path.unlink(missing_ok=True)
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(195, minor))
        path.chmod(0o666)

    mount("-t", "proc", "proc", str(root / "proc"))
    mount("-t", "sysfs", "sysfs", str(root / "sys"))
    # The shared dir appears inside the root at its host path, so paths written by jobs
    # are valid on the host too. Jobs run as alice: every directory above it (such as
    # the root's /root, 0700) must be traversable.
    target = root / shared.resolve().relative_to("/")
    target.mkdir(parents=True, exist_ok=True)
    for parent in [target, *target.parents]:
        if parent == root:
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    mount("--bind", str(shared), str(target))
    # Mount events below the bind must never propagate to the host (if / is shared).
    mount("--make-private", str(target))


def _mysql(root: Path, sql: str) -> tuple[bool, str]:
    res = chroot_run(root, ["mariadb", f"--socket={MYSQL_SOCKET}", "-e", sql], timeout=30)
    return res.returncode == 0, res.stderr.strip()


def _setup_accounting(root: Path, cfg: ClusterConfig) -> None:
    name = cfg.spec.cluster_name
    users = ",".join(u for u, _ in USERS)
    # One sacctmgr reading several commands: each invocation costs a connection to slurmdbd.
    commands = (
        f"add cluster {name}\n"
        f"add account {ACCOUNT} cluster={name} description=research organization=local\n"
        f"add user {users} account={ACCOUNT} cluster={name}\n"
    )
    res = chroot_run(root, ["sacctmgr", "-i"], input=commands, timeout=60)
    check = chroot_run(
        root, ["sacctmgr", "-n", "-P", "show", "assoc", f"account={ACCOUNT}", "format=user"]
    )
    if not all(u in check.stdout.split() for u, _ in USERS):
        raise ClusterError(
            f"registering account {ACCOUNT} with sacctmgr failed: {res.stdout} {res.stderr}"
        )


def _ctld_up(root: Path) -> bool:
    return "UP" in chroot_run(root, ["scontrol", "ping"], timeout=20).stdout


def _nodes_idle(root: Path, nodes: int) -> bool:
    res = chroot_run(root, ["sinfo", "-h", "-N", "-o", "%N %T"], timeout=20)
    states = dict(line.split() for line in res.stdout.splitlines() if len(line.split()) == 2)
    return len(states) == nodes and all(s == "idle" for s in states.values())


def _rest_client(cfg: ClusterConfig, token: str, user: str) -> SlurmClient:
    """A client that asks once per probe (no retries, no circuit breaker: starting is
    expected to fail for a while), one for the whole wait (``/readyz`` is looked for once)."""
    return SlurmClient(
        f"http://127.0.0.1:{cfg.spec.ports.slurmrestd}",
        auth=StaticToken(token, user_name=user),
        api_version=cfg.spec.probe_version,
        timeout=2.0,
        retry=RetryPolicy(max_attempts=1),
        circuit_breaker=None,
    )


def _rest_ok(client: SlurmClient) -> bool:
    # ready(): /readyz on 26.05, else /diag (not /ping, which answers any non-empty token).
    try:
        return client.ready()
    except SlurmError:
        return False


def wait_ready(
    root: Path, cfg: ClusterConfig, run: RunDir, daemons: DaemonSet, name: str, timeout: float
) -> None:
    """Wait until daemon ``name`` (just launched) serves; ClusterError if it dies."""
    kind = name.split("@", 1)[0]
    if kind == "slurmctld":
        daemons.wait(name, timeout, lambda: _ctld_up(root))
    elif kind == "mariadbd":
        daemons.wait(name, timeout, lambda: _mysql(root, "SELECT 1")[0])
    elif kind == "slurmrestd":
        state = run.load()
        user = state.user if state else USERS[0][0]
        token = run.read_token() or mint_token(root, user, 600)
        with _rest_client(cfg, token, user) as client:
            daemons.wait(name, timeout, lambda: _rest_ok(client))
    else:
        daemons.wait(name, timeout)


def _served_versions(cfg: ClusterConfig, token: str, user: str) -> tuple[list[str], list[str]]:
    url = f"http://127.0.0.1:{cfg.spec.ports.slurmrestd}/openapi/v3"
    status, body = http_get(url, token, user)
    try:
        paths = json.loads(body)["paths"] if status == 200 else {}
    except (ValueError, KeyError):
        paths = {}
    found: dict[str, set[str]] = {"slurm": set(), "slurmdb": set()}
    for path in paths:
        m = re.match(r"^/(slurm|slurmdb)/(v\d+\.\d+\.\d+)/", path)
        if m:
            found[m.group(1)].add(m.group(2))
    if not found["slurm"]:  # no usable document: fall back to what the release is known to serve
        return list(cfg.spec.versions), list(cfg.spec.db_versions if cfg.accounting else ())

    def order(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v[1:].split("."))

    return sorted(found["slurm"], key=order), sorted(found["slurmdb"], key=order)


def start(
    root: Path, run: RunDir, cfg: ClusterConfig, user: str, admin_user: str, timeout: float
) -> RunState:
    """Start every daemon from a clean state; on error the caller tears down."""
    run.reset()
    state = RunState(
        release=cfg.spec.release,
        root=str(root),
        accounting=cfg.accounting,
        nodes=cfg.nodes,
        user=user,
        admin_user=admin_user,
        started_at=time.time(),
    )
    run.save(state)
    daemons = DaemonSet(root, daemon_specs(cfg), run.logs, state.pids, lambda: run.save(state))
    _prepare_root(root, cfg, run.shared)

    t0 = time.monotonic()

    def up(name: str) -> None:
        daemons.launch(name)
        wait_ready(root, cfg, run, daemons, name, timeout)
        log.debug("%s ready at %.2f s", name, time.monotonic() - t0)

    up("munged")
    if cfg.accounting:
        up("mariadbd")
        ok, err = _mysql(
            root,
            # A fresh accounting database on every start, like the rest of the state.
            "DROP DATABASE IF EXISTS slurm_acct_db;"
            " CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;"
            " GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';",
        )
        if not ok:
            raise ClusterError(f"preparing the accounting database failed: {err}")
        up("slurmdbd")
        _setup_accounting(root, cfg)
        log.debug("accounts registered at %.2f s", time.monotonic() - t0)
    up("slurmctld")
    for node in cfg.node_names:
        daemons.launch(f"slurmd@{node}")
    token = mint_token(root, user, STORED_TOKEN_LIFESPAN)
    run.write_token(token)
    state.token_expires = time.time() + STORED_TOKEN_LIFESPAN
    up("slurmrestd")
    for node in cfg.node_names:
        daemons.wait(f"slurmd@{node}", timeout)
    deadline = time.monotonic() + timeout
    while not _nodes_idle(root, cfg.nodes):
        if time.monotonic() > deadline:
            state_text = chroot_run(root, ["sinfo", "-N", "-o", "%N %T %E"]).stdout
            raise ClusterError(f"nodes not idle after {timeout:g} s:\n{state_text}")
        for node in cfg.node_names:
            if not daemons.alive(f"slurmd@{node}"):
                raise daemons.died(f"slurmd@{node}")
        time.sleep(0.1)
    log.debug("nodes idle at %.2f s", time.monotonic() - t0)
    state.served_versions, state.served_db_versions = _served_versions(cfg, token, user)
    state.ready = True
    run.save(state)
    return state


def check_ports(ports: Iterable[int], release: str) -> None:
    """ClusterError naming the process if any of ``ports`` is already listening."""
    taken = listening_ports()
    for port in ports:
        if port in taken:
            who = ", ".join(describe_pid(p) for p in port_owners(taken[port]))
            raise ClusterError(
                f"port {port} needed by SLURM {release} is taken by "
                f"{who or 'an unknown process'}; stop that process first"
            )


def teardown(root: Path, run: RunDir, daemons: DaemonSet | None) -> None:
    """Stop ``daemons`` gracefully, kill whatever else lives in ``root``, unmount."""
    if daemons is not None:
        daemons.stop(list(daemons.pids))
    if root.exists():
        killed = kill_root_processes(root)
        if killed:
            log.info("killed %d leftover processes in %s", len(killed), root)
        for point in mounts_under(root):
            umount(point)
    run.clear()
