"""The ``slurm-client`` command line against a FakeSlurmServer (typer's CliRunner).

Most tests inject a client factory that puts the fake's in-process transport under the
client the CLI builds from its settings; a few serve the fake over HTTP and pass ``--url``
(the default factory). Every command is run in table and ``--json`` form where it has
both, and error exits are checked for one line on stderr, the exit code, and no token.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from test_analytics_helpers import T0, MiniSlurm, acct_job, tres
from typer.testing import CliRunner, Result  # the cli extra: installed by every test env

from slurm_core import SlurmClient
from slurm_core.analytics import AuditLog
from slurm_core.cli._app import app, hoist_globals
from slurm_core.cli._state import CliState
from slurm_core.config import ClientSettings
from slurm_core.testing import FakeSlurmServer


def make_token(seconds: float, user: str = "testuser") -> str:
    return jwt.encode({"exp": int(time.time() + seconds), "sun": user}, "k" * 32, "HS256")


TOKEN = make_token(3600)


class Cli:
    """Runs the app with a client factory for ``fake`` (or any server with ``url`` and
    ``transport()``) and a clean environment."""

    def __init__(self, fake: Any, tmp_path: Path) -> None:
        self.fake = fake
        self.config = tmp_path / "config.toml"
        self.config.write_text("")
        self.transport: httpx.BaseTransport = fake.transport()
        self.env: dict[str, str | None] = {
            "SLURM_REST_URL": fake.url,
            "SLURM_JWT": TOKEN,
            "SLURM_CLIENT_CONFIG": str(self.config),
            "HOME": str(tmp_path),
            "PATH": "/nonexistent",  # no scontrol to find
            "COLUMNS": "200",
            **dict.fromkeys(
                ["SLURM_PROFILE", "SLURM_USER_NAME", "SLURM_JWT_FILE", "SLURM_REST_API_VERSION"]
            ),
        }

    def factory(self, settings: ClientSettings, **options: Any) -> SlurmClient:
        options.setdefault("api_version", settings.api_version)
        return SlurmClient(settings.url, auth=settings.auth, transport=self.transport, **options)

    def __call__(self, *args: str, factory: bool = True) -> Result:
        state = CliState(client_factory=self.factory if factory else None)
        return CliRunner().invoke(app, list(args), obj=state, env=self.env)

    def json(self, *args: str) -> Any:
        result = self("--json", *args)
        assert result.exit_code == 0, result.stderr + result.stdout
        return json.loads(result.stdout)


@pytest.fixture
def fake() -> FakeSlurmServer:
    # 60 s jobs at 240x: a job ends a quarter of a second after it starts
    return FakeSlurmServer(api_version="v0.0.42", realtime=True, speed=240)


@pytest.fixture
def cli(fake: FakeSlurmServer, tmp_path: Path) -> Cli:
    return Cli(fake, tmp_path)


def one_error_line(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stdout + result.stderr
    return lines[0]


FAST = ("--poll-interval", "0.05")


# ------------------------------------------------------------------ plumbing ---------------
def test_import_slurm_core_does_not_import_the_cli_dependencies() -> None:
    # httpx imports rich and click for its own CLI when both are installed: block click so
    # that only slurm_core's own imports are seen.
    code = (
        "import sys; sys.modules['click'] = None; import slurm_core; slurm_core.SlurmClient; "
        "import slurm_core.cli; print(sorted(m for m in ('typer', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_global_options_may_follow_the_command() -> None:
    assert hoist_globals(["jobs", "get", "7", "--json", "--url=http://x", "--profile", "p"]) == [
        "--json", "--url=http://x", "--profile", "p", "jobs", "get", "7",
    ]  # fmt: skip
    assert hoist_globals(["jobs", "submit", "--", "prog", "--json"]) == [
        "jobs", "submit", "--", "prog", "--json",
    ]  # fmt: skip


def test_url_and_api_version_reach_a_served_fake(tmp_path: Path) -> None:
    fake = FakeSlurmServer(api_version="v0.0.42", also_serve=["v0.0.41"])
    cli = Cli(fake, tmp_path)
    cli.env["SLURM_REST_URL"] = None
    with fake.serve() as url:
        result = cli(
            "nodes", "list", "--json", "--url", url, "--api-version", "0.0.41", factory=False
        )
    assert result.exit_code == 0, result.stderr
    assert {n["name"] for n in json.loads(result.stdout)} == {"node1", "node2", "gpu1", "gpu2"}
    assert any(r.path == "/slurm/v0.0.41/nodes" for r in fake.requests)


def test_no_configuration_is_one_line_naming_what_is_missing(cli: Cli) -> None:
    cli.env["SLURM_REST_URL"] = None
    result = cli("jobs", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no slurmrestd configuration found: missing a URL")


def test_debug_lets_the_exception_through(cli: Cli) -> None:
    result = cli("--debug", "jobs", "get", "999")
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "NotFoundError"


# ------------------------------------------------------------------ nodes, partitions -------
def test_nodes_and_partitions(cli: Cli) -> None:
    table = cli("nodes")
    assert table.exit_code == 0
    assert "gpu:fake:2" in table.stdout
    assert "gpu2" in table.stdout
    assert [n["name"] for n in cli.json("nodes", "list")] == ["node1", "node2", "gpu1", "gpu2"]
    assert cli.json("nodes", "get", "gpu1")["gres"] == "gpu:fake:2"
    assert "16" in cli("nodes", "get", "gpu1").stdout
    assert [p["name"] for p in cli.json("partitions")] == ["debug", "gpu"]
    assert cli.json("partitions", "get", "gpu")["total_nodes"] == 2
    assert "gpu1,gpu2" in cli("partitions", "list").stdout
    assert "nope" in one_error_line(cli("nodes", "get", "nope"))
    err = json.loads(one_error_line(cli("--json", "partitions", "get", "nope")))
    assert err["type"] == "NotFoundError"


# ------------------------------------------------------------------ jobs ------------------
def test_submit_a_command_with_builder_fields(cli: Cli, fake: FakeSlurmServer) -> None:
    out = cli.json(
        "jobs", "submit", "--name", "hello", "--time", "10:00", "--mem", "1G", "--cpus", "2",
        "--partition", "gpu", "--gpus", "1", "--env", "A=1", "--env", "B=x=y", "--hold",
        "--chdir", "/shared", "--", "echo", "hi there",
    )  # fmt: skip
    job = fake.job(out["job_id"])
    assert (job.name, job.partition, job.cpus_per_task, job.memory_per_node) == (
        "hello", "gpu", 2, 1024,
    )  # fmt: skip
    assert job.hold
    assert job.working_directory == "/shared"
    assert fake.script(out["job_id"]) == "#!/bin/bash\nexec echo 'hi there'\n"
    assert {"A": "1", "B": "x=y"}.items() <= fake.environment(out["job_id"]).items()


def test_submit_a_script_file_and_a_dry_run(
    cli: Cli, fake: FakeSlurmServer, tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho from-file\n")
    result = cli("jobs", "submit", "--script", str(script), "--array", "0-3%2")
    assert result.exit_code == 0
    assert result.stdout.startswith("Submitted job ")
    job_id = int(result.stdout.split()[-1])
    assert fake.script(job_id) == script.read_text()
    body = cli.json("jobs", "submit", "--dry-run", "--name", "dry", "--", "true")
    assert body["job"]["name"] == "dry"
    assert {j.array_job_id or j.job_id for j in fake.jobs()} == {job_id}  # dry run: nothing


def test_submit_usage_errors(cli: Cli, tmp_path: Path) -> None:
    assert cli("jobs", "submit", "--name", "x").exit_code == 2  # neither script nor command
    assert cli("jobs", "submit", "--script", "f", "--", "true").exit_code == 2  # both
    assert cli("jobs", "submit", "--env", "NOEQUALS", "--", "true").exit_code == 2
    line = one_error_line(cli("jobs", "submit", "--time", "forever", "--", "true"))
    assert line.startswith("error: time_limit")  # JobSpecError names the field
    missing = one_error_line(cli("jobs", "submit", "--script", str(tmp_path / "nope.sh")))
    assert "nope.sh" in missing


def test_list_get_cancel_and_signal(cli: Cli, fake: FakeSlurmServer) -> None:
    first = cli.json("jobs", "submit", "--hold", "--name", "a", "--", "true")["job_id"]
    second = cli.json("jobs", "submit", "--hold", "--name", "b", "--", "true")["job_id"]
    listed = cli.json("jobs", "list", "--state", "PENDING")
    assert {j["job_id"] for j in listed} == {first, second}
    assert cli.json("jobs", "list", "--state", "RUNNING") == []
    assert "a" in cli("jobs", "list").stdout
    got = cli.json("jobs", "get", str(first))
    assert (got["name"], got["state"]["base"]) == ("a", "PENDING")
    assert "raw" not in got
    assert "job id" in cli("jobs", "get", str(first)).stdout
    assert cli.json("jobs", "cancel", str(first), "--signal", "USR1")["signal"] == "USR1"
    assert fake.signals(first) == ["USR1"]
    result = cli("jobs", "cancel", str(first), str(second))
    assert result.exit_code == 0
    assert f"cancelled job {second}" in result.stdout
    assert str(fake.job(second).state.base) == "CANCELLED"
    assert "2017" in one_error_line(cli("jobs", "cancel", "424242"))


def test_wait_success_failure_and_timeout(cli: Cli, fake: FakeSlurmServer) -> None:
    good = cli.json("jobs", "submit", "--", "true")["job_id"]
    result = cli("jobs", "wait", str(good), *FAST)
    assert result.exit_code == 0
    assert f"job {good} COMPLETED (exit 0)" in result.stdout
    assert "COMPLETED" in result.stderr  # the events, beside the result
    bad = cli.json("jobs", "submit", "--hold", "--", "false")["job_id"]
    fake.set_job_outcome(bad, state="FAILED", exit_code=3)
    SlurmClient(fake.url, transport=fake.transport()).jobs.release(bad)
    failed = cli("--json", "jobs", "wait", str(bad), *FAST)
    assert failed.exit_code == 3
    assert failed.stdout == ""
    assert json.loads(failed.stderr)["type"] == "JobFailedError"
    held = cli.json("jobs", "submit", "--hold", "--", "true")["job_id"]
    timed_out = cli("jobs", "wait", str(held), "--timeout", "0.3", *FAST)
    assert timed_out.exit_code == 4


def test_submit_and_wait(cli: Cli) -> None:
    job = cli.json("jobs", "submit", "--wait", *FAST, "--name", "w", "--", "true")
    assert (job["name"], job["state"]["base"], job["exit_code"]["return_code"]) == (
        "w", "COMPLETED", 0,
    )  # fmt: skip


def test_watch_streams_json_lines_and_fails_on_a_bad_job(cli: Cli, fake: FakeSlurmServer) -> None:
    ok = cli.json("jobs", "submit", "--", "true")["job_id"]
    bad = cli.json("jobs", "submit", "--name", "bad", "--", "false")["job_id"]
    fake.set_job_outcome(name="bad", state="FAILED", exit_code=1)
    result = cli("--json", "jobs", "watch", str(ok), str(bad), *FAST)
    assert result.exit_code == 3
    events = [json.loads(line) for line in result.stdout.splitlines()]
    finals = {e["job_id"]: e["type"] for e in events if e["final"]}
    assert finals == {ok: "COMPLETED", bad: "FAILED"}
    assert all("job" not in e for e in events)
    again = cli.json("jobs", "submit", "--", "true")["job_id"]
    table = cli("jobs", "watch", str(again), *FAST)
    assert table.exit_code == 0
    assert f"job {again}  COMPLETED" in table.stdout


def test_output_reads_the_jobs_files(cli: Cli, fake: FakeSlurmServer, tmp_path: Path) -> None:
    job_id = cli.json("jobs", "submit", "--chdir", str(tmp_path), "--error", "err-%j.txt",
                      "--", "true")["job_id"]  # fmt: skip
    (tmp_path / f"slurm-{job_id}.out").write_text("hello\n")
    (tmp_path / f"err-{job_id}.txt").write_text("oops\n")
    if os.geteuid() == 0:  # the reader wants the job's user (the fake's uid 1000) or you
        for name in (f"slurm-{job_id}.out", f"err-{job_id}.txt"):
            os.chown(tmp_path / name, 1000, 1000)
    assert cli("jobs", "output", str(job_id)).stdout == "hello\n"
    assert cli.json("jobs", "output", str(job_id), "--stderr")["text"] == "oops\n"
    (tmp_path / f"slurm-{job_id}.out").unlink()
    assert "JobOutputError" in one_error_line(cli("--json", "jobs", "output", str(job_id)))


# ------------------------------------------------------------------ graph -----------------
def test_graph_table_json_dot_and_png(cli: Cli, fake: FakeSlurmServer, tmp_path: Path) -> None:
    up = cli.json("jobs", "submit", "--hold", "--name", "prep", "--", "true")["job_id"]
    down = cli.json("jobs", "submit", "--name", "train", "--dependency", f"afterok:{up}",
                    "--", "true")["job_id"]  # fmt: skip
    data = cli.json("graph", str(down))
    assert {n["job_name"] for n in data["nodes"]} == {"prep", "train"}
    assert data["edges"] == [
        {"upstream": str(up), "downstream": str(down), "kind": "afterok", "any_of": False}
    ]
    assert "afterok" in cli("graph", str(down)).stdout
    dot = cli("graph", str(down), "--dot")
    assert dot.stdout.startswith("digraph")
    assert f'"{up}" -> "{down}"' in dot.stdout
    assert len(cli.json("graph", str(up), "--dependents")["nodes"]) == 2
    try:
        import graphviz  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        assert "graphviz extra" in one_error_line(cli("graph", str(down), "--png", "g.png"))


# ------------------------------------------------------------------ costs -----------------
def test_costs_table_json_breakdown_and_csv(tmp_path: Path) -> None:
    # The fake's accounting records carry no allocated TRES: answer from fixed listings.
    server = MiniSlurm(accounting=[acct_job(job_id=7, start=T0, alloc=tres(cpu=2, node=1))])
    cli = Cli(server, tmp_path)
    window = ("--since", "2026-03-01T00:00+00:00", "--until", "2026-03-03T00:00+00:00")
    report = cli.json("costs", *window, "--cpu-hour", "0.5", "--by", "user")
    assert report["total"] == "1.000000"
    assert report["by_user"] == {"alice": "1.000000"}
    assert [r["job_id"] for r in report["rows"]] == [7]
    table = cli("costs", *window, "--cpu-hour", "0.5", "--currency", "EUR")
    assert table.exit_code == 0
    assert "total 1.000000 EUR" in table.stdout
    jobs_csv = cli("costs", *window, "--cpu-hour", "0.5", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(jobs_csv)))
    assert rows[0]["job_id"] == "7"
    assert rows[0]["total"] == "1.000000"
    by_user = cli("costs", *window, "--cpu-hour", "0.5", "--csv", "--by", "user").stdout
    assert by_user.splitlines() == ["user,cost", "alice,1.000000"]
    assert cli.json("costs", "--cpu-hour", "1")["total"] == "0"  # the last 30 days: nothing
    assert cli("costs").exit_code == 2  # no price at all
    assert cli("costs", "--cpu-hour", "1", "--by", "color").exit_code == 2
    assert cli("costs", "--cpu-hour", "1", "--since", "yesterday").exit_code == 2
    assert "cpu_hour" in one_error_line(cli("costs", "--cpu-hour", "-1"))


# ------------------------------------------------------------------ audit -----------------
def test_audit_verify_and_show(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record("request", method="DELETE", url="http://h/slurm/v0.0.42/job/7", user="ops")
    log.record("response", method="DELETE", url="http://h/slurm/v0.0.42/job/7", status=200)
    log.record("scaling", partition="gpu", user="robot")
    assert cli.json("audit", "verify", str(path))["ok"] is True
    # An unkeyed log is never called verified: anyone who can write it can redo its hashes.
    assert "unauthenticated" in cli("audit", "verify", str(path)).stdout
    shown = cli.json("audit", "show", str(path), "--event", "request")
    assert [(e["seq"], e["fields"]["user"]) for e in shown] == [(1, "ops")]
    assert [e["event"] for e in cli.json("audit", "show", str(path), "-n", "1")] == ["scaling"]
    table = cli("audit", "show", str(path), "--user", "robot")
    assert "partition=gpu" in table.stdout
    assert "DELETE" not in table.stdout
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1].replace("200", "500"), lines[2]]) + "\n")
    broken = cli("audit", "verify", str(path))
    assert broken.exit_code == 1
    assert "TAMPERED at line 2" in broken.stdout
    as_json = cli("--json", "audit", "verify", str(path))
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["first_bad_line"] == 2
    assert "line 2" in one_error_line(cli("audit", "show", str(path)))
    assert "no audit log" in one_error_line(cli("audit", "verify", str(tmp_path / "none")))


# ------------------------------------------------------------------ cluster ---------------
def test_cluster_commands_delegate_to_the_cluster_module(cli: Cli, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    status = cli("cluster", "status", "--release", "22.05", "--cache-dir", cache)
    assert status.exit_code == 3
    assert "SLURM 22.05: stopped" in status.stdout
    found = cli("--json", "cluster", "status", "--release", "all", "--cache-dir", cache)
    assert found.exit_code == 3
    assert [(s["release"], s["running"]) for s in json.loads(found.stdout)] == [
        ("22.05", False), ("24.11", False), ("26.05", False),
    ]  # fmt: skip
    env = cli("cluster", "env", "--release", "26.05", "--cache-dir", cache)
    assert env.exit_code == 1
    assert "not running" in env.stderr
    assert "not running" in one_error_line(
        cli("--json", "cluster", "env", "--release", "26.05", "--cache-dir", cache)
    )
    assert cli("cluster", "status", "--release", "all", "--cache-dir", cache).exit_code == 3
    assert cli("--json", "cluster", "status", "--release", "1.0").exit_code == 2


# ------------------------------------------------------------------ config ----------------
def test_config_add_list_show(cli: Cli, tmp_path: Path) -> None:
    token = make_token(3600)  # minted here: the module's TOKEN ages as the suite runs
    token_file = tmp_path / "lab.jwt"
    token_file.write_text(token + "\n")
    added = cli("config", "add", "lab", "--url", cli.fake.url, "--token-file", str(token_file),
                "--user-name", "alice", "--no-verify")  # fmt: skip
    assert added.exit_code == 0
    assert "[profiles.lab]" in added.stdout
    assert cli("config", "add", "lab", "--url", "http://x").exit_code == 1  # exists
    assert cli("config", "add", "other").exit_code == 2  # nothing to store
    assert cli("config", "add", "two", "--token-file", "a", "--token-command", "b").exit_code == 2
    listed = cli.json("config", "list")
    assert listed["profiles"] == [
        {"name": "lab", "url": cli.fake.url, "token_file": str(token_file),
         "user_name": "alice", "verify": False}
    ]  # fmt: skip
    assert "lab" in cli("config", "list").stdout
    cli.env["SLURM_REST_URL"] = cli.env["SLURM_JWT"] = None
    shown = cli("--json", "--profile", "lab", "config", "show")
    data = json.loads(shown.stdout)
    assert (data["url"], data["user_name"], data["auth"], data["token"]) == (
        cli.fake.url, "alice", "TokenFile", "<redacted>",
    )  # fmt: skip
    assert 3500 < data["expires_in"] <= 3600
    assert data["verify"] is False
    assert token not in shown.stdout + cli("config", "show", "--profile", "lab").stdout
    assert len(cli.json("--profile", "lab", "nodes")) == 4  # the profile is usable


# ------------------------------------------------------------------ doctor ----------------
class _DateShift(httpx.BaseTransport):
    """Adds a ``Date`` header ``shift`` seconds off this machine's clock."""

    def __init__(self, inner: httpx.BaseTransport, shift: float) -> None:
        self.inner, self.shift = inner, shift

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.headers["Date"] = formatdate(time.time() + self.shift, usegmt=True)
        return response


