"""Robust depth lookup: lift one person's 2D keypoints to 3D joints with a registered depth image.

For each keypoint (u, v):

1. Take the valid depth pixels in a square window around it whose radius grows with the person's
   apparent size (``window_fraction`` x the keypoint box extent, clipped to
   [``min_window_px``, ``max_window_px``]).
2. Reject background and foreground clutter: keep only depths within the person's depth range,
   [reference - ``near_range_m``, reference + ``far_range_m``], where the reference is the median
   of the nearest depth modes at the trunk joints (shoulders, hips, neck, torso). Split the kept
   depths into modes (sorted depths separated by more than ``cluster_gap_m``) and take the NEAREST
   mode holding at least ``min_mode_fraction`` of the window's centre-weighted samples: a keypoint
   on a limb in front of the body or of a wall sits on the nearest surface. Its depth is the
   centre-weighted median of that mode.
3. When the window has no usable depth (holes, keypoint off the silhouette), walk along the bone
   toward the parent joint and use the first window that has; the support is then scaled by
   ``bone_fallback_penalty``.
4. Back-project (u, v, z) with the pinhole model to the body SURFACE, then push the point into the
   body along the viewing ray by a per-joint radius (``joint_radius_m``): joints are inside the
   body, the camera sees skin and clothes. The default radii are anthropometric averages of the
   distance from the visible front surface to the joint centre for an adult (torso 0.10 m, hip
   0.08 m, head 0.08 m, shoulder 0.05 m, elbow/knee 0.04 m, hand/foot 0.03 m).

Confidence of a joint = teacher confidence x (``no_depth_confidence`` + (1 - it) x support), where
support in [0, 1] is the centre-weighted fraction of the window in the chosen depth mode, reaching
1 at ``full_support_fraction``.

Joints with no depth at all are never dropped and never NaN: they get the person's reference depth
(or, when the whole person has no valid depth, a depth from the apparent trunk length and an
average trunk length ``trunk_length_m``), and confidence teacher x ``no_depth_confidence``. A pose
with all joints present is what publishers, trackers and training code expect; a low confidence
says how little to trust it. This module is pure numpy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.joints import JointSet

# Anthropometric averages (adult): distance from the camera-facing body surface to the joint
# centre, metres. Keys are joint names of ITOP-15 and COCO-17. Face landmarks (nose, eyes) are
# surface points (0); ears are seen from the side of the head.
DEFAULT_JOINT_RADIUS_M: dict[str, float] = {
    "head": 0.08, "neck": 0.07, "torso": 0.10,
    "right_shoulder": 0.05, "left_shoulder": 0.05,
    "right_elbow": 0.04, "left_elbow": 0.04,
    "right_hand": 0.03, "left_hand": 0.03, "right_wrist": 0.03, "left_wrist": 0.03,
    "right_hip": 0.08, "left_hip": 0.08,
    "right_knee": 0.04, "left_knee": 0.04,
    "right_foot": 0.03, "left_foot": 0.03, "right_ankle": 0.03, "left_ankle": 0.03,
    "nose": 0.0, "right_eye": 0.0, "left_eye": 0.0, "right_ear": 0.02, "left_ear": 0.02,
}

DEFAULT_REFERENCE_JOINTS: tuple[str, ...] = (
    "torso", "neck", "right_shoulder", "left_shoulder", "right_hip", "left_hip")


class DepthSource(IntEnum):
    """Where a joint's depth came from."""

    WINDOW = 0  # the keypoint's own window
    BONE = 1  # a window along the bone toward the parent
    PERSON = 2  # the person's reference depth (no depth near the joint)
    SIZE_PRIOR = 3  # apparent trunk length (no depth on the whole person)


@dataclass(frozen=True)
class DepthLookupConfig:
    """Parameters of :func:`lift_keypoints` (pixels, metres, fractions in [0, 1])."""

    window_fraction: float = 0.025
    min_window_px: int = 2
    max_window_px: int = 12
    cluster_gap_m: float = 0.06
    min_mode_fraction: float = 0.15
    near_range_m: float = 0.9
    far_range_m: float = 0.5
    full_support_fraction: float = 0.5
    bone_steps: int = 4
    bone_fallback_penalty: float = 0.5
    no_depth_confidence: float = 0.1
    keypoint_min_confidence: float = 0.3
    trunk_length_m: float = 0.5
    default_radius_m: float = 0.05
    joint_radius_m: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_JOINT_RADIUS_M))
    reference_joints: tuple[str, ...] = DEFAULT_REFERENCE_JOINTS


