"""Write and read RGB-D recordings (rosbag2, MCAP by default; .db3 read too) without ROS.

Layout (every message of one frame carries the frame's stamp; frame_id the colour optical frame):

=============================================  ==========================================
/camera/color/image_raw                        sensor_msgs/msg/Image rgb8
/camera/color/camera_info                      sensor_msgs/msg/CameraInfo
/camera/aligned_depth_to_color/image_raw       sensor_msgs/msg/Image 16UC1 mm (or 32FC1 m)
/camera/aligned_depth_to_color/camera_info     sensor_msgs/msg/CameraInfo
/camera/depth/color/points                     sensor_msgs/msg/PointCloud2 xyz + packed rgb
/ground_truth/skeletons/<joint set>            unipose_ros/msg/Skeleton3DArray
=============================================  ==========================================

Messages are rosbags typestore messages (ROS 2 Humble definitions plus this package's messages,
whose definitions are stored in the recording so any ROS 2 tool can read it).
"""
from __future__ import annotations

import heapq
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, NamedTuple

import numpy as np

from unipose_ros.core.camera import depth_to_metres, metres_to_depth
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.pose import PersonPose
from unipose_ros.io.camera_info import camera_from_info, camera_info_from_camera, distortion_warning
from unipose_ros.io.image import depth_from_image, numpy_to_image, rgb_from_image
from unipose_ros.io.messages import make_header, msgtype_of, stamp_to_ns
from unipose_ros.io.pointcloud import cloud_to_xyz, numpy_to_cloud
from unipose_ros.io.skeleton import msg_to_poses, poses_to_msg
from unipose_ros.io.typestore import ros_typestore

_log = logging.getLogger(__name__)

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD2 = "sensor_msgs/msg/PointCloud2"
SKELETON_ARRAY = "unipose_ros/msg/Skeleton3DArray"
GROUND_TRUTH_ESTIMATOR = "ground_truth"


@dataclass(frozen=True)
class RecordingTopics:
    """Topic names of a recording (defaults: realsense2_camera names, aligned depth)."""

    color: str = "/camera/color/image_raw"
    color_info: str = "/camera/color/camera_info"
    depth: str = "/camera/aligned_depth_to_color/image_raw"
    depth_info: str = "/camera/aligned_depth_to_color/camera_info"
    points: str = "/camera/depth/color/points"
    ground_truth_prefix: str = "/ground_truth/skeletons"

    def ground_truth(self, joint_set_name: str) -> str:
        """Ground-truth topic of a joint set, e.g. ``/ground_truth/skeletons/itop15``."""
        return f"{self.ground_truth_prefix}/{joint_set_name}"


DEFAULT_TOPICS = RecordingTopics()


class TopicSummary(NamedTuple):
    msgtype: str
    count: int


