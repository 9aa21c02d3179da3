"""client.jobs submission operations over a scripted slurmrestd (httpx.MockTransport).

Every test runs with the sync and the async client: the retry-without-duplicates logic
lives once, in the sans-I/O operation. :class:`Rest` plays slurmrestd v0.0.42 (or
v0.0.38): it keeps the submitted jobs (with their comments and owners: the user the
request names in ``X-SLURM-USER-NAME``) and, for each ``POST job/submit``, follows a
script: answer, drop the connection after creating the job, drop it before, time out,
answer 5xx, or refuse. The clients act as ``alice``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from slurm_core import (
    AsyncJobBuilder,
    AsyncSlurmClient,
    InvalidRequestError,
    JobBaseState,
    JobSpecError,
    RetryPolicy,
    ServerError,
    SlurmClient,
    SlurmConnectionError,
    SlurmTimeoutError,
    StaticToken,
    SubmissionUnknownError,
    UnsupportedOperationError,
)
from slurm_core._versions.negotiate import clear_cache
from slurm_core.jobs import AsyncTrainingJob, JobBuilder, JobSpec, TrainingJob, split_comment
from slurm_core.jobs.submission import (
    SubmissionOwnerError,
    comment_with_key,
    job_id_for_key,
    new_submission_key,
)
from slurm_core.models import Job, JobState
from slurm_core.resources._submission import SUBMIT_ATTEMPTS

BASE = "http://slurm.test:6820"
SCRIPT = "#!/bin/bash\ntrue\n"


SETTLE = 0.01  # the settle window of these tests' clients (15 s by default)


class Rest:
    """A scripted slurmrestd: ``outcomes`` say what each POST job/submit does."""

    def __init__(self, version: str = "v0.0.42", outcomes: list[str] | None = None) -> None:
        self.version = version
        self.outcomes = list(outcomes or [])
        self.jobs: list[dict[str, Any]] = []
        self.posts = 0
        self.lists = 0
        self.list_status = 200
        self.bodies: list[Any] = []
        self.pending: tuple[dict[str, Any], str] | None = None  # a "late" submission
        self.late_after = 1

    def _create(self, body: dict[str, Any], user: str | None = "alice") -> int:
        descs = body.get("jobs") or [body["job"]]
        leader = len(self.jobs) + 100
        for offset, desc in enumerate(descs):
            job: dict[str, Any] = {
                "job_id": leader + offset,
                "name": desc.get("name", ""),
                "job_state": "PENDING" if self.version == "v0.0.38" else ["PENDING"],
                "comment": desc.get("comment", ""),
            }
            if user is not None:
                job["user_name"] = user
            if len(descs) > 1:
                job.update(het_job_id=leader, het_job_offset=offset)
            self.jobs.append(job)
        return leader

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/openapi/v3":
            return httpx.Response(200, json={"paths": {f"/slurm/{self.version}/ping": {}}})
        if path.endswith("/job/submit"):
            self.posts += 1
            body = json.loads(request.content)
            self.bodies.append(body)
            outcome = self.outcomes.pop(0) if self.outcomes else "ok"
            if outcome == "connect":
                raise httpx.ConnectError("refused", request=request)
            if outcome == "drop-before":
                raise httpx.RemoteProtocolError("Server disconnected", request=request)
            if outcome == "refuse":
                error = {"error_number": 2000, "error": "Invalid partition name specified"}
                return httpx.Response(500, json={"errors": [error]})
            if outcome == "502":
                return httpx.Response(502, text="bad gateway")
            if outcome == "ctld-refuses-500":  # a slurmctld verdict no table entry names
                error = {"error_number": 2999, "error": "a refusal unknown to the client"}
                return httpx.Response(500, json={"errors": [error]})
            job_id = self._create(body, request.headers.get("X-SLURM-USER-NAME") or "nobody")
            if outcome == "rpc-lost-500":  # the RPC reached slurmctld, the answer did not
                error = {"error_number": 1003, "error": "Communication receive failure"}
                return httpx.Response(500, json={"errors": [error]})
            if outcome == "drop-after":
                raise httpx.RemoteProtocolError("Server disconnected", request=request)
            if outcome == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if outcome == "late":  # still on its way: the job shows up at a later listing
                self.jobs.pop()
                self.pending = (body, request.headers.get("X-SLURM-USER-NAME") or "nobody")
                raise httpx.ReadTimeout("timed out", request=request)
            if outcome == "garbage":
                return httpx.Response(200, content=b'{"job_id": ')
            if outcome == "created-with-error":
                error = {"error_number": 2002, "error": "Access/permission denied"}
                return httpx.Response(200, json={"job_id": job_id, "errors": [error]})
            errors = [{"error_code": 2042, "error": "held"}] if self.version == "v0.0.38" else []
            step = "BATCH" if self.version == "v0.0.38" else "batch"
            return httpx.Response(200, json={"job_id": job_id, "step_id": step, "errors": errors})
        if path.endswith("/jobs"):
            self.lists += 1
            if self.pending is not None and self.lists >= self.late_after:
                self._create(*self.pending)
                self.pending = None
            if self.list_status != 200:
                return httpx.Response(self.list_status, text="down")
            return httpx.Response(200, json={"jobs": self.jobs})
        if "/job/" in path:
            wanted = int(path.rsplit("/", 1)[1].split("_")[0])
            jobs = [j for j in self.jobs if wanted in (j["job_id"], _number(j, "array_job_id"))]
            if not jobs:
                return httpx.Response(404, json={"errors": [{"error_number": 2017}]})
            return httpx.Response(200, json={"jobs": jobs})
        return httpx.Response(404)

    def keys(self) -> list[str | None]:
        return [split_comment(j["comment"])[1] for j in self.jobs]


def _number(job: dict[str, Any], key: str) -> Any:
    return (job.get(key) or {}).get("number")


def n(v: int) -> dict[str, Any]:
    return {"set": True, "infinite": False, "number": v}


Client = SlurmClient | AsyncSlurmClient


class Face:
    """Calls a client method the same way for both clients (``await face(...)``)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def __call__(self, method: str, *args: Any, **kw: Any) -> Any:
        target: Any = self.client
        for part in method.split("."):
            target = getattr(target, part)
        result = target(*args, **kw)
        return await result if inspect.isawaitable(result) else result


