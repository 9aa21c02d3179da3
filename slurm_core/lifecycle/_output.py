"""Tailing a running job's stdout and stderr, bounded, through the pluggable output reader.

The supervisor calls :meth:`OutputTail.poll` after every poll of the watch loop (and once
after the job ended); each call reads what the job appended since the last one and returns
the complete lines. A reader with ``read_from(path, offset, max_bytes)`` (such as
:class:`~slurm_core.jobs.SharedFilesystemReader`) is read incrementally; any other
:class:`~slurm_core.jobs.OutputReader` is read whole and compared with what was seen.

Bounds: at most :data:`CHUNK_BYTES` per stream per poll (the rest comes with the next),
and a line longer than :data:`MAX_LINE_CHARS` is delivered in pieces. A file that cannot
be read yet (not created, not shared here) is tried again; a refusal (owner, roots,
symlink) stops tailing that stream, once, with a warning.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
from typing import Final, Protocol, runtime_checkable

from ..jobs.output import JobOutputError, OutputReader, Stream, output_path
from ..models import Job

__all__ = ["CHUNK_BYTES", "MAX_LINE_CHARS", "OutputLine", "OutputTail"]

logger = logging.getLogger("slurm_core.lifecycle")

CHUNK_BYTES: Final = 1 << 20
"""Most bytes read from one stream in one poll."""
MAX_LINE_CHARS: Final = 64 * 1024
"""A longer line is delivered in pieces of this size (a job printing no newline)."""
_FINAL_CHUNKS: Final = 16
"""Extra chunks read after the job ended (what it wrote since the last poll)."""


@dataclasses.dataclass(frozen=True, slots=True)
class OutputLine:
    """One line a job wrote (without its newline), and the stream it came from.

    ``stream`` is ``"stderr"`` only when the job writes standard error to a file of its
    own (``.error(path)``); otherwise both streams arrive as ``"stdout"``.

    Example::

        def show(line: OutputLine) -> None:
            print(f"[{line.stream}] {line.text}")
    """

    job_id: int
    stream: Stream
    text: str


@runtime_checkable
class _Incremental(Protocol):
    def read_from(self, path: str, offset: int, max_bytes: int) -> tuple[bytes, int]: ...


class _StreamTail:
    def __init__(self, job_id: int, stream: Stream, path: str) -> None:
        self.job_id, self.stream, self.path = job_id, stream, path
        self.offset = 0  # bytes (incremental readers) or characters (whole-file readers)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""
        self.stopped = False

    def read(self, reader: OutputReader) -> str:
        if isinstance(reader, _Incremental):
            data, size = reader.read_from(self.path, self.offset, CHUNK_BYTES)
            if size < self.offset:  # truncated or replaced: start over
                self.offset, self.decoder = 0, self.decoder.__class__(errors="replace")
                data, size = reader.read_from(self.path, 0, CHUNK_BYTES)
            self.offset += len(data)
            return self.decoder.decode(data)
        text = reader.read(self.path)
        if len(text) < self.offset:
            self.offset = 0
        new, self.offset = text[self.offset :], len(text)
        return new

    def lines(self, text: str, final: bool) -> list[OutputLine]:
        buf = self.partial + text
        if final:
            buf += self.decoder.decode(b"", final=True) if not self.stopped else ""
        parts = buf.split("\n")
        self.partial = "" if final else parts.pop()
        if final and parts and parts[-1] == "":
            parts.pop()
        out: list[OutputLine] = []
        for part in parts:
            for i in range(0, max(len(part), 1), MAX_LINE_CHARS):
                out.append(OutputLine(self.job_id, self.stream, part[i : i + MAX_LINE_CHARS]))
        while len(self.partial) > MAX_LINE_CHARS:
            piece, self.partial = self.partial[:MAX_LINE_CHARS], self.partial[MAX_LINE_CHARS:]
            out.append(OutputLine(self.job_id, self.stream, piece))
        return out


class OutputTail:
    """The stdout and stderr tails of one job (see the module docstring).

    Example::

        tail = OutputTail(reader)
        for line in tail.poll(job):          # job: the latest snapshot
            print(line.stream, line.text)
    """

    def __init__(self, reader: OutputReader) -> None:
        self.reader = reader
        self._tails: list[_StreamTail] | None = None

    def _open(self, job: Job) -> list[_StreamTail] | None:
        if self._tails is not None:
            return self._tails
        try:
            out = output_path(job, "stdout")
            err = output_path(job, "stderr")
        except JobOutputError as exc:
            logger.debug("job %s: no output path yet: %s", job.job_id, exc)
            return None
        tails = [_StreamTail(job.job_id, "stdout", out)]
        if str(err) != str(out):
            tails.append(_StreamTail(job.job_id, "stderr", err))
        self._tails = tails
        return tails

    def poll(self, job: Job, *, final: bool = False) -> list[OutputLine]:
        """The lines written since the last call; ``final`` also flushes unfinished lines."""
        tails = self._open(job)
        if tails is None:
            return []
        lines: list[OutputLine] = []
        for tail in tails:
            if tail.stopped:
                continue
            text = ""
            try:
                text = tail.read(self.reader)
                for _ in range(_FINAL_CHUNKS if final else 0):  # the job ended: drain, bounded
                    more = tail.read(self.reader)
                    if not more:
                        break
                    text += more
            except (JobOutputError, OSError) as exc:
                reason = getattr(exc, "reason", str(exc))
                if "no such file" not in reason:
                    logger.warning("job %s: not tailing its %s: %s", job.job_id, tail.stream, exc)
                    tail.stopped = True
            lines.extend(tail.lines(text, final))
        return lines