class RecordingWriter:
    """Context manager writing a rosbag2 recording with the layout above.

    Args:
        path: recording directory to create (must not exist).
        topics: topic names.
        depth_encoding: "16UC1" (whole millimetres, as RealSense) or "32FC1" (metres).
        write_points: also write an unorganised xyz+rgb cloud per frame.
        points_stride: back-project every ``points_stride``-th depth pixel in both directions for
            the cloud (like a RealSense decimation filter; 1 = every pixel).
        storage: "mcap" or "sqlite3".
    """

    def __init__(self, path: str | Path, topics: RecordingTopics = DEFAULT_TOPICS,
                 depth_encoding: str = "16UC1", write_points: bool = True,
                 storage: str = "mcap", points_stride: int = 1) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if depth_encoding not in ("16UC1", "32FC1"):
            raise InputError(f"depth_encoding must be 16UC1 or 32FC1, not {depth_encoding!r}")
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise InputError(f"storage must be 'mcap' or 'sqlite3', not {storage!r}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists: choose a new recording directory")
        self.topics = topics
        self.depth_encoding = depth_encoding
        self.write_points = write_points
        self.points_stride = int(points_stride)
        self.typestore = ros_typestore()
        self._writer = Writer(self.path, version=8, storage_plugin=plugins[storage])
        self._connections: dict[tuple[str, str], Any] = {}
        self.frames_written = 0

    def __enter__(self) -> "RecordingWriter":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self._writer.open()

    def close(self) -> None:
        self._writer.close()

    def _connection(self, topic: str, msgtype: str) -> Any:
        key = (topic, msgtype)
        if key not in self._connections:
            self._connections[key] = self._writer.add_connection(topic, msgtype,
                                                                 typestore=self.typestore)
        return self._connections[key]

    def write_raw(self, topic: str, msgtype: str, rawdata: bytes | memoryview,
                  stamp_ns: int) -> None:
        """Write an already serialised (CDR) message, e.g. from rclpy's serialize_message."""
        self._writer.write(self._connection(topic, msgtype), int(stamp_ns), rawdata)

    def write_message(self, topic: str, msg: Any, msgtype: str | None = None,
                      stamp_ns: int | None = None) -> None:
        """Write a rosbags message of the package typestore (see :attr:`typestore`; build
        them with the ``io`` converters given ``typestore.types[...]`` classes).

        Args:
            msgtype: e.g. "visualization_msgs/msg/MarkerArray"; taken from ``msg`` when None.
            stamp_ns: log time; ``msg.header.stamp`` when None.
        """
        msgtype = msgtype or msgtype_of(msg)
        if stamp_ns is None:
            header = getattr(msg, "header", None)
            if header is None:
                raise InputError(f"{msgtype} has no header: pass stamp_ns")
            stamp_ns = stamp_to_ns(header.stamp)
        self.write_raw(topic, msgtype, self.typestore.serialize_cdr(msg, msgtype), stamp_ns)

    def write_frame(self, frame: RGBDFrame,
                    ground_truth: dict[str, list[PersonPose]] | None = None) -> None:
        """Write one frame: colour, depth (quantised to ``depth_encoding``), both camera_infos,
        the cloud (``frame.points`` or back-projected from the written depth) and, per joint
        set, the ground-truth skeletons (an empty list writes an empty array: nobody visible)."""
        t, types = self.topics, self.typestore.types
        stamp = int(frame.stamp_ns)
        header = make_header(types[IMAGE], stamp, frame.frame_id)
        info = camera_info_from_camera(frame.camera, types[CAMERA_INFO], header)
        self.write_message(t.color_info, info, CAMERA_INFO, stamp)
        if frame.rgb is not None:
            self.write_message(t.color, numpy_to_image(frame.rgb, "rgb8", types[IMAGE],
                                                             header), IMAGE, stamp)
        depth = None
        if frame.depth is not None:
            raw = metres_to_depth(frame.depth, self.depth_encoding)
            depth = depth_to_metres(raw, self.depth_encoding)  # what a reader will get back
            self.write_message(t.depth_info, info, CAMERA_INFO, stamp)
            self.write_message(t.depth, numpy_to_image(raw, self.depth_encoding,
                                                             types[IMAGE], header), IMAGE, stamp)
        if self.write_points and (frame.points is not None or depth is not None):
            xyz, rgb = _coloured_points(frame, depth, self.points_stride)
            cloud = numpy_to_cloud(xyz, rgb, msg_cls=types[POINT_CLOUD2], header=header)
            self.write_message(t.points, cloud, POINT_CLOUD2, stamp)
        for name, poses in (ground_truth or {}).items():
            msg = poses_to_msg(poses, header, GROUND_TRUTH_ESTIMATOR, types[SKELETON_ARRAY])
            self.write_message(t.ground_truth(name), msg, SKELETON_ARRAY, stamp)
        self.frames_written += 1


def write_raw_recording(path: str | Path, messages: Iterable[tuple[str, str, int, bytes]],
                        storage: str = "mcap") -> int:
    """Write serialised (CDR) messages, e.g. recorded from live topics, to a new recording.

    Args:
        messages: (topic, msgtype, log time ns, raw CDR bytes) in any order of topics.
    Returns:
        number of messages written.
    """
    n = 0
    with RecordingWriter(path, storage=storage) as writer:
        for topic, msgtype, stamp_ns, raw in messages:
            writer.write_raw(topic, msgtype, raw, stamp_ns)
            n += 1
    return n


