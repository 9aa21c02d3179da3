"""sbatch parity: every script of ``tests/data/sbatch/`` submitted twice, on each release,

* by the real ``sbatch`` inside the cluster's root, as alice, from the script's directory;
* by ``client.jobs.submit_script`` (alice's token), with the same arguments, variables and
  directory;

and the two REST job records must agree on every field the script (or its arguments) set.
Both are submitted held (``--hold``) and cancelled at once, so the corpus never loads the
shared clusters.

A script's header may carry ``# args: ...`` (sbatch's command-line words, after ``--hold``),
``# env: K=V ...`` (``SBATCH_*`` variables), ``# compare: key ...`` (record keys compared
too: e.g. what a directive after the first command would have set, which both ignore) and
``# refused-by: 22.05`` (an older sbatch refuses the script: checked, not compared) and
``# rest-refuses: 22.05`` (slurm-client refuses before sending: 22.05's slurmrestd crashes
on script arguments).
``@ANCHOR@`` becomes a held job's id (for dependencies), ``@RESV@`` a reservation's name.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_submit_helpers import make_client, unique

from slurm_core import JobSpecError, RequestHooks, SlurmClient, UnsupportedOperationError
from slurm_core.jobs import JobSpec, split_comment
from slurm_core.testing.cluster import ClusterError, LocalSlurmCluster, license_reservation

CORPUS = sorted((Path(__file__).parent.parent / "data" / "sbatch").glob("*.sh"))
FEATURE = "slurmclient"  # the node feature 25_constraint.sh requires (as test_submit.py)

# spec field -> the REST job record keys that show it
RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "partition": ("partition",),
    "account": ("account",),
    "qos": ("qos",),
    "comment": ("comment",),
    "constraint": ("features",),
    "time_limit": ("time_limit",),
    "time_min": ("time_minimum",),
    "memory_per_cpu": ("memory_per_cpu", "memory_per_node"),
    "memory_per_node": ("memory_per_node", "memory_per_cpu"),
    "memory_per_gpu": ("memory_per_tres",),
    "cpus_per_task": ("cpus_per_task",),
    "cpus_per_gpu": ("cpus_per_tres",),
    "ntasks": ("tasks",),
    "ntasks_per_node": ("tasks_per_node",),
    "nodes": ("node_count",),
    "max_nodes": ("max_nodes",),
    "gpus": ("tres_per_job",),
    "gpus_per_node": ("tres_per_node",),
    "gpus_per_task": ("tres_per_task",),
    "gres": ("tres_per_node",),
    "exclusive": ("shared", "exclusive", "oversubscribe"),
    "requeue": ("requeue",),
    "hold": ("priority", "hold"),
    "nice": ("nice",),
    "begin": ("eligible_time",),
    "deadline": ("deadline",),
    "mail_types": ("mail_type",),
    "mail_user": ("mail_user",),
    "working_directory": ("current_working_directory",),
    "output": ("standard_output",),
    "error": ("standard_error",),
    "input": ("standard_input",),
    "licenses": ("licenses",),
    "reservation": ("resv_name",),
    "wckey": ("wckey",),
    "dependency": ("dependency",),
    "array": ("array_task_string", "array_max_tasks"),
    "argv": ("command",),
}
# relative times ("now+1hour") are computed by each submitter at its own second
CLOCK_KEYS = frozenset({"eligible_time", "deadline"})
CLOCK_SLACK = 30


def header(text: str, word: str) -> list[str]:
    found = re.search(rf"^# {word}: (.*)$", text, re.M)
    return shlex.split(found[1]) if found else []


class Parity:
    """What every script of one release shares: the client, the anchor job, a reservation."""

    def __init__(self, cluster: LocalSlurmCluster, client: SlurmClient) -> None:
        self.cluster, self.client = cluster, client
        self.dir = cluster.shared_dir / unique("sbatch-parity")
        self.dir.mkdir(mode=0o777)
        self.dir.chmod(0o777)  # alice writes the scripts' output here
        (self.dir / "sub").mkdir(mode=0o777)
        self.reservation = unique("sbatch-parity")
        cluster.run(license_reservation(self.reservation, [cluster.user_name]), check=True)
        anchor = self.dir / "anchor.sh"
        anchor.write_text("#!/bin/sh\ntrue\n")
        self.anchor = cluster.sbatch(anchor, "--hold", "--time=1")
        self.jobs: list[int] = [self.anchor]

    def close(self) -> None:
        for job_id in self.jobs:
            self.cluster.run(["scancel", str(job_id)])
        self.cluster.run(["scontrol", "delete", f"ReservationName={self.reservation}"])
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def parity(slurm_cluster: LocalSlurmCluster) -> Iterator[Parity]:
    shown = slurm_cluster.run(["scontrol", "show", "node", "node1"], check=True).stdout
    if FEATURE not in shown:
        for what in ("AvailableFeatures", "ActiveFeatures"):
            slurm_cluster.run(
                ["scontrol", "update", "NodeName=node1", f"{what}={FEATURE}"], check=True
            )
    with make_client(slurm_cluster) as client:
        state = Parity(slurm_cluster, client)
        try:
            yield state
        finally:
            state.close()


def _records(client: SlurmClient, job_id: int) -> list[dict[str, Any]]:
    """The job's raw REST records: one, or one per het component (by offset)."""
    leader = client.jobs.get(job_id).raw
    if not _number(leader.get("het_job_id")):
        return [leader]
    found = [j.raw for j in client.jobs.list() if _number(j.raw.get("het_job_id")) == job_id]
    return sorted(found, key=lambda r: _number(r.get("het_job_offset")) or 0)


