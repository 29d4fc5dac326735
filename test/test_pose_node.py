"""The pose node end to end with real rclpy: a node spinning in an executor thread, a plain
publisher of camera messages and an independent plain subscriber of the outputs."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    OPTICAL_FRAME,
    TEST_CAMERA_ARGS,
    CentroidEstimator,
    Collector,
    InputPublisher,
    box_centroid,
    box_depth,
    make_inputs,
    skeleton_in_camera,
    stamp_ns,
    wait_for,
)

pytest.importorskip("rclpy")
pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from unipose_ros.core.camera import PinholeCamera  # noqa: E402
from unipose_ros.core.joints import ITOP15  # noqa: E402
from unipose_ros.io.skeleton import msg_to_poses  # noqa: E402
from unipose_ros.msg import Skeleton3DArray  # noqa: E402
from unipose_ros.ros.params import PoseNodeParams  # noqa: E402
from unipose_ros.ros.pose_node import PoseNode  # noqa: E402
from unipose_ros.ros.publishers import HRI_JOINT_NAMES, body_id  # noqa: E402

CAMERA = PinholeCamera(**TEST_CAMERA_ARGS)
T0 = 1_700_000_000_000_000_000
PERIOD = 33_333_333
CONFIG = Path(__file__).resolve().parents[1] / "config" / "pose_node.yaml"


def make_node(ctx, ns, estimator, **params) -> PoseNode:
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return PoseNode(estimator=estimator, context=ctx, namespace=ns, parameter_overrides=overrides)


def setup(ctx, spin, ns, estimator, slots=("image", "depth", "info"), **params):
    node = make_node(ctx, ns, estimator, **params)
    inputs = InputPublisher(ctx, ns, slots)
    out = Collector(ctx, {f"{ns}/skeletons": Skeleton3DArray, f"{ns}/markers": MarkerArray,
                          "/tf": TFMessage, "/diagnostics": DiagnosticArray})
    spin(node, inputs.node, out.node)
    assert inputs.wait_connected(), "the node did not subscribe to the inputs"
    assert out.wait_connected(), "the collector did not see the node's publishers"
    return node, inputs, out


def assert_all_accounted(node: PoseNode, published: list[int], sent: list[int]) -> None:
    """Published stamps are sent ones, in order, ending with the newest; any frame missing was
    dropped as stale or by the synchroniser (counted), never silently (a loaded machine can
    stall the worker long enough for that)."""
    assert published == sorted(published) and set(published) <= set(sent)
    assert published[-1] == sent[-1]
    missing = len(sent) - len(published)
    assert missing <= node.mailbox.dropped + max(node.sync.dropped.values()), (
        missing, node.mailbox.dropped, node.sync.dropped)
    assert len(published) >= len(sent) // 2  # a stall may drop more than 2 of 6 (counted above)


def mpjpe_mm(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b, axis=-1).mean() * 1000)


def test_outputs_carry_input_stamps_frames_joint_order_and_known_answer(ros_context, spin,
                                                                          namespace):
    est = CentroidEstimator()
    node, inputs, out = setup(ros_context, spin, namespace, est, diagnostics_period_s=0.2)
    stamps = [T0 + k * PERIOD for k in range(5)]
    for s in stamps:
        inputs.send(make_inputs(CAMERA, s))
        time.sleep(0.1)  # slower than the estimator: every frame is processed
    topic = f"{namespace}/skeletons"
    assert wait_for(lambda: stamps[-1] in [stamp_ns(m) for m in out.messages(topic)])
    skels = out.messages(topic)
    assert_all_accounted(node, [stamp_ns(m) for m in skels], stamps)
    expected = skeleton_in_camera(box_centroid(CAMERA))
    track_ids = set()
    for m in skels:
        assert m.header.frame_id == OPTICAL_FRAME and m.estimator == "test_centroid"
        assert len(m.skeletons) == 1
        sk = m.skeletons[0]
        assert sk.joint_set == "itop15" and list(sk.joint_names) == list(ITOP15.joints)
        assert len(sk.positions) == 15 and len(sk.confidence) == 15
        np.testing.assert_allclose(sk.confidence, np.linspace(0.2, 1.0, 15), atol=1e-6)
        pose = msg_to_poses(m)[0]
        assert mpjpe_mm(pose.joints, expected) < 0.5   # 16UC1 holds 2.000 m exactly
        track_ids.add(sk.track_id)
    assert len(track_ids) == 1                            # one stable id

    tid = skels[0].skeletons[0].track_id
    markers_topic = f"{namespace}/markers"
    assert wait_for(lambda: len(out.messages(markers_topic)) >= len(skels))
    for m in out.messages(markers_topic):
        assert {stamp_ns(mk) for mk in m.markers} <= set(stamps)
        assert [mk.type for mk in m.markers] == [Marker.SPHERE_LIST, Marker.LINE_LIST]
        assert m.markers[0].header.frame_id == OPTICAL_FRAME
        assert m.markers[0].ns == m.markers[1].ns == f"person_{body_id(tid)}"

    def ours():  # /tf is shared by every node on the domain: keep our stamps only
        return [t for msg in out.messages("/tf") for t in msg.transforms if stamp_ns(t) in stamps]

    n = len(skels)
    assert wait_for(lambda: len(ours()) >= n * 16)
    tfs = ours()
    bodies = [t for t in tfs if t.child_frame_id == f"body_{body_id(tid)}"]
    assert len(bodies) == n and all(t.header.frame_id == OPTICAL_FRAME for t in bodies)
    tr = bodies[0].transform.translation
    np.testing.assert_allclose([tr.x, tr.y, tr.z], box_centroid(CAMERA), atol=5e-4)
    joints = {t.child_frame_id for t in tfs if t.header.frame_id == f"body_{body_id(tid)}"}
    assert joints == {f"{HRI_JOINT_NAMES[j]}_{body_id(tid)}" for j in ITOP15.joints}

    def diag_values():
        found = [s for m in out.messages("/diagnostics") for s in m.status
                 if s.hardware_id == node.get_fully_qualified_name()]
        return {kv.key: kv.value for kv in found[-1].values} if found else {}

    assert wait_for(lambda: diag_values().get("published") == str(len(skels)), 10.0), diag_values()
    values = diag_values()
    assert values["device"] == "cpu" and values["estimator"] == "test_centroid"
    assert float(values["latency_ms_median"]) > 0
    assert est.seen_stamps == [stamp_ns(m) for m in skels]


def test_deleteall_and_empty_skeletons_when_nobody_is_seen(ros_context, spin, namespace):
    node, inputs, out = setup(ros_context, spin, namespace, CentroidEstimator())
    inputs.send(make_inputs(CAMERA, T0))
    few = np.full((CAMERA.height, CAMERA.width), np.nan, np.float32)
    few[0:2, 0:5] = 1.5  # 10 valid pixels: below the stand-in's person threshold
    time.sleep(0.1)
    inputs.send(make_inputs(CAMERA, T0 + PERIOD, depth_m=few))
    topic = f"{namespace}/markers"
    assert wait_for(lambda: len(out.messages(topic)) >= 2)
    empty = out.messages(topic)[1]
    assert len(empty.markers) == 1 and empty.markers[0].action == Marker.DELETEALL
    assert stamp_ns(empty.markers[0]) == T0 + PERIOD
    assert wait_for(lambda: len(out.messages(f"{namespace}/skeletons")) >= 2)
    assert out.messages(f"{namespace}/skeletons")[1].skeletons == []


class GatedEstimator(CentroidEstimator):
    """The stand-in estimator, held at the start of every frame until the test opens the gate:
    the test decides what arrives while the estimator is busy, with no timing assumption.
    ``started`` lists the stamps in the order the estimator began them."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Semaphore(0)
        self.started: list[int] = []

    def estimate(self, frame):
        self.started.append(frame.stamp_ns)
        if not self.gate.acquire(timeout=30.0):
            raise TimeoutError("the test never opened the gate")
        return super().estimate(frame)


