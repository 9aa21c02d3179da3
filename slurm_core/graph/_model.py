"""The public job graph: :class:`JobGraph`, the graph's data with drawing and submission.

Nodes, dependencies, checks and order are :class:`~._graph.BaseJobGraph`'s; this module
adds the output (:mod:`._dot`) and submission (:mod:`._submit`) on top of it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._dot import render, to_dot
from ._graph import BaseJobGraph
from ._protocols import AsyncGraphClient, GraphClient
from ._run import AsyncGraphRun, GraphRun
from ._submit import AsyncSubmit, Submit, asubmit_graph, submit_graph

__all__ = ["JobGraph"]


class JobGraph(BaseJobGraph):
    """Jobs and the dependencies between them, submitted in one go as Slurm dependencies.

    Example::

        g = JobGraph()
        prep = g.add("prep", client.jobs.submit().command(["./prep.sh"]))
        train = g.add("train", client.jobs.submit().command(["./train.sh"]).gpus(2),
                      after_ok=[prep])
        g.add("eval", client.jobs.submit().command(["./eval.sh"]), after_any=[train])
        run = g.submit(client)              # prep, train, eval with --dependency set
        result = run.wait()
        print(g.to_dot())
    """

    def to_dot(
        self,
        states: Mapping[str, object] | None = None,
        job_ids: Mapping[str, int] | None = None,
    ) -> str:
        """DOT text of the graph, nodes coloured by state (stable: same graph, same text).

        ``states`` maps node names to a :class:`~slurm_core.JobState` or a state name
        (defaults: the jobs read from the cluster, else "not submitted"); ``job_ids``
        labels nodes with their job ids.

        Example::

            pathlib.Path("graph.dot").write_text(g.to_dot())
        """
        return to_dot(self, states, job_ids)

    def render(
        self, path: str, *, format: str | None = None, states: Mapping[str, object] | None = None
    ) -> str:
        """Draw the graph to ``path`` (format from the suffix) with the ``graphviz`` extra.

        Example::

            g.render("graph.png")
        """
        return render(self.to_dot(states), path, format=format)

    def submit(
        self, client: GraphClient, *, submit: Submit | None = None, cancel_on_error: bool = True
    ) -> GraphRun:
        """Submit every node in order, each edge becoming a Slurm ``--dependency``.

        Everything is checked first (cycles, unknown nodes, each job's spec). A builder
        from ``client.jobs.submit()`` submits itself, a :class:`~slurm_core.jobs.JobSpec`
        goes through ``client.jobs.submit_spec``; ``submit`` (a function of the final
        spec returning the job id) overrides both. A node's job name defaults to its
        node name. If a submission fails, the jobs already submitted are cancelled
        (unless ``cancel_on_error=False``) and :class:`GraphError` lists them.

        Example::

            run = graph.submit(client)
            print(run.job_ids)                   # {"prep": 101, "train": 102, ...}
        """
        return submit_graph(self, client, submit=submit, cancel_on_error=cancel_on_error)

    async def asubmit(
        self,
        client: AsyncGraphClient,
        *,
        submit: AsyncSubmit | None = None,
        cancel_on_error: bool = True,
    ) -> AsyncGraphRun:
        """Async twin of :meth:`submit` (an :class:`~slurm_core.AsyncSlurmClient`).

        Returns an :class:`~slurm_core.graph.AsyncGraphRun`.

        Example::

            run = await g.asubmit(async_client)
            result = await run.wait()
        """
        return await asubmit_graph(self, client, submit=submit, cancel_on_error=cancel_on_error)