@pytest.fixture(params=["sync", "async"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Face]]:
    clients: list[Client] = []

    def make_face(
        rest: Rest, user: str | None = "alice", settle: float = SETTLE, **more: Any
    ) -> Face:
        clear_cache()
        options: dict[str, Any] = {
            **more,
            "transport": httpx.MockTransport(rest),
            "retry": RetryPolicy(
                initial_delay=0.001, max_delay=0.001, jitter=False, submit_settle=settle
            ),
        }
        if user is not None:
            options["auth"] = StaticToken("not-a-jwt", user_name=user)
        cls = SlurmClient if request.param == "sync" else AsyncSlurmClient
        client = cls(BASE, **options)
        clients.append(client)
        return Face(client)

    yield make_face
    for c in clients:
        if isinstance(c, AsyncSlurmClient):
            await c.aclose()
        else:
            c.close()
    clear_cache()


pytestmark = pytest.mark.anyio


def spec(**fields: Any) -> JobSpec:
    return JobSpec(script=SCRIPT, **fields)


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42"])
async def test_a_plain_submission(make: Callable[..., Face], version: str) -> None:
    rest = Rest(version)
    face = make(rest)
    got = await face("jobs.submit_spec", spec(comment="mine"))
    assert (got.job_id, got.step_id) == (100, "batch")
    assert str(got.submission_key).startswith("sck-")
    assert rest.keys() == [got.submission_key]
    assert rest.jobs[0]["comment"] == f"mine [slurm-client:{got.submission_key}]"
    assert got.warnings == (["held"] if version == "v0.0.38" else [])
    assert (rest.posts, rest.lists) == (1, 0)