def checks(result: Result) -> dict[str, str]:
    return {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}


def test_doctor_all_good_then_each_failure(tmp_path: Path) -> None:
    fake = FakeSlurmServer(api_version="v0.0.42", token=TOKEN)
    cli = Cli(fake, tmp_path)
    cli.transport = _DateShift(fake.transport(), 0)
    good = cli("--json", "doctor")
    assert good.exit_code == 0
    assert set(checks(good).values()) == {"ok"}
    table = cli("doctor")
    assert table.exit_code == 0
    assert "all good" in table.stdout
    assert "v0.0.42" in table.stdout

    cli.transport = _DateShift(fake.transport(), -600)
    skewed = cli("doctor")
    assert skewed.exit_code == 1
    assert "NTP" in skewed.stdout
    clock = json.loads(cli("--json", "doctor").stdout)["checks"][-1]
    assert clock["status"] == "fail"
    assert 598 <= int(clock["detail"].split("behind by ")[1].split()[0]) <= 602  # whole seconds

    cli.transport = fake.transport()
    cli.env["SLURM_JWT"] = make_token(-120)  # expired, and not the token the fake wants
    bad = cli("--json", "doctor")
    assert bad.exit_code == 1
    found = checks(bad)
    found.pop("versions")  # "skip" where /openapi/v3 wants a valid token, "ok" on the fake
    assert found == {"config": "ok", "reachable": "ok", "ready": "skip", "auth": "fail",
                     "token": "fail", "clock": "skip"}  # fmt: skip
    assert "scontrol token" in cli("doctor").stdout

    cli.env["SLURM_JWT"] = short = make_token(300)
    assert checks(cli("--json", "doctor"))["token"] == "warn"
    assert short not in cli("doctor").stdout


