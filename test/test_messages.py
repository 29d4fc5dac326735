"""Our ROS messages: rclpy round trips, rclpy <-> rosbags CDR compatibility, constants, tf2_msgs.

Recordings are written with rosbags (typestore from msg/*.msg) and replayed with rclpy (rosidl
generated code), so both must produce and accept the same CDR bytes. Skips without rclpy or
without the generated messages (scripts/build_msgs.sh, or colcon build).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

rclpy_serialization = pytest.importorskip("rclpy.serialization")
unipose_msg = pytest.importorskip(
    "unipose_ros.msg", reason="generated messages missing: run scripts/build_msgs.sh")
tf2_msg = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs missing: run scripts/build_msgs.sh")
from builtin_interfaces.msg import Time  # noqa: E402
from geometry_msgs.msg import Point, TransformStamped  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from unipose_ros.core.pose import Modality  # noqa: E402
from unipose_ros.io.typestore import ros_typestore  # noqa: E402

deserialize_message = rclpy_serialization.deserialize_message
serialize_message = rclpy_serialization.serialize_message
Skeleton3D = unipose_msg.Skeleton3D
Skeleton3DArray = unipose_msg.Skeleton3DArray
TFMessage = tf2_msg.TFMessage

ARRAY_TYPE = "unipose_ros/msg/Skeleton3DArray"
NAMES = ["head", "neck", "r_shoulder", "l_shoulder"]


def _people() -> list[dict]:
    """Two people, (4, 3) float64 metres each; person 1 has a NaN joint (no estimate)."""
    rng = np.random.default_rng(7)
    joints = [rng.uniform(-1.0, 3.0, (len(NAMES), 3)) for _ in range(2)]
    joints[1][2] = np.nan
    return [
        dict(track_id=3, joint_set="itop15", joint_names=NAMES, joints=joints[0],
             confidence=np.array([0.9, 0.8, 0.7, 0.6], np.float32),
             modality=Modality.DEPTH, score=0.75),
        dict(track_id=11, joint_set="coco17", joint_names=NAMES[::-1], joints=joints[1],
             confidence=np.array([0.5, 0.25, 0.0, 1.0], np.float32),
             modality=Modality.GROUND_TRUTH, score=1.0),
    ]


def _rclpy_array(people: list[dict]) -> Skeleton3DArray:
    msg = Skeleton3DArray(
        header=Header(stamp=Time(sec=1_700_000_000, nanosec=123_456_789),
                      frame_id="camera_color_optical_frame"),
        estimator="test_estimator")
    for p in people:
        msg.skeletons.append(Skeleton3D(
            track_id=p["track_id"], joint_set=p["joint_set"], joint_names=list(p["joint_names"]),
            positions=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in p["joints"]],
            confidence=p["confidence"].tolist(), modality=int(p["modality"]), score=p["score"]))
    return msg


def _rosbags_array(people: list[dict]):
    store = ros_typestore()
    types = store.types
    return types[ARRAY_TYPE](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=1_700_000_000, nanosec=123_456_789),
            frame_id="camera_color_optical_frame"),
        estimator="test_estimator",
        skeletons=[types["unipose_ros/msg/Skeleton3D"](
            track_id=p["track_id"], joint_set=p["joint_set"], joint_names=list(p["joint_names"]),
            positions=[types["geometry_msgs/msg/Point"](x=float(x), y=float(y), z=float(z))
                       for x, y, z in p["joints"]],
            confidence=p["confidence"], modality=int(p["modality"]), score=p["score"])
            for p in people])


def _assert_matches(msg, people: list[dict]) -> None:
    """``msg`` (rclpy or rosbags Skeleton3DArray) carries exactly ``people``; NaN compares equal."""
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert msg.header.frame_id == "camera_color_optical_frame"
    assert msg.estimator == "test_estimator"
    assert len(msg.skeletons) == len(people)
    for s, p in zip(msg.skeletons, people):
        assert (s.track_id, s.joint_set, list(s.joint_names)) == \
            (p["track_id"], p["joint_set"], list(p["joint_names"]))
        positions = np.array([[q.x, q.y, q.z] for q in s.positions], np.float64)
        np.testing.assert_array_equal(positions, p["joints"])  # exact float64, NaN == NaN
        np.testing.assert_array_equal(np.asarray(s.confidence, np.float32), p["confidence"])
        assert s.modality == int(p["modality"])
        assert s.score == pytest.approx(p["score"], abs=1e-7)


def test_rclpy_round_trip_keeps_two_people_and_nan():
    people = _people()
    raw = serialize_message(_rclpy_array(people))
    back = deserialize_message(raw, Skeleton3DArray)
    _assert_matches(back, people)
    assert math.isnan(back.skeletons[1].positions[2].x)
    assert not any(math.isnan(q.x) for q in back.skeletons[0].positions)


def test_empty_array_round_trips():
    msg = Skeleton3DArray(estimator="nobody")
    back = deserialize_message(serialize_message(msg), Skeleton3DArray)
    assert back.estimator == "nobody" and list(back.skeletons) == []


def test_rosbags_reads_rclpy_bytes():
    people = _people()
    raw = serialize_message(_rclpy_array(people))
    msg = ros_typestore().deserialize_cdr(bytes(raw), ARRAY_TYPE)
    _assert_matches(msg, people)


def test_rclpy_reads_rosbags_bytes():
    people = _people()
    raw = ros_typestore().serialize_cdr(_rosbags_array(people), ARRAY_TYPE)
    msg = deserialize_message(bytes(raw), Skeleton3DArray)
    _assert_matches(msg, people)


def test_rosbags_and_rclpy_bytes_have_the_same_length():
    # Padding bytes may differ (rclpy leaves them uninitialised), the layout may not.
    people = _people()
    rclpy_raw = serialize_message(_rclpy_array(people))
    rosbags_raw = ros_typestore().serialize_cdr(_rosbags_array(people), ARRAY_TYPE)
    assert len(rclpy_raw) == len(rosbags_raw)


def test_modality_constants_match_core_enum():
    store_cls = ros_typestore().types["unipose_ros/msg/Skeleton3D"]
    for modality in Modality:
        name = f"MODALITY_{modality.name}"
        assert getattr(Skeleton3D, name) == modality.value, name
        assert getattr(store_cls, name) == modality.value, name
    generated = {k for k in dir(Skeleton3D) if k.startswith("MODALITY_")}
    assert generated == {f"MODALITY_{m.name}" for m in Modality}


def test_tf_message_round_trip_rclpy_and_rosbags():
    msg = TFMessage()
    for k, child in enumerate(["body_aaaaad", "body_aaaaal"]):
        t = TransformStamped()
        t.header.stamp = Time(sec=5, nanosec=k)
        t.header.frame_id = "camera_color_optical_frame"
        t.child_frame_id = child
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = \
            0.1 * k, -0.2, 2.5
        t.transform.rotation.x, t.transform.rotation.w = math.sqrt(0.5), math.sqrt(0.5)
        msg.transforms.append(t)
    raw = serialize_message(msg)
    back = deserialize_message(raw, TFMessage)
    assert back == msg
    store_msg = ros_typestore().deserialize_cdr(bytes(raw), "tf2_msgs/msg/TFMessage")
    assert [t.child_frame_id for t in store_msg.transforms] == ["body_aaaaad", "body_aaaaal"]
    assert store_msg.transforms[1].transform.rotation.w == pytest.approx(math.sqrt(0.5))
    again = deserialize_message(
        bytes(ros_typestore().serialize_cdr(store_msg, "tf2_msgs/msg/TFMessage")), TFMessage)
    assert again == msg
