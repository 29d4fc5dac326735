"""Body/joint frames (core geometry) and the output message builders (no spinning)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import FACING_CAMERA, STANDING_ITOP15_BODY, skeleton_in_camera

from unipose_ros.core.body_frame import (
    body_frame,
    joint_frames,
    quaternion_to_rotation,
    rotation_to_quaternion,
    transform_points,
)
from unipose_ros.core.joints import COCO17, ITOP15
from unipose_ros.core.pose import Modality, PersonPose


def rot(axis: str, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


# ---------------------------------------------------------------- geometry (no ROS)
def test_quaternion_round_trip_and_known_values():
    rng = np.random.default_rng(0)
    for _ in range(50):
        r = random_rotation(rng)
        q = rotation_to_quaternion(r)
        assert np.isclose(np.linalg.norm(q), 1) and q[3] >= 0
        np.testing.assert_allclose(quaternion_to_rotation(q), r, atol=1e-9)
    np.testing.assert_allclose(rotation_to_quaternion(np.eye(3)), [0, 0, 0, 1])
    s = np.sqrt(0.5)
    np.testing.assert_allclose(rotation_to_quaternion(rot("z", 90)), [0, 0, s, s], atol=1e-12)
    np.testing.assert_allclose(rotation_to_quaternion(rot("x", 180)), [1, 0, 0, 0], atol=1e-12)
    batch = np.stack([random_rotation(rng) for _ in range(20)] + [rot("y", 180), np.eye(3)]).reshape(2, 11, 3, 3)
    q = rotation_to_quaternion(batch)  # (2, 11, 4): one per matrix, the same as one at a time
    assert q.shape == (2, 11, 4) and (q[..., 3] >= 0).all()
    np.testing.assert_allclose(q.reshape(-1, 4), [rotation_to_quaternion(r) for r in batch.reshape(-1, 3, 3)])


def test_body_frame_of_a_person_facing_the_camera():
    joints = skeleton_in_camera([0.3, 0.1, 2.5])
    frame = body_frame(joints, ITOP15)
    np.testing.assert_allclose(frame.origin, [0.3, 0.1, 2.5], atol=1e-6)
    np.testing.assert_allclose(frame.rotation, FACING_CAMERA, atol=1e-6)
    # x forward points at the camera (-z optical), z up is -y optical (image up)
    np.testing.assert_allclose(frame.rotation[:, 0], [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(frame.rotation[:, 2], [0, -1, 0], atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_body_frame_recovers_an_arbitrary_orientation(seed):
    rng = np.random.default_rng(seed)
    r = random_rotation(rng)
    origin = rng.uniform(-1, 1, 3) + [0, 0, 3]
    frame = body_frame(skeleton_in_camera(origin, r), ITOP15)
    np.testing.assert_allclose(frame.rotation, r, atol=1e-5)
    np.testing.assert_allclose(frame.origin, origin, atol=1e-5)
    assert np.isclose(np.linalg.det(frame.rotation), 1.0)


def test_body_frame_works_for_coco17_and_with_missing_joints():
    itop = skeleton_in_camera([0, 0, 3], FACING_CAMERA @ rot("z", 30))
    coco = np.full((len(COCO17), 3), np.nan, np.float32)
    for name in ("left_hip", "right_hip", "left_shoulder", "right_shoulder"):
        coco[COCO17.index(name)] = itop[ITOP15.index(name)]
    coco[COCO17.index("nose")] = itop[ITOP15.index("head")]
    f_coco, f_itop = body_frame(coco, COCO17), body_frame(itop, ITOP15)
    np.testing.assert_allclose(f_coco.rotation, f_itop.rotation, atol=1e-6)
    np.testing.assert_allclose(f_coco.origin, f_itop.origin, atol=1e-6)

    no_hips = itop.copy()
    no_hips[[ITOP15.index("left_hip"), ITOP15.index("right_hip")]] = np.nan
    f = body_frame(no_hips, ITOP15)  # origin falls back to the root (torso), left from shoulders
    np.testing.assert_allclose(f.origin, itop[ITOP15.root], atol=1e-6)
    np.testing.assert_allclose(f.rotation, f_itop.rotation, atol=1e-6)

    no_shoulders = itop.copy()
    no_shoulders[[ITOP15.index("left_shoulder"), ITOP15.index("right_shoulder")]] = np.nan
    f = body_frame(no_shoulders, ITOP15)  # up unknown: upright fallback, left still from hips
    assert np.isclose(np.linalg.det(f.rotation), 1.0)
    np.testing.assert_allclose(f.rotation[:, 2], FACING_CAMERA[:, 2], atol=1e-6)

    assert body_frame(np.full((15, 3), np.nan), ITOP15) is None


def test_joint_frames_compose_back_to_camera_positions_and_follow_bones():
    r = FACING_CAMERA @ rot("z", -40)
    joints = skeleton_in_camera([0.2, -0.1, 3.0], r)
    joints[ITOP15.index("left_knee")] = np.nan
    body = body_frame(joints, ITOP15)
    frames = joint_frames(joints, ITOP15, body)
    assert ITOP15.index("left_knee") not in frames and len(frames) == 14
    for j, f in frames.items():
        cam = body.rotation @ f.origin + body.origin
        np.testing.assert_allclose(cam, joints[j], atol=1e-5)
        np.testing.assert_allclose(f.rotation.T @ f.rotation, np.eye(3), atol=1e-9)
        assert np.isclose(np.linalg.det(f.rotation), 1.0)
    # right elbow's x axis points along the forearm to the right hand (in body coordinates)
    e, h = ITOP15.index("right_elbow"), ITOP15.index("right_hand")
    forearm = STANDING_ITOP15_BODY[h] - STANDING_ITOP15_BODY[e]
    np.testing.assert_allclose(frames[e].rotation[:, 0], forearm / np.linalg.norm(forearm),
                               atol=1e-6)
    # a leaf (right hand) continues its bone; the root keeps the body axes
    np.testing.assert_allclose(frames[h].rotation[:, 0], forearm / np.linalg.norm(forearm),
                               atol=1e-6)
    np.testing.assert_allclose(frames[ITOP15.root].rotation, np.eye(3))


def test_transform_points_matches_a_known_transform():
    q = rotation_to_quaternion(rot("z", 90))
    out = transform_points(np.array([[1.0, 0, 0], [np.nan, 0, 0]]), [0, 0, 1], q)
    np.testing.assert_allclose(out[0], [0, 1, 1], atol=1e-6)
    assert np.isnan(out[1]).all()


# ---------------------------------------------------------------- messages
def _pose(track_id: int, origin, conf=None) -> PersonPose:
    joints = skeleton_in_camera(origin)
    conf = np.ones(15, np.float32) if conf is None else conf
    return PersonPose(track_id=track_id, joint_set=ITOP15, joints=joints, confidence=conf,
                      modality=Modality.DEPTH, score=0.8)


def _header(stamp_ns: int = 1_700_000_000_123_456_789, frame="camera_color_optical_frame"):
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    return Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame)


def test_markers_per_person_namespaces_confidence_filter_and_deleteall():
    from visualization_msgs.msg import Marker

    from unipose_ros.ros.publishers import marker_array

    conf = np.ones(15, np.float32)
    conf[ITOP15.index("left_hand")] = 0.1
    poses = [_pose(3, [0, 0, 2]), _pose(7, [1, 0, 3], conf)]
    poses[0].joints[ITOP15.index("head")] = np.nan
    header = _header()
    msg = marker_array(poses, header, lifetime_s=0.25, min_confidence=0.3)
    assert [(m.ns, m.id, m.type) for m in msg.markers] == [
        ("person_aaaaad", 0, Marker.SPHERE_LIST), ("person_aaaaad", 1, Marker.LINE_LIST),
        ("person_aaaaah", 0, Marker.SPHERE_LIST), ("person_aaaaah", 1, Marker.LINE_LIST)]
    for m in msg.markers:
        assert m.header.stamp == header.stamp and m.header.frame_id == header.frame_id
        assert (m.lifetime.sec, m.lifetime.nanosec) == (0, 250_000_000)
        assert m.action == Marker.ADD and m.pose.orientation.w == 1.0
    n_bones = len(ITOP15.bones)
    assert len(msg.markers[0].points) == 14           # NaN head not drawn
    assert len(msg.markers[1].points) == 2 * (n_bones - 1)
    assert len(msg.markers[2].points) == 14           # low-confidence hand not drawn
    assert len(msg.markers[3].points) == 2 * (n_bones - 1)
    p = msg.markers[2].points[0]
    np.testing.assert_allclose([p.x, p.y, p.z], poses[1].joints[0], atol=1e-6)
    assert msg.markers[0].color != msg.markers[2].color

    empty = marker_array([], header)
    assert len(empty.markers) == 1 and empty.markers[0].action == Marker.DELETEALL
    assert empty.markers[0].header.stamp == header.stamp


def test_transforms_names_parents_and_positions():
    from unipose_ros.ros.publishers import HRI_JOINT_NAMES, transforms

    poses = [_pose(4, [0.5, 0.2, 2.0])]
    header = _header()
    tfs = transforms(poses, header)
    assert len(tfs) == 1 + 15
    body = tfs[0]
    assert (body.header.frame_id, body.child_frame_id) == ("camera_color_optical_frame", "body_aaaaae")
    t = body.transform.translation
    np.testing.assert_allclose([t.x, t.y, t.z], [0.5, 0.2, 2.0], atol=1e-6)
    q = body.transform.rotation
    r_body = quaternion_to_rotation([q.x, q.y, q.z, q.w])
    np.testing.assert_allclose(r_body, FACING_CAMERA, atol=1e-6)
    names = [t.child_frame_id for t in tfs[1:]]
    assert names == [f"{HRI_JOINT_NAMES[j]}_aaaaae" for j in ITOP15.joints]
    assert {"head_aaaaae", "torso_aaaaae", "l_shoulder_aaaaae", "r_wrist_aaaaae", "l_ankle_aaaaae"} <= set(names)
    for j, tf in enumerate(tfs[1:]):
        assert tf.header.frame_id == "body_aaaaae" and tf.header.stamp == header.stamp
        tr = tf.transform.translation
        cam = r_body @ np.array([tr.x, tr.y, tr.z]) + [0.5, 0.2, 2.0]
        np.testing.assert_allclose(cam, poses[0].joints[j], atol=1e-5)
    assert len(transforms(poses, header, joint_frames_too=False)) == 1
    assert transforms([], header) == []
    prefixed = transforms(poses, header, prefix="front/")
    assert prefixed[0].child_frame_id == "front/body_aaaaae"
    assert {t.header.frame_id for t in prefixed[1:]} == {"front/body_aaaaae"}
    assert all(t.child_frame_id.startswith("front/") for t in prefixed)


def test_serialised_tf_message_deserialises_to_the_rclpy_transforms():
    """The node publishes TF as bytes it serialised with rosbags: the distribution's own rclpy
    type must read them back as exactly the transforms built as rclpy messages."""
    from rclpy.serialization import deserialize_message
    from tf2_msgs.msg import TFMessage

    from unipose_ros.ros.publishers import tf_message_cdr, transforms

    poses = [_pose(4, [0.5, 0.2, 2.0]), _pose(30, [-0.7, 0.1, 3.5])]
    poses[1].joints[ITOP15.index("left_knee")] = np.nan  # a joint without a frame
    header = _header()
    for kwargs in ({}, {"joint_frames_too": False}, {"prefix": "front/"}):
        data = tf_message_cdr(poses, header, **kwargs)
        assert isinstance(data, bytes)
        got = deserialize_message(data, TFMessage)
        want = transforms(poses, header, **kwargs)
        assert len(got.transforms) == len(want) == (2 if kwargs.get("joint_frames_too") is False else 1 + 15 + 1 + 14)
        assert list(got.transforms) == want
    assert tf_message_cdr([], header) is None


def test_body_ids_are_six_letters_one_to_one():
    from unipose_ros.ros.publishers import ID_SPACE, body_id

    assert body_id(0) == "aaaaaa" and body_id(25) == "aaaaaz" and body_id(26) == "aaaaba"
    assert body_id(ID_SPACE - 1) == "zzzzzz"
    rng = np.random.default_rng(0)
    ids = rng.choice(ID_SPACE, 5000, replace=False)
    made = [body_id(int(i)) for i in ids]
    assert len(set(made)) == 5000 and all(len(b) == 6 and b.isalpha() and b.islower() for b in made)
    decode = [sum((ord(ch) - 97) * 26 ** (5 - k) for k, ch in enumerate(b)) for b in made[:100]]
    assert decode == [int(i) for i in ids[:100]]
    with pytest.raises(ValueError):
        body_id(ID_SPACE)


def test_skeleton_array_keeps_every_joint_in_order():
    pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")
    from unipose_ros.io.skeleton import msg_to_poses
    from unipose_ros.ros.publishers import skeleton_array

    conf = np.linspace(0, 1, 15).astype(np.float32)
    poses = [_pose(2, [0, 0, 2], conf), _pose(5, [1, 0, 3])]
    poses[0].joints[1] = np.nan
    header = _header()
    msg = skeleton_array(poses, header, "test_centroid")
    assert msg.header.stamp == header.stamp and msg.estimator == "test_centroid"
    assert [s.track_id for s in msg.skeletons] == [2, 5]
    assert list(msg.skeletons[0].joint_names) == list(ITOP15.joints)
    back = msg_to_poses(msg)
    np.testing.assert_allclose(back[0].confidence, conf, atol=1e-7)
    np.testing.assert_allclose(back[1].joints, poses[1].joints, atol=1e-6)
    assert np.isnan(back[0].joints[1]).all()
    assert back[0].modality == Modality.DEPTH


# ---------------------------------------------------------------- launch, rviz and config files
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_launch_file_compiles_and_remaps_to_the_realsense_topics():
    import ast
    import py_compile

    path = ROOT / "launch" / "unipose_realsense.launch.py"
    py_compile.compile(str(path), doraise=True)  # `launch` itself is not installed here
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)
    remaps = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "remappings":
            for pair in node.value.elts:
                src = pair.elts[0].value
                remaps[src] = pair.elts[1].elts[1].value
    assert remaps == {"image": "/color/image_raw",
                      "depth_image": "/aligned_depth_to_color/image_raw",
                      "camera_info": "/color/camera_info", "points": "/depth/color/points"}
    text = path.read_text()
    assert 'default_value="/camera/camera"' in text and "pose_node.yaml" in text
    assert 'DeclareLaunchArgument("device"' in text and 'DeclareLaunchArgument("estimator"' in text


def test_rviz_config_shows_image_cloud_markers_and_tf_in_the_optical_frame():
    import yaml

    cfg = yaml.safe_load((ROOT / "rviz" / "unipose.rviz").read_text())["Visualization Manager"]
    assert cfg["Global Options"]["Fixed Frame"] == "camera_color_optical_frame"
    displays = {d["Class"].split("/")[-1]: d for d in cfg["Displays"]}
    assert {"Image", "PointCloud2", "MarkerArray", "TF"} <= set(displays)
    assert displays["MarkerArray"]["Topic"]["Value"] == "/markers"
    assert displays["Image"]["Topic"]["Value"] == "/camera/camera/color/image_raw"
    assert displays["PointCloud2"]["Topic"]["Reliability Policy"] == "Best Effort"


def test_parameter_file_declares_exactly_the_node_parameters():
    import dataclasses

    import yaml

    from unipose_ros.ros.params import DESCRIPTIONS, PoseNodeParams

    values = yaml.safe_load((ROOT / "config" / "pose_node.yaml").read_text())["/**"][
        "ros__parameters"]
    names = {f.name for f in dataclasses.fields(PoseNodeParams)}
    assert set(values) == names == set(DESCRIPTIONS)
    assert PoseNodeParams(**values) == PoseNodeParams()
