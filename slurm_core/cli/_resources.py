"""``slurm-client nodes``, ``partitions`` and ``graph``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._render import kv_table, node_pairs, node_table, partition_table, table
from ._state import state_of

__all__ = ["graph", "nodes_app", "partitions_app"]

nodes_app = typer.Typer(help="Compute nodes (bare `nodes` lists them).")
partitions_app = typer.Typer(help="Partitions (bare `partitions` lists them).")


@nodes_app.callback(invoke_without_command=True)
def _nodes_default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        list_nodes(ctx)


@nodes_app.command("list")
def list_nodes(ctx: typer.Context) -> None:
    """Every node with its state, CPUs, memory and GRES (like sinfo -N)."""
    cli = state_of(ctx)
    with cli.client() as client:
        nodes = client.nodes.list()
    if cli.json:
        cli.print_json(nodes)
    else:
        cli.out.print(node_table(nodes, title=f"{len(nodes)} node(s)"))


@nodes_app.command("get")
def get_node(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Node name.")]) -> None:
    """One node in detail."""
    cli = state_of(ctx)
    with cli.client() as client:
        node = client.nodes.get(name)
    if cli.json:
        cli.print_json(node)
    else:
        cli.out.print(kv_table(f"node {node.name}", node_pairs(node)))


@partitions_app.callback(invoke_without_command=True)
def _partitions_default(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        list_partitions(ctx)


@partitions_app.command("list")
def list_partitions(ctx: typer.Context) -> None:
    """Every partition with its nodes and time limits."""
    cli = state_of(ctx)
    with cli.client() as client:
        partitions = client.partitions.list()
    if cli.json:
        cli.print_json(partitions)
    else:
        cli.out.print(partition_table(partitions, title=f"{len(partitions)} partition(s)"))


@partitions_app.command("get")
def get_partition(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="Partition.")]
) -> None:
    """One partition in detail."""
    cli = state_of(ctx)
    with cli.client() as client:
        partition = client.partitions.get(name)
    if cli.json:
        cli.print_json(partition)
    else:
        pairs = [(k, v) for k, v in partition.model_dump(exclude={"raw"}).items()]
        cli.out.print(kv_table(f"partition {partition.name}", pairs))


def _graph_data(root: int, graph: Any) -> dict[str, Any]:
    nodes = []
    for name, node in graph.nodes.items():
        job = node.slurm_job
        nodes.append(
            {
                "name": name,
                "job_id": node.job_id,
                "job_name": job.name if job is not None else None,
                "state": str(job.state) if job is not None else None,
                "dependency": node.dependency,
            }
        )
    edges = [
        {
            "upstream": str(e.upstream),
            "downstream": e.downstream,
            "kind": e.kind.value,
            "any_of": e.any_of,
        }
        for e in graph.edges()
    ]
    return {"root": root, "nodes": nodes, "edges": edges}


def graph(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="The job whose dependencies to show.")],
    dot: Annotated[bool, typer.Option("--dot", help="Print the graph as Graphviz DOT.")] = False,
    png: Annotated[
        Path | None,
        typer.Option("--png", help="Draw the graph to this file (needs the graphviz extra)."),
    ] = None,
    dependents: Annotated[
        bool, typer.Option("--dependents", help="Also show the jobs waiting for this one.")
    ] = False,
) -> None:
    """A job's dependency graph: everything it waits for, directly or not."""
    cli = state_of(ctx)
    with cli.client() as client:
        live = client.dependencies.build_graph(job_id)
    jobs_graph = live.with_dependents() if dependents else live.with_transitive_deps()
    if png is not None:
        written = jobs_graph.render(str(png), format="png")
        if not cli.json and not dot:
            cli.out.print(f"wrote {written}")
    if dot:
        typer.echo(jobs_graph.to_dot(), nl=False)
        return
    data = _graph_data(job_id, jobs_graph)
    if png is not None:
        data["png"] = str(png)
    if cli.json:
        cli.print_json(data)
        return
    cli.out.print(
        table(
            f"job {job_id}: {len(data['nodes'])} job(s)",
            ["JOB", "NAME", "STATE", "DEPENDENCY"],
            [[n["name"], n["job_name"], n["state"], n["dependency"]] for n in data["nodes"]],
        )
    )
    if data["edges"]:
        cli.out.print(
            table(
                "edges",
                ["UPSTREAM", "DOWNSTREAM", "KIND"],
                [[e["upstream"], e["downstream"], e["kind"]] for e in data["edges"]],
            )
        )
