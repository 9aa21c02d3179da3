"""Regression tests of security issue #15 (Dagster adapter): what another local user can put
on the shared filesystem is never loaded, unpickled or relayed, and contradictory TLS
settings are refused."""

import json
import os
import pickle
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    ExecuteInProcessResult,
    asset,
    materialize,
)
from dagster_helpers import in_thread, wait_for
from slurm_dagster import PipesSlurmClient, SlurmIOManager, SlurmResource, UntrustedFileError

from slurm_core import ConfigurationError
from slurm_core.jobs import JobBuilder
from slurm_core.testing import FakeSlurmServer

KEY = "0123456789abcdef0123456789abcdef-test-key"
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="simulates another user with chown")


class _Exploit:
    """A pickle that creates ``marker`` when unpickled (what an attacker would plant)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _error(result: ExecuteInProcessResult) -> str:
    failure = next(e for e in result.all_events if e.is_failure)
    assert failure.step_failure_data is not None
    return str(failure.step_failure_data.error)


def _io(base: Path, key: str | None = KEY) -> dict[str, object]:
    return {"io_manager": SlurmIOManager(base_dir=str(base), secret_key=key)}


@asset
def upstream() -> int:
    return 1


@asset
def downstream(upstream: int) -> int:
    return upstream + 1


# ---------------------------------------------------------------------- planted pickles
@pytest.mark.parametrize("signature", [None, "00" * 32], ids=["unsigned", "forged-signature"])
def test_a_planted_pickle_is_refused_and_never_unpickled(
    tmp_path: Path, signature: str | None
) -> None:
    base, marker = tmp_path / "base", tmp_path / "pwned"
    (base / "upstream").mkdir(parents=True)
    (base / "upstream" / "__all__.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    if signature:
        (base / "upstream" / "__all__.sig").write_text(signature + "\n")
    result = materialize(
        [upstream, downstream], resources=_io(base), selection=[downstream], raise_on_error=False
    )
    assert not marker.exists(), "the planted pickle ran"
    assert not result.success
    assert UntrustedFileError.__name__ in _error(result)


def test_a_pickle_replaced_after_it_was_signed_is_refused(tmp_path: Path) -> None:
    base, marker = tmp_path / "base", tmp_path / "pwned"
    assert materialize([upstream], resources=_io(base)).success
    (base / "upstream" / "__all__.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    result = materialize(
        [upstream, downstream], resources=_io(base), selection=[downstream], raise_on_error=False
    )
    assert not marker.exists()
    assert "signature does not match" in _error(result)


def test_without_a_key_nothing_is_unpickled_and_the_error_says_how_to_set_one(
    tmp_path: Path,
) -> None:
    base, marker = tmp_path / "base", tmp_path / "pwned"
    (base / "upstream").mkdir(parents=True)
    (base / "upstream" / "__all__.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    result = materialize(
        [upstream, downstream],
        resources=_io(base, key=None),
        selection=[downstream],
        raise_on_error=False,
    )
    assert not marker.exists()
    error = _error(result)
    assert ConfigurationError.__name__ in error
    assert "secret_key" in error


def test_the_key_is_in_no_file_metadata_or_repr(tmp_path: Path) -> None:
    base = tmp_path / "base"
    io = SlurmIOManager(base_dir=str(base), secret_key=KEY)
    result = materialize([upstream, downstream], resources={"io_manager": io})
    assert result.success
    assert KEY not in repr(io)
    for node in ("upstream", "downstream"):
        md = result.asset_materializations_for_node(node)[0].metadata
        assert KEY not in repr(md)
    for f in base.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes()
    assert (base / "upstream" / "__all__.sig").stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------------- planted pointers
def _pointer_assets(received: list[Path], data: Path) -> list[object]:
    @asset(name="model")
    def model_(context: AssetExecutionContext) -> Path:
        return data

    @asset
    def evaluated(model: Path) -> None:
        received.append(model)

    return [model_, evaluated]


def test_a_planted_pointer_is_refused(tmp_path: Path) -> None:
    base, secret = tmp_path / "base", tmp_path / "private.key"
    secret.write_text("not for the job")
    received: list[Path] = []
    assets = _pointer_assets(received, tmp_path / "unused")
    (base / "model").mkdir(parents=True)
    (base / "model" / "__all__.path").write_text(f"{secret}\n")
    result = materialize(assets, resources=_io(base), selection=["evaluated"], raise_on_error=False)
    assert received == []
    assert "no signature" in _error(result)


def test_a_pointer_rewritten_after_it_was_signed_is_refused(tmp_path: Path) -> None:
    base, data, secret = tmp_path / "base", tmp_path / "model.bin", tmp_path / "private.key"
    data.write_bytes(b"weights")
    secret.write_text("not for the job")
    received: list[Path] = []
    assets = _pointer_assets(received, data)
    assert materialize(assets, resources=_io(base)).success
    assert received == [data]
    (base / "model" / "__all__.path").write_text(f"{secret}\n")
    result = materialize(assets, resources=_io(base), selection=["evaluated"], raise_on_error=False)
    assert received == [data]
    assert "signature does not match" in _error(result)


@as_root
def test_a_pointer_whose_target_another_user_replaced_is_refused(tmp_path: Path) -> None:
    base, out = tmp_path / "base", tmp_path / "out"
    out.mkdir()
    data = out / "model.bin"
    data.write_bytes(b"weights")
    received: list[Path] = []
    assets = _pointer_assets(received, data)
    assert materialize(assets, resources=_io(base)).success
    data.unlink()  # another user swaps in their own file under the recorded name
    data.write_bytes(b"planted")
    os.chown(data, NOBODY, NOBODY)
    result = materialize(assets, resources=_io(base), selection=["evaluated"], raise_on_error=False)
    assert received == [data]  # only the first, legitimate load
    assert "changed owner or type" in _error(result)


def test_a_symlinked_pointer_file_is_refused(tmp_path: Path) -> None:
    base, data = tmp_path / "base", tmp_path / "model.bin"
    data.write_bytes(b"weights")
    received: list[Path] = []
    assets = _pointer_assets(received, data)
    assert materialize(assets, resources=_io(base)).success
    elsewhere = tmp_path / "elsewhere.path"
    (base / "model" / "__all__.path").rename(elsewhere)
    (base / "model" / "__all__.path").symlink_to(elsewhere)
    result = materialize(assets, resources=_io(base), selection=["evaluated"], raise_on_error=False)
    assert received == [data]
    assert "symbolic link" in _error(result)


# ---------------------------------------------------------------------- TLS
def test_verify_tls_false_with_a_ca_bundle_is_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    with pytest.raises(ConfigurationError, match="ca_bundle given with verify false"):
        SlurmResource(url="https://slurm:6820", token="t", verify_tls=False, ca_bundle=str(ca))


# ---------------------------------------------------------------------- Pipes session files
@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other local users can reach (tmp_path's parents are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dagster-pipes-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_nobody(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", script, "sh", *args],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
    )


def _pipes_run(
    slurm_fake: FakeSlurmServer,
    fake_slurm: SlurmResource,
    shared_dir: Path,
    meddle: Callable[[Path], None],
) -> tuple[ExecuteInProcessResult, DagsterInstance]:
    """Run a Pipes asset on the fake; ``meddle(session_dir)`` runs once the job was released,
    before the job (played here) reports."""

    @asset
    def scored(context: AssetExecutionContext, pipes_slurm: PipesSlurmClient):  # type: ignore[no-untyped-def]
        job = JobBuilder().script("#!/bin/bash\npython3 score.py\n")
        return pipes_slurm.run(context=context, job=job, extras={"rows": 7}).get_results()

    def job_side() -> None:
        wait_for(lambda: any(not j.hold for j in slurm_fake.jobs()))
        [job] = slurm_fake.jobs()
        slurm_fake.advance(1)  # RUNNING
        try:
            assert job.standard_output is not None
            meddle(Path(job.standard_output).parent)
            # What open_dagster_pipes() writes (whose context is one per process).
            with (Path(job.standard_output).parent / "messages.jsonl").open("a") as fh:
                for method, params in (("opened", {}), ("log", JOB_LOG), ("closed", {})):
                    fh.write(json.dumps({**PIPES_VERSION, "method": method, "params": params}))
                    fh.write("\n")
        finally:
            slurm_fake.advance(60)  # COMPLETED, whatever happened (else the step waits on)

    pipes = PipesSlurmClient(slurm=fake_slurm, shared_dir=str(shared_dir / "pipes"))
    instance = DagsterInstance.ephemeral()
    with in_thread(job_side):
        result = materialize(
            [scored], resources={"pipes_slurm": pipes}, instance=instance, raise_on_error=False
        )
    return result, instance


PIPES_VERSION = {"__dagster_pipes_version": "0.1"}
JOB_LOG = {"message": "hello from the job", "level": "info"}
FORGED = json.dumps(
    {
        **PIPES_VERSION,
        "method": "log",
        "params": {"message": "FORGED by another user", "level": "info"},
    }
)


@as_root
def test_another_user_cannot_write_pipes_messages(
    slurm_fake: FakeSlurmServer, fake_slurm: SlurmResource, shared_dir: Path
) -> None:
    attempts: list[subprocess.CompletedProcess[str]] = []
    modes: dict[str, int] = {}

    def forge(session_dir: Path) -> None:
        modes["dir"] = session_dir.stat().st_mode & 0o7777
        modes["messages"] = (session_dir / "messages.jsonl").stat().st_mode & 0o7777
        attempts.append(
            _as_nobody('printf "%s\\n" "$1" >> "$2"', FORGED, str(session_dir / "messages.jsonl"))
        )

    result, instance = _pipes_run(slurm_fake, fake_slurm, shared_dir, forge)
    assert result.success
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("hello from the job" in m for m in logs)  # the job itself still writes
    assert not any("FORGED" in m for m in logs), "another user's message reached Dagster"
    assert attempts[0].returncode != 0
    assert modes["dir"] & 0o077 == 0
    assert modes["messages"] & 0o077 == 0


def _symlink_to_a_private_file(path: Path) -> None:
    private = path.parent.parent / "private.txt"  # the run directory: not the job's
    private.write_text("SECRET of the Dagster host\n")
    path.symlink_to(private)
    os.lchown(path, NOBODY, NOBODY)


def _file_of_another_user(path: Path) -> None:
    path.write_text("SECRET planted lines\n")
    os.chown(path, NOBODY, NOBODY)


@as_root
@pytest.mark.parametrize(
    ("name", "plant", "reason"),
    [
        ("stdout.log", _symlink_to_a_private_file, "symbolic link"),
        ("stderr.log", _file_of_another_user, "owned by uid 65534"),
    ],
    ids=["symlinked-stdout", "foreign-stderr"],
)
def test_a_log_file_the_job_did_not_write_is_not_copied_into_the_compute_logs(
    slurm_fake: FakeSlurmServer,
    fake_slurm: SlurmResource,
    shared_dir: Path,
    capfd: pytest.CaptureFixture[str],
    name: str,
    plant: Callable[[Path], None],
    reason: str,
) -> None:
    result, instance = _pipes_run(
        slurm_fake, fake_slurm, shared_dir, lambda session: plant(session / name)
    )
    assert result.success
    captured = capfd.readouterr()
    assert "SECRET" not in captured.out + captured.err
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(f"not copying {name}" in m and reason in m for m in logs)
