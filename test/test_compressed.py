"""CompressedImage: colour (jpeg, png) and compressedDepth (16UC1, 32FC1 inverse depth) round
trips, bytes laid out the way image_transport lays them out, and clear errors for bad ones."""
from __future__ import annotations

import struct

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from unipose_ros.core.errors import EmptyInputError, EncodingError, SizeMismatchError  # noqa: E402
from unipose_ros.io.compressed import (  # noqa: E402
    compress_depth,
    compress_rgb,
    depth_from_compressed,
    is_compressed,
    rgb_from_compressed,
)
from unipose_ros.io.typestore import ros_typestore  # noqa: E402

TS = ros_typestore()
COMPRESSED = TS.types["sensor_msgs/msg/CompressedImage"]


def _classes():
    out = [COMPRESSED]
    try:
        from sensor_msgs.msg import CompressedImage

        out.append(CompressedImage)
    except ImportError:
        pass
    return out


def scene():
    rng = np.random.default_rng(0)
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, 80)[None]
    rgb[20:40, 30:50] = (10, 200, 30)
    depth = np.full((60, 80), 2.5, np.float32) + rng.normal(0, 0.01, (60, 80)).astype(np.float32)
    depth[10:50, 20:40] = 1.234
    depth[:3] = np.nan
    return rgb, depth


@pytest.mark.parametrize("cls", _classes())
def test_colour_png_is_lossless_and_jpeg_close(cls):
    rgb, _ = scene()
    msg = compress_rgb(rgb, cls, codec="png")
    assert is_compressed(msg) and msg.format == "rgb8; png compressed bgr8"
    assert np.array_equal(rgb_from_compressed(msg), rgb)
    jpg = rgb_from_compressed(compress_rgb(rgb, cls, codec="jpeg"))
    assert np.abs(jpg.astype(int) - rgb).mean() < 4 and jpg[30, 40, 1] > 150  # green stays green (RGB order)


@pytest.mark.parametrize("cls", _classes())
def test_compressed_depth_16uc1_round_trip_and_header_layout(cls):
    _, depth = scene()
    msg = compress_depth(depth, cls, encoding="16UC1")
    data = bytes(np.asarray(msg.data, np.uint8)) if not isinstance(msg.data, bytes) else msg.data
    assert msg.format == "16UC1; compressedDepth png"
    fmt, a, b = struct.unpack("<iff", data[:12])
    assert (fmt, a, b) == (0, 0.0, 0.0) and data[12:16] == b"\x89PNG"
    out = depth_from_compressed(msg)
    ok = np.isfinite(depth)
    assert np.isnan(out[~ok]).all()
    assert np.abs(out[ok] - depth[ok]).max() <= 0.0005 + 1e-6  # whole millimetres


def test_compressed_depth_32fc1_inverse_depth_as_image_transport_makes_it():
    _, depth = scene()
    # by hand, the way compressed_depth_image_transport encodes 32FC1 (depth_max 10 m, quantization 100)
    a, b = 100.0, 1.0 - 100.0 / 10.0
    q = np.where(np.isfinite(depth), a / np.nan_to_num(depth, nan=np.inf) + b, 0).astype(np.uint16)
    png = cv2.imencode(".png", q)[1].tobytes()
    msg = COMPRESSED(header=compress_rgb(np.zeros((2, 2, 3), np.uint8), COMPRESSED).header,
                     format="32FC1; compressedDepth png", data=np.frombuffer(struct.pack("<iff", 0, a, b) + png, np.uint8))
    out = depth_from_compressed(msg)
    ok = np.isfinite(depth)
    err = np.abs(out[ok] - depth[ok])
    assert np.isnan(out[~ok]).all() and err.max() < depth[ok].max() ** 2 / a  # one inverse-depth step
    ours = depth_from_compressed(compress_depth(depth, COMPRESSED, encoding="32FC1"))
    np.testing.assert_allclose(ours[ok], out[ok], atol=1e-6)


def test_bad_compressed_images_raise_input_errors():
    rgb, depth = scene()
    good = compress_depth(depth, COMPRESSED)
    with pytest.raises(SizeMismatchError, match="12-byte header"):
        depth_from_compressed(COMPRESSED(header=good.header, format=good.format, data=good.data[:8]))
    with pytest.raises(EncodingError, match="not a readable"):
        depth_from_compressed(COMPRESSED(header=good.header, format=good.format, data=good.data[:40]))
    with pytest.raises(EncodingError, match="RVL"):
        depth_from_compressed(COMPRESSED(header=good.header, format="16UC1; compressedDepth rvl", data=good.data))
    with pytest.raises(EncodingError, match="not compressedDepth"):
        depth_from_compressed(compress_rgb(rgb, COMPRESSED))
    with pytest.raises(EncodingError, match="compressed depth"):
        rgb_from_compressed(good)
    with pytest.raises(EmptyInputError):
        rgb_from_compressed(COMPRESSED(header=good.header, format="jpeg", data=np.zeros(0, np.uint8)))
    with pytest.raises(EncodingError, match="16-bit"):  # an 8-bit PNG where depth belongs
        png8 = cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].reshape(-1)
        bad = np.concatenate([good.data[:12], png8])
        depth_from_compressed(COMPRESSED(header=good.header, format=good.format, data=bad))


def test_node_with_compressed_transport_answers_with_the_known_centroid(ros_context, spin, namespace):
    pytest.importorskip("rclpy")
    pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")
    from conftest import (
        TEST_CAMERA_ARGS,
        CentroidEstimator,
        Collector,
        InputPublisher,
        box_centroid,
        box_depth,
        make_inputs,
        stamp_ns,
        wait_for,
    )
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CompressedImage

    from unipose_ros.core.camera import PinholeCamera
    from unipose_ros.msg import Skeleton3DArray
    from unipose_ros.ros.pose_node import PoseNode

    cam = PinholeCamera(**TEST_CAMERA_ARGS)
    node = PoseNode(estimator=CentroidEstimator(), context=ros_context, namespace=namespace,
                    parameter_overrides=[Parameter("transport", value="compressed")])
    assert node.topics["image"][0] == f"{namespace}/image/compressed"
    assert node.topics["depth"][0] == f"{namespace}/depth_image/compressedDepth"
    inputs = InputPublisher(ros_context, namespace, transport="compressed")
    out = Collector(ros_context, {f"{namespace}/skeletons": Skeleton3DArray})
    spin(node, inputs.node, out.node)
    assert inputs.wait_connected() and out.wait_connected()
    stamp = 1_700_000_300_000_000_000
    for k in range(5):
        raw = make_inputs(cam, stamp + k)
        msgs = {"info": raw["info"],
                "image": compress_rgb(np.full((cam.height, cam.width, 3), 90, np.uint8), CompressedImage,
                                      raw["image"].header),
                "depth": compress_depth(box_depth(cam), CompressedImage, raw["depth"].header)}
        inputs.send(msgs)
        if wait_for(lambda: any(stamp_ns(m) == stamp + k for m in out.messages(f"{namespace}/skeletons")), 3.0):
            break
    got = [m for m in out.messages(f"{namespace}/skeletons") if stamp_ns(m) == stamp + k]
    assert got, node.errors.last_message
    hip = np.array([[p.x, p.y, p.z] for p in got[0].skeletons[0].positions])
    from unipose_ros.core.joints import ITOP15

    mid = (hip[ITOP15.index("right_hip")] + hip[ITOP15.index("left_hip")]) / 2
    np.testing.assert_allclose(mid, box_centroid(cam), atol=1e-3)
