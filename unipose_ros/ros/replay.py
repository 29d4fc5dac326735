"""Replay a recording's topics with their original timing, as rclpy publishers.

    python -m unipose_ros.ros.replay BAG [--rate 1.0] [--loop] [--topics T ...]
                                         [--remap FROM:=TO ...] [--start-delay 1.0]

The recording's log (receive) times set the pace, scaled by ``rate`` (2.0 = twice as fast). The
stored CDR bytes are published as they are (rclpy publishes serialized bytes with the
publisher's type), so nothing is decoded or re-encoded. Publishers are reliable: they match both
best-effort (sensor-data) and reliable subscribers. Topics whose message type has no Python
package here are skipped with a warning.

Without ros2 bag (not installable from PyPI) this is how recordings reach a live node.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import rclpy
from rclpy.node import Node

from unipose_ros.core.errors import InputError
from unipose_ros.io.bag import RecordingReader
from unipose_ros.ros.qos import replay_qos


@dataclass
class ReplayStats:
    """What a replay did.

    Attributes:
        published: topic (after remapping) -> messages published.
        failed: topic -> publish errors (e.g. a reliable queue full of large messages).
        skipped_types: message types without a Python package here.
        duration_s: wall time of the replay (s).
        max_lag_s: largest delay of a publish behind its scheduled time (s).
        started_s: ``time.monotonic()`` at which the (last) pass's schedule started: message k
            is due at ``started_s + (log_k - log_first) / rate``.
    """

    published: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    skipped_types: set[str] = field(default_factory=set)
    duration_s: float = 0.0
    max_lag_s: float = 0.0
    started_s: float = 0.0


def message_class(msgtype: str) -> type | None:
    """The rclpy class of ``pkg/msg/Name``, or None when its package is not importable."""
    try:
        package, _, name = msgtype.split("/")
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError, ValueError):
        return None


def parse_remaps(remaps: list[str] | None) -> dict[str, str]:
    """``["from:=to", ...]`` -> {from: to} (ValueError for a malformed entry)."""
    out = {}
    for r in remaps or []:
        src, sep, dst = r.partition(":=")
        if not sep or not src or not dst:
            raise ValueError(f"remap {r!r} must look like /from/topic:=/to/topic")
        out[src] = dst
    return out


def replay(bag_path: str | Path, node: Node, rate: float = 1.0, topics: list[str] | None = None,
           remap: dict[str, str] | None = None, loop: bool = False,
           stop: threading.Event | None = None, start_delay_s: float = 0.0,
           on_publish: Callable[[str, int], None] | None = None, clock: bool = False) -> ReplayStats:
    """Publish the messages of ``bag_path`` on ``node`` with their recorded timing.

    Args:
        bag_path: rosbag2 recording directory.
        node: creates the publishers (it need not be spinning).
        rate: playback speed factor (> 0).
        topics: recorded topic names to replay (all when None).
        remap: recorded topic -> published topic.
        loop: start again at the end until ``stop`` is set.
        stop: set it to end the replay early (checked between messages).
        start_delay_s: wait up to this long after creating the publishers, until every one has
            a subscriber (discovery), before the first message.
        on_publish: called with (published topic, log time ns) after each publish.
        clock: also publish rosgraph_msgs/Clock on /clock with each message's recorded log time
            (before the message), for nodes running with use_sim_time.
    Returns:
        :class:`ReplayStats`.
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    remap = remap or {}
    stop = stop or threading.Event()
    stats = ReplayStats()
    publishers: dict[str, object] = {}
    t_start = time.monotonic()
    with RecordingReader(bag_path) as reader:
        wanted = [t for t in reader.topics if topics is None or t in topics]
        for topic in wanted:
            msgtype = reader.topics[topic].msgtype
            cls = message_class(msgtype)
            if cls is None:
                stats.skipped_types.add(msgtype)
                node.get_logger().warning(f"skipping {topic}: no Python package for {msgtype}")
                continue
            publishers[topic] = node.create_publisher(cls, remap.get(topic, topic), replay_qos())
        clock_pub = None
        if clock:
            from rclpy.qos import QoSProfile
            from rosgraph_msgs.msg import Clock

            clock_pub = node.create_publisher(Clock, "/clock", QoSProfile(depth=10))
            last_clock = -1
        deadline = time.monotonic() + start_delay_s
        while (time.monotonic() < deadline and not stop.is_set()
               and not all(p.get_subscription_count() > 0 for p in publishers.values())):
            stop.wait(0.01)
        if publishers:
            stop.wait(0.05)  # let the subscribers' side finish matching too
        try:
            while not stop.is_set():
                first_log, t0 = None, 0.0
                for topic, _msgtype, log_ns, _msg, raw in reader.messages(list(publishers)):
                    if stop.is_set():
                        break
                    if first_log is None:  # the clock starts at the first message
                        first_log, t0 = log_ns, time.monotonic()
                        stats.started_s = t0
                    due = t0 + (log_ns - first_log) * 1e-9 / rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        stop.wait(wait)
                    stats.max_lag_s = max(stats.max_lag_s, time.monotonic() - due)
                    out = remap.get(topic, topic)
                    if clock_pub is not None and log_ns > last_clock:
                        from builtin_interfaces.msg import Time

                        clock_pub.publish(Clock(clock=Time(sec=log_ns // 10**9, nanosec=log_ns % 10**9)))
                        last_clock = log_ns
                    try:
                        publishers[topic].publish(bytes(raw))
                    except Exception as e:  # rclpy raises RCLError subclasses
                        stats.failed[out] += 1
                        node.get_logger().warning(f"publishing on {out} failed: {e}",
                                                  throttle_duration_sec=5.0)
                        continue
                    stats.published[out] += 1
                    if on_publish is not None:
                        on_publish(out, log_ns)
                if not loop:
                    break
        finally:
            for pub in publishers.values():
                node.destroy_publisher(pub)
            if clock_pub is not None:
                node.destroy_publisher(clock_pub)
    stats.duration_s = time.monotonic() - t_start
    return stats


def main(argv: list[str] | None = None) -> int:
    from rclpy.utilities import remove_ros_args

    parser = argparse.ArgumentParser(
        prog="python -m unipose_ros.ros.replay",
        description="Publish a rosbag2 recording's topics with their recorded timing.")
    parser.add_argument("bag", type=Path, help="recording directory (with metadata.yaml)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--loop", action="store_true", help="start again at the end")
    parser.add_argument("--topics", nargs="+", help="recorded topics to replay (default: all)")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="publish recorded topic FROM as TO (repeatable)")
    parser.add_argument("--start-delay", type=float, default=1.0,
                        help="wait up to this long (s) for every topic to have a subscriber")
    parser.add_argument("--clock", action="store_true",
                        help="publish /clock with the recorded times (for use_sim_time nodes)")

    args = parser.parse_args(remove_ros_args(sys.argv if argv is None else argv)[1:])
    try:
        remap = parse_remaps(args.remap)
    except ValueError as e:
        parser.error(str(e))
    rclpy.init(args=sys.argv if argv is None else argv)
    node = Node("unipose_replay")
    try:
        stats = replay(args.bag, node, args.rate, args.topics, remap, args.loop,
                       start_delay_s=args.start_delay, clock=args.clock)
        total = sum(stats.published.values())
        node.get_logger().info(f"published {total} messages in {stats.duration_s:.1f} s "
                               f"(max lag {1e3 * stats.max_lag_s:.1f} ms): {dict(stats.published)}")
    except InputError as e:
        print(f"replay: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
