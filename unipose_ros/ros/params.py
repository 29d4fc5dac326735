"""The pose node's parameters: declared with descriptions, read into one typed dataclass and
validated with messages that say what to change.

Defaults live in config/pose_node.yaml (``--ros-args --params-file config/pose_node.yaml``); the
values below are the fallbacks when no file is given and must agree with it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from unipose_ros.estimators.registry import ESTIMATORS, PRECISIONS
from unipose_ros.ros.qos import RELIABILITY

_DEVICE = re.compile(r"^(cpu|cuda|cuda:\d+)$")


@dataclass(frozen=True)
class PoseNodeParams:
    """Validated parameters of the pose node (see DESCRIPTIONS for each meaning)."""

    autostart: bool = True
    estimator: str = "depth"
    estimator_config: str = ""
    checkpoint: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    compile: bool = False
    cpu_threads: int = 0
    use_points: bool = False
    sync_tolerance_s: float = 0.02
    sync_queue_size: int = 10
    publish_tf: bool = True
    publish_markers: bool = True
    marker_lifetime_s: float = 0.2
    target_frame: str = ""
    frame_prefix: str = ""
    hri_prefix: str = "/humans"
    transport: str = "raw"
    qos_reliability: str = "best_effort"
    qos_depth: int = 5
    min_joint_confidence: float = 0.3
    no_input_warn_s: float = 5.0
    error_throttle_s: float = 5.0
    diagnostics_period_s: float = 1.0
    diagnostics_window_s: float = 5.0
    expected_rate_hz: float = 0.0
    max_input_age_ms: float = 0.0
    tracker_gate_m: float = 0.5
    tracker_max_age_s: float = 1.5
    tracker_min_hits: int = 1
    tracker_gate_growth_mps: float = 1.5
    tracker_predict_horizon_s: float = 0.0
    tracker_appearance_weight: float = 1.0
    tracker_reid_gate_m: float = 1.0
    smoothing_min_cutoff_hz: float = 0.0
    smoothing_beta: float = 0.7


DESCRIPTIONS: dict[str, str] = {
    "autostart": "Configure and activate the node at start (for ros2 run); false leaves it unconfigured for a "
                 "lifecycle manager (ros2 lifecycle set <node> configure, then activate).",
    "estimator": "Pose estimator to run: 'baseline' (2D keypoints on colour + depth lookup), "
                 "'depth', 'rgb' or 'pointcloud' (A2J networks on a person crop of that input; "
                 "all find people in the depth image), 'fused' (the three networks combined "
                 "per joint by confidence) or 'teacher_pointcloud' (2D teacher on colour + a point "
                 "network with teacher keypoint channels, trained by the weakly supervised pipeline).",
    "estimator_config": "YAML file with the estimator's settings (e.g. config/baseline.yaml, "
                        "config/learned.yaml, config/fused.yaml); empty: the estimator's defaults.",
    "checkpoint": "Checkpoint file (.pt) of a learned estimator (depth, rgb, pointcloud); empty: "
                  "the checkpoint bundled for that estimator (unipose_ros/checkpoints/<kind>_a2j.pt). "
                  "For 'fused' leave it empty and set the member files in estimator_config.",
    "device": "Torch device for the estimator: 'cpu', 'cuda' or 'cuda:N'.",
    "precision": "Inference precision of learned estimators: 'fp32', 'fp16' or 'bf16' (autocast; "
                 "fp16 and bf16 are meant for GPUs, bf16 also runs on CPUs).",
    "compile": "Compile the learned estimator's network with torch.compile (slower start, faster "
               "frames on a GPU).",
    "cpu_threads": "Torch threads for a learned estimator on the CPU; 0: half the CPU cores (1 to 4), "
                   "leaving the rest to the camera driver and the transport (on 2 cores one thread "
                   "gives 47 ms end to end at 15 fps where two give 95 ms).",
    "use_points": "Also subscribe to 'points' (sensor_msgs/PointCloud2) and pass the cloud to "
                  "the estimator; every synchronised set then needs a cloud.",
    "sync_tolerance_s": "Largest stamp difference (s) between colour, depth, camera_info (and "
                        "cloud) in one synchronised set; about one frame period or less.",
    "sync_queue_size": "Messages kept per input while waiting for their partners.",
    "publish_tf": "Publish body_<id> and <joint>_<id> frames on /tf.",
    "frame_prefix": "Prefix of every TF frame the node publishes (e.g. 'front/'), so that two cameras' "
                    "frames never collide; empty: REP-155 names (body_<id>, head_<id>, ...).",
    "hri_prefix": "Topic prefix of the ROS4HRI (REP-155) output: <prefix>/bodies/tracked (hri_msgs/IdsList), "
                  "<prefix>/bodies/<id>/roi and /skeleton2d; empty: no REP-155 output.",
    "publish_markers": "Publish visualization_msgs/MarkerArray on 'markers'.",
    "marker_lifetime_s": "Lifetime (s) of the skeleton markers, so stale people disappear.",
    "target_frame": "Frame to express outputs in (needs tf2_ros); empty: the camera optical "
                    "frame of the input image.",
    "transport": "Image transport of colour and depth: 'raw' (sensor_msgs/Image) or 'compressed' "
                 "(sensor_msgs/CompressedImage on image_transport's <image>/compressed, JPEG or PNG, and "
                 "<depth_image>/compressedDepth, PNG).",
    "qos_reliability": "Reliability of the camera subscriptions: best_effort (sensor-data QoS, "
                       "matches camera drivers), reliable or system_default.",
    "qos_depth": "History depth of the camera subscriptions.",
    "min_joint_confidence": "Joints below this confidence are not drawn in the markers (display "
                            "only: the skeletons topic always carries every joint).",
    "no_input_warn_s": "Warn when no synchronised input arrived for this long (s); 0 disables.",
    "error_throttle_s": "The same input error is logged at most once per this period (s).",
    "diagnostics_period_s": "Period (s) of diagnostic_msgs/DiagnosticArray on /diagnostics; "
                            "0 disables.",
    "diagnostics_window_s": "The diagnostic level looks at this recent window (s): WARN while input "
                            "errors or a low input rate fall in it, ERROR when no frame was published "
                            "in it although input arrived, OK again once the window is clean.",
    "expected_rate_hz": "Expected synchronised input rate (Hz, the camera's frame rate); a rate "
                        "below 70 % of it over the window is a WARN. 0 disables the check.",
    "max_input_age_ms": "The worker drops a synchronised set whose stamp is older than this (ms) on the node's "
                        "clock when it is about to be processed (a late frame is worth less than the next one); "
                        "0 disables. Needs camera stamps on the same clock as the node (or use_sim_time).",
    "tracker_gate_m": "A person farther than this (m) from a track's predicted path (from where it was last seen "
                      "to its constant-velocity prediction) starts a new track.",
    "tracker_max_age_s": "A track unseen for longer than this (s, input stamps) expires; its id is never reused.",
    "tracker_gate_growth_mps": "The gate of a track unseen for a while widens by this much (m) per second since "
                               "its last match: a person missed by the detector may reappear farther from the "
                               "path. 0 keeps tracker_gate_m.",
    "tracker_predict_horizon_s": "A track's path is extrapolated with its velocity for at most this long (s) "
                                 "after its last match, then held (so that a newcomer far ahead of someone lost "
                                 "seconds ago does not take their id; the gate still widens). 0: no limit.",
    "tracker_reid_gate_m": "With tracker_appearance_weight, metres added to the gate of a track whose clothes "
                           "colour matches the person's (someone missed for a few frames who reappears a little "
                           "off their path keeps their id). 0 disables.",
    "tracker_appearance_weight": "Metres added to the matching cost per unit of colour distance (RGB in [0, 1]) "
                                 "between a person's clothes and a track's (sampled along the bones where the "
                                 "depth agrees); needs colour. 0 disables.",
    "tracker_min_hits": "Frames a track must be seen in before its id is published (before that the "
                        "skeleton carries track id -1 and gets no TF frames).",
    "smoothing_min_cutoff_hz": "One Euro filter on each track's joints: cutoff (Hz) of a still joint; "
                               "0 disables smoothing (1.0 with beta 0.7: 55 ms lag at 1 m/s, measured at 30 Hz).",
    "smoothing_beta": "One Euro filter: cutoff increase per m/s of joint speed (more: less lag when moving).",
}


def declare_parameters(node: Node, defaults: PoseNodeParams | None = None) -> None:
    """Declare every parameter of :class:`PoseNodeParams` on ``node`` with its description."""
    defaults = defaults or PoseNodeParams()
    for f in fields(PoseNodeParams):
        node.declare_parameter(f.name, getattr(defaults, f.name),
                               ParameterDescriptor(name=f.name, description=DESCRIPTIONS[f.name]))


def _typed(name: str, value: Any) -> Any:
    default = getattr(PoseNodeParams, name)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not type(default):
        raise ValueError(f"parameter {name!r} must be {type(default).__name__}, got {value!r}")
    return value


def read_parameters(node: Node) -> PoseNodeParams:
    """Read the declared parameters and validate them (ValueError naming the parameter)."""
    return validate(PoseNodeParams(**{f.name: _typed(f.name, node.get_parameter(f.name).value)
                                      for f in fields(PoseNodeParams)}))


def validate_changes(params: PoseNodeParams, changes: dict[str, Any]) -> PoseNodeParams:
    """``params`` with ``changes`` (name -> value) applied and validated (ValueError naming the
    parameter); names that are not node parameters are ignored."""
    from dataclasses import replace

    known = {f.name for f in fields(PoseNodeParams)}
    return validate(replace(params, **{k: _typed(k, v) for k, v in changes.items() if k in known}))


def smoothing(p: PoseNodeParams) -> tuple[float, float] | None:
    """The tracker's One Euro settings (min_cutoff_hz, beta); None when smoothing is off."""
    return (p.smoothing_min_cutoff_hz, p.smoothing_beta) if p.smoothing_min_cutoff_hz > 0 else None


