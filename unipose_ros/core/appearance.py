"""A colour signature of a person for the tracker: the mean colour along each bone.

Clothes, skin and hair differ between people who walk past each other, while their 3D paths
meet. The signature samples the colour image along every bone of the skeleton (the pixels under
the limb), keeping only pixels whose depth agrees with the bone's (so a person in front, or the
wall behind, does not colour it), and averages them per bone. Bones with too few such pixels are
NaN; two signatures are compared on the bones both have (:func:`appearance_distance`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.pose import PersonPose

#: points sampled along each bone, its ends excluded
SAMPLES_PER_BONE = 7
#: a sample counts when the depth image there is within this of the bone's depth (m)
DEPTH_AGREEMENT_M = 0.25
#: a bone needs this many agreeing samples to have a colour
MIN_SAMPLES = 3


@lru_cache(maxsize=8)
def _bone_samples(tree_bones: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(B, 2) joint indices of the bones and the (S,) fractions along them that are sampled."""
    return (np.array(tree_bones, dtype=int).reshape(-1, 2),
            np.linspace(0.0, 1.0, SAMPLES_PER_BONE + 2)[1:-1])


def bone_colours(pose: PersonPose, rgb: np.ndarray, depth: np.ndarray | None,
                 camera: PinholeCamera) -> np.ndarray:
    """(B, 3) float32 mean colour in [0, 1] along each bone of ``pose.joint_set.tree_bones``.

    Args:
        pose: joints in metres in the optical frame of ``camera``.
        rgb: (H, W, 3) uint8 colour image of ``camera``.
        depth: (H, W) float32 metres registered to ``rgb`` (NaN invalid), or None (then every
            sample inside the image counts, occluders included).
    Returns:
        NaN rows for bones with a non-finite end or fewer than ``MIN_SAMPLES`` samples inside the
        image whose depth agrees with the bone's.
    """
    bones, t = _bone_samples(pose.joint_set.tree_bones)
    a, b = pose.joints[bones[:, 0]].astype(np.float64), pose.joints[bones[:, 1]].astype(np.float64)
    points = a[:, None, :] + t[None, :, None] * (b - a)[:, None, :]  # (B, S, 3)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN: behind the camera, or no joint
        uv = np.round(camera.project(points))
        u, v = uv[..., 0], uv[..., 1]
        ok = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)  # NaN fails
        ui, vi = np.where(ok, u, 0).astype(int), np.where(ok, v, 0).astype(int)
        if depth is not None:
            ok &= np.abs(depth[vi, ui] - points[..., 2]) <= DEPTH_AGREEMENT_M  # NaN depth fails
    colours = rgb[vi, ui].astype(np.float32) / 255.0  # (B, S, 3)
    n = ok.sum(axis=1)
    mean = (colours * ok[..., None]).sum(axis=1) / np.maximum(n, 1)[:, None]
    mean[n < MIN_SAMPLES] = np.nan
    return mean.astype(np.float32)


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean colour distance (RGB in [0, 1], so 0 to sqrt(3)) over the bones that both (B, 3)
    signatures have; NaN when they share none."""
    d = np.linalg.norm(a - b, axis=-1)
    d = d[np.isfinite(d)]
    return float(d.mean()) if len(d) else float("nan")
