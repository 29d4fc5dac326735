"""sensor_msgs/CompressedImage <-> numpy: image_transport's ``compressed`` (colour as JPEG or PNG)
and ``compressedDepth`` (depth) formats, for rclpy and rosbags messages alike.

``compressed``: ``format`` like ``"rgb8; jpeg compressed bgr8"`` (or just ``"jpeg"`` / ``"png"``),
``data`` the JPEG/PNG file bytes (OpenCV channel order, BGR).

``compressedDepth`` (compressed_depth_image_transport): ``format`` like
``"16UC1; compressedDepth png"``; ``data`` = a 12-byte ConfigHeader (int32 compression format,
float32 ``depthQuantA``, float32 ``depthQuantB``, little-endian) followed by a 16-bit PNG:
* 16UC1: the depth in millimetres as is (0 invalid);
* 32FC1: inverse depth ``q = depthQuantA / z + depthQuantB`` stored as uint16 (0 invalid), so
  ``z = depthQuantA / (q - depthQuantB)`` metres.
The RVL variant (``"...; compressedDepth rvl"``) is refused with a clear error.
"""
from __future__ import annotations

import struct
from typing import Any

import numpy as np

from unipose_ros.core.camera import depth_to_metres
from unipose_ros.core.errors import EmptyInputError, EncodingError, SizeMismatchError
from unipose_ros.io.messages import as_uint8, convert_header, make_message, sequence

HEADER = struct.Struct("<iff")  # compressionFormat, depthQuantA, depthQuantB (12 bytes)
INV_DEPTH = 0