def predict_horizon(p: PoseNodeParams) -> float | None:
    """The tracker's prediction horizon (s); None (no limit) for ``tracker_predict_horizon_s`` 0."""
    return p.tracker_predict_horizon_s or None


def make_tracker(p: PoseNodeParams, first_id: int = 0):
    """The node's :class:`~unipose_ros.core.tracking.SkeletonTracker` for these parameters."""
    from unipose_ros.core.tracking import SkeletonTracker

    return SkeletonTracker(gate_m=p.tracker_gate_m, max_age_s=p.tracker_max_age_s, min_hits=p.tracker_min_hits,
                           smoothing=smoothing(p), first_id=first_id, gate_growth_mps=p.tracker_gate_growth_mps,
                           predict_horizon=predict_horizon(p),
                           appearance_weight=p.tracker_appearance_weight,
                           reid_gate_m=p.tracker_reid_gate_m)


def uses_torch_cpu(p: PoseNodeParams) -> bool:
    """True when the estimator is a torch network on the CPU (``cpu_threads`` applies)."""
    return p.estimator != "baseline" and p.device == "cpu"


def cpu_threads(p: PoseNodeParams, cores: int | None = None) -> int:
    """Torch intra-op threads for the estimator: ``p.cpu_threads``, or for 0 half of ``cores``
    (default: the CPUs this process may run on), at least 1 and at most 4."""
    if p.cpu_threads > 0:
        return p.cpu_threads
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores // 2))


