"""ROS4HRI (REP-155) output with real rclpy: /humans/bodies/tracked, per-body roi and skeleton2d,
body frames named by the same id, ids that a restarted node does not reuse, and hri_msgs types
built from the upstream definitions (so their type hashes are upstream's)."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")
hri_msgs = pytest.importorskip("hri_msgs.msg", reason="hri_msgs not built (scripts/build_msgs.sh)")

from conftest import CentroidEstimator, Collector, InputPublisher, make_inputs, stamp_ns, wait_for  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from test_pose_node import CAMERA, PERIOD, T0  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from unipose_ros.msg import Skeleton3DArray  # noqa: E402
from unipose_ros.ros.pose_node import PoseNode  # noqa: E402
from unipose_ros.ros.publishers import body_id  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: SHA-256 of the upstream definitions, ros4hri/hri_msgs 2.0.0 (branch humble-devel, 4e7c176)
UPSTREAM_SHA256 = {
    "IdsList.msg": "a2a66268904c38bac5b5f2312c1d5d1546f5236a31a3c8deb7f860320046dcdd",
    "NormalizedPointOfInterest2D.msg": "e76086668632ce96aad65a73eac343e53813235172e50d1fe3995e1e25521f70",
    "NormalizedRegionOfInterest2D.msg": "3548f896838e29a72b8f134ecc973002349e3e9d6f3411bc0b0b359d4bf1aff1",
    "Skeleton2D.msg": "706970259e103ad286da68d9ad2fb3d019b042db9b3b676d30a6a7c5453bcfbe",
}
#: RIHS01 type hash that rosidl computes from the upstream IdsList definition
IDS_LIST_HASH = "RIHS01_7e0812d1ac945c98fd3e393568d581ad0ab567f37b24eff633eab778c1bfe62d"


def test_the_bundled_definitions_are_upstreams_byte_for_byte():
    folder = ROOT / "scripts" / "ros_interfaces" / "hri_msgs"
    found = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "msg").glob("*.msg")}
    assert found == UPSTREAM_SHA256
    assert "PAL Robotics" in (folder / "LICENSE").read_text()


def _start(ctx, spin, ns, **params):
    params.setdefault("hri_prefix", f"{ns}/humans")  # per test: /humans is shared by the domain
    node = PoseNode(estimator=CentroidEstimator(), context=ctx, namespace=ns,
                    parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    inputs = InputPublisher(ctx, ns)
    prefix = params["hri_prefix"]
    out = Collector(ctx, {f"{prefix}/bodies/tracked": hri_msgs.IdsList, f"{ns}/skeletons": Skeleton3DArray,
                          "/tf": TFMessage})
    spin(node, inputs.node, out.node)
    assert inputs.wait_connected() and out.wait_connected()
    return node, inputs, out, prefix


def test_tracked_ids_roi_skeleton2d_and_frames_share_one_id(ros_context, spin, namespace):
    node, inputs, out, prefix = _start(ros_context, spin, namespace)
    tracked = f"{prefix}/bodies/tracked"
    inputs.send(make_inputs(CAMERA, T0))
    assert wait_for(lambda: len(out.messages(tracked)) >= 1)
    first = out.messages(tracked)[0]
    assert stamp_ns(first) == T0 and len(first.ids) == 1
    bid = first.ids[0]
    assert len(bid) == 6 and bid.isalpha() and bid.islower()
    # the ids go out before the skeletons (both of the same frame): wait for those too
    assert wait_for(lambda: len(out.messages(f"{namespace}/skeletons")) >= 1)
    skeleton = out.messages(f"{namespace}/skeletons")[0].skeletons[0]
    assert body_id(skeleton.track_id) == bid  # our message and REP-155 name the same person

    # the per-body topics exist now: subscribe, then send more frames of the same person
    per_body = Collector(ros_context, {f"{prefix}/bodies/{bid}/roi": hri_msgs.NormalizedRegionOfInterest2D,
                                       f"{prefix}/bodies/{bid}/skeleton2d": hri_msgs.Skeleton2D})
    spin(per_body.node)
    assert per_body.wait_connected()
    stamps = [T0 + k * PERIOD for k in range(1, 4)]
    for s in stamps:
        inputs.send(make_inputs(CAMERA, s))
        time.sleep(0.1)
    roi_topic, sk_topic = f"{prefix}/bodies/{bid}/roi", f"{prefix}/bodies/{bid}/skeleton2d"
    assert wait_for(lambda: len(per_body.messages(roi_topic)) >= 1 and len(per_body.messages(sk_topic)) >= 1)
    assert all(out_ids.ids == [bid] for out_ids in out.messages(tracked))  # one stable id
    roi = per_body.messages(roi_topic)[-1]
    assert stamp_ns(roi) in stamps
    # the stand-in estimator's skeleton stands at the centroid of the depth box (60..100, 30..90 px)
    cu, cv = (60 + 100) / 2 / CAMERA.width, (30 + 90) / 2 / CAMERA.height
    assert 0.0 <= roi.xmin < cu < roi.xmax <= 1.0 and 0.0 <= roi.ymin < cv < roi.ymax <= 1.0
    assert 0.0 < roi.c <= 1.0
    sk = per_body.messages(sk_topic)[-1]
    assert len(sk.skeleton) == 18
    pts = np.array([[p.x, p.y, p.c] for p in sk.skeleton])
    assert np.all((pts >= 0) & (pts <= 1))
    neck, r_shoulder, l_shoulder = pts[hri_msgs.Skeleton2D.NECK], pts[2], pts[5]
    assert neck[2] > 0 and r_shoulder[2] > 0 and l_shoulder[2] > 0
    assert r_shoulder[0] < neck[0] < l_shoulder[0]  # facing the camera: their right on image left
    assert pts[hri_msgs.Skeleton2D.LEFT_EYE][2] == 0.0  # ITOP-15 has no eyes: no confidence
    # the body frame carries the same id
    assert wait_for(lambda: any(t.child_frame_id == f"body_{bid}" for m in out.messages("/tf") for t in m.transforms))

    # type hash on the wire equals the one rosidl computes from the upstream definition
    infos = node.get_publishers_info_by_topic(tracked)
    assert infos and str(infos[0].topic_type_hash) == IDS_LIST_HASH

    # nobody in view: an empty list, and the per-body publishers go away
    few = np.full((CAMERA.height, CAMERA.width), np.nan, np.float32)
    few[0:2, 0:5] = 1.5
    inputs.send(make_inputs(CAMERA, T0 + 10 * PERIOD, depth_m=few))
    assert wait_for(lambda: stamp_ns(out.messages(tracked)[-1]) == T0 + 10 * PERIOD)
    assert out.messages(tracked)[-1].ids == []
    assert wait_for(lambda: node.hri.bodies == [])


def test_a_restarted_node_does_not_reuse_ids_and_the_prefix_moves_frames(ros_context, spin, namespace):
    ids = []
    for k in range(2):
        node, inputs, out, prefix = _start(ros_context, spin, f"{namespace}_{k}", frame_prefix="front/")
        inputs.send(make_inputs(CAMERA, T0 + k))
        tracked = f"{prefix}/bodies/tracked"
        assert wait_for(lambda: len(out.messages(tracked)) >= 1)
        ids.append(out.messages(tracked)[0].ids[0])
        assert wait_for(lambda: any(t.child_frame_id == f"front/body_{ids[-1]}"
                                    for m in out.messages("/tf") for t in m.transforms))
        node.destroy_node()
    assert ids[0] != ids[1]


def test_hri_output_can_be_turned_off(ros_context, namespace):
    node = PoseNode(estimator=CentroidEstimator(), context=ros_context, namespace=namespace,
                    parameter_overrides=[Parameter("hri_prefix", value="")])
    try:
        assert node.hri is None
        assert not [t for t, _ in node.get_publisher_names_and_types_by_node(node.get_name(), node.get_namespace())
                    if "/bodies/" in t]
    finally:
        node.destroy_node()


def test_the_type_description_shipped_with_hri_msgs_has_the_upstream_hash():
    from ament_index_python.packages import get_package_share_directory

    desc = json.loads((Path(get_package_share_directory("hri_msgs")) / "msg" / "IdsList.json").read_text())
    hashes = {h["type_name"]: h["hash_string"] for h in desc["type_hashes"]}
    assert hashes["hri_msgs/msg/IdsList"] == IDS_LIST_HASH


class _StaticBuffer:
    """Stands in for tf2_ros.Buffer (absent from the PyPI wheels): one fixed transform, or a
    lookup error like tf2's when ``fail`` is set."""

    def __init__(self, translation: tuple[float, float, float]) -> None:
        from geometry_msgs.msg import TransformStamped

        self.fail = False
        self.t = TransformStamped()
        self.t.transform.translation.x, self.t.transform.translation.y, self.t.transform.translation.z = translation
        self.t.transform.rotation.w = 1.0

    def lookup_transform(self, target, source, time, timeout):
        if self.fail:
            raise LookupError(f"{source} -> {target}: no transform at that time")
        return self.t


