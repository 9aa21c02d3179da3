"""FakeSlurmServer: fault injection, authentication, update_time, the realtime clock, the
recorded requests, the HTTP server, and the pytest fixtures."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from slurm_core import (
    AuthenticationError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    SlurmClient,
    SlurmConnectionError,
    StaticToken,
)
from slurm_core.testing import FakeSlurmServer

pytest_plugins = ["pytester"]
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002, jitter=False)


def _client(fake: FakeSlurmServer, **options: Any) -> SlurmClient:
    options.setdefault("retry", FAST)
    return fake.client(**options)


def _submit(client: SlurmClient, **kw: Any) -> int:
    return client.jobs.submit().command(["true"]).execute().job_id


# ---------------------------------------------------------------------- faults -----------
def test_fail_next_is_retried_for_reads_and_counted() -> None:
    fake = FakeSlurmServer()
    with _client(fake) as client:
        client.negotiate()
        fake.fail_next(status=503, path=r"/nodes$")
        assert len(client.nodes.list()) == 4
        assert [r.status for r in fake.requests_to(r"/nodes$")] == [503, 200]
        assert fake.requests_to(r"/nodes$")[0].faults == ("status 503",)
        fake.fail_next(status=503, times=3, path=r"/nodes$", retry_after=0)
        with pytest.raises(ServerError) as info:
            client.nodes.list()
        assert info.value.status_code == 503
        assert not fake.faults.pending


def test_fail_next_only_matches_its_method_and_path() -> None:
    fake = FakeSlurmServer()
    fake.fail_next(status=500, method="POST", path=r"/job/submit$")
    with _client(fake) as client:
        client.nodes.list()  # GET: not affected
        assert len(fake.faults.pending) == 1


def test_dropped_connection_before_the_request_creates_nothing() -> None:
    fake = FakeSlurmServer()
    with _client(fake, retry=RetryPolicy(max_attempts=1)) as client:
        client.negotiate()
        fake.drop_next("connect", path=r"/job/submit$")
        with pytest.raises(SlurmConnectionError):
            _submit(client)
        assert fake.jobs() == []
        assert fake.requests_to(r"/job/submit$")[0].status is None


def test_a_lost_answer_to_a_submission_does_not_make_a_second_job() -> None:
    """The job *was* created; the client finds it by its submission key instead of
    submitting again (the fake's comments and listings make that work)."""
    fake = FakeSlurmServer()
    with _client(fake) as client:
        client.negotiate()
        fake.drop_next("read", path=r"/job/submit$")
        job_id = _submit(client)
        assert [j.job_id for j in fake.jobs()] == [job_id]
        assert len(fake.requests_to(r"/job/submit$")) == 1


def test_timeouts_and_broken_bodies() -> None:
    fake = FakeSlurmServer()
    with _client(fake, retry=RetryPolicy(max_attempts=1)) as client:
        client.negotiate()
        fake.drop_next("timeout", path=r"/diag$")
        with pytest.raises(SlurmConnectionError):
            client.diag()
        for mode in ("truncated", "malformed", "empty"):
            fake.corrupt_next(mode, path=r"/nodes$")
            with pytest.raises(ResponseValidationError):
                client.nodes.list()
        assert len(client.nodes.list()) == 4


def test_delay_next_waits_in_real_time() -> None:
    fake = FakeSlurmServer("v0.0.42")
    fake.delay_next(0.2, path=r"/ping$")
    with _client(fake, api_version="v0.0.42") as client:
        start = time.monotonic()
        client.ping()
        assert time.monotonic() - start >= 0.2
        start = time.monotonic()
        client.ping()
        assert time.monotonic() - start < 0.2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_faults_reach_the_async_client() -> None:
    fake = FakeSlurmServer()
    fake.fail_next(status=502, times=5, path=r"/diag$")
    async with fake.async_client(retry=FAST, circuit_breaker=None) as client:
        with pytest.raises(ServerError):
            await client.diag()
    assert len(fake.requests_to(r"/diag$")) == 3  # FAST: three attempts


# ------------------------------------------------------------------------ auth -----------
@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42"])
def test_a_token_is_required_when_configured(version: str) -> None:
    fake = FakeSlurmServer(api_version=version, token="s3cret")
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    assert http.get(f"/slurm/{version}/diag").status_code == 401
    bad = http.get(f"/slurm/{version}/diag", headers={"X-SLURM-USER-TOKEN": "wrong"})
    assert bad.status_code == (500 if version == "v0.0.38" else 511)
    ping = http.get(f"/slurm/{version}/ping", headers={"X-SLURM-USER-TOKEN": "wrong"})
    assert ping.status_code == 200  # like slurmrestd: ping answers any token
    good = http.get(f"/slurm/{version}/diag", headers={"Authorization": "Bearer s3cret"})
    assert good.status_code == 200
    with SlurmClient(fake.url, transport=fake.transport(), auth=StaticToken("s3cret")) as ok:
        assert ok.diag().jobs_running == 0
    if version != "v0.0.38":  # 22.05's answer is a 500 the client cannot tell from others
        wrong = SlurmClient(
            fake.url, transport=fake.transport(), auth=StaticToken("nope"), api_version=version
        )
        with wrong, pytest.raises(AuthenticationError):
            wrong.diag()


def test_the_user_comes_from_the_header_or_the_token() -> None:
    import jwt

    fake = FakeSlurmServer()
    token = jwt.encode({"sun": "carol"}, "k" * 32, algorithm="HS256")
    with SlurmClient(fake.url, transport=fake.transport(), auth=StaticToken(token)) as client:
        job_id = _submit(client)
    assert fake.job(job_id).user_name == "carol"


# ----------------------------------------------------------------- update_time ---------
@pytest.mark.parametrize(
    ("version", "since", "no_change"),
    [("v0.0.38", "{t}", 304), ("v0.0.41", "now-5", 200), ("v0.0.42", "{t}", 200)],
)
def test_update_time_answers_like_each_version(version: str, since: str, no_change: int) -> None:
    fake = FakeSlurmServer(api_version=version)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    with _client(fake) as client:
        _submit(client)
    fake.advance(100)
    t = str(int(fake.now.timestamp()) + 1)
    quiet = http.get(f"/slurm/{version}/jobs", params={"update_time": since.format(t=t)})
    assert quiet.status_code == no_change
    if no_change == 200:
        assert quiet.json()["jobs"] == []
    full = http.get(f"/slurm/{version}/jobs", params={"update_time": "now-1000"})
    assert len(full.json()["jobs"]) == 1
    if version == "v0.0.41":  # 24.11 refuses an epoch on v0.0.40/41
        assert http.get(f"/slurm/{version}/jobs", params={"update_time": t}).status_code == 422


# --------------------------------------------------------------- clock and records -------
def test_realtime_clock_runs_jobs_without_advance() -> None:
    fake = FakeSlurmServer(realtime=True, speed=200, default_runtime=20)
    with _client(fake) as client:
        job_id = _submit(client)
        deadline = time.monotonic() + 5
        while not client.jobs.get(job_id).state.is_finished:
            assert time.monotonic() < deadline, "the realtime clock did not move"
            time.sleep(0.02)
    assert fake.job(job_id).state.is_success


def test_requests_are_recorded() -> None:
    fake = FakeSlurmServer()
    with _client(fake) as client:
        client.jobs.list()
        client.jobs.list(states="RUNNING")
    assert [r.method for r in fake.requests_to(r"/jobs$")] == ["GET", "GET"]
    assert fake.requests[0].path == "/openapi/v3"


def test_clock_only_moves_forward() -> None:
    with pytest.raises(ValueError, match="forward"):
        FakeSlurmServer().advance(-1)


def test_several_versions_share_one_cluster() -> None:
    fake = FakeSlurmServer("v0.0.42", also_serve=["v0.0.40", "v0.0.41"])
    with _client(fake) as newest, _client(fake, api_version="v0.0.40") as pinned:
        assert newest.negotiate() == "v0.0.42"
        job_id = _submit(pinned)
        assert newest.jobs.get(job_id).job_id == job_id
    assert {r.path.split("/")[2] for r in fake.requests if r.path.startswith("/slurm/")} == {
        "v0.0.40",
        "v0.0.42",
    }


# ----------------------------------------------------------------------- HTTP ------------
def test_serve_over_real_http() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    with fake.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        with SlurmClient(url, retry=FAST) as client:
            job_id = _submit(client)
            fake.advance(120)
            assert client.jobs.get(job_id).state.is_success
            fake.drop_next("read", path=r"/diag$", times=3)
            with pytest.raises(SlurmConnectionError):
                client.diag()
        raw = httpx.get(f"{url}/slurm/v0.0.42/nope")
        assert (raw.status_code, raw.text[:17]) == (404, "Unable find reque")


# ------------------------------------------------------------------- fixtures ------------
def test_pytest_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from slurm_core.testing import make_job

        def test_mock_verified(slurm_mock):
            slurm_mock.expect("jobs.get").with_args(1).returns(make_job(1))

        def test_fake_default_newest(slurm_fake, slurm_fake_client):
            assert slurm_fake.api_version == "v0.0.45"
            assert slurm_fake_client.negotiate() == "v0.0.45"

        @pytest.mark.parametrize("slurm_fake", ["v0.0.38", "v0.0.40"], indirect=True)
        def test_fake_indirect(slurm_fake, slurm_fake_client):
            assert slurm_fake_client.negotiate() == slurm_fake.api_version

        @pytest.mark.parametrize("slurm_fake_version", ["v0.0.41"])
        @pytest.mark.slurm_fake(default_runtime=5)
        def test_fake_version_and_options(slurm_fake, slurm_fake_client):
            job = slurm_fake_client.jobs.submit().command(["true"]).execute()
            slurm_fake.advance(6)
            assert slurm_fake_client.jobs.get(job.job_id).state.is_success

        def test_failing_test_is_not_verified_again(slurm_mock):
            slurm_mock.expect("jobs.get").with_args(1).returns(make_job(1))
            assert False, "the test's own failure"
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=5, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_mock_verified*", "*MISS jobs.get(1)  ?called 0, expected 1?*"]
    )
    assert "the test's own failure" in result.stdout.str()


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.41", "v0.0.42"])
def test_wait_with_a_manual_clock_moved_by_another_thread(version: str) -> None:
    """update_time deltas computed from the client's clock must not hide changes made by
    advancing the fake's clock (each version computes them differently)."""
    import threading

    from slurm_core import WatchOptions

    fake = FakeSlurmServer(version, default_runtime=30)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.02):
            fake.advance(5)

    with _client(fake) as client:
        client.jobs.watch_options = WatchOptions(
            min_interval=0.05, initial_interval=0.05, max_interval=0.1, full_refresh=3600
        )
        job_id = _submit(client)
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            job = client.jobs.wait(job_id, timeout=10)
        finally:
            stop.set()
            ticker.join()
    assert job.state.is_success


def test_update_time_never_hides_a_change_since_the_previous_listing() -> None:
    fake = FakeSlurmServer("v0.0.41", default_runtime=30)
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    with _client(fake) as client:
        _submit(client)
    fake.advance(1)
    assert len(http.get("/slurm/v0.0.41/jobs").json()["jobs"]) == 1
    fake.advance(100)  # the job ends at +31; the client's own clock saw ~0 s pass
    delta = http.get("/slurm/v0.0.41/jobs", params={"update_time": "now-5"}).json()
    assert [j["job_state"] for j in delta["jobs"]] == [["COMPLETED"]]
    quiet = http.get("/slurm/v0.0.41/jobs", params={"update_time": "now-5"}).json()
    assert quiet["jobs"] == []
