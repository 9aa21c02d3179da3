"""``slurm/...`` op tags become job options, and a bad one is refused before any job is
submitted, with an error naming the tag (no cluster: the executor never gets to send)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableJob
from slurm_dagster import SlurmTagError
from slurm_dagster.executor_tags import step_options

from slurm_core import JobSpecError


def test_tags_become_builder_fields() -> None:
    options = step_options(
        {
            "slurm/partition": "gpu",
            "slurm/gpus": "1",
            "slurm/cpus_per_task": "4",
            "slurm/gres": "gpu:fake:1, nvme:1",
            "slurm/requeue": "true",
            "slurm/time_limit": "30:00",
            "dagster/priority": "3",  # not ours: ignored
        }
    )
    assert options == {
        "partition": "gpu",
        "gpus": 1,
        "cpus_per_task": 4,
        "gres": ["gpu:fake:1", "nvme:1"],
        "requeue": True,
        "time_limit": "30:00",
    }


@pytest.mark.parametrize(
    ("tags", "tag", "words"),
    [
        ({"slurm/gpu": "1"}, "slurm/gpu", "not a SLURM option tag"),
        ({"slurm/cpus_per_task": "four"}, "slurm/cpus_per_task", "whole number"),
        ({"slurm/time_limit": "soon"}, "slurm/time_limit", "soon"),
        ({"slurm/requeue": "maybe"}, "slurm/requeue", "true or false"),
        ({"slurm/script": "#!/bin/sh"}, "slurm/script", "not a SLURM option tag"),
        (
            {"slurm/memory_per_cpu": "1G", "slurm/memory_per_node": "4G"},
            "slurm/memory_per_node",
            "excludes memory_per_cpu",
        ),
    ],
)
def test_a_bad_tag_is_a_typed_error_naming_it(tags: dict[str, str], tag: str, words: str) -> None:
    with pytest.raises(SlurmTagError, match=words) as info:
        step_options(tags, "train")
    assert isinstance(info.value, JobSpecError)
    assert info.value.field == tag
    assert info.value.step == "train"


def test_a_run_with_a_bad_tag_fails_before_submitting(tmp_path: Path) -> None:
    jobs = str(Path(__file__).with_name("executor_jobs.py"))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = {
        # Nothing listens there: the run must fail on the tag before any request.
        "slurm": {"url": "http://127.0.0.1:9", "token_file": str(tmp_path / "none")},
        "workspace": str(tmp_path),
    }
    with DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        result = execute_job(
            ReconstructableJob.for_file(jobs, "badly_tagged"),
            instance=instance,
            run_config={"execution": {"config": config}},
            raise_on_error=False,
        )
        assert not result.success
        failure = [e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE"]
        error = failure[0].event_specific_data.error  # type: ignore[union-attr]
        text = str(error.message) + str(error.cause.message if error.cause else "")
        assert "slurm/gpus" in text
        assert "bad_tag" in text
        assert not list(tmp_path.glob("slurm-executor-*"))  # no call was even written
