"""``SlurmClient`` and ``MockSlurmClient`` both satisfy ``SlurmClientProtocol``, per mypy.

``_assignments`` below is the typing test proper: mypy checks this file (the first test
runs it on this file in strict mode and expects no error); the second test shows that the
same check rejects a client missing a method, so the first one can fail.
"""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest

from slurm_core import SlurmClient
from slurm_core._protocol import (
    AccountingProtocol,
    JobsProtocol,
    NodesProtocol,
    PartitionsProtocol,
    SlurmClientProtocol,
)
from slurm_core.jobs import JobBuilder
from slurm_core.testing import FakeSlurmServer, MockSlurmClient

mypy_api = pytest.importorskip("mypy.api")
HERE = Path(__file__)


def _assignments() -> list[SlurmClientProtocol]:
    fake = FakeSlurmServer()
    real: SlurmClientProtocol = SlurmClient(fake.url, transport=fake.transport())
    mock: SlurmClientProtocol = MockSlurmClient()
    return [real, mock]


def _mypy(*files: Path, cache: Path) -> tuple[str, int]:
    out, err, status = mypy_api.run(
        [*map(str, files), "--strict", "--cache-dir", str(cache), "--no-error-summary"]
    )
    return out + err, status


def test_both_clients_satisfy_the_protocol(tmp_path: Path) -> None:
    clients = _assignments()
    assert [type(c).__name__ for c in clients] == ["SlurmClient", "MockSlurmClient"]
    report, status = _mypy(HERE, cache=tmp_path / "cache")
    assert status == 0, report


def test_submit_takes_a_builder_class() -> None:
    class Preset(JobBuilder):
        pass

    builder = MockSlurmClient().jobs.submit(Preset)
    assert type(builder) is Preset


def test_the_check_rejects_an_incomplete_client(tmp_path: Path) -> None:
    source = tmp_path / "incomplete.py"
    source.write_text(
        textwrap.dedent(
            """
            from slurm_core._protocol import SlurmClientProtocol
            from slurm_core.testing import MockSlurmClient

            class NoDiag(MockSlurmClient):
                diag = None  # type: ignore[assignment]

            client: SlurmClientProtocol = NoDiag()
            """
        )
    )
    report, status = _mypy(source, cache=tmp_path / "cache")
    assert status != 0
    assert "SlurmClientProtocol" in report


@pytest.mark.parametrize(
    ("protocol", "resource"),
    [
        (JobsProtocol, MockSlurmClient().jobs),
        (NodesProtocol, MockSlurmClient().nodes),
        (PartitionsProtocol, MockSlurmClient().partitions),
        (AccountingProtocol, MockSlurmClient().accounting),
    ],
)
def test_mock_signatures_equal_the_protocol(protocol: type, resource: object) -> None:
    """Same parameter names, kinds and defaults as the protocol (beyond what mypy checks)."""
    for name, func in vars(protocol).items():
        if name.startswith("_") or not callable(func) or name == "submit":  # overloaded
            continue
        want = list(inspect.signature(func).parameters.values())[1:]
        have = list(inspect.signature(getattr(resource, name)).parameters.values())
        assert [(p.name, p.kind, p.default) for p in have] == [
            (p.name, p.kind, p.default) for p in want
        ], name
