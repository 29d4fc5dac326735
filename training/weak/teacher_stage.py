"""Teacher stage: run a 2D keypoint teacher over every frame of a recording and cache its output.

The weak pipeline's only supervision is a 2D pose estimator's keypoints on the colour images. This
stage runs it once per recording and writes, under ``out_dir``:

``<rec>.npz`` (F ingested frames, P people over all frames, J output joints, K teacher joints):

==============  =====================  ==========================================================
stamp           (F,) int64             colour stamp (ns) of EVERY ingested frame, in sequence order
frame_index     (P,) int32             index into ``stamp`` of each person's frame (non-decreasing)
uv              (P, J, 2) float32      keypoints mapped to the output joint set, image pixels (u, v)
conf            (P, J) float32         their confidences (:meth:`JointMap.apply_confidence`)
raw_uv          (P, K, 2) float32      the teacher's own keypoints, image pixels
raw_conf        (P, K) float32         the teacher's own confidences
box             (P, 4) float32         person box (x0, y0, x1, y1) pixel edges
score           (P,) float32           person score in [0, 1]
==============  =====================  ==========================================================

``<rec>.json``: version, teacher name and joint order (``source``, ``source_joints``), output joint
set, configuration and its hash, recording path and fingerprint, frames, people,
frames_without_people, seconds.

The stage resumes: when both files exist with the same configuration hash, the same recording
fingerprint and a frame count that matches the shard, it returns at once. Files are written to a
temporary name and renamed (the JSON last: it marks the cache as complete).

**Plugging in another teacher.** ``TeacherStageConfig.teacher`` is a name of :data:`TEACHERS`
(``"mediapipe"``) or ``"package.module:factory"``; the factory is called with
``teacher_args`` as keyword arguments and must return a
:class:`~unipose_ros.teachers.base.Teacher2D`: an object with

- ``source``: a joint order known to :func:`~unipose_ros.core.joints.joint_map` (``"blazepose33"``
  or ``"coco17"``; a COCO-17 model such as RTMPose or ViTPose exported to ONNX uses ``"coco17"``);
- ``detect(rgb) -> list[Keypoints2D]`` on a whole (H, W, 3) uint8 RGB image;
- ``detect_in_boxes(rgb, boxes) -> list[Keypoints2D]`` once per person box (a top-down model
  crops each box, runs, and maps the keypoints back to full-image pixels);
- ``close()`` to free the runtime.

For example ``teacher: "my_pkg.rtmpose:build"`` with ``teacher_args: {model: rtmpose-m.onnx}``
where ``build(model)`` returns an object that runs an onnxruntime session with the SimCC decoding
and reports ``source = "coco17"``. Person boxes come from the depth proposals
(:class:`~unipose_ros.estimators.baseline.BaselineEstimator.detect_2d`, settings in
:class:`DetectionConfig`), so a top-down model needs no person detector of its own.

Command line::

    python -m unipose_training.weak.teacher_stage RECORDING [RECORDING...] --out RUN/teacher
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from unipose_ros.core.config import stable_hash
from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import joint_map, joint_set
from unipose_ros.core.person_proposals import ProposalConfig
from unipose_ros.teachers.base import Teacher2D

if TYPE_CHECKING:
    from unipose_training.datasets.ingest import IngestConfig

CACHE_VERSION = 1


def _mediapipe(**kwargs: Any) -> Teacher2D:
    from unipose_ros.teachers.mediapipe_pose import MediaPipePoseTeacher  # noqa: PLC0415 (heavy)

    return MediaPipePoseTeacher(**kwargs)


#: Teachers known by name -> factory(**teacher_args).
TEACHERS: dict[str, Callable[..., Teacher2D]] = {"mediapipe": _mediapipe}


def build_teacher(name: str, **kwargs: Any) -> Teacher2D:
    """The teacher called ``name``: a key of :data:`TEACHERS` or ``"package.module:factory"``.

    Args:
        name: teacher name or factory path.
        kwargs: keyword arguments of the factory (e.g. ``min_detection_confidence`` for
            MediaPipe).
    Returns:
        a :class:`~unipose_ros.teachers.base.Teacher2D` whose ``source`` has a joint map.
    Raises:
        InputError: unknown name, factory that cannot be imported, or a result that is not a
            teacher (the message says what is missing).
    """
    if name in TEACHERS:
        teacher = TEACHERS[name](**kwargs)
    elif ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise InputError(f"cannot load teacher factory {name!r} ({exc}): give 'package.module:callable' "
                             "importable from this Python environment") from exc
        teacher = factory(**kwargs)
    else:
        raise InputError(f"unknown teacher {name!r}: use one of {sorted(TEACHERS)} or 'package.module:factory' "
                         "returning a Teacher2D (source, detect, detect_in_boxes, close)")
    missing = [a for a in ("source", "detect", "detect_in_boxes", "close") if not hasattr(teacher, a)]
    if missing:
        raise InputError(f"teacher {name!r} returned {type(teacher).__name__} without {missing}: a Teacher2D "
                         "needs source, detect, detect_in_boxes and close")
    try:
        joint_map(teacher.source, "itop15")
    except KeyError as exc:
        teacher.close()
        raise InputError(f"teacher {name!r} reports joint order {teacher.source!r}, which has no joint map; "
                         "use 'blazepose33' or 'coco17' (see unipose_ros.core.joints.joint_map)") from exc
    return teacher


@dataclass(frozen=True)
class DetectionConfig:
    """How people are found (the fields of
    :class:`~unipose_ros.estimators.baseline.BaselineConfig` that ``detect_2d`` reads; same
    defaults)."""

    multi_person: bool = True
    always_full_image: bool = False
    max_people: int = 6
    min_person_score: float = 0.3
    duplicate_distance: float = 0.15
    proposals: ProposalConfig = field(default_factory=ProposalConfig)


@dataclass(frozen=True)
class TeacherStageConfig:
    """Settings of :func:`run_teacher_stage`.

    Attributes:
        teacher: a :data:`TEACHERS` name or ``"package.module:factory"`` (see the module doc).
        teacher_args: keyword arguments of the teacher factory.
        detection: person finding (proposal boxes, score threshold, duplicates).
        joint_set: output joint set of ``uv`` / ``conf``.
    """

    teacher: str = "mediapipe"
    teacher_args: Mapping[str, Any] = field(default_factory=dict)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    joint_set: str = "itop15"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["teacher_args"] = dict(self.teacher_args)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "TeacherStageConfig":
        """Build from a mapping (YAML); ``teacher_args`` values are kept as given."""
        from unipose_ros.core.config import from_dict  # noqa: PLC0415

        data = dict(data or {})
        args = dict(data.pop("teacher_args", None) or {})
        cfg = from_dict(cls, data, "teacher stage config")
        return dataclasses.replace(cfg, teacher_args=args)

    def baseline_config(self) -> Any:
        """The :class:`~unipose_ros.estimators.baseline.BaselineConfig` whose ``detect_2d`` this is."""
        from unipose_ros.estimators.baseline import BaselineConfig  # noqa: PLC0415

        d = self.detection
        return BaselineConfig(joint_set=self.joint_set, multi_person=d.multi_person,
                              always_full_image=d.always_full_image, max_people=d.max_people,
                              min_person_score=d.min_person_score, duplicate_distance=d.duplicate_distance,
                              proposals=d.proposals)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        return _jsonable(to_dict() if callable(to_dict) else dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def config_hash(*parts: Any) -> str:
    """Short stable hash (16 hex digits) of JSON-able configuration objects (dataclasses allowed)."""
    return stable_hash([_jsonable(p) for p in parts], digits=16)


def recording_fingerprint(recording: str | Path) -> str:
    """Hash of a rosbag2 recording's ``metadata.yaml`` (message counts, duration, files), or of
    the names and sizes of its files when it has none: a re-recorded folder changes it."""
    rec = Path(recording)
    meta = rec / "metadata.yaml"
    if meta.is_file():
        data = meta.read_bytes()
    elif rec.is_dir():
        data = json.dumps(sorted((p.name, p.stat().st_size) for p in rec.iterdir() if p.is_file())).encode()
    else:
        data = str(rec.stat().st_size if rec.exists() else rec).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def cache_paths(out_dir: str | Path, recording: str | Path) -> tuple[Path, Path]:
    """(``<out_dir>/<rec>.npz``, ``<out_dir>/<rec>.json``) of a recording."""
    name = Path(recording).name
    return Path(out_dir) / f"{name}.npz", Path(out_dir) / f"{name}.json"


def write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write a compressed npz via a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON via a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=1))
    os.replace(tmp, path)


def _array_length(npz: Path, array: str) -> int:
    try:
        with np.load(npz, allow_pickle=False) as z:
            return int(len(z[array]))
    except (OSError, ValueError, KeyError):
        return -1


def cache_is_current(npz: Path, meta_path: Path, expected_hash: str, fingerprint: str,
                     count_key: str = "frames", array: str = "stamp") -> bool:
    """True when both files exist, the JSON has ``expected_hash`` and ``fingerprint``, and its
    count ``count_key`` equals the length of the shard's ``array`` (a check of completeness)."""
    if not (npz.is_file() and meta_path.is_file()):
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("config_hash") == expected_hash and meta.get("recording_fingerprint") == fingerprint
            and meta.get(count_key) == _array_length(npz, array))


