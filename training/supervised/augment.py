"""Train-time augmentation in crop space, deterministic from a numpy Generator.

Crop conventions (``unipose_ros.core.crop``): a depth crop holds normalised depth
n = (z - z_centre) / (cube_m / 2) in [-1, 1] with 1.0 for background; targets are (J, 3) **crop
units**: u, v crop pixels (the centre of pixel (i, j) at u = j, v = i, as in OpenCV) and
d = (z - z_centre) * size / cube_m, so n * size / 2 == d. A point crop holds (N, 3) normalised
cube coordinates p = (xyz - centre) / (cube_m / 2) and targets (J, 3) metric offsets from the
centre in crop units (p * size / 2 on the same axes).

* depth / rgb: one random affine about the crop centre (scale, shift, in-plane rotation) applied
  to the image (``cv2.warpAffine``; depth nearest-neighbour with background 1.0, colour bilinear
  with black) and to the targets' u, v; an optional horizontal flip that also swaps left and
  right joints; for depth, a shift of the foreground depth (values < 1) and of the targets' d
  (mimics an error of the centre's depth); for colour, brightness / contrast / per-channel gain
  jitter and random grayscale.
* points: rotation about the camera y axis through the centre, isotropic scale and a small
  translation, applied identically to the points and the targets; optional mirror in x with the
  joint swap.

With every strength at zero (:meth:`AugmentConfig.off`) each function returns its inputs
unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (0 disables each).

    Attributes:
        scale: image scale factor drawn from [1 - scale, 1 + scale].
        shift_px: image shift drawn from [-shift_px, shift_px] crop pixels along u and v.
        rotation_deg: in-plane rotation drawn from [-rotation_deg, rotation_deg] degrees.
        depth_shift: foreground depth shift drawn from [-depth_shift, depth_shift] normalised
            units (times cube_m / 2 metres: 0.05 -> 6 cm at a 2.4 m cube).
        brightness: colour gain drawn from [1 - b, 1 + b].
        contrast: contrast factor drawn from [1 - c, 1 + c] about the crop's mean grey.
        channel_gain: per-channel (R, G, B) gain from [1 - h, 1 + h] (a hue / white-balance shift).
        grayscale_prob: probability of replacing the colour crop by its grey version.
        flip_prob: probability of a left/right mirror (images and points), with joint swap.
        point_rotation_deg: rotation about the camera y axis from [-r, r] degrees (points).
        point_scale: isotropic point scale from [1 - s, 1 + s].
        point_shift: point translation from [-t, t] normalised cube units per axis.
    """

    scale: float = 0.1
    shift_px: float = 6.0
    rotation_deg: float = 15.0
    depth_shift: float = 0.05
    brightness: float = 0.25
    contrast: float = 0.25
    channel_gain: float = 0.08
    grayscale_prob: float = 0.1
    flip_prob: float = 0.0
    point_rotation_deg: float = 20.0
    point_scale: float = 0.05
    point_shift: float = 0.04

    @classmethod
    def off(cls) -> "AugmentConfig":
        """Every strength zero: the identity."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def only(self, **strengths: float) -> "AugmentConfig":
        """This config with everything but ``strengths`` switched off (for tests)."""
        return replace(AugmentConfig.off(), **strengths)


def _uniform(rng: np.random.Generator, half_width: float, centre: float = 0.0) -> float:
    return float(centre + rng.uniform(-half_width, half_width)) if half_width > 0 else float(centre)


def affine_matrix(size: int, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
                  rotation_deg: float = 0.0) -> np.ndarray:
    """(2, 3) float64 map of crop pixels (u, v) -> (u', v'): rotate by ``rotation_deg``
    (counter-clockwise on screen) and scale about the crop centre ((size-1)/2, (size-1)/2), then
    shift by ``shift`` pixels. The same matrix goes to ``cv2.warpAffine`` (forward map)."""
    c = (size - 1) / 2.0
    m = cv2.getRotationMatrix2D((c, c), float(rotation_deg), float(scale))
    m[:, 2] += np.asarray(shift, dtype=np.float64)
    return m


def flip_matrix(size: int) -> np.ndarray:
    """(2, 3) horizontal mirror of crop pixels: u' = size - 1 - u."""
    return np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]])


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(2, 3) affine ``a`` applied after ``b``."""
    a3 = np.vstack([a, [0.0, 0.0, 1.0]])
    b3 = np.vstack([b, [0.0, 0.0, 1.0]])
    return (a3 @ b3)[:2]


def apply_affine_uv(target: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Targets (J, 3) crop units with their u, v mapped by the (2, 3) affine ``m`` (d kept)."""
    out = np.array(target, dtype=np.float32, copy=True)
    uv = target[:, :2].astype(np.float64)
    out[:, :2] = uv @ m[:, :2].T + m[:, 2]
    return out


def _is_identity(m: np.ndarray) -> bool:
    return bool(np.allclose(m, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], atol=1e-12))


def warp_image(image: np.ndarray, m: np.ndarray, nearest: bool, border: float) -> np.ndarray:
    """``image`` (S, S) or (S, S, C) warped by the forward affine ``m`` to the same size;
    pixels from outside take ``border``. The identity returns the input unchanged."""
    if _is_identity(m):
        return image
    size = image.shape[1], image.shape[0]
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    value = (border,) * (image.shape[2] if image.ndim == 3 else 1)
    return cv2.warpAffine(image, m, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=value)


