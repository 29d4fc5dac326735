"""Person-crop cache of recordings with ground truth, and the torch datasets that read it.

**Cache.** :func:`build_crop_cache` reads one rosbag2 recording (``unipose_ros.io.bag``) and writes
one compressed shard ``<out>/<recording>.npz`` plus a report ``<out>/<recording>.json``. For every
ground-truth person of every frame the crop centre comes from the depth person proposal that
matches them (:func:`match_proposals`: the proposal box holds the projection of the person's root
joint and its median depth is the closest to the root's depth, within ``max_depth_diff_m``), the
same centre the estimators use at run time; a person no proposal matches is still kept, centred by
:func:`~unipose_ros.core.crop.centre_from_joints` (counted as a fallback, ``centre_source`` 1). Only
a person with fewer than ``min_pixels`` depth pixels inside the crop cube is skipped, and each skip
is listed in the report. Shard fields (N samples, S crop size, J joints, P stored points):

==================  ===================  ===================================================
depth               (N, S, S) float16    :func:`~unipose_ros.core.crop.crop_depth` (normalised)
rgb                 (N, S, S, 3) uint8   :func:`~unipose_ros.core.crop.crop_rgb`
points              (N, P, 3) float16    :func:`~unipose_ros.core.crop.crop_points` (fixed seed)
point_count         (N,) int32           points found in the cube
target_uvd          (N, J, 3) float32    ``crop.from_camera(joints)``: crop units (u, v, d)
target_points       (N, J, 3) float32    ``crop.camera_to_points(joints)``: point crop units
joints_cam          (N, J, 3) float32    ground truth, metres, optical frame
centre              (N, 3) float64       crop centre, metres, optical frame
box                 (N, 4) float32       crop window (x0, y0, x1, y1) image pixel edges
intrinsics          (N, 6) float64       fx, fy, cx, cy, width, height
stamp               (N,) int64           frame stamp, ns
person              (N,) int32           ground-truth track id
centre_source       (N,) uint8           0 = matched proposal, 1 = ground-truth fallback
crop_size, cube_m   scalars              the crop geometry the shard was cut with
mask_people         bool scalar          crops show only their person (``CropConfig.mask_people``)
joint_set           str                  joint set name of the targets
==================  ===================  ===================================================

The command line builds every recording of a split, resuming (a recording whose report exists is
skipped)::

    python -m unipose_training.supervised.crops --data data/synthetic --split train --out data/crops

**Datasets.** :class:`CropDataset` loads every shard of a folder into memory (only the arrays its
input kind needs: about 32 KB per depth sample, 48 KB per colour sample, 12 KB per point sample
at the defaults, so ~6000 samples take ~200-300 MB) and returns training samples with
augmentation (:mod:`unipose_training.supervised.augment`) seeded from (seed, epoch, index).
:class:`CropStream` is the streaming alternative for caches that do not fit in memory: an
IterableDataset that holds one shard at a time per DataLoader worker, shards split over
``torchrun`` ranks and workers.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.crop import (
    CropConfig,
    PersonCrop,
    centre_from_joints,
    centre_from_proposal,
    crop_depth,
    crop_points,
    crop_rgb,
    crop_source_depth,
    make_crop,
)
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import JointSet, joint_set
from unipose_ros.core.person_proposals import PersonProposal, ProposalConfig, propose_people
from unipose_ros.core.pose import PersonPose
from unipose_training.supervised.augment import AugmentConfig, augment_depth, augment_points, augment_rgb

KINDS = ("depth", "rgb", "pointcloud")
SHARD_VERSION = 1


# ------------------------------------------------------------------------------------- matching


def match_proposals(people: list[np.ndarray], proposals: list[PersonProposal], camera: PinholeCamera,
                    root: int, max_depth_diff_m: float = 0.6) -> list[int | None]:
    """Assign depth proposals to ground-truth people (each proposal to at most one person).

    A pair qualifies when the proposal box (pixel edges) holds the projection of the person's
    ``root`` joint and the proposal's median depth is within ``max_depth_diff_m`` of the root's
    depth; qualifying pairs are taken greedily by increasing depth difference.

    Args:
        people: ground-truth skeletons, each (J, 3) metres, optical frame.
        proposals: :func:`~unipose_ros.core.person_proposals.propose_people` output.
        camera: intrinsics of the depth image.
        root: index of the root joint (``JointSet.root``).
    Returns:
        for each person the index of its proposal, or None.
    """
    pairs = []
    for g, joints in enumerate(people):
        r = np.asarray(joints[root], dtype=np.float64)
        if not (np.isfinite(r).all() and r[2] > 0):
            continue
        u, v = camera.project(r)
        for k, p in enumerate(proposals):
            x0, y0, x1, y1 = p.box
            diff = abs(p.depth_m - r[2])
            if x0 <= u + 0.5 <= x1 and y0 <= v + 0.5 <= y1 and diff <= max_depth_diff_m:
                pairs.append((diff, g, k))
    out: list[int | None] = [None] * len(people)
    used: set[int] = set()
    for _, g, k in sorted(pairs):
        if out[g] is None and k not in used:
            out[g] = k
            used.add(k)
    return out


# ---------------------------------------------------------------------------------------- cache


@dataclass
class CacheReport:
    """What :func:`build_crop_cache` did with one recording.

    ``people`` = ground-truth people over all frames = ``matched + fallbacks``; ``samples`` =
    ``people - skipped`` crops written; ``skipped_people`` lists (stamp, person, pixels) of each
    skip; ``proposals_unused``: proposals no person took (false positives of the proposer)."""

    recording: str
    frames: int = 0
    frames_without_gt: int = 0
    people: int = 0
    matched: int = 0
    fallbacks: int = 0
    skipped: int = 0
    samples: int = 0
    proposals: int = 0
    proposals_unused: int = 0
    has_rgb: bool = True
    incomplete_frames: int = 0
    seconds: float = 0.0
    crop: dict = field(default_factory=dict)
    n_points: int = 0
    joint_set: str = ""
    skipped_people: list = field(default_factory=list)
    resumed: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CacheSettings:
    """Settings of the crop cache (see :func:`build_crop_cache`)."""

    crop: CropConfig = field(default_factory=CropConfig)
    n_points: int = 2048
    proposals: ProposalConfig = field(default_factory=ProposalConfig)
    joint_set: str = "itop15"
    max_depth_diff_m: float = 0.6
    min_pixels: int = 50
    seed: int = 0
    detector: str = "geometric"
    detector_checkpoint: str = ""


_DETECTORS: dict[str, Any] = {}


def people_finder(settings: CacheSettings):
    """``find(depth, camera) -> candidates`` (each with ``box`` and ``depth_m``, and ``mask`` for
    the learned detector) as the estimators find people: ``settings.detector`` ``learned`` or
    ``geometric``. The learned detector is loaded once per checkpoint and process."""
    if settings.detector == "geometric":
        return lambda depth, cam: propose_people(depth, cam, settings.proposals)
    if settings.detector != "learned":
        raise ValueError(f"detector must be learned or geometric, got {settings.detector!r}")
    from unipose_ros.estimators.person_detector import LearnedPersonDetector

    key = settings.detector_checkpoint
    if key not in _DETECTORS:
        _DETECTORS[key] = LearnedPersonDetector(key or None)
    return _DETECTORS[key].detect


def _empty_arrays(s: int, j: int, p: int) -> dict[str, np.ndarray]:
    return {
        "depth": np.zeros((0, s, s), np.float16), "rgb": np.zeros((0, s, s, 3), np.uint8),
        "points": np.zeros((0, p, 3), np.float16), "point_count": np.zeros(0, np.int32),
        "target_uvd": np.zeros((0, j, 3), np.float32), "target_points": np.zeros((0, j, 3), np.float32),
        "joints_cam": np.zeros((0, j, 3), np.float32), "centre": np.zeros((0, 3), np.float64),
        "box": np.zeros((0, 4), np.float32), "intrinsics": np.zeros((0, 6), np.float64),
        "stamp": np.zeros(0, np.int64), "person": np.zeros(0, np.int32), "centre_source": np.zeros(0, np.uint8),
    }


def crop_frames(frames: Iterable[tuple[RGBDFrame, list[PersonPose]]], settings: CacheSettings,
                report: CacheReport, rng: np.random.Generator, progress: Any = None) -> dict[str, np.ndarray]:
    """Crop every ground-truth person of ``frames`` ((frame, ground-truth people) pairs).

    Returns the shard arrays (see the module docstring) and fills ``report`` in place.
    ``progress``: an object with ``update(n)`` (a tqdm bar) advanced once per frame.
    """
    js = joint_set(settings.joint_set)
    cfg = settings.crop
    rows: dict[str, list] = {k: [] for k in _empty_arrays(1, 1, 1)}
    find = people_finder(settings)
    for frame, people in frames:
        report.frames += 1
        if frame.depth is None:
            raise InputError(f"{report.recording}: frame {frame.stamp_ns} has no depth image; the crop cache "
                             "needs registered depth")
        cam = frame.camera
        if frame.rgb is None:
            report.has_rgb = False
        if not people:
            report.frames_without_gt += 1
        proposals = find(frame.depth, cam) if people else []
        joints = [np.asarray(p.joints, dtype=np.float64) for p in people]
        assigned = match_proposals(joints, proposals, cam, js.root, settings.max_depth_diff_m)
        report.proposals += len(proposals)
        report.proposals_unused += len(proposals) - sum(a is not None for a in assigned)
        for person, jts, k in zip(people, joints, assigned):
            report.people += 1
            mask = None
            if k is not None:
                centre, source = centre_from_proposal(proposals[k], cam), 0
                mask = getattr(proposals[k], "mask", None)
                report.matched += 1
            else:
                centre, source = centre_from_joints(jts, cam), 1
                report.fallbacks += 1
            crop = make_crop(cam, centre, cfg, mask)
            source_depth = crop_source_depth(frame.depth, crop, cfg)
            pts, count = crop_points(source_depth, crop, settings.n_points, rng)
            if count < settings.min_pixels:
                report.skipped += 1
                report.skipped_people.append({"stamp": int(frame.stamp_ns), "person": int(person.track_id),
                                              "pixels": int(count), "centre_source": source})
                continue
            rows["depth"].append(crop_depth(source_depth, crop).astype(np.float16))
            rows["rgb"].append(crop_rgb(frame.rgb, crop) if frame.rgb is not None
                               else np.zeros((cfg.size, cfg.size, 3), np.uint8))
            rows["points"].append(pts.astype(np.float16))
            rows["point_count"].append(count)
            rows["target_uvd"].append(crop.from_camera(jts).astype(np.float32))
            rows["target_points"].append(crop.camera_to_points(jts).astype(np.float32))
            rows["joints_cam"].append(jts.astype(np.float32))
            rows["centre"].append(np.asarray(centre, dtype=np.float64))
            rows["box"].append(np.asarray(crop.box, dtype=np.float32))
            rows["intrinsics"].append(np.array([cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height], np.float64))
            rows["stamp"].append(int(frame.stamp_ns))
            rows["person"].append(int(person.track_id))
            rows["centre_source"].append(source)
            report.samples += 1
        if progress is not None:
            progress.update(1)
    empty = _empty_arrays(cfg.size, len(js), settings.n_points)
    return {k: (np.stack(v).astype(empty[k].dtype) if v else empty[k]) for k, v in rows.items()}


def shard_paths(out_dir: str | Path, recording: str) -> tuple[Path, Path]:
    """(shard .npz, report .json) paths of ``recording`` under ``out_dir``."""
    out = Path(out_dir)
    return out / f"{recording}.npz", out / f"{recording}.json"


def _recording_seed(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def build_crop_cache(recording_dir: str | Path, out_dir: str | Path, crop_cfg: CropConfig | None = None,
                     n_points: int = 2048, proposals: ProposalConfig | None = None, joint_set_name: str = "itop15",
                     max_depth_diff_m: float = 0.6, min_pixels: int = 50, seed: int = 0,
                     progress: Any = None, detector: str = "geometric", detector_checkpoint: str = "") -> CacheReport:
    """Write the crop shard and report of one recording (see the module docstring).

    Args:
        recording_dir: rosbag2 recording with ground truth of ``joint_set_name``.
        out_dir: folder of the shards (created).
        crop_cfg: crop geometry (default :class:`CropConfig`).
        n_points: points stored per crop (training subsamples from them).
        proposals: person proposal settings (the estimators' defaults unless given).
        max_depth_diff_m: largest |proposal depth - root depth| of a match.
        min_pixels: a person with fewer depth pixels in the crop cube is skipped (and reported).
        seed: seed of the point sampling (combined with the recording name).
        progress: optional tqdm-like bar advanced once per frame.
    Returns:
        the recording's :class:`CacheReport` (read back from its JSON when the shard existed: the
        command resumes; ``resumed`` is then True).
    Raises:
        InputError: the recording lacks depth or ground truth, or an existing shard was cut with
            a different crop geometry.
    """
    from unipose_ros.io.bag import RecordingReader

    rec = Path(recording_dir)
    cfg = crop_cfg or CropConfig()
    settings = CacheSettings(crop=cfg, n_points=n_points, proposals=proposals or ProposalConfig(),
                             joint_set=joint_set_name, max_depth_diff_m=max_depth_diff_m,
                             min_pixels=min_pixels, seed=seed, detector=detector,
                             detector_checkpoint=detector_checkpoint)
    shard, report_path = shard_paths(out_dir, rec.name)
    if shard.exists() and report_path.exists():
        old = json.loads(report_path.read_text())
        if {"mask_people": False, **(old.get("crop") or {})} != asdict(cfg) or old.get("n_points") != n_points:
            raise InputError(f"{shard} was cut with crop {old.get('crop')} and {old.get('n_points')} points, "
                             f"not {asdict(cfg)} and {n_points}: use another --out folder or delete it")
        rep = CacheReport(**{k: v for k, v in old.items() if k in CacheReport.__dataclass_fields__})
        rep.resumed = True
        if progress is not None:
            progress.update(rep.frames)
        return rep
    t0 = time.perf_counter()
    report = CacheReport(recording=rec.name, crop=asdict(cfg), n_points=n_points, joint_set=joint_set_name)
    with RecordingReader(rec) as reader:
        gt = reader.ground_truth(joint_set_name)
        pairs = ((f, gt.get(f.stamp_ns, [])) for f in reader.frames(points=False))
        arrays = crop_frames(pairs, settings, report, _recording_seed(seed, rec.name), progress)
        report.incomplete_frames = reader.incomplete_frames
    report.seconds = round(time.perf_counter() - t0, 2)
    write_shard(shard, arrays, cfg, joint_set_name)
    tmp = report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=1))
    os.replace(tmp, report_path)  # the report marks the shard as complete
    return report


def write_shard(path: str | Path, arrays: dict[str, np.ndarray], crop_cfg: CropConfig, joint_set_name: str) -> None:
    """Write shard arrays (compressed npz) atomically (a temporary file renamed at the end)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays, crop_size=np.int32(crop_cfg.size), cube_m=np.float64(crop_cfg.cube_m),
                            mask_people=np.bool_(crop_cfg.mask_people),
                            joint_set=np.array(joint_set_name), version=np.int32(SHARD_VERSION))
    os.replace(tmp, path)