async def test_answer_lost_after_the_job_was_created_is_not_resubmitted(
    make: Callable[..., Face],
) -> None:
    rest = Rest(outcomes=["drop-after"])
    got = await make(rest)("jobs.submit_spec", spec())
    assert got.job_id == 100
    assert (rest.posts, rest.lists, len(rest.jobs)) == (1, 1, 1)
    assert any("lost" in w for w in got.warnings)


@pytest.mark.parametrize("outcome", ["timeout", "garbage"])
async def test_other_unknown_outcomes_with_a_job(make: Callable[..., Face], outcome: str) -> None:
    rest = Rest(outcomes=[outcome])
    got = await make(rest)("jobs.submit_spec", spec())
    assert got.job_id == 100
    assert (rest.posts, len(rest.jobs)) == (1, 1)


@pytest.mark.parametrize("outcome", ["drop-before", "502"])
async def test_request_lost_before_a_job_existed_is_sent_once_more(
    make: Callable[..., Face], outcome: str
) -> None:
    rest = Rest(outcomes=[outcome])
    got = await make(rest)("jobs.submit_spec", spec())
    # looked up at once and again once the settle window passed: only then sent again
    assert (rest.posts, rest.lists, len(rest.jobs)) == (2, 2, 1)
    assert rest.keys() == [got.submission_key]
    assert rest.bodies[0] == rest.bodies[1]  # the same key both times


async def test_gives_up_after_the_attempts_when_no_job_appears(
    make: Callable[..., Face],
) -> None:
    rest = Rest(outcomes=["drop-before"] * SUBMIT_ATTEMPTS)
    with pytest.raises(SlurmConnectionError):
        await make(rest)("jobs.submit_spec", spec())
    assert (rest.posts, rest.lists, rest.jobs) == (SUBMIT_ATTEMPTS, 2 * SUBMIT_ATTEMPTS, [])


async def test_a_late_submission_is_found_by_its_key_not_sent_twice(
    make: Callable[..., Face],
) -> None:
    """The POST timed out, and the job appears only after a few lookups (the request was
    held on its way): it is waited for, never duplicated."""
    rest = Rest(outcomes=["late"])
    rest.late_after = 3  # created by the 3rd listing after the timeout
    got = await make(rest, settle=10.0)("jobs.submit_spec", spec())
    assert got.job_id == 100
    assert (rest.posts, rest.lists, len(rest.jobs)) == (1, 3, 1)
    assert any("lost" in w for w in got.warnings)


async def test_the_call_deadline_ends_the_lookups_without_a_resend(
    make: Callable[..., Face],
) -> None:
    """No job yet and the call's deadline comes before the settle window ends: the outcome
    stays unknown (the key is reported), nothing is sent again."""
    rest = Rest(outcomes=["late"])
    rest.late_after = 1000
    face = make(rest, settle=60.0, call_timeout=0.6)
    with pytest.raises(SubmissionUnknownError) as info:
        await face("jobs.submit_spec", spec(submission_key="run-7"))
    assert info.value.submission_key == "run-7"
    assert isinstance(info.value.lookup_error, SlurmTimeoutError)
    assert info.value.lookup_error.phase == "deadline"
    assert (rest.posts, rest.jobs) == (1, [])
    assert rest.lists >= 2


async def test_failed_lookup_raises_submission_unknown_with_the_key(
    make: Callable[..., Face],
) -> None:
    rest = Rest(outcomes=["drop-after"])
    rest.list_status = 500
    with pytest.raises(SubmissionUnknownError) as info:
        await make(rest)("jobs.submit_spec", spec(submission_key="run-42"))
    assert info.value.submission_key == "run-42"
    assert isinstance(info.value.cause, SlurmConnectionError)
    assert rest.posts == 1  # never sent twice while the outcome is unknown


async def test_a_2xx_with_errors_and_a_job_id_is_a_submitted_job(
    make: Callable[..., Face],
) -> None:
    rest = Rest(outcomes=["created-with-error"])
    got = await make(rest)("jobs.submit_spec", spec())
    assert got.job_id == 100
    assert got.warnings == ["Access/permission denied"]
    assert (rest.posts, rest.lists) == (1, 0)


