"""The demo: replay a recording through the real pose node and write what a user wants to see.

    python -m unipose_ros.cli.demo [--out demo_output] [--recording PATH] [--config config/demo.yaml]

Without ``--recording`` it replays the sample recording (generated once with exact ground truth and
cached under ``.cache/``). The pose node runs as its own process with real DDS; this process replays
the recording and records the node's outputs. Writes into ``--out``:

- ``recording/``: rosbag2 (MCAP) of /skeletons, /markers, /tf as the node published them;
- ``overlay.mp4`` and ``overlay_grid.png``: skeletons drawn on the colour images (ground truth in white);
- ``per_joint_error.png``: per-joint error bars (when ground truth exists);
- ``summary.json``: frames in/out, people per frame, latency p50/p95, MPJPE and mAP@10cm.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from unipose_ros.core.config import load_yaml
from unipose_ros.core.metrics import PoseEvaluator, percentiles
from unipose_ros.core.package_files import cache_root, config_path
from unipose_ros.core.pose import PersonPose
from unipose_ros.ros.dds import use_large_data_profile


@dataclass
class SampleConfig:
    """The sample recording generated when no recording is given."""

    frames: int = 60
    people: int = 1
    resolution: str = "640x480"
    seed: int = 7


@dataclass
class DemoConfig:
    """Demo settings (config/demo.yaml)."""

    recording: str | None = None
    sample: SampleConfig = field(default_factory=SampleConfig)
    rate: float = 1.0  # replay speed factor
    node_params: str = "config/pose_node.yaml"
    joint_set: str = "itop15"
    startup_timeout_s: float = 120.0
    drain_timeout_s: float = 10.0
    overlay_grid_frames: int = 6



def cache_dir() -> Path:
    return cache_root()


def ensure_sample(cfg: SampleConfig) -> Path:
    """Path of the sample recording, generating it once (cached by its settings)."""
    from unipose_ros.synthetic.recording import PLANNER_VERSION, GeneratorConfig, generate_recording

    key = f"sample_{cfg.resolution}_{cfg.people}p_{cfg.frames}f_s{cfg.seed}_m{PLANNER_VERSION}"
    path = cache_dir() / "samples" / key
    if (path / "metadata.yaml").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"[demo] generating the sample recording {key} (once; cached in {path.parent})", flush=True)
    width, height = (int(v) for v in cfg.resolution.lower().split("x"))
    gen = GeneratorConfig(frames=cfg.frames, people=cfg.people, resolution=(width, height), seed=cfg.seed)
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    generate_recording(tmp, gen, progress=True)
    tmp.rename(path)
    return path


def _node_command(cfg: DemoConfig, topics) -> list[str]:
    return [
        sys.executable, "-m", "unipose_ros.ros.pose_node", "--ros-args",
        "--params-file", str(config_path(cfg.node_params)),
        "-r", f"image:={topics.color}", "-r", f"depth_image:={topics.depth}",
        "-r", f"camera_info:={topics.color_info}", "-r", f"points:={topics.points}",
    ]


def run_demo(cfg: DemoConfig, out: Path) -> dict:
    """Run the demo end to end; returns the summary (also written to ``out/summary.json``)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import deserialize_message

    from unipose_ros.io.bag import RecordingReader, RecordingTopics
    from unipose_ros.io.skeleton import msg_to_poses
    from unipose_ros.ros.recorder import TopicRecorder
    from unipose_ros.ros.replay import message_class, replay

    t_start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "recording", ignore_errors=True)  # a new run replaces the previous outputs
    bag_path = Path(cfg.recording) if cfg.recording else ensure_sample(cfg.sample)
    reader = RecordingReader(bag_path)
    topics = RecordingTopics()
    if topics.color not in reader.topics:
        raise SystemExit(f"{bag_path} has no {topics.color} topic; topics: {sorted(reader.topics)}")
    frames_in = reader.topics[topics.color].count

    # this process (replay, recorder) and the node's: localhost discovery, the large-data profile
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    use_large_data_profile(os.environ)
    env = dict(os.environ)
    print(f"[demo] starting the pose node on {bag_path.name}", flush=True)
    node_log = open(out / "pose_node.log", "w")
    proc = subprocess.Popen(_node_command(cfg, topics), env=env, stdout=node_log, stderr=subprocess.STDOUT)

    out_topics = {"/skeletons": "unipose_ros/msg/Skeleton3DArray",
                  "/markers": "visualization_msgs/msg/MarkerArray",
                  "/tf": "tf2_msgs/msg/TFMessage",
                  "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
                  topics.color: "sensor_msgs/msg/Image"}
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        recorder = TopicRecorder(out_topics, context=context)
        player = rclpy.create_node("unipose_demo_replay", context=context)
        executor.add_node(recorder)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        # Wait for the node: it subscribes once its estimator is loaded (the recorder is the other
        # subscriber of the colour topic).
        deadline = time.monotonic() + cfg.startup_timeout_s
        while recorder.count_subscribers(topics.color) < 2:
            if proc.poll() is not None:
                raise SystemExit(f"the pose node exited with code {proc.returncode}; see {out / 'pose_node.log'}")
            if time.monotonic() > deadline:
                raise SystemExit(f"the pose node did not come up in {cfg.startup_timeout_s} s; see {out / 'pose_node.log'}")
            time.sleep(0.2)
        print(f"[demo] replaying {frames_in} frames at rate {cfg.rate}", flush=True)
        stats = replay(bag_path, player, rate=cfg.rate, start_delay_s=1.0)
        # Drain: wait until the node has gone quiet.
        last, quiet_since, t_drain = -1, time.monotonic(), time.monotonic()
        while time.monotonic() - quiet_since < 2.0 and time.monotonic() - t_drain < cfg.drain_timeout_s:
            n = recorder.counts["/skeletons"]
            if n != last:
                last, quiet_since = n, time.monotonic()
            time.sleep(0.1)
        recorded = recorder.snapshot()
        counts = dict(recorder.counts)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        node_log.close()
        executor.shutdown()
        rclpy.shutdown(context=context)

    # ---- evaluate --------------------------------------------------------------------------------
    image_recv: dict[int, int] = {}
    skeletons: dict[int, list[PersonPose]] = {}
    latencies, people = [], []
    sk_cls = message_class(out_topics["/skeletons"])
    img_cls = message_class(out_topics[topics.color])
    for m in recorded:
        if m.topic == topics.color:
            msg = deserialize_message(m.rawdata, img_cls)
            image_recv[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec] = m.recv_ns
    for m in recorded:
        if m.topic != "/skeletons":
            continue
        msg = deserialize_message(m.rawdata, sk_cls)
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        poses = msg_to_poses(msg)
        skeletons[stamp] = poses
        people.append(len(poses))
        if stamp in image_recv:
            latencies.append((m.recv_ns - image_recv[stamp]) / 1e6)

    summary: dict = {
        "recording": str(bag_path),
        "frames_in": int(frames_in),
        "frames_out": len(skeletons),
        "frames_dropped": int(frames_in) - len(skeletons),
        "people_per_frame": people,
        "people_per_frame_mean": float(np.mean(people)) if people else 0.0,
        "latency_ms": percentiles(latencies),
        "replay_rate": cfg.rate,
        "messages_received": counts,
        "replay": {"published": dict(stats.published), "failed": dict(stats.failed),
                   "max_lag_s": round(stats.max_lag_s, 4)},
    }
    gt = reader.ground_truth(cfg.joint_set) if f"/ground_truth/skeletons/{cfg.joint_set}" in reader.topics else {}
    evaluator = None
    if gt:
        names = next(iter(p for ps in gt.values() for p in ps)).joint_set
        evaluator = PoseEvaluator(names.joints)
        for stamp, poses in skeletons.items():
            if stamp in gt:
                evaluator.add_frame([p.joints for p in poses], [g.joints for g in gt[stamp]], root=names.root)
        metrics = evaluator.summary()
        summary["mpjpe_mm"] = metrics["mpjpe_mm"]
        summary["map_10cm"] = metrics["map_10cm"]
        summary["evaluation"] = metrics

    diag_cls = message_class(out_topics["/diagnostics"])
    diagnostics = [deserialize_message(m.rawdata, diag_cls) for m in recorded if m.topic == "/diagnostics"]
    summary["node"] = node_report(diagnostics)
    summary["estimator_only"] = evaluate_estimator_offline(reader, gt, cfg)
    in_node = summary["node"].get("estimator_ms_median", float("nan"))
    if summary["latency_ms"]["p50"] is not None and np.isfinite(in_node):
        # what the node adds to its own estimator's time (transport both ways, conversion,
        # tracking, messages); the estimator is slower in the node than alone when the replay
        # and the recorder share the cores with it
        summary["node_added_latency_ms_p50"] = round(summary["latency_ms"]["p50"] - in_node, 2)

    # ---- outputs ---------------------------------------------------------------------------------
    from unipose_ros.cli.overlay import write_overlays
    from unipose_ros.io.bag import write_raw_recording

    write_raw_recording(out / "recording", [(m.topic, m.msgtype, m.recv_ns, m.rawdata)
                                            for m in recorded if m.topic in ("/skeletons", "/markers", "/tf")])
    write_overlays(reader, skeletons, gt, out, grid_frames=cfg.overlay_grid_frames,
                   per_joint=summary.get("evaluation"))
    summary["wall_s"] = round(time.monotonic() - t_start, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


#: /diagnostics values that account for every input frame (pose_node._publish_diagnostics)
COUNT_KEYS = ("received_", "missing_upstream_", "sync_dropped_", "stale_dropped", "too_old_dropped",
              "processed", "published")


def node_report(diagnostics: list) -> dict[str, float]:
    """Where the node's input frames went, from the last of its ``/diagnostics`` messages
    (diagnostic_msgs/DiagnosticArray): messages received per input, dropped by the synchroniser
    per input, sets dropped as stale (a newer one arrived while the estimator ran) or too old,
    frames processed and published; and the medians (ms, recent window) of the estimator's time in
    the node, of a complete set's wait for the worker (the rest of the previous frame's run) and
    of the node's own work per frame (conversion, tracking, messages). Empty when no diagnostics were received."""
    for array in reversed(diagnostics):
        for status in array.status:
            values = {kv.key: kv.value for kv in status.values}
            if "processed" in values:
                out: dict[str, float] = {k: int(float(v)) for k, v in values.items() if k.startswith(COUNT_KEYS)}
                for k in ("estimator_ms_median", "estimator_ms_p95", "wait_ms_median", "overhead_ms_median"):
                    out[k] = round(float(values.get(k, "nan")), 2)
                return out
    return {}


def evaluate_estimator_offline(reader, gt: dict[int, list[PersonPose]], cfg: DemoConfig) -> dict:
    """Run the node's estimator in this process on EVERY frame (no ROS, no drops): its own latency
    and its accuracy over the whole recording, to compare with what the node delivered live."""
    from unipose_ros.core.tracking import SkeletonTracker
    from unipose_ros.ros.params import PoseNodeParams
    from unipose_ros.ros.pose_node import build_estimator

    params = yaml.safe_load(config_path(cfg.node_params).read_text())["/**"]["ros__parameters"]
    estimator = build_estimator(PoseNodeParams(**{k: v for k, v in params.items()
                                                  if k in PoseNodeParams.__dataclass_fields__}))
    tracker = SkeletonTracker()
    times, evaluator = [], None
    try:
        for frame in reader.frames(points=False):
            t0 = time.perf_counter()
            poses = tracker.update(estimator.estimate(frame))
            times.append((time.perf_counter() - t0) * 1e3)
            truth = gt.get(frame.stamp_ns)
            if truth:
                js = truth[0].joint_set
                evaluator = evaluator or PoseEvaluator(js.joints)
                evaluator.add_frame([p.joints for p in poses], [g.joints for g in truth], root=js.root)
    finally:
        estimator.close()
    out: dict = {"estimator": estimator.name, "frames": len(times), "latency_ms": percentiles(times)}
    if evaluator is not None:
        m = evaluator.summary()
        out.update(mpjpe_mm=m["mpjpe_mm"], map_10cm=m["map_10cm"], missed=m["missed"],
                   false_positives=m["false_positives"])
    return out


def print_summary(s: dict) -> None:
    lat = s["latency_ms"]
    rows = [("frames in / out", f"{s['frames_in']} / {s['frames_out']}"),
            ("people per frame (mean)", f"{s['people_per_frame_mean']:.2f}"),
            ("latency p50 / p95 (ms)", f"{lat['p50']:.1f} / {lat['p95']:.1f}" if lat["p50"] is not None else "n/a")]
    if "mpjpe_mm" in s:
        rows += [("MPJPE (mm)", f"{s['mpjpe_mm']:.1f}" if s["mpjpe_mm"] is not None else "n/a"),
                 ("mAP@10cm", f"{s['map_10cm']:.3f}" if s["map_10cm"] is not None else "n/a")]
    off = s.get("estimator_only")
    if off:
        rows.append(("estimator alone, all frames", ""))
        rows.append(("  latency p50 / p95 (ms)", f"{off['latency_ms']['p50']:.1f} / {off['latency_ms']['p95']:.1f}"))
        if off.get("mpjpe_mm") is not None:
            rows.append(("  MPJPE (mm) / mAP@10cm", f"{off['mpjpe_mm']:.1f} / {off['map_10cm']:.3f}"))
    node = s.get("node")
    if node:
        rows.append(("inside the node", ""))
        rows.append(("  estimator p50 / p95 (ms)", f"{node['estimator_ms_median']:.1f} / {node['estimator_ms_p95']:.1f}"))
        if "node_added_latency_ms_p50" in s:
            rows.append(("  end to end - estimator p50 (ms)", f"{s['node_added_latency_ms_p50']:.1f}"))
        rows.append(("  of which: waiting for the previous frame / node's own work p50 (ms)",
                     f"{node['wait_ms_median']:.1f} / {node['overhead_ms_median']:.1f}"))
        got = " / ".join(str(v) for k, v in node.items() if k.startswith("received_"))
        rows.append(("  received (image / depth / info)", got))
        lost = sum(v for k, v in node.items() if k.startswith("sync_dropped_"))
        rows.append(("  dropped: unsynced / stale / too old",
                     f"{lost} / {node.get('stale_dropped', 0)} / {node.get('too_old_dropped', 0)}"))
    rows.append(("wall time (s)", f"{s['wall_s']}"))
    w = max(len(r[0]) for r in rows)
    print("\n".join(f"  {k.ljust(w)}  {v}" for k, v in rows))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("demo_output"))
    ap.add_argument("--recording", type=str, default=None, help="rosbag2 recording to replay (default: sample)")
    ap.add_argument("--config", type=Path, default=None, help="demo settings (default: the package's config/demo.yaml)")
    ap.add_argument("--rate", type=float, default=None, help="replay speed factor")
    args = ap.parse_args(argv)
    config = args.config or config_path("config/demo.yaml")
    cfg = load_yaml(DemoConfig, config) if config.exists() else DemoConfig()
    if args.recording:
        cfg.recording = args.recording
    if args.rate:
        cfg.rate = args.rate
    summary = run_demo(cfg, args.out)
    print(f"[demo] outputs in {args.out}/")
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
