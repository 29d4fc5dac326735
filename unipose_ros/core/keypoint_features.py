"""Teacher keypoint channels of a person's points: the colour image's 2D pose handed to the point network.

Cross-modality interaction (RGB -> points): every point of a person's crop carries, for each joint
j, how close its image projection lies to the 2D teacher's keypoint of that joint::

    f[n, j] = conf[j] * exp(-|proj(p_n) - uv[j]|^2 / (2 * sigma_px^2))

``proj`` is the pinhole projection (:meth:`~unipose_ros.core.camera.PinholeCamera.project`) of the
point's metric position in the camera optical frame (x right, y down, z forward); ``uv`` are
image pixels (u column, v row, pixel centres at integers); ``sigma_px`` is in image pixels. A joint
whose keypoint or confidence is not finite, or whose confidence is <= 0, gives 0 on every point; a
point that cannot be projected (not finite, z <= 0) gives 0 for every joint, as do all points of an
empty crop (:func:`~unipose_ros.core.crop.crop_points` returns zeros when it finds no point).

The points are in normalised cube coordinates, as made by :func:`~unipose_ros.core.crop.crop_points`:
p = (xyz - centre) / (cube_m / 2), so xyz = centre + p * cube_m / 2.

:func:`keypoint_point_features` works on one person in numpy (data loading, inference);
:func:`keypoint_point_features_torch` is the batched torch equivalent (same values) for features
made on the training device.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from unipose_ros.core.crop import PersonCrop

if TYPE_CHECKING:
    import torch

#: Default width of the keypoint channels, image pixels.
DEFAULT_SIGMA_PX: float = 8.0


def _check_sigma(sigma_px: float) -> None:
    if not (np.isfinite(sigma_px) and sigma_px > 0):
        raise ValueError(f"sigma_px must be a positive number of pixels, got {sigma_px}")


def keypoint_point_features(points_norm: np.ndarray, crop: PersonCrop, uv: np.ndarray, conf: np.ndarray,
                            sigma_px: float = DEFAULT_SIGMA_PX, count: int | None = None) -> np.ndarray:
    """Per-point, per-joint closeness of the points' projections to the teacher keypoints.

    Args:
        points_norm: (N, 3) normalised cube coordinates of the person's points
            (:func:`~unipose_ros.core.crop.crop_points` output for ``crop``).
        crop: the crop the points were cut with (centre, cube side and camera).
        uv: (J, 2) teacher keypoints, image pixels (u, v) of ``crop.camera``'s image; NaN allowed.
        conf: (J,) keypoint confidences in [0, 1]; NaN allowed (treated as 0).
        sigma_px: Gaussian width, image pixels.
        count: points found by ``crop_points`` (its second return value); 0 means ``points_norm`` is
            padding only and every feature is 0. None: all points are real.
    Returns:
        (N, J) float32 in [0, 1]: ``conf[j] * exp(-d^2 / (2 sigma_px^2))``, d the pixel distance
        between point n's projection and keypoint j.
    Raises:
        ValueError: wrong shapes or a non-positive ``sigma_px``.
    """
    _check_sigma(sigma_px)
    p = np.asarray(points_norm, dtype=np.float64)
    uv = np.asarray(uv, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points_norm must be (N, 3) normalised cube coordinates, got {p.shape}")
    if uv.ndim != 2 or uv.shape[1] != 2 or conf.shape != (uv.shape[0],):
        raise ValueError(f"uv must be (J, 2) pixels and conf (J,), got uv {uv.shape}, conf {conf.shape}")
    n, j = p.shape[0], uv.shape[0]
    if n == 0 or j == 0 or count == 0:
        return np.zeros((n, j), np.float32)
    xyz = np.asarray(crop.centre, dtype=np.float64) + p * (crop.cube_m / 2)      # metres, optical frame
    proj = crop.camera.project(xyz)                                                # (N, 2), NaN for z <= 0
    w = np.where(np.isfinite(conf) & (conf > 0) & np.isfinite(uv).all(axis=1), conf, 0.0)   # (J,)
    kp = np.where(np.isfinite(uv), uv, 0.0)
    d2 = ((proj[:, None, :] - kp[None, :, :]) ** 2).sum(axis=-1)                   # (N, J)
    f = w[None, :] * np.exp(-d2 / (2.0 * sigma_px ** 2))
    f = np.where(np.isfinite(f), f, 0.0)
    return f.astype(np.float32)


def keypoint_point_features_torch(points_norm: torch.Tensor, centre: torch.Tensor, cube_m: float | torch.Tensor,
                                  intrinsics: torch.Tensor, uv: torch.Tensor, conf: torch.Tensor,
                                  sigma_px: float = DEFAULT_SIGMA_PX,
                                  count: torch.Tensor | None = None) -> torch.Tensor:
    """Batched torch version of :func:`keypoint_point_features` (same values, float32).

    Args:
        points_norm: (B, N, 3) normalised cube coordinates.
        centre: (B, 3) crop centres, metres, optical frame.
        cube_m: cube side in metres: a float or a (B,) tensor.
        intrinsics: (B, 4) fx, fy, cx, cy pixels.
        uv: (B, J, 2) teacher keypoints, image pixels; NaN allowed.
        conf: (B, J) confidences; NaN allowed (treated as 0).
        sigma_px: Gaussian width, image pixels.
        count: optional (B,) points found per sample; samples with 0 get all-zero features.
    Returns:
        (B, N, J) float32 tensor on the device of ``points_norm`` (no gradient is needed through
        it; it is differentiable in the points where defined).
    """
    import torch  # noqa: PLC0415 (numpy users need no torch)

    _check_sigma(sigma_px)
    p = points_norm.float()
    dev = p.device
    if p.ndim != 3 or p.shape[-1] != 3:
        raise ValueError(f"points_norm must be (B, N, 3), got {tuple(p.shape)}")
    b = p.shape[0]
    centre = centre.to(dev, torch.float32).reshape(b, 1, 3)
    cube = torch.as_tensor(cube_m, dtype=torch.float32, device=dev).reshape(-1, 1, 1)
    k = intrinsics.to(dev, torch.float32).reshape(b, 1, 4)
    uv = uv.to(dev, torch.float32)
    conf = conf.to(dev, torch.float32)
    if uv.ndim != 3 or uv.shape[0] != b or uv.shape[-1] != 2 or conf.shape != uv.shape[:2]:
        raise ValueError(f"uv must be (B, J, 2) and conf (B, J) with B={b}, got {tuple(uv.shape)}, {tuple(conf.shape)}")
    xyz = centre + p * (cube / 2)                                                  # (B, N, 3) metres
    z = xyz[..., 2]
    front = torch.isfinite(xyz).all(-1) & (z > 0)
    zs = torch.where(front, z, torch.ones_like(z))
    proj = torch.stack([k[..., 0] * xyz[..., 0] / zs + k[..., 2], k[..., 1] * xyz[..., 1] / zs + k[..., 3]], dim=-1)
    ok_kp = torch.isfinite(uv).all(-1) & torch.isfinite(conf) & (conf > 0)         # (B, J)
    w = torch.where(ok_kp, conf, torch.zeros_like(conf))
    kp = torch.where(torch.isfinite(uv), uv, torch.zeros_like(uv))
    proj = torch.where(front.unsqueeze(-1), proj, torch.zeros_like(proj))
    d2 = (proj.unsqueeze(2) - kp.unsqueeze(1)).square().sum(-1)                    # (B, N, J)
    f = w.unsqueeze(1) * torch.exp(-d2 / (2.0 * float(sigma_px) ** 2))
    keep = front.unsqueeze(-1)
    if count is not None:
        keep = keep & (torch.as_tensor(count, device=dev).reshape(b, 1, 1) > 0)
    return torch.where(keep, f, torch.zeros_like(f))