async def test_definite_rejections_are_raised_at_once(make: Callable[..., Face]) -> None:
    rest = Rest(outcomes=["refuse"])
    with pytest.raises(InvalidRequestError):
        await make(rest)("jobs.submit_spec", spec())
    assert (rest.posts, rest.lists) == (1, 0)


async def test_a_5xx_carrying_a_slurmctld_verdict_is_not_resent(
    make: Callable[..., Face],
) -> None:
    rest = Rest(outcomes=["ctld-refuses-500"])
    with pytest.raises(ServerError) as info:
        await make(rest)("jobs.submit_spec", spec())
    assert info.value.error_numbers == [2999]
    assert (rest.posts, rest.lists) == (1, 0)  # no lookup, no second job


async def test_a_5xx_from_a_lost_rpc_is_looked_up_not_resent(
    make: Callable[..., Face],
) -> None:
    rest = Rest(outcomes=["rpc-lost-500"])
    got = await make(rest)("jobs.submit_spec", spec())
    assert got.job_id == 100
    assert (rest.posts, rest.lists, len(rest.jobs)) == (1, 1, 1)


async def test_connect_errors_are_the_engines_to_retry(make: Callable[..., Face]) -> None:
    rest = Rest(outcomes=["connect"])
    got = await make(rest)("jobs.submit_spec", spec())
    assert (got.job_id, rest.posts, rest.lists) == (100, 2, 0)


async def test_refused_translation_sends_nothing(make: Callable[..., Face]) -> None:
    rest = Rest("v0.0.38")
    with pytest.raises(Exception, match="B:"):
        await make(rest)("jobs.submit_spec", spec(signal="B:USR2@60"))
    assert rest.posts == 0


async def test_het_job_carries_the_key_in_every_component(make: Callable[..., Face]) -> None:
    rest = Rest(outcomes=["drop-after"])
    face = make(rest)
    builder = face.client.jobs.submit().script(SCRIPT).name("a")
    got = await face("jobs.submit_het", [builder, spec(name="b")])
    assert got.job_id == 100
    assert [j["name"] for j in rest.jobs] == ["a", "b"]
    assert rest.keys() == [got.submission_key] * 2
    with pytest.raises(ValueError, match="at least two"):
        await face("jobs.submit_het", [spec()])


async def _execute(builder: Any) -> Any:
    result = builder.execute()
    return await result if inspect.isawaitable(result) else result


async def test_builder_wiring_and_find_submission(make: Callable[..., Face]) -> None:
    rest = Rest()
    face = make(rest)
    builder = face.client.jobs.submit()
    wanted = AsyncJobBuilder if isinstance(face.client, AsyncSlurmClient) else JobBuilder
    assert type(builder) is wanted
    got = await _execute(builder.script(SCRIPT).submission_key("k-1"))
    assert got.submission_key == "k-1"
    assert await face("jobs.find_submission", "k-1") == got.job_id
    assert await face("jobs.find_submission", "k-2") is None


async def test_dry_run(make: Callable[..., Face]) -> None:
    rest = Rest()
    face = make(rest)
    builder = face.client.jobs.submit().script(SCRIPT).submission_key("k-9")
    if isinstance(face.client, AsyncSlurmClient):
        with pytest.raises(RuntimeError, match="negotiate"):
            builder.dry_run()  # the async client cannot negotiate inside a sync call
        await face.client.negotiate()
    body = builder.dry_run()
    assert body["job"]["comment"] == "[slurm-client:k-9]"
    assert rest.posts == 0
    if isinstance(face.client, SlurmClient):
        assert type(face.client.jobs.submit(TrainingJob)) is TrainingJob
    else:
        assert type(face.client.jobs.submit(AsyncTrainingJob)) is AsyncTrainingJob


