"""The one frame type every path uses: live node, replay, predictor, training ingest, evaluation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import EmptyInputError, InputError, SizeMismatchError


@dataclass
class RGBDFrame:
    """One synchronised RGB-D observation.

    Attributes:
        stamp_ns: acquisition time of the colour image (ns since the epoch, ROS time).
        frame_id: the camera optical frame that every 3D quantity is expressed in.
        camera: intrinsics of ``rgb`` and ``depth`` (depth registered to colour).
        rgb: (H, W, 3) uint8 RGB, or None for depth-only input.
        depth: (H, W) float32 metres along the optical axis, NaN where invalid, or None.
        points: (N, 3) float32 metres in the optical frame (the sensor's cloud), or None.
    """

    stamp_ns: int
    frame_id: str
    camera: PinholeCamera
    rgb: np.ndarray | None = None
    depth: np.ndarray | None = None
    points: np.ndarray | None = None

    def validate(self) -> "RGBDFrame":
        """Check shapes, dtypes and agreement with the camera; raise a typed InputError that says
        what to fix. Returns self so it can be chained."""
        if self.rgb is None and self.depth is None and self.points is None:
            raise EmptyInputError("frame has no colour, depth or points")
        if self.rgb is not None:
            if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
                raise InputError(f"rgb must be (H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
            self.camera.check_image(self.rgb.shape, "colour image")
        if self.depth is not None:
            if self.depth.ndim != 2 or self.depth.dtype != np.float32:
                raise InputError(f"depth must be (H, W) float32 metres, got {self.depth.shape} {self.depth.dtype}")
            if self.rgb is not None and self.depth.shape != self.rgb.shape[:2]:
                raise SizeMismatchError(
                    f"depth image {self.depth.shape[1]}x{self.depth.shape[0]} does not match colour "
                    f"{self.rgb.shape[1]}x{self.rgb.shape[0]}: publish depth registered to colour "
                    "(e.g. realsense2_camera align_depth.enable:=true, topic aligned_depth_to_color)")
            self.camera.check_image(self.depth.shape, "depth image")
        if self.points is not None and (self.points.ndim != 2 or self.points.shape[1] != 3):
            raise InputError(f"points must be (N, 3), got {self.points.shape}")
        return self

    @property
    def height(self) -> int:
        return self.camera.height

    @property
    def width(self) -> int:
        return self.camera.width

    def has_valid_depth(self) -> bool:
        """True when at least one depth pixel is valid (finite)."""
        return self.depth is not None and bool(np.isfinite(self.depth).any())
