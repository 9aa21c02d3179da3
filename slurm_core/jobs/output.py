"""A job's standard output and error: where Slurm writes them, and how to read them.

:func:`output_path` works out the file a job writes (as the cluster sees it) from the job
record: the ``--output``/``--error`` pattern, or Slurm's default ``slurm-%j.out``
(``slurm-%A_%a.out`` for array tasks; standard error goes to the standard output file
unless set), relative to the job's working directory. Patterns are expanded as slurmstepd
does for the batch step: ``%j`` job id, ``%A`` array job id, ``%a`` array task id, ``%x``
job name, ``%u`` user name, ``%N`` the batch node, ``%J`` ``<job id>.batch``, ``%s``
``batch``, ``%n``/``%t`` ``0``, ``%%`` a percent sign; a number after ``%`` zero-pads
(``%4j``); a path containing a backslash is taken literally (backslashes removed).

An :class:`OutputReader` then reads that path from where the client runs.
:class:`SharedFilesystemReader` reads it from a filesystem shared with the cluster,
optionally under another mount point (``path_map``). Anything else (SSH, an object store)
plugs in as another reader.

Example::

    text = client.jobs.output(job_id)                       # stdout, shared filesystem
    reader = SharedFilesystemReader(path_map={"/home": "/mnt/cluster-home"})
    err = client.jobs.output(job_id, stream="stderr", reader=reader)
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from typing import Final, Literal, Protocol, runtime_checkable

from slurm_core._exceptions import SlurmError
from slurm_core.models import Job

__all__ = [
    "JobOutputError",
    "OutputReader",
    "SharedFilesystemReader",
    "Stream",
    "expand_pattern",
    "output_path",
]

Stream = Literal["stdout", "stderr"]
_NO_TASK: Final = 4294967294  # what slurmstepd prints for %a outside an array (NO_VAL)
_PATTERN_RE = re.compile(r"%(\d{0,9})([AajxuNJsnt%])")


class JobOutputError(SlurmError):
    """A job's output cannot be read from where the client runs.

    ``path`` is the file as the cluster sees it (``None`` if it could not be worked out),
    ``local_path`` where the reader looked, ``reason`` why it failed.

    Example::

        try:
            client.jobs.output(42)
        except JobOutputError as exc:
            print(exc.path, exc.reason)
    """

    def __init__(
        self,
        reason: str,
        *,
        job_id: int | str | None = None,
        stream: str | None = None,
        path: str | None = None,
        local_path: str | None = None,
    ) -> None:
        self.reason = reason
        self.job_id = job_id
        self.stream = stream
        self.path = path
        self.local_path = local_path
        what = f"{stream or 'output'} of job {job_id}" if job_id is not None else "job output"
        where = f" ({path}" + (f", read as {local_path}" if local_path != path else "") + ")"
        super().__init__(f"cannot read the {what}{where if path else ''}: {reason}")


@runtime_checkable
class OutputReader(Protocol):
    """Reads a file a job wrote, given its absolute path on the cluster.

    Raise :class:`JobOutputError` (or any :class:`OSError`) when it cannot be read.

    Example::

        class SshReader:
            def read(self, path: str) -> str:
                return subprocess.run(["ssh", "login1", "cat", path], check=True,
                                      capture_output=True, text=True).stdout

        client.jobs.output_reader = SshReader()
    """

    def read(self, path: str) -> str: ...


class SharedFilesystemReader:
    """Reads job output from a filesystem the client shares with the cluster.

    ``path_map`` maps cluster path prefixes to where they are mounted here
    (``{"/home": "/mnt/cluster/home"}``; the longest matching prefix wins, whole path
    components only); unmapped paths are read as they are. Bytes that are not valid in
    ``encoding`` are replaced, so a binary file never fails to decode.

    Example::

        reader = SharedFilesystemReader(path_map={"/scratch": "/net/hpc/scratch"})
        print(client.jobs.output(42, reader=reader))
    """

    def __init__(
        self, path_map: Mapping[str, str] | None = None, *, encoding: str = "utf-8"
    ) -> None:
        self.path_map = {posixpath.normpath(k): v for k, v in (path_map or {}).items()}
        self.encoding = encoding

    def local_path(self, path: str) -> str:
        """Where the cluster's ``path`` is on this machine."""
        norm = posixpath.normpath(path)
        for prefix in sorted(self.path_map, key=len, reverse=True):
            if norm == prefix or norm.startswith(prefix.rstrip("/") + "/"):
                rest = norm[len(prefix) :].lstrip("/")
                return os.path.join(self.path_map[prefix], rest) if rest else self.path_map[prefix]
        return path

    def read(self, path: str) -> str:
        """The file's text; :class:`JobOutputError` saying why when it cannot be read."""
        local = self.local_path(path)
        try:
            with open(local, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            hint = (
                "no such file here: the job has not written it yet, or its directory is not "
                "shared with this machine"
            )
            if not self.path_map:
                hint += " (if it is mounted elsewhere, pass path_map={cluster_prefix: local})"
            raise JobOutputError(hint, path=path, local_path=local) from None
        except IsADirectoryError:
            raise JobOutputError("it is a directory", path=path, local_path=local) from None
        except OSError as exc:
            raise JobOutputError(exc.strerror or str(exc), path=path, local_path=local) from None
        return data.decode(self.encoding, errors="replace")


def expand_pattern(pattern: str, job: Job) -> str:
    """Expand Slurm's filename pattern for ``job``'s batch step (see the module docstring).

    Raises :class:`JobOutputError` when the record lacks what a pattern needs (``%N``
    before the job has a node, ``%u`` without a user name).

    Example::

        >>> job = Job(job_id=7, name="train", state=JobState.parse("COMPLETED"))
        >>> expand_pattern("%x-%4j.out", job)
        'train-0007.out'
    """
    if "\\" in pattern:
        return pattern.replace("\\", "")
    in_array = job.array_job_id is not None and job.array_task_id is not None

    def value(key: str) -> str | int:
        if key == "%":
            return "%"
        numbers = {
            "j": job.job_id,
            "A": job.array_job_id if in_array and job.array_job_id else job.job_id,
            "a": job.array_task_id if in_array and job.array_task_id is not None else _NO_TASK,
            "n": 0,
            "t": 0,
        }
        if key in numbers:
            return numbers[key]
        if key == "x":
            return job.name
        if key in ("J", "s"):
            return f"{job.job_id}.batch" if key == "J" else "batch"
        found = job.user_name if key == "u" else job.batch_host
        if not found:
            need = "a user name" if key == "u" else "a batch node (has it started?)"
            raise JobOutputError(f"'%{key}' needs {need}", job_id=job.job_id, path=pattern)
        return found

    def sub(match: re.Match[str]) -> str:
        width, key = match.groups()
        got = value(key)
        return f"{got:0{int(width)}d}" if width and isinstance(got, int) else str(got)

    return _PATTERN_RE.sub(sub, pattern)


def output_path(job: Job, stream: Stream = "stdout") -> str:
    """The absolute path, as the cluster sees it, of ``job``'s ``stream``.

    slurmrestd v0.0.43+ reports the expanded paths itself (``stdout_expanded``); they are
    used when present. Otherwise the pattern is expanded from the record.

    Example::

        path = output_path(client.jobs.get(42), "stderr")
    """
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
    expanded = job.raw.get(f"{stream}_expanded")
    if isinstance(expanded, str) and posixpath.isabs(expanded) and str(_NO_TASK) not in expanded:
        return expanded
    pattern = job.standard_output if stream == "stdout" else job.standard_error
    if stream == "stderr" and not pattern:
        pattern = job.standard_output  # stderr goes where stdout goes unless set
    if not pattern:
        in_array = job.array_job_id is not None and job.array_task_id is not None
        pattern = "slurm-%A_%a.out" if in_array else "slurm-%j.out"
    path = expand_pattern(pattern, job)
    if not posixpath.isabs(path):
        if not job.working_directory:
            raise JobOutputError(
                f"relative path {path!r} and no working directory in the job record",
                job_id=job.job_id,
                stream=stream,
                path=path,
            )
        path = posixpath.join(job.working_directory, path)
    return path
