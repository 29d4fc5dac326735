"""Test isolation for real rclpy, and small helpers shared by the ROS tests.

* DDS discovery stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) and every
  pytest-xdist worker gets its own ROS_DOMAIN_ID (base 20 + worker index; the base can be moved
  with UNIPOSE_TEST_DOMAIN_BASE so that two test runs on one machine do not meet).
* Large messages go through the package's Fast DDS profile (a 64 MB shared-memory segment,
  unipose_ros.ros.dds), which does not lose best-effort images between processes the way the
  default transports do.
* Every test gets its own rclpy Context (``ros_context``) and an executor spinning in a thread
  (``spin``); nodes created on the context are destroyed at the end of the test.
* Shared-memory files that Fast DDS left behind after a crash are removed for our domain only
  (ports of this domain, files no live process maps).
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from unipose_ros.ros.dds import large_data_environment

_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_index = int(_worker[2:]) if _worker.startswith("gw") and _worker[2:].isdigit() else 0
DOMAIN_ID = int(os.environ.get("UNIPOSE_TEST_DOMAIN_BASE", "20")) + _index
os.environ["ROS_DOMAIN_ID"] = str(DOMAIN_ID)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.update(large_data_environment(os.environ))
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _mapped_shm_files() -> set[str]:
    """Paths under /dev/shm mapped by any process we can inspect (i.e. still in use)."""
    used: set[str] = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            for line in maps.read_text().splitlines():
                i = line.find("/dev/shm/")
                if i >= 0:
                    used.add(line[i:].split(" (deleted)")[0])
        except OSError:
            continue
    return used


def cleanup_fastdds_shm(domain_id: int = DOMAIN_ID) -> list[str]:
    """Remove /dev/shm/fastdds_port<N>* files of ``domain_id``'s ports (7400 + 250 * domain ..
    + 250) that belong to us and that no live process maps. Returns the removed paths."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return []
    lo, hi = 7400 + 250 * domain_id, 7400 + 250 * (domain_id + 1)
    used = _mapped_shm_files()
    removed = []
    for f in shm.glob("fastdds_port*"):
        digits = "".join(c for c in f.name[len("fastdds_port"):] if c.isdigit())
        try:
            port = int(digits[:5]) if digits else -1
            if lo <= port < hi and str(f) not in used and f.stat().st_uid == os.getuid():
                f.unlink()
                removed.append(str(f))
        except (OSError, ValueError):
            continue
    return removed


@pytest.fixture(scope="session", autouse=True)
def _fastdds_shm_cleanup():
    cleanup_fastdds_shm()
    yield
    cleanup_fastdds_shm()


@pytest.fixture
def ros_context():
    """A fresh rclpy Context initialised on this worker's domain, shut down after the test."""
    rclpy = pytest.importorskip("rclpy")
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


@pytest.fixture
def spin(ros_context):
    """``spin(*nodes)``: spin the nodes in a multi-threaded executor in a background thread
    until the end of the test; the nodes are destroyed afterwards."""
    from rclpy.executors import MultiThreadedExecutor

    executor = MultiThreadedExecutor(num_threads=4, context=ros_context)
    nodes = []
    thread = threading.Thread(target=executor.spin, daemon=True)

    def add(*new_nodes):
        for n in new_nodes:
            executor.add_node(n)
            nodes.append(n)
        if not thread.is_alive():
            thread.start()
        return new_nodes[0] if len(new_nodes) == 1 else new_nodes

    yield add
    executor.shutdown(timeout_sec=2.0)
    thread.join(timeout=5.0)
    for n in nodes:
        n.destroy_node()