def _empty(j: int, k: int) -> dict[str, np.ndarray]:
    return {"frame_index": np.zeros(0, np.int32), "uv": np.zeros((0, j, 2), np.float32),
            "conf": np.zeros((0, j), np.float32), "raw_uv": np.zeros((0, k, 2), np.float32),
            "raw_conf": np.zeros((0, k), np.float32), "box": np.zeros((0, 4), np.float32),
            "score": np.zeros(0, np.float32)}


def run_teacher_stage(recording: str | Path, out_dir: str | Path, cfg: TeacherStageConfig | None = None,
                      ingest_cfg: "IngestConfig | None" = None, progress: bool = True,
                      teacher: Teacher2D | None = None) -> Path:
    """Run the 2D teacher on every frame of ``recording``; write ``<out_dir>/<rec>.npz`` + ``.json``.

    Args:
        recording: rosbag2 recording directory (read by ``unipose_training.datasets.ingest.ingest_frames``).
        out_dir: cache folder (created).
        cfg: teacher and person-finding settings.
        ingest_cfg: how frames are read (topics, pairing slop, max_frames).
        progress: tqdm bar over frames.
        teacher: an already built teacher (not closed here); None builds ``cfg.teacher`` (and
            closes it). Its ``source`` must match what ``cfg.teacher`` would report.
    Returns:
        the ``.npz`` path (existing and current caches are returned without work).
    Raises:
        InputError: a frame without colour image, an unknown teacher, an unreadable recording.
    """
    from unipose_ros.estimators.baseline import BaselineEstimator  # noqa: PLC0415
    from unipose_training.datasets.ingest import IngestConfig, IngestReport, ingest_frames  # noqa: PLC0415

    cfg = cfg or TeacherStageConfig()
    ingest_cfg = ingest_cfg or IngestConfig()
    rec = Path(recording)
    npz, meta_path = cache_paths(out_dir, rec)
    chash = config_hash(cfg, ingest_cfg, CACHE_VERSION)
    fingerprint = recording_fingerprint(rec)
    if cache_is_current(npz, meta_path, chash, fingerprint):
        return npz
    own = teacher is None
    teacher = build_teacher(cfg.teacher, **dict(cfg.teacher_args)) if own else teacher
    t0 = time.perf_counter()
    try:
        estimator = BaselineEstimator(teacher, cfg.baseline_config())
        js = joint_set(cfg.joint_set)
        jmap = joint_map(teacher.source, js.name)
        rows: dict[str, list] = {k: [] for k in _empty(1, 1)}
        stamps: list[int] = []
        without = 0
        ingest_report = IngestReport()
        frames = ingest_frames(rec, ingest_cfg, ingest_report)
        if progress:
            from tqdm import tqdm  # noqa: PLC0415

            frames = tqdm(frames, unit="frame", desc=f"teacher {rec.name}")
        for i, frame in enumerate(frames):
            if frame.rgb is None:
                raise InputError(f"{rec}: frame {frame.stamp_ns} has no colour image; the 2D teacher needs "
                                 "colour: set the colour topic (IngestConfig.color)")
            stamps.append(int(frame.stamp_ns))
            people = estimator.detect_2d(frame)
            if not people:
                without += 1
            for kp in people:
                rows["frame_index"].append(i)
                rows["uv"].append(jmap.apply(kp.uv).astype(np.float32))
                rows["conf"].append(jmap.apply_confidence(kp.confidence))
                rows["raw_uv"].append(kp.uv.astype(np.float32))
                rows["raw_conf"].append(kp.confidence.astype(np.float32))
                rows["box"].append(np.asarray(kp.box, np.float32))
                rows["score"].append(np.float32(kp.score))
    finally:
        if own:
            teacher.close()
    empty = _empty(len(js), len(jmap.source_names))
    arrays = {k: (np.stack(v).astype(empty[k].dtype) if v else empty[k]) for k, v in rows.items()}
    arrays["stamp"] = np.asarray(stamps, np.int64)
    meta = {
        "version": CACHE_VERSION, "recording": str(rec.resolve()), "recording_fingerprint": fingerprint,
        "teacher": cfg.teacher, "source": teacher.source, "source_joints": list(jmap.source_names),
        "joint_set": js.name, "joints": list(js.joints), "config": cfg.to_dict(),
        "ingest": _jsonable(ingest_cfg), "config_hash": chash, "frames": len(stamps),
        "people": int(len(arrays["score"])), "frames_without_people": without,
        "seconds": round(time.perf_counter() - t0, 2), "ingest_report": ingest_report.to_dict(),
    }
    write_npz_atomic(npz, arrays)
    write_json_atomic(meta_path, meta)  # last: marks the cache as complete
    return npz


