"""A plain rclpy node that records topics as serialized messages with their receive times.

Used by the demo to capture what the pose node publishes (skeletons, markers, /tf) together with the
input images it answered, so that latency is measured in one observer process.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from unipose_ros.ros.replay import message_class


@dataclass
class RecordedMessage:
    """One received message: topic, type, wall-clock receive time (ns), serialized CDR bytes."""

    topic: str
    msgtype: str
    recv_ns: int
    rawdata: bytes


class TopicRecorder(Node):
    """Subscribes to ``topics`` ({name: type}) raw and keeps every message in memory, in order.

    Args:
        topics: topic name -> message type name (``pkg/msg/Name``).
        best_effort: topics to subscribe best-effort (camera inputs published with sensor QoS).
    """

    def __init__(self, topics: dict[str, str], best_effort: tuple[str, ...] = (),
                 node_name: str = "unipose_recorder", **node_kwargs) -> None:
        super().__init__(node_name, **node_kwargs)
        self._lock = threading.Lock()
        self.messages: list[RecordedMessage] = []
        self.counts: dict[str, int] = {t: 0 for t in topics}
        for topic, msgtype in topics.items():
            cls = message_class(msgtype)
            if cls is None:
                raise ImportError(f"cannot record {topic}: no Python package for {msgtype}")
            qos = QoSProfile(
                depth=100, history=HistoryPolicy.KEEP_LAST,
                reliability=ReliabilityPolicy.BEST_EFFORT if topic in best_effort else ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.VOLATILE)
            self.create_subscription(cls, topic, self._callback(topic, msgtype), qos, raw=True)

    def _callback(self, topic: str, msgtype: str):
        def on_message(raw: bytes) -> None:
            now = time.time_ns()
            with self._lock:
                self.messages.append(RecordedMessage(topic, msgtype, now, bytes(raw)))
                self.counts[topic] += 1
        return on_message

    def snapshot(self) -> list[RecordedMessage]:
        """A copy of what was received so far, in receive order."""
        with self._lock:
            return list(self.messages)
