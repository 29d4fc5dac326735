"""Weak samples: one person's points, teacher keypoints and track per frame, and the dataset of them.

**Building.** :func:`build_samples` reads a recording again (``unipose_training.datasets.ingest``, the same
frames as the teacher stage) and, for every person the teacher found, cuts the person's points
from the depth image around a centre taken from the teacher's trunk keypoints
(:func:`~unipose_ros.core.crop.centre_from_keypoints`). It writes ``<out_dir>/<rec>.npz``
(S samples, N stored points, J joints):

==============  ====================  ==========================================================
points          (S, N, 3) float16     :func:`~unipose_ros.core.crop.crop_points`: normalised cube
                                      coordinates p = (xyz - centre) / (cube_m / 2) in [-1, 1]
point_count     (S,) int32            points found in the cube (before sampling to N)
centre          (S, 3) float64        crop centre, metres, camera optical frame
intrinsics      (S, 6) float64        fx, fy, cx, cy, width, height of the frame
uv              (S, J, 2) float32     teacher keypoints, image pixels (u, v)
conf            (S, J) float32        teacher confidences
surface_z       (S, J) float32        median valid depth (m) in a ``surface_window`` box at uv, NaN none
stamp           (S,) int64            frame stamp, ns
frame_index     (S,) int32            index of the frame among the ingested frames
track           (S,) int32            person id within the recording (see :func:`assign_tracks`)
score           (S,) float32          teacher person score
teacher_row     (S,) int32            row of the person in the teacher cache
joints_gt       (S, J, 3) float32     ground truth (metres, optical frame) when the recording has
                                      ``/ground_truth/skeletons/<joint set>``, else NaN. For
                                      diagnostics and evaluation only: no training loss reads it.
crop_size, cube_m, joint_set, version  scalars
==============  ====================  ==========================================================

and ``<rec>.json``, a :class:`SampleReport` (every person not kept is counted under its reason).
Like the teacher stage it resumes (same configuration hash, recording fingerprint and teacher
cache) and writes atomically. No depth or colour crops are stored: the lifting stage cuts its own
with :func:`unipose_training.supervised.crops.crop_frames`.

**Dataset.** :class:`WeakSampleDataset` serves windows of consecutive frames of one track for the
temporal losses. Geometry is never augmented (the ray loss lives in camera coordinates); training
only draws a random subset of the stored points. Memory: every shard given is held in memory
(about 6.5 KB per sample with 1024 stored points, so 100k samples take ~650 MB); build one dataset
per recording (or per group of recordings) when that is too much.

Command line::

    python -m unipose_training.weak.samples RECORDING --teacher RUN/teacher --out RUN/samples
"""
from __future__ import annotations

import argparse
import json
import logging
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from unipose_ros.core.crop import CropConfig, PersonCrop, centre_from_keypoints, crop_points, make_crop
from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import joint_set
from unipose_training.weak.teacher_stage import (
    cache_is_current,
    cache_paths,
    config_hash,
    load_teacher_cache,
    recording_fingerprint,
    write_json_atomic,
    write_npz_atomic,
)

if TYPE_CHECKING:
    from unipose_training.datasets.ingest import IngestConfig

_log = logging.getLogger(__name__)

SAMPLES_VERSION = 1
MAX_LISTED_SKIPS = 1000

SKIP_FEW_KEYPOINTS = "too few confident keypoints"
SKIP_NO_DEPTH = "no valid depth at the trunk keypoints"
SKIP_FEW_POINTS = "too few depth points"


