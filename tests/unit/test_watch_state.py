"""The watch at the cluster's cost floor (#20): ``jobs/state`` polls, one loop per process.

Requests are counted at the fake slurmrestd (or the scripted one of ``test_watch_sim``);
time is fake, so intervals are asserted from the delays the loop asked for.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import httpx
import pytest
from test_watch_sim import Face, SimSlurm

from slurm_core import (
    AuthenticationError,
    ResponseValidationError,
    RetryPolicy,
    SlurmClient,
    StaticToken,
)
from slurm_core._engine import Op, run_sync
from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import (
    AsyncWatcher,
    JobEventType,
    StateSource,
    SyncWatcher,
    WatchCore,
    WatchOptions,
)
from slurm_core.watch._source import MAX_QUERY_BYTES, RestStates, parse_states

pytestmark = pytest.mark.anyio
T = JobEventType
OPTIONS = WatchOptions(min_interval=5, initial_interval=5, max_interval=60)


def _state_polls(fake: FakeSlurmServer, mark: int = 0) -> list[Any]:
    return [r for r in fake.requests[mark:] if r.path.endswith("/jobs/state")]


# -- one loop per process ------------------------------------------------------------------
def test_clients_of_one_cluster_and_user_share_the_loop() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    a, b, c = fake.client(), fake.async_client(), fake.client()
    other_user = fake.client(auth=StaticToken("t", user_name="bob"))
    elsewhere = FakeSlurmServer(api_version="v0.0.42").client()
    brain = a.jobs.watcher.brain
    assert b.jobs.watcher.brain is brain  # sync and async clients alike
    assert c.jobs.watcher.brain is brain
    assert other_user.jobs.watcher.brain is not brain
    assert elsewhere.jobs.watcher.brain is not brain
    c.jobs.watch_options = WatchOptions(initial_interval=3, max_interval=9)
    assert a.jobs.watch_options.max_interval == 9  # one loop, one set of settings


def test_threads_of_two_clients_cost_one_state_poll_per_interval() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42", default_runtime=30)
    clients = [fake.client(), fake.client()]
    brain = WatchCore(clients[0]._core, OPTIONS, clock=fake_clock(fake))
    watchers = [
        SyncWatcher(c._core, c._http, brain=brain, sleep=fake_sleep(fake), clock=brain._clock)
        for c in clients
    ]
    ids = [[c.jobs.submit().command(["true"]).execute().job_id for _ in range(5)] for c in clients]
    mark = len(fake.requests)
    seen: list[list[Any]] = [[], []]
    start = threading.Barrier(2)

    def follow(i: int) -> None:
        with watchers[i].watch(ids[i], timeout=3600) as events:
            start.wait(10)
            seen[i].extend((e.job_id, e.type) for e in events)

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    for i in range(2):  # every event once, to the watch that asked for the job
        assert Counter(seen[i]) == {
            (j, k): 1 for j in ids[i] for k in (T.PENDING, T.STARTED, T.COMPLETED)
        }
    polls = _state_polls(fake, mark)
    assert len(polls) == brain.polls  # one loop: not one per client
    both = {str(j) for j in ids[0] + ids[1]}
    assert any(set(r.query.get("job_id", [])) == both for r in polls)


async def test_an_async_and_a_sync_client_share_one_loop() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42", default_runtime=30)
    sync_client, async_client = fake.client(), fake.async_client()
    brain = WatchCore(sync_client._core, OPTIONS, clock=fake_clock(fake))
    sleep = fake_sleep(fake)

    async def asleep(delay: float) -> None:
        sleep(delay)
        await anyio.sleep(0.001)

    sync_watcher = SyncWatcher(
        sync_client._core, sync_client._http, brain=brain, sleep=sleep, clock=brain._clock
    )
    async_watcher = AsyncWatcher(
        async_client._core, async_client._http, brain=brain, sleep=asleep, clock=brain._clock
    )
    mine = sync_client.jobs.submit().command(["true"]).execute().job_id
    theirs = sync_client.jobs.submit().command(["true"]).execute().job_id
    mark = len(fake.requests)
    got: list[Any] = []

    def follow() -> None:
        got.extend(e.type for e in sync_watcher.watch([theirs], timeout=3600))

    thread = threading.Thread(target=follow)
    thread.start()
    mine_events = [e.type async for e in async_watcher.watch([mine], timeout=3600)]
    await anyio.to_thread.run_sync(thread.join, 60)
    for events in (mine_events, got):  # fake time races two sleepers: a start may be first
        assert events[-1] is T.COMPLETED
        assert len(events) == len(set(events))
    assert len(_state_polls(fake, mark)) == brain.polls


def fake_clock(fake: FakeSlurmServer) -> Any:
    now = [0.0]
    fake._test_now = now  # type: ignore[attr-defined]
    return lambda: now[0]


def fake_sleep(fake: FakeSlurmServer) -> Any:
    lock = threading.Lock()

    def sleep(delay: float) -> None:
        with lock:
            fake._test_now[0] += delay  # type: ignore[attr-defined]
            fake.advance(delay)

    return sleep


# -- what a poll costs ---------------------------------------------------------------------
async def test_many_jobs_are_asked_for_in_chunks_that_fit_a_url(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    ids = [sim.add(job_id=10_000_000 + i) for i in range(700)]
    sim.script = {5: lambda: [sim.set(j, "COMPLETED") for j in ids]}  # in the second poll
    face = Face(mode, sim)
    events = await face.events(ids)
    assert Counter(e.type for e in events) == {T.PENDING: 700, T.COMPLETED: 700}
    polls = [r for r in sim.requests if r.url.path.endswith("/jobs/state")]
    first_poll = polls[: len(polls) // face.watcher.brain.polls]
    assert len(first_poll) == 4  # 700 ids of 8 digits, 16 bytes each: 187 per request
    assert all(len(r.url.query) <= MAX_QUERY_BYTES for r in polls)
    assert sorted(i for r in first_poll for i in r.url.params.get_list("job_id")) == sorted(
        str(j) for j in ids
    )


async def test_429_with_retry_after_pushes_the_next_poll_out(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    handler = sim.handler

    def busy(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jobs/state") and len(sim.listings()) == 1:
            sim.requests.append(request)
            return httpx.Response(429, headers={"Retry-After": "40"}, json={"errors": []})
        return handler(request)

    sim.handler = busy  # type: ignore[method-assign]
    sim.script = {4: lambda: sim.set(jid, "COMPLETED")}
    face = Face(mode, sim)  # max_interval 8
    assert [e.type for e in await face.events(jid)] == [T.PENDING, T.COMPLETED]
    assert 40 in face.time.sleeps  # the server's wait, past max_interval
    assert max(face.time.sleeps) == 40


class Source(StateSource):
    """A stand-in state source (what a fleet poller plugs in): records what it is asked."""

    def __init__(self, states: dict[str, list[str]]) -> None:
        self.answers = states
        self.asked: list[list[str]] = []

    def states(self, job_ids: Sequence[str]) -> Op[Mapping[str, Sequence[str]]]:
        self.asked.append(list(job_ids))
        return {k: v for k, v in self.answers.items() if k in job_ids}
        yield  # an operation that sends nothing


async def test_a_state_source_replaces_the_jobs_state_request(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    jid = sim.add()
    source = Source({str(jid): ["PENDING"]})
    face = Face(mode, sim)
    face.watcher.brain.source = source
    original = source.states

    def states(job_ids: Sequence[str]) -> Op[Mapping[str, Sequence[str]]]:
        if len(source.asked) == 1:  # the second poll: the job has ended
            sim.set(jid, "COMPLETED")
            source.answers[str(jid)] = ["COMPLETED"]
        return original(job_ids)

    source.states = states  # type: ignore[method-assign]
    events = await face.events(jid)
    assert [e.type for e in events] == [T.PENDING, T.COMPLETED]
    assert source.asked == [[str(jid)], [str(jid)]]
    assert not [r for r in sim.requests if r.url.path.endswith(("/jobs", "/jobs/state"))]


async def test_a_waiting_job_with_a_dependency_is_read_each_poll_only_for_ticks(
    mode: str,
) -> None:
    sim = SimSlurm("v0.0.42")
    plain = sim.add()
    dep = sim.add(dependency=f"afterok:{plain}")
    sim.script = {5: lambda: (sim.set(plain, "COMPLETED"), sim.set(dep, "COMPLETED"))}
    face = Face(mode, sim)
    await face.events([plain, dep])
    records = Counter(r.url.path.rsplit("/", 1)[-1] for r in sim.records())
    assert records == {str(plain): 2, str(dep): 2}  # no ticks: only on a change
    # With ticks (the job supervisor reads the reason for a never-satisfied dependency),
    # the waiting job with a dependency is read every poll, the other only on a change.
    sim2 = SimSlurm("v0.0.42")
    plain2 = sim2.add()
    dep2 = sim2.add(dependency=f"afterok:{plain2}")
    sim2.script = {5: lambda: (sim2.set(plain2, "COMPLETED"), sim2.set(dep2, "COMPLETED"))}
    face2 = Face(mode, sim2)
    if mode == "sync":
        list(face2.watcher.watch([plain2, dep2], ticks=True))
    else:
        [e async for e in face2.watcher.watch([plain2, dep2], ticks=True)]
    records2 = Counter(r.url.path.rsplit("/", 1)[-1] for r in sim2.records())
    assert records2[str(plain2)] == 2
    assert records2[str(dep2)] == face2.watcher.brain.polls


# -- a hostile answer ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"jobs": {"job_id": "1"}},
        {"jobs": [{"job_id": "1; rm", "state": ["PENDING"]}]},
        {"jobs": [{"job_id": "1", "state": []}]},
        {"jobs": [{"job_id": "1", "state": ["pending<script>"]}]},
        [],
    ],
)
def test_a_malformed_state_answer_is_a_typed_error(body: Any) -> None:
    response = httpx.Response(200, json=body, request=httpx.Request("GET", "http://x/jobs/state"))
    with pytest.raises(ResponseValidationError):
        parse_states(response)


def test_the_real_state_answer_shape_parses() -> None:
    body = {
        "jobs": [{"job_id": "7", "state": ["RUNNING"]}, {"job_id": "8_2", "state": ["PENDING"]}],
        "meta": {},
        "errors": [],
        "warnings": [],
    }
    response = httpx.Response(200, json=body, request=httpx.Request("GET", "http://x/jobs/state"))
    assert parse_states(response) == {"7": ["RUNNING"], "8_2": ["PENDING"]}


def test_a_client_whose_token_is_refused_ends_only_its_own_watches() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42", default_runtime=30)
    good = fake.client()
    inner = fake.transport()

    def refuse(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(("/jobs/state", "/openapi/v3")):
            return httpx.Response(401, text="Authentication failure")
        return inner.handle_request(request)

    bad = SlurmClient(
        fake.url, transport=httpx.MockTransport(refuse), retry=RetryPolicy(max_attempts=1)
    )
    brain = WatchCore(good._core, OPTIONS, clock=fake_clock(fake))
    sleep = fake_sleep(fake)
    watchers = [
        SyncWatcher(c._core, c._http, brain=brain, sleep=sleep, clock=brain._clock)
        for c in (good, bad)
    ]
    mine = good.jobs.submit().command(["true"]).execute().job_id
    theirs = good.jobs.submit().command(["true"]).execute().job_id
    with watchers[1].watch([theirs], timeout=3600) as refused, pytest.raises(AuthenticationError):
        next(refused)  # the refused client leads the first poll: its watch ends...
    events = [e.type for e in watchers[0].watch([mine], timeout=3600)]
    assert events[-1] is T.COMPLETED  # ...the other's goes on, every event once
    assert len(events) == len(set(events))


def test_an_array_is_asked_for_once_and_its_started_tasks_keep_their_names() -> None:
    # Real 24.11/26.05: one id of a pending array's task names every pending task, again per
    # id asked (1,000 ids: a million entries, which wedged slurmrestd); a started task goes
    # by its own job id ("2003_1"). The fake answers alike.
    fake = FakeSlurmServer(api_version="v0.0.42", default_runtime=5)
    client = fake.client()
    submitted = client.jobs.submit().script("#!/bin/sh\ntrue\n").array("0-59%1").execute()
    array = submitted.job_id
    keys = [f"{array}_{i}" for i in range(60)]
    fake.advance(1)  # task 0 runs; the throttle holds the others
    fake.advance(6)  # task 0 is done, task 1 runs under its own id
    assert fake.job(f"{array}_1").job_id != array
    mark = len(fake.requests)
    source = RestStates(client._core)
    states = run_sync(client._http, source.states(keys))
    [poll] = _state_polls(fake, mark)
    assert poll.query["job_id"] == [str(array)]  # not 60 ids, each answered by 59 entries
    assert set(states) == set(keys)  # task 1 named after its array, not its own id
    assert (states[f"{array}_0"], states[f"{array}_1"]) == (["COMPLETED"], ["RUNNING"])
    assert all(states[k] == ["PENDING"] for k in keys[2:])
    client.jobs.cancel(array)


def test_the_fake_answers_task_ids_of_a_pending_array_as_slurmctld_does() -> None:
    fake = FakeSlurmServer(api_version="v0.0.42")
    client = fake.client()
    array = client.jobs.submit().script("#!/bin/sh\ntrue\n").array("0-4").hold().execute().job_id
    http = httpx.Client(base_url=fake.url, transport=fake.transport())
    answer = http.get(
        "/slurm/v0.0.42/jobs/state",
        params={"job_id": [f"{array}_1", f"{array}_2"]},
        headers={"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": "t"},
    ).json()
    names = [j["job_id"] for j in answer["jobs"]]
    assert names == [f"{array}_{i}" for i in range(5)] * 2  # as recorded on 24.11 and 26.05