def test_doctor_ready_check_says_how_and_fails_while_the_server_errs(tmp_path: Path) -> None:
    for version, how in (("v0.0.45", "GET /readyz"), ("v0.0.42", "diag")):
        fake = FakeSlurmServer(api_version=version, token=TOKEN)
        cli = Cli(fake, tmp_path)
        ready = json.loads(cli("--json", "doctor").stdout)["checks"][3]
        assert (ready["name"], ready["status"], ready["detail"]) == (
            "ready",
            "ok",
            f"slurmrestd is ready ({how})",
        )
        fake.fail_next(status=503, path=r"/(readyz|diag)$")
        result = cli("--json", "doctor")
        assert result.exit_code == 1
        assert checks(result)["ready"] == "fail"


def test_doctor_unreachable_and_unconfigured(cli: Cli) -> None:
    cli.env["SLURM_REST_URL"] = "http://127.0.0.1:9"  # discard port: nothing listens
    result = cli("--json", "doctor", factory=False)
    assert result.exit_code == 1
    assert checks(result) == {"config": "ok", "reachable": "fail", "token": "ok", "clock": "skip"}
    assert "systemctl status slurmrestd" in cli("doctor", factory=False).stdout
    cli.env["SLURM_REST_URL"] = None
    assert checks(cli("--json", "doctor")) == {"config": "fail"}