@dataclass(frozen=True)
class SampleConfig:
    """Settings of :func:`build_samples`.

    Attributes:
        crop: crop cube geometry (``size`` px sets the point crop unit ``cube_m / size``).
        n_points: points stored per sample (the dataset draws its subset from them).
        min_points: a person with fewer depth points in the cube is skipped.
        min_keypoints: a person with fewer keypoints of confidence >= ``keypoint_conf`` is skipped.
        keypoint_conf: confidence of a keypoint counted as confident (also the centre's threshold).
        track_gate_m: largest centre distance (m) between frames of one track.
        track_max_gap: a track can be continued at most this many frames after it was last seen
            (1 = only from the previous frame).
        surface_window: side (odd, pixels) of the box whose median depth is ``surface_z``.
        gt_gate_m: largest distance (m) between a sample's centre and a ground-truth root joint
            for the ground truth to be attached to the sample.
        centre_offset_m: ``depth_offset_m`` of :func:`~unipose_ros.core.crop.centre_from_keypoints`.
        seed: point sampling seed (combined with the recording name).
    """

    crop: CropConfig = field(default_factory=CropConfig)
    n_points: int = 1024
    min_points: int = 50
    min_keypoints: int = 6
    keypoint_conf: float = 0.3
    track_gate_m: float = 0.5
    track_max_gap: int = 1
    surface_window: int = 5
    gt_gate_m: float = 0.5
    centre_offset_m: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.surface_window < 1 or self.surface_window % 2 == 0:
            raise ValueError(f"surface_window must be an odd number of pixels, got {self.surface_window}")
        if self.n_points < 1 or self.min_points < 1:
            raise ValueError(f"n_points and min_points must be positive, got {self.n_points}, {self.min_points}")
        if self.track_max_gap < 1:
            raise ValueError(f"track_max_gap must be >= 1 frame, got {self.track_max_gap}")


@dataclass
class SampleReport:
    """What :func:`build_samples` did with one recording.

    ``people`` = teacher people over all frames = ``samples + sum(skipped.values())``;
    ``skipped`` counts the people not kept per reason; ``skipped_people`` lists the first
    :data:`MAX_LISTED_SKIPS` of them (frame_index, stamp, teacher_row, reason)."""

    recording: str
    frames: int = 0
    frames_without_people: int = 0
    people: int = 0
    samples: int = 0
    tracks: int = 0
    skipped: dict = field(default_factory=dict)
    skipped_people: list = field(default_factory=list)
    has_gt: bool = False
    gt_people: int = 0
    gt_matched: int = 0
    seconds: float = 0.0
    version: int = SAMPLES_VERSION
    joint_set: str = ""
    config: dict = field(default_factory=dict)
    config_hash: str = ""
    recording_fingerprint: str = ""
    teacher_cache: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------- geometry


def surface_depth(depth: np.ndarray, uv: np.ndarray, window: int = 5) -> np.ndarray:
    """(J,) float32 metres: the median valid depth in a ``window`` x ``window`` box centred on the
    pixel nearest each keypoint; NaN when the box holds no valid depth or uv is not finite.

    Args:
        depth: (H, W) float32 metres, NaN or <= 0 invalid.
        uv: (J, 2) pixels (u, v).
        window: odd box side, pixels.
    """
    depth = np.asarray(depth, dtype=np.float32)
    uv = np.asarray(uv, dtype=np.float64)
    h, w = depth.shape
    r = int(window) // 2
    out = np.full(len(uv), np.nan, np.float32)
    for j, (u, v) in enumerate(uv):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        cu, cv = int(round(u)), int(round(v))
        patch = depth[max(cv - r, 0):min(cv + r + 1, h), max(cu - r, 0):min(cu + r + 1, w)]
        vals = patch[np.isfinite(patch) & (patch > 0)]
        if vals.size:
            out[j] = np.median(vals)
    return out


