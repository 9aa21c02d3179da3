"""Run state of a started cluster, kept on disk so that other processes can attach to it."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._release import Ports

__all__ = ["ClusterStatus", "RunDir", "RunState"]


@dataclass(frozen=True)
class ClusterStatus:
    """A snapshot of one cluster, as returned by :meth:`LocalSlurmCluster.status`.

    Example::

        st = LocalSlurmCluster("24.11").status()
        print(st.running, st.url, st.daemons)   # True http://127.0.0.1:7820 {'munged': 4711, ...}
    """

    release: str
    running: bool
    url: str
    ports: Ports
    accounting: bool
    nodes: int
    root: Path
    shared_dir: Path
    daemons: dict[str, int | None] = field(default_factory=dict)
    served_versions: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"SLURM {self.release}: {'running' if self.running else 'stopped'}"
        if not self.daemons:
            return head
        procs = ", ".join(f"{n}={p if p else 'DOWN'}" for n, p in self.daemons.items())
        return (
            f"{head} at {self.url} (accounting={self.accounting}, nodes={self.nodes})\n"
            f"  daemons: {procs}\n  versions: {', '.join(self.served_versions)}\n"
            f"  root: {self.root}\n  shared: {self.shared_dir}"
        )


@dataclass
class RunState:
    """What a running cluster looks like (no secrets: the token has its own file)."""

    release: str
    root: str
    accounting: bool
    nodes: int
    user: str
    admin_user: str
    pids: dict[str, int] = field(default_factory=dict)
    served_versions: list[str] = field(default_factory=list)
    served_db_versions: list[str] = field(default_factory=list)
    token_expires: float = 0.0
    started_at: float = 0.0
    ready: bool = False

    @classmethod
    def from_json(cls, text: str) -> RunState | None:
        try:
            data = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError):
            return None


class RunDir:
    """``<cache>/run/<release>/``: state.json, token (0600), logs/, shared/ (1777)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state_file = path / "state.json"
        self.token_file = path / "token"
        self.logs = path / "logs"
        self.shared = path / "shared"
        self.lock_file = path.parent / f"{path.name}.lock"

    def load(self) -> RunState | None:
        try:
            return RunState.from_json(self.state_file.read_text())
        except OSError:
            return None

    def save(self, state: RunState) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=1) + "\n")
        tmp.replace(self.state_file)

    def read_token(self) -> str | None:
        try:
            return self.token_file.read_text().strip() or None
        except OSError:
            return None

    def write_token(self, token: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.token_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        tmp.replace(self.token_file)

    def clear(self) -> None:
        """Forget the run (logs stay for post-mortems until the next start)."""
        for f in (self.state_file, self.token_file):
            f.unlink(missing_ok=True)

    def reset(self) -> None:
        """Fresh logs/ and an empty shared/ (mode 1777: jobs of any user write there)."""
        self.clear()
        shutil.rmtree(self.logs, ignore_errors=True)
        shutil.rmtree(self.shared, ignore_errors=True)
        self.logs.mkdir(parents=True)
        self.shared.mkdir(parents=True)
        self.shared.chmod(0o1777)
