"""Hermetic Dagster for these tests: a temporary DAGSTER_HOME (telemetry off) for the whole
session, so no test reads or writes the developer's instance. ``dagster.materialize`` runs
on an ephemeral instance anyway; this also covers anything that asks for DAGSTER_HOME."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from slurm_dagster import SlurmResource

if TYPE_CHECKING:
    from slurm_core.testing import FakeSlurmServer
    from slurm_core.testing.cluster import LocalSlurmCluster

FAKE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"


@pytest.fixture(scope="session", autouse=True)
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        yield home
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved


# ---------------------------------------------------------------------- the fake slurmrestd
@pytest.fixture
def fake_slurm(slurm_fake: FakeSlurmServer) -> Iterator[SlurmResource]:
    """A SlurmResource talking HTTP to the fake (the resource builds its own clients)."""
    with slurm_fake.serve() as url:
        # The fake runs nothing: any absolute working directory does for jobs that set none.
        yield SlurmResource(
            url=url, token=FAKE_TOKEN, user_name="testuser", working_directory="/tmp"
        )


# ---------------------------------------------------------------------- real clusters
@pytest.fixture
def slurm(slurm_cluster: LocalSlurmCluster) -> SlurmResource:
    """A SlurmResource for the cluster's default user (alice)."""
    return SlurmResource(
        url=slurm_cluster.rest_url,
        token=slurm_cluster.token(),
        user_name=slurm_cluster.user_name,
    )


@pytest.fixture
def work_dir(slurm_cluster: LocalSlurmCluster, request: pytest.FixtureRequest) -> Path:
    """A fresh directory on the cluster's shared filesystem (writable by the job's user)."""
    path = (
        slurm_cluster.shared_dir / "dagster-tests" / f"{request.node.name}-{uuid.uuid4().hex[:6]}"
    )
    for d in (path.parent, path):
        d.mkdir(exist_ok=True)
        d.chmod(0o1777)
    return path


# Modules dagster_pipes imports beyond what python3-minimal ships in some cluster roots.
_STDLIB_NEEDED = ("json", "queue", "shutil", "tempfile")


@pytest.fixture
def pipes_pythonpath(slurm_cluster: LocalSlurmCluster) -> str:
    """A directory on the shared filesystem holding ``dagster_pipes`` for the cluster's
    python3 (no network inside the cluster: the host's copy is installed there).

    Some cluster roots carry only python3-minimal, which lacks json/queue/shutil/tempfile
    (Debian puts them in libpython3.X-stdlib). Until the roots install that package, the
    modules the probe finds missing are copied from this interpreter's standard library
    (pure-Python modules; checked on the roots' 3.11, 3.13 and 3.14).

    Made once per cluster start (a restart empties the shared directory: it is made again)."""
    import sysconfig

    import dagster_pipes

    target = slurm_cluster.shared_dir / "dagster-tests" / "pylib"
    if (target / ".ready").exists():
        return str(target)
    target.parent.mkdir(exist_ok=True)
    target.parent.chmod(0o1777)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(
        Path(dagster_pipes.__file__).parent,
        target / "dagster_pipes",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    probe = (
        "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if not u.find_spec(m)])"
    )
    res = slurm_cluster.run(["python3", "-c", probe, *_STDLIB_NEEDED], user=slurm_cluster.user_name)
    assert res.returncode == 0, res.stderr
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in res.stdout.split():
        src = stdlib / name if (stdlib / name).is_dir() else stdlib / f"{name}.py"
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target / src.name)
    check = slurm_cluster.run(
        ["env", f"PYTHONPATH={target}", "python3", "-c", "import dagster_pipes"],
        user=slurm_cluster.user_name,
    )
    assert check.returncode == 0, f"dagster_pipes does not import in the cluster: {check.stderr}"
    (target / ".ready").touch()
    return str(target)
