"""``slurm-client sbatch``: the sbatch drop-in, against the fake slurmrestd (v0.0.42)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import TOKEN, Cli, one_error_line

from slurm_core.testing import FakeSlurmServer

SCRIPT = (
    "#!/bin/bash\n#SBATCH --job-name=from-script --time=00:07:00\n#SBATCH --mem=123M\nhostname\n"
)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)  # sbatch's default --chdir: the submitting directory
    return Cli(FakeSlurmServer(api_version="v0.0.42"), tmp_path)


def test_submits_what_the_directives_say_and_prints_like_sbatch(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(SCRIPT)
    result = cli("sbatch", "-p", "gpu", "job.sh", "first", "--second")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Submitted batch job ")
    job_id = int(result.stdout.split()[-1])
    job = cli.fake.job(job_id)
    assert (job.name, job.partition, job.memory_per_node) == ("from-script", "gpu", 123)
    assert job.time_limit is not None
    assert job.time_limit.total_seconds() == 7 * 60
    assert job.working_directory == str(tmp_path)
    assert cli.fake.script(job_id) == SCRIPT
    environment = cli.fake.environment(job_id)
    assert environment["SLURM_SUBMIT_DIR"] == str(tmp_path)
    assert "SLURM_JWT" not in environment
    assert TOKEN not in json.dumps(environment)


def test_parsable_prints_the_id_only(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(SCRIPT)
    result = cli("sbatch", "--parsable", "job.sh")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().isdigit()


def test_wrap_submits_the_command_as_a_sh_script(cli: Cli) -> None:
    result = cli("sbatch", "--parsable", "--wrap", "echo hi; hostname", "-t", "5")
    assert result.exit_code == 0, result.stderr
    job_id = int(result.stdout)
    assert cli.fake.script(job_id).startswith("#!/bin/sh\n")
    assert "\necho hi; hostname\n" in cli.fake.script(job_id)
    assert cli.fake.job(job_id).time_limit is not None


def test_test_only_prints_the_spec_and_sends_nothing(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(SCRIPT)
    result = cli("sbatch", "--test-only", "--qos=high", "job.sh")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert (shown["name"], shown["qos"], shown["memory_per_node"]) == ("from-script", "high", 123)
    assert "SLURM_JWT" not in shown["environment"]  # variable names only, no values
    assert TOKEN not in result.stdout
    assert cli.fake.jobs() == []


def test_a_bad_directive_is_one_error_line_naming_option_and_line(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(SCRIPT.replace("123M", "123parsecs"))
    line = one_error_line(cli("sbatch", "job.sh"))
    assert line.startswith("error: --mem: line 3")
    assert cli.fake.jobs() == []
    (tmp_path / "job.sh").write_text(SCRIPT)
    line = one_error_line(cli("sbatch", "--nodelist=n1", "job.sh"))
    assert "--nodelist" in line
    assert "not translated" in line
    assert "not permitted with --wrap" in one_error_line(cli("sbatch", "--wrap=true", "job.sh"))


def test_the_script_from_standard_input(cli: Cli) -> None:
    from typer.testing import CliRunner

    from slurm_core.cli._app import app
    from slurm_core.cli._state import CliState

    result = CliRunner().invoke(
        app, ["sbatch", "--parsable"], input=SCRIPT, obj=CliState(client_factory=cli.factory),
        env=cli.env,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert cli.fake.job(int(result.stdout)).name == "from-script"


def test_jobs_submit_names_the_directives_it_ignores(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text(SCRIPT)
    result = cli("jobs", "submit", "--script", "job.sh")
    assert result.exit_code == 0, result.stderr
    assert "warning: slurmrestd ignores #SBATCH directives" in result.stderr
    assert "line 3: #SBATCH --mem=123M" in result.stderr
    assert "Traceback" not in result.stderr
    assert "UserWarning" not in result.stderr
