"""Recording write -> read round trips, frame synchronisation, and Skeleton3DArray conversion."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import COCO17, ITOP15
from unipose_ros.core.pose import Modality, PersonPose
from unipose_ros.io.bag import DEFAULT_TOPICS, RecordingReader, RecordingWriter, write_raw_recording
from unipose_ros.io.camera_info import camera_info_from_camera
from unipose_ros.io.image import numpy_to_image
from unipose_ros.io.messages import make_header
from unipose_ros.io.skeleton import msg_to_poses, poses_to_msg
from unipose_ros.io.typestore import ros_typestore

TS = ros_typestore()
CAM = PinholeCamera(fx=60.0, fy=61.0, cx=31.5, cy=23.5, width=64, height=48)
FRAME_ID = "camera_color_optical_frame"
T0 = 1_700_000_000_000_000_000


def _people(stamp_index: int, joint_set=ITOP15) -> list[PersonPose]:
    rng = np.random.default_rng(stamp_index)
    out = []
    for track in (3, 8):
        joints = rng.uniform(-1, 3, (len(joint_set), 3)).astype(np.float32)
        joints[1] = np.nan  # a joint without an estimate stays NaN
        out.append(PersonPose(track_id=track, joint_set=joint_set, joints=joints,
                              confidence=rng.uniform(0, 1, len(joint_set)),
                              modality=Modality.GROUND_TRUTH, score=0.5 + 0.1 * track))
    return out


def _frame(i: int) -> RGBDFrame:
    rng = np.random.default_rng(100 + i)
    depth = rng.uniform(0.5, 5.0, (48, 64)).astype(np.float32)
    depth[:5, :7] = np.nan
    rgb = rng.integers(0, 256, (48, 64, 3)).astype(np.uint8)
    return RGBDFrame(stamp_ns=T0 + i * 33_333_333, frame_id=FRAME_ID, camera=CAM, rgb=rgb,
                     depth=depth)


def _assert_poses_equal(a: list[PersonPose], b: list[PersonPose]) -> None:
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert (p.track_id, p.joint_set, p.modality) == (q.track_id, q.joint_set, q.modality)
        assert np.array_equal(p.joints, q.joints, equal_nan=True)
        assert np.array_equal(p.confidence, q.confidence)
        assert p.score == pytest.approx(q.score, abs=1e-7)


@pytest.mark.parametrize("storage,encoding", [("mcap", "16UC1"), ("sqlite3", "32FC1")])
def test_recording_round_trip(tmp_path, storage, encoding):
    frames = [_frame(i) for i in range(3)]
    gt = [{"itop15": _people(i), "coco17": _people(i, COCO17)} for i in range(3)]
    path = tmp_path / "rec"
    with RecordingWriter(path, depth_encoding=encoding, storage=storage) as w:
        for f, g in zip(frames, gt):
            w.write_frame(f, g)
    with RecordingReader(path) as r:
        topics = r.topics
        assert topics[DEFAULT_TOPICS.color] == ("sensor_msgs/msg/Image", 3)
        assert topics[DEFAULT_TOPICS.points].msgtype == "sensor_msgs/msg/PointCloud2"
        assert topics["/ground_truth/skeletons/coco17"] == ("unipose_ros/msg/Skeleton3DArray", 3)
        assert len(topics) == 7
        back = list(r.frames())
        assert r.incomplete_frames == 0
        gt_itop, gt_coco = r.ground_truth("itop15"), r.ground_truth("coco17")
    assert [f.stamp_ns for f in back] == [f.stamp_ns for f in frames]
    for f, b in zip(frames, back):
        assert b.frame_id == FRAME_ID and b.camera == CAM
        assert np.array_equal(b.rgb, f.rgb)
        tol = 0.0005 if encoding == "16UC1" else 0.0  # whole millimetres
        np.testing.assert_allclose(b.depth, f.depth, atol=tol + 1e-6, rtol=0)
        assert np.array_equal(np.isnan(b.depth), np.isnan(f.depth))
        # the cloud is the back-projection of the recorded depth, exactly
        assert np.array_equal(b.points, CAM.depth_to_points(b.depth))
        b.validate()
    assert sorted(gt_itop) == [f.stamp_ns for f in frames]
    for i, f in enumerate(frames):
        _assert_poses_equal(gt_itop[f.stamp_ns], gt[i]["itop15"])
        _assert_poses_equal(gt_coco[f.stamp_ns], gt[i]["coco17"])


def test_point_colours_follow_pixels(tmp_path):
    f = _frame(0)
    with RecordingWriter(tmp_path / "rec") as w:
        w.write_frame(f)
    from unipose_ros.io.pointcloud import cloud_to_xyzrgb

    with RecordingReader(tmp_path / "rec") as r:
        (_, _, _, cloud, _), = r.messages([DEFAULT_TOPICS.points])
    xyz, rgb = cloud_to_xyzrgb(cloud)
    uv = np.rint(CAM.project(xyz)).astype(int)
    assert np.array_equal(rgb, f.rgb[uv[:, 1], uv[:, 0]])


def test_missing_partner_is_counted_and_warned(tmp_path, caplog):
    path = tmp_path / "rec"
    image_cls, info_cls = TS.types["sensor_msgs/msg/Image"], TS.types["sensor_msgs/msg/CameraInfo"]
    with RecordingWriter(path, write_points=False) as w:
        w.write_frame(_frame(0))
        # frame 1: colour and info only, its depth never arrives
        f1 = _frame(1)
        h = make_header(image_cls, f1.stamp_ns, FRAME_ID)
        w.write_message(DEFAULT_TOPICS.color_info, camera_info_from_camera(CAM, info_cls, h))
        w.write_message(DEFAULT_TOPICS.color, numpy_to_image(f1.rgb, "rgb8", image_cls, h))
        w.write_frame(_frame(2))
    with caplog.at_level(logging.WARNING), RecordingReader(path) as r:
        stamps = [f.stamp_ns for f in r.frames()]
        assert stamps == [_frame(0).stamp_ns, _frame(2).stamp_ns]
        assert r.incomplete_frames == 1
        assert r.missing == {DEFAULT_TOPICS.depth: 1}
    assert "lacked a partner" in caplog.text


def test_messages_give_raw_cdr_for_replay_and_raw_recording(tmp_path):
    with RecordingWriter(tmp_path / "rec", write_points=False) as w:
        for i in range(2):
            w.write_frame(_frame(i), {"itop15": _people(i)})
    with RecordingReader(tmp_path / "rec") as r:
        msgs = list(r.messages())
        n_topics = len(r.topics)
    assert len(msgs) == 2 * n_topics
    assert [m[2] for m in msgs] == sorted(m[2] for m in msgs)
    for topic, msgtype, stamp, msg, raw in msgs:
        assert TS.deserialize_cdr(raw, msgtype).header.stamp == msg.header.stamp
    copied = write_raw_recording(tmp_path / "copy", [(t, ty, s, raw) for t, ty, s, _, raw in msgs])
    assert copied == len(msgs)
    with RecordingReader(tmp_path / "copy") as r:
        assert [f.stamp_ns for f in r.frames()] == [_frame(i).stamp_ns for i in range(2)]
        _assert_poses_equal(r.ground_truth("itop15")[_frame(1).stamp_ns], _people(1))


def test_reader_and_writer_errors(tmp_path):
    with pytest.raises(InputError, match="metadata.yaml"):
        RecordingReader(tmp_path)
    with pytest.raises(InputError, match="depth_encoding"):
        RecordingWriter(tmp_path / "x", depth_encoding="mono8")
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError):
        RecordingWriter(tmp_path / "exists")
    with RecordingWriter(tmp_path / "rec") as w:
        w.write_frame(_frame(0))
    with RecordingReader(tmp_path / "rec") as r, pytest.raises(InputError, match="itop15"):
        r.ground_truth("itop15")


# --- Skeleton3DArray ---------------------------------------------------------------------

def test_skeleton_array_round_trip_rosbags_cdr():
    array_cls = TS.types["unipose_ros/msg/Skeleton3DArray"]
    poses = _people(7)
    header = make_header(array_cls, T0 + 5, FRAME_ID)
    msg = poses_to_msg(poses, header, "est", array_cls)
    assert msg.estimator == "est" and list(msg.skeletons[0].joint_names) == list(ITOP15.joints)
    raw = TS.serialize_cdr(msg, "unipose_ros/msg/Skeleton3DArray")
    back = TS.deserialize_cdr(raw, "unipose_ros/msg/Skeleton3DArray")
    assert back.header.stamp.nanosec == 5 and back.header.frame_id == FRAME_ID
    _assert_poses_equal(msg_to_poses(back), poses)
    assert msg_to_poses(poses_to_msg([], header, "est", array_cls)) == []


def test_skeleton_array_rclpy_matches_rosbags():
    gen = pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")
    geometry = pytest.importorskip("geometry_msgs.msg")
    poses = _people(9, COCO17)
    a = poses_to_msg(poses, None, "est", gen.Skeleton3DArray, gen.Skeleton3D, geometry.Point)
    b = poses_to_msg(poses, None, "est", gen.Skeleton3DArray)  # classes derived
    _assert_poses_equal(msg_to_poses(a), poses)
    _assert_poses_equal(msg_to_poses(b), poses)


def test_skeleton_with_wrong_joint_names_is_rejected():
    array_cls = TS.types["unipose_ros/msg/Skeleton3DArray"]
    msg = poses_to_msg(_people(1), None, "est", array_cls)
    msg.skeletons[0].joint_names = list(reversed(msg.skeletons[0].joint_names))
    with pytest.raises(InputError, match="joint order"):
        msg_to_poses(msg)
    msg.skeletons[0].joint_set = "smpl24"
    with pytest.raises(InputError, match="unknown joint_set"):
        msg_to_poses(msg)
