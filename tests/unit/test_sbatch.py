"""``JobSpec.from_sbatch``: a batch script read the way ``sbatch`` reads it.

The rules come from SchedMD's ``src/sbatch/opt.c`` and ``src/common/slurm_opt.c``; the
integration test ``tests/integration/test_sbatch_parity.py`` holds the same corpus against
the real ``sbatch`` on 22.05, 24.11 and 26.05.
"""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import pytest

from slurm_core import JobSpecError, UnsupportedOperationError
from slurm_core._versions import get_adapter
from slurm_core._versions._submit import SCRIPT_ARGS_OPERATION, submit_body
from slurm_core.jobs import Exclusive, GresRequest, JobSpec, MailType
from slurm_core.jobs._sbatch import ignored_directives
from slurm_core.jobs._sbatch_values import export_environment, sbatch_time

CWD = "/home/alice/run"


def read(script: str, *args: str, env: dict[str, str] | None = None) -> JobSpec:
    return JobSpec.from_sbatch(script, list(args), environ=env or {}, cwd=CWD)


def error(script: str, *args: str, env: dict[str, str] | None = None) -> JobSpecError:
    with pytest.raises(JobSpecError) as caught:
        read(script, *args, env=env)
    return caught.value


# ------------------------------------------------------------------ the directive block ----
def test_directives_end_at_the_first_command_as_with_sbatch() -> None:
    spec = read(
        "#!/bin/bash\n"
        "\n"
        "# a comment between directives does not end the block\n"
        "#SBATCH --job-name=first\n"
        "   # an indented comment neither\n"
        "  #SBATCH --partition=indented-is-a-comment\n"
        "#SLURM --account=old-magic-word\n"
        "echo start\n"
        "#SBATCH --qos=after-the-first-command\n"
    )
    assert spec.name == "first"
    assert spec.account == "old-magic-word"
    assert spec.partition is None
    assert spec.qos is None


def test_long_and_short_options_with_equals_space_or_attached() -> None:
    spec = read(
        "#!/bin/sh\n"
        "#SBATCH --time 10 -p debug -N2-3 -n4 -c 2\n"
        "#SBATCH --mem-per-cpu=500 --ntasks-per-node 2 -J 'my job' -H\n"
        "#SBATCH --part=gpu  # an unambiguous prefix, then a comment\n"
        "true\n"
    )
    assert spec.time_limit == timedelta(minutes=10)
    assert spec.partition == "gpu"  # the later directive wins
    assert (spec.nodes, spec.max_nodes, spec.ntasks, spec.cpus_per_task) == (2, 3, 4, 2)
    assert spec.memory_per_cpu == 500  # sbatch's default unit is MiB
    assert spec.ntasks_per_node == 2
    assert spec.name == "my job"
    assert spec.hold is True


def test_quotes_escapes_and_hash_inside_quotes() -> None:
    spec = read(
        '#!/bin/sh\n#SBATCH --comment="a # inside" --job-name=two\\ words --output=o_%j.txt\n'
    )
    assert spec.comment == "a # inside"
    assert spec.name == "two words"
    assert spec.output == f"{CWD}/o_%j.txt"


