"""``SlurmExecutor``: a ``concurrent.futures.Executor`` whose workers are SLURM jobs."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._exceptions import SlurmError
from ..jobs import JobSpec
from ..watch import JobEvent, JobWatch
from ._core import (
    DEFAULT_MAX_ARRAY_SIZE,
    DEFAULT_MAX_RESULT_BYTES,
    ExecutorBase,
    Plan,
    Task,
    as_delta,
)

if TYPE_CHECKING:
    from .._client import SlurmClient

__all__ = ["SlurmExecutor", "SlurmFuture"]

logger = logging.getLogger("slurm_core.executor")

_MAX_WATCH_FAILURES = 5


class SlurmFuture(cf.Future):  # type: ignore[type-arg]
    """A :class:`concurrent.futures.Future` for one function job; ``job_id`` is its job
    (``"40_3"`` for a ``map`` task). :meth:`cancel` cancels the SLURM job.

    Example::

        fut = ex.submit(train, cfg)
        print(fut.job_id)
        fut.cancel()          # scancel
    """

    def __init__(self, executor: SlurmExecutor, task: Task) -> None:
        super().__init__()
        self._executor = executor
        self._task = task

    @property
    def job_id(self) -> str:
        """The SLURM job id (``"42"``, or ``"40_3"`` for an array task)."""
        return self._task.key

    def cancel(self) -> bool:
        """Cancel the SLURM job; ``False`` if the future already finished."""
        if self.done():
            return self.cancelled()
        self._executor._cancel_job(self._task)
        if not super().cancel():
            return False
        # CANCELLED -> CANCELLED_AND_NOTIFIED, so concurrent.futures.wait sees it done
        self.set_running_or_notify_cancel()
        return True

    def __repr__(self) -> str:
        return f"<SlurmFuture job {self.job_id} {'done' if self.done() else 'pending'}>"


class _Follower:
    """One thread per executor that follows every pending job through ONE watch of the
    client's shared loop (one ``jobs/state`` poll for all of them) and settles the
    futures. New jobs are added to that open watch, so the jobs already followed are never
    dropped and looked up again, and a poll is never cut short by a slice of time."""

    def __init__(self, executor: SlurmExecutor) -> None:
        self._ex = executor
        self._cond = threading.Condition()
        self.pending: dict[str, SlurmFuture] = {}
        self._watch: JobWatch | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def add(self, futures: Iterable[SlurmFuture]) -> None:
        with self._cond:
            keys = [f.job_id for f in futures]
            self.pending.update((f.job_id, f) for f in futures)
            # The watch may be ending right now: the follower then watches what is pending.
            if self._watch is not None:
                self._watch.add(keys)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="slurm-executor-follower", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _next_watch(self) -> JobWatch | None:
        """A watch of every pending job (made under the lock ``add`` extends it with)."""
        with self._cond:
            while True:
                for key in [k for k, f in self.pending.items() if f.done()]:
                    del self.pending[key]
                if self.pending:
                    self._watch = self._ex._client.jobs.watch(list(self.pending))
                    return self._watch
                if self._stopping:
                    return None
                self._cond.wait()

    def _run(self) -> None:
        failures = 0
        while (watch := self._next_watch()) is not None:
            try:
                with watch:
                    for event in watch:
                        if event.final:
                            self._settle(event)
                            failures = 0
            except SlurmError as exc:  # the watch loop gave up (it retries transient errors)
                failures += 1
                logger.warning("following function jobs failed (%d): %s", failures, exc)
                if failures >= _MAX_WATCH_FAILURES:
                    self._fail_all(exc)
                time.sleep(min(30.0, 2.0**failures))
            finally:
                with self._cond:
                    self._watch = None

    def _settle(self, event: JobEvent) -> None:
        key = str(event.job_id)
        with self._cond:
            fut = self.pending.pop(key, None)
        if fut is None or fut.done():
            return
        ok, value = self._ex._core.outcome(fut._task, event)
        try:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        except cf.InvalidStateError:  # cancelled meanwhile
            pass
        if not self._ex._keep_files:
            self._ex._core.files.forget(fut._task.batch, fut._task.index)

    def _fail_all(self, exc: BaseException) -> None:
        with self._cond:
            futures, self.pending = list(self.pending.values()), {}
        for fut in futures:
            if not fut.done():
                with contextlib.suppress(cf.InvalidStateError):
                    fut.set_exception(exc)


class SlurmExecutor(ExecutorBase, cf.Executor):
    """Run Python functions as SLURM jobs, with the ``concurrent.futures`` interface.

    Each :meth:`submit` is one job; each :meth:`map` one job array (one submit request).
    Job options are the builder's (``partition="gpu"``, ``gpus=1``, ``time_limit="1:00:00"``,
    ``memory_per_node="8G"``...) or a ``spec`` template; per call, ``slurm_options={...}``.
    ``workspace`` is a directory the client and the nodes see at the same path; ``python``
    the interpreter on the nodes (default: this one's path). ``job_user`` is the user the
    jobs run as, when it is not this process's (needs root here, to hand it the files).

    Needs ``cloudpickle`` (``pip install 'slurm-client[functions]'``) here and on the
    cluster, in the same version, under the same Python major.minor.

    Example::

        with SlurmClient.from_env() as client:
            with SlurmExecutor(client, workspace="/shared/runs", time_limit="10:00") as ex:
                fut = ex.submit(pow, 2, 10)
                print(fut.job_id, fut.result(timeout=600))          # 1024
                print(list(ex.map(abs, [-1, -2, 3])))                # [1, 2, 3]
    """

    def __init__(
        self,
        client: SlurmClient,
        *,
        workspace: str | os.PathLike[str],
        python: str | None = None,
        spec: JobSpec | None = None,
        job_user: int | str | None = None,
        max_array_size: int = DEFAULT_MAX_ARRAY_SIZE,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        keep_files: bool = False,
        **job_options: Any,
    ) -> None:
        super().__init__(
            keep_files,
            workspace=workspace,
            python=python,
            spec=spec,
            job_user=job_user,
            max_array_size=max_array_size,
            max_result_bytes=max_result_bytes,
            options=job_options,
        )
        self._client = client
        self._follower = _Follower(self)
        self._lock = threading.Lock()

    def _launch(self, plan: Plan) -> list[SlurmFuture]:
        job = self._client.jobs.submit_spec(plan.spec)
        plan.bind(job.job_id)
        futures = [SlurmFuture(self, t) for t in plan.tasks]
        self._follower.add(futures)
        return futures

    def submit(  # type: ignore[override]
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        slurm_options: Mapping[str, Any] | None = None,
        checkpoint: timedelta | int | None = None,
        **kwargs: Any,
    ) -> SlurmFuture:
        """Submit ``fn(*args, **kwargs)`` as one job; returns its :class:`SlurmFuture`.

        ``slurm_options`` overrides job options for this call. ``checkpoint`` (a
        ``timedelta`` or seconds before the time limit) makes the job requeue itself on
        the checkpoint signal: see :func:`checkpoint_dir`.

        Example::

            fut = ex.submit(train, cfg, epochs=5, slurm_options={"gpus": 2})
        """
        with self._lock:
            self._check_open()
            before = None if checkpoint is None else as_delta(checkpoint)
            plan = self._core.plan_call(fn, args, kwargs, slurm_options, before)
            return self._launch(plan)[0]

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        throttle: int | None = None,
        slurm_options: Mapping[str, Any] | None = None,
    ) -> Iterator[Any]:
        """``fn`` over the items as ONE job array (one submit request), results in input
        order. ``chunksize`` items run per array task; ``throttle`` caps the tasks running
        at once (``%k``). More chunks than ``max_array_size`` make several arrays.

        Example::

            scores = list(ex.map(evaluate, shards, chunksize=4, throttle=10))
        """
        end = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._check_open()
            plans, sizes = self._core.plan_map(fn, iterables, chunksize, throttle, slurm_options)
            futures = [f for plan in plans for f in self._launch(plan)]
        del sizes  # chunks come back as lists, flattened in order
        return _results(futures, end)

    def submit_array(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        throttle: int | None = None,
        slurm_options: Mapping[str, Any] | None = None,
    ) -> list[SlurmFuture]:
        """``fn`` over the items as ONE job array, like :meth:`map`, but returns one
        :class:`SlurmFuture` per item (its value, its array task's ``job_id``) instead of
        waiting: for callers that follow each item on its own (an orchestrator's tasks).

        Example::

            futures = ex.submit_array(evaluate, shards, throttle=10)
            print([f.job_id for f in futures])          # ['40_0', '40_1', ...]
        """
        with self._lock:
            self._check_open()
            plans, _ = self._core.plan_map(fn, iterables, 1, throttle, slurm_options, per_item=True)
            return [f for plan in plans for f in self._launch(plan)]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new submissions; ``cancel_futures`` cancels the unfinished jobs; ``wait``
        waits for the rest. The private directory is removed once nothing is pending.

        Example::

            ex.shutdown(wait=False, cancel_futures=True)
        """
        with self._lock:
            self._shutdown = True
        if cancel_futures:
            for fut in list(self._follower.pending.values()):
                fut.cancel()
        if wait:
            cf.wait(list(self._follower.pending.values()))
            self._follower.stop()
            if not self._keep_files:
                self._core.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self.shutdown(wait=True)
        return None

    def _cancel_job(self, task: Task) -> None:
        try:
            self._client.jobs.cancel(task.key)
        except SlurmError as exc:
            logger.warning("cancelling job %s failed: %s", task.key, exc)


def _results(futures: list[SlurmFuture], end: float | None) -> Iterator[Any]:
    try:
        futures.reverse()
        while futures:
            fut = futures[-1]
            left = None if end is None else end - time.monotonic()
            values = fut.result(left)
            futures.pop()
            yield from values
    finally:
        for fut in futures:
            fut.cancel()
