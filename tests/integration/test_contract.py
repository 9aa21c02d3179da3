"""Contract: the same scenario against FakeSlurmServer and a real SLURM 24.11, compared.

The scenario goes through the public client only (submit with the builder, list, get,
hold/release, cancel, a failing job, a dependency that can never be satisfied, nodes,
partitions, accounting). It records what a user of the client can see and should not
depend on the cluster: states, reasons, flags, exit codes, names, limits, errors. Both
runs must record the same thing. Run it with a real cluster::

    SLURM_TEST_RELEASES=24.11 .venv/bin/pytest tests/integration/test_contract.py

(the ``slurm_cluster`` fixture starts the cluster if needed, or skips without one).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from slurm_core import NotFoundError, SlurmClient, StaticToken
from slurm_core.jobs import JobBuilder
from slurm_core.models import Job
from slurm_core.testing import FakeSlurmServer
from slurm_core.testing.cluster import LocalSlurmCluster

CONTRACT_RELEASES = {"24.11"}
SLEEP = "#!/bin/bash\nsleep 3\n"
FAIL = "#!/bin/bash\nexit 3\n"
LONG = "#!/bin/bash\nsleep 300\n"


class Backend:
    """A client plus a way to let time pass until a condition holds."""

    def __init__(
        self,
        client: SlurmClient,
        settle: Callable[[Callable[[], bool], float], None],
        workdir: str,
        user: str,
    ) -> None:
        self.client = client
        self.settle = settle
        self.workdir = workdir
        self.user = user

    def until(self, check: Callable[[], bool], seconds: float = 60) -> None:
        self.settle(check, seconds)
        assert check(), "the condition did not hold in time"

    def get(self, job_id: int) -> Job:
        return self.client.jobs.get(job_id)


def _state(job: Job) -> tuple[str, ...]:
    return (str(job.state.base), *sorted(job.state.flags))


def scenario(b: Backend) -> dict[str, Any]:
    """What the client sees; every value must be the same on the fake and the real cluster."""
    c = b.client
    seen: dict[str, Any] = {"api_version": c.negotiate()}

    def submit(name: str, script: str, **options: Any) -> int:
        builder: JobBuilder = (
            c.jobs.submit()
            .name(name)
            .partition("debug")
            .time_limit("5")
            .working_directory(b.workdir)
            .script(script)
        )
        for option, value in options.items():
            builder = (
                getattr(builder, option)(*value)
                if isinstance(value, tuple)
                else (getattr(builder, option)(value))
            )
        return int(builder.execute().job_id)

    # -- cluster objects --------------------------------------------------------------
    nodes = c.nodes.list()
    seen["nodes: some, all up"] = (len(nodes) > 0, all(n.is_available for n in nodes))
    parts = {p.name: p for p in c.partitions.list()}
    seen["partitions: debug default, gpu"] = (
        "debug" in parts,
        parts["debug"].is_default,
        "gpu" in parts,
    )
    seen["partition debug: state"] = parts["debug"].state

    # -- a job that completes ----------------------------------------------------------
    ok = submit("contract-ok", SLEEP)
    first = b.get(ok)
    seen["ok: fields"] = (first.name, first.partition, first.time_limit, first.working_directory)
    seen["ok: first state"] = str(first.state.base) in ("PENDING", "RUNNING")
    b.until(lambda: b.get(ok).state.is_finished)
    done = b.get(ok)
    seen["ok: final"] = (_state(done), done.exit_code.status if done.exit_code else None)
    seen["ok: return code"] = done.exit_code.return_code if done.exit_code else None
    seen["ok: times"] = (done.start_time is not None, done.end_time is not None)
    seen["ok: listed"] = ok in {j.job_id for j in c.jobs.list()}

    # -- a job that fails, and a dependency on it that can never be satisfied -----------
    bad = submit("contract-fail", FAIL)
    b.until(lambda: b.get(bad).state.is_finished)
    failed = b.get(bad)
    seen["fail: final"] = (
        _state(failed),
        failed.exit_code.return_code if failed.exit_code else None,
    )
    never = submit("contract-never", SLEEP, depends_on=f"afterok:{bad}")
    b.until(lambda: b.get(never).state_reason == "DependencyNeverSatisfied", 30)
    stuck = b.get(never)
    seen["never: state, reason"] = (_state(stuck), stuck.state_reason)
    c.jobs.cancel(never)
    seen["never: cancelled"] = _state(b.get(never))

    # -- hold, release, cancel -----------------------------------------------------------
    held = submit("contract-held", LONG, hold=())
    job = b.get(held)
    seen["held: state, reason, hold"] = (_state(job), job.state_reason, job.hold)
    c.jobs.release(held)
    b.until(lambda: b.get(held).state.is_running, 30)
    job = b.get(held)
    seen["released: state, hold"] = (_state(job), job.hold, job.nodes is not None)
    c.jobs.update(held, comment="updated", time_limit=timedelta(minutes=4))
    job = b.get(held)
    seen["updated: comment, limit"] = (job.comment, job.time_limit)
    try:  # only an admin may raise a limit
        c.jobs.update(held, time_limit=timedelta(minutes=7))
    except Exception as exc:
        seen["raise limit"] = (type(exc).__name__, getattr(exc, "error_numbers", None))
    c.jobs.cancel(held)
    b.until(lambda: b.get(held).state.is_finished, 30)
    job = b.get(held)
    seen["cancelled: state, exit"] = (
        _state(job),
        job.exit_code.status if job.exit_code else None,
        job.exit_code.signal if job.exit_code else None,
    )
    c.jobs.cancel(held)  # again: no error
    seen["cancel twice: ok"] = True

    # -- errors ---------------------------------------------------------------------------
    try:
        c.jobs.get(99_999_999)
    except NotFoundError as exc:
        seen["unknown job"] = ("NotFoundError", exc.error_numbers)
    try:
        c.jobs.submit().partition("no-such-partition").script(SLEEP).execute()
    except Exception as exc:
        seen["unknown partition"] = (type(exc).__name__, getattr(exc, "error_numbers", None))

    # -- accounting -------------------------------------------------------------------------
    def recorded() -> bool:
        return ok in {j.job_id for j in c.accounting.jobs(users=[b.user])}

    b.until(recorded, 30)
    record = next(j for j in c.accounting.jobs() if j.job_id == ok)
    seen["accounting: ok"] = (str(record.state.base), record.name, record.partition)
    return seen


@pytest.fixture
def real(slurm_cluster: LocalSlurmCluster) -> Iterator[Backend]:
    if slurm_cluster.release not in CONTRACT_RELEASES:
        pytest.skip(f"the contract is checked against {sorted(CONTRACT_RELEASES)}")
    user = slurm_cluster.user_name
    auth = StaticToken(slurm_cluster.token(user), user_name=user)

    def settle(check: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not check() and time.monotonic() < deadline:
            time.sleep(0.5)

    with SlurmClient(slurm_cluster.rest_url, auth=auth) as client:
        yield Backend(client, settle, str(slurm_cluster.shared_dir), user)


def _fake_backend(version: str, user: str, workdir: str) -> tuple[FakeSlurmServer, Backend]:
    fake = FakeSlurmServer(version, user=user, default_runtime=3)
    fake.set_job_outcome(name="contract-fail", state="FAILED", exit_code=3, runtime=1)

    def settle(check: Callable[[], bool], seconds: float) -> None:
        for _ in range(int(seconds)):
            if check():
                return
            fake.advance(1)

    return fake, Backend(fake.client(), settle, workdir, user)


def test_fake_and_real_24_11_agree(real: Backend) -> None:
    real_seen = scenario(real)
    _, backend = _fake_backend(real_seen["api_version"], real.user, real.workdir)
    with backend.client:
        fake_seen = scenario(backend)
    differences = {
        key: {"fake": fake_seen.get(key), "real": real_seen.get(key)}
        for key in real_seen.keys() | fake_seen.keys()
        if fake_seen.get(key) != real_seen.get(key)
    }
    assert not differences, differences


def test_the_scenario_runs_on_the_fake_alone() -> None:
    """The fake half on its own (no cluster needed), so the scenario itself stays sound."""
    fake, backend = _fake_backend("v0.0.42", "alice", "/tmp")
    with backend.client:
        seen = scenario(backend)
    assert seen["ok: final"] == (("COMPLETED",), "SUCCESS")
    assert seen["fail: final"] == (("FAILED",), 3)
    assert seen["never: state, reason"] == (("PENDING",), "DependencyNeverSatisfied")
    assert seen["unknown job"] == ("NotFoundError", [2017])
    assert len(fake.jobs()) == 4


def test_docs_cluster_example(slurm_cluster: LocalSlurmCluster) -> None:
    """docs/testing.md's real-cluster example (examples/testing/test_with_cluster.py)."""
    import importlib
    import sys
    from pathlib import Path

    examples = Path(__file__).parent.parent.parent / "examples" / "testing"
    sys.path.insert(0, str(examples))
    try:
        example = importlib.import_module("test_with_cluster")
        example.test_train_on_a_real_cluster(slurm_cluster)
    finally:
        sys.path.remove(str(examples))