def test_every_covered_family() -> None:
    spec = read(
        "#!/bin/bash\n"
        "#SBATCH --account=proj --qos=normal --time-min=5 --time=1-00:00:00\n"
        "#SBATCH --gres=gpu:fake:1 --gpus=2 --gpus-per-task=1 --cpus-per-gpu=3\n"
        "#SBATCH --mem-per-gpu=2G --constraint=a100&ib --exclusive=user\n"
        "#SBATCH --array=0-15:4%2 --dependency=afterok:11:12 --error=e.txt --input=/dev/null\n"
        "#SBATCH --chdir=sub --mail-type=END,FAIL --mail-user=a@b.c --signal=B:USR1@90\n"
        "#SBATCH --no-requeue --begin=2030-01-02T03:04:05 --deadline=2030-02-01\n"
        "#SBATCH --licenses=matlab:2 --reservation=maint --nice=-5 --wckey=w1\n"
    )
    assert spec.account == "proj"
    assert spec.qos == "normal"
    assert spec.time_min == timedelta(minutes=5)
    assert spec.time_limit == timedelta(days=1)
    assert spec.gres == (GresRequest(name="gpu", type="fake", count=1),)
    assert spec.gpus == GresRequest(name="gpu", count=2)
    assert spec.gpus_per_task == GresRequest(name="gpu", count=1)
    assert spec.cpus_per_gpu == 3
    assert spec.memory_per_gpu == 2048
    assert spec.constraint == "a100&ib"
    assert spec.exclusive is Exclusive.USER
    assert str(spec.array) == "0-15:4%2"
    assert str(spec.dependency) == "afterok:11:12"
    assert spec.error == f"{CWD}/sub/e.txt"  # against --chdir, as sbatch's _fullpath
    assert spec.input == "/dev/null"
    assert spec.working_directory == f"{CWD}/sub"  # relative to the submitting directory
    assert spec.mail_types == (MailType.END, MailType.FAIL)
    assert spec.mail_user == "a@b.c"
    assert str(spec.signal) == "B:USR1@90"
    assert spec.requeue is False
    local = datetime(2030, 1, 2, 3, 4, 5).astimezone()  # the submitting host's time zone
    assert spec.begin == local.astimezone(timezone.utc)
    assert spec.deadline == datetime(2030, 2, 1).astimezone().astimezone(timezone.utc)
    assert spec.licenses == "matlab:2"
    assert spec.reservation == "maint"
    assert spec.nice == -5
    assert spec.wckey == "w1"


def test_defaults_chdir_is_the_submitting_directory_and_nice_is_100() -> None:
    spec = read("#!/bin/sh\n#SBATCH --nice --exclusive\ntrue\n")
    assert spec.working_directory == CWD
    assert spec.nice == 100
    assert spec.exclusive is Exclusive.NODE


def test_stream_paths_are_absolute_and_stdin_is_dev_null_as_with_sbatch() -> None:
    spec = read("#!/bin/sh\n#SBATCH -o out/%j.log -e /abs/err.log\n")
    assert (spec.output, spec.error, spec.input) == (
        f"{CWD}/out/%j.log",
        "/abs/err.log",
        "/dev/null",
    )


def test_memory_units_as_str_to_mbytes() -> None:
    assert read("#!/bin/sh\n#SBATCH --mem=4000\n").memory_per_node == 4000
    assert read("#!/bin/sh\n#SBATCH --mem=4GB\n").memory_per_node == 4096
    assert read("#!/bin/sh\n#SBATCH --mem=1025k\n").memory_per_node == 2  # rounds up
    assert read("#!/bin/sh\n#SBATCH --mem=1T\n").memory_per_node == 1024**2


# ------------------------------------------------------------------------- precedence -----
SCRIPT = "#!/bin/sh\n#SBATCH --partition=script --time=5 --job-name=script\ntrue\n"


def test_variables_override_directives_and_the_command_line_overrides_both() -> None:
    env = {"SBATCH_PARTITION": "env", "SBATCH_TIMELIMIT": "6"}
    spec = read(SCRIPT, "-t", "7", env=env)
    assert (spec.partition, spec.time_limit, spec.name) == ("env", timedelta(minutes=7), "script")


def test_memory_options_exclude_each_other_but_a_variable_yields() -> None:
    spec = read("#!/bin/sh\n#SBATCH --mem=1G\n", env={"SBATCH_MEM_PER_CPU": "100"})
    assert (spec.memory_per_node, spec.memory_per_cpu) == (1024, None)
    exc = error("#!/bin/sh\n#SBATCH --mem=1G\n", "--mem-per-cpu=100")
    assert "mutually exclusive" in exc.message