def test_no_command_prints_a_token(cli: Cli, fake: FakeSlurmServer) -> None:
    job_id = str(cli.json("jobs", "submit", "--", "true")["job_id"])
    outputs = [cli(*args) for args in (
        ["jobs", "get", job_id], ["--json", "jobs", "list"], ["config", "show"],
        ["--json", "config", "show"], ["doctor"], ["--debug", "nodes"],
    )]  # fmt: skip
    for result in outputs:
        assert TOKEN not in result.stdout + result.stderr


# ------------------------------------------------------------------ what reaches a terminal --
def test_config_show_and_doctor_redact_credentials_in_the_url(cli: Cli) -> None:
    host = cli.fake.url.split("://", 1)[1]
    cli.env["SLURM_REST_URL"] = f"http://alice:pw-s3cret@{host}/?token=tok-s3cret"
    outputs = [cli(*args) for args in (
        ["config", "show"], ["--json", "config", "show"], ["doctor"], ["--json", "doctor"],
    )]  # fmt: skip
    for result in outputs:
        shown = result.stdout + result.stderr
        assert host in shown, shown
        assert "pw-s3cret" not in shown
        assert "tok-s3cret" not in shown


def test_jobs_list_neutralises_terminal_escapes_in_server_strings(cli: Cli) -> None:
    hostile = "x\x1b]0;pwned\x07y\u202eevil\x9b31m[link=https://evil.test]z"
    job_id = cli.json("jobs", "submit", "--hold", "--name", hostile, "--", "true")["job_id"]
    for args in (["jobs", "list"], ["jobs", "get", str(job_id)]):
        shown = cli(*args).stdout
        assert str(job_id) in shown
        for raw in ("\x1b", "\x07", "\u202e", "\x9b"):
            assert raw not in shown, (args, shown)
        assert "]0;pwned" in shown  # shown, as harmless text
        assert "[link=https://evil.test]" in shown  # not taken as rich markup
    assert cli.json("jobs", "get", str(job_id))["name"] == hostile  # JSON keeps the value


