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

The path comes from the server, so the reader treats it as untrusted: it refuses ``..``,
symbolic links, FIFOs, devices, sockets, ``/proc``, ``/sys`` and ``/dev``, files outside
its ``roots`` (when given), and files owned by anyone but the job's user or the caller
(root-owned ones only for a root job; a caller running as root reads a job record's path
only when the file is the job's user's); it reads at most ``max_bytes`` (the end of the file).

Example::

    text = client.jobs.output(job_id)                       # stdout, shared filesystem
    reader = SharedFilesystemReader(path_map={"/home": "/mnt/cluster-home"})
    err = client.jobs.output(job_id, stream="stderr", reader=reader)
"""

from __future__ import annotations

import os
import posixpath
import pwd
import re
from collections.abc import Iterable, Mapping
from typing import Final, Literal, Protocol, runtime_checkable

from slurm_core._exceptions import SlurmError
from slurm_core._localfile import LocalFile, UnsafeFileError, read_regular
from slurm_core.models import Job

__all__ = [
    "JobOutputError",
    "OutputPath",
    "OutputReader",
    "SharedFilesystemReader",
    "Stream",
    "expand_pattern",
    "output_path",
]

Stream = Literal["stdout", "stderr"]
_NO_TASK: Final = 4294967294  # what slurmstepd prints for %a outside an array (NO_VAL)
_PATTERN_RE = re.compile(r"%(\d{0,9})([AajxuNJsnt%])")
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
# Pseudo-filesystems: /proc/self/environ is a "regular file" that holds this process's
# environment (SLURM_JWT included); no job writes its output there.
_NEVER_UNDER: Final = ("/proc", "/sys", "/dev")


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


class OutputPath(str):
    """A path from :func:`output_path`: a ``str`` that also carries the job's user.

    ``user_id`` is the job's numeric uid (from the record, or looked up here by name;
    ``None`` when unknown): a reader checks the file's owner against it.

    Example::

        path = output_path(job)            # OutputPath('/home/alice/slurm-42.out')
        path.user_id                       # 1000
    """

    user_id: int | None

    def __new__(cls, path: str, user_id: int | None = None) -> OutputPath:
        self = super().__new__(cls, path)
        self.user_id = user_id
        return self


def _job_uid(job: Job) -> int | None:
    if job.user_id is not None:
        return job.user_id
    if job.user_name:
        try:
            return pwd.getpwnam(job.user_name).pw_uid
        except KeyError:
            return None
    return None


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

    The path comes from the job record, i.e. from the server, so it is checked:

    * ``roots``: local directories the file must lie in (symlinked directories resolved);
      a service that reads other people's output should always set them. Never read:
      ``/proc``, ``/sys``, ``/dev``.
    * no ``..`` in the path, no symbolic link as the file, and only a regular file (a FIFO
      would hang the reader, ``/dev/zero`` would fill memory).
    * the owner: the job's user (its uid from the record, or its name looked up here) or
      the caller; a root-owned file only when the job is root's.
    * ``max_bytes``: a longer file gives its last ``max_bytes`` bytes (what ``tail``
      shows, where errors are), after a first line saying how much was left out.

    Each refusal is a :class:`JobOutputError` naming the path and the reason.

    Example::

        reader = SharedFilesystemReader(
            path_map={"/scratch": "/net/hpc/scratch"}, roots=["/net/hpc/scratch"]
        )
        print(client.jobs.output(42, reader=reader))
    """

    def __init__(
        self,
        path_map: Mapping[str, str] | None = None,
        *,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        encoding: str = "utf-8",
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        self.path_map = {posixpath.normpath(k): v for k, v in (path_map or {}).items()}
        self.roots = None if roots is None else tuple(os.path.realpath(os.fspath(r)) for r in roots)
        self.max_bytes = max_bytes
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
        found = self._checked(path, self.max_bytes, tail=True, offset=0)
        text = found.data.decode(self.encoding, errors="replace")
        size = found.stat.st_size
        if size > self.max_bytes:
            text = f"[slurm-client: the last {self.max_bytes} of {size} bytes]\n" + text
        return text

    def read_from(self, path: str, offset: int, max_bytes: int) -> tuple[bytes, int]:
        """At most ``max_bytes`` bytes from ``offset`` on, and the file's size now.

        For tailing a growing file (the same checks as :meth:`read`); a size below
        ``offset`` means the file was truncated or replaced.

        Example::

            chunk, size = reader.read_from("/home/alice/slurm-42.out", 0, 65536)
        """
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got {offset!r}")
        found = self._checked(path, min(max_bytes, self.max_bytes), tail=False, offset=offset)
        return found.data, found.stat.st_size

    def _checked(self, path: str, max_bytes: int, *, tail: bool, offset: int) -> LocalFile:
        if "\x00" in path or ".." in path.split("/"):
            raise JobOutputError("refused: the path has a '..' part or a NUL", path=path)
        local = self.local_path(path)
        try:
            found = read_regular(local, max_bytes=max_bytes, tail=tail, offset=offset)
        except FileNotFoundError:
            hint = (
                "no such file here: the job has not written it yet, or its directory is not "
                "shared with this machine"
            )
            if not self.path_map:
                hint += " (if it is mounted elsewhere, pass path_map={cluster_prefix: local})"
            raise JobOutputError(hint, path=path, local_path=local) from None
        except UnsafeFileError as exc:
            raise JobOutputError(f"refused: {exc.reason}", path=path, local_path=local) from None
        except OSError as exc:
            raise JobOutputError(exc.strerror or str(exc), path=path, local_path=local) from None
        refusal = self._refusal(
            found.real_path,
            found.stat.st_uid,
            getattr(path, "user_id", None),
            from_record=isinstance(path, OutputPath),
        )
        if refusal:
            raise JobOutputError(f"refused: {refusal}", path=path, local_path=local)
        return found

    def _refusal(
        self, real: str, owner: int, job_uid: int | None, *, from_record: bool = False
    ) -> str | None:
        """Why the opened file must not be returned, or ``None``.

        A path from a job record (an :class:`OutputPath`) is the server's word: read as
        root it must belong to the job's user, since root could open anyone's file.
        """
        if any(_under(real, top) for top in _NEVER_UNDER):
            return f"it is {real}, a system file, not job output"
        if self.roots is not None and not any(_under(real, root) for root in self.roots):
            return f"it is {real}, outside the reader's roots {list(self.roots)}"
        euid = os.geteuid()
        if from_record and euid == 0:
            if job_uid is None:
                return f"it is {real}, and the job's user is unknown here: as root, not read"
            ok = owner == job_uid
        elif owner == 0:
            ok = job_uid == 0 or (job_uid is None and euid == 0)
        else:
            ok = owner in (euid, job_uid) or euid == 0
        if not ok:
            who = "unknown here" if job_uid is None else f"uid {job_uid}"
            return f"owned by uid {owner}, neither the job's user ({who}) nor you (uid {euid})"
        return None


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


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


def output_path(job: Job, stream: Stream = "stdout") -> OutputPath:
    """The absolute path, as the cluster sees it, of ``job``'s ``stream``.

    An :class:`OutputPath`: a ``str`` carrying the job's uid for the reader's owner check.

    slurmrestd v0.0.43+ reports the expanded paths itself (``stdout_expanded``); they are
    used when present. Otherwise the pattern is expanded from the record.

    Example::

        path = output_path(client.jobs.get(42), "stderr")
    """
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
    expanded = job.raw.get(f"{stream}_expanded")
    if isinstance(expanded, str) and posixpath.isabs(expanded) and str(_NO_TASK) not in expanded:
        return OutputPath(expanded, _job_uid(job))
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
    return OutputPath(path, _job_uid(job))