def _coloured_points(frame: RGBDFrame, depth: np.ndarray | None, stride: int = 1
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 3) points and their (N, 3) uint8 colours (None without a colour image); a cloud made
    from ``depth`` takes every ``stride``-th pixel."""
    cam = frame.camera
    if frame.points is None:
        assert depth is not None
        xyz = cam.depth_to_points(depth, stride=stride)
        d = depth[::stride, ::stride]
        rgb = None if frame.rgb is None else frame.rgb[::stride, ::stride][np.isfinite(d) & (d > 0)]
        return xyz, rgb
    xyz = np.asarray(frame.points, dtype=np.float32)
    if frame.rgb is None:
        return xyz, None
    with np.errstate(invalid="ignore"):
        uv = np.rint(cam.project(xyz))
    ok = np.isfinite(uv).all(axis=1)
    u = np.where(ok, uv[:, 0], -1).astype(np.int64)
    v = np.where(ok, uv[:, 1], -1).astype(np.int64)
    ok &= (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
    rgb = np.zeros((len(xyz), 3), np.uint8)
    rgb[ok] = frame.rgb[v[ok], u[ok]]
    return xyz, rgb


class RecordingReader:
    """Read a rosbag2 recording (MCAP or .db3 directory). Use as a context manager or call
    :meth:`close`.

    Attributes (after :meth:`frames` has run):
        incomplete_frames: number of stamps that lacked a partner message and were skipped.
        missing: Counter of topic name -> skipped stamps where that topic was missing.
    """

    def __init__(self, path: str | Path, topics: RecordingTopics = DEFAULT_TOPICS) -> None:
        from rosbags.highlevel import AnyReader

        self.path = Path(path)
        if not (self.path / "metadata.yaml").exists():
            raise InputError(f"{self.path} is not a rosbag2 recording directory (no "
                             "metadata.yaml); pass the directory that ros2 bag record wrote")
        self.topics_cfg = topics
        self._reader = AnyReader([self.path], default_typestore=ros_typestore())
        self._reader.open()
        self.incomplete_frames = 0
        self.missing: Counter[str] = Counter()

    def __enter__(self) -> "RecordingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader.stack is not None:
            self._reader.close()

    @property
    def topics(self) -> dict[str, TopicSummary]:
        """Topic name -> (message type, message count)."""
        return {name: TopicSummary(str(info.msgtype), int(info.msgcount))
                for name, info in self._reader.topics.items()}

    def messages(self, topics: list[str] | None = None
                 ) -> Iterator[tuple[str, str, int, Any, bytes]]:
        """All messages (or those of ``topics``) in log-time order as
        (topic, msgtype, log time ns, deserialised message, raw CDR bytes)."""
        conns = [c for c in self._reader.connections if topics is None or c.topic in topics]
        if not conns:
            return
        for conn, stamp, raw in self._reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, stamp, self._reader.deserialize(raw, conn.msgtype), raw

    def ground_truth(self, joint_set_name: str) -> dict[int, list[PersonPose]]:
        """Header stamp (ns) -> ground-truth people of that frame, for one joint set."""
        topic = self.topics_cfg.ground_truth(joint_set_name)
        if topic not in self._reader.topics:
            raise InputError(f"{self.path} has no ground truth for {joint_set_name!r} (topic "
                             f"{topic}); topics: {sorted(self._reader.topics)}")
        return {stamp_to_ns(msg.header.stamp): msg_to_poses(msg)
                for _, _, _, msg, _ in self.messages([topic])}

    def frames(self, points: bool = True, horizon_ns: int = 2_000_000_000) -> Iterator[RGBDFrame]:
        """Synchronised frames in stamp order (exact header-stamp match).

        A frame needs every camera topic present in the recording: colour image, depth image,
        a camera_info (colour, else depth) and, when ``points``, the cloud. A stamp still
        missing a partner once the recording has moved ``horizon_ns`` past it (or at the end) is
        skipped, counted in :attr:`incomplete_frames` / :attr:`missing` and logged.
        """
        t, present = self.topics_cfg, self._reader.topics
        roles = {t.color: "rgb", t.depth: "depth", t.points: "points",
                 t.color_info if t.color_info in present else t.depth_info: "info"}
        if not points:
            roles.pop(t.points, None)
        roles = {k: v for k, v in roles.items() if k in present}
        if not ({"rgb", "depth", "points"} & set(roles.values())) or "info" not in roles.values():
            raise InputError(f"{self.path} has no camera topics of {t} (topics: "
                             f"{sorted(present)}); pass RecordingTopics with this recording's names")
        need = set(roles.values())
        self._role_topic = {v: k for k, v in roles.items()}
        self._warned_distortion = False
        pending: dict[int, dict[str, Any]] = {}
        ready: list[int] = []  # heap of complete stamps
        newest = None
        for topic, _, _, msg, _ in self.messages(list(roles)):
            stamp = stamp_to_ns(msg.header.stamp)
            parts = pending.setdefault(stamp, {})
            parts[roles[topic]] = msg
            if need <= parts.keys():
                heapq.heappush(ready, stamp)
            newest = stamp if newest is None else max(newest, stamp)
            yield from self._flush(pending, ready, need, newest - horizon_ns)
        yield from self._flush(pending, ready, need, None)
        if self.incomplete_frames:
            _log.warning("%s: %d stamps lacked a partner message and were skipped (missing: %s)",
                         self.path, self.incomplete_frames, dict(self.missing))

    def _flush(self, pending: dict[int, dict[str, Any]], ready: list[int], need: set[str],
               expire_before: int | None) -> Iterator[RGBDFrame]:
        """Emit complete frames that no older pending stamp can still precede; drop expired
        incomplete stamps."""
        while pending:
            oldest = min(pending)
            if ready and ready[0] == oldest:
                heapq.heappop(ready)
                yield self._frame(oldest, pending.pop(oldest))
            elif expire_before is None or oldest < expire_before:
                parts = pending.pop(oldest)
                self.incomplete_frames += 1
                for role in sorted(need - parts.keys()):
                    self.missing[self._role_topic[role]] += 1
            else:
                return

    def _frame(self, stamp: int, parts: dict[str, Any]) -> RGBDFrame:
        info = parts["info"]
        if not self._warned_distortion and (text := distortion_warning(info)):
            _log.warning("%s: %s", self.path, text)
            self._warned_distortion = True
        first = parts.get("rgb") or parts.get("depth") or parts.get("points")
        return RGBDFrame(
            stamp_ns=stamp, frame_id=str(first.header.frame_id), camera=camera_from_info(info, warn=False),
            rgb=rgb_from_image(parts["rgb"]) if "rgb" in parts else None,
            depth=depth_from_image(parts["depth"]) if "depth" in parts else None,
            points=cloud_to_xyz(parts["points"]) if "points" in parts else None)