@dataclass
class LiftedJoints:
    """Result of :func:`lift_keypoints` for one person.

    Attributes:
        joints: (J, 3) float32 metres, camera optical frame (x right, y down, z forward).
        confidence: (J,) float32 in [0, 1].
        support: (J,) float32 in [0, 1], the depth support alone.
        source: (J,) int8 :class:`DepthSource` values.
        reference_depth: the person's reference depth (metres), NaN when the person had none.
    """

    joints: np.ndarray
    confidence: np.ndarray
    support: np.ndarray
    source: np.ndarray
    reference_depth: float


def nearest_mode(values: np.ndarray, weights: np.ndarray, gap: float,
                 min_fraction: float) -> tuple[float, float] | None:
    """The nearest depth mode holding at least ``min_fraction`` of the total weight.

    Args:
        values: (N,) depths, metres, all valid. weights: (N,) non-negative.
        gap: sorted depths further apart than this (metres) belong to different modes.
    Returns:
        (weighted median depth of the mode, the mode's weight), or None when ``values`` is empty.
        When no mode reaches ``min_fraction`` the heaviest mode is returned.
    """
    if values.size == 0:
        return None
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(v) > gap) + 1])
    ends = np.concatenate([starts[1:], [v.size]])
    mode_w = np.add.reduceat(w, starts)
    total = float(w.sum())
    ok = np.flatnonzero(mode_w >= min_fraction * total) if total > 0 else np.array([], int)
    k = int(ok[0]) if ok.size else int(np.argmax(mode_w))
    seg_v, seg_w = v[starts[k]:ends[k]], w[starts[k]:ends[k]]
    cum = np.cumsum(seg_w)
    median = float(seg_v[min(int(np.searchsorted(cum, 0.5 * cum[-1])), seg_v.size - 1)])
    return median, float(mode_w[k])