def is_compressed(msg: Any) -> bool:
    """True for a CompressedImage (it has ``format`` and no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def _decode(data: np.ndarray, flags: int, what: str) -> np.ndarray:
    import cv2

    if data.size == 0:
        raise EmptyInputError(f"{what}: the compressed image holds no bytes")
    img = cv2.imdecode(data, flags)
    if img is None:
        raise EncodingError(f"{what}: the bytes are not a readable JPEG/PNG image (corrupted or another codec)")
    return img


def rgb_from_compressed(msg: Any) -> np.ndarray:
    """A ``compressed`` colour CompressedImage as (H, W, 3) uint8 RGB."""
    import cv2

    fmt = str(msg.format).lower()
    if "compresseddepth" in fmt:
        raise EncodingError(f"format {msg.format!r} is compressed depth: subscribe the colour image's "
                            "'compressed' topic here")
    img = _decode(as_uint8(msg.data), cv2.IMREAD_COLOR, "compressed colour image")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., ::-1])


def depth_from_compressed(msg: Any) -> np.ndarray:
    """A ``compressedDepth`` CompressedImage as (H, W) float32 metres, NaN invalid."""
    import cv2

    fmt = str(msg.format)
    enc, _, rest = fmt.partition(";")
    enc = enc.strip()
    if "compresseddepth" not in rest.lower():
        raise EncodingError(f"format {fmt!r} is not compressedDepth: subscribe the depth image's "
                            "'compressedDepth' topic (image_transport), not 'compressed'")
    if "rvl" in rest.lower():
        raise EncodingError(f"format {fmt!r}: RVL compressed depth is not supported; set the publisher's "
                            "compressedDepth format to png")
    data = as_uint8(msg.data)
    if data.size <= HEADER.size:
        raise SizeMismatchError(f"compressedDepth data has {data.size} bytes: a 12-byte header and a PNG expected")
    _, quant_a, quant_b = HEADER.unpack(data[:HEADER.size].tobytes())
    img = _decode(data[HEADER.size:], cv2.IMREAD_UNCHANGED, "compressedDepth image")
    if img.dtype != np.uint16 or img.ndim != 2:
        raise EncodingError(f"compressedDepth PNG is {img.dtype} with shape {img.shape}: a 16-bit single-channel "
                            "PNG expected")
    if enc in ("16UC1", "mono16"):
        return depth_to_metres(img, "16UC1")
    if enc == "32FC1":
        q = img.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.float32(quant_a) / (q - np.float32(quant_b))
        z[(img == 0) | ~np.isfinite(z) | (z <= 0)] = np.nan
        return z.astype(np.float32)
    raise EncodingError(f"compressedDepth of encoding {enc!r}: only 16UC1 and 32FC1 depth are defined")


def compress_rgb(rgb: np.ndarray, msg_cls: type, header: Any = None, codec: str = "jpeg",
                 quality: int = 95) -> Any:
    """A ``compressed`` CompressedImage of (H, W, 3) uint8 RGB, as image_transport makes it
    (``format`` ``"rgb8; jpeg compressed bgr8"``, BGR bytes)."""
    import cv2

    if codec not in ("jpeg", "png"):
        raise ValueError(f"codec must be jpeg or png, got {codec!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if codec == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if codec == "jpeg" else ".png", np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise EncodingError("colour image could not be encoded")
    return make_message(msg_cls, header=convert_header(header, msg_cls), format=f"rgb8; {codec} compressed bgr8",
                        data=sequence(msg_cls, buf.reshape(-1), np.uint8))


def compress_depth(depth_m: np.ndarray, msg_cls: type, header: Any = None, encoding: str = "16UC1",
                   depth_max_m: float = 10.0, quantization: float = 100.0) -> Any:
    """A ``compressedDepth`` CompressedImage of (H, W) float32 metres (NaN invalid), as
    compressed_depth_image_transport makes it from a 16UC1 (millimetres) or 32FC1 (inverse depth,
    its ``depth_max`` and ``depth_quantization`` parameters) image."""
    import cv2

    z = np.asarray(depth_m, np.float32)
    valid = np.isfinite(z) & (z > 0)
    if encoding == "16UC1":
        img = np.where(valid, np.clip(np.rint(z * 1000.0), 0, 65535), 0).astype(np.uint16)
        quant_a = quant_b = 0.0
    elif encoding == "32FC1":
        quant_a = float(quantization)
        quant_b = 1.0 - quant_a / float(depth_max_m)
        with np.errstate(divide="ignore"):
            q = quant_a / np.where(valid, z, np.inf) + quant_b
        img = np.where(valid & (z < depth_max_m), np.clip(q, 0, 65535), 0).astype(np.uint16)
    else:
        raise ValueError(f"encoding must be 16UC1 or 32FC1, got {encoding!r}")
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise EncodingError("depth image could not be encoded")
    data = np.concatenate([np.frombuffer(HEADER.pack(INV_DEPTH, quant_a, quant_b), np.uint8), png.reshape(-1)])
    return make_message(msg_cls, header=convert_header(header, msg_cls), format=f"{encoding}; compressedDepth png",
                        data=sequence(msg_cls, data, np.uint8))


def rgb_from_message(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an Image or a ``compressed`` CompressedImage."""
    if is_compressed(msg):
        return rgb_from_compressed(msg)
    from unipose_ros.io.image import rgb_from_image

    return rgb_from_image(msg)


def depth_from_message(msg: Any) -> np.ndarray:
    """(H, W) float32 metres (NaN invalid) from an Image or a ``compressedDepth`` CompressedImage."""
    if is_compressed(msg):
        return depth_from_compressed(msg)
    from unipose_ros.io.image import depth_from_image

    return depth_from_image(msg)


def compressed_encoding(fmt: str) -> str:
    """The image encoding a CompressedImage ``format`` stands for, as the topic roles need it:
    the original encoding for ``compressedDepth`` (``"16UC1; compressedDepth png"`` -> ``16UC1``);
    for ``compressed`` colour its encoding (``"rgb8; jpeg compressed bgr8"`` -> ``rgb8``, a bare
    ``"jpeg"`` -> ``bgr8``); any other image compressed as colour (a 16-bit PNG of depth, say) is
    ``compressed:<encoding>``, which is neither a colour nor a depth encoding."""
    enc, sep, rest = str(fmt).partition(";")
    enc = enc.strip()
    if not sep:  # image_transport before Hydro / some drivers: the format is just the codec
        return "bgr8" if enc.lower() in ("jpeg", "jpg", "png") else f"compressed:{enc}"
    if "compresseddepth" in rest.lower():
        return enc
    return enc if enc in ("rgb8", "bgr8", "rgba8", "bgra8", "8UC3", "mono8") else f"compressed:{enc}"