async def test_array_tasks_one_per_task(make: Callable[..., Face]) -> None:
    rest = Rest()
    base = {"name": "arr", "comment": "", "array_job_id": n(40)}
    rest.jobs = [
        {**base, "job_id": 40, "array_task_id": n(0), "array_task_string": "2-5%2",
         "job_state": ["PENDING"]},
        {**base, "job_id": 41, "array_task_id": n(0), "job_state": ["COMPLETED"]},
        {**base, "job_id": 42, "array_task_id": n(1), "job_state": ["RUNNING"]},
    ]  # fmt: skip
    tasks = await make(rest)("jobs.array_tasks", 40)
    assert [t.array_task_id for t in tasks] == [0, 1, 2, 3, 4, 5]
    assert [t.state.base for t in tasks] == [
        JobBaseState.COMPLETED, JobBaseState.RUNNING, *[JobBaseState.PENDING] * 4
    ]  # fmt: skip
    assert [t.id_string for t in tasks][:3] == ["40_0", "40_1", "40_2"]


def _job(job_id: int, comment: str, user: str | None = "alice", **ids: int) -> Job:
    state = JobState.parse("PENDING")
    return Job(job_id=job_id, name="j", state=state, comment=comment, user_name=user, **ids)


async def test_job_id_for_key_prefers_the_leader() -> None:
    mark = "x [slurm-client:k]"
    jobs = [_job(11, mark, het_job_id=10), _job(10, mark, het_job_id=10), _job(12, "other")]
    assert job_id_for_key(jobs, "k", owner="alice") == 10
    tasks = [_job(21, mark, array_job_id=20), _job(20, mark, array_job_id=20)]
    assert job_id_for_key(tasks, "k", owner="alice") == 20
    assert job_id_for_key(tasks, "k2", owner="alice") is None
    assert job_id_for_key([_job(5, "[slurm-client:k]")], "k", owner="alice") == 5


async def test_job_id_for_key_only_takes_the_owners_job() -> None:
    mark = "[slurm-client:k]"
    decoy, real = _job(7, mark, "mallory"), _job(9, mark, "alice")
    assert job_id_for_key([decoy, real], "k", owner="alice") == 9
    assert job_id_for_key([decoy], "k", owner="alice") is None
    with pytest.raises(SubmissionOwnerError) as info:
        job_id_for_key([decoy], "k", owner=None)  # who are we? cannot tell
    assert (info.value.job_ids, info.value.owner) == ([7], None)
    with pytest.raises(SubmissionOwnerError, match="no owner"):
        job_id_for_key([_job(8, mark, None)], "k", owner="alice")


def _decoy(rest: Rest, key: str, user: str = "mallory") -> int:
    """A job of ``user`` carrying ``key``, submitted before the victim's submission."""
    body = {"job": {"name": "decoy", "comment": comment_with_key(None, key)}}
    return rest._create(body, user)


@pytest.mark.parametrize("outcome", ["drop-after", "drop-before", "timeout", "rpc-lost-500"])
async def test_another_users_job_carrying_the_key_is_not_adopted(
    make: Callable[..., Face], outcome: str
) -> None:
    rest = Rest(outcomes=[outcome])
    decoy = _decoy(rest, "run-42")
    got = await make(rest)("jobs.submit_spec", spec(submission_key="run-42"))
    assert got.job_id != decoy
    mine = [j for j in rest.jobs if j["user_name"] == "alice"]
    assert [j["job_id"] for j in mine] == [got.job_id]  # her job, exactly one
    assert rest.posts == (2 if outcome == "drop-before" else 1)


async def test_unknown_submitter_does_not_adopt_a_job_by_its_key(
    make: Callable[..., Face],
) -> None:
    rest = Rest(outcomes=["drop-after"])
    with pytest.raises(SubmissionUnknownError) as info:
        await make(rest, user=None)("jobs.submit_spec", spec(submission_key="run-7"))
    assert isinstance(info.value.lookup_error, SubmissionOwnerError)
    assert info.value.submission_key == "run-7"
    assert rest.posts == 1  # neither adopted nor sent twice


