"""Fused estimator: several learned estimators (depth, colour, point cloud) combined per joint.

All members see the same people: the proposals are computed once from the depth image and every
member runs on crops around the same centres (:meth:`LearnedEstimator.estimate_crops`), so person
``i`` of every member is the same person. A member that cannot use a frame (e.g. the colour
member on depth-only input) is left out of that frame.

**Fusion rule**, for each person and joint ``j``, over the members' predictions ``x_m`` (metres)
with confidences ``c_m`` (members with a non-finite ``x_m`` do not take part):

1. outliers: with at least ``min_members_for_outliers`` (3) predictions, the per-axis median
   ``x_med`` is taken and every prediction farther than ``outlier_m`` (0.15 m) from it is dropped
   (when all are that far, the one nearest to ``x_med`` is kept). With two predictions neither is
   dropped: there is no majority to say which one is wrong.
2. position: the confidence-weighted mean of the kept predictions,
   ``x = sum c_m x_m / sum c_m`` (the plain mean when every kept confidence is 0).
3. confidence: the confidence-weighted mean confidence of the kept predictions,
   ``c = sum c_m^2 / sum c_m``, times an agreement factor
   ``(n_kept / n) * exp(-0.5 * (s / outlier_m)^2)``, where ``s`` is the confidence-weighted RMS
   distance of the kept predictions from ``x``. Members that agree keep their confidence; a
   dropped member or a spread of ``outlier_m`` among the kept ones lowers it.

Identical members therefore give exactly the member's pose and confidences. The person's score is
the mean fused joint confidence (people below :attr:`FusedEstimator.min_person_score` are dropped).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.pose import Modality, PersonPose
from unipose_ros.estimators.learned import LearnedConfig, LearnedEstimator


@dataclass(frozen=True)
class FusedConfig:
    """Settings of :class:`FusedEstimator` (YAML: config/fused.yaml).

    Attributes:
        members: learned estimators to combine (``depth``, ``rgb``, ``pointcloud``).
        depth_checkpoint, rgb_checkpoint, pointcloud_checkpoint: checkpoint files of the members;
            empty = the bundled ones.
        outlier_m: a prediction farther than this (metres) from the per-joint median is dropped.
        min_members_for_outliers: outliers are dropped only with at least this many predictions.
        learned: settings shared by the members (people are found with its proposals and
            ``max_people``).
    """

    members: tuple[str, ...] = ("depth", "rgb", "pointcloud")
    depth_checkpoint: str = ""
    rgb_checkpoint: str = ""
    pointcloud_checkpoint: str = ""
    outlier_m: float = 0.15
    min_members_for_outliers: int = 3
    learned: LearnedConfig = field(default_factory=LearnedConfig)

    def __post_init__(self) -> None:
        known = ("depth", "rgb", "pointcloud")
        bad = [m for m in self.members if m not in known]
        if bad or not self.members or len(set(self.members)) != len(self.members):
            raise ValueError(f"fused members {list(self.members)}: use distinct names among {list(known)}")
        if self.outlier_m <= 0 or self.min_members_for_outliers < 2:
            raise ValueError("outlier_m must be > 0 and min_members_for_outliers >= 2")


def fuse_joint(points: np.ndarray, confidence: np.ndarray, outlier_m: float = 0.15,
               min_members_for_outliers: int = 3) -> tuple[np.ndarray, float, np.ndarray]:
    """Fuse one joint's predictions by the rule of the module docstring.

    Args:
        points: (M, 3) metres, one row per member (non-finite rows are ignored).
        confidence: (M,) in [0, 1].
    Returns:
        (3,) fused position (NaN when no member has a finite one), fused confidence in [0, 1], and
        (M,) bool: the members kept.
    """
    points = np.asarray(points, dtype=np.float64)
    conf = np.clip(np.nan_to_num(np.asarray(confidence, dtype=np.float64)), 0.0, 1.0)
    ok = np.isfinite(points).all(axis=1)
    n = int(ok.sum())
    kept = ok.copy()
    if n == 0:
        return np.full(3, np.nan), 0.0, kept
    if n >= min_members_for_outliers:
        med = np.median(points[ok], axis=0)
        dist = np.full(len(points), np.inf)
        dist[ok] = np.linalg.norm(points[ok] - med, axis=1)
        kept = ok & (dist <= outlier_m)
        if not kept.any():
            kept[int(np.argmin(dist))] = True
    p, c = points[kept], conf[kept]
    total = c.sum()
    w = c / total if total > 0 else np.full(len(c), 1.0 / len(c))
    x = w @ p
    mean_conf = float((c * c).sum() / total) if total > 0 else 0.0
    s = float(np.sqrt(w @ np.square(p - x).sum(axis=1)))
    agreement = (len(p) / n) * float(np.exp(-0.5 * (s / outlier_m) ** 2))
    return x, float(np.clip(mean_conf * agreement, 0.0, 1.0)), kept


def fuse_poses(poses: Sequence[PersonPose], outlier_m: float = 0.15, min_members_for_outliers: int = 3) -> PersonPose:
    """One person's pose from the members' poses of that person (same joint set), joint by joint
    (:func:`fuse_joint`). Modality FUSED, ``track_id`` -1, score = mean fused confidence."""
    if not poses:
        raise ValueError("fuse_poses needs at least one pose")
    js = poses[0].joint_set
    if any(p.joint_set.name != js.name for p in poses):
        raise ValueError(f"cannot fuse poses of different joint sets: {sorted({p.joint_set.name for p in poses})}")
    stacked = np.stack([p.joints for p in poses])          # (M, J, 3)
    confs = np.stack([p.confidence for p in poses])        # (M, J)
    joints = np.empty((len(js), 3))
    conf = np.empty(len(js), np.float32)
    for j in range(len(js)):
        joints[j], conf[j], _ = fuse_joint(stacked[:, j], confs[:, j], outlier_m, min_members_for_outliers)
    return PersonPose(track_id=-1, joint_set=js, joints=joints.astype(np.float32), confidence=conf,
                      modality=Modality.FUSED, score=float(conf.mean()))


class FusedEstimator:
    """Learned estimators combined per joint (see the module docstring for the rule).

    Args:
        members: :class:`LearnedEstimator` objects (owned: closed by :meth:`close`), one joint set.
        config: :class:`FusedConfig` (its ``outlier_m``, ``min_members_for_outliers`` and
            ``learned.proposals`` / ``learned.max_people`` are used here).
    """

    name = "a2j_fused"
    modality = Modality.FUSED

    def __init__(self, members: Sequence[LearnedEstimator], config: FusedConfig | None = None) -> None:
        if not members:
            raise ValueError("the fused estimator needs at least one member")
        names = {m.joint_set.name for m in members}
        if len(names) != 1:
            raise ValueError(f"fused members predict different joint sets {sorted(names)}: use checkpoints of one set")
        self.members = list(members)
        self.config = config or FusedConfig()
        self.joint_set = self.members[0].joint_set
        self.last_used: list[str] = []  # kinds of the members that ran on the last frame

    def estimate(self, frame: RGBDFrame) -> list[PersonPose]:
        """3D poses of the people in ``frame`` (nearest first), each fused over the members that
        can use the frame.

        Raises:
            InputError: no member can use the frame (e.g. no depth image); the first member's
                message is raised.
        """
        if frame.depth is None:
            raise InputError("the fused estimator needs a depth image (people are found in depth; colour is "
                             "optional): subscribe the depth topic registered to colour")
        frame.validate()
        cfg = self.config
        # the members share cfg.learned: one search for people; members with another crop size re-make theirs
        crops = self.members[0].make_crops(frame)
        self.last_used = []
        if not crops:
            return []
        results: list[list[PersonPose]] = []
        first_error: InputError | None = None
        for member in self.members:
            try:
                results.append(member.estimate_crops(frame, crops))
                self.last_used.append(member.kind)
            except InputError as e:
                first_error = first_error or e
        if not results:
            raise first_error  # type: ignore[misc]
        poses = []
        for i in range(len(crops)):
            fused = fuse_poses([r[i] for r in results], cfg.outlier_m, cfg.min_members_for_outliers)
            fused.keypoints_2d = frame.camera.project(fused.joints).astype(np.float32)
            if fused.score >= self.min_person_score:
                poses.append(fused)
        return poses

    @property
    def min_person_score(self) -> float:
        """``learned.min_person_score`` when set, else the lowest calibrated value of the members."""
        if self.config.learned.min_person_score is not None:
            return float(self.config.learned.min_person_score)
        return min((m.min_person_score for m in self.members), default=0.0)

    def close(self) -> None:
        """Close every member."""
        for m in self.members:
            m.close()
