"""The whole client surface against real slurmrestd: 22.05, 24.11 and 26.05, sync and async,
with the REST API version pinned to every version each release serves (v0.0.38; v0.0.40,
v0.0.41, v0.0.42; v0.0.42 to v0.0.45), so every adapter meets a real server.

Test ids read ``[24.11-v0.0.41-async]``. The jobs submitted here stay pending (a begin time
ten minutes ahead) or run ``true``; one finished job and one license-only reservation per
release are shared by all tests (see test_client_helpers.Site).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from test_client_helpers import (
    MODES,
    Face,
    Site,
    client_versions,
    close_sites,
    poll,
    site,
    submit,
    test_releases,
)

from slurm_core import (
    AuthenticationError,
    InvalidRequestError,
    JobBaseState,
    NotFoundError,
    PermissionDeniedError,
    SlurmAuth,
    StaticToken,
    UnsupportedAPIVersionError,
    UnsupportedOperationError,
)
from slurm_core._versions import CLIENT_VERSIONS
from slurm_core.models import INFINITE
from slurm_core.testing.cluster._release import get_release

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SLEEP = "#!/bin/sh\nsleep 30\n"


def _targets(only: tuple[str, ...] | str | None) -> list[Any]:
    """(release, version) params; ``only`` limits them to some versions, or "newest"."""
    out = []
    for release in test_releases():
        versions = [v for v in get_release(release).versions if v in CLIENT_VERSIONS]
        if only == "newest":
            versions = versions[-1:]
        elif only is not None:
            versions = [v for v in versions if v in only]
        out += [pytest.param((release, v), id=f"{release}-{v}") for v in versions]
    return out


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # (release, version) pairs come from the release specs, so that every test id names a
    # version that release really serves (the slurm_cluster fixture knows only releases).
    if "target" in metafunc.fixturenames:
        only = getattr(metafunc.function, "only_versions", None)
        metafunc.parametrize("target", _targets(only))
    if "mode" in metafunc.fixturenames:
        metafunc.parametrize("mode", MODES)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def _sites() -> Iterator[None]:
    yield from close_sites()


@pytest.fixture
def here(target: tuple[str, str]) -> Site:
    return site(target[0])


@pytest.fixture
def version(target: tuple[str, str], here: Site) -> str:
    assert target[1] in client_versions(here.cluster), "the release spec and the server differ"
    return target[1]


@pytest.fixture
async def faces(here: Site, version: str, mode: str) -> AsyncIterator[dict[str, Face]]:
    """alice, bob and root (admin), each with a client pinned to ``version``."""
    made = {user: here.client(mode, version, user) for user in ("alice", "bob", "root")}
    yield made
    for face in made.values():
        await face.close()


# ---------------------------------------------------------------------------------------------
async def test_reads(here: Site, version: str, faces: dict[str, Face]) -> None:
    c = faces["alice"]
    resv = here.reserve()
    done = await here.finished()
    assert await c("negotiate") == version

    pings = await c("ping")
    assert pings
    assert pings[0].responding
    diag = await c("diag")
    assert diag.req_time is not None
    assert diag.jobs_submitted is not None
    assert diag.jobs_submitted >= 1

    # jobs
    listed = await c("jobs.list", user="alice")
    assert done in {j.job_id for j in listed}
    assert all(j.user_name == "alice" for j in listed)
    job = await c("jobs.get", done)
    assert (job.job_id, job.name, job.user_name) == (done, "sdk-it-done", "alice")
    assert job.state.base is JobBaseState.COMPLETED
    assert job.exit_code is not None
    assert job.exit_code.ok
    assert job.nodes == "node1"
    assert job.submit_time is not None
    assert job.start_time is not None
    assert job.end_time is not None
    assert job.submit_time <= job.start_time <= job.end_time
    # No --time: v0.0.38 reports the limit unset (null), later versions infinite; but a job
    # that ran while a reservation lay ahead (this test makes one) may come back with Slurm's
    # one-year stand-in, 525600 minutes (seen on 22.05 and 26.05).
    unlimited = None if version == "v0.0.38" else INFINITE
    assert job.time_limit in (unlimited, timedelta(days=365))
    assert job.working_directory == str(here.cluster.shared_dir)
    completed = await c("jobs.list", states="COMPLETED", partition="debug")
    assert done in {j.job_id for j in completed}
    with pytest.raises(NotFoundError):
        await c("jobs.get", 999999)

    # nodes and partitions
    nodes = await c("nodes.list")
    assert [n.name for n in nodes] == ["node1"]
    node = await c("nodes.get", "node1")
    assert (node.cpus, node.real_memory, node.partitions) == (2, 2000, ("debug", "gpu"))
    assert node.gres == "gpu:fake:2"
    assert node.version is not None
    assert node.version.startswith(here.release)
    assert node.state in {"IDLE", "MIXED", "ALLOCATED"}
    with pytest.raises(NotFoundError):
        await c("nodes.get", "node9")
    parts = {p.name: p for p in await c("partitions.list")}
    assert set(parts) == {"debug", "gpu"}
    debug = await c("partitions.get", "debug")
    if version not in ("v0.0.38", "v0.0.45"):
        # v0.0.40-v0.0.44 send no partition flags (24.11 and 26.05 alike)
        assert debug.is_default is parts["gpu"].is_default is None
    else:
        assert debug.is_default is True
        assert parts["gpu"].is_default is False
    assert debug.nodes == "node1"
    assert debug.max_time is INFINITE
    assert debug.state in ("UP", None)
    with pytest.raises(NotFoundError):
        await c("partitions.get", "nosuch")

    # reservations and licenses
    reservations = {r.name: r for r in await c("reservations.list")}
    mine = reservations[resv]
    assert mine.licenses == "matlab:1"
    assert "alice" in mine.users
    assert "ANY_NODES" in mine.flags
    assert mine.start_time is not None
    assert mine.end_time is not None
    assert mine.end_time - mine.start_time == timedelta(hours=1)
    licenses = {lic.name: lic for lic in await c("licenses.list")}
    assert licenses["matlab"].total == 2, "Licenses=matlab:2 (restart clusters older than it)"
    assert licenses["matlab"].free <= 2

    # accounting
    since = here.finished_at - 60
    records = {j.job_id: j for j in await c("accounting.jobs", start=since, users="alice")}
    record = records[done]
    assert all(j.user == "alice" for j in records.values())
    assert record.state.base is JobBaseState.COMPLETED
    assert record.exit_code is not None
    assert record.exit_code.ok
    assert record.account == "research"
    assert record.elapsed is not None
    steps = {s.step_id: s for s in record.steps}
    assert "batch" in steps
    assert steps["batch"].state.base is JobBaseState.COMPLETED
    assert steps["batch"].exit_code is not None
    assert steps["batch"].exit_code.ok
    tres = {t.key: t.count for t in record.tres_allocated}
    assert tres["cpu"] >= 1
    assert tres["node"] == 1
    assert tres["mem"] >= 100  # DefMemPerCPU=100
    assert {t.key for t in record.tres_requested} >= {"cpu", "mem", "node"}
    accounts = {a.name for a in await c("accounting.accounts")}
    assert {"root", "research"} <= accounts
    users = {u.name: u for u in await c("accounting.users")}
    assert users["alice"].default_account == "research"
    assert {"bob", "root"} <= set(users)
    assocs = await c("accounting.associations")
    assert any(a.user == "alice" and a.account == "research" for a in assocs)
    qos = {q.name for q in await c("accounting.qos")}
    assert "normal" in qos
    tres_kinds = {t.key for t in await c("accounting.tres")}
    assert {"cpu", "mem", "node", "billing", "gres/gpu"} <= tres_kinds


async def test_job_lifecycle(here: Site, version: str, faces: dict[str, Face], mode: str) -> None:
    alice, bob = faces["alice"], faces["bob"]
    job_id = await submit(alice, here.cluster, SLEEP, later=True, name=f"sdk-it-{mode}")
    try:
        job = await alice("jobs.get", job_id)
        assert job.state.base is JobBaseState.PENDING
        assert job.hold is False
        assert job.state_reason == "BeginTime"

        await alice("jobs.hold", job_id)  # v0.0.38: priority 0
        job = await alice("jobs.get", job_id)
        assert (job.hold, job.priority, job.state_reason) == (True, 0, "JobHeldUser")
        await alice("jobs.release", job_id)  # v0.0.38 too (hold=false)
        job = await alice("jobs.get", job_id)
        assert job.hold is False
        assert job.priority is not None
        assert job.priority > 0
        assert job.state_reason != "JobHeldUser"

        name = f"sdk-it-{mode}"
        if version == "v0.0.38":
            # 22.05 answers 200 to a new name and ignores it: refused before sending
            with pytest.raises(UnsupportedOperationError):
                await alice("jobs.update", job_id, name="renamed")
        else:
            name = "renamed"
            await alice("jobs.update", job_id, name=name)
        await alice("jobs.update", job_id, time_limit=timedelta(minutes=7), comment="hi")
        job = await alice("jobs.get", job_id)
        assert (job.time_limit, job.name, job.comment) == (timedelta(minutes=7), name, "hi")

        if version == "v0.0.45":
            with pytest.raises(InvalidRequestError) as info:  # a pending job: 2024
                await alice("jobs.requeue", job_id)
            assert info.value.error_numbers == [2024]
        else:
            with pytest.raises(UnsupportedOperationError) as unsupported:
                await alice("jobs.requeue", job_id)
            assert unsupported.value.supported_in == ["v0.0.45"]

        # someone else's job
        if version in ("v0.0.40", "v0.0.41"):
            # slurmrestd 24.11 answers v0.0.40/41 with HTTP 200 and no error at all, and
            # leaves the job alone: nothing for the client to raise on (seen live).
            await bob("jobs.cancel", job_id)
        else:
            with pytest.raises(PermissionDeniedError) as denied:
                await bob("jobs.cancel", job_id)
            assert denied.value.error_numbers == [2002]
        assert (await alice("jobs.get", job_id)).state.base is JobBaseState.PENDING

        await alice("jobs.cancel", job_id)
        job = await alice("jobs.get", job_id)
        assert job.state.base is JobBaseState.CANCELLED
        await alice("jobs.cancel", job_id)  # again: harmless
    finally:
        await faces["root"]("jobs.cancel", job_id)
    if version in ("v0.0.40", "v0.0.41"):
        await alice("jobs.cancel", 999999)  # silent, as above
    else:
        with pytest.raises(NotFoundError):
            await alice("jobs.cancel", 999999)


async def test_requeue_a_running_job(here: Site, faces: dict[str, Face]) -> None:
    alice = faces["alice"]
    job_id = await submit(alice, here.cluster, SLEEP, name="sdk-it-requeue")
    try:
        await here.boost(job_id)

        async def running() -> bool:
            return bool((await alice("jobs.get", job_id)).state.is_running)

        await poll(running, f"job {job_id} to start", timeout=180)
        await alice("jobs.requeue", job_id)

        async def requeued() -> Any:
            job = await alice("jobs.get", job_id)
            return job if job.state.base is JobBaseState.PENDING else None

        job = await poll(requeued, f"job {job_id} to be back in the queue")
        assert job.raw.get("restart_cnt") == 1
    finally:
        await alice("jobs.cancel", job_id)


test_requeue_a_running_job.only_versions = ("v0.0.45",)  # type: ignore[attr-defined]


async def test_node_update(here: Site, version: str, faces: dict[str, Face]) -> None:
    alice, root = faces["alice"], faces["root"]
    if version == "v0.0.38":
        # 22.05 (v0.0.38) has no POST node: refused before anything is sent.
        with pytest.raises(UnsupportedOperationError) as info:
            await root("nodes.update", "node1", state="DRAIN", reason="sdk-it")
        assert info.value.version == "v0.0.38"
        return
    with pytest.raises(PermissionDeniedError) as denied:  # 24.11: HTTP 500, 26.05: 422
        await alice("nodes.update", "node1", state="DRAIN", reason="sdk-it")
    assert denied.value.error_numbers == [2010]
    reason = f"sdk-it {version}"
    try:
        await root("nodes.update", "node1", state="DRAIN", reason=reason)
        node = await alice("nodes.get", "node1")
        assert node.is_drained
        assert node.reason == reason
        assert not node.is_available
    finally:
        await root("nodes.update", "node1", state="RESUME")
    node = await alice("nodes.get", "node1")
    assert not node.is_drained
    assert node.reason is None


# ---------------------------------------------------------------------------------------------
# Negotiation and authentication, once per release
# ---------------------------------------------------------------------------------------------
async def test_negotiation_and_credentials(here: Site, version: str, mode: str) -> None:
    newest = client_versions(here.cluster)[-1]
    assert version == newest
    face = here.client(mode)  # not pinned
    try:
        assert await face("negotiate") == newest
        assert (await face("diag")).req_time is not None
    finally:
        await face.close()
    # /openapi/v3 needs a token on every release: no credentials is an AuthenticationError
    anonymous = here.client(mode, auth=None)
    try:
        with pytest.raises(AuthenticationError) as info:
            await anonymous("diag")
        assert info.value.status_code == 401
    finally:
        await anonymous.close()
    # A version the server does not serve is refused, naming both sides.
    other = "v0.0.38" if newest != "v0.0.38" else "v0.0.45"
    pinned = here.client(mode, other)
    try:
        with pytest.raises(UnsupportedAPIVersionError) as unsupported:
            await pinned("ping")
        assert newest in unsupported.value.server_versions
    finally:
        await pinned.close()
    # Authorization: Bearer works from 23.02 on; 22.05 answers it with 401.
    token = StaticToken(here.token("alice"), user_name="alice")
    bearer = here.client(mode, newest, auth=SlurmAuth(token, header_style="bearer"))
    try:
        if here.release == "22.05":
            with pytest.raises(AuthenticationError):
                await bearer("diag")
        else:
            assert (await bearer("diag")).req_time is not None
    finally:
        await bearer.close()


test_negotiation_and_credentials.only_versions = "newest"  # type: ignore[attr-defined]
