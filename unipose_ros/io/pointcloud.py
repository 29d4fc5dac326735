"""sensor_msgs/PointCloud2 <-> numpy through structured dtypes built from the message's fields.

Works on rclpy and rosbags messages (duck-typed on fields, offsets, point_step, row_step,
is_bigendian, data). Points are metres in the cloud's header frame (for a camera: the optical
frame, x right, y down, z forward). Colour follows the PCL/RealSense convention: a 4-byte ``rgb``
(or ``rgba``) field holding ``0xAARRGGBB`` as a uint32, declared FLOAT32 or UINT32.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from unipose_ros.core.errors import EncodingError, SizeMismatchError
from unipose_ros.io.messages import as_uint8, convert_header, field_class, make_message, sequence

# sensor_msgs/PointField datatype codes.
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
DATATYPES: dict[int, str] = {INT8: "i1", UINT8: "u1", INT16: "i2", UINT16: "u2", INT32: "i4",
                             UINT32: "u4", FLOAT32: "f4", FLOAT64: "f8"}


def cloud_dtype(msg: Any) -> np.dtype:
    """The numpy structured dtype of one point of ``msg`` (itemsize = point_step, byte order
    from is_bigendian). Unknown datatypes raise EncodingError."""
    order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for f in msg.fields:
        code = int(f.datatype)
        if code not in DATATYPES:
            raise EncodingError(f"PointCloud2 field {f.name!r} has unknown datatype {code} "
                                "(expected 1..8, see sensor_msgs/PointField)")
        count = max(int(f.count), 1)
        names.append(str(f.name))
        base = order + DATATYPES[code]
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(int(f.offset))
    step = int(msg.point_step)
    if len(set(names)) != len(names):
        raise EncodingError(f"PointCloud2 fields repeat a name: {names}")
    if min(offsets, default=0) < 0:
        raise SizeMismatchError(f"PointCloud2 field offsets {offsets} must be >= 0")
    try:
        dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": step})
    except ValueError as e:  # the fields do not fit into point_step, or overlap
        raise SizeMismatchError(f"PointCloud2 fields {list(zip(names, offsets))} do not fit into "
                                f"point_step {step} bytes ({e}): the message is malformed") from None
    return dtype


def cloud_to_array(msg: Any) -> np.ndarray:
    """Structured array of the points, shape (height, width) (unorganised clouds: (1, N)).
    May share memory with ``msg.data``."""
    dtype = cloud_dtype(msg)
    h, w = int(msg.height), int(msg.width)
    step, row_step = int(msg.point_step), int(msg.row_step)
    if h * w == 0:
        return np.zeros((h, w), dtype)
    row_bytes = w * step
    if row_step < row_bytes:
        raise SizeMismatchError(f"PointCloud2 row_step {row_step} < width*point_step {row_bytes}: "
                                "the message is malformed")
    buf = as_uint8(msg.data)
    if buf.size < row_step * (h - 1) + row_bytes:
        raise SizeMismatchError(f"PointCloud2 data has {buf.size} bytes, {w}x{h} points of "
                                f"{step} bytes (row_step {row_step}) need {row_step * h}")
    if buf.size < row_step * h:
        buf = np.concatenate([buf, np.zeros(row_step * h - buf.size, np.uint8)])
    return buf[:row_step * h].reshape(h, row_step)[:, :row_bytes].view(dtype).reshape(h, w)


def _require(arr: np.ndarray, names: tuple[str, ...]) -> None:
    have = arr.dtype.names or ()
    missing = [n for n in names if n not in have]
    if missing:
        raise EncodingError(f"PointCloud2 has no field(s) {missing} (fields: {list(have)}): "
                            "publish a cloud with x, y, z (and rgb for colour)")


def _xyz(arr: np.ndarray) -> np.ndarray:
    _require(arr, ("x", "y", "z"))
    out = np.empty(arr.shape + (3,), np.float32)
    for i, n in enumerate(("x", "y", "z")):
        out[..., i] = arr[n]
    return out


def _finite_rows(xyz: np.ndarray) -> np.ndarray | None:
    """(N,) bool mask of rows of (N, 3) ``xyz`` with finite coordinates; None when all are."""
    keep = np.isfinite(xyz[:, 0]) & np.isfinite(xyz[:, 1]) & np.isfinite(xyz[:, 2])
    return None if keep.all() else keep


def cloud_to_xyz(msg: Any, skip_nans: bool = True, organized: bool = False) -> np.ndarray:
    """Points of a PointCloud2 as float32 metres.

    Args:
        skip_nans: drop points with a non-finite coordinate (ignored when ``organized``).
        organized: keep the (height, width, 3) layout, invalid points stay NaN.
    Returns:
        (N, 3) float32 (organised clouds are flattened row by row), or (H, W, 3). An empty cloud
        gives (0, 3).
    """
    xyz = _xyz(cloud_to_array(msg))
    if organized:
        return xyz
    xyz = xyz.reshape(-1, 3)
    if skip_nans:
        keep = _finite_rows(xyz)
        if keep is not None:
            xyz = xyz[keep]
    return xyz


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """PCL-packed colour (float32 or uint32 holding 0x00RRGGBB) (...,) to (..., 3) uint8 RGB."""
    if packed.dtype not in (np.dtype(np.float32), np.dtype(np.uint32)):
        raise EncodingError(f"packed rgb must be native float32 or uint32, got {packed.dtype}")
    v = np.ascontiguousarray(packed).view(np.uint32)
    out = np.empty(v.shape + (3,), np.uint8)
    out[..., 0] = (v >> 16) & 0xFF
    out[..., 1] = (v >> 8) & 0xFF
    out[..., 2] = v & 0xFF
    return out


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB to PCL-packed float32 (bits 0x00RRGGBB), as RealSense publishes it."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    v = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return v.astype(np.uint32).view(np.float32)


def _colour(arr: np.ndarray) -> np.ndarray:
    names = arr.dtype.names or ()
    for n in ("rgb", "rgba"):
        if n in names:
            field = arr[n]
            if field.dtype.itemsize != 4 or field.dtype.shape:
                raise EncodingError(f"PointCloud2 field {n!r} must be one 4-byte value, "
                                    f"got {field.dtype}")
            # Reinterpret the 4 bytes as an integer in the message's byte order (bits kept).
            bits = field.view(np.dtype(np.uint32).newbyteorder(field.dtype.byteorder))
            return unpack_rgb(bits.astype(np.uint32))
    if all(n in names for n in ("r", "g", "b")):
        out = np.empty(arr.shape + (3,), np.uint8)
        for i, n in enumerate(("r", "g", "b")):
            out[..., i] = arr[n]
        return out
    raise EncodingError(f"PointCloud2 has no colour field (fields: {list(names)}): expected "
                        "'rgb' or 'rgba' (packed, PCL convention) or r, g, b")


def cloud_to_xyzrgb(msg: Any, skip_nans: bool = True,
                    organized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Points and colours of a PointCloud2.

    Returns:
        xyz (N, 3) float32 metres and rgb (N, 3) uint8 (or (H, W, 3) each when ``organized``);
        rows dropped by ``skip_nans`` are dropped from both.
    """
    arr = cloud_to_array(msg)
    xyz, rgb = _xyz(arr), _colour(arr)
    if organized:
        return xyz, rgb
    xyz, rgb = xyz.reshape(-1, 3), rgb.reshape(-1, 3)
    if skip_nans:
        keep = _finite_rows(xyz)
        if keep is not None:
            xyz, rgb = xyz[keep], rgb[keep]
    return xyz, rgb


