"""schemathesis, with each version's real OpenAPI document, against ``fake.serve()``.

For v0.0.40 to v0.0.45 every operation of the document the fake serves at ``/openapi/v3``
(the one real slurmrestd served, see ``slurm_core/testing/fake/_openapi.py``) gets
generated requests over real HTTP with schemathesis' default checks. No answer may be a
crash (a dropped connection, a handler's traceback). Every other check failure must be
listed in ``tests/data/schemathesis_known.json`` with the recorded real answer that
justifies it; a listed failure that no longer happens is reported too, so the list stays
true.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from schemathesis.core.failures import Failure, FailureGroup  # noqa: E402

from slurm_core.testing import FakeSlurmServer  # noqa: E402
from slurm_core.testing.fake import _openapi  # noqa: E402

KNOWN_FILE = Path(__file__).parent.parent / "data" / "schemathesis_known.json"
VERSIONS = [f"v0.0.{n}" for n in range(40, 46)]
# 4 generated requests per operation: with every operation served (about 56 per version)
# a version takes 11-15 s here (8 took ~39 s); SCHEMATHESIS_EXAMPLES=8 digs deeper.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "4"))
HEADERS = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": "fake"}


def _known() -> dict[str, dict[str, Any]]:
    entries = json.loads(KNOWN_FILE.read_text())["failures"]
    return {f"{e['operation']} | {e['failure']}": e for e in entries}


def _exercise(operation: Any, url: str, found: dict[str, str], crashes: list[str]) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy())
    def check(case: Any) -> None:
        try:
            case.call_and_validate(base_url=url, headers=HEADERS, timeout=10)
        except FailureGroup as group:
            for failure in group.exceptions:
                found.setdefault(f"{label} | {failure.title}", failure.message[:400])
        except Failure as failure:
            found.setdefault(f"{label} | {failure.title}", failure.message[:400])
        except Exception as exc:  # a dropped connection, a timeout
            crashes.append(f"{label}: {type(exc).__name__}: {exc}"[:300])

    check()


def _run(version: str) -> tuple[dict[str, str], list[str]]:
    """Every distinct ``"<METHOD> <path> | <failure title>"`` (with a message), and crashes."""
    schema = schemathesis.openapi.from_dict(_openapi.document((version,)))
    fake = FakeSlurmServer(version, default_runtime=5)
    found: dict[str, str] = {}
    crashes: list[str] = []
    with fake.serve() as url:
        for result in schema.get_all_operations():
            _exercise(result.ok(), url, found, crashes)
    return found, crashes


@pytest.mark.parametrize("version", VERSIONS)
def test_schemathesis_finds_only_listed_differences(version: str) -> None:
    found, crashes = _run(version)
    assert not crashes, crashes
    known = _known()
    unlisted = sorted(k for k in found if k.replace(version, "{v}") not in known)
    assert not unlisted, json.dumps({k: found[k] for k in unlisted}, indent=1)
    for key in found:
        entry = known[key.replace(version, "{v}")]
        assert entry["why"] != "UNEXPLAINED", key
        recorded = KNOWN_FILE.parent / str(entry["recorded"]).format(version=version)
        assert recorded.is_file(), (key, recorded)
        if "Server error" in key:  # only where the real server answered 5xx too
            assert json.loads(recorded.read_text())["response"]["status"] >= 500, key
