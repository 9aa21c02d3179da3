"""Submitting a JobGraph and following it, against the scripted slurmrestd (both faces)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_watch_sim import URL, SimSlurm

from slurm_core import AsyncSlurmClient, RetryPolicy, SlurmClient
from slurm_core._versions import ADAPTERS
from slurm_core._versions.negotiate import clear_cache
from slurm_core.graph import GraphError, JobGraph
from slurm_core.jobs import AsyncJobBuilder, JobBuilder, JobSpec, SubmittedJob
from slurm_core.watch import WatchOptions

pytestmark = pytest.mark.anyio
FAST = WatchOptions(min_interval=0, initial_interval=0.001, max_interval=0.002)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_negotiation() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def body(spec: JobSpec, version: str) -> dict[str, Any]:
    """A submission body from the few spec fields these tests use."""
    job: dict[str, Any] = {"name": spec.name, "current_working_directory": "/tmp"}
    if spec.dependency is not None:
        job["dependency"] = str(spec.dependency)
    return ADAPTERS[version]().job_submit_body(job, script=spec.script)


class Cluster:
    def __init__(self, mode: str, sim: SimSlurm) -> None:
        self.mode, self.sim = mode, sim
        kw: dict[str, Any] = {"transport": sim.transport(), "retry": RetryPolicy(max_attempts=1)}
        self.client: Any = (SlurmClient if mode == "sync" else AsyncSlurmClient)(URL, **kw)
        self.client.jobs.watch_options = FAST
        self.failing: str | None = None

    def _submit(self, spec: JobSpec) -> SubmittedJob:
        if spec.name == self.failing:
            raise ValueError("refused")
        path = f"/slurm/{self.sim.version}/job/submit"
        response = self.sim.handler(
            httpx.Request("POST", URL + path, json=body(spec, self.sim.version))
        )
        return SubmittedJob(job_id=response.json()["job_id"])

    def builder(self, script: str = "#!/bin/sh\ntrue\n") -> Any:
        if self.mode == "sync":
            return JobBuilder(submitter=self._submit).script(script)

        async def submit(spec: JobSpec) -> SubmittedJob:
            return self._submit(spec)

        return AsyncJobBuilder(submitter=submit).script(script)

    async def submit(self, graph: JobGraph, **kw: Any) -> Any:
        if self.mode == "sync":
            return graph.submit(self.client, **kw)
        return await graph.asubmit(self.client, **kw)

    async def wait(self, run: Any, **kw: Any) -> Any:
        if self.mode == "sync":
            return run.wait(**kw)
        return await run.wait(**kw)


def diamond(c: Cluster) -> JobGraph:
    g = JobGraph("diamond")
    a = g.add("a", c.builder())
    b = g.add("b", c.builder(), after_ok=[a])
    cc = g.add("c", c.builder().name("custom-c"), after_ok=[a])
    g.add("d", c.builder().depends_on(afterany=[7]), after_ok=[b, cc])
    return g


async def test_submit_in_order_with_dependencies(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    run = await c.submit(diamond(c))
    assert list(run.job_ids) == ["a", "b", "c", "d"]
    ids = run.job_ids
    sent = [(b["job"]["name"], b["job"].get("dependency")) for b in sim.submitted]
    assert sent == [
        ("a", None),
        ("b", f"afterok:{ids['a']}"),
        ("custom-c", f"afterok:{ids['a']}"),  # the builder's own name is kept
        ("d", f"afterok:{ids['b']}:{ids['c']},afterany:7"),  # and its own dependency
    ]
    assert f"#{ids['d']}" in run.to_dot()


async def test_nothing_is_submitted_for_a_bad_graph(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    g = diamond(c)
    g.depend("a", after_any=["d"])
    with pytest.raises(GraphError, match="cycle: a -> b -> d -> a"):
        await c.submit(g)
    g2 = JobGraph()
    g2.add("x", c.builder(), after_ok=["nope"])
    with pytest.raises(GraphError, match="unknown node 'nope'"):
        await c.submit(g2)
    g3 = JobGraph()
    g3.add("x", c.builder())
    g3.add("y", c.builder().depends_on("afterok:5?afterok:6"), after_ok=["x"])
    with pytest.raises(GraphError, match="cannot be combined"):
        await c.submit(g3)
    g4 = JobGraph()
    g4.add("x", c.builder())
    g4.add("y", JobBuilder())  # no script
    with pytest.raises(GraphError, match="node 'y': script"):
        await c.submit(g4)
    g5 = JobGraph()
    g5.add("x", c.builder())
    g5.add("y", JobBuilder().script("#!/bin/sh\n"))  # a builder of no client
    with pytest.raises(GraphError, match="node 'y' cannot be submitted"):
        await c.submit(g5)
    assert sim.submitted == []


async def test_failed_submission_cancels_what_was_submitted(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    c.failing = "custom-c"
    with pytest.raises(GraphError, match="submitting node 'c' failed") as info:
        await c.submit(diamond(c))
    assert list(info.value.submitted) == ["a", "b"]
    assert [str(sim.jobs[j].state) for j in info.value.submitted.values()] == ["CANCELLED"] * 2


async def test_specs_go_through_submit_spec(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    g = JobGraph()
    g.add("first", JobSpec(script="#!/bin/sh\n"))
    g.add("second", JobSpec(script="#!/bin/sh\n", name="named"), after_any=["first"])
    run = await c.submit(g)
    sent = [(b["job"]["name"], b["job"].get("dependency")) for b in sim.submitted]
    assert sent == [("first", None), ("named", f"afterany:{run.job_ids['first']}")]


async def test_specs_with_a_submit_function(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    g = JobGraph()
    g.add("first", JobSpec(script="#!/bin/sh\n"))
    g.add("second", JobSpec(script="#!/bin/sh\n"), after_notok=["first"])
    run = await c.submit(g, submit=c._submit)
    assert sim.submitted[1]["job"]["dependency"] == f"afternotok:{run.job_ids['first']}"


async def test_wait_reports_unrunnable_and_cancels_them(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    g = JobGraph()
    g.add("a", c.builder())
    g.add("b", c.builder(), after_ok=["a"])
    g.add("cleanup", c.builder(), after_any=["b"])
    run = await c.submit(g)
    ids = run.job_ids

    def a_fails() -> None:
        sim.set(ids["a"], "RUNNING")
        sim.set(ids["a"], "FAILED")

    def cleanup_runs() -> None:  # once b is cancelled, Slurm lets cleanup run
        assert str(sim.jobs[ids["b"]].state) == "CANCELLED"
        sim.set(ids["cleanup"], "COMPLETED")

    sim.script = {2: a_fails, 4: cleanup_runs}
    seen: list[tuple[str, str]] = []
    result = await c.wait(
        run,
        cancel_unrunnable=True,
        timeout=30,
        on_event=lambda name, e: seen.append((name, e.type.value)),
    )
    # live progress names the graph's nodes, and every final state reaches it
    assert ("a", "FAILED") in seen
    assert ("b", "CANCELLED") in seen
    assert ("cleanup", "COMPLETED") in seen
    assert {name for name, _ in seen} == {"a", "b", "cleanup"}
    assert result.states == {"a": "FAILED", "b": "CANCELLED", "cleanup": "COMPLETED"}
    assert result.unrunnable == ("b",)
    assert result.failed == ["a"]
    assert run.states["cleanup"] is not None
    deletes = [r for r in sim.requests if r.method == "DELETE"]
    assert [r.url.path.rsplit("/", 1)[-1] for r in deletes] == [str(ids["b"])]


async def test_wait_without_cancelling_stops_at_what_never_runs(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    g = JobGraph()
    g.add("a", c.builder())
    g.add("b", c.builder(), after_ok=["a"])
    g.add("c", c.builder(), after_any=["b"])
    run = await c.submit(g)
    sim.script = {2: lambda: sim.set(run.job_ids["a"], "FAILED")}
    result = await c.wait(run, timeout=30)
    assert result.states == {"a": "FAILED", "b": "UNRUNNABLE", "c": "UNRUNNABLE"}
    assert [r for r in sim.requests if r.method == "DELETE"] == []
    assert c.client.jobs.watcher.brain.active == 0


async def test_build_graph_from_the_cluster(mode: str) -> None:
    sim = SimSlurm("v0.0.42")
    c = Cluster(mode, sim)
    run = await c.submit(diamond(c))
    ids = run.job_ids
    for _name, job_id in ids.items():  # slurmctld reports record states
        dep = sim.jobs[job_id].dependency
        if dep:
            sim.jobs[job_id] = sim.jobs[job_id].model_copy(
                update={"dependency": ",".join(f"{t}(unfulfilled)" for t in dep.split(","))}
            )
    if mode == "sync":
        live = c.client.dependencies.build_graph(ids["d"])
        assert str(c.client.dependencies.of(ids["b"])) == f"afterok:{ids['a']}(unfulfilled)"
    else:
        live = await c.client.dependencies.build_graph(ids["d"])
    rebuilt = live.with_transitive_deps()
    by_id = {v: k for k, v in ids.items()}
    got = {
        (by_id.get(int(e.upstream), e.upstream), by_id[int(e.downstream)], e.kind.value)
        for e in rebuilt.edges()
    }
    assert got == {
        ("a", "b", "afterok"),
        ("a", "c", "afterok"),
        ("b", "d", "afterok"),
        ("c", "d", "afterok"),
        (7, "d", "afterany"),
    }
    listings = [r for r in sim.requests if r.url.path.endswith("/jobs")]
    assert len(listings) == 1
