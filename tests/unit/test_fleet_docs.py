"""docs/concepts/fleet.md runs as written, against a real redis-server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from slurm_core.testing.redis import LocalRedis
from slurm_core.watch._hub import _fleets

DOC = Path(__file__).resolve().parents[2] / "docs" / "concepts" / "fleet.md"


def test_fleet_md_runs_as_written(
    redis_server: LocalRedis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("SLURM_REST_URL", "http://127.0.0.1:6820")
    monkeypatch.setenv("SLURM_USER_NAME", "alice")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".slurm").mkdir()
    (tmp_path / ".slurm" / "jwt").write_text("a-token\n")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 3
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102  (our own page)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"RedisFleet(redis='127.0.0.1:{redis_server.port}', interval=2.0, alone)"
    # The setting: the client's watch shares through the process's fleet for that Redis.
    assert out[1] == f"RedisFleet(redis='127.0.0.1:{redis_server.port}', interval=1.0, alone)"
    for fleet in list(_fleets.values()):
        fleet.close()
    _fleets.clear()
    assert re.fullmatch(r"slurm-client:fleet:\{[0-9a-f]{32}\}", out[2])
