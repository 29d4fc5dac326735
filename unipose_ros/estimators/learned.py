"""Learned 3D estimators: an A2J network (depth, colour or point cloud) on a crop of each person.

Pipeline of :meth:`LearnedEstimator.estimate` for one frame:

1. people are proposed from the depth image (:func:`~unipose_ros.core.person_proposals.propose_people`),
   the nearest ``max_people`` kept; each proposal's centre (box centre at its median depth,
   :func:`~unipose_ros.core.crop.centre_from_proposal`) defines a cube crop
   (:func:`~unipose_ros.core.crop.make_crop`, the checkpoint's :class:`~unipose_ros.core.crop.CropConfig`);
2. the network inputs of all people are cut on the CPU (numpy) and stacked into one batch:
   depth crops (B, 1, S, S) float32, colour crops (B, S, S, 3) uint8 (uploaded as uint8 and
   viewed channels-first, which is channels-last in memory), or points (B, N, 3) float32;
3. one host-to-device copy of the batch; the network runs under ``torch.inference_mode`` (and
   autocast for fp16 / bf16); joints and confidences are computed on the device and come back
   in one device-to-host copy;
4. crop units are mapped to metres in the camera optical frame (``PersonCrop.to_camera``, or
   ``points_to_camera`` for the point model).

**Per-joint confidence.** A2J's anchors each vote for a joint (anchor position + offset); the
network's ``spread`` is the weight-averaged RMS distance of those votes from the predicted joint,
in crop units. The confidence is ``exp(-spread / confidence_scale)`` (1 when the anchors agree, 0.37
at a spread of ``confidence_scale`` crop units), multiplied by ``unsupported_confidence`` (default 0)
when the joint has no depth support: no valid depth pixel of the person's depth crop (inside or in
front of the cube) within ``support_radius`` crop pixels of the joint's position in the crop (a
joint predicted over a hole, off the image or in empty space). The person's ``score`` is the mean
joint confidence.

The point model's points are built from the depth image (the sensor's cloud in ``frame.points`` is
not needed). The colour model also needs depth: people are found, and their distance is set, from
depth (the colour network predicts depth relative to the crop centre).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from unipose_ros.core.crop import (
    CropConfig,
    PersonCrop,
    centre_from_proposal,
    crop_depth,
    crop_points,
    crop_rgb,
    crop_source_depth,
    make_crop,
    person_centres,
)
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import JointSet
from unipose_ros.core.joints import joint_set as get_joint_set
from unipose_ros.core.person_proposals import ProposalConfig
from unipose_ros.core.pose import Modality, PersonPose
from unipose_ros.estimators.person_detector import DETECTORS, LearnedPersonDetector
from unipose_ros.models import CheckpointError, LoadedModel, load_checkpoint

MODALITIES: dict[str, Modality] = {"depth": Modality.DEPTH, "rgb": Modality.RGB, "pointcloud": Modality.POINT_CLOUD}
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
_DEVICE = re.compile(r"^(cpu|cuda|cuda:\d+)$")


@dataclass(frozen=True)
class LearnedConfig:
    """Settings of :class:`LearnedEstimator` (YAML: config/learned.yaml).

    Attributes:
        joint_set: joint set the checkpoint must predict (refused otherwise).
        input_size: crop size the checkpoint must use; 0 = whatever it was trained with.
        max_people: at most this many people (the nearest proposals) per frame.
        min_person_score: drop people whose score (mean joint confidence) is below this: the
            proposals include person-sized objects, on which the votes scatter. None = the value
            calibrated for the checkpoint (``provenance["calibration"]["min_person_score"]``; 0 when
            it has none; ``python -m unipose_training.supervised.calibrate`` sets it). The bundled depth
            checkpoint's 0.21 keeps 98 % of the people and 6 % of the object proposals of the
            synthetic training split. 0 keeps every proposal.
        confidence_scale: crop units of vote spread at which a joint's confidence is 1/e.
        support_radius: crop pixels around a joint searched for valid depth (depth support).
        unsupported_confidence: factor applied to the confidence of a joint without depth support.
        flip_test: also run the network on the mirrored crop (image mirrored left to right, or
            point x negated about the crop centre, left and right joints and teacher keypoint
            channels swapped) and average the two answers: the network runs on twice the crops.
            None (the default) = on for the depth model, where it was measured to pay for its
            cost (README "Where the errors are"), off for the colour and point models.
        flip_side_check: with ``flip_test``, where the two answers disagree on which side a
            left/right pair is (the mirrored answer is closer to the pair swapped: a front/back
            confusion), the pair keeps the direct answer, unaveraged (averaging would put both
            joints in the middle), and its confidence is multiplied by ``ambiguous_side_confidence``.
        ambiguous_side_confidence: confidence factor of a left/right pair whose side is ambiguous.
        proposals: person proposal settings (depth only; ``detector: geometric``).
        detector: how people are found in the depth image: ``learned`` (the default: the person
            detector network, :mod:`unipose_ros.estimators.person_detector`) or ``geometric`` (planes
            removed, blobs cut at depth jumps: :func:`~unipose_ros.core.person_proposals.propose_people`).
        detector_checkpoint: the learned detector's checkpoint; "" = the bundled one.
        detector_min_score: the learned detector's smallest centre peak; None = the checkpoint's.
    """

    joint_set: str = "itop15"
    input_size: int = 0
    max_people: int = 6
    min_person_score: float | None = None
    confidence_scale: float = 10.0
    support_radius: int = 4
    unsupported_confidence: float = 0.0
    flip_test: bool | None = None
    flip_side_check: bool = True
    ambiguous_side_confidence: float = 0.5
    proposals: ProposalConfig = field(default_factory=ProposalConfig)
    detector: str = "learned"
    detector_checkpoint: str = ""
    detector_min_score: float | None = None

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {self.max_people}")
        if self.confidence_scale <= 0 or self.support_radius < 0:
            raise ValueError("confidence_scale must be > 0 and support_radius >= 0")
        if not 0.0 <= self.ambiguous_side_confidence <= 1.0:
            raise ValueError(f"ambiguous_side_confidence must be in [0, 1], got {self.ambiguous_side_confidence}")
        if not 0.0 <= self.unsupported_confidence <= 1.0:
            raise ValueError(f"unsupported_confidence must be in [0, 1], got {self.unsupported_confidence}")


def combine_flip(direct: np.ndarray, mirrored: np.ndarray, pairs: tuple[tuple[int, int], ...],
                 ambiguous_factor: float) -> np.ndarray:
    """Test-time flip: the mean of the direct answers and the mirrored ones mapped back, both
    (B, J, 4) (joint in crop units, confidence), except for a left/right pair on which the two
    disagree about the side (the mirrored pair is closer to the direct pair swapped than to the
    pair itself): that pair keeps the direct answer with its confidence times ``ambiguous_factor``.
    Returns (B, J, 4) float32."""
    out = 0.5 * (direct + mirrored)
    for left, right in pairs:
        same = (np.linalg.norm(direct[:, left, :3] - mirrored[:, left, :3], axis=-1)
                + np.linalg.norm(direct[:, right, :3] - mirrored[:, right, :3], axis=-1))
        swapped = (np.linalg.norm(direct[:, left, :3] - mirrored[:, right, :3], axis=-1)
                   + np.linalg.norm(direct[:, right, :3] - mirrored[:, left, :3], axis=-1))
        amb = swapped < same
        for j in (left, right):
            out[amb, j] = direct[amb, j]
            out[amb, j, 3] = direct[amb, j, 3] * ambiguous_factor
    return out.astype(np.float32)


def resolve_device(device: str | torch.device) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device, checked against what this machine has.

    Raises:
        ValueError: a malformed name, or CUDA asked for where torch has none (the message says
            why and what to use instead).
    """
    name = str(device)
    if not _DEVICE.match(name):
        raise ValueError(f"device {name!r}: use 'cpu', 'cuda' or 'cuda:N' (N a GPU index)")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            why = ("this torch build has no CUDA support" if torch.version.cuda is None
                   else "no CUDA GPU is visible (driver, CUDA_VISIBLE_DEVICES)")
            raise ValueError(f"device {name!r} requested but {why} (torch {torch.__version__}): use device 'cpu', "
                             "or install a CUDA build of torch on a machine with an NVIDIA GPU")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) visible "
                             f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return torch.device(name)