def recordings_of(data_dir: str | Path, split: str) -> list[Path]:
    """Recording folders ``<data_dir>/<split>/*`` (those with a metadata.yaml), sorted."""
    root = Path(data_dir) / split
    if not root.is_dir():
        raise InputError(f"{root} does not exist: generate the split first "
                         "(python -m unipose_training.datasets.splits --out <data>)")
    return sorted(p for p in root.iterdir() if (p / "metadata.yaml").exists())


def _frame_count(rec: Path) -> int:
    from unipose_ros.io.bag import DEFAULT_TOPICS, RecordingReader

    with RecordingReader(rec) as r:
        t = r.topics
        return t[DEFAULT_TOPICS.depth].count if DEFAULT_TOPICS.depth in t else 0


def build_split_cache(data_dir: str | Path, split: str, out_dir: str | Path, progress: bool = True,
                      **kwargs: Any) -> dict:
    """:func:`build_crop_cache` for every recording of ``<data_dir>/<split>`` into
    ``<out_dir>/<split>``, one tqdm bar over frames; writes and returns ``summary.json`` (totals and
    the per-recording reports). ``kwargs`` go to :func:`build_crop_cache`."""
    from tqdm import tqdm

    recs = recordings_of(data_dir, split)
    out = Path(out_dir) / split
    out.mkdir(parents=True, exist_ok=True)
    total = sum(_frame_count(r) for r in recs)
    reports = []
    with tqdm(total=total, unit="frame", desc=f"crops {split}", disable=not progress) as bar:
        for rec in recs:
            rep = build_crop_cache(rec, out, progress=bar, **kwargs)
            reports.append(rep.to_dict())
            bar.set_postfix(samples=sum(r["samples"] for r in reports),
                            fallbacks=sum(r["fallbacks"] for r in reports))
    keys = ("frames", "people", "matched", "fallbacks", "skipped", "samples", "proposals", "proposals_unused")
    summary = {"split": split, "recordings": len(reports), **{k: sum(r[k] for r in reports) for k in keys},
               "reports": reports}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


