"""ROS4HRI (REP-155) output of the pose node, beside its own messages.

Topics (``prefix`` = the ``hri_prefix`` parameter, ``/humans`` by default):

* ``<prefix>/bodies/tracked`` (hri_msgs/IdsList): the ids of the bodies tracked in this frame,
  stamped with the input image; published for every processed frame, empty when nobody is seen.
* ``<prefix>/bodies/<id>/roi`` (hri_msgs/NormalizedRegionOfInterest2D): the body's box in the
  colour image, normalised to [0, 1], from its projected joints; ``c`` = the person's score.
* ``<prefix>/bodies/<id>/skeleton2d`` (hri_msgs/Skeleton2D): the joints projected into the
  image, normalised, in the 18-point OpenPose order of the message (:data:`SKELETON2D_SOURCES`);
  points the joint set lacks get ``c = 0``.

TF frames ``body_<id>`` (x forward, y left, z up) and the joint frames come from
:func:`unipose_ros.ros.publishers.transforms`. Ids are :func:`unipose_ros.ros.publishers.body_id`
strings. The per-body publishers are created when an id first appears and destroyed when it
leaves the tracked list; their messages are built only while someone subscribes.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.pose import PersonPose
from unipose_ros.ros.publishers import body_id
from unipose_ros.ros.qos import output_qos

#: hri_msgs/Skeleton2D's 18 points (OpenPose COCO order) -> the joints they are made of, by
#: joint name: one name, or several averaged (the neck of COCO-17 is the shoulders' midpoint).
#: ITOP-15 has hands and feet where OpenPose has wrists and ankles, and its head for the nose.
SKELETON2D_SOURCES: tuple[tuple[str, ...], ...] = (
    ("nose", "head"),            # NOSE: COCO's nose, else ITOP's head
    ("neck",),                   # NECK (COCO-17: the shoulders, below)
    ("right_shoulder",), ("right_elbow",), ("right_wrist", "right_hand"),
    ("left_shoulder",), ("left_elbow",), ("left_wrist", "left_hand"),
    ("right_hip",), ("right_knee",), ("right_ankle", "right_foot"),
    ("left_hip",), ("left_knee",), ("left_ankle", "left_foot"),
    ("left_eye",), ("right_eye",), ("left_ear",), ("right_ear",),
)


@functools.lru_cache(maxsize=16)
def _skeleton2d_sources(joints: tuple[str, ...]) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """For a joint set's names: the joint index of each Skeleton2D point (-1: none) and, when
    the set has no neck, (the neck's point, left shoulder, right shoulder): the shoulders'
    midpoint stands in for it."""
    src = np.array([next((joints.index(n) for n in c if n in joints), -1) for c in SKELETON2D_SOURCES])
    neck = (SKELETON2D_SOURCES.index(("neck",)), joints.index("left_shoulder"), joints.index("right_shoulder")) if (
        "neck" not in joints and {"left_shoulder", "right_shoulder"} <= set(joints)) else None
    return src, neck


def skeleton2d_points(pose: PersonPose, camera: PinholeCamera) -> np.ndarray:
    """(18, 3) float32 (x, y, c) of hri_msgs/Skeleton2D: the pose's joints (camera optical frame)
    projected with ``camera``, divided by the image width and height and clipped to [0, 1]; ``c``
    is the joint's confidence, 0 for a point the joint set lacks or a joint without an estimate.
    The neck of a joint set without one is the midpoint of the shoulders (the lower confidence)."""
    src, neck = _skeleton2d_sources(pose.joint_set.joints)
    uv = camera.project(pose.joints).astype(np.float64)
    conf = pose.confidence.astype(np.float64)
    have = src >= 0
    points = np.where(have[:, None], uv[np.maximum(src, 0)], np.nan)
    c = np.where(have, conf[np.maximum(src, 0)], 0.0)
    if neck is not None:
        k, a, b = neck
        points[k] = 0.5 * (uv[a] + uv[b])
        c[k] = min(conf[a], conf[b])
    ok = np.isfinite(points).all(axis=1)
    size = np.array([camera.width, camera.height], np.float64)
    out = np.zeros((len(SKELETON2D_SOURCES), 3), np.float32)
    out[ok, :2] = np.clip(points[ok] / size, 0.0, 1.0)
    out[ok, 2] = np.clip(c[ok], 0.0, 1.0)
    return out


def body_roi(pose: PersonPose, camera: PinholeCamera, margin: float = 0.1) -> tuple[float, ...] | None:
    """(xmin, ymin, xmax, ymax, c) of hri_msgs/NormalizedRegionOfInterest2D: the box of the
    projected finite joints, grown by ``margin`` of its size on every side (joints sit inside
    the body's outline), normalised and clipped to [0, 1]; ``c`` = the person's score. None when
    fewer than two joints project into the image."""
    uv = camera.project(pose.joints)
    uv = uv[np.isfinite(uv).all(axis=1)]
    if len(uv) < 2:
        return None
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    pad = margin * (hi - lo)
    size = np.array([camera.width, camera.height], np.float64)
    lo, hi = np.clip((lo - pad) / size, 0.0, 1.0), np.clip((hi + pad) / size, 0.0, 1.0)
    if not (hi > lo).all():
        return None
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), float(np.clip(pose.score, 0.0, 1.0))


class HriPublisher:
    """Publishes the REP-155 body topics of the module docstring on ``node``.

    Args:
        node: the node that owns the publishers.
        prefix: topic prefix (``/humans``).
    Raises:
        ImportError: hri_msgs is not installed (the message says what to install).
    """

    def __init__(self, node, prefix: str = "/humans") -> None:
        try:
            from hri_msgs.msg import IdsList, NormalizedPointOfInterest2D, NormalizedRegionOfInterest2D, Skeleton2D
        except ImportError as e:
            raise ImportError("REP-155 output needs hri_msgs (apt install ros-<distro>-hri-msgs, or "
                              "scripts/build_msgs.sh in a virtualenv); set hri_prefix to '' to turn it off") from e
        try:
            from rclpy.event_handler import PublisherEventCallbacks
        except ImportError:  # Humble
            from rclpy.qos_event import PublisherEventCallbacks  # type: ignore[no-redef]
        self._node = node
        self._cls = {"roi": NormalizedRegionOfInterest2D, "skeleton2d": Skeleton2D}
        self._ids_cls, self._point_cls = IdsList, NormalizedPointOfInterest2D
        self._no_events = PublisherEventCallbacks

        self.prefix = prefix.rstrip("/")
        self._tracked = node.create_publisher(IdsList, f"{self.prefix}/bodies/tracked", output_qos())
        self._bodies: dict[str, dict[str, object]] = {}

    @property
    def bodies(self) -> list[str]:
        """Ids that have per-body publishers now."""
        return list(self._bodies)

    def publish(self, poses: Sequence[PersonPose], header, camera: PinholeCamera) -> list[str]:
        """Publish one frame: the tracked ids (poses with ``track_id`` >= 0) and each one's roi
        and skeleton2d. ``poses`` are in the camera optical frame of ``camera`` (before any
        target_frame transform); ``header`` is the input image's. Returns the ids published."""
        tracked = [p for p in poses if p.track_id >= 0]
        ids = [body_id(p.track_id) for p in tracked]
        for gone in set(self._bodies) - set(ids):
            for pub in self._bodies.pop(gone).values():
                self._node.destroy_publisher(pub)
        for pose, bid in zip(tracked, ids):
            pubs = self._bodies.get(bid)
            if pubs is None:
                # Created and destroyed on the worker thread while the executor spins: without
                # QoS event handlers, which are waitables the executor iterates, a publisher is
                # invisible to it (rclpy removes a destroyed publisher's handlers from the node's
                # waitables, a race with a spinning executor).
                pubs = self._bodies[bid] = {
                    name: self._node.create_publisher(cls, f"{self.prefix}/bodies/{bid}/{name}", output_qos(),
                                                      event_callbacks=self._no_events(use_default_callbacks=False))
                    for name, cls in self._cls.items()}
            # messages nobody subscribes to are not built (the publishers stay, to be discovered)
            roi = body_roi(pose, camera) if pubs["roi"].get_subscription_count() else None
            if roi is not None:
                xmin, ymin, xmax, ymax, c = roi
                pubs["roi"].publish(self._cls["roi"](header=header, xmin=xmin, ymin=ymin, xmax=xmax,
                                                     ymax=ymax, c=c))
            if pubs["skeleton2d"].get_subscription_count():
                points = skeleton2d_points(pose, camera)
                pubs["skeleton2d"].publish(self._cls["skeleton2d"](header=header, skeleton=[
                    self._point_cls(x=x, y=y, c=c) for x, y, c in points.astype(np.float64).tolist()]))
        self._tracked.publish(self._ids_cls(header=header, ids=ids))
        return ids

    def destroy(self) -> None:
        """Destroy every publisher."""
        for pubs in self._bodies.values():
            for pub in pubs.values():
                self._node.destroy_publisher(pub)
        self._bodies = {}
        self._node.destroy_publisher(self._tracked)
