"""Both blocks: Prefect's standard block checks, registration, SlurmJob's spec handling."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import pytest
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.plugins import load_prefect_collections
from prefect.settings import PREFECT_API_URL
from prefect.testing.standard_test_suites.blocks import BlockStandardTestSuite
from prefect.utilities.dispatch import get_registry_for_type
from pydantic import ValidationError
from slurm_prefect import SlurmCredentials, SlurmJob
from slurm_prefect.credentials import DOCS_URL, LOGO_URL

from slurm_core.jobs import JobBuilder, JobSpec

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"
CREDENTIALS = SlurmCredentials(url="http://slurm:6820", token=TOKEN, user_name="alice")


@pytest.mark.parametrize("block_class", [SlurmCredentials, SlurmJob])
class TestStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_class: type[Block]) -> type[Block]:
        return block_class


def test_entry_point_names_the_package() -> None:
    loaded = load_prefect_collections()["slurm_prefect"]
    assert isinstance(loaded, ModuleType)
    assert loaded.__name__ == "slurm_prefect"


def test_prefect_block_register_finds_both_blocks() -> None:
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    cli = [sys.executable, "-m", "prefect", "block", "register", "-m", "slurm_prefect"]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as prefect:
        for slug in ("slurm-credentials", "slurm-job"):
            block_type = prefect.read_block_type_by_slug(slug)
            schema = prefect.get_most_recent_block_schema_for_block_type(block_type.id)
            assert schema is not None
            assert str(block_type.logo_url) == LOGO_URL
            assert str(block_type.documentation_url) == DOCS_URL
            example = block_type.code_example or ""
            assert example.strip().startswith("```python"), example
            assert example.strip().endswith("```"), example
        # No stray type for the generic parent (pydantic's JobBlock[SlurmJobResult]).
        slugs = {t.slug for t in prefect.read_block_types()}
    assert not {s for s in slugs if "slurmjobresult" in s or "[" in s}, slugs
    assert not [k for k in get_registry_for_type(Block) or {} if "slurmjobresult" in k]


def test_the_ui_links_are_this_projects_docs_and_logo() -> None:
    """The Prefect UI's documentation link and logo are files of this project's repository
    (pyproject's [project.urls]), not placeholders: each names a file that exists here."""
    root = Path(__file__).parents[2]
    urls = tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]
    repository = urls["Repository"].rstrip("/")
    owner_and_name = repository.removeprefix("https://github.com/")
    docs = DOCS_URL.removeprefix(f"{repository}/blob/main/")
    logo = LOGO_URL.removeprefix(f"https://raw.githubusercontent.com/{owner_and_name}/main/")
    assert DOCS_URL.startswith(f"{repository}/blob/main/")
    assert (root / docs).is_file(), DOCS_URL
    assert LOGO_URL.startswith(f"https://raw.githubusercontent.com/{owner_and_name}/main/")
    assert (root / logo).is_file(), LOGO_URL
    # What Prefect's block standards ask of a logo (test_has_a_valid_image, which needs
    # Pillow and the network): a square raster image, 45 to 1000 pixels wide.
    data = (root / logo).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    assert width == height
    assert 45 < width < 1000


# ----------------------------------------------------------------------- SlurmJob ------------
def _job(**fields: Any) -> SlurmJob:
    return SlurmJob(**{"credentials": CREDENTIALS, "command": ["hostname"], **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"command": None}, "exactly one of script and command"),
        ({"script": "#!/bin/bash\ntrue"}, "exactly one of script and command"),
        ({"command": None, "script": "echo no shebang"}, "'#!' line"),
        ({"options": {"colour": "red"}}, "unknown JobSpec fields: colour"),
        ({"options": {"partition": "x"}}, "with the block's own fields"),
        ({"memory_per_node": "lots"}, "memory_per_node"),
        ({"time_limit": "forever"}, "time_limit"),
        ({"options": {"dependency": "afterok:banana"}}, "dependency"),
    ],
)
def test_invalid_jobs_are_refused_naming_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _job(**fields)


def test_to_spec_translates_every_field() -> None:
    spec = _job(
        command=["python", "train.py", "--name", "run 1"],
        job_name="train",
        partition="gpu",
        time_limit="1:30:00",
        cpus_per_task=2,
        memory_per_node="2G",
        gpus="fake:2",
        environment={"A": "1"},
        output="/shared/%j.out",
        options={"constraint": "big", "dependency": "afterok:7"},
    ).to_spec()
    assert spec.script == "#!/bin/bash\nexec python train.py --name 'run 1'\n"
    assert (spec.name, spec.partition, spec.cpus_per_task) == ("train", "gpu", 2)
    assert spec.time_limit == timedelta(minutes=90)
    assert spec.memory_per_node == 2048
    assert spec.gpus is not None
    assert (spec.gpus.type, spec.gpus.count) == ("fake", 2)
    assert spec.environment == {"A": "1"}
    assert spec.output == "/shared/%j.out"
    assert spec.constraint == "big"
    assert str(spec.dependency) == "afterok:7"


def test_a_stored_spec_round_trips_through_the_block() -> None:
    spec = (
        JobBuilder()
        .script("#!/bin/bash\necho hi\n")
        .name("hi")
        .partition("debug")
        .memory_per_cpu("512M")
        .gpus(1, type="fake")
        .time_limit("10:00")
        .environment({"X": "y"})
        .depends_on(afterok=[1, 2])
        .exclusive()
        .to_spec()
    )
    block = SlurmJob.from_spec(spec, CREDENTIALS)
    assert block.to_spec() == spec
    assert SlurmJob.model_validate(block.model_dump()).to_spec() == spec
    assert JobSpec.model_validate_json(block.to_spec().model_dump_json()) == spec


def test_secret_environment_reaches_the_job_but_not_the_block_dump() -> None:
    job = _job(environment={"PLAIN": "1"}, secret_environment={"API_KEY": "s3cret-value"})
    assert job.to_spec().environment == {"PLAIN": "1", "API_KEY": "s3cret-value"}
    assert "s3cret-value" not in job.model_dump_json()
    assert "s3cret-value" not in repr(job)


@pytest.mark.anyio
async def test_job_block_saves_with_nested_credentials_and_hidden_secrets() -> None:
    job = _job(job_name="saved", secret_environment={"API_KEY": "s3cret-value"})
    await job.save("saved-job", overwrite=True)
    async with get_client() as prefect:
        doc = await prefect.read_block_document_by_name(
            "saved-job", block_type_slug="slurm-job", include_secrets=False
        )
        text = doc.model_dump_json()
    assert "s3cret-value" not in text
    assert TOKEN not in text

    loaded = await SlurmJob.load("saved-job")
    assert loaded.to_spec() == job.to_spec()
    assert loaded.credentials.token is not None
    assert loaded.credentials.token.get_secret_value() == TOKEN
