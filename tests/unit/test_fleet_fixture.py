"""The ``redis_server`` fixture: a redis-server that cannot be had skips a test, except in
CI (``$CI`` is ``true``), where it fails it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TEST = """
def test_uses_redis(redis_server):
    pass
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "errors"), ("", "skipped")])
def test_no_redis_server_skips_or_fails_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    # An empty cache and no apt-get on PATH: the server can be neither found nor fetched.
    monkeypatch.setenv("SLURM_CLIENT_CACHE", str(pytester.path / "cache"))
    monkeypatch.setenv("PATH", str(pytester.path / "bin"))
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(TEST)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rsf")
    result.assert_outcomes(**{outcome: 1})
    result.stdout.fnmatch_lines(["*redis-server unavailable: apt-get is not installed*"])
