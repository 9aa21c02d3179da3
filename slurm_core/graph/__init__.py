"""Job dependency graphs: build, check, submit as Slurm dependencies, follow, draw.

Example::

    from slurm_core.graph import JobGraph

    g = JobGraph()
    prep = g.add("prep", client.jobs.submit().command(["./prep.sh"]))
    train = g.add("train", client.jobs.submit().command(["./train.sh"]).gpus(2),
                  after_ok=[prep])
    g.add("eval", client.jobs.submit().command(["./eval.sh"]), after_any=[train])
    run = g.submit(client)                    # in order, each edge a --dependency
    result = run.wait(cancel_unrunnable=True)
    print(result.states, g.to_dot())

    live = client.dependencies.build_graph(run.job_ids["eval"]).with_transitive_deps()

Cycles (``a -> b -> a``) and unknown nodes are refused before anything is submitted.
"""

from ._dot import STATE_COLORS
from ._errors import GraphError
from ._graph import Edge, GraphNode
from ._live import LiveGraph, job_dependency
from ._model import JobGraph
from ._protocols import AsyncGraphClient, AsyncGraphJobs, GraphClient, GraphJobs
from ._run import AsyncGraphRun, GraphResult, GraphRun, Progress
from ._terms import GraphTerm, format_terms, parse_terms

__all__ = [
    "STATE_COLORS",
    "AsyncGraphClient",
    "AsyncGraphJobs",
    "AsyncGraphRun",
    "Edge",
    "GraphClient",
    "GraphError",
    "GraphJobs",
    "GraphNode",
    "GraphResult",
    "GraphRun",
    "GraphTerm",
    "JobGraph",
    "LiveGraph",
    "Progress",
    "format_terms",
    "job_dependency",
    "parse_terms",
]
