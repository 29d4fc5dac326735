"""Frames lost upstream, counted from image stamp gaps, and the WARN they raise."""
from __future__ import annotations

import pytest

from unipose_ros.ros.stamp_gaps import StampGaps

PERIOD = 66_666_667  # 15 fps


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_gaps_count_exactly_the_frames_that_never_arrived():
    clock = FakeClock()
    gaps = StampGaps(window_s=5.0, clock=clock)
    arrived = [k for k in range(60) if k % 3 != 1 or k < 4]  # two in three after the first 4
    for k in arrived:
        clock.t = k / 15
        gaps.add(1_000_000_000 + k * PERIOD)
    assert gaps.received == len(arrived)
    assert gaps.missing == 60 - len(arrived)
    assert gaps.period_ns() == PERIOD


def test_a_known_rate_counts_losses_even_without_consecutive_pairs():
    gaps = StampGaps(expected_rate_hz=15.0, clock=FakeClock())
    for k in range(0, 60, 4):  # every 4th frame only
        gaps.add(k * PERIOD)
    assert gaps.missing == 3 * (len(range(0, 60, 4)) - 1)


def test_repeated_or_backward_stamps_start_over_without_counting():
    gaps = StampGaps(clock=FakeClock())
    for s in (0, PERIOD, 2 * PERIOD, 2 * PERIOD, 0, PERIOD, 2 * PERIOD):
        gaps.add(s)
    assert gaps.missing == 0 and gaps.received == 7


def test_the_window_forgets_old_losses():
    clock = FakeClock()
    gaps = StampGaps(window_s=5.0, clock=clock)
    for k in (0, 1, 5, 6):  # 3 missing between 1 and 5
        gaps.add(k * PERIOD)
    assert gaps.recent() == (4, 3)
    clock.t = 10.0
    gaps.add(7 * PERIOD)
    assert gaps.recent() == (1, 0) and gaps.missing == 3


def test_diagnostics_warn_when_images_go_missing_and_name_the_fix():
    pytest.importorskip("diagnostic_msgs")
    from unipose_ros.ros.dds import profile_variables, transport_hint
    from unipose_ros.ros.diagnostics import OK, WARN, diagnostic_level

    hint = transport_hint({})
    level, text = diagnostic_level({}, 20, 20, 5.0, 5.0, upstream=(20, 55), upstream_hint=hint)
    assert level == WARN and "55 of 75 camera frames" in text
    assert all(v in text for v in profile_variables({}))  # the variable this Fast DDS reads
    assert diagnostic_level({}, 70, 70, 14.0, 5.0, upstream=(70, 5))[0] == OK  # 7 %: a blip
