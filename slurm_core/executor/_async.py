"""``AsyncSlurmExecutor``: the async twin, on :class:`~slurm_core.AsyncSlurmClient`.

No task or thread of its own: whoever awaits a future (or iterates ``map``) follows the
jobs through the client's shared watch loop, so every awaiting task shares one poll.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import SlurmError
from ..jobs import JobSpec
from ..watch import JobEvent
from ._core import (
    DEFAULT_MAX_ARRAY_SIZE,
    DEFAULT_MAX_RESULT_BYTES,
    ExecutorBase,
    Plan,
    Task,
    as_delta,
)

if TYPE_CHECKING:
    from .._client import AsyncSlurmClient

__all__ = ["AsyncSlurmExecutor", "AsyncSlurmFuture"]

logger = logging.getLogger("slurm_core.executor")

_PENDING = object()


class AsyncSlurmFuture:
    """One function job: ``await fut`` gives its result (or raises the function's
    exception, remote traceback attached); ``job_id``; ``await fut.cancel()``.

    Example::

        fut = await ex.submit(train, cfg)
        print(fut.job_id)
        model = await fut
    """

    def __init__(self, executor: AsyncSlurmExecutor, task: Task) -> None:
        self._executor = executor
        self._task = task
        self._outcome: tuple[bool, Any] | object = _PENDING

    @property
    def job_id(self) -> str:
        """The SLURM job id (``"42"``, or ``"40_3"`` for an array task)."""
        return self._task.key

    def done(self) -> bool:
        """True once the outcome is known (or the future was cancelled)."""
        return self._outcome is not _PENDING

    def cancelled(self) -> bool:
        """True if :meth:`cancel` cancelled it."""
        return self.done() and isinstance(self._value()[1], cf.CancelledError)

    def _value(self) -> tuple[bool, Any]:
        assert isinstance(self._outcome, tuple)
        return self._outcome

    def _settle(self, ok: bool, value: Any) -> None:
        if not self.done():
            self._outcome = (ok, value)

    def _unwrap(self) -> Any:
        ok, value = self._value()
        if ok:
            return value
        raise value

    async def result(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (the Future API)
        """The function's return value (``TimeoutError`` after ``timeout`` seconds).

        Example::

            value = await fut.result(timeout=600)
        """
        if not self.done():
            await self._executor._follow([self], timeout)
        return self._unwrap()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.result().__await__()

    async def cancel(self) -> bool:
        """Cancel the SLURM job; ``False`` if the outcome was already known."""
        if self.done():
            return self.cancelled()
        await self._executor._cancel_job(self._task)
        self._settle(False, cf.CancelledError(f"job {self.job_id} was cancelled"))
        return True

    def __repr__(self) -> str:
        return f"<AsyncSlurmFuture job {self.job_id} {'done' if self.done() else 'pending'}>"


class AsyncSlurmExecutor(ExecutorBase):
    """Async twin of :class:`~slurm_core.SlurmExecutor` (same options and semantics).

    ``await ex.submit(fn, ...)`` submits the job and returns an :class:`AsyncSlurmFuture`
    (await it for the result); ``await ex.map(fn, items)`` submits one job array and returns
    an async iterator of the results in input order.

    Example::

        async with AsyncSlurmClient.from_env() as client:
            async with AsyncSlurmExecutor(client, workspace="/shared/runs") as ex:
                fut = await ex.submit(pow, 2, 10)
                print(await fut)                                   # 1024
                print([r async for r in await ex.map(abs, [-1, 2])])  # [1, 2]
    """

    def __init__(
        self,
        client: AsyncSlurmClient,
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
        self._pending: dict[str, AsyncSlurmFuture] = {}

    async def _launch(self, plan: Plan) -> list[AsyncSlurmFuture]:
        job = await self._client.jobs.submit_spec(plan.spec)
        plan.bind(job.job_id)
        futures = [AsyncSlurmFuture(self, t) for t in plan.tasks]
        self._pending.update((f.job_id, f) for f in futures)
        return futures

    async def submit(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        slurm_options: Mapping[str, Any] | None = None,
        checkpoint: timedelta | int | None = None,
        **kwargs: Any,
    ) -> AsyncSlurmFuture:
        """See :meth:`SlurmExecutor.submit`; returns once the job is submitted.

        Example::

            fut = await ex.submit(train, cfg, slurm_options={"gpus": 2})
        """
        self._check_open()
        before = None if checkpoint is None else as_delta(checkpoint)
        plan = self._core.plan_call(fn, args, kwargs, slurm_options, before)
        return (await self._launch(plan))[0]

    async def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,  # noqa: ASYNC109 (Executor.map's signature)
        chunksize: int = 1,
        throttle: int | None = None,
        slurm_options: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Any]:
        """See :meth:`SlurmExecutor.map`: one array submitted now; the results in order.

        Example::

            async for score in await ex.map(evaluate, shards, throttle=10):
                print(score)
        """
        self._check_open()
        plans, _sizes = self._core.plan_map(fn, iterables, chunksize, throttle, slurm_options)
        futures = [f for plan in plans for f in await self._launch(plan)]
        return self._ordered(futures, timeout)

    async def _ordered(
        self, futures: list[AsyncSlurmFuture], limit: float | None
    ) -> AsyncIterator[Any]:
        i = 0
        try:
            with anyio.fail_after(limit):
                while i < len(futures):
                    if not futures[i].done():
                        await self._follow(futures[i:], None, until=futures[i])
                    for value in futures[i]._unwrap():
                        yield value
                    i += 1
        finally:
            with anyio.CancelScope(shield=True):
                for fut in futures[i:]:
                    await fut.cancel()

    async def _follow(
        self,
        futures: list[AsyncSlurmFuture],
        limit: float | None,
        until: AsyncSlurmFuture | None = None,
    ) -> None:
        """Watch the unfinished ``futures`` (one shared watch) until all, or ``until``, are done."""
        keys = [f.job_id for f in futures if not f.done()]
        if not keys:
            return
        by_key = {f.job_id: f for f in futures}
        with anyio.fail_after(limit):
            async with self._client.jobs.watch(keys) as events:
                async for event in events:
                    if event.final:
                        self._settle(by_key[str(event.job_id)], event)
                    if until is not None and until.done():
                        return

    def _settle(self, fut: AsyncSlurmFuture, event: JobEvent) -> None:
        if fut.done():
            return
        fut._settle(*self._core.outcome(fut._task, event))
        self._pending.pop(fut.job_id, None)
        if not self._keep_files:
            self._core.files.forget(fut._task.batch, fut._task.index)

    async def _cancel_job(self, task: Task) -> None:
        self._pending.pop(task.key, None)
        try:
            await self._client.jobs.cancel(task.key)
        except SlurmError as exc:
            logger.warning("cancelling job %s failed: %s", task.key, exc)

    async def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """See :meth:`SlurmExecutor.shutdown`.

        Example::

            await ex.shutdown(cancel_futures=True)
        """
        self._shutdown = True
        if cancel_futures:
            for fut in list(self._pending.values()):
                await fut.cancel()
        if wait:
            await self._follow(list(self._pending.values()), None)
            if not self._keep_files:
                self._core.close()

    async def __aenter__(self) -> AsyncSlurmExecutor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown(wait=True)