def test_target_frame_moves_the_skeletons_and_a_frame_without_transform_is_published_nowhere(
        ros_context, spin, namespace):
    from dataclasses import replace

    node, inputs, out, prefix = _start(ros_context, spin, namespace)
    node._tf_buffer = _StaticBuffer((1.0, -2.0, 0.5))
    node.params = replace(node.params, target_frame="map")
    tracked, skeletons = f"{prefix}/bodies/tracked", f"{namespace}/skeletons"
    inputs.send(make_inputs(CAMERA, T0))
    assert wait_for(lambda: len(out.messages(skeletons)) >= 1 and len(out.messages(tracked)) >= 1)
    msg = out.messages(skeletons)[0]
    assert msg.header.frame_id == "map"
    moved = np.array([[q.x, q.y, q.z] for q in msg.skeletons[0].positions])
    assert np.isfinite(moved).all()
    # the same person in the camera frame: the transform added (1, -2, 0.5) to every joint
    node._tf_buffer = None
    node.params = replace(node.params, target_frame="")
    inputs.send(make_inputs(CAMERA, T0 + PERIOD))
    assert wait_for(lambda: len(out.messages(skeletons)) >= 2)
    camera = np.array([[q.x, q.y, q.z] for q in out.messages(skeletons)[1].skeletons[0].positions])
    assert np.allclose(moved - camera, [1.0, -2.0, 0.5], atol=1e-4)
    # the transform is missing: neither our skeletons nor the REP-155 ids go out for that frame
    buf = _StaticBuffer((0.0, 0.0, 0.0))
    buf.fail = True
    node._tf_buffer = buf
    node.params = replace(node.params, target_frame="map")
    inputs.send(make_inputs(CAMERA, T0 + 2 * PERIOD))
    assert wait_for(lambda: node.errors.counts.get("tf", 0) >= 1), node.errors.counts
    time.sleep(0.3)
    assert all(stamp_ns(m) != T0 + 2 * PERIOD for m in out.messages(skeletons) + out.messages(tracked))