def assign_tracks(frame_index: np.ndarray, centre: np.ndarray, gate_m: float = 0.5,
                  max_gap: int = 1) -> np.ndarray:
    """Person ids across frames from crop centres (greedy nearest neighbour).

    Samples are processed frame by frame (in ``frame_index`` order). The pairs (sample of this
    frame, track last seen at most ``max_gap`` frames ago) closer than ``gate_m`` are taken
    greedily by increasing distance, one sample per track; the remaining samples start new
    tracks. Ids count up from 0 in order of appearance.

    Args:
        frame_index: (S,) int frame of each sample.
        centre: (S, 3) metres, optical frame.
        gate_m: largest distance of a continuation, metres.
        max_gap: frames a track may be unseen and still continue.
    Returns:
        (S,) int32 track ids.
    """
    frame_index = np.asarray(frame_index, dtype=np.int64)
    centre = np.asarray(centre, dtype=np.float64)
    ids = np.full(len(frame_index), -1, np.int32)
    live: dict[int, tuple[np.ndarray, int]] = {}  # id -> (last centre, last frame)
    next_id = 0
    for f in np.unique(frame_index):
        rows = np.flatnonzero(frame_index == f)
        pairs = []
        for tid, (c, last) in live.items():
            if 0 < f - last <= max_gap:
                d = np.linalg.norm(centre[rows] - c, axis=1)
                pairs += [(float(d[k]), int(rows[k]), tid) for k in np.flatnonzero(d <= gate_m)]
        taken: set[int] = set()
        for _, row, tid in sorted(pairs):
            if ids[row] < 0 and tid not in taken:
                ids[row] = tid
                taken.add(tid)
        for row in rows:
            if ids[row] < 0:
                ids[row] = next_id
                next_id += 1
            live[int(ids[row])] = (centre[row], int(f))
    return ids


def match_ground_truth(centres: Sequence[np.ndarray], roots: Sequence[np.ndarray], gate_m: float) -> list[int | None]:
    """For each sample centre (3,) the index of the ground-truth root (3,) nearest to it within
    ``gate_m`` metres (one-to-one, greedy by distance), or None."""
    pairs = sorted((float(np.linalg.norm(np.asarray(c) - np.asarray(r))), a, b)
                   for a, c in enumerate(centres) for b, r in enumerate(roots)
                   if np.isfinite(r).all())
    out: list[int | None] = [None] * len(centres)
    used: set[int] = set()
    for d, a, b in pairs:
        if d <= gate_m and out[a] is None and b not in used:
            out[a] = b
            used.add(b)
    return out


# ------------------------------------------------------------------------------------- building


def _ground_truth(recording: Path, js_name: str) -> dict[int, list] | None:
    """Header stamp -> ground-truth poses, or None when the recording has no such topic."""
    from unipose_ros.io.bag import DEFAULT_TOPICS, RecordingReader  # noqa: PLC0415

    try:
        with RecordingReader(recording) as reader:
            if DEFAULT_TOPICS.ground_truth(js_name) not in reader.topics:
                return None
            return reader.ground_truth(js_name)
    except InputError:
        return None


def _gt_at(gt: dict[int, list], stamps: np.ndarray, stamp: int, slop_ns: int) -> list:
    if stamp in gt:
        return gt[stamp]
    k = int(np.searchsorted(stamps, stamp))
    best = [s for s in (stamps[k - 1] if k > 0 else None, stamps[k] if k < len(stamps) else None) if s is not None]
    best = [s for s in best if abs(int(s) - stamp) <= slop_ns]
    return gt[int(min(best, key=lambda s: abs(int(s) - stamp)))] if best else []


def _empty(n: int, j: int) -> dict[str, np.ndarray]:
    return {
        "points": np.zeros((0, n, 3), np.float16), "point_count": np.zeros(0, np.int32),
        "centre": np.zeros((0, 3), np.float64), "intrinsics": np.zeros((0, 6), np.float64),
        "uv": np.zeros((0, j, 2), np.float32), "conf": np.zeros((0, j), np.float32),
        "surface_z": np.zeros((0, j), np.float32), "stamp": np.zeros(0, np.int64),
        "frame_index": np.zeros(0, np.int32), "score": np.zeros(0, np.float32),
        "teacher_row": np.zeros(0, np.int32), "joints_gt": np.zeros((0, j, 3), np.float32),
    }