def _number(value: Any) -> Any:
    return value.get("number") if isinstance(value, dict) else value


def _normal(value: Any, job_id: int, key: str, where: Path) -> Any:
    """A record value with the job's own id in a file name (``slurm-42.out``) replaced, and
    our submission key removed (the directory is set aside: its name may hold the digits)."""
    if key == "comment" and isinstance(value, str):
        value = split_comment(value)[0]
    if isinstance(value, str):
        rest = value.replace(str(where), "<dir>")
        return re.sub(rf"(?<!\d){job_id}(?!\d)", "<id>", rest)
    return value


def _compared_keys(spec: JobSpec, extra: list[str], release: str) -> list[str]:
    keys = [k for f, ks in RECORD_KEYS.items() if getattr(spec, f) not in (None, ()) for k in ks]
    if release == "22.05":  # argv is never sent to 22.05 (its slurmrestd dies on it)
        keys = [k for k in keys if k != "command"]
    return list(dict.fromkeys([*keys, "current_working_directory", "user_name", *extra]))


def _agree(key: str, ours: Any, theirs: Any) -> bool:
    if key in CLOCK_KEYS:
        a, b = _number(ours), _number(theirs)
        return isinstance(a, int) and isinstance(b, int) and abs(a - b) <= CLOCK_SLACK
    return bool(ours == theirs)


@pytest.mark.parametrize("script", CORPUS, ids=[p.stem for p in CORPUS])
def test_submit_script_matches_sbatch(parity: Parity, script: Path) -> None:
    text = script.read_text()
    text = text.replace("@ANCHOR@", str(parity.anchor)).replace("@RESV@", parity.reservation)
    path = parity.dir / script.name
    path.write_text(text)
    args, env = (
        ["--hold", *header(text, "args")],
        dict(v.split("=", 1) for v in header(text, "env")),
    )
    options, _, script_args = (
        (args[: args.index("--")], "--", args[args.index("--") + 1 :])
        if ("--" in args)
        else (args, "", [])
    )

    if parity.cluster.release in header(text, "refused-by"):  # an older sbatch's rule
        with pytest.raises(ClusterError, match="Invalid directive"):
            parity.cluster.sbatch(path, *options, script_args=script_args, env=env)
        return
    environ = {"PATH": "/usr/bin:/bin", **env}
    if parity.cluster.release in header(text, "rest-refuses"):  # refused before sending
        with pytest.raises(UnsupportedOperationError):
            parity.client.jobs.submit_script(path, *args, environ=environ, cwd=parity.dir)
        return
    reference = parity.cluster.sbatch(path, *options, script_args=script_args, env=env)
    parity.jobs.append(reference)
    ours = parity.client.jobs.submit_script(path, *args, environ=environ, cwd=parity.dir)
    parity.jobs.append(ours.job_id)

    spec = JobSpec.from_sbatch(path, args, environ, cwd=parity.dir)
    theirs_records = _records(parity.client, reference)
    ours_records = _records(parity.client, ours.job_id)
    assert len(ours_records) == len(theirs_records) == 1 + len(spec.het)
    differences = []
    for component, theirs, mine in zip(
        (spec, *spec.het), theirs_records, ours_records, strict=True
    ):
        for key in _compared_keys(component, header(text, "compare"), parity.cluster.release):
            a = _normal(mine.get(key), ours.job_id, key, parity.dir)
            b = _normal(theirs.get(key), reference, key, parity.dir)
            if not _agree(key, a, b):
                differences.append(f"{key}: sbatch {b!r}, submit_script {a!r}")
    assert not differences, f"{script.name} on {parity.cluster.release}:\n" + "\n".join(differences)


BAD = sorted((Path(__file__).parent.parent / "data" / "sbatch" / "bad").glob("*.sh"))


@pytest.mark.parametrize("script", BAD, ids=[p.stem for p in BAD])
def test_a_script_sbatch_refuses_is_refused_with_its_line(parity: Parity, script: Path) -> None:
    path = parity.dir / script.name
    path.write_text(script.read_text())
    with pytest.raises(ClusterError, match="sbatch refused"):
        parity.cluster.sbatch(path, "--hold")
    sent: list[str] = []
    hooks = RequestHooks(on_request=lambda r: sent.append(f"{r.method} {r.url}"))
    with make_client(parity.cluster, hooks=hooks) as client, pytest.raises(JobSpecError) as refused:
        client.jobs.submit_script(path, "--hold", environ={}, cwd=parity.dir)
    assert refused.value.line == int(header(script.read_text(), "line")[0])
    assert sent == []  # refused before anything was sent