def test_requeue_and_no_requeue_the_later_wins() -> None:
    assert read("#!/bin/sh\n#SBATCH --requeue\n", "--no-requeue").requeue is False
    assert read("#!/bin/sh\n#SBATCH --no-requeue --requeue\n").requeue is True


# ----------------------------------------------------------- arguments and het jobs -------
def test_words_after_the_options_are_the_scripts_arguments() -> None:
    spec = read("#!/bin/sh\necho $1\n", "-p", "debug", "in.txt", "-v")
    assert spec.partition == "debug"
    assert spec.argv == ("script", "in.txt", "-v")
    assert read("#!/bin/sh\ntrue\n", "--", "-x").argv == ("script", "-x")


def test_hetjob_directives_and_colons_make_components() -> None:
    spec = read(
        "#!/bin/sh\n#SBATCH -n1 -p cpu\n#SBATCH hetjob\n#SBATCH -n2 -p gpu --gpus=1\nsrun x\n",
        "-t5",
        ":",
        "-t6",
        env={"SBATCH_ACCOUNT": "both"},
    )
    assert (spec.ntasks, spec.partition, spec.time_limit) == (1, "cpu", timedelta(minutes=5))
    (second,) = spec.het
    assert (second.ntasks, second.partition, second.time_limit) == (2, "gpu", timedelta(minutes=6))
    assert spec.account == second.account == "both"
    body = submit_body(get_adapter("v0.0.42"), [spec.replace(submission_key="k-1")])
    assert [j["tasks"] for j in body["jobs"]] == [1, 2]
    assert all("k-1" in j["comment"] for j in body["jobs"])


def test_a_spec_with_components_survives_json() -> None:
    spec = read("#!/bin/sh\n#SBATCH -n1\n#SBATCH packjob\n#SBATCH -n2\n")
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


# ------------------------------------------------------------------------ --export -------
def test_export_default_sends_the_environment_but_never_the_token() -> None:
    env = {"HOME": "/h", "SLURM_JWT": "secret", "SLURM_CONF": "/c"}
    spec = read("#!/bin/sh\ntrue\n", env=env)
    assert spec.environment["HOME"] == "/h"
    assert "SLURM_JWT" not in spec.environment
    assert spec.environment["SLURM_SUBMIT_DIR"] == CWD
    assert "secret" not in repr(read("#!/bin/sh\n#SBATCH --export=ALL\n", env=env))


def test_export_none_and_lists() -> None:
    env = {"HOME": "/h", "A": "1", "SLURM_X": "s"}
    assert export_environment("--export", "NONE", env) == {
        "SLURM_X": "s",
        "SLURM_GET_USER_ENV": "1",
    }
    assert export_environment("--export", "NIL", env) == {"SLURM_X": "s"}
    listed = export_environment("--export", "A,B=two,'C=x,y'", env)
    assert listed == {"A": "1", "B": "two", "C": "x,y", "SLURM_X": "s", "SLURM_GET_USER_ENV": "1"}
    assert export_environment("--export", "ALL,A=9", env)["HOME"] == "/h"


# ---------------------------------------------------------------------- time words -------
NOW = datetime(2030, 6, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now+90", NOW + timedelta(seconds=90)),
        ("now+1hour", NOW + timedelta(hours=1)),
        ("now+2days", NOW + timedelta(days=2)),
        ("16:00", NOW.replace(hour=16, minute=0)),
        ("10:00", NOW.replace(day=2, hour=10, minute=0)),  # passed today: tomorrow
        ("teatime", NOW.replace(hour=16, minute=0)),
        ("tomorrow", NOW.replace(day=2, hour=0, minute=0)),
        ("2030-07-04T08:15", NOW.replace(month=7, day=4, hour=8, minute=15)),
        ("07/04", NOW.replace(month=7, day=4, hour=0, minute=0)),
        ("uts1900000000", datetime.fromtimestamp(1900000000, NOW.tzinfo)),
    ],
)
def test_slurm_time_words(text: str, expected: datetime) -> None:
    assert sbatch_time("--begin", text, NOW) == expected