def test_stale_frames_are_dropped_not_queued(ros_context, spin, namespace):
    """Frames that arrive while the estimator is busy are not queued: only the newest is
    processed next, the others are counted as dropped. Checked by holding the estimator, so a
    slow or loaded machine cannot change the answer."""
    est = GatedEstimator()
    node, inputs, out = setup(ros_context, spin, namespace, est)
    topic = f"{namespace}/skeletons"
    held = [T0]
    inputs.send(make_inputs(CAMERA, T0))
    assert wait_for(lambda: est.started == held, 10.0), "the first frame never started"
    for _ in range(3):                       # three rounds: estimator busy, a burst, release
        burst = [held[-1] + k * PERIOD for k in range(1, 9)]
        puts = node.mailbox.put_count
        for s in burst:
            inputs.send(make_inputs(CAMERA, s))
            time.sleep(1 / 30)
        assert wait_for(lambda: node.mailbox.put_count == puts + len(burst), 10.0), \
            f"{node.mailbox.put_count - puts} of {len(burst)} frames reached the mailbox"
        est.gate.release()                   # the busy frame finishes ...
        held.append(burst[-1])
        assert wait_for(lambda: len(est.started) == len(held), 10.0)
        assert est.started == held, "the next frame must be the newest, not the oldest"
    est.gate.release()
    assert wait_for(lambda: len(out.messages(topic)) == len(held), 10.0)
    time.sleep(0.2)
    assert [stamp_ns(m) for m in out.messages(topic)] == held, "only the held and newest frames"
    assert node.mailbox.dropped == 3 * 7     # ... and every replaced frame counted


