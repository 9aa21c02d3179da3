"""Job output: Slurm's filename patterns, the path per record shape, and the readers."""

from __future__ import annotations

import os
import pwd
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from slurm_core import AsyncSlurmClient, SlurmClient
from slurm_core._versions.negotiate import clear_cache
from slurm_core.jobs import JobOutputError, SharedFilesystemReader
from slurm_core.jobs.output import OutputPath, OutputReader, expand_pattern, output_path
from slurm_core.models import Job, JobState

BASE = "http://slurm.test:6820"


def job(**fields: Any) -> Job:
    values: dict[str, Any] = {
        "job_id": 42,
        "name": "train",
        "state": JobState.parse("COMPLETED"),
        "user_name": "alice",
        "batch_host": "node7",
        "working_directory": "/home/alice/run",
    }
    return Job(**{**values, **fields})


ARRAY_TASK = {"job_id": 45, "array_job_id": 40, "array_task_id": 3}


@pytest.mark.parametrize(
    ("pattern", "fields", "expanded"),
    [
        ("%x-%j.out", {}, "train-42.out"),
        ("%A_%a.log", ARRAY_TASK, "40_3.log"),
        ("%A.log", {}, "42.log"),  # outside an array %A is the job id
        ("%a.log", {}, "4294967294.log"),  # ...and %a is NO_VAL, as slurmstepd prints it
        ("%u/%N/%J-%s-%n-%t", {}, "alice/node7/42.batch-batch-0-0"),
        ("%5j-%3a", ARRAY_TASK, "00045-003"),
        ("100%%-%j", {}, "100%-42"),
        ("%q%j", {}, "%q42"),  # unknown letters stay as they are
        ("lit\\%j\\.out", {}, "lit%j.out"),  # a backslash turns expansion off
    ],
)
def test_patterns(pattern: str, fields: dict[str, Any], expanded: str) -> None:
    assert expand_pattern(pattern, job(**fields)) == expanded


@pytest.mark.parametrize(("pattern", "missing"), [("%N.out", "batch_host"), ("%u", "user_name")])
def test_pattern_needing_what_the_record_lacks(pattern: str, missing: str) -> None:
    with pytest.raises(JobOutputError, match=pattern[:2]):
        expand_pattern(pattern, job(**{missing: None}))


def test_paths_per_record_shape() -> None:
    # 22.05 (v0.0.38): "" when unset -> Slurm's default in the working directory
    assert output_path(job(standard_output=None)) == "/home/alice/run/slurm-42.out"
    assert output_path(job(standard_output=None), "stderr") == "/home/alice/run/slurm-42.out"
    assert output_path(job(**ARRAY_TASK)) == "/home/alice/run/slurm-40_3.out"
    # 24.11: already expanded; 26.05: the pattern, and stdout_expanded beside it
    assert output_path(job(standard_output="/o/train-42.out")) == "/o/train-42.out"
    raw = {"stdout_expanded": "/x/slurm-42.out", "stderr_expanded": "/x/err-42"}
    assert output_path(job(standard_output="slurm-%j.out", raw=raw)) == "/x/slurm-42.out"
    assert output_path(job(raw=raw), "stderr") == "/x/err-42"
    # the pending array record's expansion is garbage (task id NO_VAL): ignored
    meta = {"stdout_expanded": "/x/slurm-40_4294967294.out"}
    assert output_path(job(**ARRAY_TASK, raw=meta)) == "/home/alice/run/slurm-40_3.out"
    # relative patterns are in the working directory; stderr follows stdout unless set
    j = job(standard_output="%x.out", standard_error="logs/%x.err")
    assert (output_path(j), output_path(j, "stderr")) == (
        "/home/alice/run/train.out",
        "/home/alice/run/logs/train.err",
    )
    with pytest.raises(JobOutputError, match="working directory"):
        output_path(job(working_directory=None, standard_output="rel.out"))
    with pytest.raises(ValueError, match="stream"):
        output_path(job(), "stdin")  # type: ignore[arg-type]


def test_shared_filesystem_reader(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "out").write_bytes(b"ok \xff\n")
    reader = SharedFilesystemReader(path_map={"/cluster/home": str(tmp_path)})
    assert isinstance(reader, OutputReader)
    assert reader.local_path("/cluster/home/run/out") == str(tmp_path / "run" / "out")
    assert reader.local_path("/cluster/homework/x") == "/cluster/homework/x"  # whole parts
    assert reader.read("/cluster/home/run/out") == "ok \ufffd\n"  # never fails to decode
    with pytest.raises(JobOutputError) as missing:
        reader.read("/cluster/home/run/none")
    assert missing.value.path == "/cluster/home/run/none"
    assert missing.value.local_path == str(tmp_path / "run" / "none")
    assert "not shared" in missing.value.reason
    with pytest.raises(JobOutputError, match="directory"):
        reader.read("/cluster/home/run")
    assert "path_map" in str(_error(SharedFilesystemReader(), str(tmp_path / "nope")))


def _error(reader: SharedFilesystemReader, path: str) -> JobOutputError:
    with pytest.raises(JobOutputError) as info:
        reader.read(path)
    return info.value


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    secret.chmod(0)
    assert "ermission" in _error(SharedFilesystemReader(), str(secret)).reason


