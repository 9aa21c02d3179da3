"""JobBuilder / AsyncJobBuilder: fluent setters, immediate validation, the injected seams."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs import (
    AsyncJobBuilder,
    Exclusive,
    GresRequest,
    JobBuilder,
    JobSpec,
    SubmittedJob,
)

SCRIPT = "#!/bin/bash\necho hello"


class Recorder:
    """A fake submitter/renderer that remembers what it was given."""

    def __init__(self) -> None:
        self.specs: list[JobSpec] = []

    def submit(self, spec: JobSpec) -> SubmittedJob:
        self.specs.append(spec)
        return SubmittedJob(job_id=100 + len(self.specs), step_id="batch", warnings=[])

    async def asubmit(self, spec: JobSpec) -> SubmittedJob:
        return self.submit(spec)

    def render(self, spec: JobSpec) -> dict[str, Any]:
        return {"job": {"script": spec.script, "memory_per_cpu": spec.memory_per_cpu}}


def full_builder(builder: JobBuilder) -> JobBuilder:
    return (
        builder.script(SCRIPT)
        .name("hello")
        .partition("debug")
        .time_limit(timedelta(hours=1))
        .memory_per_cpu("4GB")
        .cpus_per_task(2)
        .nodes(1)
        .gpus(2)
        .environment({"FOO": "1"})
        .working_directory("/tmp")
        .output("/tmp/%x-%j.out")
        .error("/tmp/%x-%j.err")
        .depends_on(afterok=[123])
        .array("0-9%2")
    )


def test_the_contract_example() -> None:
    rec = Recorder()
    job = full_builder(JobBuilder(submitter=rec.submit)).execute()
    assert job == SubmittedJob(job_id=101, step_id="batch", warnings=[])
    spec = rec.specs[0]
    assert spec.memory_per_cpu == 4096
    assert spec.time_limit == timedelta(hours=1)
    assert spec.gpus == GresRequest(name="gpu", count=2)
    assert str(spec.dependency) == "afterok:123"
    assert str(spec.array) == "0-9%2"
    assert spec.environment == {"FOO": "1"}
    assert spec.output == "/tmp/%x-%j.out"


def test_every_setter_returns_the_builder_and_lands_in_the_spec() -> None:
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    b = JobBuilder().script(SCRIPT)
    chain = (
        b.account("acct")
        .qos("high")
        .comment("note")
        .constraint("a100&ib")
        .ntasks(8)
        .ntasks_per_node(4)
        .memory_per_node("16G")
        .gres("gpu:a100:2", "nvme")
        .exclusive("user")
        .requeue()
        .signal("B:USR2@300")
        .nice(10)
        .begin(when)
        .mail("END", "FAIL", user="me@example.org")
    )
    assert chain is b
    spec = b.to_spec()
    assert (spec.account, spec.qos, spec.comment, spec.constraint) == (
        "acct",
        "high",
        "note",
        "a100&ib",
    )
    assert (spec.ntasks, spec.ntasks_per_node, spec.memory_per_node) == (8, 4, 16384)
    assert [str(g) for g in spec.gres] == ["gpu:a100:2", "nvme:1"]
    assert spec.exclusive is Exclusive.USER
    assert spec.requeue is True
    assert str(spec.signal) == "B:USR2@300"
    assert (spec.nice, spec.begin, spec.mail_user) == (10, when, "me@example.org")
    assert [m.value for m in spec.mail_types] == ["END", "FAIL"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda b: b.memory_per_cpu("4"), "memory_per_cpu"),
        (lambda b: b.memory_per_node(-1), "memory_per_node"),
        (lambda b: b.time_limit("soon"), "time_limit"),
        (lambda b: b.name("a\nb"), "name"),
        (lambda b: b.output("/tmp/\x00"), "output"),
        (lambda b: b.gpus(0), "gpus"),
        (lambda b: b.gpus(2, type="a:b"), "gpus"),
        (lambda b: b.gpus("2", type="a100"), "gpus"),
        (lambda b: b.gres("gpu:0"), "gres"),
        (lambda b: b.nodes("2-"), "nodes"),
        (lambda b: b.nodes(4, 2), "max_nodes"),
        (lambda b: b.nodes(0), "nodes"),
        (lambda b: b.array("0-9%0"), "array"),
        (lambda b: b.array([1, "x"]), "array"),
        (lambda b: b.depends_on("afterok:1,afterany:2?afterok:3"), "dependency"),
        (lambda b: b.depends_on(), "dependency"),
        (lambda b: b.depends_on("afterok:1", afterany=[2]), "dependency"),
        (lambda b: b.environment({"A B": "1"}), "environment"),
        (lambda b: b.script("echo no shebang"), "script"),
        (lambda b: b.command([]), "script"),
        (lambda b: b.command("python train.py"), "script"),
        (lambda b: b.command(["python", 3]), "script"),
        (lambda b: b.mail(), "mail_types"),
        (lambda b: b.mail("SOMETIMES"), "mail_types"),
        (lambda b: b.unset("memory"), "memory"),
        (lambda b: b.begin(datetime(2030, 1, 1)), "begin"),
    ],
)
def test_setters_validate_immediately(call: Callable[[JobBuilder], object], field: str) -> None:
    with pytest.raises(JobSpecError) as info:
        call(JobBuilder())
    assert info.value.field == field


def test_nodes_forms() -> None:
    assert JobBuilder().script(SCRIPT).nodes(2).to_spec().max_nodes is None
    spec = JobBuilder().script(SCRIPT).nodes(2, 4).to_spec()
    assert (spec.nodes, spec.max_nodes) == (2, 4)
    spec = JobBuilder().script(SCRIPT).nodes("3-5").nodes(1).to_spec()
    assert (spec.nodes, spec.max_nodes) == (1, None)


def test_memory_per_cpu_and_per_node_exclude_each_other() -> None:
    b = JobBuilder().script(SCRIPT).memory_per_cpu("1G")
    with pytest.raises(JobSpecError) as info:
        b.memory_per_node("16G")
    assert info.value.field == "memory_per_node"
    assert b.unset("memory_per_cpu").memory_per_node("16G").to_spec().memory_per_node == 16384
    with pytest.raises(JobSpecError):
        b.memory_per_cpu("1G")


def test_script_and_command_are_mutually_exclusive() -> None:
    with pytest.raises(JobSpecError, match="mutually exclusive"):
        JobBuilder().script(SCRIPT).command(["true"])
    with pytest.raises(JobSpecError, match="mutually exclusive"):
        JobBuilder().command(["true"]).script(SCRIPT)
    b = JobBuilder().command(["true"]).command(["false"])  # the same one again replaces
    assert b.to_spec().script == "#!/bin/bash\nexec false\n"
    assert b.unset("script").script(SCRIPT).to_spec().script == SCRIPT


def test_to_spec_needs_a_script() -> None:
    with pytest.raises(JobSpecError) as info:
        JobBuilder().name("x").to_spec()
    assert info.value.field == "script"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@given(st.lists(st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=12)))
def test_command_reaches_the_program_verbatim(args: list[str]) -> None:
    script = JobBuilder().command(["printf", "%s\\0", "--", *args]).to_spec().script
    assert script.startswith("#!/bin/bash\nexec printf ")
    with tempfile.TemporaryDirectory() as scratch:  # a quoting bug must not litter the repo
        out = subprocess.run(["bash", "-c", script], cwd=scratch, capture_output=True, check=True)
    assert out.stderr == b""
    assert out.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == ["--", *args]


def test_copy_is_independent() -> None:
    base = JobBuilder().script(SCRIPT).partition("gpu").environment({"A": "1"})
    one = base.copy().name("one").environment({"B": "2"})
    two = base.copy().name("two").environment({"C": "3"}, replace=True)
    assert base.to_spec().name is None
    assert base.to_spec().environment == {"A": "1"}
    assert one.to_spec().environment == {"A": "1", "B": "2"}
    assert two.to_spec().environment == {"C": "3"}
    assert (one.to_spec().partition, two.to_spec().name) == ("gpu", "two")


def test_copy_keeps_the_seams_and_the_class() -> None:
    rec = Recorder()

    class TrainingJob(JobBuilder):
        def preset(self) -> TrainingJob:
            return self.gpus(4).ntasks_per_node(4)

    base = TrainingJob(submitter=rec.submit).command(["python", "train.py"]).preset()
    clone = base.copy().name("lr-1e-3")
    assert isinstance(clone, TrainingJob)
    assert clone.execute().job_id == 101
    assert rec.specs[0].name == "lr-1e-3"
    assert rec.specs[0].gpus == GresRequest(name="gpu", count=4)


def test_dry_run_uses_the_renderer() -> None:
    rec = Recorder()
    body = JobBuilder(renderer=rec.render).script(SCRIPT).memory_per_cpu("2G").dry_run()
    assert body == {"job": {"script": SCRIPT, "memory_per_cpu": 2048}}
    assert rec.specs == []


def test_without_seams_the_builder_says_so() -> None:
    b = JobBuilder().script(SCRIPT)
    with pytest.raises(RuntimeError, match="no submitter"):
        b.execute()
    with pytest.raises(RuntimeError, match="no renderer"):
        b.dry_run()


def test_invalid_job_is_never_submitted() -> None:
    rec = Recorder()
    with pytest.raises(JobSpecError):
        JobBuilder(submitter=rec.submit).name("x").execute()
    assert rec.specs == []


def test_from_spec_round_trip() -> None:
    spec = full_builder(JobBuilder()).to_spec()
    stored = spec.model_dump_json()
    again = JobBuilder.from_spec(JobSpec.model_validate_json(stored))
    assert again.to_spec() == spec
    assert again.name("renamed").to_spec().name == "renamed"
    with pytest.raises(JobSpecError, match="mutually exclusive"):
        again.command(["true"])


def test_depends_on_forms() -> None:
    b = JobBuilder().script(SCRIPT)
    assert str(b.depends_on(afterok=[1, "2_3"], singleton=True).to_spec().dependency) == (
        "afterok:1:2_3,singleton"
    )
    assert str(b.depends_on(afterok=[1], afternotok=[2], any_of=True).to_spec().dependency) == (
        "afterok:1?afternotok:2"
    )
    assert str(b.depends_on("afterany:9").to_spec().dependency) == "afterany:9"  # replaces
    assert str(b.depends_on(after=["5+10"], aftercorr=[6]).to_spec().dependency) == (
        "after:5+10,aftercorr:6"
    )


def test_array_forms_and_exclusive_off() -> None:
    b = JobBuilder().script(SCRIPT)
    assert str(b.array(range(0, 10, 2)).to_spec().array) == "0-8:2"
    assert str(b.array([1, 3, 5]).to_spec().array) == "1,3,5"
    assert b.exclusive().to_spec().exclusive is Exclusive.NODE
    assert b.exclusive(False).to_spec().exclusive is None


def test_time_limit_forms() -> None:
    b = JobBuilder().script(SCRIPT)
    assert b.time_limit("2-00:00:00").to_spec().time_limit == timedelta(days=2)
    assert b.time_limit("90").to_spec().time_limit == timedelta(minutes=90)
    assert b.time_limit(30).to_spec().time_limit == timedelta(minutes=30)
    assert str(b.time_limit("UNLIMITED").to_spec().time_limit) == "INFINITE"


def test_paths_accept_pathlike() -> None:
    spec = JobBuilder().script(SCRIPT).working_directory(Path("/scratch")).to_spec()
    assert spec.working_directory == "/scratch"


@pytest.mark.anyio
async def test_async_builder_shares_validation_and_awaits_the_submitter() -> None:
    rec = Recorder()
    b = AsyncJobBuilder(submitter=rec.asubmit, renderer=rec.render).script(SCRIPT)
    with pytest.raises(JobSpecError) as info:
        b.memory_per_cpu("4")
    assert info.value.field == "memory_per_cpu"
    job = await b.memory_per_cpu("4G").copy().name("a").execute()
    assert job.job_id == 101
    assert rec.specs[0].memory_per_cpu == 4096
    assert b.dry_run()["job"]["memory_per_cpu"] == 4096
    with pytest.raises(RuntimeError, match="no submitter"):
        await AsyncJobBuilder().script(SCRIPT).execute()
    again = AsyncJobBuilder.from_spec(rec.specs[0], submitter=rec.asubmit)
    assert (await again.execute()).job_id == 102


SETTERS: dict[str, Callable[[JobBuilder, object], object]] = {
    "script": lambda b, v: b.script(v),  # type: ignore[arg-type]
    "name": lambda b, v: b.name(v),  # type: ignore[arg-type]
    "time_limit": lambda b, v: b.time_limit(v),  # type: ignore[arg-type]
    "memory_per_cpu": lambda b, v: b.memory_per_cpu(v),  # type: ignore[arg-type]
    "cpus_per_task": lambda b, v: b.cpus_per_task(v),  # type: ignore[arg-type]
    "nodes": lambda b, v: b.nodes(v),  # type: ignore[arg-type]
    "gpus": lambda b, v: b.gpus(v),  # type: ignore[arg-type]
    "gres": lambda b, v: b.gres(v),  # type: ignore[arg-type]
    "signal": lambda b, v: b.signal(v),  # type: ignore[arg-type]
    "begin": lambda b, v: b.begin(v),  # type: ignore[arg-type]
    "environment": lambda b, v: b.environment(v),  # type: ignore[arg-type]
    "output": lambda b, v: b.output(v),  # type: ignore[arg-type]
    "dependency": lambda b, v: b.depends_on(v),  # type: ignore[arg-type]
    "array": lambda b, v: b.array(v),  # type: ignore[arg-type]
    "exclusive": lambda b, v: b.exclusive(v),  # type: ignore[arg-type]
    "requeue": lambda b, v: b.requeue(v),  # type: ignore[arg-type]
}

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=5),
    st.lists(st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    st.timedeltas(),
    st.datetimes(),
)


@given(st.sampled_from(sorted(SETTERS)), anything)
def test_setters_raise_only_jobspec_errors_naming_their_field(field: str, value: object) -> None:
    builder = JobBuilder() if field == "script" else JobBuilder().script(SCRIPT)
    try:
        SETTERS[field](builder, value)
    except JobSpecError as exc:
        error: JobSpecError | None = exc
    else:
        error = None
        builder.to_spec()  # what a setter accepted, the spec accepts
    assert error is None or error.field == field
