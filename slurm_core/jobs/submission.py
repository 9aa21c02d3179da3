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
the key, and only submits again if no job *of the submitting user* carries it: a retry
never creates a second job.

**Whose job.** Comments are free text that any user can set, and listings show every
user's jobs, so a key alone proves nothing: another user can submit a decoy carrying
someone else's key. A job is adopted only when its record's ``user_name`` is the user the
lookup's own request ran as (the ``X-SLURM-USER-NAME`` the client sent, which slurmrestd
checks against the token: it refuses a name the token may not act as). Jobs of other users
are ignored (logged); when the submitting user or a matching job's owner is unknown,
:class:`SubmissionOwnerError` says so instead of guessing. Generated keys are 128 random
bits from :mod:`secrets`; a caller-chosen key (``"airflow-run-42"``) is predictable, and
the owner check is what protects it.

Example::

    >>> comment_with_key("nightly run", "sck-1")
    'nightly run [slurm-client:sck-1]'
    >>> split_comment("nightly run [slurm-client:sck-1]")
    ('nightly run', 'sck-1')
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Final

from slurm_core._exceptions import SlurmError
from slurm_core.models import Job

__all__ = [
    "SubmissionOwnerError",
    "SubmissionUnknownError",
    "comment_with_key",
    "job_id_for_key",
    "new_submission_key",
    "split_comment",
]

logger = logging.getLogger("slurm_core.jobs")

KEY_PREFIX: Final = "sck-"
_MARKER_RE = re.compile(r"(?:^| )\[slurm-client:([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\]\Z")


def new_submission_key() -> str:
    """A fresh random submission key: ``sck-`` + 32 hex digits (128 bits from :mod:`secrets`).

    Example::

        >>> len(new_submission_key())
        36
    """
    return KEY_PREFIX + secrets.token_hex(16)


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


def job_id_for_key(jobs: Iterable[Job], key: str, *, owner: str | None) -> int | None:
    """The id a submission with ``key`` by user ``owner`` got, if one of ``jobs`` is it
    (the newest, when several of ``owner``'s jobs carry the key).

    Only jobs whose ``user_name`` is ``owner`` count; other users' jobs carrying the key
    are ignored. An array reports one record per task and a heterogeneous job one per
    component: the id returned is the one the submission answered with (array or het
    leader id). Raises :class:`SubmissionOwnerError` when a job carries the key but whose
    it is cannot be told (``owner`` unknown, or a record without ``user_name``) and no job
    is known to be ``owner``'s.

    Example::

        job_id = job_id_for_key(client.jobs.list(), "sck-3f2a...", owner="alice")
    """
    mine: set[int] = set()
    unknown: set[int] = set()
    foreign: dict[int, str] = {}
    for job in jobs:
        if split_comment(job.comment)[1] != key:
            continue
        job_id = job.het_job_id or job.array_job_id or job.job_id
        if owner is not None and job.user_name == owner:
            mine.add(job_id)
        elif owner is None or job.user_name is None:
            unknown.add(job_id)
        else:
            foreign[job_id] = job.user_name
    if foreign:
        logger.warning(
            "ignoring jobs of other users that carry submission key %r: %s",
            key,
            ", ".join(f"{i} ({u})" for i, u in sorted(foreign.items())),
        )
    if mine:
        return max(mine)  # the newest: a retry after a failure resubmits under the same key
    if unknown:
        raise SubmissionOwnerError(key, sorted(unknown), owner)
    return None


class SubmissionOwnerError(SlurmError):
    """Jobs carry a submission key, but whether the submitting user owns them is unknown.

    ``owner`` is the user the lookup ran as (``None``: the request named no user, e.g. a
    custom ``httpx.Auth`` or a token without ``sun``); ``job_ids`` the jobs whose owner
    could not be compared. Adopting a job on the key alone could return another user's
    decoy, so the lookup refuses to decide.

    Example::

        try:
            client.jobs.find_submission("run-42")
        except SubmissionOwnerError as exc:
            print(exc.job_ids, exc.owner)   # pass auth=StaticToken(jwt, user_name="alice")
    """

    def __init__(self, submission_key: str, job_ids: Sequence[int], owner: str | None) -> None:
        self.submission_key = submission_key
        self.job_ids = list(job_ids)
        self.owner = owner
        ids = ", ".join(map(str, self.job_ids))
        why = (
            "the request named no user (X-SLURM-USER-NAME): give the token provider a user_name"
            if owner is None
            else f"their records name no owner to compare with {owner!r}"
        )
        super().__init__(
            f"job(s) {ids} carry submission key {submission_key!r} but may not be yours: {why}"
        )


class SubmissionUnknownError(SlurmError):
    """A submission's outcome could not be established: the job may or may not exist.

    Raised only when the request may have reached slurmrestd *and* looking the job up by
    its submission key failed too (e.g. slurmctld is down), or found jobs with the key
    whose owner it could not establish (``lookup_error`` is then a
    :class:`SubmissionOwnerError`), or the call's deadline came while the request could
    still arrive late (``lookup_error`` is then a ``SlurmTimeoutError`` with phase
    ``"deadline"``; nothing was sent again). ``submission_key`` finds the
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