def build_samples(recording: str | Path, teacher_cache_path: str | Path, out_dir: str | Path,
                  cfg: SampleConfig | None = None, ingest_cfg: "IngestConfig | None" = None,
                  progress: bool = True) -> Path:
    """Write the weak samples of one recording (see the module docstring).

    Args:
        recording: rosbag2 recording directory.
        teacher_cache_path: its teacher cache ``.npz`` (:func:`~unipose_training.weak.teacher_stage.run_teacher_stage`).
        out_dir: samples folder (created).
        cfg: :class:`SampleConfig`.
        ingest_cfg: must be the ingest settings of the teacher stage (same frames).
        progress: tqdm bar over frames.
    Returns:
        the ``.npz`` path (an existing, current one is returned without work).
    Raises:
        InputError: frames without depth, or frames that differ from the teacher cache's.
    """
    from unipose_training.datasets.ingest import IngestConfig, ingest_frames  # noqa: PLC0415

    cfg = cfg or SampleConfig()
    ingest_cfg = ingest_cfg or IngestConfig()
    rec = Path(recording)
    cache = load_teacher_cache(teacher_cache_path)
    npz, meta_path = cache_paths(out_dir, rec)
    fingerprint = recording_fingerprint(rec)
    chash = config_hash(cfg, ingest_cfg, cache.meta.get("config_hash"), SAMPLES_VERSION)
    if cache_is_current(npz, meta_path, chash, fingerprint, count_key="samples"):
        return npz
    if cache.meta.get("recording_fingerprint") not in (None, fingerprint):
        raise InputError(f"the teacher cache {teacher_cache_path} was made from another version of {rec} "
                         "(its metadata.yaml changed): run the teacher stage again")
    js = joint_set(cache.meta.get("joint_set", "itop15"))
    report = SampleReport(recording=rec.name, joint_set=js.name, config=asdict(cfg), config_hash=chash,
                          recording_fingerprint=fingerprint, teacher_cache=str(Path(teacher_cache_path)))
    gt = _ground_truth(rec, js.name)
    report.has_gt = gt is not None
    gt_stamps = np.array(sorted(gt), np.int64) if gt else np.zeros(0, np.int64)
    slop_ns = int(float(getattr(ingest_cfg, "slop_ms", 20.0)) * 1e6)
    rng = np.random.default_rng([int(cfg.seed), zlib.crc32(rec.name.encode())])
    rows: dict[str, list] = {k: [] for k in _empty(1, 1)}
    skipped: Counter[str] = Counter()
    t0 = time.perf_counter()

    def skip(i: int, stamp: int, row: int, reason: str) -> None:
        skipped[reason] += 1
        if len(report.skipped_people) < MAX_LISTED_SKIPS:
            report.skipped_people.append({"frame_index": i, "stamp": stamp, "teacher_row": row, "reason": reason})

    frames = ingest_frames(rec, ingest_cfg)
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        frames = tqdm(frames, total=cache.frames, unit="frame", desc=f"samples {rec.name}")
    for i, frame in enumerate(frames):
        stamp = int(frame.stamp_ns)
        if i >= cache.frames or stamp != int(cache.stamp[i]):
            raise InputError(f"{rec}: frame {i} (stamp {stamp}) is not the teacher cache's frame {i}: build the "
                             "samples with the same ingest settings as the teacher stage, or run it again")
        if frame.depth is None:
            raise InputError(f"{rec}: frame {stamp} has no depth image; weak samples need depth registered "
                             "to colour (IngestConfig.depth)")
        report.frames += 1
        cam = frame.camera
        kept_centres = []
        people = cache.rows_at(i)
        if len(people) == 0:
            report.frames_without_people += 1
        for r in people:
            report.people += 1
            uv, conf = cache.uv[r], cache.conf[r]
            confident = (conf >= cfg.keypoint_conf) & np.isfinite(uv).all(axis=1)
            if int(confident.sum()) < cfg.min_keypoints:
                skip(i, stamp, r, SKIP_FEW_KEYPOINTS)
                continue
            centre = centre_from_keypoints(frame.depth, cam, uv, conf, cfg.keypoint_conf, js,
                                           depth_offset_m=cfg.centre_offset_m)
            if centre is None:
                skip(i, stamp, r, SKIP_NO_DEPTH)
                continue
            crop = make_crop(cam, centre, cfg.crop)
            pts, count = crop_points(frame.depth, crop, cfg.n_points, rng)
            if count < cfg.min_points:
                skip(i, stamp, r, SKIP_FEW_POINTS)
                continue
            rows["points"].append(pts.astype(np.float16))
            rows["point_count"].append(count)
            rows["centre"].append(np.asarray(centre, np.float64))
            rows["intrinsics"].append(np.array([cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height], np.float64))
            rows["uv"].append(uv.astype(np.float32))
            rows["conf"].append(conf.astype(np.float32))
            rows["surface_z"].append(surface_depth(frame.depth, uv, cfg.surface_window))
            rows["stamp"].append(stamp)
            rows["frame_index"].append(i)
            rows["score"].append(float(cache.score[r]))
            rows["teacher_row"].append(r)
            rows["joints_gt"].append(np.full((len(js), 3), np.nan, np.float32))
            kept_centres.append(np.asarray(centre, np.float64))
        if gt is not None:
            truth = _gt_at(gt, gt_stamps, stamp, slop_ns)
            report.gt_people += len(truth)
            if kept_centres and truth:
                first = len(rows["stamp"]) - len(kept_centres)
                match = match_ground_truth(kept_centres, [p.root for p in truth], cfg.gt_gate_m)
                for k, g in enumerate(match):
                    if g is not None:
                        rows["joints_gt"][first + k] = truth[g].joints.astype(np.float32)
                        report.gt_matched += 1
    if report.frames != cache.frames:
        raise InputError(f"{rec}: read {report.frames} frames but the teacher cache has {cache.frames}: build "
                         "the samples with the same ingest settings as the teacher stage")
    empty = _empty(cfg.n_points, len(js))
    arrays = {k: (np.stack(v).astype(empty[k].dtype) if v else empty[k]) for k, v in rows.items()}
    arrays["track"] = assign_tracks(arrays["frame_index"], arrays["centre"], cfg.track_gate_m, cfg.track_max_gap)
    arrays.update(crop_size=np.int32(cfg.crop.size), cube_m=np.float64(cfg.crop.cube_m),
                  joint_set=np.array(js.name), version=np.int32(SAMPLES_VERSION))
    report.samples = int(len(arrays["stamp"]))
    report.tracks = int(len(np.unique(arrays["track"])))
    report.skipped = dict(skipped)
    report.seconds = round(time.perf_counter() - t0, 2)
    if skipped:
        _log.warning("%s: %d of %d teacher people not kept (%s)", rec.name, sum(skipped.values()), report.people,
                     ", ".join(f"{n} {why}" for why, n in skipped.items()))
    write_npz_atomic(npz, arrays)
    write_json_atomic(meta_path, report.to_dict())  # last: marks the shard as complete
    return npz


