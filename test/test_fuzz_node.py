"""Seeded fault injection against a running pose node *process*: good frames interleaved with
randomly corrupted Image, CameraInfo and PointCloud2 messages from an independent publisher
(real rclpy, Fast DDS). The node must stay alive and answer the good frames that follow a bad
one, while its error and warning reports interleave (rclpy refuses two severities from one call
site, which once killed the node)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    DOMAIN_ID,
    TEST_CAMERA_ARGS,
    Collector,
    InputPublisher,
    box_depth,
    make_inputs,
    stamp_ns,
    wait_for,
)

pytest.importorskip("rclpy")
pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")

from builtin_interfaces.msg import Time  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from unipose_ros.core.camera import PinholeCamera  # noqa: E402
from unipose_ros.io.image import numpy_to_image  # noqa: E402
from unipose_ros.msg import Skeleton3DArray  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CAMERA = PinholeCamera(**TEST_CAMERA_ARGS)
GOOD_POINTS = CAMERA.depth_to_points(box_depth(CAMERA))
PERIOD = 33_333_333
T0 = 1_700_000_200_000_000_000


def good(stamp: int) -> dict:
    return make_inputs(CAMERA, stamp, points=GOOD_POINTS)


def _set_stamp(msgs: dict, stamp: int) -> dict:
    for m in msgs.values():
        m.header.stamp = Time(sec=stamp // 10**9, nanosec=stamp % 10**9)
    return msgs


# corruption name -> fn(rng, stamp, last_good_stamp) -> messages of one frame
def flip_bytes(rng, stamp, _):
    msgs = good(stamp)
    slot = rng.choice(["image", "depth", "points"])
    data = bytearray(msgs[slot].data)
    idx = rng.integers(0, len(data), size=max(1, len(data) // 50))
    for i in idx:
        data[int(i)] = int(rng.integers(0, 256))
    msgs[slot].data = bytes(data)
    return msgs


def truncate(rng, stamp, _):
    msgs = good(stamp)
    slot = rng.choice(["image", "depth", "points"])
    d = msgs[slot].data
    msgs[slot].data = bytes(d[: int(rng.integers(0, len(d)))])
    return msgs


def bad_step(rng, stamp, _):
    msgs = good(stamp)
    slot = rng.choice(["image", "depth"])
    msgs[slot].step = int(rng.choice([0, 1, msgs[slot].step - 1, msgs[slot].step * 3, 2**31 - 1]))
    return msgs


def bad_size(rng, stamp, _):
    msgs = good(stamp)
    slot = rng.choice(["image", "depth", "info"])
    msgs[slot].width = int(rng.choice([0, 1, CAMERA.width + 7, 100_000]))
    msgs[slot].height = int(rng.choice([0, 1, CAMERA.height - 3, 100_000]))
    return msgs


def odd_encoding(rng, stamp, _):
    msgs = good(stamp)
    h, w = CAMERA.height, CAMERA.width
    kind = rng.choice(["mono16_colour", "bgra8_colour", "bigendian_depth", "garbage", "depth_as_8uc3"])
    if kind == "mono16_colour":
        msgs["image"] = numpy_to_image(np.zeros((h, w), np.uint16), "mono16", Image, msgs["image"].header)
    elif kind == "bgra8_colour":
        msgs["image"] = numpy_to_image(np.full((h, w, 4), 90, np.uint8), "bgra8", Image, msgs["image"].header)
    elif kind == "bigendian_depth":
        msgs["depth"].is_bigendian = 1  # little-endian bytes declared big-endian: absurd depths
    elif kind == "garbage":
        msgs[rng.choice(["image", "depth"])].encoding = "\u00e9ncoding-\x01"
    else:
        msgs["depth"] = numpy_to_image(np.zeros((h, w, 3), np.uint8), "8UC3", Image, msgs["depth"].header)
    return msgs


def bad_depth_values(rng, stamp, _):
    d = box_depth(CAMERA).astype(np.float32)
    kind = rng.choice(["inf", "negative", "huge", "nan_some"])
    if kind == "inf":
        d[d > 0] = np.inf
    elif kind == "negative":
        d = -d
    elif kind == "huge":
        d[d > 0] = 1e30
    else:
        d[::2] = np.nan
    return make_inputs(CAMERA, stamp, depth_m=d, depth_encoding="32FC1", points=GOOD_POINTS)


def odd_image_size(rng, stamp, _):
    if rng.random() < 0.5:
        cam = PinholeCamera(fx=1.0, fy=1.0, cx=0.0, cy=0.0, width=1, height=1)
        return make_inputs(cam, stamp, depth_m=np.full((1, 1), 2.0, np.float32), points=GOOD_POINTS)
    cam = PinholeCamera(fx=1400.0, fy=1400.0, cx=959.5, cy=539.5, width=1920, height=1080)
    return make_inputs(cam, stamp, depth_m=np.full((1080, 1920), 2.5, np.float32), points=GOOD_POINTS)


def bad_k(rng, stamp, _):
    msgs = good(stamp)
    k = list(msgs["info"].k)
    kind = rng.choice(["nan", "negative", "zero_fx", "inf_c"])
    if kind == "nan":
        k[0] = float("nan")
    elif kind == "negative":
        k[0], k[4] = -k[0], -k[4]
    elif kind == "zero_fx":
        k[0] = 0.0
    else:
        k[2] = float("inf")
    msgs["info"].k = k
    return msgs


def bad_stamp(rng, stamp, last_good):
    kind = rng.choice(["backwards", "repeat", "zero", "split"])
    if kind == "backwards":
        return good(max(1, last_good - int(rng.integers(1, 50)) * PERIOD))
    if kind == "repeat":
        return good(last_good)
    if kind == "zero":
        return _set_stamp(good(stamp), 0)
    msgs = good(stamp)  # the streams disagree: depth 2 s later than colour
    msgs["depth"].header.stamp = Time(sec=(stamp + 2 * 10**9) // 10**9, nanosec=stamp % 10**9)
    return msgs


def frame_mismatch(rng, stamp, _):
    msgs = good(stamp)
    msgs[rng.choice(["depth", "info", "points"])].header.frame_id = "some_other_camera_frame"
    return msgs


def bad_cloud(rng, stamp, _):
    msgs = good(stamp)
    c = msgs["points"]
    kind = rng.choice(["point_step", "no_fields", "datatype", "row_step", "nan"])
    if kind == "point_step":
        c.point_step = int(rng.choice([0, 1, 3, 1000]))
    elif kind == "no_fields":
        c.fields = []
    elif kind == "datatype":
        f = list(c.fields)
        f[0].datatype = 42
        c.fields = f
    elif kind == "row_step":
        c.row_step = 7
    else:
        c.data = np.full(len(c.data) // 4, np.nan, np.float32).tobytes()
    return msgs


CORRUPTIONS = [flip_bytes, truncate, bad_step, bad_size, odd_encoding, bad_depth_values,
               odd_image_size, bad_k, bad_stamp, frame_mismatch, bad_cloud]


@pytest.fixture
def node_process(tmp_path):
    ns = f"/fuzz_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), PYTHONUNBUFFERED="1")
    log_path = tmp_path / "pose_node.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "unipose_ros.ros.pose_node", "--ros-args", "-r", f"__ns:={ns}",
         "--params-file", str(REPO / "config/pose_node.yaml"),
         "-p", "estimator:=depth", "-p", "use_points:=true", "-p", "error_throttle_s:=0.2",
         "-p", "no_input_warn_s:=0.4", "-p", "diagnostics_period_s:=0.5"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    yield proc, ns, log_path
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_seeded_fuzz_never_kills_the_node_process_and_good_frames_are_answered(ros_context, spin,
                                                                                 node_process):
    proc, ns, log_path = node_process
    inputs = InputPublisher(ros_context, ns, ("image", "depth", "info", "points"))
    out = Collector(ros_context, {f"{ns}/skeletons": Skeleton3DArray})
    spin(inputs.node, out.node)
    assert inputs.wait_connected(60.0) and out.wait_connected(60.0), \
        f"the node did not come up: {log_path.read_text()[-2000:]}"

    def answered() -> set[int]:
        return {stamp_ns(m) for m in out.messages(f"{ns}/skeletons")}

    # warm up: the first frame loads the network
    stamp = T0
    for _ in range(10):
        stamp += PERIOD
        inputs.send(good(stamp))
        if wait_for(lambda: stamp in answered(), 10.0):
            break
    assert stamp in answered(), f"no answer to a good frame: {log_path.read_text()[-2000:]}"

    rng = np.random.default_rng(1234)
    last_good, after_bad, after_bad_answered, counts = stamp, 0, 0, {}
    for step in range(160):
        assert proc.poll() is None, f"the node died (rc {proc.returncode}) at step {step}: " \
                                    f"{log_path.read_text()[-3000:]}"
        for _ in range(int(rng.integers(1, 4))):  # a burst of 1-3 bad frames
            corrupt = CORRUPTIONS[int(rng.integers(len(CORRUPTIONS)))]
            counts[corrupt.__name__] = counts.get(corrupt.__name__, 0) + 1
            stamp += PERIOD
            inputs.send(corrupt(rng, stamp, last_good))
            time.sleep(0.01)
        if rng.random() < 0.08:  # silence: the no-input watchdog warns between the errors
            time.sleep(0.6)
        stamp += PERIOD
        inputs.send(good(stamp))
        after_bad += 1
        if wait_for(lambda: stamp in answered(), 5.0):
            after_bad_answered += 1
        last_good = stamp
    assert proc.poll() is None, f"the node died (rc {proc.returncode}): {log_path.read_text()[-3000:]}"
    assert set(counts) == {c.__name__ for c in CORRUPTIONS}, counts
    rate = after_bad_answered / after_bad
    print(f"fuzz: {after_bad_answered} of {after_bad} good frames after a bad one answered; corruptions {counts}")
    assert rate >= 0.99, f"{after_bad_answered} of {after_bad} good frames after a bad one answered"
    text = log_path.read_text()
    assert "[ERROR]" in text and "[WARN]" in text, "errors and warnings were not both logged"
    assert "internal" not in text, [ln for ln in text.splitlines() if "internal" in ln][:5]
