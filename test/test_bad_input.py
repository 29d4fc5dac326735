"""Bad input never kills the pose node: each kind gives one rate-limited error and the next
good frame is processed (real rclpy, messages over DDS)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import (
    TEST_CAMERA_ARGS,
    CentroidEstimator,
    Collector,
    InputPublisher,
    box_depth,
    make_inputs,
    stamp_ns,
    wait_for,
)

pytest.importorskip("rclpy")
pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")

from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from unipose_ros.core.camera import PinholeCamera  # noqa: E402
from unipose_ros.io.camera_info import camera_info_from_camera  # noqa: E402
from unipose_ros.io.image import numpy_to_image  # noqa: E402
from unipose_ros.msg import Skeleton3DArray  # noqa: E402
from unipose_ros.ros.pose_node import PoseNode  # noqa: E402

CAMERA = PinholeCamera(**TEST_CAMERA_ARGS)
SMALL = PinholeCamera(fx=75.0, fy=75.0, cx=39.5, cy=29.5, width=80, height=60)
T0 = 1_700_000_100_000_000_000
PERIOD = 33_333_333
SLOTS = ("image", "depth", "info", "points")
GOOD_POINTS = CAMERA.depth_to_points(box_depth(CAMERA))


def good(stamp):
    return make_inputs(CAMERA, stamp, points=GOOD_POINTS)


def wrong_colour_encoding(stamp):
    msgs = good(stamp)
    depth_as_colour = msgs["depth"]
    msgs["image"] = numpy_to_image(np.zeros((120, 160), np.uint16), "16UC1", Image,
                                   depth_as_colour.header)
    return msgs


def wrong_depth_encoding(stamp):
    msgs = good(stamp)
    msgs["depth"] = numpy_to_image(np.zeros((120, 160, 3), np.uint8), "rgb8", Image,
                                   msgs["depth"].header)
    return msgs


def unknown_encoding(stamp):
    msgs = good(stamp)
    msgs["image"].encoding = "yuv422_yuy2_weird"
    return msgs


def truncated_image(stamp):
    msgs = good(stamp)
    msgs["image"].data = msgs["image"].data[: len(msgs["image"].data) // 2]
    return msgs


def depth_size_mismatch(stamp):
    msgs = good(stamp)
    small = make_inputs(SMALL, stamp, depth_m=box_depth(SMALL, (20, 10, 50, 40)))
    msgs["depth"] = small["depth"]
    return msgs


def info_size_mismatch(stamp):
    msgs = good(stamp)
    msgs["info"] = camera_info_from_camera(SMALL, CameraInfo, msgs["info"].header)
    return msgs


def zero_depth(stamp):
    return make_inputs(CAMERA, stamp, depth_m=np.zeros((120, 160), np.float32),
                       points=GOOD_POINTS)


def nan_depth_32fc1(stamp):
    return make_inputs(CAMERA, stamp, depth_m=np.full((120, 160), np.nan, np.float32),
                       depth_encoding="32FC1", points=GOOD_POINTS)


def zero_camera_info(stamp):
    msgs = good(stamp)
    msgs["info"].k = [0.0] * 9
    return msgs


def empty_info_size(stamp):
    msgs = good(stamp)
    msgs["info"].width = msgs["info"].height = 0
    return msgs


def empty_cloud(stamp):
    return make_inputs(CAMERA, stamp, points=np.zeros((0, 3), np.float32))


def nan_cloud(stamp):
    return make_inputs(CAMERA, stamp, points=np.full((10, 3), np.nan, np.float32))


BAD = {  # case -> (message builder, expected error kind)
    "wrong_colour_encoding": (wrong_colour_encoding, "EncodingError/image"),
    "wrong_depth_encoding": (wrong_depth_encoding, "EncodingError/depth"),
    "unknown_encoding": (unknown_encoding, "EncodingError/image"),
    "truncated_image": (truncated_image, "SizeMismatchError/image"),
    "depth_size_mismatch": (depth_size_mismatch, "SizeMismatchError/frame"),
    "info_size_mismatch": (info_size_mismatch, "CameraInfoError/frame"),
    "zero_depth": (zero_depth, "EmptyInputError/depth"),
    "nan_depth_32fc1": (nan_depth_32fc1, "EmptyInputError/depth"),
    "zero_camera_info": (zero_camera_info, "CameraInfoError/info"),
    "empty_info_size": (empty_info_size, "CameraInfoError/info"),
    "empty_cloud": (empty_cloud, "EmptyInputError/points"),
    "nan_cloud": (nan_cloud, "EmptyInputError/points"),
}


class ExplodingEstimator(CentroidEstimator):
    """Raises a non-input exception (a bug in a model) for frames with a given stamp."""

    def __init__(self) -> None:
        super().__init__()
        self.explode_on: set[int] = set()

    def estimate(self, frame):
        if frame.stamp_ns in self.explode_on:
            raise RuntimeError("CUDA out of memory (simulated)")
        return super().estimate(frame)


@pytest.fixture
def rig(ros_context, spin, namespace):
    est = ExplodingEstimator()
    node = PoseNode(estimator=est, context=ros_context, namespace=namespace,
                    parameter_overrides=[Parameter("use_points", value=True),
                                         Parameter("error_throttle_s", value=60.0),
                                         Parameter("no_input_warn_s", value=0.3)])
    inputs = InputPublisher(ros_context, namespace, SLOTS)
    out = Collector(ros_context, {f"{namespace}/skeletons": Skeleton3DArray})
    spin(node, inputs.node, out.node)
    assert inputs.wait_connected() and out.wait_connected()
    return node, est, inputs, lambda: [stamp_ns(m) for m in out.messages(f"{namespace}/skeletons")]


def test_every_kind_of_bad_input_is_reported_once_and_the_next_good_frame_is_processed(rig):
    node, est, inputs, published = rig
    stamp = T0
    bad_stamps = []
    for case, (build, kind) in BAD.items():
        before = node.errors.counts.get(kind, 0)
        for _ in range(3):  # repeated bad frames: counted, logged once (throttled)
            stamp += PERIOD
            bad_stamps.append(stamp)
            inputs.send(build(stamp))
            time.sleep(0.03)
        assert wait_for(lambda: node.errors.counts.get(kind, 0) >= before + 1, 10.0), \
            f"{case}: no {kind} error (errors so far: {node.errors.counts})"
        # the next good frame is processed (resent with a new stamp if best-effort transport
        # lost it on a stalled machine: the loss is the transport's, not the node's)
        for _ in range(5):
            stamp += PERIOD
            inputs.send(good(stamp))
            if wait_for(lambda: stamp in published(), 2.0):
                break
        assert stamp in published(), \
            f"{case}: the good frames after it were not processed ({node.errors.last_message})"
        assert node.errors.logged[kind] == 1, f"{case}: {kind} logged more than once"
    assert not any(k.startswith("internal") for k in node.errors.counts)
    assert node._worker.is_alive()
    assert not set(published()) & set(bad_stamps)  # a rejected frame publishes nothing
    assert len(published()) >= len(BAD)


def test_estimator_crash_is_reported_and_the_node_goes_on(rig):
    node, est, inputs, published = rig
    est.explode_on = {T0 + PERIOD}
    inputs.send(good(T0 + PERIOD))
    assert wait_for(lambda: node.errors.counts.get("estimator", 0) == 1, 10.0)
    assert "CUDA out of memory" in node.errors.last_message["estimator"]
    inputs.send(good(T0 + 2 * PERIOD))
    assert wait_for(lambda: T0 + 2 * PERIOD in published(), 10.0)


def test_missing_camera_info_warns_and_processing_starts_once_it_arrives(rig):
    node, est, inputs, published = rig
    for k in range(1, 6):
        msgs = good(T0 + k * PERIOD)
        del msgs["info"]
        inputs.send(msgs)
        time.sleep(0.05)
    assert wait_for(lambda: node.warnings.counts.get("no_input", 0) >= 1, 10.0)
    text = node.warnings.last_message["no_input"]
    assert "camera_info=0" in text and "QoS" in text
    assert published() == []
    inputs.send(good(T0 + 10 * PERIOD))
    assert wait_for(lambda: T0 + 10 * PERIOD in published(), 10.0)


def test_diagnostics_go_to_warn_on_bad_input_and_back_to_ok(ros_context, spin, namespace):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    node = PoseNode(estimator=CentroidEstimator(), context=ros_context, namespace=namespace,
                    parameter_overrides=[Parameter("diagnostics_period_s", value=0.2),
                                         Parameter("diagnostics_window_s", value=1.0),
                                         Parameter("expected_rate_hz", value=10.0),
                                         Parameter("no_input_warn_s", value=0.0)])
    inputs = InputPublisher(ros_context, namespace, ("image", "depth", "info"))
    out = Collector(ros_context, {"/diagnostics": DiagnosticArray})
    spin(node, inputs.node, out.node)
    assert inputs.wait_connected() and out.wait_connected()
    me = node.get_fully_qualified_name()

    def levels():
        return [s.level for m in out.messages("/diagnostics") for s in m.status if s.hardware_id == me]

    stamp = T0
    for _ in range(12):  # 1.2 s of corrupted colour images at 10 Hz
        stamp += 100_000_000
        inputs.send(_no_points(truncated_image(stamp)))
        time.sleep(0.1)
    assert wait_for(lambda: DiagnosticStatus.ERROR in levels() or DiagnosticStatus.WARN in levels(), 5.0), levels()
    bad_seen = len(levels())
    for _ in range(30):  # 3 s of good frames at 10 Hz: the window becomes clean
        stamp += 100_000_000
        inputs.send(_no_points(good(stamp)))
        time.sleep(0.1)
    assert wait_for(lambda: levels()[-1] == DiagnosticStatus.OK, 5.0), levels()[bad_seen:]
    assert node.diagnostic_level == "ok"
    assert node.errors.counts.get("SizeMismatchError/image", 0) >= 1  # still counted (cumulative)


def _no_points(msgs: dict) -> dict:
    msgs.pop("points", None)
    return msgs
