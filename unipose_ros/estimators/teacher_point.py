"""The teacher-guided point network: a 2D teacher on colour finds the people, the point model lifts them.

Cross-modality estimator (RGB -> points). Pipeline of :meth:`TeacherPointEstimator.estimate` for
one frame:

1. the 2D teacher's people (:meth:`~unipose_ros.estimators.baseline.BaselineEstimator.detect_2d`:
   depth proposals, teacher per box, else on the whole image, duplicates removed), mapped to the
   model's joint set (:func:`~unipose_ros.core.joints.joint_map`: uv and confidence);
2. each person's crop centre from their confident trunk keypoints and the registered depth
   (:func:`~unipose_ros.core.crop.centre_from_keypoints`); people without valid depth there are
   skipped; the cube crop (:func:`~unipose_ros.core.crop.make_crop`, the checkpoint's
   :class:`~unipose_ros.core.crop.CropConfig`);
3. the person's points (:func:`~unipose_ros.core.crop.crop_points`) and, per point and joint, the
   teacher keypoint channel (:func:`~unipose_ros.core.keypoint_features.keypoint_point_features`):
   input (B, N, 3 + J) float32, one batched forward;
4. joints mapped to metres in the camera optical frame (``PersonCrop.points_to_camera``); the
   confidence is that of :class:`~unipose_ros.estimators.learned.LearnedEstimator` (vote spread,
   times ``unsupported_confidence`` without depth support).

The checkpoint is a ``pointcloud`` A2J whose ``config.point_features`` equals the number of joints
(the weakly supervised training stage writes such models). The keypoint channel width
``sigma_px`` must be the one the model was trained with: by default it is read from the
checkpoint's provenance (``training_config.sigma_px``), else 8 px.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unipose_ros.core.crop import PersonCrop, centre_from_keypoints, crop_depth, crop_points, make_crop
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import JointMap, joint_map
from unipose_ros.core.keypoint_features import DEFAULT_SIGMA_PX, keypoint_point_features
from unipose_ros.core.pose import PersonPose
from unipose_ros.estimators.baseline import BaselineConfig, BaselineEstimator
from unipose_ros.estimators.learned import LearnedConfig, LearnedEstimator, _window_has_support
from unipose_ros.models import CheckpointError, LoadedModel
from unipose_ros.teachers.base import Teacher2D


@dataclass(frozen=True)
class TeacherPointConfig:
    """Settings of :class:`TeacherPointEstimator`.

    Attributes:
        learned: the network side (joint set, input size, max_people, min_person_score,
            confidence_scale, support_radius, unsupported_confidence; its ``proposals`` are unused:
            people come from the teacher).
        detection: how the teacher finds people (multi_person, always_full_image, max_people,
            min_person_score, duplicate_distance, teacher, proposals; the depth lookup settings
            are unused).
        sigma_px: width of the keypoint channels, image pixels; None = the checkpoint's training
            value (``provenance["training_config"]["sigma_px"]``), else 8.
        centre_min_conf: keypoints below this confidence do not place the crop centre.
        centre_depth_offset_m: added to the keypoints' surface depth to place the crop centre
            (metres; must match how the training samples were centred).
    """

    learned: LearnedConfig = field(default_factory=LearnedConfig)
    detection: BaselineConfig = field(default_factory=BaselineConfig)
    sigma_px: float | None = None
    centre_min_conf: float = 0.3
    centre_depth_offset_m: float = 0.0

    def __post_init__(self) -> None:
        if self.sigma_px is not None and not self.sigma_px > 0:
            raise ValueError(f"sigma_px must be > 0 pixels (or None for the checkpoint's), got {self.sigma_px}")
        if not 0.0 <= self.centre_min_conf <= 1.0:
            raise ValueError(f"centre_min_conf must be in [0, 1], got {self.centre_min_conf}")


def checkpoint_sigma_px(loaded: LoadedModel) -> float:
    """The keypoint channel width (pixels) a model was trained with: its provenance's
    ``training_config.sigma_px``, else :data:`~unipose_ros.core.keypoint_features.DEFAULT_SIGMA_PX`."""
    training = (loaded.provenance or {}).get("training_config") or {}
    value = training.get("sigma_px") if isinstance(training, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else DEFAULT_SIGMA_PX


class TeacherPointEstimator(LearnedEstimator):
    """A point A2J with teacher keypoint channels as an :class:`~unipose_ros.estimators.base.Estimator`
    (see the module docstring).

    Args:
        loaded: a :class:`~unipose_ros.models.LoadedModel` or a checkpoint path; its kind must be
            ``pointcloud`` with ``config.point_features`` = number of joints.
        teacher: the 2D teacher (owned: closed by :meth:`close`).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32``, ``fp16`` or ``bf16``.
        compile: wrap the network in ``torch.compile``.
        config: :class:`TeacherPointConfig`.
    Raises:
        CheckpointError: not a point model with teacher keypoint channels, or joint set / input
            size not the configured ones.
        ValueError: unusable device or precision, or no map from the teacher's joints to the
            model's joint set.
    """

    takes_teacher_keypoints = True

    def __init__(self, loaded: LoadedModel | str | Path, teacher: Teacher2D, device: str = "cpu",
                 precision: str = "fp32", compile: bool = False, config: TeacherPointConfig | None = None) -> None:
        options = config or TeacherPointConfig()
        super().__init__(loaded, device=device, precision=precision, compile=compile, config=options.learned,
                         kind="pointcloud")
        self.options = options
        self.name = "teacher_a2j_pointcloud"
        self.teacher = teacher
        self.detector = BaselineEstimator(teacher, options.detection)
        self.keypoint_map: JointMap = joint_map(teacher.source, self.joint_set.name)
        self.sigma_px = float(options.sigma_px) if options.sigma_px is not None else checkpoint_sigma_px(self.loaded)

    def _check(self, loaded: LoadedModel, kind: str | None) -> None:
        super()._check(loaded, kind)
        j = loaded.config.num_joints
        if loaded.config.point_features != j:
            raise CheckpointError(f"checkpoint {loaded.path or 'the model'}: the model takes "
                                  f"{loaded.config.point_features} channels per point besides xyz, but teacher "
                                  f"keypoint channels are one per joint ({j} for {loaded.config.joint_set!r})")

    def check_frame(self, frame: RGBDFrame) -> None:
        """Raise InputError unless ``frame`` has colour (for the teacher) and registered depth."""
        if frame.rgb is None:
            raise InputError("the teacher_pointcloud estimator needs a colour image (the 2D teacher runs on it): "
                             "subscribe the colour topic, or use the pointcloud or depth estimator for depth-only "
                             "input")
        if frame.depth is None:
            raise InputError("the teacher_pointcloud estimator needs a depth image registered to colour (the points "
                             "come from it): subscribe aligned_depth_to_color")
        frame.validate()

    # ------------------------------------------------------------------ teacher
    def detect_keypoints(self, frame: RGBDFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The teacher's people in the model's joint set.

        Returns:
            uv (P, J, 2) float32 image pixels, conf (P, J) float32, score (P,) float32 (teacher
            person scores); P = 0 when nobody is found.
        """
        self.check_frame(frame)
        people = self.detector.detect_2d(frame)
        j = len(self.joint_set)
        if not people:
            return np.zeros((0, j, 2), np.float32), np.zeros((0, j), np.float32), np.zeros(0, np.float32)
        uv = np.stack([self.keypoint_map.apply(k.uv) for k in people]).astype(np.float32)
        conf = np.stack([self.keypoint_map.apply_confidence(k.confidence) for k in people]).astype(np.float32)
        return uv, conf, np.array([k.score for k in people], np.float32)

    # ------------------------------------------------------------------ inference
    def estimate(self, frame: RGBDFrame) -> list[PersonPose]:
        """3D poses of the people the teacher finds in ``frame``.

        Args:
            frame: needs ``rgb`` (H, W, 3) uint8 and ``depth`` (H, W) float32 metres registered to it.
        Returns:
            one :class:`PersonPose` per person with valid depth at their keypoints (at most
            ``max_people``), nearest first, ``track_id`` -1, joints (J, 3) metres in the optical
            frame, ``keypoints_2d`` the teacher's keypoints; people scoring below
            ``min_person_score`` are dropped; [] when nobody is found.
        Raises:
            InputError: missing colour or depth, inconsistent shapes.
        """
        uv, conf, _ = self.detect_keypoints(frame)
        return self.estimate_keypoints(frame, uv, conf)

    def estimate_keypoints(self, frame: RGBDFrame, uv: np.ndarray, conf: np.ndarray) -> list[PersonPose]:
        """Poses from given 2D keypoints (e.g. a cached teacher run) instead of running the teacher.

        Args:
            frame: needs ``depth`` (H, W) float32 metres registered to the keypoints' image.
            uv: (P, J, 2) image pixels in the model's joint order; NaN allowed.
            conf: (P, J) confidences in [0, 1].
        Returns:
            as :meth:`estimate` (people without valid depth at their confident keypoints skipped).
        """
        LearnedEstimator.check_frame(self, frame)
        uv, conf = self._keypoints(uv, conf)
        centres, keep = [], []
        for i in range(len(uv)):
            c = centre_from_keypoints(frame.depth, frame.camera, uv[i], conf[i], min_conf=self.options.centre_min_conf,
                                      joint_set=self.joint_set, depth_offset_m=self.options.centre_depth_offset_m)
            if c is not None and np.isfinite(c).all() and c[2] > 0:
                centres.append(c)
                keep.append(i)
        order = sorted(range(len(keep)), key=lambda k: float(centres[k][2]))[: self.config.max_people]
        crops = [make_crop(frame.camera, centres[k], self.crop_config) for k in order]
        idx = np.array([keep[k] for k in order], dtype=np.int64)
        poses = self.estimate_crops(frame, crops, uv[idx], conf[idx])
        return [p for p in poses if p.score >= self.min_person_score]

    def estimate_crops(self, frame: RGBDFrame, crops: list[PersonCrop], uv: np.ndarray | None = None,
                       conf: np.ndarray | None = None) -> list[PersonPose]:
        """Poses of the people in ``crops`` (one per crop, same order) with their teacher keypoints.

        Args:
            frame: needs ``depth`` (H, W) float32 metres.
            crops: one per person; crops made with another :class:`CropConfig` are re-made around
                the same centre with this model's.
            uv: (B, J, 2) image pixels, the keypoints of each crop's person (required).
            conf: (B, J) confidences (required).
        Raises:
            InputError: keypoints missing or not one set per crop.
        """
        LearnedEstimator.check_frame(self, frame)
        if uv is None or conf is None:
            raise InputError("the teacher_pointcloud estimator needs the teacher's 2D keypoints of each crop: pass "
                             "uv (B, J, 2) and conf (B, J), or call estimate(frame) to run the teacher")
        uv, conf = self._keypoints(uv, conf)
        if len(uv) != len(crops):
            raise InputError(f"{len(crops)} crops but keypoints of {len(uv)} people: give one set per crop")
        if not crops:
            return []
        crops = [self._own(c) for c in crops]
        depth_crops = np.stack([crop_depth(frame.depth, c) for c in crops])       # (B, S, S), 1 = no depth
        found = [crop_points(frame.depth, c, self.n_points, None) for c in crops]
        feats = [keypoint_point_features(p, c, uv[i], conf[i], self.sigma_px, n)
                 for i, ((p, n), c) in enumerate(zip(found, crops))]
        batch = np.concatenate([np.stack([p for p, _ in found]), np.stack(feats)], axis=-1).astype(np.float32)
        support_ok = np.array([n > 0 for _, n in found])
        out = self._run(batch)                                                    # (B, J, 4) float32
        joints_crop, net_conf = out[..., :3].astype(np.float64), out[..., 3].astype(np.float32)
        poses = []
        for i, crop in enumerate(crops):
            xyz = crop.points_to_camera(joints_crop[i])
            uv_crop = crop.from_camera(xyz)[:, :2]
            supported = _window_has_support(depth_crops[i:i + 1] < 1.0, uv_crop[None], self.config.support_radius)[0]
            supported &= support_ok[i]
            c = np.where(supported, net_conf[i], net_conf[i] * self.config.unsupported_confidence)
            c = np.where(np.isfinite(xyz).all(axis=1), np.clip(c, 0.0, 1.0), 0.0).astype(np.float32)
            poses.append(PersonPose(track_id=-1, joint_set=self.joint_set, joints=xyz.astype(np.float32),
                                    confidence=c, modality=self.modality, score=float(c.mean()),
                                    keypoints_2d=uv[i].astype(np.float32)))
        return poses

    def _keypoints(self, uv: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = len(self.joint_set)
        uv = np.asarray(uv, dtype=np.float64)
        conf = np.asarray(conf, dtype=np.float64)
        if uv.ndim != 3 or uv.shape[1:] != (j, 2) or conf.shape != uv.shape[:2]:
            raise InputError(f"keypoints must be uv (P, {j}, 2) pixels and conf (P, {j}) in the {self.joint_set.name} "
                             f"order, got uv {uv.shape}, conf {conf.shape}")
        return uv, conf

    def close(self) -> None:
        """Release the network and close the teacher."""
        super().close()
        self.detector.close()


def build_teacher_point(checkpoint: str | Path, config: TeacherPointConfig | None = None, device: str = "cpu",
                        precision: str = "fp32", compile: bool = False) -> TeacherPointEstimator:
    """A :class:`TeacherPointEstimator` with a MediaPipe BlazePose teacher (settings:
    ``config.detection.teacher``) and the point model in ``checkpoint``."""
    from unipose_ros.teachers.mediapipe_pose import MediaPipePoseTeacher  # noqa: PLC0415 (heavy)

    cfg = config or TeacherPointConfig()
    t = cfg.detection.teacher
    teacher = MediaPipePoseTeacher(min_detection_confidence=t.min_detection_confidence,
                                   min_tracking_confidence=t.min_tracking_confidence,
                                   static_image_mode=t.static_image_mode,
                                   crop_padding=t.crop_padding, min_crop_px=t.min_crop_px)
    try:
        return TeacherPointEstimator(checkpoint, teacher, device=device, precision=precision, compile=compile,
                                     config=cfg)
    except BaseException:
        teacher.close()
        raise