# ------------------------------------------------------------------------ bad input ------
@pytest.mark.parametrize(
    ("line", "option", "words"),
    [
        ("#SBATCH --bogus=1", "--bogus", "unknown"),
        ("#SBATCH --gpu=1", "--gpu", "ambiguous"),
        ("#SBATCH --mem=4X", "--mem", "not a size"),
        ("#SBATCH --mem-per-cpu=1.5G", "--mem-per-cpu", "not a size"),
        ("#SBATCH --time=1:xx", "--time", "not a time"),
        ("#SBATCH --begin=now+3fortnights", "--begin", "unknown unit"),
        ("#SBATCH -N two", "--nodes", "node count"),
        ("#SBATCH --ntasks=-1", "--ntasks", "whole number"),
        ("#SBATCH --nodelist=node1", "--nodelist", "not translated"),
        ("#SBATCH --uid=0", "--uid", "cannot be expressed over"),
        ("#SBATCH --wrap=hostname", "--wrap", "command-line behaviour"),
        ("#SBATCH --exclusive=topo", "--exclusive", "exclusive, user and mcs"),
        ("#SBATCH --mail-type=SOMETIMES", "--mail-type", "unknown mail type"),
        ("#SBATCH hostname", "hostname", "not an option"),
        ("#SBATCH --job-name", "--job-name", "needs a value"),
        ("#SBATCH --hold=yes", "--hold", "takes no value"),
    ],
)
def test_a_bad_directive_names_the_option_and_its_line(line: str, option: str, words: str) -> None:
    exc = error(f"#!/bin/bash\n#SBATCH -J ok\n\n{line}\necho\n")
    assert exc.line == 4, exc
    assert exc.field == option, exc
    assert "line 4" in str(exc), exc
    assert words in str(exc), exc
    assert pickle.loads(pickle.dumps(exc)).line == 4  # noqa: S301 - our own bytes


def test_a_bad_variable_or_argument_is_named() -> None:
    exc = error("#!/bin/sh\ntrue\n", env={"SBATCH_TIMELIMIT": "soon"})
    assert exc.field == "--time"
    assert "SBATCH_TIMELIMIT" in str(exc)
    assert exc.line is None
    exc = error("#!/bin/sh\ntrue\n", "--mem=lots")
    assert exc.field == "--mem"
    assert "'--mem=lots'" in str(exc)
    exc = error("#!/bin/sh\n#SBATCH --comment='open\n")
    assert exc.line == 2
    assert "unmatched" in str(exc)


def test_a_hostile_script_stays_cheap() -> None:
    exc = error("#!/bin/sh\n" + "#SBATCH -H -H -H -H\n" * 2000)
    assert exc.line == 1002
    assert "more than 1000 directive lines" in exc.message
    exc = error("#!/bin/sh\n" + "#SBATCH hetjob\n" * 200)
    assert "directive lines" in exc.message
    exc = error("#!/bin/sh\n#SBATCH" + " -H" * 100_000 + "\n")
    assert "too many directive words" in exc.message


def test_a_script_without_shebang_is_refused_like_sbatch() -> None:
    assert error("echo hi\n").field == "script"


