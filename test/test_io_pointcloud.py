"""PointCloud2 conversions on rosbags and rclpy message classes."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.errors import EncodingError, SizeMismatchError
from unipose_ros.io.messages import make_header, make_message
from unipose_ros.io.pointcloud import (
    FLOAT32,
    UINT8,
    UINT32,
    cloud_dtype,
    cloud_to_xyz,
    cloud_to_xyzrgb,
    numpy_to_cloud,
    pack_rgb,
    unpack_rgb,
)
from unipose_ros.io.typestore import ros_typestore

TS = ros_typestore()


@pytest.fixture(params=["rosbags", "rclpy"])
def family(request):
    """(PointCloud2 class, PointField class) of one message family."""
    if request.param == "rosbags":
        return TS.types["sensor_msgs/msg/PointCloud2"], TS.types["sensor_msgs/msg/PointField"]
    msgs = pytest.importorskip("sensor_msgs.msg")
    return msgs.PointCloud2, msgs.PointField


def _xyz(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-3, 3, (n, 3)).astype(np.float32)


def test_unorganised_xyz_round_trip(family):
    cloud_cls, field_cls = family
    xyz = _xyz(100)
    msg = numpy_to_cloud(xyz, msg_cls=cloud_cls, field_cls=field_cls,
                         header=make_header(cloud_cls, 5, "cam"))
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 100, 12, 1200)
    assert [f.name for f in msg.fields] == ["x", "y", "z"] and msg.is_dense
    assert msg.header.frame_id == "cam"
    out = cloud_to_xyz(msg)
    assert out.dtype == np.float32 and np.array_equal(out, xyz)


def test_organised_xyzrgb_round_trip_and_nan_skipping(family):
    cloud_cls, _ = family
    xyz = _xyz(12).reshape(3, 4, 3)
    xyz[1, 2] = np.nan
    xyz[0, 0, 2] = np.inf
    rgb = np.random.default_rng(1).integers(0, 256, (3, 4, 3)).astype(np.uint8)
    msg = numpy_to_cloud(xyz, rgb, msg_cls=cloud_cls)
    assert (msg.height, msg.width, msg.point_step) == (3, 4, 16) and not msg.is_dense
    org = cloud_to_xyz(msg, organized=True)
    assert org.shape == (3, 4, 3) and np.array_equal(org, xyz, equal_nan=True)
    kept = np.isfinite(xyz).all(axis=2).reshape(-1)
    pts, col = cloud_to_xyzrgb(msg)
    assert pts.shape == (10, 3) and np.array_equal(pts, xyz.reshape(-1, 3)[kept])
    assert np.array_equal(col, rgb.reshape(-1, 3)[kept])
    all_pts = cloud_to_xyz(msg, skip_nans=False)
    assert all_pts.shape == (12, 3)
    o_xyz, o_rgb = cloud_to_xyzrgb(msg, organized=True)
    assert np.array_equal(o_rgb, rgb)


def test_organized_shape_argument(family):
    msg = numpy_to_cloud(_xyz(6), msg_cls=family[0], organized_shape=(2, 3))
    assert (msg.height, msg.width, msg.row_step) == (2, 3, 36)
    with pytest.raises(SizeMismatchError):
        numpy_to_cloud(_xyz(6), msg_cls=family[0], organized_shape=(4, 2))


def test_packed_rgb_known_answer():
    packed = pack_rgb(np.array([[255, 128, 1]], np.uint8))
    assert packed.dtype == np.float32
    assert packed.view(np.uint32)[0] == 0x00FF8001
    assert unpack_rgb(np.array([0x00FF8001], np.uint32)).tolist() == [[255, 128, 1]]
    # alpha in the top byte (rgba) is ignored
    assert unpack_rgb(np.array([0xC80A141E], np.uint32)).tolist() == [[10, 20, 30]]


def _foreign_cloud(family, big: bool, row_pad: int = 0):
    """A cloud laid out as a driver may publish it: x y z float32, a pad, rgba as uint32 at 16,
    an intensity uint8 at 20, point_step 24, rows padded, in the given byte order."""
    cloud_cls, field_cls = family
    o = ">" if big else "<"
    dt = np.dtype({"names": ["x", "y", "z", "rgba", "i"],
                   "formats": [o + "f4"] * 3 + [o + "u4", "u1"],
                   "offsets": [0, 4, 8, 16, 20], "itemsize": 24})
    pts = np.zeros((2, 3), dt)
    xyz = _xyz(6, seed=4).reshape(2, 3, 3)
    pts["x"], pts["y"], pts["z"] = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    pts["rgba"] = 0xFF000000 | (np.arange(6).reshape(2, 3) << 16) | 0x0000AA07
    pts["i"] = 9
    rows = np.zeros((2, 3 * 24 + row_pad), np.uint8)
    rows[:, :72] = pts.view(np.uint8).reshape(2, 72)
    data = rows.reshape(-1)
    if not hasattr(cloud_cls, "__msgtype__"):
        data = data.tobytes()
    fields = [make_message(field_cls, name=n, offset=off, datatype=code, count=1)
              for n, off, code in [("x", 0, FLOAT32), ("y", 4, FLOAT32), ("z", 8, FLOAT32),
                                   ("rgba", 16, UINT32), ("i", 20, UINT8)]]
    msg = make_message(cloud_cls, header=make_header(cloud_cls), height=2, width=3,
                       fields=fields, is_bigendian=big, point_step=24,
                       row_step=72 + row_pad, data=data, is_dense=True)
    expect_rgb = np.stack([np.arange(6), np.full(6, 0xAA), np.full(6, 7)], axis=1)
    return msg, xyz.reshape(-1, 3), expect_rgb


@pytest.mark.parametrize("big", [False, True])
def test_driver_layout_offsets_padding_and_byte_order(family, big):
    msg, xyz, rgb = _foreign_cloud(family, big, row_pad=5)
    assert cloud_dtype(msg).itemsize == 24
    pts, col = cloud_to_xyzrgb(msg)
    assert np.array_equal(pts, xyz)
    assert col.tolist() == rgb.tolist()


def test_empty_cloud_gives_zero_points(family):
    msg = numpy_to_cloud(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8),
                         msg_cls=family[0])
    assert (msg.height, msg.width) == (1, 0)
    assert cloud_to_xyz(msg).shape == (0, 3)
    pts, col = cloud_to_xyzrgb(msg)
    assert pts.shape == (0, 3) and col.shape == (0, 3)


def test_cloud_errors(family):
    msg = numpy_to_cloud(_xyz(4), msg_cls=family[0])
    with pytest.raises(EncodingError, match="colour"):
        cloud_to_xyzrgb(msg)
    msg.data = msg.data[:20]
    with pytest.raises(SizeMismatchError):
        cloud_to_xyz(msg)
    msg, _, _ = _foreign_cloud(family, False)
    msg.fields[0].datatype = 42
    with pytest.raises(EncodingError, match="datatype"):
        cloud_to_xyz(msg)
    with pytest.raises(SizeMismatchError):
        numpy_to_cloud(np.zeros((4, 2), np.float32), msg_cls=family[0])


def test_rosbags_cdr_round_trip():
    cls = TS.types["sensor_msgs/msg/PointCloud2"]
    xyz, rgb = _xyz(50), np.random.default_rng(2).integers(0, 256, (50, 3)).astype(np.uint8)
    raw = TS.serialize_cdr(numpy_to_cloud(xyz, rgb, msg_cls=cls), "sensor_msgs/msg/PointCloud2")
    pts, col = cloud_to_xyzrgb(TS.deserialize_cdr(raw, "sensor_msgs/msg/PointCloud2"))
    assert np.array_equal(pts, xyz) and np.array_equal(col, rgb)


def test_cross_library_same_points():
    msgs = pytest.importorskip("sensor_msgs.msg")
    xyz = _xyz(30, seed=5)
    a = numpy_to_cloud(xyz, msg_cls=TS.types["sensor_msgs/msg/PointCloud2"])
    fields = [msgs.PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
              for f in a.fields]
    b = msgs.PointCloud2(height=a.height, width=a.width, fields=fields,
                         is_bigendian=a.is_bigendian, point_step=a.point_step,
                         row_step=a.row_step, data=a.data.tobytes(), is_dense=a.is_dense)
    assert np.array_equal(cloud_to_xyz(a), cloud_to_xyz(b))
