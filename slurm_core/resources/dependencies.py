"""``client.dependencies``: job dependency graphs read from the live cluster."""

from __future__ import annotations

from .._engine import AsyncResource, BaseResource, Op, SyncResource
from .._versions import validate_job_id
from ..graph import LiveGraph, job_dependency
from ..jobs.dependency import Dependency
from ..models import Job
from .jobs import _JobsOps

__all__ = ["AsyncDependencies", "Dependencies"]


def _root(job_id: int | str) -> int:
    text = str(validate_job_id(job_id))
    if not text.isdigit():
        raise ValueError(f"build_graph needs a plain job id (not an array task), got {job_id!r}")
    return int(text)


class _DependenciesOps(BaseResource):
    def _build(self, job_id: int | str) -> Op[LiveGraph]:
        root = _root(job_id)
        a = yield from self._core.adapter()
        jobs = {j.job_id: j for j in a.parse_jobs((yield a.jobs_list()))}
        if root not in jobs:  # purged by slurmctld: accounting may still know it
            job = yield from _JobsOps(self._core)._get(root)
            jobs[root] = job
        return LiveGraph(root, jobs)

    def _of(self, job_id: int | str) -> Op[Dependency | None]:
        job: Job = yield from _JobsOps(self._core)._get(job_id)
        return job_dependency(job)


class Dependencies(_DependenciesOps, SyncResource):
    """Dependencies between jobs, as slurmctld reports them.

    Example::

        live = client.dependencies.build_graph(42)
        print(live.with_transitive_deps().to_dot())
    """

    def build_graph(self, job_id: int | str) -> LiveGraph:
        """Read the jobs around ``job_id`` (one listing); graphs come from the result.

        Raises :class:`~slurm_core.NotFoundError` if the job is unknown.

        Example::

            graph = client.dependencies.build_graph(42).with_transitive_deps()
            for edge in graph.edges():
                print(edge.upstream, "->", edge.downstream, edge.kind)
        """
        return self._run(self._build(job_id))

    def of(self, job_id: int | str) -> Dependency | None:
        """One job's dependency, parsed (record states such as ``unfulfilled`` included).

        Example::

            dep = client.dependencies.of(42)      # afterok:41(unfulfilled)
            print(dep.job_ids() if dep else "none")
        """
        return self._run(self._of(job_id))


class AsyncDependencies(_DependenciesOps, AsyncResource):
    """Async twin of :class:`Dependencies`.

    Example::

        live = await client.dependencies.build_graph(42)
    """

    async def build_graph(self, job_id: int | str) -> LiveGraph:
        """See :meth:`Dependencies.build_graph`."""
        return await self._run(self._build(job_id))

    async def of(self, job_id: int | str) -> Dependency | None:
        """See :meth:`Dependencies.of`."""
        return await self._run(self._of(job_id))
