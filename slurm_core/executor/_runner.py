"""The job side of :mod:`slurm_core.executor`: run one pickled call, write a signed result.

Standalone on purpose: it needs only the standard library and ``cloudpickle`` on the
cluster, and the executor copies this file into its workspace directory, so the cluster
needs no slurm-client install. Run as ``python runner.py DIR BATCH [INDEX]`` (``INDEX``
defaults to ``$SLURM_ARRAY_TASK_ID``).

Files in ``DIR`` (written by the submitting process, 0600, in a 0700 directory)::

    BATCH.key          the batch key (hex), readable only by the job's user
    BATCH.INDEX.in     the call: a signed frame whose body is cloudpickle((fn, args, kwargs))
    BATCH.INDEX.out    written here: a signed frame, body pickled (status "ok"/"error") or
                       JSON (status "mismatch"/"missing": nothing was unpickled)

A frame is ``MAGIC | HMAC-SHA256 (32 bytes) | header length (4 bytes) | header JSON |
body``; the MAC covers the direction (``in``/``out``), the header and the body, under a
key derived from the batch key and the index, so a frame cannot be moved to another task
or direction. The payload is checked before it is unpickled; the header carries Python's
major.minor and cloudpickle's version, and a mismatch is reported (naming both sides)
without unpickling anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import struct
import sys
import traceback
from typing import Any

MAGIC = b"SLURM-CLIENT-FN1\n"
MAC_SIZE = 32
MAX_PAYLOAD = 1 << 30
CHECKPOINT_SIGNAL = signal.SIGUSR2
EXIT_OK, EXIT_ERROR, EXIT_SETUP = 0, 1, 3


class FrameError(ValueError):
    """A frame that is not well formed or whose MAC does not verify."""


def item_key(batch_key: bytes, index: str) -> bytes:
    """The key of one task of a batch (a task's frames verify under its key only)."""
    return hmac.new(batch_key, b"item:" + index.encode(), hashlib.sha256).digest()


def _mac(key: bytes, direction: bytes, header: bytes, body: bytes) -> bytes:
    m = hmac.new(key, direction + b"\0", hashlib.sha256)
    m.update(struct.pack(">I", len(header)))
    m.update(header)
    m.update(body)
    return m.digest()


def pack(key: bytes, direction: bytes, header: dict[str, Any], body: bytes) -> bytes:
    """A signed frame."""
    head = json.dumps(header, sort_keys=True).encode()
    mac = _mac(key, direction, head, body)
    return MAGIC + mac + struct.pack(">I", len(head)) + head + body


def unpack(key: bytes, direction: bytes, data: bytes) -> tuple[dict[str, Any], bytes]:
    """The header and body of a frame, after checking its MAC (nothing is unpickled)."""
    fixed = len(MAGIC) + MAC_SIZE + 4
    if len(data) < fixed or not data.startswith(MAGIC):
        raise FrameError("not a slurm-client function frame")
    mac = data[len(MAGIC) : len(MAGIC) + MAC_SIZE]
    (size,) = struct.unpack(">I", data[fixed - 4 : fixed])
    if size > len(data) - fixed:
        raise FrameError("truncated frame")
    head, body = data[fixed : fixed + size], data[fixed + size :]
    if not hmac.compare_digest(mac, _mac(key, direction, head, body)):
        raise FrameError("the frame's HMAC does not verify")
    try:
        header = json.loads(head)
    except ValueError:
        raise FrameError("the frame's header is not JSON") from None
    if not isinstance(header, dict):
        raise FrameError("the frame's header is not an object")
    return header, body


def python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _read(path: str, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise FrameError(f"{path} is larger than {limit} bytes")
    return data


class CheckpointRequested(BaseException):
    """Raised inside the function when Slurm asks the job to checkpoint and stop."""


def _on_checkpoint(signum: int, frame: object) -> None:
    raise CheckpointRequested


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: runner.py DIR BATCH [INDEX]", file=sys.stderr)
        return EXIT_SETUP
    directory, batch = args[0], args[1]
    index = args[2] if len(args) == 3 else os.environ.get("SLURM_ARRAY_TASK_ID", "0")
    base = os.path.join(directory, f"{batch}.{index}")
    os.umask(0o077)
    with contextlib.suppress(OSError):  # slurmd created the output with the site's umask
        os.chmod(base + ".log", 0o600)
    try:
        batch_key = bytes.fromhex(_read(os.path.join(directory, f"{batch}.key"), 1024).decode())
        key = item_key(batch_key, index)
        header, body = unpack(key, b"in", _read(base + ".in", MAX_PAYLOAD))
    except (OSError, ValueError) as exc:
        print(f"slurm-client runner: cannot read the call {base}.in: {exc}", file=sys.stderr)
        return EXIT_SETUP
    mine: dict[str, Any] = {"python": python_version(), "cloudpickle": None, "task": header["task"]}
    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
    else:
        mine["cloudpickle"] = cloudpickle.__version__
    theirs = {"python": header.get("python"), "cloudpickle": header.get("cloudpickle")}
    if mine["python"] != theirs["python"] or (
        cloudpickle and mine["cloudpickle"] != theirs["cloudpickle"]
    ):
        mine["status"] = "mismatch"
        message: Any = {"client": theirs, "job": {k: mine[k] for k in ("python", "cloudpickle")}}
        print(
            f"slurm-client runner: version mismatch, nothing unpickled: {message}", file=sys.stderr
        )
        _write(base + ".out", pack(key, b"out", mine, json.dumps(message).encode()))
        return EXIT_SETUP
    if cloudpickle is None:
        mine["status"] = "missing"
        message = (
            f"cloudpickle is not installed for {sys.executable} (Python {python_version()}); "
            f"install cloudpickle=={theirs['cloudpickle']} there (pip install "
            f"'slurm-client[functions]' or pip install cloudpickle)"
        )
        print(f"slurm-client runner: {message}", file=sys.stderr)
        _write(base + ".out", pack(key, b"out", mine, json.dumps(message).encode()))
        return EXIT_SETUP
    if header.get("checkpoint"):
        signal.signal(CHECKPOINT_SIGNAL, _on_checkpoint)
    try:
        fn, fargs, fkwargs = cloudpickle.loads(body)
        value = fn(*fargs, **fkwargs)
        mine["status"], result, code = "ok", value, EXIT_OK
    except CheckpointRequested:
        print("slurm-client runner: checkpoint requested; stopping to be requeued", file=sys.stderr)
        return EXIT_ERROR
    except BaseException as exc:  # the function's own failure goes back to the caller
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        mine["status"], result, code = "error", (exc, tb), EXIT_ERROR
        traceback.print_exc()
    try:
        data = cloudpickle.dumps(result)
        if mine["status"] == "error":
            cloudpickle.loads(data)  # an exception that pickles but cannot be rebuilt
    except Exception as exc:  # an unpicklable result or exception
        what = "result" if mine["status"] == "ok" else "exception"
        fallback = RuntimeError(f"the function's {what} cannot be pickled: {exc!r}")
        tb = result[1] if mine["status"] == "error" else ""
        mine["status"], data, code = "error", cloudpickle.dumps((fallback, tb)), EXIT_ERROR
    _write(base + ".out", pack(key, b"out", mine, data))
    return code


if __name__ == "__main__":
    sys.exit(main())