def _window_has_support(valid: np.ndarray, uv: np.ndarray, radius: int) -> np.ndarray:
    """(B, J) bool: any True of ``valid`` (B, S, S) within ``radius`` pixels (square window) of
    ``uv`` (B, J, 2) crop pixels (u column, v row); False off the crop or for NaN."""
    b, s, _ = valid.shape
    integral = np.zeros((b, s + 1, s + 1), np.int32)
    integral[:, 1:, 1:] = valid.cumsum(1).cumsum(2)
    finite = np.isfinite(uv).all(-1)
    c = np.where(finite[..., None], np.rint(np.nan_to_num(uv)), -10 * s - 10 * radius).astype(np.int64)
    lo = np.clip(c - radius, 0, s)
    hi = np.clip(c + radius + 1, 0, s)
    bi = np.arange(b)[:, None]
    count = (integral[bi, hi[..., 1], hi[..., 0]] - integral[bi, lo[..., 1], hi[..., 0]]
             - integral[bi, hi[..., 1], lo[..., 0]] + integral[bi, lo[..., 1], lo[..., 0]])
    return finite & (count > 0)


class LearnedEstimator:
    """An A2J network as an :class:`~unipose_ros.estimators.base.Estimator` (see the module docstring).

    Args:
        loaded: a :class:`~unipose_ros.models.LoadedModel` or a checkpoint path (read with
            :func:`~unipose_ros.models.load_checkpoint`).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32``, ``fp16`` or ``bf16`` (autocast; softmax and aggregation stay float32).
        channels_last: channels-last memory for the image models; None = on for CUDA.
        compile: wrap the network in ``torch.compile`` (batches are padded to 1, 2, 4, 8, ... people
            so that few shapes are compiled).
        config: :class:`LearnedConfig`.
        kind: expected model kind (``depth``, ``rgb``, ``pointcloud``); None = the checkpoint's.
        proposals, max_people: override the same fields of ``config``.
        detector: an already loaded person detector to use (members of one fused estimator share
            one); None = load the one ``config`` names when ``config.detector`` is ``learned``.
    Raises:
        CheckpointError: the checkpoint's kind, joint set or input size is not the expected one.
        ValueError: unusable device or precision.
    """

    def __init__(self, loaded: LoadedModel | str | Path, device: str = "cpu", precision: str = "fp32",
                 channels_last: bool | None = None, compile: bool = False, config: LearnedConfig | None = None,
                 kind: str | None = None, proposals: ProposalConfig | None = None,
                 max_people: int | None = None, detector: LearnedPersonDetector | None = None) -> None:
        cfg = config or LearnedConfig()
        if proposals is not None:
            cfg = replace(cfg, proposals=proposals)
        if max_people is not None:
            cfg = replace(cfg, max_people=max_people)
        self.config = cfg
        if precision not in AUTOCAST_DTYPES:
            raise ValueError(f"precision {precision!r}: use one of {', '.join(AUTOCAST_DTYPES)}")
        self.device = resolve_device(device)
        self.precision = precision
        if not isinstance(loaded, LoadedModel):
            loaded = load_checkpoint(loaded, map_location="cpu", expect_kind=kind, expect_joint_set=cfg.joint_set,
                                     expect_input_size=cfg.input_size or None)
        self._check(loaded, kind)
        self.loaded = loaded
        self.kind: str = loaded.config.kind
        #: whether the mirrored crops run too (``LearnedConfig.flip_test``; None = depth only)
        self.flip_test: bool = cfg.flip_test if cfg.flip_test is not None else self.kind == "depth"
        self.crop_config: CropConfig = loaded.crop
        self.joint_set: JointSet = get_joint_set(loaded.config.joint_set)
        self.modality = MODALITIES[self.kind]
        self.name = f"a2j_{self.kind}"
        self.n_points = loaded.config.n_points
        image = self.kind in ("depth", "rgb")
        self.channels_last = bool(image and (self.device.type == "cuda" if channels_last is None else channels_last))
        model = loaded.model.to(self.device).eval()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model: torch.nn.Module = model
        self.compiled = bool(compile)
        self._forward = torch.compile(model, dynamic=False) if compile else model
        if self.crop_config.mask_people and cfg.detector != "learned":
            raise CheckpointError(f"this {self.kind} checkpoint was trained on crops that show only their person "
                                  "(crop.mask_people): it needs the person masks of detector: learned, not "
                                  f"{cfg.detector!r}")
        if cfg.detector != "learned":
            detector = None
        elif detector is None:
            detector = LearnedPersonDetector(cfg.detector_checkpoint or None, self.device, cfg.detector_min_score)
        self.detector = detector
        #: (3,) metres crop centres of the people the last :meth:`estimate` found, before the score
        #: threshold (what the person finding gave: evaluations tell missed people from bad poses)
        self.last_centres: list[np.ndarray] = []

    #: Whether this estimator feeds the teacher keypoint channels (``A2JConfig.point_features``) to
    #: the point model; a model that takes them cannot run without the 2D teacher.
    takes_teacher_keypoints: bool = False

    def _check(self, loaded: LoadedModel, kind: str | None) -> None:
        where = loaded.path or "the model"
        cfg = self.config
        channels = loaded.config.point_features
        if channels and not self.takes_teacher_keypoints:
            raise CheckpointError(f"checkpoint {where}: this point model takes {channels} teacher keypoint channels "
                                  "per point and needs the 2D teacher: use estimator teacher_pointcloud "
                                  "(unipose_ros.estimators.teacher_point.TeacherPointEstimator)")
        if self.takes_teacher_keypoints and not channels:
            raise CheckpointError(f"checkpoint {where}: this model takes no teacher keypoint channels "
                                  "(point_features 0): use the pointcloud estimator for it")
        if kind is not None and loaded.config.kind != kind:
            raise CheckpointError(f"checkpoint {where}: the model kind is {loaded.config.kind!r}, expected {kind!r}; "
                                  f"pass a {kind} checkpoint or choose the {loaded.config.kind!r} estimator")
        if loaded.config.joint_set != cfg.joint_set:
            raise CheckpointError(f"checkpoint {where}: the joint set is {loaded.config.joint_set!r}, expected "
                                  f"{cfg.joint_set!r}; use a checkpoint trained for {cfg.joint_set!r}")
        if cfg.input_size and loaded.config.input_size != cfg.input_size:
            raise CheckpointError(f"checkpoint {where}: the input size is {loaded.config.input_size}, expected "
                                  f"{cfg.input_size}; use a checkpoint trained at {cfg.input_size} px or set "
                                  f"input_size to {loaded.config.input_size} (0 accepts any)")

    # ------------------------------------------------------------------ people and crops
    def check_frame(self, frame: RGBDFrame) -> None:
        """Raise InputError when ``frame`` lacks what this estimator needs (and validate it)."""
        if frame.depth is None:
            raise InputError(f"the {self.kind} estimator needs a depth image (people are found in depth): subscribe "
                             "the depth topic (registered to colour), or use the baseline for colour-only input")
        if self.kind == "rgb" and frame.rgb is None:
            raise InputError("the rgb estimator needs a colour image: subscribe the colour topic, or use the depth "
                             "or pointcloud estimator for depth-only input")
        frame.validate()

    def find_centres(self, frame: RGBDFrame) -> list[np.ndarray]:
        """(3,) metres crop centres of the nearest ``max_people`` people (``config.detector``), nearest first."""
        if frame.depth is None:
            raise InputError("people are found in the depth image: the frame has none")
        return [c for c, _ in self.find_people(frame)]

    def find_people(self, frame: RGBDFrame) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """(crop centre (3,) metres, person mask (H, W) bool or None) of the nearest
        ``max_people`` people, nearest first: the learned detector gives masks, the geometric
        proposals none."""
        if frame.depth is None:
            raise InputError("people are found in the depth image: the frame has none")
        if self.detector is not None:
            found = self.detector.detect(frame.depth, frame.camera)[: self.config.max_people]
            return [(centre_from_proposal(d, frame.camera), d.mask) for d in found]
        return [(c, None) for c in person_centres(frame.depth, frame.camera, self.config.proposals,
                                                  self.config.max_people)]

    def make_crops(self, frame: RGBDFrame, centres: list[np.ndarray] | None = None) -> list[PersonCrop]:
        """This model's crops around ``centres`` (default: the people :meth:`find_people` finds,
        with their masks)."""
        people = self.find_people(frame) if centres is None else [(c, None) for c in centres]
        return [make_crop(frame.camera, c, self.crop_config, mask) for c, mask in people]

    def _own(self, crop: PersonCrop) -> PersonCrop:
        c = self.crop_config
        if crop.size == c.size and crop.cube_m == c.cube_m:
            return crop
        return make_crop(crop.camera, crop.centre, c, crop.mask)

    # ------------------------------------------------------------------ inference
    def estimate(self, frame: RGBDFrame) -> list[PersonPose]:
        """3D poses of the people in ``frame``.

        Args:
            frame: needs ``depth`` (H, W) float32 metres; the rgb model also ``rgb`` registered to it.
        Returns:
            one :class:`PersonPose` per person (at most ``max_people``), nearest first,
            ``track_id`` -1, joints (J, 3) metres in the optical frame; [] when nobody is found.
            People scoring below ``min_person_score`` are dropped.
        Raises:
            InputError: missing depth (or colour for the rgb model), inconsistent shapes.
        """
        self.check_frame(frame)
        crops = self.make_crops(frame)
        self.last_centres = [c.centre for c in crops]
        poses = self.estimate_crops(frame, crops)
        return [p for p in poses if p.score >= self.min_person_score]

    @property
    def min_person_score(self) -> float:
        """The score below which a person is dropped: the config's value, else the checkpoint's
        calibrated one, else 0."""
        if self.config.min_person_score is not None:
            return float(self.config.min_person_score)
        calibration = (self.loaded.provenance or {}).get("calibration") or {}
        return float(calibration.get("min_person_score", 0.0))

    def estimate_crops(self, frame: RGBDFrame, crops: list[PersonCrop]) -> list[PersonPose]:
        """Poses of the people in ``crops`` (one per crop, same order); crops made with another
        :class:`CropConfig` are re-made around the same centre with this model's."""
        self.check_frame(frame)
        if not crops:
            return []
        crops = [self._own(c) for c in crops]
        sources = [crop_source_depth(frame.depth, c, self.crop_config) for c in crops]
        depth_crops = np.stack([crop_depth(d, c) for d, c in zip(sources, crops)])  # (B, S, S), 1 = no depth
        support_ok = np.ones(len(crops), bool)
        if self.kind == "depth":
            batch = depth_crops[:, None]
        elif self.kind == "rgb":
            batch = np.stack([crop_rgb(frame.rgb, c) for c in crops])             # (B, S, S, 3) uint8
        else:
            found = [crop_points(d, c, self.n_points, None) for d, c in zip(sources, crops)]
            batch = np.stack([p for p, _ in found])                               # (B, N, 3)
            support_ok = np.array([n > 0 for _, n in found])
        out = self._run(batch)                                                    # (B, J, 4) float32
        joints_crop, conf = out[..., :3].astype(np.float64), out[..., 3].astype(np.float32)
        poses = []
        for i, crop in enumerate(crops):
            if self.kind == "pointcloud":
                xyz = crop.points_to_camera(joints_crop[i])
                uv_crop = crop.from_camera(xyz)[:, :2]
            else:
                xyz = crop.to_camera(joints_crop[i])
                uv_crop = joints_crop[i, :, :2]
            supported = _window_has_support(depth_crops[i:i + 1] < 1.0, uv_crop[None], self.config.support_radius)[0]
            supported &= support_ok[i]
            c = np.where(supported, conf[i], conf[i] * self.config.unsupported_confidence).astype(np.float32)
            c = np.where(np.isfinite(xyz).all(axis=1), np.clip(c, 0.0, 1.0), 0.0).astype(np.float32)
            poses.append(PersonPose(track_id=-1, joint_set=self.joint_set, joints=xyz.astype(np.float32),
                                    confidence=c, modality=self.modality, score=float(c.mean()),
                                    keypoints_2d=frame.camera.project(xyz).astype(np.float32)))
        return poses

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The network on a CPU batch: one upload, one download. Returns (B, J, 4) float32:
        joints in crop units (clamped to the crop cube) and confidence (before depth support).
        With ``flip_test`` the mirrored crops go in the same batch and the answers are averaged."""
        if not self.flip_test:
            return self._network(batch)
        b = batch.shape[0]
        out = self._network(np.concatenate([batch, self._mirror_input(batch)]))
        mirrored = self._mirror_output(out[b:])
        if not self.config.flip_side_check:
            return (0.5 * (out[:b] + mirrored)).astype(np.float32)
        return combine_flip(out[:b], mirrored, self.joint_set.flip_pairs, self.config.ambiguous_side_confidence)

    def _mirror_input(self, batch: np.ndarray) -> np.ndarray:
        """The left-right mirror of a network batch: depth (B, 1, S, S) and colour (B, S, S, 3)
        crops flipped along u; points (B, N, 3 [+ J]) with x negated (crop units about the
        centre) and the per-joint teacher channels swapped left/right."""
        if self.kind == "depth":
            return batch[..., ::-1]
        if self.kind == "rgb":
            return batch[:, :, ::-1]
        out = batch.copy()
        out[..., 0] = -out[..., 0]
        if out.shape[-1] > 3:
            out[..., 3:] = out[..., 3:][..., self.joint_set.flip_permutation]
        return out

    def _mirror_output(self, out: np.ndarray) -> np.ndarray:
        """(B, J, 4) answers on mirrored crops, mapped back: u -> S - 1 - u (images) or x -> -x
        (points), and left/right joints swapped."""
        out = out[:, self.joint_set.flip_permutation].copy()
        if self.kind == "pointcloud":
            out[..., 0] = -out[..., 0]
        else:
            out[..., 0] = self.crop_config.size - 1 - out[..., 0]
        return out

    def _network(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`_run` without the mirror: the network once on ``batch``."""
        b = batch.shape[0]
        if self.compiled:  # few distinct shapes for torch.compile: pad to a power of two
            padded = 1 << (b - 1).bit_length()
            if padded != b:
                batch = np.concatenate([batch, np.repeat(batch[:1], padded - b, axis=0)])
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
        if self.kind == "rgb":
            x = x.permute(0, 3, 1, 2)  # NHWC memory = channels-last (B, 3, S, S)
            if not self.channels_last:
                x = x.contiguous()
        dtype = AUTOCAST_DTYPES[self.precision]
        s = self.crop_config.size
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=dtype or torch.float32,
                                                    enabled=dtype is not None):
            out = self._forward(x)
            joints = out.joints.float()
            if self.kind == "pointcloud":
                joints = joints.clamp(-s / 2, s / 2)
            else:  # u, v inside the crop, d inside the cube (scalar bounds: nothing is uploaded)
                joints = torch.cat([joints[..., :2].clamp(-0.5, s - 0.5), joints[..., 2:].clamp(-s / 2, s / 2)], dim=-1)
            conf = torch.exp(-out.spread.float() / self.config.confidence_scale)
            result = torch.cat([joints, conf.unsqueeze(-1)], dim=-1)[:b].cpu()
        return result.numpy()

    def close(self) -> None:
        """Release the network (and cached GPU memory)."""
        self._forward = None  # type: ignore[assignment]
        self.model = None  # type: ignore[assignment]
        self.loaded = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