# -------------------------------------------------------------------------------------- datasets


def shard_files(shard_dir: str | Path) -> list[Path]:
    """The shards (``*.npz`` with a report beside them) of a folder, sorted by name."""
    d = Path(shard_dir)
    files = sorted(p for p in d.glob("*.npz") if p.with_suffix(".json").exists()) if d.is_dir() else []
    if not files:
        raise InputError(f"no crop shards in {d}: build them with python -m unipose_training.supervised.crops "
                         f"--data <recordings> --split <split> --out {d.parent}")
    return files


def _fields_for(kind: str) -> tuple[str, ...]:
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}; expected one of {KINDS}")
    image = {"depth": "depth", "rgb": "rgb", "pointcloud": "points"}[kind]
    target = "target_points" if kind == "pointcloud" else "target_uvd"
    return image, target, "joints_cam", "centre", "intrinsics", "centre_source", "stamp", "person"


def _check_geometry(path: Path, z: Any, crop: CropConfig | None, js_name: str) -> None:
    size, cube = int(z["crop_size"]), float(z["cube_m"])
    if crop is not None and (size != crop.size or abs(cube - crop.cube_m) > 1e-9):
        raise InputError(f"{path} holds {size} px / {cube} m crops but the training config asks for "
                         f"{crop.size} px / {crop.cube_m} m: rebuild the cache with that crop or change crop:")
    masked = bool(z["mask_people"]) if "mask_people" in z else False
    if crop is not None and masked != crop.mask_people:
        raise InputError(f"{path} holds crops {'with' if masked else 'without'} person masks but the training "
                         f"config has crop.mask_people: {crop.mask_people}: rebuild the cache (--mask-people) or "
                         "change crop:")
    if str(z["joint_set"]) != js_name:
        raise InputError(f"{path} holds {z['joint_set']} targets, expected {js_name}")