def test_a_path_is_read_and_becomes_argv0(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "job.sh"
    path.write_text("#!/bin/sh\n#SBATCH -J from-file\ntrue\n")
    spec = JobSpec.from_sbatch(path, ["x"], environ={}, cwd=CWD)
    assert spec.name == "from-file"
    assert spec.argv == (str(path), "x")
    missing = Path(str(tmp_path)) / "missing.sh"
    with pytest.raises(JobSpecError, match="cannot read"):
        JobSpec.from_sbatch(missing, environ={})


# ---------------------------------------------------------------- what the builder warns ---
def test_ignored_directives_are_those_of_the_block() -> None:
    script = "#!/bin/sh\n#SBATCH --mem=1G\n  #SBATCH -p x\n#SLURM -J y\nrun\n#SBATCH -t 1\n"
    assert ignored_directives(script) == [(2, "#SBATCH --mem=1G"), (4, "#SLURM -J y")]


# --------------------------------------------------------------- translation per version ---
def test_new_fields_on_the_wire() -> None:
    spec = read(
        "#!/bin/sh\n#SBATCH --time-min=5 --gpus-per-node=2 --gpus-per-task=1 --cpus-per-gpu=4\n"
        "#SBATCH --mem-per-gpu=1G --input=in --licenses=l:1 --reservation=r --wckey=w\n",
        "a1",
    ).replace(submission_key="k-1")
    new = submit_body(get_adapter("v0.0.42"), [spec])["job"]
    assert new["time_minimum"] == {"set": True, "infinite": False, "number": 5}
    assert new["tres_per_node"] == "gres/gpu:2"
    assert new["tres_per_task"] == "gres/gpu=1"
    assert new["cpus_per_tres"] == "gres/gpu:4"
    assert new["memory_per_tres"] == "gres/gpu:1024"
    assert new["standard_input"] == f"{CWD}/in"
    assert (new["licenses"], new["reservation"]) == ("l:1", "r")
    assert new["wckey"] == "w"
    assert new["argv"] == ["script", "a1"]
    with pytest.raises(UnsupportedOperationError) as refused:  # 22.05's slurmrestd crashes
        submit_body(get_adapter("v0.0.38"), [spec])
    assert refused.value.operation == SCRIPT_ARGS_OPERATION
    old = submit_body(get_adapter("v0.0.38"), [spec.replace(argv=spec.argv[:1])])["job"]
    assert "argv" not in old
    assert (old["time_minimum"], old["gpus_per_node"], old["gpus_per_task"]) == (5, "2", "1")
    assert (old["cpus_per_gpu"], old["memory_per_gpu"]) == ("4", 1024)


def test_the_builder_warns_about_directives_it_would_ignore() -> None:
    from slurm_core.jobs import IgnoredDirectivesWarning, JobBuilder

    script = "#!/bin/bash\n#SBATCH --job-name=x\n#SBATCH --mem=123M\nhostname\n#SBATCH -t 5\n"
    with pytest.warns(IgnoredDirectivesWarning) as caught:
        JobBuilder().script(script)
    (warning,) = caught
    assert isinstance(warning.message, IgnoredDirectivesWarning)
    assert warning.message.directives == [(2, "#SBATCH --job-name=x"), (3, "#SBATCH --mem=123M")]
    assert "line 3: #SBATCH --mem=123M" in str(warning.message)
    assert warning.filename == __file__  # points at the caller
    with pytest.raises(JobSpecError) as strict:
        JobBuilder().script(script, strict=True)
    assert strict.value.line == 2
    assert "--mem=123M" in str(strict.value)


def test_no_warning_without_directives_or_when_they_are_read(
    recwarn: pytest.WarningsRecorder,
) -> None:
    from slurm_core.jobs import JobBuilder

    JobBuilder().script("#!/bin/bash\n# SBATCH is only mentioned\nhostname\n")
    JobBuilder().command(["hostname"])
    JobBuilder.from_spec(read("#!/bin/bash\n#SBATCH --mem=1G\nhostname\n")).to_spec()
    assert not recwarn.list


def test_the_mock_client_reads_scripts_like_the_real_one() -> None:
    from slurm_core.testing.mock import MockSlurmClient

    mock = MockSlurmClient()
    mock.expect_job_submit().with_spec(name="from-script", memory_per_node=123).return_job(7)
    got = mock.jobs.submit_script("#!/bin/sh\n#SBATCH -J from-script --mem=123\ntrue\n", environ={})
    assert got.job_id == 7
    mock.verify()