def sample_window(depth: np.ndarray, u: float, v: float,
                  radius: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Depths around pixel (u, v) with Gaussian centre weights (sigma = radius / 1.5 + 0.5).

    Args:
        depth: (H, W) float32 metres, NaN (or <= 0) invalid.
    Returns:
        (valid depths (N,), their weights (N,), total weight of the window incl. invalid pixels
        inside the image). Empty arrays and 0.0 when the window is outside the image.
    """
    h, w = depth.shape
    if not (np.isfinite(u) and np.isfinite(v)):
        return np.empty(0, np.float32), np.empty(0), 0.0
    cu, cv = int(round(float(u))), int(round(float(v)))
    u0, u1 = max(cu - radius, 0), min(cu + radius + 1, w)
    v0, v1 = max(cv - radius, 0), min(cv + radius + 1, h)
    if u0 >= u1 or v0 >= v1:
        return np.empty(0, np.float32), np.empty(0), 0.0
    patch = depth[v0:v1, u0:u1]
    dv, du = np.mgrid[v0 - v:v1 - v, u0 - u:u1 - u]
    sigma = radius / 1.5 + 0.5
    wts = np.exp(-(du ** 2 + dv ** 2) / (2 * sigma ** 2))
    valid = np.isfinite(patch) & (patch > 0)
    return patch[valid], wts[valid], float(wts.sum())


def _person_scale_px(uv: np.ndarray, conf: np.ndarray, min_conf: float) -> float:
    keep = (conf >= min_conf) & np.isfinite(uv).all(axis=1)
    pts = uv[keep] if keep.sum() >= 2 else uv[np.isfinite(uv).all(axis=1)]
    if len(pts) < 2:
        return 0.0
    return float(np.max(pts.max(axis=0) - pts.min(axis=0)))


def _trunk_px(uv: np.ndarray, joint_set: JointSet) -> float:
    """Apparent mid-shoulder to mid-hip length in pixels (0 when the set lacks those joints)."""
    try:
        sh = uv[[joint_set.index("left_shoulder"), joint_set.index("right_shoulder")]].mean(axis=0)
        hp = uv[[joint_set.index("left_hip"), joint_set.index("right_hip")]].mean(axis=0)
    except KeyError:
        return 0.0
    d = float(np.linalg.norm(sh - hp))
    return d if np.isfinite(d) else 0.0


def lift_keypoints(depth: np.ndarray, camera: PinholeCamera, uv: np.ndarray, confidence: np.ndarray,
                   joint_set: JointSet, config: DepthLookupConfig | None = None) -> LiftedJoints:
    """Lift one person's 2D keypoints to 3D joints with the depth image (see the module doc).

    Args:
        depth: (H, W) float32 metres along the optical axis, NaN invalid, registered to the image
            the keypoints come from.
        camera: intrinsics of that image.
        uv: (J, 2) pixels (u, v) in ``joint_set`` order. confidence: (J,) teacher confidence.
        joint_set: names (for radii and reference joints) and parents (for the bone fallback).
    Returns:
        :class:`LiftedJoints`; every joint with finite ``uv`` gets a finite position.
    """
    cfg = config or DepthLookupConfig()
    uv = np.asarray(uv, dtype=np.float64)
    conf = np.clip(np.nan_to_num(np.asarray(confidence, dtype=np.float64)), 0.0, 1.0)
    n = len(joint_set)
    if uv.shape != (n, 2) or conf.shape != (n,):
        raise ValueError(f"{joint_set.name} has {n} joints; got uv {uv.shape}, confidence {conf.shape}")
    camera.check_image(depth.shape, "depth image")
    depth = np.asarray(depth, dtype=np.float32)
    scale = _person_scale_px(uv, conf, cfg.keypoint_min_confidence)
    radius = int(np.clip(round(cfg.window_fraction * scale), cfg.min_window_px, cfg.max_window_px))

    def mode_at(u: float, v: float, rad: int, lo: float, hi: float) -> tuple[float, float] | None:
        vals, wts, total = sample_window(depth, u, v, rad)
        keep = (vals >= lo) & (vals <= hi)
        found = nearest_mode(vals[keep], wts[keep], cfg.cluster_gap_m, cfg.min_mode_fraction)
        if found is None or total <= 0:
            return None
        return found[0], min(1.0, found[1] / total / cfg.full_support_fraction)

    # Reference depth: median of the nearest modes at the trunk joints (wider windows).
    ref_idx = [joint_set.index(j) for j in cfg.reference_joints if j in joint_set.joints]
    modes = [m[0] for i in ref_idx if (m := mode_at(*uv[i], 2 * radius, 0.0, np.inf)) is not None]
    if not modes:
        modes = [m[0] for i in range(n) if (m := mode_at(*uv[i], 2 * radius, 0.0, np.inf)) is not None]
    ref = float(np.median(modes)) if modes else float("nan")
    lo, hi = (ref - cfg.near_range_m, ref + cfg.far_range_m) if modes else (0.0, np.inf)
    measured_ref = ref

    z = np.full(n, np.nan)
    support = np.zeros(n)
    source = np.full(n, DepthSource.PERSON, dtype=np.int8)
    for j in range(n):
        found = mode_at(*uv[j], radius, lo, hi)
        if found is not None:
            z[j], support[j], source[j] = found[0], found[1], DepthSource.WINDOW
            continue
        parent = joint_set.parents[j]
        if parent < 0:
            continue
        for t in np.linspace(1.0 / cfg.bone_steps, 1.0, cfg.bone_steps):
            found = mode_at(*(uv[j] + t * (uv[parent] - uv[j])), radius, lo, hi)
            if found is not None:
                z[j], support[j] = found[0], found[1] * cfg.bone_fallback_penalty
                source[j] = DepthSource.BONE
                break

    if not np.isfinite(ref):
        trunk = _trunk_px(uv, joint_set)
        f = 0.5 * (camera.fx + camera.fy)
        if trunk > 1.0:
            ref = f * cfg.trunk_length_m / trunk
        else:  # no trunk in view: assume the keypoints span a standing adult (1.7 m)
            ref = f * 1.7 / max(scale, 1.0)
        source[:] = DepthSource.SIZE_PRIOR
    missing = ~np.isfinite(z)
    z[missing] = ref

    radii = np.array([cfg.joint_radius_m.get(name, cfg.default_radius_m) for name in joint_set.joints])
    surface = camera.backproject(uv, z)
    joints = surface + radii[:, None] * camera.rays(uv)
    floor = cfg.no_depth_confidence
    confidence_out = conf * (floor + (1.0 - floor) * support)
    bad = ~np.isfinite(joints).all(axis=1)
    confidence_out[bad] = 0.0
    return LiftedJoints(joints=joints.astype(np.float32), confidence=confidence_out.astype(np.float32),
                        support=support.astype(np.float32), source=source,
                        reference_depth=measured_ref)
