"""Read any rosbag2 RGB-D recording as synchronised frames, and report what was (not) used.

Recordings come from many drivers (realsense2_camera, Azure Kinect, Orbbec, ZED, our own
:class:`unipose_ros.io.bag.RecordingWriter`), with their own topic names, encodings and timing.
This module finds the colour image, the depth image registered to it, the camera_info (and
optionally the PointCloud2) by rule (:func:`detect_topics`; every rule can be overridden) and
pairs them by header stamp (:func:`ingest_frames`). Nothing is dropped silently: every colour
image that does not become a frame is counted with its reason in an :class:`IngestReport`.

Two passes keep memory bounded for long recordings:

1. read only the header stamp of every message of the chosen topics (the first field of Image,
   CameraInfo and PointCloud2, straight from the CDR bytes) and plan, per colour image in stamp
   order, which depth / points / camera_info message goes with it;
2. read again, deserialise only the planned messages, and emit frames in colour stamp order
   through a reorder buffer that holds a message only until its last frame has been emitted.

Depth follows REP-118 (16UC1 millimetres, 32FC1 metres; decoded by
:func:`unipose_ros.io.image.depth_from_image`): ``frame.depth`` is float32 metres, NaN invalid.

Example::

    python -m unipose_training.datasets.ingest data/my_recording --out runs/weak/ingest
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import struct
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.io.camera_info import camera_from_info, distortion_warning
from unipose_ros.io.compressed import compressed_encoding, depth_from_message, rgb_from_message
from unipose_ros.io.image import DEPTH_ENCODINGS
from unipose_ros.io.messages import stamp_to_ns
from unipose_ros.io.pointcloud import cloud_to_xyz
from unipose_ros.io.typestore import ros_typestore

_log = logging.getLogger(__name__)

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD2 = "sensor_msgs/msg/PointCloud2"
#: Image encodings read as colour (see :func:`unipose_ros.io.image.rgb_from_image`).
COLOUR_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "8UC3")
#: Roles of the topics of one frame, and the message type each needs.
ROLE_TYPES: dict[str, str] = {"color": IMAGE, "depth": IMAGE, "camera_info": CAMERA_INFO,
                              "points": POINT_CLOUD2}
#: Roles that may also come as image_transport's CompressedImage ("compressed" colour,
#: "compressedDepth" depth).
COMPRESSIBLE = ("color", "depth")
#: Beyond this many messages waiting in the reorder buffer the report carries a warning.
BUFFER_WARNING = 64

_COLOUR_TO_DEPTH = re.compile(r"(rgb|colou?r)_to_depth")
_DEPTH_TO_COLOUR = re.compile(r"(depth_to_(rgb|colou?r)|aligned_depth_to_colou?r|depth_registered|registered)")


@dataclass(frozen=True)
class IngestConfig:
    """Which topics to read and how to pair them.

    Attributes:
        color, depth, camera_info, points: topic overrides; None = auto-detect
            (:func:`detect_topics`).
        use_points: also read a PointCloud2 topic (then every frame needs a cloud).
        slop_ms: largest |header stamp difference| (ms) between the colour image and its depth
            image (and cloud).
        intrinsics: (fx, fy, cx, cy) pixels of the colour image, for recordings without a
            camera_info; when given, camera_info topics are not read.
        max_frames: stop after this many frames (the rest are counted as skipped).
    """

    color: str | None = None
    depth: str | None = None
    camera_info: str | None = None
    points: str | None = None
    use_points: bool = False
    slop_ms: float = 20.0
    intrinsics: tuple[float, float, float, float] | None = None
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.slop_ms) and self.slop_ms >= 0):
            raise InputError(f"slop_ms must be a finite number >= 0, not {self.slop_ms}")
        if self.intrinsics is not None:
            k = tuple(float(x) for x in self.intrinsics)
            if len(k) != 4 or not np.isfinite(k).all() or k[0] <= 0 or k[1] <= 0:
                raise InputError(f"intrinsics must be (fx, fy, cx, cy) with fx, fy > 0, not "
                                 f"{self.intrinsics}")
            object.__setattr__(self, "intrinsics", k)
        if self.intrinsics is not None and self.camera_info is not None:
            raise InputError("give either intrinsics or a camera_info topic, not both")
        if self.max_frames is not None and int(self.max_frames) < 0:
            raise InputError(f"max_frames must be >= 0 or None, not {self.max_frames}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IngestConfig":
        """Build from a dict (YAML/JSON); unknown keys raise InputError naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown ingest option(s) {unknown}; known: {sorted(known)}")
        data = dict(data)
        if data.get("intrinsics") is not None:
            data["intrinsics"] = tuple(float(x) for x in data["intrinsics"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict (intrinsics as a list) that :meth:`from_dict` reads back."""
        out = asdict(self)
        if out["intrinsics"] is not None:
            out["intrinsics"] = list(out["intrinsics"])
        return out


@dataclass
class IngestReport:
    """What :func:`ingest_frames` read from one recording.

    Attributes:
        recording: the recording directory.
        storage: "mcap" or "sqlite3".
        topics: role ("color", "depth", "camera_info", "points") -> topic used.
        all_topics: every topic -> [message type, message count].
        ignored: topic not used -> why.
        depth_encoding, rgb_encoding: encodings of the depth and colour images.
        camera: intrinsics of the frames: fx, fy, cx, cy (pixels), width, height.
        color_messages: colour images in the recording (frames + sum(skipped) when read to the end).
        frames: frames yielded.
        skipped: reason -> number of colour images that did not become a frame.
        out_of_order: messages of the used topics whose header stamp is older than the previous
            message's on the same topic (the frames come out sorted regardless).
        buffered_peak: most decoded messages held at once waiting for their frame.
        warnings: anything the user should know (ambiguous topics, distortion, ...).
    """

    recording: str = ""
    storage: str = ""
    topics: dict[str, str] = field(default_factory=dict)
    all_topics: dict[str, list] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    depth_encoding: str | None = None
    rgb_encoding: str | None = None
    camera: dict[str, float] | None = None
    color_messages: int = 0
    frames: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0
    buffered_peak: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "IngestReport":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def warn(self, text: str) -> None:
        """Add a warning (once) and log it."""
        if text not in self.warnings:
            self.warnings.append(text)
            _log.warning("%s: %s", self.recording or "ingest", text)

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` colour images not turned into frames for ``reason``."""
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(n)

    def format(self) -> str:
        """Human-readable multi-line summary."""
        lines = [f"recording     {self.recording}", f"storage       {self.storage}",
                 f"frames        {self.frames} of {self.color_messages} colour images"
                 f" ({sum(self.skipped.values())} skipped)"]
        encodings = {"color": self.rgb_encoding, "depth": self.depth_encoding}
        rows = [("role", "topic", "type / encoding", "messages")]
        for role, topic in self.topics.items():
            msgtype, count = (self.all_topics.get(topic) or ["?", "?"])[:2]
            rows.append((role, topic, encodings.get(role) or str(msgtype).rsplit("/", 1)[-1], str(count)))
        lines += _table(rows, indent="  ")
        if self.camera:
            c = self.camera
            lines.append(f"camera        fx {c['fx']:.2f}  fy {c['fy']:.2f}  cx {c['cx']:.2f}  cy {c['cy']:.2f}"
                         f"  {int(c['width'])}x{int(c['height'])}")
        lines.append(f"out of order  {self.out_of_order} messages (header stamp older than the previous "
                     "one on its topic; frames are sorted)")
        if self.skipped:
            lines.append("skipped")
            lines += _table([(reason, str(n)) for reason, n in sorted(self.skipped.items())], indent="  ")
        if self.ignored:
            lines.append("ignored topics")
            lines += _table(sorted(self.ignored.items()), indent="  ")
        if self.warnings:
            lines.append("warnings")
            lines += [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)


def _table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def write_report(report: IngestReport, path: str | Path) -> Path:
    """Write ``report`` as JSON to ``path`` (atomically: a temporary file, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_report(path: str | Path) -> IngestReport:
    """Read a report written by :func:`write_report`."""
    return IngestReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- topic detection


def _parent(topic: str) -> str:
    return topic.rsplit("/", 1)[0]


def _common_prefix(a: str, b: str | None) -> int:
    """Number of leading topic-name components ``a`` and ``b`` share."""
    if not b:
        return 0
    n = 0
    for x, y in zip(a.strip("/").split("/"), b.strip("/").split("/")):
        if x != y:
            break
        n += 1
    return n


def _depth_tier(topic: str, encoding: str | None) -> int | None:
    """0 depth registered to colour by name, 1 aligned to something else, 2 named depth,
    3 depth by encoding only; None: not a depth image."""
    n = topic.lower()
    if encoding is not None and encoding not in DEPTH_ENCODINGS:
        return None
    named = "depth" in n and not _COLOUR_TO_DEPTH.search(n)
    if not named:
        return 3 if encoding is not None else None
    if _DEPTH_TO_COLOUR.search(n):
        return 0
    return 1 if "aligned" in n else 2


def _colour_tier(topic: str, encoding: str | None) -> int | None:
    """0 named colour/rgb, 1 image_raw/left, 2 colour registered to depth, 3 colour by encoding
    only; None: not a colour image."""
    n = topic.lower()
    if encoding is not None and encoding not in COLOUR_ENCODINGS:
        return None
    if _COLOUR_TO_DEPTH.search(n):
        return 2
    if "depth" in n:
        return None
    if any(k in n for k in ("color", "colour", "rgb")):
        return 0
    if encoding is None and any(k in n for k in ("infra", "/ir/", "mono")):
        return None
    if "image_raw" in n or "left" in n:
        return 1
    return 3 if encoding is not None else None


def _choose(role: str, ranked: list[tuple[tuple, str]], notes: list[str], why: str) -> str | None:
    """The best of ``ranked`` ((sort key, topic)); a note names same-tier alternatives."""
    if not ranked:
        return None
    ranked.sort()
    best_key, best = ranked[0]
    rivals = [t for k, t in ranked[1:] if k[0] == best_key[0]]
    if rivals:
        notes.append(f"{role}: several candidates; picked {best} ({why}); alternatives: "
                     f"{', '.join(rivals)} (set IngestConfig.{role} / --{role.replace('_', '-')} to choose)")
    return best


def _check_override(role: str, topic: str, all_topics: dict[str, tuple[str, int]]) -> None:
    if topic not in all_topics:
        listing = "; ".join(f"{t} ({ty})" for t, (ty, _) in sorted(all_topics.items()))
        raise InputError(f"{role} topic {topic!r} is not in the recording; its topics: {listing}")
    allowed = (ROLE_TYPES[role], COMPRESSED_IMAGE) if role in COMPRESSIBLE else (ROLE_TYPES[role],)
    if all_topics[topic][0] not in allowed:
        raise InputError(f"{role} topic {topic} is a {all_topics[topic][0]}, not a {' or a '.join(allowed)}")


def detect_topics(all_topics: dict[str, tuple[str, int]], cfg: IngestConfig,
                  encodings: dict[str, str] | None = None,
                  warnings: list[str] | None = None) -> dict[str, str]:
    """Pick the topic of each role of a recording.

    Rules (an override in ``cfg`` always wins; naming an absent topic raises InputError):

    * depth: an Image whose name contains "depth" (not "rgb_to_depth": that is colour),
      preferring names registered to colour ("aligned_depth_to_color", "depth_to_rgb",
      "depth_registered", "registered"), then other "aligned" ones, then plain "depth"; failing
      names, any Image whose encoding is 16UC1/32FC1/mono16. An encoding seen in ``encodings``
      that is not a depth encoding rules a topic out.
    * color: an Image with a colour encoding (rgb8, bgr8, rgba8, bgra8, 8UC3) named
      "color"/"colour"/"rgb", else "image_raw"/"left".
    * CompressedImage topics (image_transport) take part by what their first message's format
      says: ``compressedDepth`` of 16UC1/32FC1 as depth, ``compressed`` colour as colour (a
      compressed 16-bit image is neither); a raw Image of the same rank wins over them.
      Ties: the one sharing most of the depth topic's namespace, not "right", rectified first.
    * camera_info: the CameraInfo next to the colour image (same namespace), else next to the
      depth image (registered depth has the colour intrinsics), else the one sharing most of the
      colour namespace. Not picked when ``cfg.intrinsics`` is given.
    * points (only with ``cfg.use_points`` or ``cfg.points``): a PointCloud2, preferring
      "registered"/"color" names, then the one sharing most of the colour namespace.

    Args:
        all_topics: topic -> (message type, message count).
        encodings: topic -> encoding of its first message, where known (Image topics).
        warnings: list that notes on ambiguous choices are appended to.
    Returns:
        role -> topic for "color", "depth", "camera_info" (when found) and "points" (when asked).
    Raises:
        InputError: no colour or no depth image found, no cloud while points are asked for, or
            a bad override.
    """
    encodings = encodings or {}
    notes = warnings if warnings is not None else []
    for role in ROLE_TYPES:
        if getattr(cfg, role) is not None:
            _check_override(role, getattr(cfg, role), all_topics)

    def of_type(msgtype: str) -> list[str]:
        return sorted(t for t, (ty, count) in all_topics.items() if ty == msgtype and count > 0)

    # compressed topics count only where their first message was read (its format says what it holds)
    compressed = {t for t in of_type(COMPRESSED_IMAGE) if t in encodings}
    images = sorted(set(of_type(IMAGE)) | compressed)
    infos, clouds = of_type(CAMERA_INFO), of_type(POINT_CLOUD2)
    listing = ", ".join(f"{t} ({encodings.get(t, '?')})" for t in images) or "none"
    out: dict[str, str] = {}

    depth = cfg.depth
    if depth is None:
        ranked = [((tier, t in compressed, t), t) for t in images if t != cfg.color
                  if (tier := _depth_tier(t, encodings.get(t))) is not None]
        depth = _choose("depth", ranked, notes, "registered to colour first, then by name")
        if depth is None:
            raise InputError(f"no depth image topic found (Image topics: {listing}); record the depth "
                             "registered to colour (16UC1 mm or 32FC1 m) or set the depth topic")
        if _depth_tier(depth, encodings.get(depth)) != 0:
            notes.append(f"depth topic {depth} is not named as registered to colour: if its size or "
                         "viewpoint differs from the colour image, enable depth registration/alignment "
                         "in the driver (frames whose sizes disagree are skipped)")
    out["depth"] = depth

    color = cfg.color
    if color is None:
        ranked = []
        for t in images:
            tier = _colour_tier(t, encodings.get(t))
            if t == depth or tier is None:
                continue
            n = t.lower()
            key = (tier, t in compressed, "right" in n, -_common_prefix(_parent(t) if t in compressed else t, depth),
                   "rect" not in n, t)
            ranked.append((key, t))
        color = _choose("color", ranked, notes, "named colour, nearest the depth topic, rectified")
        if color is None:
            unread = sorted(set(of_type(COMPRESSED_IMAGE)) - compressed)
            hint = (f"; the compressed topics {unread} could not be read") if unread else ""
            raise InputError(f"no colour image topic found (Image topics: {listing}){hint}; "
                             "set the colour topic")
    out["color"] = color

    if cfg.camera_info is not None:
        out["camera_info"] = cfg.camera_info
    elif cfg.intrinsics is None and infos:
        for anchor in (color, depth):
            sib = [((0 if t.endswith("/camera_info") else 1, t), t) for t in infos if _parent(t) == _parent(anchor)]
            if sib:
                out["camera_info"] = _choose("camera_info", sib, notes, "camera_info next to the image")
                break
        else:
            ranked = [((-_common_prefix(t, color), t), t) for t in infos]
            info = _choose("camera_info", ranked, notes, "nearest the colour topic")
            assert info is not None
            notes.append(f"no camera_info next to {color} or {depth}: using {info}; set the "
                         "camera_info topic or the intrinsics if that is not the colour camera's")
            out["camera_info"] = info

    if cfg.points is not None:
        out["points"] = cfg.points
    elif cfg.use_points:
        ranked = [((0 if ("registered" in t.lower() or "color" in t.lower()) else 1,
                    -_common_prefix(t, color), t), t) for t in clouds]
        points = _choose("points", ranked, notes, "registered/colour clouds first, nearest the colour topic")
        if points is None:
            raise InputError("use_points is set but the recording has no PointCloud2 topic; "
                             "turn use_points off or record the camera's cloud")
        out["points"] = points
    return {role: out[role] for role in ROLE_TYPES if role in out}


def _ignored_reasons(all_topics: dict[str, tuple[str, int]], topics: dict[str, str],
                     cfg: IngestConfig) -> dict[str, str]:
    used = set(topics.values())
    out = {}
    for t, (msgtype, count) in sorted(all_topics.items()):
        if t in used:
            continue
        if count == 0:
            out[t] = "no messages"
        elif msgtype == IMAGE:
            out[t] = f"image not chosen (colour {topics['color']}, depth {topics['depth']})"
        elif msgtype == COMPRESSED_IMAGE:
            out[t] = f"compressed image not chosen (colour {topics['color']}, depth {topics['depth']})"
        elif msgtype == CAMERA_INFO:
            out[t] = ("intrinsics given in the config" if cfg.intrinsics is not None
                      else f"camera_info of another stream (using {topics.get('camera_info')})")
        elif msgtype == POINT_CLOUD2:
            out[t] = ("cloud not read (use_points off)" if "points" not in topics
                      else f"another cloud (using {topics['points']})")
        elif t.startswith("/ground_truth/"):
            out[t] = "ground truth (not part of a frame; read by the later stages)"
        else:
            out[t] = f"{msgtype} is not part of an RGB-D frame"
    return out


# --------------------------------------------------------------------------- reading


def header_stamp_ns(raw: bytes | memoryview) -> int | None:
    """Header stamp (ns) of a CDR-serialised message whose first field is a std_msgs/Header
    (Image, CameraInfo, PointCloud2, ...), without deserialising it.

    Layout: 4-byte encapsulation (byte 1: 0x01 little endian, 0x00 big endian), then
    int32 sec and uint32 nanosec. Returns None for another encapsulation or a short buffer.
    """
    if len(raw) < 12 or raw[0] != 0 or raw[1] not in (0, 1):
        return None
    sec, nanosec = struct.unpack_from("<iI" if raw[1] == 1 else ">iI", raw, 4)
    return int(sec) * 1_000_000_000 + int(nanosec)


def recording_dir(path: str | Path) -> Path:
    """The rosbag2 directory of ``path`` (the directory, or a .mcap/.db3 file inside it)."""
    path = Path(path)
    if path.is_file() and (path.parent / "metadata.yaml").exists():
        path = path.parent
    if path.suffix == ".bag":
        raise InputError(f"{path} is a ROS 1 bag: convert it first (rosbags-convert --src {path})")
    if not (path / "metadata.yaml").exists():
        raise InputError(f"{path} is not a rosbag2 recording directory (no metadata.yaml); pass the "
                         "directory that ros2 bag record wrote")
    return path


def _storage(rec: Path) -> str:
    import yaml

    try:
        meta = yaml.safe_load((rec / "metadata.yaml").read_text(encoding="utf-8"))
        return str(meta["rosbag2_bagfile_information"]["storage_identifier"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return "unknown"


class _Failure:
    """A planned message that could not be decoded: the reason its frames are skipped."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail


_ROLE_WORD = {"color": "colour", "depth": "depth", "camera_info": "camera_info", "points": "points"}


def _decode(role: str, reader: Any, raw: bytes, msgtype: str) -> Any:
    """A planned message decoded for its role, or a :class:`_Failure`."""
    try:
        msg = reader.deserialize(raw, msgtype)
    except Exception as err:  # corrupt bytes or a definition mismatch: report, do not stop
        return _Failure(f"undeserialisable {_ROLE_WORD[role]} message", f"{type(err).__name__}: {err}")
    try:
        if role == "color":
            return rgb_from_message(msg), str(msg.header.frame_id)
        if role == "depth":
            return depth_from_message(msg)
        if role == "camera_info":
            return camera_from_info(msg, warn=False), distortion_warning(msg)
        return cloud_to_xyz(msg)
    except InputError as err:
        enc = getattr(msg, "encoding", None)
        reason = (f"undecodable {_ROLE_WORD[role]} (encoding {enc})" if enc is not None
                  else f"invalid {_ROLE_WORD[role]} message")
        return _Failure(reason, str(err))


def _nearest(stamps: np.ndarray, query: np.ndarray, slop_ns: int) -> np.ndarray:
    """Per query stamp, the index into ``stamps`` (arrival order) of the nearest stamp within
    ``slop_ns`` (earlier one on a tie), or -1."""
    if stamps.size == 0:
        return np.full(query.shape, -1, np.int64)
    order = np.argsort(stamps, kind="stable")
    s = stamps[order]
    pos = np.searchsorted(s, query)
    left, right = np.clip(pos - 1, 0, s.size - 1), np.clip(pos, 0, s.size - 1)
    dl, dr = np.abs(query - s[left]), np.abs(s[right] - query)
    pick = np.where(dr < dl, right, left)
    return np.where(np.minimum(dl, dr) <= slop_ns, order[pick], -1)


def _at_or_before(stamps: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Per query stamp, the index of the latest stamp at or before it (the earliest when all are
    later: a static camera_info)."""
    order = np.argsort(stamps, kind="stable")
    s = stamps[order]
    pos = np.maximum(np.searchsorted(s, query, side="right") - 1, 0)
    # Of equal stamps (a static camera_info repeated with one stamp) the first recorded, so that
    # frames need not wait for the last one.
    return order[np.searchsorted(s, s[pos], side="left")]


def _plan(stamps: dict[str, list[int]], cfg: IngestConfig, report: IngestReport) -> list[tuple[int, dict[str, int]]]:
    """(colour stamp, role -> message index in arrival order on its topic) per frame, in colour
    stamp order; skipped colour images are counted in ``report``."""
    colour = np.asarray(stamps["color"], np.int64)
    order = np.argsort(colour, kind="stable")
    sorted_stamps = colour[order]
    keep = np.ones(order.size, bool)
    keep[1:] = sorted_stamps[1:] != sorted_stamps[:-1]
    report.skip("duplicate colour stamp", int((~keep).sum()))
    order, query = order[keep], sorted_stamps[keep]
    slop_ns = int(round(cfg.slop_ms * 1e6))
    ok = np.ones(order.size, bool)
    partners: dict[str, np.ndarray] = {}
    for role in ("depth", "points"):
        if role in stamps:
            partners[role] = _nearest(np.asarray(stamps[role], np.int64), query, slop_ns)
            missing = ok & (partners[role] < 0)
            report.skip(f"no {role} within {cfg.slop_ms:g} ms", int(missing.sum()))
            ok &= ~missing
    if "camera_info" in stamps:
        info = np.asarray(stamps["camera_info"], np.int64)
        if info.size == 0:
            report.skip("no camera_info message", int(ok.sum()))
            ok[:] = False
        else:
            partners["camera_info"] = _at_or_before(info, query)
    plan = [(int(query[k]), {"color": int(order[k]), **{r: int(p[k]) for r, p in partners.items()}})
            for k in np.flatnonzero(ok)]
    if cfg.max_frames is not None and len(plan) > cfg.max_frames:
        report.skip(f"beyond max_frames ({cfg.max_frames})", len(plan) - int(cfg.max_frames))
        plan = plan[:int(cfg.max_frames)]
    return plan


def _peek_encoding(reader: Any, conns: list[Any]) -> str | None:
    """Encoding of the first message of an Image topic, or what a CompressedImage's format
    stands for (:func:`~unipose_ros.io.compressed.compressed_encoding`); None if it cannot be read."""
    gen = reader.messages(connections=conns)
    try:
        for conn, _, raw in gen:
            msg = reader.deserialize(raw, conn.msgtype)
            return compressed_encoding(msg.format) if conn.msgtype == COMPRESSED_IMAGE else str(msg.encoding)
    except Exception:  # a broken first message is reported when it is planned
        return None
    finally:
        gen.close()
    return None


def ingest_frames(path: str | Path, cfg: IngestConfig | None = None,
                  report: IngestReport | None = None) -> Iterator[RGBDFrame]:
    """Frames of a rosbag2 recording in colour header-stamp order.

    Each colour image is paired with the depth image (and cloud, with ``use_points``) nearest in
    header stamp within ``cfg.slop_ms``, and with the camera_info latest at or before it (the
    earliest when all are later). Colour images that do not become frames are counted in
    ``report.skipped`` (duplicate stamp, no partner within the slop, undecodable image,
    inconsistent sizes, beyond ``max_frames``) and summarised in a logged warning at the end.

    Args:
        path: recording directory (MCAP or sqlite3), or a file inside it.
        cfg: topics and pairing; defaults to auto-detection.
        report: filled in while the frames are read (complete once the iterator is exhausted).
    Yields:
        RGBDFrame: stamp_ns the colour header stamp, frame_id the colour frame_id, rgb (H, W, 3)
        uint8 RGB, depth (H, W) float32 metres (NaN invalid), points (N, 3) float32 metres or
        None, camera from the camera_info or ``cfg.intrinsics``.
    Raises:
        InputError: not a recording, no colour/depth topic, no camera_info and no
            ``cfg.intrinsics``, bad override.
    """
    cfg = cfg or IngestConfig()
    report = report if report is not None else IngestReport()
    rec = recording_dir(path)
    from rosbags.highlevel import AnyReader, AnyReaderError

    report.recording, report.storage = str(rec), _storage(rec)
    try:
        reader = AnyReader([rec], default_typestore=ros_typestore())
        reader.open()
    except AnyReaderError as err:
        raise InputError(f"cannot open recording {rec}: {err}") from None
    try:
        yield from _ingest(reader, cfg, report)
    finally:
        reader.close()


def _ingest(reader: Any, cfg: IngestConfig, report: IngestReport) -> Iterator[RGBDFrame]:
    all_topics = {name: (str(info.msgtype), int(info.msgcount)) for name, info in reader.topics.items()}
    report.all_topics = {t: [ty, n] for t, (ty, n) in sorted(all_topics.items())}
    conns_of: dict[str, list[Any]] = {}
    for conn in reader.connections:
        conns_of.setdefault(conn.topic, []).append(conn)
    encodings = {t: enc for t, (ty, n) in all_topics.items() if ty in (IMAGE, COMPRESSED_IMAGE) and n > 0
                 if (enc := _peek_encoding(reader, conns_of[t])) is not None}
    notes: list[str] = []
    topics = detect_topics(all_topics, cfg, encodings, notes)
    for note in notes:
        report.warn(note)
    report.topics = topics
    report.ignored = _ignored_reasons(all_topics, topics, cfg)
    report.rgb_encoding, report.depth_encoding = encodings.get(topics["color"]), encodings.get(topics["depth"])
    if "camera_info" not in topics and cfg.intrinsics is None:
        raise InputError(f"{report.recording} has no camera_info topic: give the colour camera's "
                         "intrinsics (IngestConfig.intrinsics = (fx, fy, cx, cy), --intrinsics FX FY CX CY)")

    # Pass 1: header stamps only.
    role_of = {topic: role for role, topic in topics.items()}
    conns = [c for t in role_of for c in conns_of[t]]
    stamps: dict[str, list[int]] = {role: [] for role in topics}
    previous: dict[str, int] = {}
    late: Counter[str] = Counter()
    for conn, _, raw in reader.messages(connections=conns):
        role = role_of[conn.topic]
        s = header_stamp_ns(raw)
        if s is None:
            s = stamp_to_ns(reader.deserialize(raw, conn.msgtype).header.stamp)
        if role in previous and s < previous[role]:
            late[conn.topic] += 1
        previous[role] = s
        stamps[role].append(s)
    report.out_of_order = int(sum(late.values()))
    for topic, n in sorted(late.items()):
        report.warn(f"{n} messages on {topic} have a header stamp older than the previous one "
                    "(frames are emitted sorted by stamp)")
    report.color_messages = len(stamps["color"])
    plan = _plan(stamps, cfg, report)

    # Pass 2: decode planned messages, emit frames in stamp order.
    refs = Counter((role, idx) for _, parts in plan for role, idx in parts.items())
    buffer: dict[tuple[str, int], Any] = {}
    arrived: Counter[str] = Counter()
    nxt = 0
    intrinsics_cams: dict[tuple[int, int], PinholeCamera] = {}
    gen = reader.messages(connections=conns) if plan else iter(())
    try:
        for conn, _, raw in gen:
            role = role_of[conn.topic]
            key = (role, arrived[role])
            arrived[role] += 1
            if key not in refs:
                continue
            buffer[key] = _decode(role, reader, raw, conn.msgtype)
            report.buffered_peak = max(report.buffered_peak, len(buffer))
            while nxt < len(plan) and all(k in buffer for k in plan[nxt][1].items()):
                stamp, parts = plan[nxt]
                nxt += 1
                frame = _assemble(stamp, {r: _take(buffer, refs, (r, i)) for r, i in parts.items()},
                                  cfg, report, intrinsics_cams)
                if frame is not None:
                    report.frames += 1
                    yield frame
            if nxt == len(plan):
                break
    finally:
        if hasattr(gen, "close"):
            gen.close()
    report.skip("planned message missing on the second read", len(plan) - nxt)
    if report.buffered_peak > BUFFER_WARNING:
        report.warn(f"up to {report.buffered_peak} decoded messages waited for their frame: header "
                    "stamps are far from the recording order, which costs memory")
    if set(report.skipped) - {f"beyond max_frames ({cfg.max_frames})"}:
        _log.warning("%s: %d of %d colour images did not become frames: %s", report.recording,
                     sum(report.skipped.values()), report.color_messages, report.skipped)


def _take(buffer: dict[tuple[str, int], Any], refs: Counter, key: tuple[str, int]) -> Any:
    """The decoded message for one frame; freed after its last frame (a copy before that)."""
    refs[key] -= 1
    if refs[key] <= 0:
        del refs[key]
        return buffer.pop(key)
    value = buffer[key]
    return value.copy() if isinstance(value, np.ndarray) else value


def _assemble(stamp: int, parts: dict[str, Any], cfg: IngestConfig, report: IngestReport,
              intrinsics_cams: dict[tuple[int, int], PinholeCamera]) -> RGBDFrame | None:
    """The frame of one planned colour image, or None (counted in ``report.skipped``)."""
    for role in ("color", "depth", "camera_info", "points"):
        part = parts.get(role)
        if isinstance(part, _Failure):
            report.skip(part.reason)
            report.warn(f"{part.reason}: {part.detail}")
            return None
    rgb, frame_id = parts["color"]
    if "camera_info" in parts:
        camera, distortion = parts["camera_info"]
        if distortion:
            report.warn(distortion)
    else:
        h, w = rgb.shape[:2]
        if (h, w) not in intrinsics_cams:
            fx, fy, cx, cy = cfg.intrinsics  # type: ignore[misc]
            intrinsics_cams[(h, w)] = PinholeCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=w, height=h)
        camera = intrinsics_cams[(h, w)]
    frame = RGBDFrame(stamp_ns=stamp, frame_id=frame_id, camera=camera, rgb=rgb, depth=parts["depth"],
                      points=parts.get("points"))
    try:
        frame.validate()
    except InputError as err:
        reason = "inconsistent frame: " + str(err).split(": ")[0][:100]
        report.skip(reason)
        report.warn(str(err))
        return None
    cam = {"fx": camera.fx, "fy": camera.fy, "cx": camera.cx, "cy": camera.cy,
           "width": camera.width, "height": camera.height}
    if report.camera is None:
        report.camera = cam
    elif report.camera != cam:
        report.warn(f"the intrinsics change during the recording (first {report.camera}, at stamp {stamp} {cam})")
    return frame


def ingest_recording(path: str | Path, cfg: IngestConfig | None = None, out_dir: str | Path | None = None,
                     progress: bool = False) -> IngestReport:
    """Read every frame of a recording (to check it) and return its report; with ``out_dir``,
    also write ``out_dir/<recording name>.json``."""
    report = IngestReport()
    from tqdm import tqdm

    with tqdm(unit="frame", desc=f"ingest {Path(path).name}", disable=not progress) as bar:
        for _ in ingest_frames(path, cfg, report):
            bar.update(1)
    if out_dir is not None:
        write_report(report, Path(out_dir) / f"{Path(report.recording).name}.json")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check which topics of rosbag2 RGB-D recordings are used "
                                 "and how many frames they give.")
    ap.add_argument("bags", nargs="+", type=Path, help="recording directories")
    ap.add_argument("--color", help="colour image topic (default: detected)")
    ap.add_argument("--depth", help="depth image topic registered to colour (default: detected)")
    ap.add_argument("--camera-info", help="camera_info topic (default: detected)")
    ap.add_argument("--points", help="PointCloud2 topic (implies --use-points)")
    ap.add_argument("--use-points", action="store_true", help="also read a PointCloud2")
    ap.add_argument("--slop-ms", type=float, default=IngestConfig.slop_ms,
                    help="largest colour/depth header stamp difference (ms)")
    ap.add_argument("--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"),
                    help="colour intrinsics (pixels) for recordings without camera_info")
    ap.add_argument("--max-frames", type=int)
    ap.add_argument("--out", type=Path, help="write <out>/<recording>.json reports here")
    ap.add_argument("--progress", action="store_true", help="tqdm bar per recording")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        cfg = IngestConfig(color=args.color, depth=args.depth, camera_info=args.camera_info, points=args.points,
                           use_points=args.use_points or args.points is not None, slop_ms=args.slop_ms,
                           intrinsics=tuple(args.intrinsics) if args.intrinsics else None,
                           max_frames=args.max_frames)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status = 0
    for bag in args.bags:
        try:
            report = ingest_recording(bag, cfg, args.out, progress=args.progress)
        except InputError as err:
            print(f"error: {bag}: {err}", file=sys.stderr)
            status = 2
            continue
        print(report.format())
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
