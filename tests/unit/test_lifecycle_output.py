"""Tailing a job's output (bounded, incremental, safe) and the watch heartbeats it rides on."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from test_watch_fake import watched

from slurm_core.jobs import SharedFilesystemReader
from slurm_core.lifecycle import OutputLine
from slurm_core.lifecycle._output import CHUNK_BYTES, MAX_LINE_CHARS, OutputTail
from slurm_core.models import Job, JobState
from slurm_core.testing import FakeSlurmServer
from slurm_core.watch import JobEventType


def job(tmp_path: Path, *, error: bool = True) -> Job:
    return Job(
        job_id=7,
        name="t",
        state=JobState.parse("RUNNING"),
        user_id=os.geteuid(),
        working_directory=str(tmp_path),
        standard_output=str(tmp_path / "out"),
        standard_error=str(tmp_path / "err") if error else None,
    )


def texts(lines: list[OutputLine]) -> list[tuple[str, str]]:
    return [(line.stream, line.text) for line in lines]


def test_lines_arrive_as_written_each_stream_on_its_own(tmp_path: Path) -> None:
    tail = OutputTail(SharedFilesystemReader(roots=[tmp_path]))
    snapshot = job(tmp_path)
    assert tail.poll(snapshot) == []  # nothing written yet: tried again later
    (tmp_path / "out").write_text("one\ntw")
    (tmp_path / "err").write_text("oops\n")
    assert texts(tail.poll(snapshot)) == [("stdout", "one"), ("stderr", "oops")]
    with (tmp_path / "out").open("a") as fh:
        fh.write("o\nthree")
    assert texts(tail.poll(snapshot)) == [("stdout", "two")]
    assert texts(tail.poll(snapshot, final=True)) == [("stdout", "three")]


def test_stderr_into_stdout_is_one_stream(tmp_path: Path) -> None:
    tail = OutputTail(SharedFilesystemReader(roots=[tmp_path]))
    (tmp_path / "out").write_text("a\n")
    assert texts(tail.poll(job(tmp_path, error=False))) == [("stdout", "a")]


def test_a_truncated_file_starts_over(tmp_path: Path) -> None:
    tail = OutputTail(SharedFilesystemReader(roots=[tmp_path]))
    snapshot = job(tmp_path, error=False)
    (tmp_path / "out").write_text("first line\n")
    tail.poll(snapshot)
    (tmp_path / "out").write_text("new\n")
    assert texts(tail.poll(snapshot)) == [("stdout", "new")]


def test_reads_are_bounded_and_long_lines_split(tmp_path: Path) -> None:
    tail = OutputTail(SharedFilesystemReader(roots=[tmp_path]))
    snapshot = job(tmp_path, error=False)
    (tmp_path / "out").write_text("x" * (CHUNK_BYTES + 10))
    first = tail.poll(snapshot)
    assert sum(len(line.text) for line in first) <= CHUNK_BYTES
    assert all(len(line.text) <= MAX_LINE_CHARS for line in first)
    rest = tail.poll(snapshot, final=True)
    assert sum(len(line.text) for line in first + rest) == CHUNK_BYTES + 10


def test_a_refused_file_stops_that_stream_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    tail = OutputTail(SharedFilesystemReader(roots=[elsewhere]))  # out is outside the roots
    snapshot = job(tmp_path, error=False)
    (tmp_path / "out").write_text("secret\n")
    with caplog.at_level(logging.WARNING, "slurm_core.lifecycle"):
        assert tail.poll(snapshot) == []
        assert tail.poll(snapshot) == []
    assert len([r for r in caplog.records if "not tailing" in r.getMessage()]) == 1


def test_a_reader_without_read_from_is_read_whole(tmp_path: Path) -> None:
    class Whole:
        def __init__(self) -> None:
            self.text = ""

        def read(self, path: str) -> str:
            return self.text

    reader = Whole()
    tail = OutputTail(reader)
    snapshot = job(tmp_path, error=False)
    reader.text = "a\nb"
    assert texts(tail.poll(snapshot)) == [("stdout", "a")]
    reader.text = "a\nbc\n"
    assert texts(tail.poll(snapshot)) == [("stdout", "bc")]


def test_read_from_checks_its_offset(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("abcdef")
    reader = SharedFilesystemReader(roots=[tmp_path])
    assert reader.read_from(str(tmp_path / "f"), 2, 3) == (b"cde", 6)
    with pytest.raises(ValueError, match="offset"):
        reader.read_from(str(tmp_path / "f"), -1, 3)


# --- POLLED heartbeats ------------------------------------------------------------------------
def test_heartbeats_only_for_watches_that_ask_and_never_twice_queued() -> None:
    fake = FakeSlurmServer(default_runtime=30)
    with watched(fake) as client:
        job_id = client.jobs.submit().command(["true"]).execute().job_id
        plain = [e.type for e in client.jobs.watch(job_id)]
        assert JobEventType.POLLED not in plain
        job_id = client.jobs.submit().command(["true"]).execute().job_id
        with client.jobs.watcher.watch([job_id], ticks=True) as events:
            ticked = list(events)
        types = [e.type for e in ticked]
        assert types.count(JobEventType.POLLED) >= 2
        assert types[-1] is JobEventType.COMPLETED
        polled = [e for e in ticked if e.type is JobEventType.POLLED]
        assert all(not e.final and e.job is not None for e in polled)
        brain = client.jobs.watcher.brain
        sub = brain.subscribe([str(job_id)], ticks=True)
        brain._tick()
        brain._tick()
        assert [e.type for e in sub.queue].count(JobEventType.POLLED) <= 1
        brain.unsubscribe(sub)
