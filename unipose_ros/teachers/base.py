"""The 2D teacher interface: an RGB image in, one set of 2D keypoints per person out.

Pixel convention: (u, v) = (column, row) in the full image, the centre of the top-left pixel at
(0, 0), as in sensor_msgs/CameraInfo and :class:`unipose_ros.core.camera.PinholeCamera`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) pixels, x1/y1 exclusive edges


@dataclass
class Keypoints2D:
    """One person's 2D keypoints in a teacher's own joint order.

    Attributes:
        source: id of the joint order, a key of :func:`unipose_ros.core.joints.joint_map`
            (e.g. ``"blazepose33"``).
        names: (K,) joint names in that order.
        uv: (K, 2) float32 pixels (u, v) in the full image. May lie outside the image for joints
            the teacher extrapolates (e.g. legs cut off by the image border).
        confidence: (K,) float32 in [0, 1], the teacher's belief that the joint is visible and
            where it says.
        box: (x0, y0, x1, y1) pixels, the person's box (from the keypoints or the detector).
        score: person-level confidence in [0, 1].
    """

    source: str
    names: tuple[str, ...]
    uv: np.ndarray
    confidence: np.ndarray
    box: Box
    score: float = 1.0

    def __post_init__(self) -> None:
        self.uv = np.asarray(self.uv, dtype=np.float32)
        self.confidence = np.clip(np.asarray(self.confidence, dtype=np.float32), 0.0, 1.0)
        k = len(self.names)
        if self.uv.shape != (k, 2) or self.confidence.shape != (k,):
            raise ValueError(f"{self.source}: {k} names but uv {self.uv.shape}, "
                             f"confidence {self.confidence.shape}")

    def __len__(self) -> int:
        return len(self.names)


def box_from_keypoints(uv: np.ndarray, confidence: np.ndarray, min_confidence: float = 0.3,
                       pad: float = 0.1) -> Box:
    """Bounding box of the keypoints with ``confidence >= min_confidence`` (all of them when
    none qualify), grown by ``pad`` times its size on each side.

    Args:
        uv: (K, 2) pixels. confidence: (K,). pad: fraction of the box width/height.
    Returns:
        (x0, y0, x1, y1) pixels (not clipped to the image).
    """
    uv = np.asarray(uv, dtype=np.float64)
    keep = np.asarray(confidence) >= min_confidence
    pts = uv[keep] if keep.any() else uv
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    w, h = x1 - x0, y1 - y0
    return (float(x0 - pad * w), float(y0 - pad * h), float(x1 + pad * w), float(y1 + pad * h))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes; 0 for empty boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / area) if area > 0 else 0.0


@runtime_checkable
class Teacher2D(Protocol):
    """A 2D pose estimator on RGB images.

    ``detect`` takes an (H, W, 3) uint8 RGB image and returns one :class:`Keypoints2D` per person
    found (an empty list when there is none), keypoints in full-image pixels. ``detect_in_boxes``
    runs the teacher once per person box (e.g. from depth proposals) for teachers that find one
    person per call. ``close`` frees native resources.
    """

    source: str

    def detect(self, rgb: np.ndarray) -> list[Keypoints2D]:
        ...

    def detect_in_boxes(self, rgb: np.ndarray, boxes: list[Box]) -> list[Keypoints2D]:
        ...

    def close(self) -> None:
        ...