def random_affine(size: int, cfg: AugmentConfig, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """A random crop affine (scale, shift, rotation, optional flip first) and whether it flips."""
    flip = cfg.flip_prob > 0 and rng.random() < cfg.flip_prob
    m = affine_matrix(size, _uniform(rng, cfg.scale, 1.0),
                      (_uniform(rng, cfg.shift_px), _uniform(rng, cfg.shift_px)),
                      _uniform(rng, cfg.rotation_deg))
    if flip:
        m = compose(m, flip_matrix(size))
    return m, flip


def swap_left_right(target: np.ndarray, flip_permutation: np.ndarray) -> np.ndarray:
    """Targets (J, ...) reordered so that left and right joints trade places."""
    return target[np.asarray(flip_permutation)]


def augment_depth(depth: np.ndarray, target: np.ndarray, size: int, cfg: AugmentConfig,
                  rng: np.random.Generator, flip_permutation: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Augment a normalised depth crop.

    Args:
        depth: (S, S) normalised depth (any float dtype), 1.0 = background.
        target: (J, 3) crop units (u, v pixels, d).
        size: S (crop size; d = n * size / 2).
        flip_permutation: (J,) left/right swap (``JointSet.flip_permutation``); needed when
            ``cfg.flip_prob`` > 0.
    Returns:
        (depth (S, S) float32, target (J, 3) float32).
    """
    depth = np.asarray(depth, dtype=np.float32)
    m, flip = random_affine(size, cfg, rng)
    out = warp_image(depth, m, nearest=True, border=1.0)
    tgt = apply_affine_uv(target, m)
    if flip:
        tgt = swap_left_right(tgt, _need_perm(flip_permutation))
    delta = _uniform(rng, cfg.depth_shift)
    if delta != 0.0:
        fg = out < 1.0
        out = out.copy() if out is depth else out
        out[fg] = np.clip(out[fg] + delta, -1.0, 1.0)
        tgt[:, 2] += delta * size / 2.0
    return out, tgt


def jitter_colour(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, per-channel gain and random grayscale of an (S, S, 3) uint8 crop."""
    b = _uniform(rng, cfg.brightness, 1.0)
    c = _uniform(rng, cfg.contrast, 1.0)
    gains = np.array([_uniform(rng, cfg.channel_gain, 1.0) for _ in range(3)], dtype=np.float32)
    grey = cfg.grayscale_prob > 0 and rng.random() < cfg.grayscale_prob
    if b == 1.0 and c == 1.0 and not grey and np.all(gains == 1.0):
        return rgb
    x = rgb.astype(np.float32)
    x *= gains * b
    if c != 1.0:
        mean = float(x.mean())
        x = (x - mean) * c + mean
    if grey:
        g = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        x = np.repeat(g[..., None], 3, axis=-1)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def augment_rgb(rgb: np.ndarray, target: np.ndarray, size: int, cfg: AugmentConfig, rng: np.random.Generator,
                flip_permutation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Augment a colour crop: (S, S, 3) uint8 and targets (J, 3) crop units -> the same types.
    The targets' d is unchanged (colour carries no depth shift)."""
    m, flip = random_affine(size, cfg, rng)
    out = warp_image(np.ascontiguousarray(rgb), m, nearest=False, border=0.0)
    tgt = apply_affine_uv(target, m)
    if flip:
        tgt = swap_left_right(tgt, _need_perm(flip_permutation))
    return jitter_colour(out, cfg, rng), tgt


def rotation_y(angle_rad: float) -> np.ndarray:
    """(3, 3) rotation about the camera y axis (down): x and z mix, y is kept."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def augment_points(points: np.ndarray, target: np.ndarray, size: int, cfg: AugmentConfig,
                   rng: np.random.Generator, flip_permutation: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Augment a point crop.

    Args:
        points: (N, 3) normalised cube coordinates (camera axes, origin at the crop centre).
        target: (J, 3) crop units on the same axes (= normalised * size / 2).
        size: crop size S.
    Returns:
        (points (N, 3) float32, target (J, 3) float32), both moved by the same similarity
        transform: x' = s * R_y x + t (t in normalised units, t * size / 2 for the targets).
    """
    flip = cfg.flip_prob > 0 and rng.random() < cfg.flip_prob
    angle = np.radians(_uniform(rng, cfg.point_rotation_deg))
    s = _uniform(rng, cfg.point_scale, 1.0)
    t = np.array([_uniform(rng, cfg.point_shift) for _ in range(3)])
    if not flip and angle == 0.0 and s == 1.0 and not t.any():
        return np.asarray(points, dtype=np.float32), np.asarray(target, dtype=np.float32)
    a = s * rotation_y(angle)
    if flip:
        a = a @ np.diag([-1.0, 1.0, 1.0])
    half = size / 2.0
    p = (points.astype(np.float64) @ a.T + t).astype(np.float32)
    q = (target.astype(np.float64) @ a.T + t * half).astype(np.float32)
    if flip:
        q = swap_left_right(q, _need_perm(flip_permutation))
    return p, q


def _need_perm(perm: np.ndarray | None) -> np.ndarray:
    if perm is None:
        raise ValueError("flip_prob > 0 needs the joint set's flip_permutation (left/right swap)")
    return perm
