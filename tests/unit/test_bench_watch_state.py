"""``bench/watch_state.py``'s verdicts and its job queueing, without a cluster (the bench
itself runs on the real 24.11 by hand: ``python -m bench --watch-state``)."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from bench.watch_state import SUBMITTERS, Result, queue_held, verdicts


def _row(watch_bytes: float, rpc: tuple[float, float], bare_rpc: tuple[float, float]) -> Result:
    """A contender table: ``rpc`` is (median, lower quartile) of RPC µs."""

    def one(size: float, times: tuple[float, float]) -> dict[str, float]:
        median, low = times
        return {
            "bytes": size,
            "rpc_us": median,
            "rpc_us_p25": low,
            "own_us": median,
            "own_us_p25": low,
        }

    return {"watch": one(watch_bytes, rpc), "bare": one(watch_bytes, bare_rpc)}


def test_bytes_that_grow_with_the_queue_fail_the_first_goal() -> None:
    flat = {
        (2000, 1): _row(650, (40, 30), (40, 30)),
        (2000, 1000): _row(81000, (900, 400), (900, 400)),
        (10000, 1): _row(650, (40, 30), (40, 30)),
        (10000, 1000): _row(81000, (900, 400), (900, 400)),
    }
    assert verdicts(flat)[0].startswith("PASS bytes grow with N, not M")
    grows = {**flat, (10000, 1000): _row(400000, (900, 400), (900, 400))}
    line = verdicts(grows)[0]
    assert line.startswith("FAIL")
    assert "N=1000 x4.94" in line
    assert verdicts({(2000, 1): flat[2000, 1], (2000, 1000): flat[2000, 1000]})[0].startswith(
        "FAIL"
    )  # one M proves nothing about M


def test_rpc_time_is_judged_on_lower_quartiles_with_medians_shown() -> None:
    # a lock wait inflated the watch's median, not its quiet cost: within the goal
    noisy = {(2000, 1000): _row(81000, (2200, 420), (1200, 400))}
    line = verdicts(noisy)[1]
    assert line.startswith("PASS")
    assert "x1.05 (x1.83)" in line
    # a watch that costs slurmctld twice the bare call, poll after poll
    costly = {(2000, 1000): _row(81000, (2400, 800), (1200, 400))}
    assert all(v.startswith("FAIL") for v in verdicts(costly)[1:])


def test_queueing_stops_at_a_refusal_and_returns_after_every_submission() -> None:
    lock = threading.Lock()
    sent: list[dict[str, object]] = []

    def slurmrestd(request: httpx.Request) -> httpx.Response:
        with lock:
            sent.append(json.loads(request.content)["job"])
            n = len(sent)
        if n > 5:
            return httpx.Response(200, json={"errors": [{"error": "MaxJobCount reached"}]})
        return httpx.Response(200, json={"job_id": n, "errors": []})

    http = httpx.Client(base_url="http://slurm", transport=httpx.MockTransport(slurmrestd))
    assert sorted(queue_held(http, 5, "bench-x", "/tmp")) == [1, 2, 3, 4, 5]
    assert all(job["hold"] and job["name"] == "bench-x" for job in sent)
    with pytest.raises(SystemExit, match="MaxJobCount"):
        queue_held(http, 100, "bench-x", "/tmp")
    assert len(sent) <= 5 + SUBMITTERS  # the first refusal, and those already in flight