class SampleMaker:
    """Turns one sample's shard arrays into a training item (shared by both datasets).

    Item (dict): ``input`` depth (1, S, S) float32 | rgb (3, S, S) uint8 | points (n, 3) float32;
    ``target`` (J, 3) float32 crop units; ``valid`` (J,) bool (finite target); ``joints_cam``
    (J, 3) float32 metres; ``centre`` (3,) float64 metres; ``intrinsics`` (6,) float64 (fx, fy,
    cx, cy, width, height); ``index`` int64 (the sample's index in its dataset; -1 when streamed).
    """

    def __init__(self, kind: str, size: int, train: bool, n_points: int, augment: AugmentConfig | None,
                 flip_permutation: np.ndarray) -> None:
        self.kind, self.size, self.train, self.n_points = kind, size, train, n_points
        self.augment = augment if augment is not None else AugmentConfig()
        self.flip_permutation = flip_permutation

    def __call__(self, arrays: dict[str, np.ndarray], rng: np.random.Generator | None, index: int) -> dict:
        kind, s = self.kind, self.size
        aug = self.train and rng is not None
        if kind == "pointcloud":
            pts = np.asarray(arrays["points"], dtype=np.float32)
            target = np.asarray(arrays["target_points"], dtype=np.float32)
            n = self.n_points
            if len(pts) < n:
                raise InputError(f"the cache stores {len(pts)} points per crop; cannot sample {n}")
            idx = (rng.choice(len(pts), n, replace=False) if aug
                   else np.linspace(0, len(pts) - 1, n).round().astype(np.int64))
            pts = pts[idx]
            if aug:
                pts, target = augment_points(pts, target, s, self.augment, rng, self.flip_permutation)
            x = torch.from_numpy(np.ascontiguousarray(pts, dtype=np.float32))
        elif kind == "depth":
            img = np.asarray(arrays["depth"], dtype=np.float32)
            target = np.asarray(arrays["target_uvd"], dtype=np.float32)
            if aug:
                img, target = augment_depth(img, target, s, self.augment, rng, self.flip_permutation)
            x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None]
        else:
            img = np.asarray(arrays["rgb"], dtype=np.uint8)
            target = np.asarray(arrays["target_uvd"], dtype=np.float32)
            if aug:
                img, target = augment_rgb(img, target, s, self.augment, rng, self.flip_permutation)
            x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        target = np.asarray(target, dtype=np.float32)
        valid = np.isfinite(target).all(axis=-1)
        return {"input": x, "target": torch.from_numpy(np.nan_to_num(target)), "valid": torch.from_numpy(valid),
                "joints_cam": torch.from_numpy(np.asarray(arrays["joints_cam"], dtype=np.float32)),
                "centre": torch.from_numpy(np.asarray(arrays["centre"], dtype=np.float64)),
                "intrinsics": torch.from_numpy(np.asarray(arrays["intrinsics"], dtype=np.float64)),
                "index": torch.tensor(index, dtype=torch.int64)}


