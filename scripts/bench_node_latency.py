#!/usr/bin/env python3
"""Latency the pose node adds on top of its estimator, with real rclpy and Fast DDS.

A plain publisher node sends colour + 16UC1 depth + camera_info frames; the pose node (spinning
in an executor thread) runs a deterministic stand-in estimator (the test suite's centroid
estimator, optionally with an artificial delay); a plain subscriber receives the skeletons.
All three live in one process and talk through DDS (the package's Fast DDS profile,
unipose_ros.ros.dds); scripts/bench_transport.py measures the transport between processes.

    python scripts/bench_node_latency.py [--frames 60] [--fps 15] [--delay-ms 0]

Columns: end to end = the publisher's publish() calls of a frame returned (their
serialisation, the camera driver's cost, is not counted) -> skeleton received; estimator = time inside
estimate(); added = end to end - estimator (transport of inputs and outputs, synchronisation,
conversion to numpy, tracking, building and publishing skeletons, markers and TF);
to-pub = frame stamp (taken before the inputs are built and serialised) -> the node's publish
calls returned.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))  # the stand-in estimator and message helpers


class TimedEstimator:
    """Wraps an estimator and records the time of each ``estimate`` call by frame stamp."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name, self.joint_set, self.modality = inner.name, inner.joint_set, inner.modality
        self.durations: dict[int, float] = {}

    def estimate(self, frame):
        t0 = time.perf_counter()
        out = self.inner.estimate(frame)
        self.durations[frame.stamp_ns] = time.perf_counter() - t0
        return out

    def close(self) -> None:
        self.inner.close()


def run_node(estimator, frames: list, fps: float, domain: int, label: str = "") -> dict:
    """Send ``frames`` (list of (camera, depth metres, rgb)) at ``fps`` through a real PoseNode
    running ``estimator``; return latency statistics (ms) of the frames that came out."""
    import rclpy
    from conftest import Collector, InputPublisher, make_inputs, wait_for
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter

    from unipose_ros.msg import Skeleton3DArray
    from unipose_ros.ros.pose_node import PoseNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    ns = f"/bench{os.getpid()}"
    est = TimedEstimator(estimator)
    node = PoseNode(estimator=est, context=ctx, namespace=ns,
                    parameter_overrides=[Parameter("diagnostics_period_s", value=0.0)])
    inputs = InputPublisher(ctx, ns)
    out = Collector(ctx, {f"{ns}/skeletons": Skeleton3DArray})
    executor = MultiThreadedExecutor(num_threads=4, context=ctx)
    for n in (node, inputs.node, out.node):
        executor.add_node(n)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert inputs.wait_connected() and out.wait_connected(), "discovery failed"
        time.sleep(0.3)
        for cam, depth, rgb in frames:
            stamp = node.get_clock().now().nanoseconds
            inputs.send(make_inputs(cam, stamp, depth_m=depth, rgb=rgb))
            time.sleep(1.0 / fps)
        wait_for(lambda: len(out.received[f"{ns}/skeletons"]) >= len(est.durations), 5.0)
        e2e, est_t = [], []
        for t_recv, msg in out.received[f"{ns}/skeletons"]:
            s = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            e2e.append(t_recv - inputs.published[s])
            est_t.append(est.durations[s])
        to_publish = np.array(node.stats.latency_s)  # stamp (= send time) -> publish returned
    finally:
        executor.shutdown(timeout_sec=2.0)
        for n in (node, inputs.node, out.node):
            n.destroy_node()
        rclpy.try_shutdown(context=ctx)
    e2e, est_t = np.array(e2e) * 1e3, np.array(est_t) * 1e3
    added = e2e - est_t
    cam = frames[0][0]
    return dict(label=label, size=f"{cam.width}x{cam.height}", sent=len(frames), received=len(e2e),
                pub_med=np.median(to_publish) * 1e3,
                e2e_med=np.median(e2e), e2e_p95=np.percentile(e2e, 95),
                est_med=np.median(est_t), added_med=np.median(added),
                added_p95=np.percentile(added, 95), added_max=added.max())


def run(width: int, height: int, frames: int, fps: float, delay_s: float, domain: int) -> dict:
    """The stand-in centroid estimator on a flat synthetic frame of ``width`` x ``height``."""
    from conftest import CentroidEstimator

    from unipose_ros.core.camera import PinholeCamera

    cam = PinholeCamera.from_fov(width, height, 69.0)
    depth = np.full((height, width), np.nan, np.float32)
    depth[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = 2.0
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    return run_node(CentroidEstimator(delay_s), [(cam, depth, rgb)] * frames, fps, domain)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="artificial estimator time added to the centroid estimator")
    parser.add_argument("--sizes", nargs="+", default=["320x240", "640x480", "1280x720"])
    parser.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", 57)))
    args = parser.parse_args()
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from unipose_ros.ros.dds import use_large_data_profile

    use_large_data_profile(os.environ)
    rows = [run(*map(int, s.split("x")), args.frames, args.fps, args.delay_ms / 1e3, args.domain)
            for s in args.sizes]
    print(f"\npose node latency ({args.frames} frames at {args.fps:g} fps, "
          f"Fast DDS profile {os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE', 'none')})")
    head = (f"{'image':>10} {'recv/sent':>9} {'e2e med':>8} {'e2e p95':>8} {'estim med':>9} "
            f"{'added med':>9} {'added p95':>9} {'added max':>9} {'to-pub med':>10}   (ms)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['size']:>10} {r['received']:>4}/{r['sent']:<4} {r['e2e_med']:8.2f} "
              f"{r['e2e_p95']:8.2f} {r['est_med']:9.2f} {r['added_med']:9.2f} "
              f"{r['added_p95']:9.2f} {r['added_max']:9.2f} {r['pub_med']:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
