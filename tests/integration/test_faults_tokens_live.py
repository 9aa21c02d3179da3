"""Issue 16, finding 7: a ``TokenFile`` rewritten in place loses no wait.

A rotation that truncates the file and then writes it (``echo $TOKEN > file``) leaves
moments where the file is empty. Waits attached to a client reading that file must keep
using the last good token and pick up the new one, on a real cluster.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from slurm_core import SlurmClient, TokenFile
from slurm_core.testing.cluster import LocalSlurmCluster
from slurm_core.watch import WatchOptions

QUICK = WatchOptions(min_interval=0.1, initial_interval=0.1, max_interval=0.3)
WAITS = 6


def _rewrite_in_place(path: Path, token: str, gap: float) -> None:
    with open(path, "r+") as f:
        f.truncate(0)
        f.flush()
        time.sleep(gap)  # what a reader sees meanwhile: an empty file
        f.write(f"SLURM_JWT={token}\n")


def test_a_token_file_rewritten_in_place_loses_no_wait(
    slurm_cluster: LocalSlurmCluster, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(f"SLURM_JWT={slurm_cluster.token()}\n")
    os.chmod(path, 0o600)
    tokens = [slurm_cluster.token(lifespan=3600) for _ in range(3)]
    stop = threading.Event()

    def rotate() -> int:
        n = 0
        while not stop.is_set():
            _rewrite_in_place(path, tokens[n % len(tokens)], gap=0.15)
            n += 1
            time.sleep(0.05)
        return n

    auth = TokenFile(path, user_name=slurm_cluster.user_name)
    with SlurmClient(slurm_cluster.rest_url, auth=auth) as client:
        client.jobs.watch_options = QUICK
        submit = client.jobs.submit().working_directory(slurm_cluster.shared_dir)
        ids = [
            submit.script("#!/bin/sh\nsleep 2\n").name(f"tokenfile-{i}").hold().execute().job_id
            for i in range(WAITS)
        ]
        with ThreadPoolExecutor(WAITS + 1) as pool:
            rotations = pool.submit(rotate)
            waits = [pool.submit(client.jobs.wait, j, timeout=180) for j in ids]
            time.sleep(1.0)  # every wait polls through several rewrites before the jobs run
            joined = ",".join(map(str, ids))
            slurm_cluster.run(["scontrol", "release", joined], check=True)
            for j in ids:
                slurm_cluster.run(["scontrol", "update", f"jobid={j}", "priority=1000000000"])
            try:
                done = [w.result(timeout=200) for w in waits]
            finally:
                stop.set()
            assert rotations.result() >= 5
    assert [d.job_id for d in done] == ids
    assert all(d.state.is_success for d in done)
