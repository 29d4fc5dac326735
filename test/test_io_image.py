"""Image and CameraInfo conversions on rosbags and rclpy message classes."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import CameraInfoError, EmptyInputError, EncodingError, SizeMismatchError
from unipose_ros.io.camera_info import camera_from_info, camera_info_from_camera, distortion_warning
from unipose_ros.io.image import (
    ENCODINGS,
    depth_from_image,
    depth_to_image,
    image_to_numpy,
    numpy_to_image,
    rgb_from_image,
    rgb_to_image,
)
from unipose_ros.io.messages import make_header, make_message
from unipose_ros.io.typestore import ros_typestore

TS = ros_typestore()


@pytest.fixture(params=["rosbags", "rclpy"])
def family(request):
    """(Image class, CameraInfo class) of one message family."""
    if request.param == "rosbags":
        return TS.types["sensor_msgs/msg/Image"], TS.types["sensor_msgs/msg/CameraInfo"]
    msgs = pytest.importorskip("sensor_msgs.msg")
    return msgs.Image, msgs.CameraInfo


def _random(encoding: str, h: int = 7, w: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    enc = ENCODINGS[encoding]
    shape = (h, w) if enc.channels == 1 else (h, w, enc.channels)
    if enc.dtype == "f4":
        return rng.uniform(0.1, 10.0, shape).astype(np.float32)
    return rng.integers(0, np.iinfo(enc.dtype).max, shape, endpoint=True).astype(enc.dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip_every_encoding(family, encoding):
    image_cls, _ = family
    arr = _random(encoding)
    header = make_header(image_cls, 1_700_000_000_123_456_789, "cam_optical")
    msg = numpy_to_image(arr, encoding, image_cls, header)
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (7, 5, encoding, 0)
    assert msg.step == arr[0].nbytes and len(msg.data) == arr.nbytes
    assert msg.header.stamp.sec == 1_700_000_000 and msg.header.stamp.nanosec == 123_456_789
    back = image_to_numpy(msg)
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


@pytest.mark.parametrize("encoding", ["rgb8", "16UC1", "32FC1"])
def test_rosbags_cdr_round_trip(encoding):
    image_cls = TS.types["sensor_msgs/msg/Image"]
    arr = _random(encoding, 4, 6)
    raw = TS.serialize_cdr(numpy_to_image(arr, encoding, image_cls), "sensor_msgs/msg/Image")
    assert np.array_equal(image_to_numpy(TS.deserialize_cdr(raw, "sensor_msgs/msg/Image")), arr)


def _raw_msg(image_cls, arr: np.ndarray, encoding: str, step: int, bigendian: bool):
    """An Image built by hand: rows padded to ``step`` bytes, in the given byte order."""
    data = np.asarray(arr, dtype=arr.dtype.newbyteorder(">" if bigendian else "<"))
    rows = data.reshape(arr.shape[0], -1).view(np.uint8)
    padded = np.full((arr.shape[0], step), 0xAB, np.uint8)
    padded[:, :rows.shape[1]] = rows
    data = padded.reshape(-1)
    if not hasattr(image_cls, "__msgtype__"):
        data = data.tobytes()
    return make_message(image_cls, header=make_header(image_cls), height=arr.shape[0],
                        width=arr.shape[1], encoding=encoding, is_bigendian=int(bigendian),
                        step=step, data=data)


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono16", "16UC1", "32FC1"])
def test_step_padding_is_skipped(family, encoding):
    arr = _random(encoding, 5, 3)
    msg = _raw_msg(family[0], arr, encoding, step=arr[0].nbytes + 7, bigendian=False)
    assert np.array_equal(image_to_numpy(msg), arr)


def test_bigendian_16uc1_depth_known_answer(family):
    mm = np.array([[0, 1000, 1234], [65535, 1, 500]], np.uint16)
    msg = _raw_msg(family[0], mm, "16UC1", step=6 + 2, bigendian=True)
    assert np.array_equal(image_to_numpy(msg), mm)
    d = depth_from_image(msg)
    assert d.dtype == np.float32 and d.shape == (2, 3)
    assert np.isnan(d[0, 0])
    np.testing.assert_allclose(d[0, 1:], [1.0, 1.234], atol=1e-6)
    np.testing.assert_allclose(d[1], [65.535, 0.001, 0.5], atol=1e-6)


def test_32fc1_invalid_values_become_nan(family):
    m = np.array([[0.0, np.nan, np.inf], [-np.inf, -1.0, 2.5]], np.float32)
    d = depth_from_image(numpy_to_image(m, "32FC1", family[0]))
    assert np.isnan(d).tolist() == [[True, True, True], [True, True, False]]
    assert d[1, 2] == np.float32(2.5)


def test_depth_to_image_quantises_to_mm_and_back(family):
    depth = np.array([[1.0, np.nan], [0.0015, 3.2104]], np.float32)
    msg = depth_to_image(depth, family[0], encoding="16UC1")
    assert image_to_numpy(msg).tolist() == [[1000, 0], [2, 3210]]
    msg32 = depth_to_image(depth, family[0], encoding="32FC1")
    back = depth_from_image(msg32)
    assert np.array_equal(back, depth, equal_nan=True)


def test_colour_known_answers(family):
    image_cls = family[0]
    px = np.array([[[10, 20, 30]]], np.uint8)
    assert rgb_from_image(numpy_to_image(px, "bgr8", image_cls)).tolist() == [[[30, 20, 10]]]
    assert rgb_from_image(numpy_to_image(px, "rgb8", image_cls)).tolist() == [[[10, 20, 30]]]
    px4 = np.array([[[10, 20, 30, 255]]], np.uint8)
    assert rgb_from_image(numpy_to_image(px4, "bgra8", image_cls)).tolist() == [[[30, 20, 10]]]
    assert rgb_from_image(numpy_to_image(px4, "rgba8", image_cls)).tolist() == [[[10, 20, 30]]]
    grey = np.array([[7, 200]], np.uint8)
    assert rgb_from_image(numpy_to_image(grey, "mono8", image_cls)).tolist() == [
        [[7, 7, 7], [200, 200, 200]]]
    rgb = _random("rgb8", 3, 4)
    assert np.array_equal(rgb_from_image(rgb_to_image(rgb, image_cls, encoding="bgr8")), rgb)
    assert np.array_equal(image_to_numpy(rgb_to_image(rgb, image_cls, encoding="bgr8")),
                          rgb[..., ::-1])


def test_rgb_result_is_writable_and_independent(family):
    rgb = _random("rgb8", 3, 4)
    msg = numpy_to_image(rgb, "rgb8", family[0])
    out = rgb_from_image(msg)
    out[:] = 0
    assert np.array_equal(image_to_numpy(msg), rgb)


def test_errors_are_typed_and_actionable(family):
    image_cls = family[0]
    msg = numpy_to_image(_random("rgb8"), "rgb8", image_cls)
    msg.encoding = "yuv422"
    with pytest.raises(EncodingError, match="supported"):
        image_to_numpy(msg)
    with pytest.raises(EncodingError, match="not a depth encoding"):
        depth_from_image(numpy_to_image(_random("rgb8"), "rgb8", image_cls))
    with pytest.raises(EncodingError, match="not a colour encoding"):
        rgb_from_image(numpy_to_image(_random("16UC1"), "16UC1", image_cls))
    with pytest.raises(EncodingError, match="metres_to_depth"):
        numpy_to_image(np.ones((2, 2), np.float32), "16UC1", image_cls)
    with pytest.raises(SizeMismatchError):
        numpy_to_image(np.ones((2, 2, 4), np.uint8), "rgb8", image_cls)
    with pytest.raises(EmptyInputError):
        numpy_to_image(np.ones((0, 2, 3), np.uint8), "rgb8", image_cls)
    short = _raw_msg(image_cls, _random("16UC1", 4, 4), "16UC1", 8, False)
    short.data = short.data[:20]
    with pytest.raises(SizeMismatchError, match="truncated"):
        image_to_numpy(short)
    short.height = 0
    with pytest.raises(EmptyInputError):
        image_to_numpy(short)
    bad_step = _raw_msg(image_cls, _random("16UC1", 4, 4), "16UC1", 8, False)
    bad_step.step = 6
    with pytest.raises(SizeMismatchError, match="step"):
        image_to_numpy(bad_step)


def test_cross_library_same_array():
    """An Image built as a rosbags message and copied field by field into an rclpy Image
    decodes to the same array."""
    msgs = pytest.importorskip("sensor_msgs.msg")
    for encoding in ("bgr8", "16UC1", "32FC1"):
        arr = _random(encoding, 6, 9, seed=3)
        a = numpy_to_image(arr, encoding, TS.types["sensor_msgs/msg/Image"])
        b = msgs.Image(height=a.height, width=a.width, encoding=a.encoding,
                       is_bigendian=a.is_bigendian, step=a.step, data=a.data.tobytes())
        assert np.array_equal(image_to_numpy(a), image_to_numpy(b))
        assert np.array_equal(image_to_numpy(b), arr)


# --- CameraInfo ---------------------------------------------------------------------------

def test_camera_info_round_trip(family):
    _, info_cls = family
    cam = PinholeCamera(fx=615.2, fy=614.9, cx=321.5, cy=240.25, width=640, height=480)
    header = make_header(info_cls, 42, "camera_color_optical_frame")
    msg = camera_info_from_camera(cam, info_cls, header)
    assert msg.distortion_model == "plumb_bob" and list(msg.d) == [0.0] * 5
    np.testing.assert_array_equal(np.asarray(msg.r).reshape(3, 3), np.eye(3))
    np.testing.assert_array_equal(np.asarray(msg.p).reshape(3, 4)[:, :3], cam.K)
    assert camera_from_info(msg) == cam
    assert distortion_warning(msg) is None


def test_camera_info_rosbags_serialises():
    info_cls = TS.types["sensor_msgs/msg/CameraInfo"]
    cam = PinholeCamera.from_fov(320, 240, 60.0)
    raw = TS.serialize_cdr(camera_info_from_camera(cam, info_cls), "sensor_msgs/msg/CameraInfo")
    assert camera_from_info(TS.deserialize_cdr(raw, "sensor_msgs/msg/CameraInfo")) == cam


def test_camera_info_errors(family):
    _, info_cls = family
    msg = camera_info_from_camera(PinholeCamera.from_fov(64, 48, 60.0), info_cls)
    msg.k = np.zeros(9)
    with pytest.raises(CameraInfoError, match="all-zero K"):
        camera_from_info(msg)
    msg = camera_info_from_camera(PinholeCamera.from_fov(64, 48, 60.0), info_cls)
    msg.width = 0
    with pytest.raises(CameraInfoError, match="image size"):
        camera_from_info(msg)
    msg = camera_info_from_camera(PinholeCamera.from_fov(64, 48, 60.0), info_cls)
    msg.d = np.array([0.1, -0.2, 0.0, 0.0, 0.0])
    assert "distortion" in distortion_warning(msg)
