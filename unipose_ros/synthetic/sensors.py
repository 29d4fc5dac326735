"""Named depth-sensor models: each with its own resolution, intrinsics and signature artefacts.

Three measuring principles, applied to a clean render (depth along the optical axis, metres):

* ``structured_light`` (Kinect v1, Xtion, ITOP): the projector sits ``baseline_m`` to the right
  of the IR camera, so surfaces behind the *left* edge of a nearer object receive no pattern
  (projector shadow, invalid); depth comes from disparity quantised to ``disparity_step_px``
  (1/8 px on a Kinect v1: about 2.6 cm steps at 3 m).
* ``tof`` (Kinect v2, Azure Kinect): noise grows linearly with depth; multipath pushes concave
  regions (corners, the floor next to a wall or a body) farther; mixed pixels fly along the ray
  at every silhouette; dark (low-albedo) surfaces return too little light and drop out.
* ``active_stereo`` (RealSense D4xx): the left IR camera is the reference and the right one is
  ``baseline_m`` away, so the leftmost ``f * b / z`` columns have no match (the invalid band) and
  surfaces behind the left edge of nearer objects are occluded in the right camera; noise grows
  with depth squared (sub-pixel disparity error); registering depth to the colour camera, which
  sits ``registration_m`` to the right, opens holes behind the *right* edge of nearer objects.

The shadow rule is exact in image space for a horizontal baseline: pixel ``u`` (depth ``z``) is
hidden from a second centre ``b`` to the right when some pixel ``u' > u`` of the same row has
``u' - f b / z' <= u - f b / z`` (its ray from the second centre passes in front).
All randomness comes from the ``np.random.Generator`` passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unipose_ros.core.camera import PinholeCamera, metres_to_depth

KINDS = ("structured_light", "tof", "active_stereo")


@dataclass(frozen=True)
class SensorModel:
    """One depth camera.

    Attributes:
        name: preset name.
        kind: ``structured_light``, ``tof`` or ``active_stereo``.
        width, height: depth image size (pixels); fx, fy, cx, cy: its intrinsics (pixels).
        min_range_m, max_range_m: working range (outside: invalid).
        baseline_m: projector (structured light) or right-camera (stereo) offset to the right.
        disparity_step_px: disparity quantisation (structured light).
        sigma: noise: stereo/structured light sigma(z) = sigma * z^2 (m); ToF sigma(z) = sigma * z.
        dropout: probability that any pixel is invalid.
        edge_flying: probability that a silhouette pixel takes a mixed depth along its ray.
        multipath_m: ToF depth bias per metre of local concavity.
        dark_albedo: ToF: luminance (0-1) below which a pixel drops out with probability
            ``dark_dropout``.
        registration_m: stereo: colour camera offset to the right of the depth reference (m).
        rgb_noise: colour noise std (0-255 scale).
    """

    name: str
    kind: str
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    min_range_m: float = 0.4
    max_range_m: float = 6.0
    baseline_m: float = 0.075
    disparity_step_px: float = 0.125
    sigma: float = 0.0015
    dropout: float = 0.003
    edge_flying: float = 0.3
    multipath_m: float = 0.0
    dark_albedo: float = 0.0
    dark_dropout: float = 0.0
    registration_m: float = 0.0
    rgb_noise: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"sensor {self.name!r}: kind {self.kind!r} unknown; use one of {KINDS}")

    @property
    def camera(self) -> PinholeCamera:
        return PinholeCamera(fx=self.fx, fy=self.fy, cx=self.cx, cy=self.cy, width=self.width, height=self.height)


SENSORS: dict[str, SensorModel] = {s.name: s for s in (
    SensorModel("kinect_v1", "structured_light", 640, 480, 580.0, 580.0, 319.5, 239.5, 0.5, 4.5,
                baseline_m=0.075, sigma=0.0012),
    SensorModel("xtion", "structured_light", 320, 240, 285.0, 285.0, 159.5, 119.5, 0.8, 4.0,
                baseline_m=0.075, disparity_step_px=0.125, sigma=0.0015),
    SensorModel("itop", "structured_light", 320, 240, 285.714, 285.714, 160.0, 120.0, 0.5, 5.0,
                baseline_m=0.075, disparity_step_px=0.125, sigma=0.0012),
    SensorModel("kinect_v2", "tof", 512, 424, 364.85, 364.85, 255.5, 211.5, 0.5, 4.5,
                sigma=0.0025, edge_flying=0.6, multipath_m=0.08, dark_albedo=0.12, dark_dropout=0.7),
    SensorModel("azure_kinect_nfov", "tof", 640, 576, 504.0, 504.0, 319.5, 287.5, 0.5, 5.5,
                sigma=0.002, edge_flying=0.5, multipath_m=0.06, dark_albedo=0.1, dark_dropout=0.6),
    SensorModel("d435", "active_stereo", 640, 480, 615.0, 615.0, 319.5, 239.5, 0.3, 6.0,
                baseline_m=0.050, sigma=0.0015, edge_flying=0.25, registration_m=0.015),
    SensorModel("d455", "active_stereo", 640, 480, 430.0, 430.0, 319.5, 239.5, 0.4, 6.0,
                baseline_m=0.095, sigma=0.0009, edge_flying=0.25, registration_m=0.059),
)}


def sensor(name: str) -> SensorModel:
    """The preset ``name`` (see :data:`SENSORS`); ValueError listing the presets otherwise."""
    if name not in SENSORS:
        raise ValueError(f"unknown sensor {name!r}; presets: {sorted(SENSORS)}")
    return SENSORS[name]


def occluded_from_right(depth: np.ndarray, f_times_b: float) -> np.ndarray:
    """(H, W) bool: pixels of ``depth`` (H, W metres, NaN = nothing) that a second centre
    ``b`` metres to the right of the camera cannot see (``f_times_b`` = fx * b, pixel metres).
    A negative ``f_times_b`` puts the second centre on the left (the mask mirrors)."""
    if f_times_b < 0:
        return occluded_from_right(depth[:, ::-1], -f_times_b)[:, ::-1]
    h, w = depth.shape
    z = np.where(np.isfinite(depth) & (depth > 0), depth, np.inf)
    u = np.arange(w, dtype=np.float64)[None, :]
    up = u - f_times_b / z  # column in the second view (inf depth: the column itself)
    # min over u' > u of up(u'): reverse cumulative minimum, shifted by one column
    rev = np.minimum.accumulate(up[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([rev[:, 1:], np.full((h, 1), np.inf)], axis=1)
    return np.isfinite(z) & (right_min < up - 1e-9)


def _silhouette(z: np.ndarray, threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool of pixels with a 4-neighbour jump above ``threshold`` m, and (H, W) depth of
    the farther neighbour."""
    pad = np.pad(np.nan_to_num(z, nan=0.0, posinf=0.0), 1, mode="edge")
    neigh = np.stack([pad[:-2, 1:-1], pad[2:, 1:-1], pad[1:-1, :-2], pad[1:-1, 2:]])
    jump = neigh - np.nan_to_num(z, nan=0.0)[None]
    k = jump.argmax(0)
    far = np.take_along_axis(neigh, k[None], 0)[0]
    return (np.take_along_axis(jump, k[None], 0)[0] > threshold) & np.isfinite(z), far


