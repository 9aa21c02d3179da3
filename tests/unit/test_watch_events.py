"""The watcher's pure parts: event derivation, the interval policy, ``update_time`` cursors."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from slurm_core import ConfigurationError, ExitCode, Job, JobState
from slurm_core.watch import DeltaMode, IntervalPolicy, JobEventType, WatchOptions, delta_mode
from slurm_core.watch._cursor import Cursor, last_update
from slurm_core.watch._events import Track, phase_of
from slurm_core.watch._policy import MIN_INTERVAL_ENV, env_floor

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T = JobEventType


def job(state: str | list[str], **fields: object) -> Job:
    values: dict[str, object] = {"job_id": 7, "name": "j", "state": JobState.parse(state)}
    values.update(fields)
    return Job.model_validate(values)


def run(states: list[tuple[str | list[str], dict[str, object]]]) -> list[tuple[T, bool]]:
    track = Track("7")
    out: list[tuple[T, bool]] = []
    for state, fields in states:
        out.extend((e.type, e.final) for e in track.observe(job(state, **fields), T0))
    return out


RAN = {"start_time": T0, "nodes": "node1", "end_time": T0 + timedelta(seconds=5)}


def test_submitted_is_pending() -> None:
    assert JobEventType.__members__["SUBMITTED"] is JobEventType.PENDING
    assert str(T.STARTED) == "STARTED"


def test_lifecycle_pending_running_completed() -> None:
    track = Track("7")
    first = track.observe(job("PENDING", submit_time=T0), T0 + timedelta(minutes=1))
    assert [(e.type, e.old_state, e.time) for e in first] == [(T.PENDING, None, T0)]
    started = track.observe(job("RUNNING", start_time=T0, nodes="n[1-2]"), T0)
    assert started[0].type is T.STARTED
    assert started[0].nodes == "n[1-2]"
    assert started[0].old_state == JobState.parse("PENDING")
    assert started[0].exit_code is None
    assert track.observe(job("RUNNING", start_time=T0, nodes="n[1-2]"), T0) == []  # same phase
    ok = ExitCode.of("SUCCESS", 0)
    end = T0 + timedelta(seconds=9)
    done = track.observe(job("COMPLETED", exit_code=ok, end_time=end, nodes="n[1-2]"), T0)
    assert [(e.type, e.final, e.exit_code, e.time) for e in done] == [(T.COMPLETED, True, ok, end)]
    assert track.done
    assert track.last is done[0]


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        # COMPLETING (a flag in v0.0.40+, the whole state in v0.0.38) waits for the end
        (
            [(["RUNNING"], {}), (["COMPLETED", "COMPLETING"], {}), (["COMPLETED"], {})],
            [(T.STARTED, False), (T.COMPLETED, True)],
        ),
        (
            [("RUNNING", {}), ("COMPLETING", {}), ("FAILED", {})],
            [(T.STARTED, False), (T.FAILED, True)],
        ),
        # a start between two polls is reported before the end
        (
            [("PENDING", {}), ("TIMEOUT", RAN)],
            [(T.PENDING, False), (T.STARTED, False), (T.TIMEOUT, True)],
        ),
        # cancelled while pending: it never started
        ([("PENDING", {}), ("CANCELLED", {})], [(T.PENDING, False), (T.CANCELLED, True)]),
        # preempted and requeued: not final; the requeue is its own event
        (
            [
                ("RUNNING", {}),
                (["PREEMPTED", "REQUEUED"], {}),
                (["PENDING", "REQUEUED"], {}),
                ("RUNNING", {}),
                ("OUT_OF_MEMORY", {}),
            ],
            [
                (T.STARTED, False),
                (T.PREEMPTED, False),
                (T.REQUEUED, False),
                (T.STARTED, False),
                (T.OUT_OF_MEMORY, True),
            ],
        ),
        (
            [("RUNNING", {}), ("REQUEUED", {}), ("PENDING", {})],  # v0.0.38 single strings
            [(T.STARTED, False), (T.REQUEUED, False)],
        ),
        ([("RUNNING", {}), ("PENDING", {})], [(T.STARTED, False), (T.REQUEUED, False)]),
        (
            [("RUNNING", {}), ("SUSPENDED", {}), ("RUNNING", {}), ("NODE_FAIL", {})],
            [
                (T.STARTED, False),
                (T.STATE_CHANGED, False),
                (T.STATE_CHANGED, False),
                (T.NODE_FAIL, True),
            ],
        ),
        ([("PENDING", {}), ("BOOT_FAIL", {})], [(T.PENDING, False), (T.STATE_CHANGED, True)]),
        ([("DEADLINE", {})], [(T.STATE_CHANGED, True)]),
        ([("PREEMPTED", {})], [(T.PREEMPTED, True)]),
        ([("SOMETHING_NEW", {})], [(T.STATE_CHANGED, False)]),
        ([("CONFIGURING", {}), ("RUNNING", {})], [(T.STARTED, False)]),
    ],
)
def test_event_types(
    states: list[tuple[str | list[str], dict[str, object]]], expected: list[tuple[T, bool]]
) -> None:
    assert run(states) == expected


def test_phase_of_transitional_and_final() -> None:
    assert phase_of(JobState.parse(["COMPLETED", "COMPLETING"])) is None
    assert phase_of(JobState.parse("COMPLETING")) is None
    final = phase_of(JobState.parse("CANCELLED"))
    assert final is not None
    assert final.final
    requeued = phase_of(JobState.parse(["NODE_FAIL", "REQUEUED"]))
    assert requeued is not None
    assert not requeued.final


def test_unknown_event_is_final_and_keeps_the_old_state() -> None:
    track = Track("40_2")
    track.observe(job("RUNNING"), T0)
    event = track.unknown(T0, "purged")
    assert (event.type, event.final, event.job_id, event.new_state) == (
        T.UNKNOWN,
        True,
        "40_2",
        None,
    )
    assert event.old_state == JobState.parse("RUNNING")
    assert track.done


# -- interval policy ---------------------------------------------------------------------
def test_policy_backs_off_and_resets_on_change() -> None:
    p = IntervalPolicy(WatchOptions(min_interval=0, initial_interval=1, max_interval=5), floor=0)
    seq = [p.after_poll(changed=False) for _ in range(6)]
    assert seq == [1.5, 2.25, 3.375, 5.0, 5.0, 5.0]
    assert p.after_poll(changed=True) == 1.0
    assert p.after_error() == 2.0
    assert p.after_error() == 4.0
    assert p.after_error() == 5.0


def test_policy_cap_and_floor() -> None:
    opts = WatchOptions(min_interval=0.5, initial_interval=1, max_interval=30)
    p = IntervalPolicy(opts, floor=0)
    for _ in range(20):
        p.after_poll(changed=False)
    assert p.interval() == 30
    assert p.interval(cap=3) == 3
    assert p.interval(cap=0.1) == 0.5
    admin = IntervalPolicy(opts, floor=10)  # the administrator's floor beats everything
    assert admin.floor == 10
    assert admin.after_poll(changed=True, cap=2) == 10
    assert admin.reset() == 10


def test_env_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_floor({}) == 0.0
    assert env_floor({MIN_INTERVAL_ENV: " 2.5 "}) == 2.5
    for bad in ("fast", "-1", "nan", "inf"):
        with pytest.raises(ConfigurationError, match=MIN_INTERVAL_ENV):
            env_floor({MIN_INTERVAL_ENV: bad})
    monkeypatch.setenv(MIN_INTERVAL_ENV, "7")
    assert IntervalPolicy(WatchOptions(min_interval=1)).floor == 7
    assert IntervalPolicy(WatchOptions(min_interval=9)).floor == 9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_interval": -1},
        {"max_interval": math.inf},
        {"backoff": 0.5},
        {"initial_interval": 10, "max_interval": 5},
        {"full_refresh": math.nan},
    ],
)
def test_watch_options_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="WatchOptions"):
        WatchOptions(**kwargs)


# -- update_time cursors -----------------------------------------------------------------
def test_delta_mode_per_version() -> None:
    assert delta_mode("v0.0.38") is DeltaMode.CALIBRATED_EPOCH
    assert delta_mode("v0.0.39") is DeltaMode.NONE
    assert delta_mode("v0.0.40") is delta_mode("v0.0.41") is DeltaMode.RELATIVE
    assert {delta_mode(f"v0.0.4{i}") for i in range(2, 6)} == {DeltaMode.SERVER_EPOCH}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jobs": [], "last_update": {"set": true, "infinite": false, "number": 17}}', 17),
        (b'{"last_update": 0, "jobs": []}', 0),
        (b'{"jobs": [{"comment": "\\"last_update\\": 99"}], "last_update": {"number": 5}}', 5),
        (b'{"last_update": {"number": 5}, "jobs": [{"comment": "x\\"last_update\\": 99"}]}', 5),
        (b'{"jobs": []}', None),
        (b'{"jobs": [], "last_update": "soon"}', None),
    ],
)
def test_last_update_scan(body: bytes, expected: int | None) -> None:
    assert last_update(body) == expected


def _listing(stamp: int) -> httpx.Response:
    return httpx.Response(200, json={"jobs": [], "last_update": {"number": stamp}})


def test_cursor_server_epoch_and_full_refresh() -> None:
    c = Cursor(DeltaMode.SERVER_EPOCH, full_refresh=60)
    assert c.params(0) is None  # nothing known yet: a full listing
    c.after_listing(_listing(1234), sent_mono=0, sent_wall=0)
    assert c.params(10) == {"update_time": 1234}
    assert c.unchanged(_listing(0))
    assert not c.unchanged(_listing(1235))
    assert c.params(60) is None  # a full listing at least every full_refresh seconds
    c.reset()
    assert c.params(1) is None
    c.after_listing(httpx.Response(200, json={"jobs": []}), sent_mono=0, sent_wall=0)
    assert c.mode is DeltaMode.NONE
    assert c.params(1) is None


def test_cursor_relative_and_calibrated() -> None:
    rel = Cursor(DeltaMode.RELATIVE, full_refresh=60)
    rel.after_listing(_listing(5), sent_mono=100.0, sent_wall=0)
    assert rel.params(103.2) == {"update_time": "now-6"}  # ceil(3.2) + 2 seconds of margin
    cal = Cursor(DeltaMode.CALIBRATED_EPOCH, full_refresh=60)
    assert cal.needs_calibration()
    cal.calibrate(1000.0, sent_wall=1100.0, received_wall=1102.0)  # server is 101 s behind
    assert cal.offset == -101.0
    assert not cal.needs_calibration()
    cal.after_listing(httpx.Response(200), sent_mono=0, sent_wall=1200.0)
    assert cal.params(1) == {"update_time": 1097}
    none = Cursor(DeltaMode.CALIBRATED_EPOCH, full_refresh=60)
    none.calibrate(None, 0, 0)
    assert none.mode is DeltaMode.NONE