@pytest.fixture
def namespace() -> str:
    """A namespace unique to this test, so runs that share a domain do not see each other."""
    return "/t" + uuid.uuid4().hex[:10]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, period: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` (s) passes; return its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


# A standing person in body coordinates (x forward, y left, z up; metres; origin at the hip
# midpoint), ITOP-15 order: head, neck, r/l shoulder, r/l elbow, r/l hand, torso, r/l hip,
# r/l knee, r/l foot.
STANDING_ITOP15_BODY = np.array([
    [0.0, 0.0, 0.75], [0.0, 0.0, 0.5], [0.0, -0.2, 0.5], [0.0, 0.2, 0.5],
    [0.0, -0.25, 0.2], [0.0, 0.25, 0.2], [0.1, -0.25, 0.0], [0.1, 0.25, 0.0],
    [0.0, 0.0, 0.25], [0.0, -0.1, 0.0], [0.0, 0.1, 0.0],
    [0.02, -0.1, -0.45], [0.02, 0.1, -0.45], [0.0, -0.1, -0.9], [0.0, 0.1, -0.9]])

# Body axes in optical coordinates for a person facing the camera upright (columns x, y, z).
FACING_CAMERA = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])


def skeleton_in_camera(origin, rotation=FACING_CAMERA) -> np.ndarray:
    """(15, 3) float32 ITOP-15 joints in the optical frame: the standing person rotated by
    ``rotation`` (body axes as columns) and moved to ``origin`` (the hip midpoint)."""
    return (STANDING_ITOP15_BODY @ np.asarray(rotation).T + np.asarray(origin)).astype(np.float32)


class CentroidEstimator:
    """A deterministic stand-in estimator: one person whose hip midpoint is the centroid of the
    valid depth pixels (back-projected), in the standing pose facing the camera. No person when
    fewer than ``min_pixels`` pixels are valid. ``delay_s`` simulates a slow model."""

    name = "test_centroid"
    min_pixels = 50

    def __init__(self, delay_s: float = 0.0) -> None:
        from unipose_ros.core.joints import ITOP15
        from unipose_ros.core.pose import Modality

        self.joint_set, self.modality = ITOP15, Modality.DEPTH
        self.delay_s = delay_s
        self.calls = 0
        self.seen_stamps: list[int] = []
        self.closed = False

    def estimate(self, frame):
        from unipose_ros.core.pose import PersonPose

        self.calls += 1
        self.seen_stamps.append(frame.stamp_ns)
        if self.delay_s:
            time.sleep(self.delay_s)
        pts = frame.camera.depth_to_points(frame.depth)
        if len(pts) < self.min_pixels:
            return []
        centre = pts.astype(np.float64).mean(axis=0)
        joints = skeleton_in_camera(centre)
        conf = np.linspace(0.2, 1.0, len(self.joint_set)).astype(np.float32)
        return [PersonPose(track_id=-1, joint_set=self.joint_set, joints=joints, confidence=conf,
                           modality=self.modality, score=0.9)]

    def close(self) -> None:
        self.closed = True


# ---------------------------------------------------------------- ROS helpers
TEST_CAMERA_ARGS = dict(fx=150.0, fy=150.0, cx=79.5, cy=59.5, width=160, height=120)
OPTICAL_FRAME = "camera_color_optical_frame"


def box_depth(camera, box=(60, 30, 100, 90), z: float = 2.0) -> np.ndarray:
    """(H, W) float32 metres: NaN everywhere but the pixel box (u0, v0, u1, v1) at ``z``."""
    d = np.full((camera.height, camera.width), np.nan, np.float32)
    u0, v0, u1, v1 = box
    d[v0:v1, u0:u1] = z
    return d


def box_centroid(camera, box=(60, 30, 100, 90), z: float = 2.0) -> np.ndarray:
    """The exact centroid (metres, optical frame) of :func:`box_depth`'s back-projected pixels."""
    u0, v0, u1, v1 = box
    u, v = (u0 + u1 - 1) / 2, (v0 + v1 - 1) / 2
    return np.array([(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z])


def make_inputs(camera, stamp_ns: int, depth_m: np.ndarray | None = None, rgb=None,
                depth_encoding: str = "16UC1", points: np.ndarray | None = None,
                frame_id: str = OPTICAL_FRAME) -> dict:
    """rclpy messages of one frame: slot name ('image', 'depth', 'info', 'points') -> message,
    all with header (stamp_ns, frame_id)."""
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header

    from unipose_ros.io.camera_info import camera_info_from_camera
    from unipose_ros.io.image import depth_to_image, rgb_to_image
    from unipose_ros.io.pointcloud import numpy_to_cloud

    header = Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
                    frame_id=frame_id)
    depth_m = box_depth(camera) if depth_m is None else depth_m
    rgb = np.full((camera.height, camera.width, 3), 128, np.uint8) if rgb is None else rgb
    msgs = {"image": rgb_to_image(rgb, Image, header),
            "depth": depth_to_image(depth_m, Image, header, depth_encoding),
            "info": camera_info_from_camera(camera, CameraInfo, header)}
    if points is not None:
        msgs["points"] = numpy_to_cloud(points, msg_cls=PointCloud2, header=header)
    return msgs


class InputPublisher:
    """A plain rclpy node publishing camera inputs under ``namespace`` (reliable, like a
    replayed recording; compatible with the node's best-effort subscriptions)."""

    TOPICS = {"image": "image", "depth": "depth_image", "info": "camera_info",
              "points": "points"}

    def __init__(self, context, namespace: str, slots=("image", "depth", "info"), transport: str = "raw") -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

        types = {"image": Image, "depth": Image, "info": CameraInfo, "points": PointCloud2}
        topics = dict(self.TOPICS)
        if transport == "compressed":  # image_transport's sub-topics
            types.update(image=CompressedImage, depth=CompressedImage)
            topics.update(image="image/compressed", depth="depth_image/compressedDepth")
        self.node = Node("test_inputs", namespace=namespace, context=context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {s: self.node.create_publisher(types[s], topics[s], qos) for s in slots}
        self.sent: dict[int, float] = {}        # stamp -> monotonic time before publishing
        self.published: dict[int, float] = {}   # stamp -> after the last publish returned

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return wait_for(lambda: all(p.get_subscription_count() > 0 for p in self.pubs.values()),
                        timeout)

    def send(self, msgs: dict, order=("info", "depth", "points", "image")) -> None:
        """Publish one frame's messages (colour last, as the slowest stream usually is)."""
        stamp = msgs["image"].header.stamp if "image" in msgs else next(iter(msgs.values())).header.stamp
        key = stamp.sec * 10**9 + stamp.nanosec
        self.sent[key] = time.monotonic()
        for slot in order:
            if slot in msgs and slot in self.pubs:
                self.pubs[slot].publish(msgs[slot])
        self.published[key] = time.monotonic()


class Collector:
    """A plain rclpy node that records (monotonic receive time, message) per topic."""

    def __init__(self, context, topics: dict[str, type], namespace: str = "/") -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.node = Node("test_collector", namespace=namespace, context=context)
        self.received: dict[str, list[tuple[float, object]]] = {t: [] for t in topics}
        self._lock = threading.Lock()
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.subs = [self.node.create_subscription(cls, topic, self._callback(topic), qos)
                     for topic, cls in topics.items()]

    def _callback(self, topic: str):
        def cb(msg):
            with self._lock:
                self.received[topic].append((time.monotonic(), msg))
        return cb

    def messages(self, topic: str) -> list:
        with self._lock:
            return [m for _, m in self.received[topic]]

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return wait_for(lambda: all(s.get_publisher_count() > 0 for s in self.subs), timeout)


def stamp_ns(msg_or_header) -> int:
    h = getattr(msg_or_header, "header", msg_or_header)
    return h.stamp.sec * 10**9 + h.stamp.nanosec


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a torchrun rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torchrun(script, cwd, nproc: int = 2, timeout: float = 240.0):
    """Run ``script`` under ``torch.distributed.run`` with ``nproc`` CPU processes (one thread each,
    this checkout on PYTHONPATH); returns the CompletedProcess (stdout/stderr captured)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
           "127.0.0.1", "--master_port", str(free_port()), str(script)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
