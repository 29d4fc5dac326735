"""The pose node: camera topics in, 3D skeletons, markers and TF out. A thin adapter:
messages -> numpy (unipose_ros.io) -> estimator -> tracker -> messages (publishers.py).

Topics (relative; remap them in the launch file):
    in:  image (sensor_msgs/Image, colour), depth_image (sensor_msgs/Image, registered to
         colour, 16UC1 mm or 32FC1 m), camera_info (sensor_msgs/CameraInfo of the colour image),
         points (sensor_msgs/PointCloud2, only with use_points)
    out: skeletons (unipose_ros/msg/Skeleton3DArray), markers (visualization_msgs/MarkerArray),
         /tf (body_<id>, <joint>_<id>), /diagnostics
Every output carries the input image's stamp. Subscription callbacks only queue messages; a
worker thread runs the estimator on the latest synchronised frame, older ones are dropped.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import replace

import rclpy
from rcl_interfaces.msg import SetParametersResult

try:
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble: the same class in its older module
    from rclpy.qos_event import SubscriptionEventCallbacks  # type: ignore[no-redef]
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from unipose_ros.core.body_frame import transform_points
from unipose_ros.core.errors import EmptyInputError, InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.pose import PersonPose
from unipose_ros.core.tracking import SkeletonTracker
from unipose_ros.estimators.base import Estimator
from unipose_ros.ros import publishers
from unipose_ros.ros.dds import transport_hint
from unipose_ros.ros.diagnostics import ErrorReporter, NodeStats, diagnostic_array, diagnostic_level, log_at
from unipose_ros.ros.hri import HriPublisher
from unipose_ros.ros.params import (
    PoseNodeParams,
    cpu_threads,
    declare_parameters,
    make_tracker,
    read_parameters,
    uses_torch_cpu,
    validate_changes,
)
from unipose_ros.ros.qos import input_qos, output_qos
from unipose_ros.ros.stamp_gaps import StampGaps
from unipose_ros.ros.sync import LatestOnly, StampSynchronizer, SyncedSet
from unipose_ros.ros.tf_broadcast import TfBroadcaster

# slot name in the synchroniser -> (relative topic, message type)
INPUTS = {"image": ("image", Image), "depth": ("depth_image", Image),
          "info": ("camera_info", CameraInfo), "points": ("points", PointCloud2)}
#: image_transport's sub-topics of the image slots with ``transport: compressed``
COMPRESSED_SUFFIX = {"image": "compressed", "depth": "compressedDepth"}


def input_topic(node: Node, slot: str, transport: str) -> tuple[str, type]:
    """(topic, message type) the node subscribes for ``slot``: the relative name resolved with the
    node's remappings, plus image_transport's ``/compressed`` or ``/compressedDepth`` for the image
    slots when ``transport`` is ``compressed`` (as image_transport subscribers do)."""
    name, cls = INPUTS[slot]
    if transport == "compressed" and slot in COMPRESSED_SUFFIX:
        from sensor_msgs.msg import CompressedImage

        return f"{node.resolve_topic_name(name)}/{COMPRESSED_SUFFIX[slot]}", CompressedImage
    return name, cls


def build_estimator(params: PoseNodeParams) -> Estimator:
    """The estimator named by the ``estimator`` parameter (baseline, depth, rgb, pointcloud,
    fused; :mod:`unipose_ros.estimators.registry`), with ``estimator_config``, ``checkpoint``,
    ``device``, ``precision`` and ``compile``.

    Raises:
        ValueError: unknown estimator, missing or mismatched checkpoint (CheckpointError),
            unusable device; the message says what to set.
    """
    from unipose_ros.estimators.registry import build_estimator as build

    if uses_torch_cpu(params):
        import torch

        torch.set_num_threads(cpu_threads(params))
    # MediaPipe runs on the CPU: device, precision and compile do not apply to the baseline.
    return build(params.estimator, device=params.device, precision=params.precision,
                 checkpoint=params.checkpoint or None, config=params.estimator_config or None,
                 compile=params.compile)


def _tagged(error: InputError, slot: str) -> InputError:
    error.slot = slot  # type: ignore[attr-defined]
    return error


def error_kind(error: Exception) -> str:
    """Rate-limiting key of an input error: its class and the input it came from."""
    return f"{type(error).__name__}/{getattr(error, 'slot', 'frame')}"


def frame_from_messages(synced: SyncedSet) -> RGBDFrame:
    """Convert one synchronised set to an RGBDFrame; InputError (with the input named) if a
    message cannot be used."""
    from unipose_ros.io.camera_info import camera_from_info
    from unipose_ros.io.compressed import depth_from_message, rgb_from_message

    def convert(slot: str, fn):
        try:
            return fn(synced[slot])
        except InputError as e:
            raise _tagged(type(e)(f"{INPUTS[slot][0]}: {e}"), slot) from e

    camera = convert("info", camera_from_info)
    rgb = convert("image", rgb_from_message)
    depth = convert("depth", depth_from_message)
    points = None
    if "points" in synced.messages:
        from unipose_ros.io.pointcloud import cloud_to_xyz

        points = convert("points", cloud_to_xyz)
        if len(points) == 0:
            raise _tagged(EmptyInputError("points: the point cloud is empty (no finite points)"),
                          "points")
    image = synced["image"]
    frame = RGBDFrame(stamp_ns=synced.stamp_ns, frame_id=image.header.frame_id, camera=camera,
                      rgb=rgb, depth=depth, points=points).validate()
    if not frame.has_valid_depth():
        raise _tagged(EmptyInputError("depth_image: no valid pixel (all 0 or NaN): check the "
                                      "depth stream (lens covered, out of range, wrong topic)"),
                      "depth")
    return frame


#: Track ids left above a node's random first id: it may give out this many before the id
#: space (publishers.ID_SPACE) would run out.
ID_HEADROOM = 10**7

#: Parameters that may change while the node is configured (set-parameters callback); the others
#: are read at configure and need deactivate, cleanup, configure, activate.
LIVE_PARAMETERS = frozenset({
    "min_joint_confidence", "marker_lifetime_s", "error_throttle_s", "no_input_warn_s", "diagnostics_window_s",
    "expected_rate_hz", "max_input_age_ms", "tracker_gate_m", "tracker_max_age_s", "tracker_min_hits",
    "tracker_gate_growth_mps", "tracker_predict_horizon_s", "tracker_appearance_weight",
    "tracker_reid_gate_m",
    "smoothing_min_cutoff_hz", "smoothing_beta"})


class PoseNode(LifecycleNode):
    """3D human pose node (see the module docstring), a managed (lifecycle) node:

    * configure: reads and checks the parameters, loads the estimator, creates the publishers and
      the worker;
    * activate: subscribes to the camera topics;
    * deactivate: drops the subscriptions (nothing is processed, the model stays loaded);
    * cleanup: stops the worker, closes the estimator and frees its memory (CUDA included);
    * with the parameter ``autostart`` (default true) construction runs configure and activate.

    Args:
        estimator: an estimator to use instead of building one from the parameters (tests,
            embedding); the node then owns it and closes it on destroy.
        node_name, **kwargs: passed to rclpy.node.Node (context, parameter_overrides, ...).
    Raises:
        ValueError: invalid parameters, or (with autostart) a configure that failed: the message
            names the parameter and what to set.
    """

    def __init__(self, estimator: Estimator | None = None, node_name: str = "pose_node",
                 **kwargs) -> None:
        self._injected = estimator
        self.estimator: Estimator | None = None
        self._subs: list = []
        self._timers: list = []
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._configure_error = ""
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        p = self.params = read_parameters(self)
        log = self.get_logger()
        self.errors = ErrorReporter(log_at(log, "error"), p.error_throttle_s)
        self.warnings = ErrorReporter(log_at(log, "warning"), max(p.no_input_warn_s, p.error_throttle_s))
        self.diagnostic_level = "ok"  # of the last /diagnostics message (diagnostics.diagnostic_level)
        self.too_old = 0  # sets dropped by max_input_age_ms
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if p.autostart:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise ValueError(self._configure_error or "configure failed (see the log)")
            self.trigger_activate()

    @property
    def state(self) -> str:
        """The lifecycle state's label (unconfigured, inactive, active, finalized, ...)."""
        return str(self._state_machine.current_state[1])

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ValueError, ImportError, RuntimeError, OSError) as e:
            self._configure_error = str(e)
            self.get_logger().error(f"configure failed: {e}")
            self._teardown()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        p = self.params = read_parameters(self)
        log = self.get_logger()
        self.errors.period_s = p.error_throttle_s
        self.warnings.period_s = max(p.no_input_warn_s, p.error_throttle_s)
        self._tf_buffer = None
        if p.target_frame:
            try:
                import tf2_ros  # type: ignore[import-not-found]
            except ImportError:
                raise ValueError("target_frame needs tf2_ros (install ros-<distro>-tf2-ros); "
                                 "leave target_frame empty to publish in the camera frame") from None
            self._tf_buffer = tf2_ros.Buffer()
            self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)
        self.estimator = self._injected if self._injected is not None else build_estimator(p)
        self.tracker = self._make_tracker(p)
        slots = self.slots = ("image", "depth", "info") + (("points",) if p.use_points else ())
        self.sync = StampSynchronizer(slots, int(p.sync_tolerance_s * 1e9), p.sync_queue_size,
                                      sticky=("info",))
        self.stats = NodeStats(slots, window_s=p.diagnostics_window_s)
        self.gaps = StampGaps(p.diagnostics_window_s, expected_rate_hz=p.expected_rate_hz)
        self._upstream_hint = transport_hint(os.environ)
        self.mailbox: LatestOnly[SyncedSet] = LatestOnly()
        self.topics = {s: input_topic(self, s, p.transport) for s in slots}
        from unipose_ros.msg import Skeleton3DArray

        self.skeleton_pub = self.create_publisher(Skeleton3DArray, "skeletons", output_qos())
        self.marker_pub = (self.create_publisher(MarkerArray, "markers", output_qos())
                           if p.publish_markers else None)
        self.tf = TfBroadcaster(self) if p.publish_tf else None
        self.hri = None
        if p.hri_prefix:
            try:
                self.hri = HriPublisher(self, p.hri_prefix)
            except ImportError as e:
                log.warning(str(e))
        self._last_input = time.monotonic()
        if p.no_input_warn_s > 0:
            self._timers.append(self.create_timer(min(1.0, p.no_input_warn_s), self._guarded("watchdog", self._watchdog)))
        self._diag_pub = None
        if p.diagnostics_period_s > 0:
            from diagnostic_msgs.msg import DiagnosticArray

            self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", output_qos())
            self._timers.append(self.create_timer(p.diagnostics_period_s,
                                                  self._guarded("diagnostics", self._publish_diagnostics)))
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="pose_worker", daemon=True)
        self._worker.start()
        where = "cpu" if p.estimator == "baseline" else f"{p.device}, {p.precision}"
        if uses_torch_cpu(p):
            n = cpu_threads(p)
            where += f", {n} CPU thread{'s' if n > 1 else ''}"
        log.info(f"configured: estimator {self.estimator.name} ({self.estimator.joint_set.name}) on {where}")

    def on_activate(self, state) -> TransitionCallbackReturn:
        p = self.params
        events = SubscriptionEventCallbacks(incompatible_qos=self._guarded("qos_event", self._on_incompatible_qos))
        self._subs = [self.create_subscription(
            self.topics[s][1], self.topics[s][0],
            self._guarded(f"callback/{s}", lambda msg, s=s: self._on_input(s, msg)),
            input_qos(p.qos_reliability, p.qos_depth), event_callbacks=events) for s in self.slots]
        self._last_input = time.monotonic()
        self.get_logger().info(f"active: inputs {[self.resolve_topic_name(self.topics[s][0]) for s in self.slots]} "
                               f"({p.qos_reliability})")
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self.sync.reset()
        self.get_logger().info("inactive: subscriptions dropped")
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._teardown()
        self.get_logger().info("unconfigured: estimator closed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _teardown(self) -> None:
        """Stop the worker, destroy timers and publishers, close the estimator (not an injected
        one: that is closed on destroy) and free CUDA memory."""
        self._stop.set()
        if getattr(self, "mailbox", None) is not None:
            self.mailbox.close()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None
        for t in self._timers:
            self.destroy_timer(t)
        self._timers = []
        if getattr(self, "hri", None) is not None:
            self.hri.destroy()
            self.hri = None
        for name in ("skeleton_pub", "marker_pub", "_diag_pub"):
            pub = getattr(self, name, None)
            if pub is not None:
                self.destroy_publisher(pub)
                setattr(self, name, None)
        if self.estimator is not None and self.estimator is not self._injected:
            self.estimator.close()
            self.estimator = None
            _free_cuda()

    # ------------------------------------------------------------------ parameters
    @staticmethod
    def _make_tracker(p: PoseNodeParams) -> SkeletonTracker:
        # ids start at a random point of the id space: a restarted node does not reuse old ids
        return make_tracker(p, first_id=secrets.randbelow(publishers.ID_SPACE - ID_HEADROOM))

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        """Accept a change of the live parameters (applied at once) and, while unconfigured, of
        any parameter (read at configure); reject the others with the reason."""
        configured = self.state in ("inactive", "active")
        fixed = [q.name for q in params if q.name not in LIVE_PARAMETERS and configured]
        if fixed:
            return SetParametersResult(successful=False, reason=(
                f"{', '.join(fixed)} cannot change while the node is {self.state}: deactivate and clean up the "
                "node (ros2 lifecycle set <node> deactivate, then cleanup), set it, then configure and activate"))
        try:
            new = validate_changes(self.params, {q.name: q.value for q in params})
        except ValueError as e:
            return SetParametersResult(successful=False, reason=str(e))
        if configured:  # unconfigured: configure reads every parameter anyway
            self.params = new
            self.errors.period_s = new.error_throttle_s
            self.warnings.period_s = max(new.no_input_warn_s, new.error_throttle_s)
            if any(q.name.startswith(("tracker_", "smoothing_")) for q in params):
                # new settings, new tracks; ids keep counting (never reused)
                self.tracker = make_tracker(new, first_id=self.tracker.next_id)
            self.stats.set_window(new.diagnostics_window_s)
            self.gaps.window_s, self.gaps.expected_rate_hz = new.diagnostics_window_s, new.expected_rate_hz
        return SetParametersResult(successful=True)

    def _guarded(self, where: str, fn):
        """``fn`` wrapped so that an exception is reported as an ``internal/<where>`` error
        instead of leaving the executor's spin (which would end the node)."""
        def call(*args):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - one bad callback must not kill the node
                self.errors.report(f"internal/{where}", f"{type(e).__name__}: {e}")
        return call

    # subscription side: never blocks on inference
    def _on_input(self, slot: str, msg) -> None:
        self.stats.on_input(slot)
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if slot == "image":
            self.gaps.add(stamp)
        synced = self.sync.add(slot, stamp, msg)
        if synced is not None:
            self._last_input = time.monotonic()
            self.stats.on_synced()
            self.mailbox.put(synced)

    def _on_incompatible_qos(self, event) -> None:
        self.warnings.report("qos", f"a publisher with incompatible QoS was found (policy "
                             f"{event.last_policy_kind}); this node subscribes with "
                             f"qos_reliability={self.params.qos_reliability}: change the "
                             "parameter or the publisher's QoS")

    def _watchdog(self) -> None:
        idle = time.monotonic() - self._last_input
        if idle < self.params.no_input_warn_s:
            return
        got = ", ".join(f"{self.resolve_topic_name(self.topics[s][0])}={n}"
                        for s, n in self.sync.received.items())
        self.warnings.report("no_input", f"no synchronised input for {idle:.1f} s (messages "
                             f"received: {got}). Check the topic remappings, that the camera "
                             "publishes, the QoS (camera drivers publish best effort: keep "
                             "qos_reliability=best_effort) and that stamps agree within "
                             f"sync_tolerance_s={self.params.sync_tolerance_s}")

    def _publish_diagnostics(self) -> None:
        values = dict(self.stats.snapshot())
        values.update({f"received_{k}": v for k, v in self.sync.received.items()})
        values.update({f"sync_dropped_{k}": v for k, v in self.sync.dropped.items()})
        values["stale_dropped"] = self.mailbox.dropped
        values["too_old_dropped"] = self.too_old
        values["missing_upstream_image"] = self.gaps.missing
        values["device"] = self.params.device
        values["estimator"] = self.estimator.name
        p = self.params
        synced, published, rate = self.stats.window()
        level, message = diagnostic_level(self.errors.recent(p.diagnostics_window_s), synced, published, rate,
                                          p.diagnostics_window_s, p.expected_rate_hz,
                                          time.monotonic() - self._last_input, p.no_input_warn_s,
                                          self.gaps.recent(), self._upstream_hint)
        values["input_rate_hz"] = rate
        self.diagnostic_level = level
        self._diag_pub.publish(diagnostic_array(self.get_clock().now().to_msg(),
                                                f"{self.get_name()}: pose", self.get_fully_qualified_name(),
                                                values, dict(self.errors.counts), level, message))

    # worker side
    def _run(self) -> None:
        while not self._stop.is_set():
            synced = self.mailbox.get(timeout=0.1)
            if synced is not None:
                try:
                    if self._too_old(synced):
                        continue
                    self.process(synced)
                except Exception as e:  # never let one frame kill the worker
                    self.errors.report("internal", f"{type(e).__name__}: {e}")

    def _too_old(self, synced: SyncedSet) -> bool:
        """True (and counted) when ``max_input_age_ms`` is set and the set's stamp is older than
        that on the node's clock (ROS time: sim time in a replay with use_sim_time)."""
        limit = self.params.max_input_age_ms
        if limit <= 0:
            return False
        age_ms = (self.get_clock().now().nanoseconds - synced.stamp_ns) * 1e-6
        if age_ms <= limit:
            return False
        self.too_old += 1
        return True

    def process(self, synced: SyncedSet) -> list[PersonPose] | None:
        """Run one synchronised set through conversion, estimator, tracker and publishers.
        Returns the published poses, or None when the input was rejected (error reported)."""
        t_start = time.monotonic()
        try:
            frame = frame_from_messages(synced)
        except InputError as e:
            self.errors.report(error_kind(e), str(e))
            return None
        t0 = time.monotonic()
        try:
            poses = self.estimator.estimate(frame)
        except InputError as e:
            self.errors.report(error_kind(e), str(e))
            return None
        except Exception as e:
            self.errors.report("estimator", f"{self.estimator.name} failed: "
                               f"{type(e).__name__}: {e}")
            return None
        estimator_s = time.monotonic() - t0
        self.stats.on_processed(estimator_s)
        poses = self.tracker.update(poses, stamp_s=synced.stamp_ns * 1e-9, frame=frame)
        header = Header(stamp=synced["image"].header.stamp, frame_id=frame.frame_id)
        target = None
        if self._tf_buffer is not None:  # looked up first: a frame without it is published nowhere
            target = self._target_transform(header)
            if target is None:
                return None
        if self.hri is not None:  # image coordinates: the camera-frame joints
            self.hri.publish(poses, header, frame.camera)
        if target is not None:
            poses, header = self._to_target_frame(poses, header, target)
        self._publish(poses, header)
        now_ns = self.get_clock().now().nanoseconds
        self.stats.on_published((now_ns - synced.stamp_ns) * 1e-9, len(poses),
                                wait_s=t_start - synced.completed_s,
                                overhead_s=time.monotonic() - t_start - estimator_s)
        return poses

    def _target_transform(self, header: Header):
        """The transform from the camera frame to ``target_frame`` at the frame's stamp, or None
        (reported) when tf2 has none within 50 ms."""
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            return self._tf_buffer.lookup_transform(self.params.target_frame, header.frame_id,
                                                    Time.from_msg(header.stamp), Duration(seconds=0.05))
        except Exception as e:  # tf2 raises several exception types
            self.errors.report("tf", f"no transform {header.frame_id} -> "
                               f"{self.params.target_frame}: {e}")
            return None

    def _to_target_frame(self, poses: list[PersonPose], header: Header, t) -> tuple[list[PersonPose], Header]:
        """``poses`` (camera frame) as copies in ``target_frame`` by the TransformStamped ``t``."""
        tr, q = t.transform.translation, t.transform.rotation
        moved = [replace(pose, joints=transform_points(pose.joints, (tr.x, tr.y, tr.z), (q.x, q.y, q.z, q.w)))
                 for pose in poses]
        return moved, Header(stamp=header.stamp, frame_id=self.params.target_frame)

    def _publish(self, poses: list[PersonPose], header: Header) -> None:
        self.skeleton_pub.publish(publishers.skeleton_array(poses, header, self.estimator.name))
        if self.marker_pub is not None and self.marker_pub.get_subscription_count():  # not built for no one
            self.marker_pub.publish(publishers.marker_array(
                poses, header, self.params.marker_lifetime_s, self.params.min_joint_confidence))
        if self.tf is not None:
            self.tf.send(publishers.tf_message_cdr([p for p in poses if p.track_id >= 0], header,
                                                   prefix=self.params.frame_prefix))

    def destroy_node(self) -> None:
        self._stop.set()
        self._teardown()
        try:
            if self._injected is not None:
                self._injected.close()
        finally:
            super().destroy_node()


def _free_cuda() -> None:
    """Return the CUDA caching allocator's memory to the driver (a no-op without CUDA)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(args: list[str] | None = None) -> int:
    """Entry point: ``python -m unipose_ros.ros.pose_node --ros-args --params-file ...``."""
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = PoseNode()
        except ValueError as e:  # parameters (only at construction: a ValueError while
            print(f"pose_node: {e}", flush=True)  # spinning is a bug, not a parameter error)
            return 2
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