def validate(p: PoseNodeParams) -> PoseNodeParams:
    """Check ranges and choices; raise ValueError with a message that says what to set."""
    problems = []
    if not _DEVICE.match(p.device):
        problems.append(f"device {p.device!r}: use 'cpu', 'cuda' or 'cuda:N' (N a GPU index)")
    if p.estimator not in ESTIMATORS:
        problems.append(f"estimator {p.estimator!r}: use one of {', '.join(ESTIMATORS)}")
    if p.precision not in PRECISIONS:
        problems.append(f"precision {p.precision!r}: use one of {', '.join(PRECISIONS)}")
    if p.checkpoint and p.estimator in ("baseline", "fused"):
        problems.append(f"checkpoint {p.checkpoint!r} does not apply to estimator {p.estimator!r}: "
                        + ("leave it empty (the baseline has no checkpoint)" if p.estimator == "baseline"
                           else "leave it empty and set depth_checkpoint / rgb_checkpoint / "
                                "pointcloud_checkpoint in the fused estimator_config"))
    if not 0.0 <= p.sync_tolerance_s <= 1.0:
        problems.append(f"sync_tolerance_s {p.sync_tolerance_s}: use 0..1 s (about one frame "
                        "period, e.g. 0.02 for 30 fps)")
    if p.cpu_threads < 0:
        problems.append(f"cpu_threads {p.cpu_threads}: use >= 1, or 0 for half the CPU cores")
    if p.sync_queue_size < 1:
        problems.append(f"sync_queue_size {p.sync_queue_size}: use >= 1")
    if p.marker_lifetime_s < 0:
        problems.append(f"marker_lifetime_s {p.marker_lifetime_s}: use >= 0 (0 = forever)")
    if p.hri_prefix and not p.hri_prefix.startswith("/"):
        problems.append(f"hri_prefix {p.hri_prefix!r}: use an absolute topic prefix such as '/humans', or '' for none")
    if p.transport not in ("raw", "compressed"):
        problems.append(f"transport {p.transport!r}: use 'raw' or 'compressed'")
    if p.qos_reliability not in RELIABILITY:
        problems.append(f"qos_reliability {p.qos_reliability!r}: use one of {sorted(RELIABILITY)}")
    if p.qos_depth < 1:
        problems.append(f"qos_depth {p.qos_depth}: use >= 1")
    if not 0.0 <= p.min_joint_confidence <= 1.0:
        problems.append(f"min_joint_confidence {p.min_joint_confidence}: use 0..1")
    if p.max_input_age_ms < 0:
        problems.append(f"max_input_age_ms {p.max_input_age_ms}: use >= 0 (0 disables)")
    if p.tracker_gate_m <= 0 or p.tracker_max_age_s <= 0:
        problems.append(f"tracker_gate_m {p.tracker_gate_m} and tracker_max_age_s {p.tracker_max_age_s}: use > 0")
    if p.tracker_gate_growth_mps < 0:
        problems.append(f"tracker_gate_growth_mps {p.tracker_gate_growth_mps}: use >= 0")
    if p.tracker_predict_horizon_s < 0:
        problems.append(f"tracker_predict_horizon_s {p.tracker_predict_horizon_s}: use >= 0")
    if p.tracker_reid_gate_m < 0:
        problems.append(f"tracker_reid_gate_m {p.tracker_reid_gate_m}: use >= 0 (0 disables)")
    if p.tracker_appearance_weight < 0:
        problems.append(f"tracker_appearance_weight {p.tracker_appearance_weight}: use >= 0 (0 disables)")
    if p.tracker_min_hits < 1:
        problems.append(f"tracker_min_hits {p.tracker_min_hits}: use >= 1")
    if p.smoothing_min_cutoff_hz < 0 or p.smoothing_beta < 0:
        problems.append(f"smoothing_min_cutoff_hz {p.smoothing_min_cutoff_hz} and smoothing_beta "
                        f"{p.smoothing_beta}: use >= 0 (cutoff 0 disables smoothing)")
    if p.diagnostics_window_s <= 0:
        problems.append(f"diagnostics_window_s {p.diagnostics_window_s}: use > 0 s (e.g. 5)")
    for name in ("no_input_warn_s", "error_throttle_s", "diagnostics_period_s", "expected_rate_hz"):
        if getattr(p, name) < 0:
            problems.append(f"{name} {getattr(p, name)}: use >= 0")
    if problems:
        raise ValueError("invalid pose node parameters: " + "; ".join(problems))
    return p