async def test_a_record_without_an_owner_is_not_adopted(make: Callable[..., Face]) -> None:
    rest = Rest(outcomes=["drop-before"])
    rest._create({"job": {"comment": comment_with_key(None, "run-8")}}, user=None)
    with pytest.raises(SubmissionUnknownError) as info:
        await make(rest)("jobs.submit_spec", spec(submission_key="run-8"))
    assert isinstance(info.value.lookup_error, SubmissionOwnerError)
    assert rest.posts == 1


async def test_find_submission_ignores_other_users_jobs(make: Callable[..., Face]) -> None:
    rest = Rest()
    _decoy(rest, "run-9")
    face = make(rest)
    assert await face("jobs.find_submission", "run-9") is None
    got = await face("jobs.submit_spec", spec(submission_key="run-9"))
    assert await face("jobs.find_submission", "run-9") == got.job_id


async def test_generated_keys_are_random_128_bit_hex() -> None:
    keys = {new_submission_key() for _ in range(64)}
    assert len(keys) == 64
    assert all(k.startswith("sck-") and len(k) == 36 and int(k[4:], 16) >= 0 for k in keys)


async def test_training_job_is_a_job_builder() -> None:
    assert issubclass(TrainingJob, JobBuilder)


@given(
    comment=st.none() | st.text(alphabet=st.characters(exclude_characters="\x00"), min_size=1),
    key=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,40}", fullmatch=True),
)
async def test_the_key_marker_keeps_any_user_comment(comment: str | None, key: str) -> None:
    assume(comment is None or not comment.rstrip().endswith("]"))
    marked = comment_with_key(comment, key)
    assert split_comment(marked) == (comment, key)
    assert split_comment(comment) == (comment, None)


# ------------------------------------------------------------------ submit_script ---------
SBATCH_SCRIPT = (
    "#!/bin/bash\n#SBATCH --job-name=from-script --time=00:07:00\n#SBATCH --mem=123M\nhostname\n"
)


@pytest.mark.parametrize("version", ["v0.0.38", "v0.0.42"])
async def test_submit_script_sends_what_the_directives_say(
    make: Callable[..., Face], version: str, tmp_path: Any
) -> None:
    rest = Rest(version)
    face = make(rest)
    path = tmp_path / "job.sh"
    path.write_text(SBATCH_SCRIPT)
    if version == "v0.0.38":  # 22.05's slurmrestd dies on argv: script arguments refused
        with pytest.raises(UnsupportedOperationError):
            await face("jobs.submit_script", path, "in.txt", environ={}, cwd="/w")
        assert rest.posts == 0
    words = ["-p", "gpu"] if version == "v0.0.38" else ["-p", "gpu", "in.txt"]
    got = await face("jobs.submit_script", path, *words, environ={}, cwd="/w")
    job = rest.bodies[0]["job"]
    assert got.job_id == 100
    assert (job["name"], job["partition"], job["current_working_directory"]) == (
        "from-script",
        "gpu",
        "/w",
    )
    assert job["time_limit"] == (7 if version == "v0.0.38" else n(7))
    assert job["memory_per_node"] == (123 if version == "v0.0.38" else n(123))
    assert job.get("argv") == (None if version == "v0.0.38" else [str(path), "in.txt"])


async def test_submit_script_refuses_a_bad_directive_before_sending(
    make: Callable[..., Face],
) -> None:
    rest = Rest()
    face = make(rest)
    with pytest.raises(JobSpecError) as caught:
        await face("jobs.submit_script", SBATCH_SCRIPT.replace("123M", "123Q"), environ={})
    assert (caught.value.field, caught.value.line) == ("--mem", 3)
    assert rest.posts == 0


async def test_submit_script_het_job(make: Callable[..., Face]) -> None:
    rest = Rest()
    face = make(rest)
    script = "#!/bin/sh\n#SBATCH -n1\n#SBATCH hetjob\n#SBATCH -n2\nsrun true\n"
    got = await face("jobs.submit_script", script, environ={}, cwd="/w")
    assert [j["tasks"] for j in rest.bodies[0]["jobs"]] == [1, 2]
    assert [j.get("het_job_id") for j in rest.jobs] == [got.job_id, got.job_id]