def _box_mean(a: np.ndarray, r: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.uniform_filter(a, size=2 * r + 1, mode="nearest")


def apply_sensor(depth: np.ndarray, rgb: np.ndarray | None, model: SensorModel,
                 rng: np.random.Generator) -> np.ndarray:
    """The sensor's 16UC1 depth (H, W) uint16 millimetres (0 = invalid) from a clean render.

    Args:
        depth: (H, W) float32 metres along the optical axis, NaN where nothing was hit, rendered
            with ``model.camera``.
        rgb: (H, W, 3) uint8 clean colour of the same view (albedo proxy for ToF dropout), or None.
        model: the sensor.
        rng: random generator.
    """
    z = np.asarray(depth, dtype=np.float64).copy()
    if z.shape != (model.height, model.width):
        raise ValueError(f"{model.name}: render is {z.shape[1]}x{z.shape[0]}, the sensor is "
                         f"{model.width}x{model.height}")
    valid = np.isfinite(z) & (z > 0)
    bad = ~valid
    edge, far = _silhouette(np.where(valid, z, np.nan))
    fly = edge & (far > 0) & (rng.random(z.shape) < model.edge_flying)
    if model.kind in ("structured_light", "active_stereo"):
        bad |= occluded_from_right(np.where(valid, z, np.nan), model.fx * model.baseline_m)
    if model.kind == "structured_light":
        fb = model.fx * model.baseline_m
        with np.errstate(divide="ignore", invalid="ignore"):
            disp = fb / z
            noisy = disp + rng.standard_normal(z.shape) * model.sigma * fb  # sigma_z = sigma z^2
            q = np.round(noisy / model.disparity_step_px) * model.disparity_step_px
            z = np.where(q > 0, fb / q, np.nan)
        z[fly] = far[fly]  # the pattern of the farther surface wins at a silhouette
    elif model.kind == "tof":
        zf = np.where(valid, z, 0.0)
        wgt = valid.astype(np.float64)
        local = _box_mean(zf, 4) / np.maximum(_box_mean(wgt, 4), 1e-6)
        z = z + model.multipath_m * np.clip(z - local, 0.0, 0.5) / 0.5 * np.clip(z, 0, None) / 3.0
        z[fly] += rng.random(int(fly.sum())) * (far[fly] - z[fly])
        z = z + rng.standard_normal(z.shape) * model.sigma * np.nan_to_num(z)
        if rgb is not None and model.dark_albedo > 0:
            lum = np.asarray(rgb, np.float64).mean(-1) / 255.0
            bad |= (lum < model.dark_albedo) & (rng.random(z.shape) < model.dark_dropout)
    else:  # active stereo
        fb = model.fx * model.baseline_m
        zmax = np.nanmax(np.where(valid, z, np.nan)) if valid.any() else model.max_range_m
        band = int(np.ceil(fb / max(float(zmax), model.min_range_m)))
        bad[:, :band] = True
        z[fly] += rng.random(int(fly.sum())) * (far[fly] - z[fly])
        z = z + rng.standard_normal(z.shape) * model.sigma * np.square(np.nan_to_num(z))
        if model.registration_m > 0:
            bad |= occluded_from_right(np.where(valid, z, np.nan), -model.fx * model.registration_m)
    bad |= rng.random(z.shape) < model.dropout
    bad |= ~(z >= model.min_range_m) | ~(z <= model.max_range_m)
    z[bad] = np.nan
    return metres_to_depth(z, "16UC1")
