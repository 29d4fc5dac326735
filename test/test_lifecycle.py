"""The pose node as a managed (lifecycle) node, driven by a client over the standard
change_state service (real rclpy, DDS): configure / activate / deactivate / cleanup, a configure
that fails with a clear reason, and parameters that may or may not change while running."""
from __future__ import annotations

import pytest
from conftest import TEST_CAMERA_ARGS, CentroidEstimator, Collector, InputPublisher, make_inputs, stamp_ns, wait_for

pytest.importorskip("rclpy")
pytest.importorskip("unipose_ros.msg", reason="messages not generated (scripts/build_msgs.sh)")

from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from unipose_ros.core.camera import PinholeCamera  # noqa: E402
from unipose_ros.msg import Skeleton3DArray  # noqa: E402
from unipose_ros.ros.pose_node import PoseNode  # noqa: E402

CAMERA = PinholeCamera(**TEST_CAMERA_ARGS)
T0 = 1_700_000_400_000_000_000


class LifecycleClient:
    def __init__(self, context, node_fqn: str) -> None:
        from rclpy.node import Node

        self.node = Node("test_lifecycle_client", context=context)
        self.change = self.node.create_client(ChangeState, f"{node_fqn}/change_state")
        self.get = self.node.create_client(GetState, f"{node_fqn}/get_state")

    def _call(self, client, request):
        assert client.wait_for_service(timeout_sec=10.0), f"no {client.srv_name} service"
        future = client.call_async(request)
        assert wait_for(future.done, 30.0), f"{client.srv_name} did not answer"
        return future.result()

    def transition(self, transition_id: int) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def state(self) -> str:
        return self._call(self.get, GetState.Request()).current_state.label


def test_lifecycle_transitions_driven_over_change_state(ros_context, spin, namespace):
    est = CentroidEstimator()
    node = PoseNode(estimator=est, context=ros_context, namespace=namespace,
                    parameter_overrides=[Parameter("autostart", value=False)])
    inputs = InputPublisher(ros_context, namespace)
    out = Collector(ros_context, {f"{namespace}/skeletons": Skeleton3DArray})
    client = LifecycleClient(ros_context, node.get_fully_qualified_name())
    spin(node, inputs.node, out.node, client.node)
    subscribed = lambda: all(p.get_subscription_count() > 0 for p in inputs.pubs.values())  # noqa: E731
    answered = lambda s: any(stamp_ns(m) == s for m in out.messages(f"{namespace}/skeletons"))  # noqa: E731

    assert client.state() == "unconfigured" and node.estimator is None and not subscribed()
    assert client.transition(Transition.TRANSITION_CONFIGURE) and client.state() == "inactive"
    assert node.estimator is est and not subscribed()
    assert client.transition(Transition.TRANSITION_ACTIVATE) and client.state() == "active"
    assert out.wait_connected() and wait_for(subscribed, 10.0)
    for k in range(5):
        inputs.send(make_inputs(CAMERA, T0 + k))
        if wait_for(lambda: answered(T0 + k), 2.0):
            break
    assert answered(T0 + k)
    assert client.transition(Transition.TRANSITION_DEACTIVATE) and client.state() == "inactive"
    assert wait_for(lambda: not any(p.get_subscription_count() for p in inputs.pubs.values()), 10.0)
    calls = est.calls
    inputs.send(make_inputs(CAMERA, T0 + 100))
    assert not wait_for(lambda: answered(T0 + 100), 1.0) and est.calls == calls  # nothing processed
    assert client.transition(Transition.TRANSITION_CLEANUP) and client.state() == "unconfigured"
    assert node._worker is None
    assert client.transition(Transition.TRANSITION_CONFIGURE) and client.transition(Transition.TRANSITION_ACTIVATE)
    assert wait_for(subscribed, 10.0)
    for k in range(200, 205):
        inputs.send(make_inputs(CAMERA, T0 + k))
        if wait_for(lambda: answered(T0 + k), 2.0):
            break
    assert answered(T0 + k)


def test_configure_fails_with_the_reason_and_cleanup_frees_the_model(ros_context, spin, namespace, tmp_path):
    node = PoseNode(context=ros_context, namespace=namespace,
                    parameter_overrides=[Parameter("autostart", value=False), Parameter("estimator", value="depth"),
                                         Parameter("checkpoint", value=str(tmp_path / "missing.pt"))])
    client = LifecycleClient(ros_context, node.get_fully_qualified_name())
    spin(node, client.node)
    assert not client.transition(Transition.TRANSITION_CONFIGURE)
    assert client.state() == "unconfigured" and "missing.pt" in node._configure_error
    # while unconfigured every parameter may change; configure then loads the bundled model
    assert node.set_parameters([Parameter("checkpoint", value="")])[0].successful
    assert client.transition(Transition.TRANSITION_CONFIGURE) and node.estimator is not None
    model = node.estimator
    assert client.transition(Transition.TRANSITION_CLEANUP)
    assert node.estimator is None and model.model is None  # closed: the network released


def test_live_parameters_apply_and_the_others_are_refused_with_the_reason(ros_context, namespace):
    node = PoseNode(estimator=CentroidEstimator(), context=ros_context, namespace=namespace)
    try:
        assert node.state == "active"
        assert node.tracker.predict_horizon is None  # 0: no limit
        ok = node.set_parameters([Parameter("min_joint_confidence", value=0.5),
                                  Parameter("tracker_min_hits", value=3),
                                  Parameter("tracker_predict_horizon_s", value=0.4),
                                  Parameter("tracker_appearance_weight", value=0.0),
                                  Parameter("tracker_reid_gate_m", value=0.5)])
        assert all(r.successful for r in ok)
        assert node.params.min_joint_confidence == 0.5 and node.tracker.min_hits == 3
        assert node.tracker.predict_horizon == 0.4
        assert node.tracker.appearance_weight == 0.0 and node.tracker.reid_gate_m == 0.5
        refused = node.set_parameters([Parameter("estimator", value="rgb")])[0]
        assert not refused.successful and "deactivate" in refused.reason and node.params.estimator == "depth"
        bad = node.set_parameters([Parameter("min_joint_confidence", value=2.0)])[0]
        assert not bad.successful and "min_joint_confidence" in bad.reason
        bad = node.set_parameters([Parameter("tracker_predict_horizon_s", value=-1.0)])[0]
        assert not bad.successful and "tracker_predict_horizon_s" in bad.reason
    finally:
        node.destroy_node()