def test_points_are_passed_when_enabled(ros_context, spin, namespace):
    class CloudSize(CentroidEstimator):
        def estimate(self, frame):
            self.n_points = None if frame.points is None else frame.points.shape
            return super().estimate(frame)

    est = CloudSize()
    node, inputs, out = setup(ros_context, spin, namespace, est,
                              slots=("image", "depth", "info", "points"), use_points=True)
    pts = CAMERA.depth_to_points(box_depth(CAMERA))
    inputs.send(make_inputs(CAMERA, T0, points=pts))
    assert wait_for(lambda: len(out.messages(f"{namespace}/skeletons")) >= 1)
    assert est.n_points == (len(pts), 3)


def test_parameters_file_matches_the_defaults_and_bad_values_are_rejected(ros_context,
                                                                           namespace):
    node = PoseNode(estimator=CentroidEstimator(), context=ros_context, namespace=namespace,
                    cli_args=["--ros-args", "--params-file", str(CONFIG)])
    try:
        assert node.params == PoseNodeParams()
        desc = node.describe_parameter("sync_tolerance_s")
        assert "stamp difference" in desc.description
    finally:
        node.destroy_node()
    with pytest.raises(ValueError, match="device 'gpu'"):
        make_node(ros_context, namespace, CentroidEstimator(), device="gpu")
    with pytest.raises(ValueError, match="qos_reliability"):
        make_node(ros_context, namespace, CentroidEstimator(), qos_reliability="fast")


def test_destroy_closes_the_estimator_and_stops_the_worker(ros_context, namespace):
    est = CentroidEstimator()
    node = make_node(ros_context, namespace, est)
    worker = node._worker
    assert worker.is_alive() and node.state == "active"
    node.destroy_node()
    assert est.closed and not worker.is_alive()


def test_replayed_recording_reaches_the_node_with_recorded_timing(ros_context, spin, namespace,
                                                                   tmp_path):
    from rclpy.node import Node

    from unipose_ros.core.frame import RGBDFrame
    from unipose_ros.io.bag import RecordingWriter
    from unipose_ros.ros.replay import replay

    step = 100_000_000  # recorded at 10 Hz, replayed at rate 2: 50 ms apart
    stamps = [T0 + k * step for k in range(6)]
    with RecordingWriter(tmp_path / "rec", write_points=False) as writer:
        for s in stamps:
            writer.write_frame(RGBDFrame(stamp_ns=s, frame_id=OPTICAL_FRAME, camera=CAMERA,
                                         rgb=np.zeros((120, 160, 3), np.uint8),
                                         depth=box_depth(CAMERA)))
    node = make_node(ros_context, namespace, CentroidEstimator())
    out = Collector(ros_context, {f"{namespace}/skeletons": Skeleton3DArray})
    player = Node("test_player", context=ros_context)
    spin(node, out.node, player)
    remap = {"/camera/color/image_raw": f"{namespace}/image",
             "/camera/aligned_depth_to_color/image_raw": f"{namespace}/depth_image",
             "/camera/color/camera_info": f"{namespace}/camera_info"}
    published: list[tuple[float, str, int]] = []
    stats = replay(tmp_path / "rec", player, rate=2.0, topics=list(remap), remap=remap,
                   start_delay_s=5.0, on_publish=lambda t, log: published.append((time.monotonic(), t, log)))
    assert stats.published == {v: 6 for v in remap.values()} and not stats.failed
    # due at the schedule's start + recorded log time / rate: never early; a stalled machine may
    # delay a publish, which then catches up
    t0, log0 = stats.started_s, min(log for _, _, log in published)
    lateness = np.array([t - t0 - (log - log0) * 1e-9 / 2.0 for t, _, log in published])
    assert np.all(lateness > -0.001), lateness
    assert lateness[-1] < 0.5, lateness  # a stall is caught up, not carried to the end
    assert published[-1][0] - t0 > 0.245
    topic = f"{namespace}/skeletons"
    assert wait_for(lambda: stamps[-1] in [stamp_ns(m) for m in out.messages(topic)], 10.0)
    assert_all_accounted(node, [stamp_ns(m) for m in out.messages(topic)], stamps)
    expected = skeleton_in_camera(box_centroid(CAMERA))
    assert mpjpe_mm(msg_to_poses(out.messages(topic)[0])[0].joints, expected) < 0.5