class CropDataset(Dataset):
    """All crops of a shard folder in memory, for one input kind.

    Args:
        shard_dir: folder of ``*.npz`` shards (e.g. ``data/crops/train``).
        kind: ``"depth"``, ``"rgb"`` or ``"pointcloud"``: which input the items carry.
        train: augment (with ``augment``; deterministic from ``seed``, the epoch and the index).
        n_points: points per item for ``"pointcloud"`` (random subset when training, evenly
            spaced otherwise) out of those stored.
        seed: augmentation seed.
        augment: strengths (default :class:`AugmentConfig`); ignored when ``train`` is False.
        crop: the crop geometry the caller expects; a shard cut otherwise raises InputError.
        joint_set_name: expected joint set.
        use_fallbacks: keep crops centred on the ground-truth fallback (``centre_source`` 1).
        max_samples: keep only the first ``max_samples`` samples (tests, quick runs).

    Items: see :class:`SampleMaker`; ``dataset[(epoch, i)]`` seeds the augmentation with the
    epoch (:class:`~unipose_training.distributed.EpochSampler` yields such keys), ``dataset[i]``
    uses epoch 0. :meth:`crop` rebuilds a sample's :class:`PersonCrop` and :meth:`to_camera` maps
    predictions back to metres.
    """

    def __init__(self, shard_dir: str | Path, kind: str, train: bool, n_points: int = 1024, seed: int = 0,
                 augment: AugmentConfig | None = None, crop: CropConfig | None = None,
                 joint_set_name: str = "itop15", use_fallbacks: bool = True, max_samples: int | None = None) -> None:
        self.kind, self.train, self.seed = kind, bool(train), int(seed)
        self.joint_set: JointSet = joint_set(joint_set_name)
        names = _fields_for(kind)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
        self.files = shard_files(shard_dir)
        size = cube = None
        masked = False
        for path in self.files:
            with np.load(path, allow_pickle=False) as z:
                _check_geometry(path, z, crop, joint_set_name)
                size, cube = int(z["crop_size"]), float(z["cube_m"])
                masked = bool(z["mask_people"]) if "mask_people" in z else False
                keep = np.ones(len(z["stamp"]), bool) if use_fallbacks else z["centre_source"] == 0
                for k in names:
                    parts[k].append(z[k][keep])
        self.arrays = {k: np.concatenate(v) for k, v in parts.items()}
        if max_samples is not None:
            self.arrays = {k: v[:max_samples] for k, v in self.arrays.items()}
        self.crop_config = CropConfig(size=int(size), cube_m=float(cube), mask_people=masked)
        if len(self) == 0:
            raise InputError(f"the shards in {shard_dir} hold no samples")
        self.maker = SampleMaker(kind, self.crop_config.size, self.train, n_points, augment,
                                 self.joint_set.flip_permutation)

    def __len__(self) -> int:
        return len(self.arrays["stamp"])

    def sample_arrays(self, i: int) -> dict[str, np.ndarray]:
        return {k: v[i] for k, v in self.arrays.items()}

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, i = key if isinstance(key, tuple) else (0, key)
        i = int(i)
        rng = np.random.default_rng([self.seed, int(epoch), i]) if self.train else None
        return self.maker(self.sample_arrays(i), rng, i)

    def crop(self, i: int) -> PersonCrop:
        """The :class:`PersonCrop` sample ``i`` was cut with."""
        return crop_from_arrays(self.arrays["centre"][i], self.arrays["intrinsics"][i], self.crop_config)

    def to_camera(self, i: int, pred: np.ndarray) -> np.ndarray:
        """Prediction (J, 3) in crop units of sample ``i`` -> (J, 3) metres, optical frame."""
        return prediction_to_camera(self.crop(i), pred, self.kind)

    @property
    def centre_source(self) -> np.ndarray:
        return self.arrays["centre_source"]