def load_samples(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of one samples shard (``.npz``), loaded into memory."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no weak samples at {path}: run python -m unipose_training.weak.samples")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# -------------------------------------------------------------------------------------- dataset


def _shard_list(shards: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(shards, (str, Path)):
        d = Path(shards)
        if d.is_file():
            return [d]
        files = sorted(p for p in d.glob("*.npz") if p.with_suffix(".json").exists()) if d.is_dir() else []
    else:
        files = [Path(p) for p in shards]
    if not files:
        raise InputError(f"no weak sample shards in {shards}: build them with python -m unipose_training.weak.samples")
    return files


def _windows(frame_index: np.ndarray, track: np.ndarray, shard: np.ndarray, window: int,
             stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(W, window) sample indices and validity of the windows: every ``stride``-th sample of each
    run of consecutive frames of one track is a window's centre; positions past the run's ends
    repeat the edge sample and are invalid."""
    before = window // 2
    offsets = np.arange(window) - before
    idx_rows, valid_rows = [], []
    keys = np.stack([shard, track], axis=1)
    for key in np.unique(keys, axis=0):
        members = np.flatnonzero((shard == key[0]) & (track == key[1]))
        members = members[np.argsort(frame_index[members], kind="stable")]
        breaks = np.flatnonzero(np.diff(frame_index[members]) != 1) + 1
        for run in np.split(members, breaks):
            pos = np.arange(0, len(run), stride)[:, None] + offsets[None, :]
            valid_rows.append((pos >= 0) & (pos < len(run)))
            idx_rows.append(run[np.clip(pos, 0, len(run) - 1)])
    if not idx_rows:
        return np.zeros((0, window), np.int64), np.zeros((0, window), bool)
    return np.concatenate(idx_rows).astype(np.int64), np.concatenate(valid_rows)


class WeakSampleDataset(Dataset):
    """Windows of consecutive frames of one person track, for the weak losses.

    Args:
        shards: a samples folder (``*.npz`` with a ``.json`` beside), one ``.npz``, or a list.
        window: frames T per item (odd values centre each window on its sample).
        stride: every ``stride``-th sample of a track starts a window (as its centre).
        n_points: points N per frame, drawn from the stored ones (random when ``train``, evenly
            spaced otherwise).
        features: add the teacher keypoint channels
            (:func:`~unipose_ros.core.keypoint_features.keypoint_point_features`).
        sigma_px: their Gaussian width, image pixels.
        train: random point subsets, seeded from (seed, epoch, index).
        seed: point subset seed.

    Items (``dataset[i]`` or ``dataset[(epoch, i)]``), dict of tensors:
    ``points`` (T, N, 3) float32 normalised cube coordinates; ``features`` (T, N, J) float32
    (T, N, 0 without features); ``uv`` (T, J, 2) px; ``conf`` (T, J); ``intrinsics`` (T, 4) fx,
    fy, cx, cy; ``surface_z`` (T, J) metres (NaN none); ``centre`` (T, 3) metres;
    ``unit_m`` (T,) metres per point crop unit (joints = centre + q * unit_m for predictions q);
    ``valid`` (T,) bool (False for padding: the edge frame repeated past a track's end);
    ``index`` (T,) int64 sample index (the repeated sample's for padding); ``joints_gt``
    (T, J, 3) metres, NaN without ground truth (evaluation only). Geometry is never augmented.
    """

    def __init__(self, shards: str | Path | Sequence[str | Path], window: int = 3, stride: int = 1,
                 n_points: int = 1024, features: bool = True, sigma_px: float = 8.0, train: bool = False,
                 seed: int = 0) -> None:
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
        self.files = _shard_list(shards)
        self.window, self.stride, self.n_points = int(window), int(stride), int(n_points)
        self.features, self.sigma_px, self.train, self.seed = bool(features), float(sigma_px), bool(train), int(seed)
        parts: dict[str, list[np.ndarray]] = {}
        geometry = None
        for k, path in enumerate(self.files):
            z = load_samples(path)
            geo = (int(z["crop_size"]), float(z["cube_m"]), str(z["joint_set"]))
            if geometry is not None and geo != geometry:
                raise InputError(f"{path} holds {geo} (crop size, cube, joint set) but {self.files[0]} holds "
                                 f"{geometry}: build all samples with one SampleConfig")
            geometry = geo
            z["shard"] = np.full(len(z["stamp"]), k, np.int32)
            for name, arr in z.items():
                if arr.ndim > 0:
                    parts.setdefault(name, []).append(arr)
        assert geometry is not None
        self.crop_config = CropConfig(size=geometry[0], cube_m=geometry[1])
        self.joint_set = joint_set(geometry[2])
        self.arrays = {k: np.concatenate(v) for k, v in parts.items()}
        if self.num_samples == 0:
            raise InputError(f"the shards {[str(p) for p in self.files]} hold no samples: see the skip reasons "
                             "in their .json reports")
        stored = self.arrays["points"].shape[1]
        if self.n_points > stored:
            raise InputError(f"the samples store {stored} points per frame; cannot draw n_points={self.n_points}: "
                             "lower n_points or rebuild the samples with more")
        self.windows, self.window_valid = _windows(self.arrays["frame_index"], self.arrays["track"],
                                                   self.arrays["shard"], self.window, self.stride)
        self._features_fn = None
        if self.features:
            try:
                from unipose_ros.core.keypoint_features import keypoint_point_features  # noqa: PLC0415
            except ImportError as exc:  # pragma: no cover - depends on the checkout
                raise ImportError("teacher keypoint features need unipose_ros.core.keypoint_features; "
                                  "use features=False without it") from exc
            self._features_fn = keypoint_point_features

    # ------------------------------------------------------------------ sizes and lookups
    def __len__(self) -> int:
        return len(self.windows)

    @property
    def num_samples(self) -> int:
        """Number of single samples (person-frames)."""
        return len(self.arrays["stamp"])

    @property
    def unit_m(self) -> float:
        return self.crop_config.unit_m

    def crop(self, i: int) -> PersonCrop:
        """The :class:`PersonCrop` sample ``i`` was cut with."""
        from unipose_ros.core.camera import PinholeCamera  # noqa: PLC0415

        fx, fy, cx, cy, w, h = (float(v) for v in self.arrays["intrinsics"][i])
        cam = PinholeCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=int(w), height=int(h))
        return make_crop(cam, self.arrays["centre"][i], self.crop_config)

    def to_camera(self, i: int, q: np.ndarray) -> np.ndarray:
        """Point-crop-unit joints (J, 3) of sample ``i`` -> metres, optical frame."""
        return np.asarray(self.arrays["centre"][i]) + np.asarray(q, np.float64) * self.unit_m

    def sample_arrays(self, i: int | np.ndarray) -> dict[str, np.ndarray]:
        """The stored arrays of sample(s) ``i`` (an int or an index array), e.g. ``stamp``,
        ``frame_index``, ``track``, ``shard`` (index into :attr:`files`)."""
        return {k: v[i] for k, v in self.arrays.items()}

    def sample_info(self, i: int) -> dict[str, Any]:
        """Where sample ``i`` comes from: shard file, stamp, frame_index, track, teacher_row."""
        a = self.arrays
        return {"shard": str(self.files[int(a["shard"][i])]), "stamp": int(a["stamp"][i]),
                "frame_index": int(a["frame_index"][i]), "track": int(a["track"][i]),
                "teacher_row": int(a["teacher_row"][i])}

    # ------------------------------------------------------------------ items
    def _frame(self, i: int, rng: np.random.Generator | None) -> dict[str, np.ndarray]:
        a = self.arrays
        stored = a["points"][i]
        n = self.n_points
        sel = (rng.choice(len(stored), n, replace=False) if rng is not None
               else np.linspace(0, len(stored) - 1, n).round().astype(np.int64))
        pts = stored[sel].astype(np.float32)
        j = len(self.joint_set)
        if self._features_fn is not None:
            feats = self._features_fn(pts, self.crop(i), a["uv"][i], a["conf"][i], self.sigma_px,
                                      count=int(a["point_count"][i]))
        else:
            feats = np.zeros((n, 0), np.float32)
        assert feats.shape in ((n, j), (n, 0))
        return {"points": pts, "features": np.asarray(feats, np.float32),
                "uv": a["uv"][i].astype(np.float32), "conf": a["conf"][i].astype(np.float32),
                "intrinsics": a["intrinsics"][i][:4].astype(np.float32),
                "surface_z": a["surface_z"][i].astype(np.float32), "centre": a["centre"][i].astype(np.float32),
                "unit_m": np.float32(self.unit_m), "joints_gt": a["joints_gt"][i].astype(np.float32)}

    def _item(self, indices: np.ndarray, valid: np.ndarray, rng: np.random.Generator | None) -> dict[str, torch.Tensor]:
        frames = [self._frame(int(i), rng) for i in indices]
        out = {k: torch.from_numpy(np.stack([f[k] for f in frames])) for k in frames[0]}
        out["valid"] = torch.from_numpy(np.asarray(valid, bool))
        out["index"] = torch.from_numpy(np.asarray(indices, np.int64))
        return out

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, w = key if isinstance(key, tuple) else (0, key)
        w = int(w)
        rng = np.random.default_rng([self.seed, int(epoch), w]) if self.train else None
        return self._item(self.windows[w], self.window_valid[w], rng)

    def samples_at(self, i: int) -> dict[str, torch.Tensor]:
        """Sample ``i`` alone (T = 1, valid), points evenly spaced (inference, pseudo-labels)."""
        if not 0 <= int(i) < self.num_samples:
            raise IndexError(f"sample {i} out of range: {self.num_samples} samples")
        return self._item(np.array([int(i)]), np.array([True]), None)

    def single(self) -> "SingleSamples":
        """A Dataset over every sample alone (:meth:`samples_at`), for batched inference."""
        return SingleSamples(self)


class SingleSamples(Dataset):
    """Every sample of a :class:`WeakSampleDataset` alone: item i = ``dataset.samples_at(i)``."""

    def __init__(self, dataset: WeakSampleDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return self.dataset.num_samples

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.dataset.samples_at(i)


class WeakSampleStream(IterableDataset):
    """Streaming alternative to :class:`WeakSampleDataset` for recordings larger than memory: one
    shard (one recording) in memory per DataLoader worker at a time.

    Each epoch (:meth:`set_epoch`) the shard order is shuffled (``seed + epoch``) and dealt
    round-robin to ``torchrun`` ranks and then to DataLoader workers; the windows of each shard are
    shuffled before they are yielded. Items are those of :class:`WeakSampleDataset` (``index`` is
    the sample's index within its shard). Ranks may get different numbers of windows: under
    DistributedDataParallel cap the steps per epoch (``steps_per_epoch``) so every rank runs the
    same number of steps, and keep shards >= ranks x workers.
    """

    def __init__(self, shards: str | Path | Sequence[str | Path], window: int = 3, stride: int = 1,
                 n_points: int = 1024, features: bool = True, sigma_px: float = 8.0, train: bool = True,
                 seed: int = 0) -> None:
        self.files = _shard_list(shards)
        self.kw = dict(window=window, stride=stride, n_points=n_points, features=features, sigma_px=sigma_px,
                       train=train, seed=seed)
        self.train, self.seed, self.epoch = bool(train), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _my_files(self) -> list[tuple[int, Path]]:
        from unipose_training.distributed import stream_share

        return stream_share(self.files, self.seed, self.epoch, self.train)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for k, path in self._my_files():
            ds = WeakSampleDataset([path], **self.kw)
            n = len(ds)
            order = np.random.default_rng([self.seed, self.epoch, k]).permutation(n) if self.train else np.arange(n)
            for i in order:
                yield ds[(self.epoch, int(i))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Cut the weak samples of recordings from their teacher caches.")
    ap.add_argument("recordings", nargs="+", type=Path, help="rosbag2 recording directories")
    ap.add_argument("--teacher", type=Path, required=True, help="teacher cache folder (<rec>.npz)")
    ap.add_argument("--out", type=Path, required=True, help="samples folder")
    ap.add_argument("--n-points", type=int, default=SampleConfig.n_points)
    ap.add_argument("--max-frames", type=int, help="as given to the teacher stage")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    from unipose_training.datasets.ingest import IngestConfig  # noqa: PLC0415

    cfg = SampleConfig(n_points=args.n_points)
    for rec in args.recordings:
        path = build_samples(rec, cache_paths(args.teacher, rec)[0], args.out, cfg,
                             IngestConfig(max_frames=args.max_frames), progress=not args.no_progress)
        rep = json.loads(path.with_suffix(".json").read_text())
        print(f"{rec.name}: {rep['frames']} frames, {rep['people']} people, {rep['samples']} samples, "
              f"{rep['tracks']} tracks, skipped {rep['skipped'] or 'none'} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