def numpy_to_cloud(xyz: np.ndarray, rgb: np.ndarray | None = None, *, msg_cls: type,
                   field_cls: type | None = None, header: Any = None,
                   organized_shape: tuple[int, int] | None = None) -> Any:
    """Build a PointCloud2 of class ``msg_cls`` (rclpy or rosbags).

    Args:
        xyz: (N, 3) or (H, W, 3) metres; NaN marks invalid points of an organised cloud.
        rgb: optional (N, 3) / (H, W, 3) uint8 RGB, written as a packed float32 ``rgb`` field.
        field_cls: the PointField class (derived from ``msg_cls`` when None).
        organized_shape: (H, W) with H * W == N to publish an organised cloud; an (H, W, 3)
            ``xyz`` is organised already.
    Returns:
        little-endian cloud: fields x, y, z FLOAT32 at 0, 4, 8 (+ rgb FLOAT32 at 12),
        point_step 12 (16 with rgb), is_dense true iff every point is finite.
    """
    xyz = np.asarray(xyz, dtype=np.float32)
    if xyz.shape[-1:] != (3,) or xyz.ndim not in (2, 3):
        raise SizeMismatchError(f"xyz must be (N, 3) or (H, W, 3), got {xyz.shape}")
    if xyz.ndim == 3:
        organized_shape = organized_shape or xyz.shape[:2]
    n = int(np.prod(xyz.shape[:-1]))
    h, w = (1, n) if organized_shape is None else (int(organized_shape[0]), int(organized_shape[1]))
    if h * w != n:
        raise SizeMismatchError(f"organized_shape {organized_shape} does not hold {n} points")
    names = ["x", "y", "z"] + (["rgb"] if rgb is not None else [])
    dtype = np.dtype({"names": names, "formats": ["<f4"] * len(names),
                      "offsets": [4 * i for i in range(len(names))], "itemsize": 4 * len(names)})
    pts = np.empty(n, dtype)
    flat = xyz.reshape(n, 3)
    for i, name in enumerate(("x", "y", "z")):
        pts[name] = flat[:, i]
    if rgb is not None:
        rgb = np.asarray(rgb)
        if rgb.shape[:-1] != xyz.shape[:-1] or rgb.shape[-1] != 3:
            raise SizeMismatchError(f"rgb {rgb.shape} does not match xyz {xyz.shape}")
        pts["rgb"] = pack_rgb(rgb.reshape(n, 3).astype(np.uint8))
    field_cls = field_cls or field_class(msg_cls, "fields")
    fields = [make_message(field_cls, name=name, offset=4 * i, datatype=FLOAT32, count=1)
              for i, name in enumerate(names)]
    return make_message(
        msg_cls, header=convert_header(header, msg_cls), height=h, width=w, fields=fields,
        is_bigendian=False, point_step=dtype.itemsize, row_step=dtype.itemsize * w,
        data=sequence(msg_cls, pts.view(np.uint8), np.uint8),
        is_dense=bool(np.isfinite(flat).all()))