def crop_from_arrays(centre: np.ndarray, intrinsics: np.ndarray, crop_cfg: CropConfig) -> PersonCrop:
    """Rebuild a :class:`PersonCrop` from a shard's ``centre`` (3,) and ``intrinsics`` (6,)."""
    fx, fy, cx, cy, w, h = (float(v) for v in intrinsics)
    cam = PinholeCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=int(w), height=int(h))
    return make_crop(cam, np.asarray(centre, dtype=np.float64), crop_cfg)


def prediction_to_camera(crop: PersonCrop, pred: np.ndarray, kind: str) -> np.ndarray:
    """(J, 3) crop units -> metres: ``crop.points_to_camera`` for ``"pointcloud"``, else
    ``crop.to_camera`` (u, v, d)."""
    return crop.points_to_camera(pred) if kind == "pointcloud" else crop.to_camera(pred)


class CropStream(IterableDataset):
    """Streaming alternative to :class:`CropDataset`: shards are read one at a time.

    Each epoch (:meth:`set_epoch`) the shard order is shuffled (``seed + epoch``), the shards are
    dealt round-robin to ``torchrun`` ranks and then to DataLoader workers, and the samples of each
    shard are shuffled before they are yielded (so shuffling is within a shard plus across shard
    order). Memory: one shard per worker. Same items as :class:`CropDataset` with ``index`` -1.
    With more ranks x workers than shards some workers get none, so keep shards >= ranks x workers.
    Ranks may get different numbers of samples: under DistributedDataParallel every rank must run
    the same number of steps, so cap the steps per epoch (e.g. to the smallest rank's share).
    """

    def __init__(self, shard_dir: str | Path, kind: str, train: bool, n_points: int = 1024, seed: int = 0,
                 augment: AugmentConfig | None = None, crop: CropConfig | None = None,
                 joint_set_name: str = "itop15", use_fallbacks: bool = True) -> None:
        self.files = shard_files(shard_dir)
        self.kind, self.train, self.seed, self.epoch = kind, bool(train), int(seed), 0
        self.names = _fields_for(kind)
        self.crop, self.joint_set_name, self.use_fallbacks = crop, joint_set_name, use_fallbacks
        with np.load(self.files[0], allow_pickle=False) as z:
            _check_geometry(self.files[0], z, crop, joint_set_name)
            size = int(z["crop_size"])
        self.maker = SampleMaker(kind, size, self.train, n_points, augment, joint_set(joint_set_name).flip_permutation)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _my_files(self) -> list[tuple[int, Path]]:
        from unipose_training.distributed import stream_share

        return stream_share(self.files, self.seed, self.epoch, self.train)

    def __iter__(self) -> Iterator[dict]:
        for k, path in self._my_files():
            with np.load(path, allow_pickle=False) as z:
                _check_geometry(path, z, self.crop, self.joint_set_name)
                keep = np.ones(len(z["stamp"]), bool) if self.use_fallbacks else z["centre_source"] == 0
                arrays = {n: z[n][keep] for n in self.names}
            n = len(arrays["stamp"])
            order = (np.random.default_rng([self.seed, self.epoch, k]).permutation(n) if self.train
                     else np.arange(n))
            for i in order:
                rng = np.random.default_rng([self.seed, self.epoch, k, int(i)]) if self.train else None
                yield self.maker({n_: v[i] for n_, v in arrays.items()}, rng, -1)