def test_learned_depth_estimator_runs_in_the_node(ros_context, spin, namespace, tmp_path):
    """estimator:=depth with a checkpoint file: the node builds it through the registry and
    publishes one skeleton for the one person-sized block, near the block."""
    pytest.importorskip("torch")
    from test_learned_estimators import write_checkpoint

    ckpt = write_checkpoint(tmp_path / "depth.pt", "depth")
    settings = tmp_path / "learned.yaml"  # the block is found by the geometric proposals, not by the detector
    settings.write_text("detector: geometric\n")
    node = PoseNode(context=ros_context, namespace=namespace, parameter_overrides=[
        Parameter("estimator", value="depth"), Parameter("checkpoint", value=str(ckpt)),
        Parameter("estimator_config", value=str(settings)), Parameter("precision", value="bf16")])
    inputs = InputPublisher(ros_context, namespace, ("image", "depth", "info"))
    out = Collector(ros_context, {f"{namespace}/skeletons": Skeleton3DArray})
    spin(node, inputs.node, out.node)
    assert inputs.wait_connected() and out.wait_connected()
    assert node.estimator.name == "a2j_depth" and node.params.precision == "bf16"
    inputs.send(make_inputs(CAMERA, T0))
    topic = f"{namespace}/skeletons"
    assert wait_for(lambda: len(out.messages(topic)) >= 1, 30.0)
    msg = out.messages(topic)[0]
    assert msg.estimator == "a2j_depth" and len(msg.skeletons) == 1
    pose = msg_to_poses(msg)[0]
    assert np.isfinite(pose.joints).all()
    assert np.linalg.norm(pose.joints.mean(axis=0) - box_centroid(CAMERA)) < 0.5


def test_estimator_parameters_are_validated(ros_context, namespace, tmp_path):
    def node_with(instance, **params):
        return PoseNode(estimator=instance, context=ros_context, namespace=namespace,
                        parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])

    with pytest.raises(ValueError, match="estimator 'a2j': use one of baseline, depth, rgb, pointcloud, fused"):
        node_with(CentroidEstimator(), estimator="a2j")
    with pytest.raises(ValueError, match="precision 'fp8'"):
        node_with(CentroidEstimator(), precision="fp8")
    with pytest.raises(ValueError, match="does not apply to estimator 'baseline'"):
        node_with(CentroidEstimator(), estimator="baseline", checkpoint="x.pt")
    missing = tmp_path / "missing.pt"
    with pytest.raises(ValueError, match=f"{missing} does not exist"):
        node_with(None, estimator="depth", checkpoint=str(missing))


def test_sets_older_than_max_input_age_are_dropped_and_counted(ros_context, spin, namespace):
    node, inputs, out = setup(ros_context, spin, namespace, CentroidEstimator(), max_input_age_ms=300.0)
    topic = f"{namespace}/skeletons"
    now = node.get_clock().now().nanoseconds
    old = now - 2_000_000_000  # two seconds old on arrival
    inputs.send(make_inputs(CAMERA, old))
    assert wait_for(lambda: node.too_old >= 1, 5.0), "the old set was not dropped"
    fresh = node.get_clock().now().nanoseconds
    inputs.send(make_inputs(CAMERA, fresh))
    assert wait_for(lambda: any(stamp_ns(m) == fresh for m in out.messages(topic)), 5.0)
    assert not any(stamp_ns(m) == old for m in out.messages(topic)) and node.too_old == 1


def test_replay_publishes_the_recorded_clock_for_sim_time_nodes(ros_context, spin, namespace, tmp_path):
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock

    from unipose_ros.core.frame import RGBDFrame
    from unipose_ros.io.bag import RecordingWriter
    from unipose_ros.ros.replay import replay

    stamps = [T0 + k * 50_000_000 for k in range(4)]
    with RecordingWriter(tmp_path / "rec", write_points=False) as writer:
        for s in stamps:
            writer.write_frame(RGBDFrame(stamp_ns=s, frame_id=OPTICAL_FRAME, camera=CAMERA,
                                         rgb=np.zeros((120, 160, 3), np.uint8), depth=box_depth(CAMERA)))
    clocks = Collector(ros_context, {"/clock": Clock})
    sim = Node("test_sim_time", context=ros_context, parameter_overrides=[Parameter("use_sim_time", value=True)])
    player = Node("test_clock_player", context=ros_context)
    spin(clocks.node, sim, player)
    replay(tmp_path / "rec", player, rate=4.0, topics=["/camera/color/image_raw"], start_delay_s=0.5, clock=True)
    assert wait_for(lambda: len(clocks.messages("/clock")) >= len(stamps), 5.0)
    got = [m.clock.sec * 10**9 + m.clock.nanosec for m in clocks.messages("/clock")]
    assert got == sorted(got) and set(stamps) <= set(got)
    assert wait_for(lambda: sim.get_clock().now().nanoseconds >= stamps[-1], 5.0)  # a use_sim_time node follows
