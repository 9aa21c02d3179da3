"""The clients satisfy the graph's client protocols, per mypy (``GraphClient`` and twin).

``_assignments`` below is the typing test proper: mypy checks this file in strict mode
and expects no error (as ``test_protocol_typing.py`` does for ``SlurmClientProtocol``);
another test shows the same check rejects a client missing what the graph calls.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from slurm_core import AsyncSlurmClient, SlurmClient
from slurm_core.graph import (
    AsyncGraphClient,
    AsyncGraphRun,
    GraphClient,
    GraphRun,
    JobGraph,
)
from slurm_core.jobs import JobSpec, SubmittedJob
from slurm_core.models import JobState
from slurm_core.testing import FakeSlurmServer, MockSlurmClient
from slurm_core.watch import JobEvent, JobEventType

HERE = Path(__file__)


def _assignments() -> tuple[list[GraphClient], list[AsyncGraphClient]]:
    fake = FakeSlurmServer()
    real: GraphClient = SlurmClient(fake.url, transport=fake.transport())
    mock: GraphClient = MockSlurmClient()
    areal: AsyncGraphClient = AsyncSlurmClient(fake.url, transport=fake.transport())
    return [real, mock], [areal]


def _signatures(graph: JobGraph, client: SlurmClient, aclient: AsyncSlurmClient) -> None:
    run: GraphRun = graph.submit(client)
    other: GraphRun = graph.submit(MockSlurmClient(), submit=lambda spec: 42)
    arun = graph.asubmit(aclient)  # a coroutine of AsyncGraphRun
    del run, other, arun


async def _async_signature(graph: JobGraph, client: AsyncSlurmClient) -> AsyncGraphRun:
    async def submit_one(spec: JobSpec) -> SubmittedJob:
        return await client.jobs.submit_spec(spec)

    await graph.asubmit(client, submit=submit_one)
    return AsyncGraphRun(graph, client, {"only": 1})


def _mypy(*files: Path, cache: Path) -> tuple[str, int]:
    mypy_api = pytest.importorskip("mypy.api")
    out, err, status = mypy_api.run(
        [*map(str, files), "--strict", "--cache-dir", str(cache), "--no-error-summary"]
    )
    return out + err, status


def test_the_clients_satisfy_the_graph_protocols(tmp_path: Path) -> None:
    sync, asynchronous = _assignments()
    assert [type(c).__name__ for c in [*sync, *asynchronous]] == [
        "SlurmClient",
        "MockSlurmClient",
        "AsyncSlurmClient",
    ]
    report, status = _mypy(HERE, cache=tmp_path / "cache")
    assert status == 0, report


def test_the_check_rejects_a_client_without_watch(tmp_path: Path) -> None:
    source = tmp_path / "nowatch.py"
    source.write_text(
        textwrap.dedent(
            """
            from slurm_core.graph import GraphClient
            from slurm_core.jobs import JobSpec, SubmittedJob

            class Jobs:
                def submit_spec(self, spec: JobSpec) -> SubmittedJob:
                    return SubmittedJob(job_id=1)

                def cancel(self, job_id: int) -> None:
                    pass

            class Client:
                jobs = Jobs()

            client: GraphClient = Client()
            """
        )
    )
    report, status = _mypy(source, cache=tmp_path / "cache")
    assert status != 0
    assert "GraphClient" in report


def test_a_mock_client_submits_and_follows_a_graph() -> None:
    """The mock's ``watch`` is a plain iterator (no ``with``): ``wait`` takes it too."""
    mock = MockSlurmClient()
    mock.expect_job_submit().return_job(101)
    done = JobEvent(
        type=JobEventType.COMPLETED,
        job_id=101,
        old_state=JobState.parse("RUNNING"),
        new_state=JobState.parse("COMPLETED"),
        time=datetime(2024, 1, 1, tzinfo=timezone.utc),
        final=True,
    )
    mock.expect("jobs.watch").returns([done])
    graph = JobGraph()
    graph.add("only", JobSpec(script="#!/bin/sh\ntrue\n"))
    run = graph.submit(mock)
    assert run.job_ids == {"only": 101}
    assert run.wait().states == {"only": "COMPLETED"}
    mock.verify()
