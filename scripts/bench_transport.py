#!/usr/bin/env python3
"""Camera images between two processes: how many arrive, and how late, per Fast DDS transport.

A publisher process sends 640x480 rgb8 images (reliable, as a replay does; best effort, as a
camera driver does) at a fixed rate; a subscriber process takes them with the sensor-data QoS
(best effort, depth 5), as the pose node does. Each row is one (transport, publisher QoS, fps)
run with fresh processes. Latency is publish() called -> callback (one machine, one clock).

    python scripts/bench_transport.py [--frames 90] [--fps 15 30] [--size 640x480]

Transports: ``default`` (Fast DDS's builtin UDP + small shared memory), ``LARGE_DATA``
(FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA) and ``profile`` (the package's profile,
unipose_ros/ros/fastdds_large_data.xml, in both processes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

TRANSPORTS = ("default", "LARGE_DATA", "profile")
QOS = ("reliable", "best_effort")


def transport_env(name: str, domain: int) -> dict[str, str]:
    """The environment of both processes for transport ``name``."""
    from unipose_ros.ros.dds import PROFILE, PROFILE_VARIABLES, profile_variables

    env = {k: v for k, v in os.environ.items()
           if k not in PROFILE_VARIABLES and k != "FASTDDS_BUILTIN_TRANSPORTS"}
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=str(domain))
    if name == "LARGE_DATA":
        env["FASTDDS_BUILTIN_TRANSPORTS"] = "LARGE_DATA"
    elif name == "profile":
        env.update({v: str(PROFILE) for v in profile_variables(env)})
    return env


def publisher(frames: int, fps: float, width: int, height: int, qos: str) -> None:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_transport_pub")
    reliability = ReliabilityPolicy.RELIABLE if qos == "reliable" else ReliabilityPolicy.BEST_EFFORT
    pub = node.create_publisher(Image, "bench_image", QoSProfile(depth=10, reliability=reliability))
    deadline = time.monotonic() + 10.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # let the subscriber's side finish matching
    msg = Image(height=height, width=width, encoding="rgb8", step=3 * width,
                data=bytes(3 * width * height))
    t0 = time.monotonic()
    for k in range(frames):
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 10**9)
        msg.header.frame_id = str(k)
        pub.publish(msg)
        wait = t0 + (k + 1) / fps - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()


def subscriber(frames: int, fps: float, depth: int = 5) -> None:
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_transport_sub")
    latency_ms: list[float] = []

    def take(msg: Image) -> None:
        sent = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        latency_ms.append((time.time_ns() - sent) / 1e6)

    qos = QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT)
    node.create_subscription(Image, "bench_image", take, qos)  # the sensor-data QoS at depth 5
    end = time.monotonic() + 12.0 + frames / fps
    while time.monotonic() < end and len(latency_ms) < frames:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({"received": len(latency_ms), "latency_ms": latency_ms}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def run(transport: str, qos: str, fps: float, frames: int, size: tuple[int, int], domain: int,
        depth: int = 5) -> dict:
    """One row: fresh subscriber (history ``depth``) and publisher processes."""
    env = transport_env(transport, domain)
    me = [sys.executable, os.path.abspath(__file__)]
    sub = subprocess.Popen(me + ["--role", "sub", "--frames", str(frames), "--fps", str(fps), "--depth", str(depth)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(1.0)
    subprocess.run(me + ["--role", "pub", "--frames", str(frames), "--fps", str(fps), "--size",
                         f"{size[0]}x{size[1]}", "--qos", qos], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    out, _ = sub.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    lat = np.array(result["latency_ms"]) if result["latency_ms"] else np.array([np.nan])
    return {"transport": transport, "qos": qos, "fps": fps, "received": result["received"],
            "sent": frames, "p50": float(np.median(lat)), "p95": float(np.percentile(lat, 95))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--fps", type=float, nargs="+", default=[15.0, 30.0])
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--transports", nargs="+", default=list(TRANSPORTS), choices=TRANSPORTS)
    ap.add_argument("--qos", nargs="+", default=list(QOS), choices=QOS, help="publisher reliability")
    ap.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", 59)))
    ap.add_argument("--depth", type=int, default=5, help="subscriber history depth (the node's qos_depth)")
    ap.add_argument("--role", choices=("pub", "sub"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.role == "pub":
        publisher(args.frames, args.fps[0], width, height, args.qos[0])
        return 0
    if args.role == "sub":
        subscriber(args.frames, args.fps[0], args.depth)
        return 0
    rows = [run(t, q, f, args.frames, (width, height), args.domain, args.depth)
            for t in args.transports for q in args.qos for f in args.fps]
    print(f"\n{width}x{height} rgb8 images between two processes, best-effort subscriber "
          f"(depth 5), {args.frames} frames per row")
    print(f"{'transport':>11} {'publisher':>11} {'fps':>4} {'received':>9} {'share':>6} "
          f"{'p50 (ms)':>9} {'p95 (ms)':>9}")
    for r in rows:
        print(f"{r['transport']:>11} {r['qos']:>11} {r['fps']:>4g} {r['received']:>4}/{r['sent']:<4} "
              f"{r['received'] / r['sent']:>6.2f} {r['p50']:>9.1f} {r['p95']:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