@pytest.mark.skipif(os.geteuid() != 0, reason="what a reader running as root accepts")
def test_as_root_a_records_path_is_read_only_when_the_jobs_user_owns_it(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"  # a hostile record naming a file someone else owns
    shadow.write_text("secret")
    os.chown(shadow, 4242, 4242)
    reader = SharedFilesystemReader()
    assert "4242" in _error(reader, OutputPath(str(shadow), 4243)).reason
    assert "unknown" in _error(reader, OutputPath(str(shadow), None)).reason
    assert reader.read(OutputPath(str(shadow), 4242)) == "secret"
    assert reader.read(str(shadow)) == "secret"  # a path the caller chose is the caller's


def _transport(out_dir: Path) -> httpx.MockTransport:
    record = {
        "job_id": 42,
        "name": "train",
        "job_state": ["COMPLETED"],
        "current_working_directory": str(out_dir),
        "standard_output": "%x-%j.out",
        "user_name": pwd.getpwuid(os.geteuid()).pw_name,  # the job's user owns its output
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi/v3":
            return httpx.Response(200, json={"paths": {"/slurm/v0.0.42/ping": {}}})
        if request.url.path == "/slurm/v0.0.42/job/42":
            return httpx.Response(200, json={"jobs": [record]})
        return httpx.Response(404, json={"errors": [{"error_number": 2017}]})

    return httpx.MockTransport(handler)


class Failing:
    def read(self, path: str) -> str:
        raise PermissionError(13, "Permission denied", path)


def test_client_output(tmp_path: Path) -> None:
    clear_cache()
    (tmp_path / "train-42.out").write_text("hello\n")
    with SlurmClient(BASE, transport=_transport(tmp_path)) as client:
        assert client.jobs.output(42) == "hello\n"
        with pytest.raises(JobOutputError) as info:
            client.jobs.output(42, reader=Failing())
        assert (info.value.job_id, info.value.stream) == ("42", "stdout")
        assert info.value.path == str(tmp_path / "train-42.out")
        assert "Permission denied" in str(info.value)
        with pytest.raises(JobOutputError) as missing:
            client.jobs.output(42, stream="stderr", reader=SharedFilesystemReader({"/": "/nope"}))
        assert missing.value.job_id == "42"  # the reader's error gets the job's context
        client.jobs.output_reader = SharedFilesystemReader({str(tmp_path): str(tmp_path)})
        assert client.jobs.output(42) == "hello\n"


@pytest.mark.anyio
async def test_async_client_output(tmp_path: Path) -> None:
    clear_cache()
    (tmp_path / "train-42.out").write_text("async hello\n")
    async with AsyncSlurmClient(BASE, transport=_transport(tmp_path)) as client:
        assert await client.jobs.output(42) == "async hello\n"
        with pytest.raises(JobOutputError):
            await client.jobs.output(42, reader=Failing())


# ------------------------------------------------------------------ hostile paths -----------
def _refused(reader: SharedFilesystemReader, path: str, *, within: float = 5.0) -> str:
    """The reason ``reader`` refuses ``path``; a FIFO must not hang the reader meanwhile."""
    box: list[BaseException | str] = []

    def run() -> None:
        try:
            box.append(reader.read(path))
        except BaseException as exc:  # handed to the test thread
            box.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(within)
    assert box, f"reading {path} hung"
    assert isinstance(box[0], JobOutputError), box[0]
    assert box[0].path == path
    return box[0].reason


def test_a_symlink_fifo_device_or_pseudo_file_is_refused(tmp_path: Path) -> None:
    private = tmp_path / "id_rsa"
    private.write_text("PRIVATE KEY")
    (tmp_path / "slurm-42.out").symlink_to(private)
    os.mkfifo(tmp_path / "fifo.out")
    reader = SharedFilesystemReader()
    assert "symbolic link" in _refused(reader, str(tmp_path / "slurm-42.out"))
    assert "FIFO" in _refused(reader, str(tmp_path / "fifo.out"))
    assert "character device" in _refused(reader, "/dev/zero")
    assert "system file" in _refused(reader, "/proc/self/environ")  # holds SLURM_JWT
    assert "'..'" in _refused(reader, str(tmp_path / "run" / ".." / "id_rsa"))


def test_roots_confine_the_reader(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "ok.out").write_text("ok")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".bashrc").write_text("secret")
    (tmp_path / "jobs" / "link").symlink_to(tmp_path / "home")  # a directory symlink
    reader = SharedFilesystemReader(roots=[tmp_path / "jobs"])
    assert reader.read(str(tmp_path / "jobs" / "ok.out")) == "ok"
    assert "outside the reader's roots" in _refused(reader, str(tmp_path / "home" / ".bashrc"))
    assert "outside the reader's roots" in _refused(reader, str(tmp_path / "jobs/link/.bashrc"))


def test_an_oversize_file_gives_its_tail(tmp_path: Path) -> None:
    big = tmp_path / "big.out"
    big.write_bytes(b"x" * 5000 + b"\nTraceback: the error at the end\n")
    text = SharedFilesystemReader(max_bytes=100).read(str(big))
    assert text.startswith("[slurm-client: the last 100 of 5033 bytes]\n")
    assert text.endswith("Traceback: the error at the end\n")
    assert len(text.split("\n", 1)[1]) == 100
    with pytest.raises(ValueError, match="max_bytes"):
        SharedFilesystemReader(max_bytes=0)


def test_a_server_cannot_point_the_client_at_a_root_file(tmp_path: Path) -> None:
    # The record says the job is uid 1000's, and names /etc/passwd (root's) as its output.
    record = {"job_id": 42, "name": "x", "job_state": ["COMPLETED"], "user_id": 1000,
              "user_name": "alice", "current_working_directory": str(tmp_path),
              "stdout_expanded": "/etc/passwd"}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi/v3":
            return httpx.Response(200, json={"paths": {"/slurm/v0.0.42/ping": {}}})
        return httpx.Response(200, json={"jobs": [record]})

    clear_cache()
    client = SlurmClient(BASE, transport=httpx.MockTransport(handler))
    with client, pytest.raises(JobOutputError, match="owned by uid 0") as info:
        client.jobs.output(42)
    assert info.value.path == "/etc/passwd"
    assert "root:" not in str(info.value)
