"""The one pose type every estimator returns and every publisher and metric consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from unipose_ros.core.joints import JointSet


class Modality(IntEnum):
    """Which input produced a pose. Values match the constants of unipose_ros/msg/Skeleton3D."""

    UNKNOWN = 0
    RGBD_LOOKUP = 1  # 2D keypoints on colour + depth lookup (baseline)
    DEPTH = 2
    RGB = 3
    POINT_CLOUD = 4
    FUSED = 5
    GROUND_TRUTH = 6


@dataclass
class PersonPose:
    """One person's 3D skeleton.

    Attributes:
        track_id: stable id while the person is tracked (never the index in a per-frame list).
        joint_set: the joint order of ``joints`` and ``confidence``.
        joints: (J, 3) float32 metres in the camera optical frame; NaN for a joint with no estimate.
        confidence: (J,) float32 in [0, 1]; low-confidence joints are kept, never dropped.
        modality: which input produced the pose.
        score: person-level confidence in [0, 1].
        keypoints_2d: optional (J, 2) float32 pixels (u, v) the estimate came from.
    """

    track_id: int
    joint_set: JointSet
    joints: np.ndarray
    confidence: np.ndarray
    modality: Modality = Modality.UNKNOWN
    score: float = 1.0
    keypoints_2d: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.joints = np.asarray(self.joints, dtype=np.float32)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        n = len(self.joint_set)
        if self.joints.shape != (n, 3) or self.confidence.shape != (n,):
            raise ValueError(
                f"{self.joint_set.name} has {n} joints; got joints {self.joints.shape}, "
                f"confidence {self.confidence.shape}")

    @property
    def root(self) -> np.ndarray:
        """(3,) the root joint (metres, optical frame)."""
        return self.joints[self.joint_set.root]
