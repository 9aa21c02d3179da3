"""Python functions as jobs on real Slurm 22.05, 24.11 and 26.05 (``SlurmExecutor``).

The cluster runs the functions with this very interpreter: ``share_python`` bind-mounts the
venv, its base install and the source tree into the cluster's root at the same paths. Jobs
run as ``alice``; the test process is root, so the executor hands its directory to alice's
uid (``job_user``). The slow time-limit kill runs on one release: the executor's part in
it does not depend on the release.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import cloudpickle
import pytest
from test_submit_helpers import batch_step_alive, finished, make_client, until

from slurm_core import JobFailedError, RequestHooks, SlurmClient, SlurmExecutor
from slurm_core.executor import (
    RemoteTraceback,
    ResultAuthenticationError,
    VersionMismatchError,
    checkpoint_dir,
    resuming,
)
from slurm_core.testing.cluster import LocalSlurmCluster

# Functions of this module travel by value: the job need not import the test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

OTHER_PYTHON = "/root/.pyenv/versions/3.12.1"


def _uid(cluster: LocalSlurmCluster, name: str) -> int:
    return cluster.uid(name)


@pytest.fixture
def client(slurm_cluster: LocalSlurmCluster) -> Iterator[SlurmClient]:
    slurm_cluster.share_python()
    with make_client(slurm_cluster) as c:
        yield c


def _executor(client: SlurmClient, cluster: LocalSlurmCluster, **options: object) -> SlurmExecutor:
    options.setdefault("time_limit", "5:00")
    options.setdefault("memory_per_cpu", "50M")
    return SlurmExecutor(
        client,
        workspace=str(cluster.shared_dir),
        job_user=_uid(cluster, cluster.user_name),
        **options,  # type: ignore[arg-type]
    )


def test_closures_and_main_functions(client: SlurmClient, slurm_cluster: LocalSlurmCluster) -> None:
    factor = 7
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec("import os\ndef where(x):\n    return x, os.getuid()\n", namespace)  # noqa: S102
    where = namespace["where"]
    assert where.__module__ == "__main__"  # type: ignore[attr-defined]
    with _executor(client, slurm_cluster) as ex:
        closure = ex.submit(lambda x: x * factor, 6)
        main_fn = ex.submit(where, "hi")  # type: ignore[arg-type]
        assert closure.result(timeout=120) == 42
        assert main_fn.result(timeout=120) == ("hi", _uid(slurm_cluster, "alice"))
        assert closure.job_id.isdigit()
        directory = Path(ex.directory)
        assert directory.stat().st_mode & 0o777 == 0o700
        assert directory.stat().st_uid == _uid(slurm_cluster, "alice")
        for f in directory.iterdir():
            if f.is_file():
                assert f.stat().st_mode & 0o777 == 0o600, f
    assert not directory.exists()  # removed at shutdown


def _fails(n: int) -> None:
    raise KeyError(f"missing {n}")


def test_exception_comes_back_with_the_remote_traceback(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    with _executor(client, slurm_cluster) as ex:
        fut = ex.submit(_fails, 3)
        with pytest.raises(KeyError, match="missing 3") as info:
            fut.result(timeout=120)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in _fails" in cause.tb
    assert "runner.py" in cause.tb


def test_map_of_100_items_is_one_array_and_one_submit_request(
    slurm_cluster: LocalSlurmCluster,
) -> None:
    slurm_cluster.share_python()
    posts: list[str] = []
    hooks = RequestHooks(on_request=lambda r: posts.append(r.url) if r.method == "POST" else None)
    with make_client(slurm_cluster, hooks=hooks) as client, _executor(client, slurm_cluster) as ex:
        results = list(ex.map(lambda v: v * v, range(100), chunksize=10, timeout=300))
    assert results == [v * v for v in range(100)]
    submits = [u for u in posts if u.rstrip("/").endswith("/job/submit")]
    assert len(submits) == 1, posts


def test_cancel_cancels_the_job(client: SlurmClient, slurm_cluster: LocalSlurmCluster) -> None:
    with _executor(client, slurm_cluster) as ex:
        fut = ex.submit(time.sleep, 300)
        assert fut.cancel()
        assert fut.cancelled()
        job = finished(client, fut.job_id, timeout=60)
    assert str(job.state.base) == "CANCELLED"


def test_shutdown_cancel_futures_cancels_the_jobs(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    ex = _executor(client, slurm_cluster)
    futures = [ex.submit(time.sleep, 300) for _ in range(2)]
    ex.shutdown(wait=True, cancel_futures=True)
    for fut in futures:
        assert fut.cancelled()
        assert str(finished(client, fut.job_id, timeout=60).state.base) == "CANCELLED"


def test_version_mismatch_fails_naming_both_sides(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    if not Path(OTHER_PYTHON).is_dir():
        if os.environ.get("CI", "").lower() == "true":  # CI machines have it: never hide it
            pytest.fail(f"no second interpreter at {OTHER_PYTHON}", pytrace=False)
        pytest.skip(f"no second interpreter at {OTHER_PYTHON}")
    from slurm_core.testing.cluster._share import share_paths

    share_paths(slurm_cluster.root, [Path(OTHER_PYTHON)])
    with _executor(client, slurm_cluster, python=f"{OTHER_PYTHON}/bin/python3.12") as ex:
        fut = ex.submit(abs, -1)
        with pytest.raises(VersionMismatchError) as info:
            fut.result(timeout=120)
    assert info.value.client["python"] == "3.11"
    assert info.value.job["python"] == "3.12"
    assert "3.11" in str(info.value)
    assert "3.12" in str(info.value)


class _Bomb:
    """Unpickling this creates ``path``: proof that a planted result was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_planted_and_replayed_results_are_refused_unread(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    alice = _uid(slurm_cluster, "alice")
    with _executor(client, slurm_cluster, keep_files=True) as ex:
        genuine = ex.submit(abs, -5)
        assert genuine.result(timeout=120) == 5
        directory = Path(ex.directory)
        [good] = list(directory.glob("*.0.out"))
        victims = [ex.submit(time.sleep, 300) for _ in range(3)]
        outs = [directory / f"{v._task.batch.id}.0.out" for v in victims]
        forged = good.read_bytes()
        forged = forged[:-1] + bytes([forged[-1] ^ 1])
        planted = pickle.dumps(_Bomb(str(marker)))
        for path, data in zip(outs, [planted, forged, good.read_bytes()], strict=True):
            path.write_bytes(data)
            os.chown(path, alice, -1)
            path.chmod(0o600)
        for v in victims:  # the jobs end, so the executor reads what is there
            client.jobs.cancel(v.job_id)
        errors = []
        for v in victims:
            with pytest.raises(ResultAuthenticationError) as info:
                v.result(timeout=120)
            errors.append(str(info.value))
    assert not marker.exists()
    assert "not a slurm-client function frame" in errors[0]
    assert "HMAC does not verify" in errors[1]
    assert "HMAC does not verify" in errors[2]  # another task's genuine result


def test_time_limit_kill_fails_the_future_with_the_job_state(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    # On every release, though slow (~75 s): each reports TIMEOUT in its own shape.
    with _executor(client, slurm_cluster, time_limit=1) as ex:
        fut = ex.submit(time.sleep, 600)
        with pytest.raises(JobFailedError) as info:
            fut.result(timeout=240)
    assert info.value.state == "TIMEOUT"
    assert str(info.value.job_id) == fut.job_id


def _train(steps: int, progress: str) -> tuple[int, bool]:
    """Counts steps into the checkpoint dir; resumes from it after a requeue."""
    state = checkpoint_dir() / "step"
    start = int(state.read_text()) if resuming() else 0
    for step in range(start, steps):
        state.write_text(str(step))
        Path(progress).write_text(str(step))
        time.sleep(0.2)
    return start, resuming()


def test_requeue_resumes_from_the_checkpoint(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    # On every release: 22.05 (v0.0.38) gets no B: signal and relies on the wrapper's watchdog.
    progress = Path(slurm_cluster.shared_dir) / f"progress-{os.getpid()}-{time.time_ns()}"
    with _executor(client, slurm_cluster, time_limit="10:00") as ex:
        fut = ex.submit(_train, 40, str(progress), checkpoint=120)
        until(lambda: progress.exists() and int(progress.read_text() or 0) >= 3, timeout=120)
        # What Slurm's B:USR2 warning does before the time limit, sent now.
        slurm_cluster.run(["scancel", "--signal=USR2", "--batch", fut.job_id], check=True)

        def requeued() -> bool:
            return (client.jobs.get(fut.job_id).raw.get("restart_cnt") or 0) >= 1

        until(requeued, timeout=60, what="the requeue")
        # A start forced before the first run's batch step is gone lets its late report
        # end the second run (see test_training).
        until(
            lambda: not batch_step_alive(int(fut.job_id)), what="the first run's batch step to end"
        )
        # Slurm delays a requeued job's start by about two minutes: start it now.
        slurm_cluster.run(["scontrol", "update", f"JobId={fut.job_id}", "StartTime=now"])
        start, resumed = fut.result(timeout=300)
    assert resumed
    assert start >= 3


def test_async_executor_submit_map_and_cancel(
    client: SlurmClient, slurm_cluster: LocalSlurmCluster
) -> None:
    from slurm_core import AsyncSlurmClient, AsyncSlurmExecutor, StaticToken

    async def main() -> tuple[object, list[object], bool, str]:
        auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
        async with (
            AsyncSlurmClient(slurm_cluster.rest_url, auth=auth, timeout=30) as aclient,
            AsyncSlurmExecutor(
                aclient,
                workspace=str(slurm_cluster.shared_dir),
                job_user=_uid(slurm_cluster, "alice"),
                time_limit="5:00",
                memory_per_cpu="50M",
            ) as ex,
        ):
            fut = await ex.submit(lambda: "async" * 2)
            sleeper = await ex.submit(time.sleep, 300)
            cancelled = await sleeper.cancel()
            squares = [r async for r in await ex.map(lambda v: v * v, range(5))]
            return await fut, squares, cancelled, sleeper.job_id

    value, squares, cancelled, sleeper_id = anyio.run(main)
    assert value == "asyncasync"
    assert squares == [0, 1, 4, 9, 16]
    assert cancelled
    assert str(finished(client, sleeper_id, timeout=60).state.base) == "CANCELLED"


def _docs_example() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "executor.md").read_text()
    section = text[text.index("## Example") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/executor.md has no python example"
    return match.group(1)


def test_the_docs_example_runs_as_written(slurm_cluster: LocalSlurmCluster) -> None:
    slurm_cluster.share_python()
    # The example runs as on a site: the jobs run as the user the client runs as (root here).
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(slurm_cluster.env())
    env.update(
        SLURM_JWT=slurm_cluster.token(slurm_cluster.admin_user_name),
        SLURM_USER_NAME=slurm_cluster.admin_user_name,
        RUNS_DIR=str(slurm_cluster.shared_dir),
    )
    result = subprocess.run(
        [sys.executable, "-c", _docs_example()],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["4.0", "[1.0, 2.0, 3.0]", "RemoteTraceback"]
