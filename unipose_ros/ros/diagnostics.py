"""Run-time bookkeeping of the pose node: rate-limited error reports, counters, rates and
latency, and their diagnostic_msgs/DiagnosticArray form.

:class:`ErrorReporter` and :class:`NodeStats` are plain Python (thread-safe, clock injectable) so
they are tested without spinning a node; :func:`diagnostic_array` builds the message.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


def log_at(logger, level: str) -> Callable[[str], None]:
    """A one-argument log function of ``logger`` (an rclpy logger) at ``level`` (``"error"``,
    ``"warning"`` or ``"info"``).

    rclpy remembers one severity per call site (file, function, line) and raises ValueError when
    the same line logs at another severity. Each level therefore has its own call line here, so
    that several :class:`ErrorReporter` of different levels can share one reporting line.
    """
    if level == "error":
        def emit(text: str) -> None:
            logger.error(text)
    elif level == "warning":
        def emit(text: str) -> None:
            logger.warning(text)
    elif level == "info":
        def emit(text: str) -> None:
            logger.info(text)
    else:
        raise ValueError(f"unknown log level {level!r}; use error, warning or info")
    return emit


class ErrorReporter:
    """Logs each kind of error at most once per ``period_s`` and counts every occurrence.

    A failing log call (a logger that raises) never propagates: the text then goes to stderr.

    Args:
        log: called with the message to emit (e.g. ``log_at(node.get_logger(), "error")``).
        period_s: minimum time between two logs of the same kind (s).
        clock: monotonic time source (s), injectable for tests.
    """

    def __init__(self, log: Callable[[str], object], period_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log, self.period_s, self._clock = log, float(period_s), clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = {}
        self.counts: dict[str, int] = {}
        self.logged: dict[str, int] = {}
        self.last_message: dict[str, str] = {}

    def report(self, kind: str, message: str) -> bool:
        """Count an error of ``kind``; log ``message`` unless that kind was logged less than
        ``period_s`` ago (the log then says how many were suppressed). Returns True if logged."""
        with self._lock:
            now = self._clock()
            n = self.counts.get(kind, 0) + 1
            self.counts[kind] = n
            self._times.setdefault(kind, deque(maxlen=10_000)).append(now)
            self.last_message[kind] = message
            last = self._last.get(kind)
            if last is not None and now - last < self.period_s:
                return False
            suppressed = n - 1 - self.logged.get(kind, 0)
            self._last[kind] = now
            self.logged[kind] = self.logged.get(kind, 0) + 1
        suffix = f" ({suppressed} more since the last report)" if suppressed > 0 else ""
        text = f"[{kind}] {message}{suffix}"
        try:
            self._log(text)
        except Exception as e:  # a report must never take the node down
            print(f"{text} (logger failed: {type(e).__name__}: {e})", file=sys.stderr, flush=True)
        return True

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def recent(self, window_s: float) -> dict[str, int]:
        """Kind -> occurrences in the last ``window_s`` seconds (kinds with none left out)."""
        with self._lock:
            cutoff = self._clock() - window_s
            out = {k: sum(1 for t in ts if t >= cutoff) for k, ts in self._times.items()}
        return {k: n for k, n in out.items() if n}


class RateMeter:
    """Events per second over a sliding window of ``window_s`` seconds."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self._clock = window_s, clock
        self._times: deque[float] = deque()
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        self._times.append(self._clock())
        self._trim()

    def recent(self) -> int:
        """Events in the window."""
        self._trim()
        return len(self._times)

    def rate(self) -> float:
        self._trim()
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self) -> None:
        cutoff = self._clock() - self.window_s
        while self._times and self._times[0] < cutoff:
            self._times.popleft()


