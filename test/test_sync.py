"""Stamp synchroniser, latest-only hand-off and rate-limited error reports (no spinning)."""
from __future__ import annotations

import threading
import time

import pytest

from unipose_ros.ros.sync import LatestOnly, StampSynchronizer

MS = 1_000_000


def make_sync(tol_ms: float = 20, queue: int = 10, points: bool = False) -> StampSynchronizer:
    slots = ("image", "depth", "info") + (("points",) if points else ())
    return StampSynchronizer(slots, int(tol_ms * MS), queue, sticky=("info",))


def test_exact_stamps_emit_one_set_per_frame_in_any_arrival_order():
    sync = make_sync()
    out = []
    for k in range(5):
        t = 1000 * MS + k * 33 * MS
        order = [("depth", t), ("info", t), ("image", t)] if k % 2 else \
                [("image", t), ("info", t), ("depth", t)]
        results = [sync.add(slot, st, f"{slot}{k}") for slot, st in order]
        assert results[:2] == [None, None]
        out.append(results[2])
    assert [s.stamp_ns for s in out] == [1000 * MS + k * 33 * MS for k in range(5)]
    assert [s["depth"] for s in out] == [f"depth{k}" for k in range(5)]
    assert sync.total_dropped == 0 and sync.emitted == 5


def test_approximate_match_within_tolerance_and_skew_reported():
    sync = make_sync(tol_ms=20)
    sync.add("info", 0, "i0")
    sync.add("image", 100 * MS, "img")
    s = sync.add("depth", 112 * MS, "d")
    assert s is not None and s.stamp_ns == 100 * MS
    assert s.skew_ns == {"image": 0, "depth": 12 * MS, "info": -100 * MS}  # info is sticky


def test_outside_tolerance_never_matches_and_is_dropped_later():
    sync = make_sync(tol_ms=10)
    sync.add("info", 0, "i")
    assert sync.add("image", 100 * MS, "a") is None
    assert sync.add("depth", 125 * MS, "d_far") is None          # 25 ms > 10 ms
    s = sync.add("image", 133 * MS, "b")                          # d_far is 8 ms from b
    assert s is not None and s["image"] == "b" and s["depth"] == "d_far"
    assert sync.dropped["image"] == 1                              # "a" can never match now


def test_missing_depth_frame_drops_only_that_colour_frame():
    sync = make_sync()
    sync.add("info", 0, "i")
    got = []
    for k in range(6):
        t = k * 33 * MS
        got.append(sync.add("image", t, k))
        if k != 2:
            got.append(sync.add("depth", t, k))
    emitted = [s["image"] for s in got if s is not None]
    assert emitted == [0, 1, 3, 4, 5]
    assert sync.dropped == {"image": 1, "depth": 0, "info": 0}


def test_queue_overflow_counts_drops():
    sync = make_sync(queue=3)
    for k in range(10):
        sync.add("image", k * 33 * MS, k)
    assert sync.dropped["image"] == 7
    assert sync.waiting_for() == ["depth", "info"]


def test_without_camera_info_nothing_is_emitted():
    sync = make_sync()
    for k in range(5):
        assert sync.add("image", k * MS * 33, k) is None
        assert sync.add("depth", k * MS * 33, k) is None
    assert sync.waiting_for() == ["info"]
    s = sync.add("info", 4 * 33 * MS, "info")
    assert s is not None and s["image"] == 4                  # newest complete set wins
    assert sync.dropped["image"] == 4 and sync.dropped["depth"] == 4


def test_matching_camera_info_is_preferred_over_latest():
    sync = make_sync()
    sync.add("info", 0, "old")
    sync.add("info", 66 * MS, "later")
    sync.add("image", 0, "img0")
    s = sync.add("depth", 0, "d0")
    assert s["info"] == "old"


def test_points_slot_is_required_when_configured():
    sync = make_sync(points=True)
    sync.add("info", 0, "i")
    sync.add("image", 0, "img")
    assert sync.add("depth", 0, "d") is None
    s = sync.add("points", 5 * MS, "cloud")
    assert s is not None and s["points"] == "cloud"


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError):
        StampSynchronizer((), 0)
    with pytest.raises(ValueError):
        StampSynchronizer(("a", "b"), -1)
    with pytest.raises(ValueError):
        StampSynchronizer(("a", "b"), 0, sticky=("c",))
    with pytest.raises(ValueError):
        StampSynchronizer(("a", "b"), 0, sticky=("a",))
    with pytest.raises(KeyError):
        make_sync().add("nope", 0, None)


def test_latest_only_replaces_untaken_items_and_counts_them():
    box: LatestOnly[int] = LatestOnly()
    assert box.put(1) is False
    assert box.put(2) is True
    assert box.put(3) is True
    assert box.get(timeout=0) == 3
    assert box.get(timeout=0.01) is None
    assert box.dropped == 2 and box.put_count == 3


def test_latest_only_slow_consumer_sees_latest_and_bounded_staleness():
    box: LatestOnly[int] = LatestOnly()
    taken: list[int] = []

    def consume():
        while True:
            item = box.get(timeout=1.0)
            if item is None:
                return
            taken.append(item)
            time.sleep(0.02)  # slow worker

    worker = threading.Thread(target=consume)
    worker.start()
    for k in range(100):
        box.put(k)
        time.sleep(0.002)
    time.sleep(0.05)
    box.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert taken[-1] == 99                      # the newest item is always processed
    assert len(taken) < 40                      # most were dropped, not queued
    assert box.dropped + len(taken) == 100
    assert taken == sorted(taken)


def test_latest_only_close_wakes_a_waiting_get():
    box: LatestOnly[int] = LatestOnly()
    result = []
    t = threading.Thread(target=lambda: result.append(box.get(timeout=10)))
    t.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    box.close()
    t.join(timeout=2)
    assert result == [None] and time.monotonic() - t0 < 1.0


def test_error_reporter_logs_each_kind_once_per_period():
    from unipose_ros.ros.diagnostics import ErrorReporter

    now = [0.0]
    lines: list[str] = []
    rep = ErrorReporter(lines.append, period_s=5.0, clock=lambda: now[0])
    for _ in range(10):
        rep.report("EncodingError/image", "bad encoding")
    rep.report("EmptyInputError/depth", "empty depth")
    assert len(lines) == 2 and rep.counts["EncodingError/image"] == 10
    now[0] = 6.0
    assert rep.report("EncodingError/image", "bad encoding")
    assert "9 more since the last report" in lines[-1]
    assert rep.total == 12


def test_error_and_warning_reporters_interleave_on_one_real_rclpy_logger(capfd):
    """rclpy raises ValueError when one call site logs at two severities; the reporters of
    both levels share one reporting line, so each level must reach rclpy through its own."""
    rclpy_logging = pytest.importorskip("rclpy.logging")
    from unipose_ros.ros.diagnostics import ErrorReporter, log_at

    logger = rclpy_logging.get_logger("unipose_test_reporters")
    errors = ErrorReporter(log_at(logger, "error"), period_s=0.0)
    warnings = ErrorReporter(log_at(logger, "warning"), period_s=0.0)
    for k in range(4):
        assert errors.report("EncodingError/image", f"bad {k}")
        assert warnings.report("no_input", f"quiet {k}")
    with pytest.raises(ValueError, match="unknown log level"):
        log_at(logger, "loud")


def test_error_reporter_survives_a_failing_logger(capfd):
    from unipose_ros.ros.diagnostics import ErrorReporter

    def broken(text: str) -> None:
        raise ValueError("Logger severity cannot be changed between calls.")

    rep = ErrorReporter(broken, period_s=0.0)
    assert rep.report("internal", "something") and rep.counts["internal"] == 1
    assert "[internal] something (logger failed: ValueError" in capfd.readouterr().err


def test_parameters_validation_names_the_problem():
    from unipose_ros.ros.params import PoseNodeParams, validate

    assert validate(PoseNodeParams(device="cuda:1")).device == "cuda:1"
    with pytest.raises(ValueError, match="device 'gpu'"):
        validate(PoseNodeParams(device="gpu"))
    with pytest.raises(ValueError, match="qos_reliability"):
        validate(PoseNodeParams(qos_reliability="fast"))
    with pytest.raises(ValueError, match="sync_tolerance_s"):
        validate(PoseNodeParams(sync_tolerance_s=-0.1))
    with pytest.raises(ValueError, match="cpu_threads -1"):
        validate(PoseNodeParams(cpu_threads=-1))


def test_cpu_threads_default_to_half_the_cores_within_1_to_4():
    from unipose_ros.ros.params import PoseNodeParams, cpu_threads

    auto = PoseNodeParams()
    assert [cpu_threads(auto, cores) for cores in (1, 2, 3, 8, 64)] == [1, 1, 1, 4, 4]
    assert cpu_threads(PoseNodeParams(cpu_threads=6), cores=2) == 6


def test_diagnostic_level_over_a_window_and_recovery():
    from unipose_ros.ros.diagnostics import ERROR, OK, WARN, ErrorReporter, diagnostic_level

    now = [0.0]
    rep = ErrorReporter(lambda text: None, period_s=1.0, clock=lambda: now[0])
    for _ in range(3):
        rep.report("EncodingError/image", "bad")
    assert rep.recent(5.0) == {"EncodingError/image": 3}
    level, text = diagnostic_level(rep.recent(5.0), synced=10, published=7, input_rate_hz=15.0, window_s=5.0)
    assert level == WARN and "EncodingError/image=3" in text
    assert diagnostic_level({}, synced=10, published=0, input_rate_hz=15.0, window_s=5.0)[0] == ERROR
    assert diagnostic_level({}, 10, 10, 9.0, 5.0, expected_rate_hz=15.0)[0] == WARN   # 60 % of the rate
    assert diagnostic_level({}, 10, 10, 14.0, 5.0, expected_rate_hz=15.0) == (OK, "ok")
    assert diagnostic_level({}, 0, 0, 0.0, 5.0, idle_s=8.0, no_input_warn_s=5.0)[0] == WARN
    now[0] = 6.0  # the errors left the window: healthy again
    assert rep.recent(5.0) == {} and rep.counts["EncodingError/image"] == 3
    assert diagnostic_level(rep.recent(5.0), 10, 10, 15.0, 5.0)[0] == OK
