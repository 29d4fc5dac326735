"""Frames lost before they reach the node, counted from gaps between a stream's stamps.

A camera stamps its frames at a fixed rate, so a gap of k periods between two consecutive stamps
means k - 1 frames never arrived (lost by the transport, or dropped by the driver). The period is
``1 / expected_rate_hz`` when the rate is known, else the smallest interval among the recent
ones (a stream that loses most of its frames still delivers some consecutive pairs). Pure Python,
unit-tested without ROS.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


class StampGaps:
    """Counts the frames missing from one fixed-rate stream.

    Args:
        window_s: length (s, on ``clock``) of the window that :meth:`recent` reports.
        history: recent intervals kept to estimate the period when no rate is given.
        clock: monotonic clock (s) for the window.
    Attributes:
        missing / received: cumulative counts.
        expected_rate_hz: the stream's rate when known (0: estimate it from the stamps).
    Stamps that repeat or go backwards (a restarted driver, a looped replay) start over without
    counting anything.
    """

    def __init__(self, window_s: float = 5.0, history: int = 30,
                 clock: Callable[[], float] = time.monotonic, expected_rate_hz: float = 0.0) -> None:
        self.window_s, self._clock = float(window_s), clock
        self.expected_rate_hz = float(expected_rate_hz)
        self._intervals: deque[int] = deque(maxlen=history)
        self._events: deque[tuple[float, int]] = deque()  # (time, frames missing before this one)
        self._last: int | None = None
        self._lock = threading.Lock()
        self.missing = 0
        self.received = 0

    def period_ns(self) -> int | None:
        """The stream's period (ns), or None before two stamps have arrived."""
        if self.expected_rate_hz > 0:
            return int(round(1e9 / self.expected_rate_hz))
        return min(self._intervals) if self._intervals else None

    def add(self, stamp_ns: int) -> int:
        """Record one arrival; returns the frames counted as missing just before it."""
        with self._lock:
            gap = 0
            if self._last is not None and stamp_ns > self._last:
                interval = stamp_ns - self._last
                self._intervals.append(interval)
                period = self.period_ns()
                if period:
                    gap = max(0, int(round(interval / period)) - 1)
            self._last = stamp_ns
            self.received += 1
            self.missing += gap
            self._events.append((self._clock(), gap))
            self._trim()
            return gap

    def recent(self) -> tuple[int, int]:
        """(frames received, frames missing) in the window."""
        with self._lock:
            self._trim()
            return len(self._events), sum(g for _, g in self._events)

    def _trim(self) -> None:
        cutoff = self._clock() - self.window_s
        while self._events and self._events[0][0] < cutoff:
            self._events.popleft()