@dataclass
class TeacherCache:
    """A teacher cache read back (see the module docstring for the arrays).

    Attributes:
        stamp: (F,) int64 ns. frame_index: (P,) int32. uv: (P, J, 2) float32 px. conf: (P, J).
        raw_uv: (P, K, 2). raw_conf: (P, K). box: (P, 4). score: (P,).
        meta: the JSON report.
    """

    stamp: np.ndarray
    frame_index: np.ndarray
    uv: np.ndarray
    conf: np.ndarray
    raw_uv: np.ndarray
    raw_conf: np.ndarray
    box: np.ndarray
    score: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        order = np.argsort(self.frame_index, kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            for name in ("frame_index", "uv", "conf", "raw_uv", "raw_conf", "box", "score"):
                setattr(self, name, getattr(self, name)[order])
        self._starts = np.searchsorted(self.frame_index, np.arange(len(self.stamp) + 1))

    @property
    def frames(self) -> int:
        return len(self.stamp)

    @property
    def people(self) -> int:
        return len(self.frame_index)

    def rows_at(self, frame_index: int) -> range:
        """Indices (into the P people) of the people found in frame ``frame_index``."""
        if not 0 <= frame_index < self.frames:
            raise IndexError(f"frame {frame_index} out of range: the cache has {self.frames} frames")
        return range(int(self._starts[frame_index]), int(self._starts[frame_index + 1]))

    def people_at(self, frame_index: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
        """The people of frame ``frame_index``: (uv (J, 2) px, conf (J,), box (4,), score)."""
        return [(self.uv[r], self.conf[r], self.box[r], float(self.score[r])) for r in self.rows_at(frame_index)]


def load_teacher_cache(path: str | Path) -> TeacherCache:
    """Read ``<rec>.npz`` (and its ``.json`` beside it) written by :func:`run_teacher_stage`."""
    npz = Path(path)
    if npz.suffix != ".npz":
        npz = npz.with_suffix(".npz")
    meta_path = npz.with_suffix(".json")
    if not (npz.is_file() and meta_path.is_file()):
        raise InputError(f"no teacher cache at {npz} (needs {npz.name} and {meta_path.name}): run "
                         "python -m unipose_training.weak.teacher_stage <recording> --out <folder>")
    meta = json.loads(meta_path.read_text())
    if meta.get("version") != CACHE_VERSION:
        raise InputError(f"{meta_path} is teacher cache version {meta.get('version')}, expected "
                         f"{CACHE_VERSION}: delete it and run the teacher stage again")
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in ("stamp", "frame_index", "uv", "conf", "raw_uv", "raw_conf", "box", "score")}
    return TeacherCache(**arrays, meta=meta)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the 2D teacher over recordings and cache its keypoints.")
    ap.add_argument("recordings", nargs="+", type=Path, help="rosbag2 recording directories")
    ap.add_argument("--out", type=Path, required=True, help="cache folder")
    ap.add_argument("--config", type=Path, help="YAML TeacherStageConfig")
    ap.add_argument("--teacher", help="teacher name or package.module:factory (overrides the config)")
    ap.add_argument("--max-frames", type=int, help="read at most this many frames per recording")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    from unipose_training.datasets.ingest import IngestConfig  # noqa: PLC0415

    cfg = TeacherStageConfig()
    if args.config:
        import yaml  # noqa: PLC0415

        cfg = TeacherStageConfig.from_dict(yaml.safe_load(args.config.read_text()))
    if args.teacher:
        cfg = dataclasses.replace(cfg, teacher=args.teacher)
    ingest_cfg = IngestConfig(max_frames=args.max_frames)
    for rec in args.recordings:
        path = run_teacher_stage(rec, args.out, cfg, ingest_cfg, progress=not args.no_progress)
        meta = json.loads(path.with_suffix(".json").read_text())
        print(f"{rec.name}: {meta['frames']} frames, {meta['people']} people, "
              f"{meta['frames_without_people']} frames without people -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
