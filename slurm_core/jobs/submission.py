"""Submission keys: how a job is found again after a submission whose outcome is unknown.

Every submission carries a *submission key* (``sck-`` + 32 hex digits, or one the caller
chose). The client writes it into the job's ``comment`` as a marker appended to the user's
own comment (``"nightly run [slurm-client:sck-3f2a...]"``). ``comment`` is the one field
that every slurmrestd version (v0.0.38-v0.0.45) takes on submission and reports back in
``GET /jobs``, for every component of a heterogeneous job and every task of an array;
the accounting database keeps it too when the site sets
``AccountingStoreFlags=job_comment``.

When a submission's outcome is unknown (the connection dropped after the request was
sent, a read timeout, a 5xx, an unreadable answer), the client lists the jobs, looks for
the key, and only submits again if no job carries it: a retry never creates a second job.

Example::

    >>> comment_with_key("nightly run", "sck-1")
    'nightly run [slurm-client:sck-1]'
    >>> split_comment("nightly run [slurm-client:sck-1]")
    ('nightly run', 'sck-1')
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Final

from slurm_core._exceptions import SlurmError
from slurm_core.models import Job

__all__ = [
    "SubmissionUnknownError",
    "comment_with_key",
    "job_id_for_key",
    "new_submission_key",
    "split_comment",
]

KEY_PREFIX: Final = "sck-"
_MARKER_RE = re.compile(r"(?:^| )\[slurm-client:([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\]\Z")


def new_submission_key() -> str:
    """A fresh random submission key (``sck-`` + 32 hex digits)."""
    return KEY_PREFIX + uuid.uuid4().hex


def comment_with_key(comment: str | None, key: str) -> str:
    """The job comment to send: the user's ``comment`` with the key marker appended."""
    marker = f"[slurm-client:{key}]"
    user, _ = split_comment(comment)
    return f"{user} {marker}" if user else marker


def split_comment(comment: str | None) -> tuple[str | None, str | None]:
    """``(user comment, submission key)`` out of a job's comment (either may be None)."""
    if not comment:
        return None, None
    match = _MARKER_RE.search(comment)
    if match is None:
        return comment, None
    user = comment[: match.start()]  # the one space before the marker is ours
    return user or None, match[1]


def job_id_for_key(jobs: Iterable[Job], key: str) -> int | None:
    """The id a submission with ``key`` got, if one of ``jobs`` carries the key.

    An array reports one record per task and a heterogeneous job one per component: the
    id returned is the one the submission answered with (array or het leader id).
    """
    ids = set()
    for job in jobs:
        if split_comment(job.comment)[1] == key:
            ids.add(job.het_job_id or job.array_job_id or job.job_id)
    return min(ids) if ids else None


class SubmissionUnknownError(SlurmError):
    """A submission's outcome could not be established: the job may or may not exist.

    Raised only when the request may have reached slurmrestd *and* looking the job up by
    its submission key failed too (e.g. slurmctld is down). ``submission_key`` finds the
    job later (``client.jobs.find_submission(key)``); ``cause`` is the submission's error,
    ``lookup_error`` the lookup's.

    Example::

        try:
            job = builder.execute()
        except SubmissionUnknownError as exc:
            job_id = client.jobs.find_submission(exc.submission_key)   # later
    """

    def __init__(
        self, submission_key: str, cause: SlurmError, lookup_error: SlurmError | None = None
    ) -> None:
        self.submission_key = submission_key
        self.cause = cause
        self.lookup_error = lookup_error
        why = f"; the lookup failed too: {lookup_error}" if lookup_error else ""
        super().__init__(
            f"job submission outcome unknown ({cause}){why}; "
            f"find the job later by its submission key {submission_key!r}"
        )
