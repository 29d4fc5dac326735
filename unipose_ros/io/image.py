"""sensor_msgs/Image <-> numpy, for rclpy and rosbags messages alike.

Supported encodings (REP-118 for depth): rgb8, bgr8, rgba8, bgra8, mono8, 8UC1, 8UC3, mono16,
16UC1 (depth, millimetres), 32FC1 (depth, metres). Row padding (``step``) and ``is_bigendian``
are honoured on reading; writing produces unpadded little-endian rows.

Where the ROS 2 ``cv_bridge`` is installed and ``UNIPOSE_USE_CV_BRIDGE=1`` is set, reading goes
through it instead (same results); the numpy path needs no ROS at all.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from unipose_ros.core.camera import depth_to_metres, metres_to_depth
from unipose_ros.core.errors import EmptyInputError, EncodingError, SizeMismatchError
from unipose_ros.io.messages import as_uint8, convert_header, make_message, sequence


@dataclass(frozen=True)
class _Encoding:
    dtype: str  # numpy dtype, native byte order
    channels: int


ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding("u1", 3), "bgr8": _Encoding("u1", 3), "8UC3": _Encoding("u1", 3),
    "rgba8": _Encoding("u1", 4), "bgra8": _Encoding("u1", 4),
    "mono8": _Encoding("u1", 1), "8UC1": _Encoding("u1", 1),
    "mono16": _Encoding("u2", 1), "16UC1": _Encoding("u2", 1),
    "32FC1": _Encoding("f4", 1),
}
DEPTH_ENCODINGS = ("16UC1", "32FC1", "mono16")


def _encoding(name: str) -> _Encoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise EncodingError(
            f"image encoding {name!r} is not supported; supported: {sorted(ENCODINGS)}. For a "
            "colour camera publish rgb8/bgr8 (e.g. realsense2_camera rgb_camera.color_format "
            "RGB8), for depth 16UC1 (mm) or 32FC1 (m); compressed topics need image_transport "
            "republish to raw") from None


@lru_cache(maxsize=1)
def _cv_bridge() -> Any:
    """The ROS 2 CvBridge when opted in and genuinely ROS 2's, else None. (PyPI ``cv-bridge``
    is ROS 1's and mangles 16UC1: it is never used.)"""
    if os.environ.get("UNIPOSE_USE_CV_BRIDGE", "0") != "1":
        return None
    try:
        import cv_bridge
    except ImportError:
        return None
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    path = os.path.realpath(getattr(cv_bridge, "__file__", "") or "")
    if not any(path.startswith(os.path.realpath(p) + os.sep) for p in prefixes + ["/opt/ros"]):
        return None
    return cv_bridge.CvBridge()


