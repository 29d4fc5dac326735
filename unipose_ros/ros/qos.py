"""QoS profiles of the package's topics (one place, so the node, replay and tests agree).

* Camera inputs: sensor-data QoS (best effort, keep last, small depth), matching camera drivers;
  a best-effort subscriber also receives from reliable publishers. ``reliable`` is offered for
  drivers or recorders that need it; ``system_default`` defers to the middleware.
* Outputs (skeletons, markers, diagnostics): reliable, keep last.
* TF: reliable, keep last 100, volatile (what tf2_ros's TransformBroadcaster uses).
* Replayed recordings: reliable publishers, so they match both best-effort and reliable
  subscribers.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

RELIABILITY = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
    "system_default": ReliabilityPolicy.SYSTEM_DEFAULT,
}


def parse_reliability(name: str) -> ReliabilityPolicy:
    """``"best_effort" | "reliable" | "system_default"`` -> ReliabilityPolicy (ValueError else)."""
    try:
        return RELIABILITY[name.strip().lower()]
    except KeyError:
        raise ValueError(f"qos_reliability {name!r} is not one of {sorted(RELIABILITY)}; use "
                         "best_effort for camera drivers (sensor-data QoS)") from None


def input_qos(reliability: str = "best_effort", depth: int = 5) -> QoSProfile:
    """QoS for camera inputs: sensor-data QoS with the given reliability and history depth."""
    if depth < 1:
        raise ValueError(f"qos_depth must be >= 1, got {depth}")
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth),
                      reliability=parse_reliability(reliability),
                      durability=qos_profile_sensor_data.durability)


def output_qos(depth: int = 10) -> QoSProfile:
    """Reliable, volatile, keep last ``depth``: skeletons, markers, diagnostics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth),
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def tf_qos() -> QoSProfile:
    """The QoS of /tf (tf2_ros DynamicBroadcasterQoS / DynamicListenerQoS)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def replay_qos(depth: int = 10) -> QoSProfile:
    """Reliable publishers for replayed recordings (compatible with best-effort subscribers)."""
    return output_qos(depth)