# ------------------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the person-crop cache of recordings with ground truth.")
    ap.add_argument("--data", type=Path, required=True, help="folder with <split>/rec_* recordings")
    ap.add_argument("--split", default="both", help="train, test or both (default)")
    ap.add_argument("--out", type=Path, required=True, help="cache folder (shards go to <out>/<split>/)")
    ap.add_argument("--size", type=int, default=CropConfig.size, help="crop size, pixels")
    ap.add_argument("--cube-m", type=float, default=CropConfig.cube_m, help="crop cube side, metres")
    ap.add_argument("--n-points", type=int, default=2048, help="points stored per crop")
    ap.add_argument("--joint-set", default="itop15")
    ap.add_argument("--min-pixels", type=int, default=50, help="skip (and report) people with fewer depth pixels")
    ap.add_argument("--seed", type=int, default=0, help="point sampling seed")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--detector", choices=("geometric", "learned"), default="geometric",
                    help="how people are found (as the estimators' detector setting)")
    ap.add_argument("--detector-checkpoint", default="", help="learned detector checkpoint (default: bundled)")
    ap.add_argument("--mask-people", action="store_true",
                    help="crops show only their person (needs --detector learned; CropConfig.mask_people)")
    args = ap.parse_args(argv)
    if args.mask_people and args.detector != "learned":
        ap.error("--mask-people needs --detector learned (the geometric proposals give no person masks)")
    splits = ("train", "test") if args.split == "both" else (args.split,)
    crop = CropConfig(size=args.size, cube_m=args.cube_m, mask_people=args.mask_people)
    for split in splits:
        s = build_split_cache(args.data, split, args.out, progress=not args.no_progress, crop_cfg=crop,
                              n_points=args.n_points, joint_set_name=args.joint_set, seed=args.seed,
                              min_pixels=args.min_pixels, detector=args.detector,
                              detector_checkpoint=args.detector_checkpoint)
        print(f"{split}: {s['recordings']} recordings, {s['frames']} frames, {s['people']} people: "
              f"{s['matched']} matched to a proposal, {s['fallbacks']} ground-truth fallbacks, "
              f"{s['skipped']} skipped (< {args.min_pixels} depth pixels), {s['samples']} crops -> {args.out / split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
