"""sensor_msgs/CameraInfo <-> PinholeCamera, for rclpy and rosbags messages alike."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import CameraInfoError
from unipose_ros.io.messages import (
    convert_header,
    field_class,
    fixed_array,
    is_rosbags_class,
    make_message,
    sequence,
)

_log = logging.getLogger(__name__)


def distortion_warning(msg: Any) -> str | None:
    """A warning text when ``msg`` has non-zero distortion coefficients, else None.

    The package assumes rectified images (the RealSense colour stream and depth aligned to it
    are); a distorted image gives 3D errors that grow towards the image border.
    """
    d = np.asarray(getattr(msg, "d", ()), dtype=np.float64)
    if d.size and np.any(np.abs(d) > 1e-9):
        return (f"camera_info has non-zero distortion ({getattr(msg, 'distortion_model', '')} "
                f"D={np.round(d, 4).tolist()}): the images are treated as rectified; subscribe "
                "image_rect topics (image_proc) if the camera is not rectified")
    return None


def camera_from_info(msg: Any, warn: bool = True) -> PinholeCamera:
    """The pinhole intrinsics of a CameraInfo (K and width/height).

    Args:
        msg: sensor_msgs/CameraInfo (rclpy or rosbags).
        warn: log :func:`distortion_warning` (once per call) when there is distortion.
    Raises:
        CameraInfoError: missing/all-zero K, non-positive focal length or zero image size,
            with what to fix.
    """
    if int(getattr(msg, "width", 0)) <= 0 or int(getattr(msg, "height", 0)) <= 0:
        raise CameraInfoError(
            f"camera_info has image size {getattr(msg, 'width', 0)}x{getattr(msg, 'height', 0)}: "
            "the driver publishes an uncalibrated/empty camera_info; remap the camera_info topic "
            "that belongs to the image (for aligned depth: the colour camera_info)")
    cam = PinholeCamera.from_camera_info(msg)
    if warn and (text := distortion_warning(msg)):
        _log.warning(text)
    return cam


def camera_info_from_camera(cam: PinholeCamera, msg_cls: type, header: Any = None) -> Any:
    """A CameraInfo of class ``msg_cls`` describing ``cam``: plumb_bob with zero distortion,
    K from the intrinsics, R identity, P = [K | 0], no binning, full-image ROI."""
    k = cam.K
    p = np.zeros((3, 4))
    p[:, :3] = k
    fields: dict[str, Any] = dict(
        header=convert_header(header, msg_cls), height=int(cam.height), width=int(cam.width),
        distortion_model="plumb_bob", d=sequence(msg_cls, np.zeros(5), np.float64),
        k=fixed_array(msg_cls, k), r=fixed_array(msg_cls, np.eye(3)), p=fixed_array(msg_cls, p),
        binning_x=0, binning_y=0)
    if is_rosbags_class(msg_cls):  # rosbags needs every field; rclpy defaults the ROI to zeros
        roi_cls = field_class(msg_cls, "roi")
        fields["roi"] = make_message(roi_cls, x_offset=0, y_offset=0, height=0, width=0,
                                     do_rectify=False)
    return make_message(msg_cls, **fields)