class NodeStats:
    """Counters and timings of the pose node (all thread-safe through one lock).

    Attributes:
        inputs: input name -> RateMeter of received messages.
        processed / published: synchronised frames run through the estimator / published.
        latency_s: recent (input stamp -> publish) latencies (s), ROS time.
        estimator_s: recent estimator run times (s).
        wait_s: recent waits of a complete input set for the worker (s): the rest of the previous
            frame's run.
        overhead_s: recent node times per frame besides the estimator (s): conversion to numpy,
            tracking, building and publishing skeletons, markers and TF.
        people: number of people in the last published frame.
    """

    def __init__(self, inputs: tuple[str, ...], clock: Callable[[], float] = time.monotonic,
                 window: int = 100, window_s: float = 5.0) -> None:
        self._lock = threading.Lock()
        self.inputs = {name: RateMeter(window_s, clock) for name in inputs}
        self.frames = RateMeter(window_s, clock)
        self.synced = RateMeter(window_s, clock)
        self.processed = 0
        self.published = 0
        self.latency_s: deque[float] = deque(maxlen=window)
        self.estimator_s: deque[float] = deque(maxlen=window)
        self.wait_s: deque[float] = deque(maxlen=window)
        self.overhead_s: deque[float] = deque(maxlen=window)
        self.people = 0

    def on_input(self, name: str) -> None:
        with self._lock:
            self.inputs[name].tick()

    def set_window(self, window_s: float) -> None:
        """Change the rate window (s) of every meter."""
        with self._lock:
            for m in (*self.inputs.values(), self.frames, self.synced):
                m.window_s = float(window_s)

    def on_synced(self) -> None:
        """A complete synchronised input set arrived."""
        with self._lock:
            self.synced.tick()

    def window(self) -> tuple[int, int, float]:
        """(synchronised sets, published frames) in the window, and the synchronised input rate (Hz)."""
        with self._lock:
            return self.synced.recent(), self.frames.recent(), self.synced.rate()

    def on_processed(self, estimator_s: float) -> None:
        with self._lock:
            self.processed += 1
            self.estimator_s.append(estimator_s)

    def on_published(self, latency_s: float, people: int, wait_s: float = float("nan"),
                     overhead_s: float = float("nan")) -> None:
        with self._lock:
            self.published += 1
            self.frames.tick()
            self.latency_s.append(latency_s)
            self.people = people
            if wait_s == wait_s:  # not NaN
                self.wait_s.append(wait_s)
            if overhead_s == overhead_s:
                self.overhead_s.append(overhead_s)

    def snapshot(self) -> dict[str, float]:
        """Flat name -> value summary (rates in Hz, times in ms)."""
        with self._lock:
            out: dict[str, float] = {f"{k}_rate_hz": m.rate() for k, m in self.inputs.items()}
            out["output_rate_hz"] = self.frames.rate()
            out["processed"] = self.processed
            out["published"] = self.published
            out["people"] = self.people
            for name, values in (("latency", self.latency_s), ("estimator", self.estimator_s),
                                 ("wait", self.wait_s), ("overhead", self.overhead_s)):
                vals = sorted(values)
                out[f"{name}_ms_median"] = 1e3 * vals[len(vals) // 2] if vals else float("nan")
                out[f"{name}_ms_p95"] = 1e3 * vals[min(len(vals) - 1, int(0.95 * len(vals)))] if vals else float("nan")
                out[f"{name}_ms_max"] = 1e3 * vals[-1] if vals else float("nan")
            return out


OK, WARN, ERROR = "ok", "warn", "error"


def diagnostic_level(recent_errors: dict[str, int], synced: int, published: int, input_rate_hz: float,
                     window_s: float, expected_rate_hz: float = 0.0, idle_s: float = 0.0,
                     no_input_warn_s: float = 0.0, upstream: tuple[int, int] = (0, 0),
                     upstream_hint: str | None = None) -> tuple[str, str]:
    """The node's health over the recent window, as (``ok`` | ``warn`` | ``error``, message).

    Args:
        recent_errors: kind -> errors in the window (``ErrorReporter.recent``).
        synced, published: synchronised input sets received and frames published in the window.
        input_rate_hz: synchronised input rate over the window.
        window_s: the window (s), for the messages.
        expected_rate_hz: the camera's rate; below 70 % of it is a WARN (0: no check).
        idle_s: seconds since the last synchronised input; ``no_input_warn_s`` > 0 warns past it.
        upstream: (images received, images missing by their stamps) in the window
            (:class:`unipose_ros.ros.stamp_gaps.StampGaps`); more than 20 % missing is a WARN,
            with ``upstream_hint`` (what to do) appended.
    ERROR: input arrived but nothing was published in the window. WARN: no input for too long,
    errors in the window, images lost upstream, or a low input rate. OK otherwise: a node recovers by itself once its
    inputs are healthy for one window.
    """
    errs = ", ".join(f"{k}={v}" for k, v in sorted(recent_errors.items()))
    if synced > 0 and published == 0:
        return ERROR, (f"no frame published in the last {window_s:g} s although {synced} input sets arrived"
                       + (f": {errs}" if errs else ""))
    if no_input_warn_s > 0 and idle_s > no_input_warn_s:
        return WARN, f"no input for {idle_s:.0f} s"
    if errs:
        return WARN, f"input errors in the last {window_s:g} s: {errs}"
    received, missing = upstream
    if received >= 2 and missing > 0.2 * (received + missing):
        return WARN, (f"{missing} of {received + missing} camera frames in the last {window_s:g} s never "
                      "arrived (gaps between image stamps)" + (f": {upstream_hint}" if upstream_hint else ""))
    if expected_rate_hz > 0 and input_rate_hz < 0.7 * expected_rate_hz:
        return WARN, f"input at {input_rate_hz:.1f} Hz, expected {expected_rate_hz:g} Hz"
    return OK, "ok"


def diagnostic_array(stamp, name: str, hardware_id: str, values: dict[str, object],
                     errors: dict[str, int], level: str = OK, message: str = "ok") -> DiagnosticArray:
    """One DiagnosticStatus at ``level`` (:func:`diagnostic_level`) with the values and the
    cumulative error counts, in a DiagnosticArray stamped ``stamp`` (builtin_interfaces/Time)."""
    status = DiagnosticStatus()
    status.name, status.hardware_id = name, hardware_id
    status.level = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN, ERROR: DiagnosticStatus.ERROR}[level]
    status.message = message
    kv = [KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))
          for k, v in values.items()]
    kv += [KeyValue(key=f"errors_{k}", value=str(v)) for k, v in errors.items()]
    status.values = kv
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr
