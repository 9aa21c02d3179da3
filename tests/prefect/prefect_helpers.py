"""Helpers shared by the Prefect tests (a module, not a conftest, so tests can import it)."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar
from uuid import UUID

import anyio
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

from slurm_core.jobs import JobBuilder

T = TypeVar("T")


async def flow_run_logs(flow_run_id: UUID) -> list[str]:
    """Every log message the Prefect API holds for a flow run, its tasks and its subflows."""
    await APILogHandler.aflush()
    async with get_client() as prefect:
        runs, todo = [flow_run_id], [flow_run_id]
        while todo:
            children = await prefect.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=todo)
                )
            )
            todo = [child.id for child in children]
            runs += todo
        logs = await prefect.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=runs)), limit=200
        )
    return [log.message for log in logs]


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, within: float) -> T:
    """Call ``check`` until it returns something other than None; fail after ``within`` seconds.

    For conditions the test waits for (a job shows up, a state is reached); never for a
    fixed delay.
    """
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await anyio.sleep(0.2)


def job(work_dir: Path, name: str, script: str) -> JobBuilder:
    """A short job in ``work_dir`` (shared with the cluster), stdout and stderr files there."""
    return (
        JobBuilder()
        .script(f"#!/bin/bash\n{script}\n")
        .name(name)
        .partition("debug")
        .time_limit("5:00")
        .working_directory(str(work_dir))
        .output(f"{work_dir}/%x-%j.out")
        .error(f"{work_dir}/%x-%j.err")
    )


def load_module(name: str, path: Path) -> ModuleType:
    """Import the file at ``path`` as module ``name`` (an example, another test module)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_page(root: Path, page: str, count: int) -> None:
    """Run the ```python blocks of ``page`` in order in one namespace, with the block runner
    of tests/integration/test_docs_examples.py; the page must hold ``count`` of them."""
    import asyncio

    runner = load_module(
        "slurm_docs_runner", root / "tests" / "integration" / "test_docs_examples.py"
    )
    found = runner.blocks((root / page).read_text())
    python = [b for b in found if b.lang in runner._PYTHON]
    assert len(python) == count
    namespace: dict[str, object] = {"__name__": "__docs__"}
    loop = asyncio.new_event_loop()
    try:
        for block in python:
            runner._run_block(block, page, namespace, loop)
    finally:
        loop.close()
