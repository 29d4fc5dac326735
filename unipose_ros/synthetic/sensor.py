"""Depth and colour sensor effects applied to a clean render.

Depth: axial noise growing with z^2 (structured-light / stereo), flying pixels and shadows at
depth discontinuities, random dropout, invalid outside the working range, and quantisation to
whole millimetres (16UC1). Colour: a little Gaussian noise. All randomness comes from the
``np.random.Generator`` passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unipose_ros.core.camera import depth_to_metres, metres_to_depth


@dataclass(frozen=True)
class DepthNoise:
    """Depth sensor model parameters.

    Attributes:
        sigma_z2: axial noise std per squared metre: sigma(z) = sigma_z2 * z^2 (metres).
        min_range, max_range: valid working range, metres; outside it the pixel is invalid (0).
        dropout: probability that any pixel is invalid.
        edge_threshold: depth jump to a 4-neighbour (metres) that marks a discontinuity pixel.
        edge_invalid: probability that a discontinuity pixel is invalid (shadow).
        edge_flying: probability that a discontinuity pixel is a flying pixel (mixed depth).
        rgb_noise: std of the additive colour noise (0-255 scale).
    """

    sigma_z2: float = 0.0012
    min_range: float = 0.3
    max_range: float = 8.0
    dropout: float = 0.005
    edge_threshold: float = 0.05
    edge_invalid: float = 0.35
    edge_flying: float = 0.35
    rgb_noise: float = 2.0


def _neighbour_depth(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest absolute jump to a 4-neighbour (H, W) and the farther neighbour's depth (H, W)."""
    d = np.nan_to_num(depth, nan=0.0)
    pad = np.pad(d, 1, mode="edge")
    neigh = np.stack([pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]])
    jump = np.abs(neigh - d[None])
    k = jump.argmax(0)
    return np.take_along_axis(jump, k[None], 0)[0], np.take_along_axis(neigh, k[None], 0)[0]


def apply_depth_noise(depth: np.ndarray, rng: np.random.Generator,
                      noise: DepthNoise = DepthNoise()) -> np.ndarray:
    """Sensor depth from a clean render.

    Args:
        depth: (H, W) float32 metres along the optical axis, NaN where nothing was hit.
        rng: random generator.
        noise: sensor parameters.
    Returns:
        (H, W) uint16 millimetres, 0 = invalid (the 16UC1 image a depth camera publishes).
    """
    z = np.asarray(depth, dtype=np.float64).copy()
    valid = np.isfinite(z)
    jump, far = _neighbour_depth(np.where(valid, z, np.nan))
    edge = valid & (jump > noise.edge_threshold) & (far > 0)
    u = rng.random(z.shape)
    fly = edge & (u < noise.edge_flying)
    z[fly] += rng.random(int(fly.sum())) * (far[fly] - z[fly])
    shadow = edge & (u >= noise.edge_flying) & (u < noise.edge_flying + noise.edge_invalid)
    z = z + rng.standard_normal(z.shape) * noise.sigma_z2 * np.square(np.nan_to_num(z))
    bad = ~valid | shadow | (rng.random(z.shape) < noise.dropout)
    bad |= (z < noise.min_range) | (z > noise.max_range)
    z[bad] = np.nan
    return metres_to_depth(z, "16UC1")


def sensor_depth_metres(depth_mm: np.ndarray) -> np.ndarray:
    """(H, W) uint16 mm -> (H, W) float32 metres with NaN invalid (what a frame carries)."""
    return depth_to_metres(depth_mm, "16UC1")


def apply_rgb_noise(rgb: np.ndarray, rng: np.random.Generator,
                    noise: DepthNoise = DepthNoise()) -> np.ndarray:
    """(H, W, 3) uint8 colour with additive Gaussian noise of std ``noise.rgb_noise``."""
    if noise.rgb_noise <= 0:
        return rgb
    out = rgb.astype(np.float32) + rng.normal(0.0, noise.rgb_noise, rgb.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