def image_to_numpy(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/Image.

    Args:
        msg: an Image (rclpy or rosbags; any object with height, width, encoding, is_bigendian,
            step, data).
    Returns:
        (H, W, C) for multi-channel or (H, W) for single-channel encodings, in the encoding's
        dtype (uint8, uint16, float32), native byte order, channel order as encoded. The array
        may share memory with ``msg.data`` and be read-only; copy before modifying.
    Raises:
        EncodingError, EmptyInputError, SizeMismatchError with what to fix.
    """
    enc = _encoding(str(msg.encoding))
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise EmptyInputError(f"image is {w}x{h} ({msg.encoding}): the camera published an empty "
                              "image; check that the driver is streaming")
    bridge = _cv_bridge()
    if bridge is not None:
        return np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
    dtype = np.dtype(enc.dtype).newbyteorder(">" if msg.is_bigendian else "<")
    row_bytes = w * enc.channels * dtype.itemsize
    if step < row_bytes:
        raise SizeMismatchError(
            f"image step {step} is smaller than width*channels*bytes = {row_bytes} "
            f"({w}x{h} {msg.encoding}): the message is malformed")
    buf = as_uint8(msg.data)
    if buf.size < step * (h - 1) + row_bytes:
        raise SizeMismatchError(
            f"image data has {buf.size} bytes but {w}x{h} {msg.encoding} with step {step} needs "
            f"{step * h}: the message is truncated or its step/encoding is wrong")
    if buf.size < step * h:  # last row without its padding
        buf = np.concatenate([buf, np.zeros(step * h - buf.size, np.uint8)])
    rows = buf[:step * h].reshape(h, step)[:, :row_bytes]
    arr = rows.view(dtype).reshape((h, w, enc.channels) if enc.channels > 1 else (h, w))
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def _channels(arr: np.ndarray, order: tuple[int, int, int]) -> np.ndarray:
    """(H, W, 3) contiguous copy of the channels ``order`` of ``arr`` (one strided copy per
    channel: ~4x faster than a reversed-slice copy)."""
    out = np.empty(arr.shape[:2] + (3,), np.uint8)
    for i, c in enumerate(order):
        out[..., i] = arr[..., c]
    return out


def rgb_from_image(msg: Any) -> np.ndarray:
    """A colour or grey Image as (H, W, 3) uint8 RGB (a new, writable array).

    rgb8/8UC3 are taken as RGB, bgr8 swapped, rgba8/bgra8 drop alpha, mono8 is replicated.
    16-bit and float encodings raise EncodingError (they are depth or need a display mapping).
    """
    enc = str(msg.encoding)
    arr = image_to_numpy(msg)
    if enc in ("rgb8", "8UC3"):
        return np.array(arr, copy=True, order="C")
    if enc in ("bgr8", "bgra8"):
        return _channels(arr, (2, 1, 0))
    if enc == "rgba8":
        return _channels(arr, (0, 1, 2))
    if enc in ("mono8", "8UC1"):
        return np.repeat(arr[..., None], 3, axis=2)
    raise EncodingError(f"image encoding {enc!r} is not a colour encoding: subscribe the colour "
                        "image topic (rgb8/bgr8) here, not depth")


def depth_from_image(msg: Any) -> np.ndarray:
    """A depth Image as (H, W) float32 metres along the optical axis, NaN where invalid.

    16UC1/mono16: millimetres, 0 invalid. 32FC1: metres, 0, NaN and inf invalid.
    """
    enc = str(msg.encoding)
    if enc not in DEPTH_ENCODINGS:
        _encoding(enc)
        raise EncodingError(f"image encoding {enc!r} is not a depth encoding: subscribe the "
                            "depth topic (e.g. aligned_depth_to_color/image_raw, 16UC1 or 32FC1)")
    return depth_to_metres(image_to_numpy(msg), enc)


def numpy_to_image(array: np.ndarray, encoding: str, msg_cls: type, header: Any = None) -> Any:
    """Build an Image of class ``msg_cls`` (rclpy or rosbags) from ``array``.

    Args:
        array: (H, W, C) or (H, W) in the dtype of ``encoding`` (uint8 for *8, uint16 for
            16UC1/mono16, float32 for 32FC1); channels as encoded.
        encoding: one of :data:`ENCODINGS`.
        msg_cls: the Image class to instantiate.
        header: a std_msgs/Header (either family) or None for an empty one.
    Returns:
        the message: little-endian, no row padding (step = W * C * itemsize).
    """
    enc = _encoding(encoding)
    arr = np.asarray(array)
    expect = np.dtype(enc.dtype)
    if arr.dtype != expect:
        hint = (" (convert metres with core.camera.metres_to_depth)" if encoding in DEPTH_ENCODINGS
                else "")
        raise EncodingError(f"{encoding} needs a {expect} array, got {arr.dtype}{hint}")
    if not ((arr.ndim == 2 and enc.channels == 1)
            or (arr.ndim == 3 and arr.shape[2] == enc.channels)):
        want = "(H, W)" if enc.channels == 1 else f"(H, W, {enc.channels})"
        raise SizeMismatchError(f"{encoding} needs an {want} array, got {arr.shape}")
    h, w = arr.shape[:2]
    if h == 0 or w == 0:
        raise EmptyInputError(f"cannot publish an empty {w}x{h} image")
    data = np.ascontiguousarray(arr, dtype=expect.newbyteorder("<"))
    return make_message(
        msg_cls, header=convert_header(header, msg_cls), height=int(h), width=int(w),
        encoding=encoding, is_bigendian=0, step=int(w * enc.channels * expect.itemsize),
        data=sequence(msg_cls, data.reshape(-1).view(np.uint8), np.uint8))


def rgb_to_image(rgb: np.ndarray, msg_cls: type, header: Any = None,
                 encoding: str = "rgb8") -> Any:
    """(H, W, 3) uint8 RGB to an Image in ``encoding`` (rgb8 or bgr8)."""
    if encoding == "bgr8":
        rgb = _channels(np.asarray(rgb), (2, 1, 0))
    elif encoding != "rgb8":
        raise EncodingError(f"colour images are written as rgb8 or bgr8, not {encoding!r}")
    return numpy_to_image(rgb, encoding, msg_cls, header)


def depth_to_image(depth_m: np.ndarray, msg_cls: type, header: Any = None,
                   encoding: str = "16UC1") -> Any:
    """(H, W) metres (NaN invalid) to a depth Image: 16UC1 whole millimetres (0 invalid) or
    32FC1 metres (NaN becomes 0, which REP-118 also reads as invalid)."""
    if encoding not in ("16UC1", "32FC1"):
        raise EncodingError(f"depth is written as 16UC1 or 32FC1, not {encoding!r}")
    return numpy_to_image(metres_to_depth(depth_m, encoding), encoding, msg_cls, header)
