"""A hermetic Airflow for these tests.

Before Airflow is imported anywhere, ``AIRFLOW_HOME`` points to a fresh temporary directory
with its own sqlite database, no example DAGs, an empty DAGs folder and unit-test mode. The
database is created once per session (``airflow_db``). Connections come from environment
variables (``AIRFLOW_CONN_SLURM_DEFAULT`` as JSON), built from the ``slurm_cluster`` fixture
of slurm-client's pytest plugin by ``slurm_conn``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if importlib.util.find_spec("airflow") is None:  # e.g. `pytest tests` in the core environment
    collect_ignore_glob = ["test_*.py"]

_HOME = Path(tempfile.mkdtemp(prefix="slurm-airflow-tests-"))
(_HOME / "dags").mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_HOME / "logs"),
    }
)
for _name in [k for k in os.environ if k.startswith("AIRFLOW_CONN_")]:
    del os.environ[_name]  # only the connections these tests define

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

    from slurm_core import SlurmClient
    from slurm_core.testing import FakeSlurmServer
    from slurm_core.testing.cluster import LocalSlurmCluster

FAKE_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJ0ZXN0dXNlciJ9.ZmFrZS1zaWduYXR1cmU"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Airflow's triggerer runs asyncio."""
    return "asyncio"


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The temporary ``AIRFLOW_HOME`` of this session."""
    return _HOME


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the metadata database once per session."""
    from airflow.utils import db

    db.initdb()


@dataclass(frozen=True)
class SlurmConn:
    """The ``slurm_default`` connection of a test cluster (``token`` is for leak checks)."""

    conn_id: str
    token: str
    cluster: LocalSlurmCluster

    @property
    def shared_dir(self) -> Path:
        return Path(self.cluster.shared_dir)

    def conn_json(self, token: str | None = None, **extra: Any) -> str:
        """``AIRFLOW_CONN_<ID>`` JSON for this cluster (another ``token`` if given)."""
        return conn_json(self.cluster, self.token if token is None else token, **extra)


def conn_json(cluster: LocalSlurmCluster, token: str, **extra: Any) -> str:
    """``AIRFLOW_CONN_<ID>`` JSON for ``cluster`` with ``token`` as password."""
    host, port = cluster.rest_url.removeprefix("http://").rsplit(":", 1)
    return json.dumps(
        {
            "conn_type": "slurm",
            "host": host,
            "port": int(port),
            "schema": "http",
            "login": cluster.user_name,
            "password": token,
            "extra": extra,
        }
    )


@pytest.fixture(scope="session")
def slurm_conn(slurm_cluster: LocalSlurmCluster) -> Iterator[SlurmConn]:
    """``slurm_default`` pointing at the release's real cluster, as an env connection."""
    token = slurm_cluster.token()
    key = "AIRFLOW_CONN_SLURM_DEFAULT"
    before = os.environ.get(key)
    os.environ[key] = conn_json(
        slurm_cluster, token, working_directory=str(slurm_cluster.shared_dir)
    )
    try:
        yield SlurmConn("slurm_default", token, slurm_cluster)
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


@pytest.fixture
def client(slurm_conn: SlurmConn) -> Iterator[SlurmClient]:
    """A client of the release's real cluster, as the test's own user."""
    from slurm_core import SlurmClient, StaticToken

    cluster = slurm_conn.cluster
    auth = StaticToken(slurm_conn.token, user_name=cluster.user_name)
    with SlurmClient(cluster.rest_url, auth=auth) as c:
        yield c


@pytest.fixture
def fake_conn(
    slurm_fake: FakeSlurmServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeSlurmServer]:
    """``slurm_default`` pointing at ``slurm_fake`` served over HTTP on 127.0.0.1.

    The code under test reads its connection as in production; only the server is fake.
    """
    with slurm_fake.serve() as url:
        conn = {
            "conn_type": "slurm",
            "host": url,
            "login": "testuser",
            "password": FAKE_TOKEN,
            "extra": {"working_directory": "/tmp"},  # the connection's default for jobs
        }
        monkeypatch.setenv("AIRFLOW_CONN_SLURM_DEFAULT", json.dumps(conn))
        yield slurm_fake


@pytest.fixture(scope="session")
def run_dag(airflow_db: None) -> Callable[..., DagRun]:
    """Run a DAG with ``dag.test()`` (tasks in-process, deferred tasks' triggers inline).

    ``dag.test()`` only runs DAGs the metadata database knows, so the DAG is first
    registered, as the DAG processor would.
    """

    def run(dag: DAG, **kwargs: Any) -> DagRun:
        _register(dag)
        return dag.test(**kwargs)

    return run


@pytest.fixture(scope="session")
def register_dag(airflow_db: None) -> Callable[[DAG], None]:
    """Store a DAG in the metadata database as the DAG processor would."""
    return _register


def _register(dag: DAG) -> None:
    # Bundle rows, then the serialized DAG and its version.
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
