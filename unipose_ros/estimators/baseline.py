"""The baseline 3D estimator: a 2D teacher on RGB plus a robust depth lookup at each keypoint.

This is the approach of today's ROS packages (hri_fullbody, yolo_ros 3D): it needs colour AND
depth registered to colour. Pipeline per frame:

1. person proposals from depth (:mod:`unipose_ros.core.person_proposals`), when
   ``multi_person`` is on: the teacher runs once per proposal box on a padded crop;
2. the teacher on the whole image when there are no proposals or none held a person;
3. duplicates (two boxes on one person) removed, keeping the higher score;
4. the teacher's keypoints mapped to the output joint set (``joint_map``: uv and confidence), then
   lifted to 3D with :func:`unipose_ros.core.depth_lookup.lift_keypoints`.

Only :func:`build_baseline` reads configuration; the typed config is :class:`BaselineConfig`,
loaded from YAML by :func:`load_baseline_config` (see config/baseline.yaml).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unipose_ros.core.config import load_yaml
from unipose_ros.core.depth_lookup import DepthLookupConfig, lift_keypoints
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import JointMap, JointSet, joint_map, joint_set
from unipose_ros.core.person_proposals import ProposalConfig, propose_people
from unipose_ros.core.pose import Modality, PersonPose
from unipose_ros.teachers.base import Keypoints2D, Teacher2D, box_iou


@dataclass(frozen=True)
class TeacherConfig:
    """MediaPipe BlazePose settings (see :class:`~unipose_ros.teachers.mediapipe_pose.MediaPipePoseTeacher`)."""

    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    static_image_mode: bool = True
    crop_padding: float = 0.2
    min_crop_px: int = 48


@dataclass(frozen=True)
class BaselineConfig:
    """Everything :func:`build_baseline` needs.

    Attributes:
        joint_set: output joint set, ``"itop15"`` or ``"coco17"``.
        multi_person: propose people from depth and run the teacher per proposal box.
        always_full_image: also run the teacher on the whole image when proposals found people
            (catches a person the proposals missed; one more teacher call per frame).
        max_people: at most this many proposal boxes (nearest first) per frame.
        min_person_score: drop people whose teacher score is below this.
        duplicate_distance: two detections whose confident keypoints are on average closer than
            this fraction of the person's box size are one person.
    """

    joint_set: str = "itop15"
    multi_person: bool = True
    always_full_image: bool = False
    max_people: int = 6
    min_person_score: float = 0.3
    duplicate_distance: float = 0.15
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    depth: DepthLookupConfig = field(default_factory=DepthLookupConfig)
    proposals: ProposalConfig = field(default_factory=ProposalConfig)


def load_baseline_config(path: str | Path) -> BaselineConfig:
    """Read a :class:`BaselineConfig` from a YAML file (missing keys take their defaults)."""
    return load_yaml(BaselineConfig, path)


def _same_person(a: Keypoints2D, b: Keypoints2D, max_distance: float, min_conf: float = 0.3) -> bool:
    both = (a.confidence >= min_conf) & (b.confidence >= min_conf)
    if both.sum() < 3:
        return box_iou(a.box, b.box) > 0.7
    size = np.sqrt(max((a.box[2] - a.box[0]) * (a.box[3] - a.box[1]), 1.0))
    dist = np.linalg.norm(a.uv[both] - b.uv[both], axis=1).mean()
    return bool(dist < max_distance * size)


def deduplicate(people: list[Keypoints2D], max_distance: float) -> list[Keypoints2D]:
    """Keep the highest-score detection of each person (greedy, by score)."""
    kept: list[Keypoints2D] = []
    for kp in sorted(people, key=lambda k: -k.score):
        if not any(_same_person(kp, other, max_distance) for other in kept):
            kept.append(kp)
    return kept


class BaselineEstimator:
    """2D teacher + depth lookup (modality ``RGBD_LOOKUP``).

    Args:
        teacher: a :class:`~unipose_ros.teachers.base.Teacher2D` (owned: closed by :meth:`close`).
        config: :class:`BaselineConfig`.
    """

    name = "baseline_mediapipe_depth"
    modality = Modality.RGBD_LOOKUP

    def __init__(self, teacher: Teacher2D, config: BaselineConfig | None = None) -> None:
        self.config = config or BaselineConfig()
        self.teacher = teacher
        self.joint_set: JointSet = joint_set(self.config.joint_set)
        self._map: JointMap = joint_map(teacher.source, self.joint_set.name)

    def detect_2d(self, frame: RGBDFrame) -> list[Keypoints2D]:
        """The teacher's people in ``frame`` (proposal crops, else the whole image), deduplicated,
        in the teacher's joint order. Needs ``frame.rgb``; uses ``frame.depth`` for proposals."""
        cfg = self.config
        found: list[Keypoints2D] = []
        if cfg.multi_person and frame.depth is not None:
            props = propose_people(frame.depth, frame.camera, cfg.proposals)[: cfg.max_people]
            if props:
                found = self.teacher.detect_in_boxes(frame.rgb, [p.box for p in props])
        if not found or cfg.always_full_image:
            found = found + self.teacher.detect(frame.rgb)
        found = [k for k in found if k.score >= cfg.min_person_score]
        return deduplicate(found, cfg.duplicate_distance)

    def estimate(self, frame: RGBDFrame) -> list[PersonPose]:
        """3D poses of the people in ``frame``.

        Args:
            frame: needs ``rgb`` (H, W, 3) uint8 and ``depth`` (H, W) float32 metres registered
                to colour.
        Returns:
            one :class:`PersonPose` per person, ``track_id`` -1, joints (J, 3) metres in the
            optical frame (all finite), nearest person first.
        Raises:
            InputError: no colour or no depth, or inconsistent shapes.
        """
        if frame.rgb is None:
            raise InputError("the baseline estimator needs a colour image (rgb8): subscribe the colour "
                             "topic, or use a depth-only estimator for depth-only input")
        if frame.depth is None:
            raise InputError("the baseline estimator needs a depth image registered to colour: "
                             "subscribe aligned_depth_to_color (realsense2_camera align_depth.enable:=true)")
        frame.validate()
        poses: list[PersonPose] = []
        for kp in self.detect_2d(frame):
            uv = self._map.apply(kp.uv)
            conf = self._map.apply_confidence(kp.confidence)
            lifted = lift_keypoints(frame.depth, frame.camera, uv, conf, self.joint_set, self.config.depth)
            poses.append(PersonPose(track_id=-1, joint_set=self.joint_set, joints=lifted.joints,
                                    confidence=lifted.confidence, modality=self.modality,
                                    score=float(kp.score), keypoints_2d=uv.astype(np.float32)))
        poses.sort(key=lambda p: float(np.nanmedian(p.joints[:, 2])))
        return poses

    def close(self) -> None:
        """Close the teacher."""
        self.teacher.close()


def build_baseline(cfg: BaselineConfig | str | Path | None = None) -> BaselineEstimator:
    """A :class:`BaselineEstimator` with a MediaPipe BlazePose teacher, from a config object, a
    YAML path, or the defaults."""
    from unipose_ros.teachers.mediapipe_pose import MediaPipePoseTeacher  # noqa: PLC0415 (heavy)

    if cfg is None:
        cfg = BaselineConfig()
    elif not isinstance(cfg, BaselineConfig):
        cfg = load_baseline_config(cfg)
    t = cfg.teacher
    teacher = MediaPipePoseTeacher(min_detection_confidence=t.min_detection_confidence,
                                   min_tracking_confidence=t.min_tracking_confidence,
                                   static_image_mode=t.static_image_mode,
                                   crop_padding=t.crop_padding, min_crop_px=t.min_crop_px)
    return BaselineEstimator(teacher, cfg)