def test_event_lines_and_errors_neutralise_terminal_escapes() -> None:
    from datetime import datetime, timezone

    from rich.console import Console

    from slurm_core.cli._errors import report_error
    from slurm_core.cli._progress import _describe
    from slurm_core.watch import JobEvent, JobEventType

    hostile = "\x1b]8;;https://evil\x07\u2066x"  # an OSC 8 hyperlink and a bidi isolate
    now = datetime.now(timezone.utc)
    event = JobEvent(
        type=JobEventType.FAILED, job_id=7, old_state=None, new_state=None, time=now, reason=hostile
    )
    console = Console(file=io.StringIO(), width=200)
    console.print(_describe(event))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "job 7" in shown
    for raw in ("\x1b", "\u2066", "\x07"):
        assert raw not in shown
    assert "]8;;https://evil" in shown
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        report_error(None, RuntimeError("bad job name \x1b[2J\u202e"))
    assert "\x1b" not in err.getvalue()
    assert "\u202e" not in err.getvalue()


def test_submit_refuses_an_oversize_script_file_before_sending(
    cli: Cli, fake: FakeSlurmServer, tmp_path: Path
) -> None:
    script = tmp_path / "big.sh"
    script.write_bytes(b"#!/bin/bash\n" + b"#" * (5 * 1024 * 1024))
    line = one_error_line(cli("jobs", "submit", "--script", str(script)))
    assert line.startswith("error: script")
    assert cli.json("jobs", "list") == []  # nothing was sent


def test_audit_verify_says_verified_only_with_the_key(cli: Cli, tmp_path: Path) -> None:
    path, key_file = tmp_path / "audit.jsonl", tmp_path / "audit.key"
    key_file.write_bytes(b"k" * 32)
    AuditLog(path, key=b"k" * 32).record("scaling", partition="gpu", user="robot")
    assert (
        "verified, 1 line(s)"
        in cli("audit", "verify", str(path), "--key-file", str(key_file)).stdout
    )
    without_key = cli("audit", "verify", str(path))
    assert "verify it with its key" in without_key.stdout
    assert without_key.exit_code == 1
