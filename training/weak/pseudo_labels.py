"""Pseudo-labels: the weakly trained point network's 3D joints for every person-frame, on disk.

File layout (one pair per recording and label version, next to the data)::

    <recording dir>/pseudo_labels/<version>.npz    arrays below
    <recording dir>/pseudo_labels/<version>.json   provenance and the filter's report

``<version>`` is ``pl1-<checkpoint sha256[:8]>-<config hash[:6]>``: the same checkpoint and
settings give the same file (the stage resumes), a new checkpoint or setting gives a new version
beside the old ones. When the recording directory is not writable the files go to
``fallback_dir/<recording name>/`` instead (and the JSON says so).

Arrays (S person-frames, J joints of the joint set):

=================  ===============  ==========================================================
stamp              (S,) int64       frame header stamp, nanoseconds
frame_index        (S,) int32       index of the frame in the ingested sequence
track              (S,) int32       per-recording person id (samples stage)
joints             (S, J, 3) f32    metres, camera optical frame (x right, y down, z forward)
confidence         (S, J) f32       per-joint confidence in [0, 1] (see below)
reliable           (S,) bool        passed the frame filter
reasons            (S,) uint8       why not: bit 1 low teacher confidence, 2 too few confident
                                    joints, 4 implausible bone lengths, 8 reprojection too far,
                                    16 a joint not finite or under 0.1 m in front of the camera,
                                    32 on a track shorter than ``min_track_frames``
reprojection_px    (S,) f32         median distance of the projected joints to the confident
                                    teacher keypoints, pixels
=================  ===============  ==========================================================

Per-joint confidence = ``exp(-spread / confidence_scale)`` of the network's votes (as in
:mod:`unipose_ros.estimators.learned`) x ``(floor + (1 - floor) * teacher confidence)``.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from unipose_ros.core.config import stable_hash
from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import JointSet, joint_set
from unipose_ros.core.pose import Modality, PersonPose
from unipose_ros.models.checkpoint import load_checkpoint
from unipose_training.weak.losses import bone_prior
from unipose_training.weak.samples import WeakSampleDataset
from unipose_training.weak.train import keypoint_distance_px, predict_metres

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Confidence and frame filter of the pseudo-labels.

    Attributes:
        confidence_scale: crop units of vote spread at which the network's joint confidence is 1/e.
        teacher_floor: weight of the network's confidence when the teacher gives 0 (the teacher
            confidence scales the rest).
        min_joint_confidence: a joint below this is left out of the lifting targets (NaN).
        min_teacher_confidence: a frame whose mean teacher confidence is below this is unreliable.
        min_confident_joints: a frame with fewer joints at ``min_joint_confidence`` is unreliable.
        bone_ratio: a bone shorter than ``bone_ratio[0]`` or longer than ``bone_ratio[1]`` times the
            population prior is implausible; a frame with more than ``max_bad_bones`` is unreliable.
        max_bad_bones: see ``bone_ratio``.
        max_reprojection_px: a frame whose median reprojection distance exceeds this is unreliable.
        min_track_frames: a person-frame on a track with fewer samples is unreliable. False
            detections (clutter the teacher took for a person) rarely last longer, and the
            network is worse on short tracks: on the 48 training recordings, 14 % of the kept
            frames on tracks of one or two frames were detections of nobody (0.4 % on tracks of
            20 frames or more), at 150 mm against 120 mm (``scripts/pseudo_label_quality.py``,
            reports/weak_48/README.md). 1: off.
        height_m: body height of the bone prior.
        sigma_px: width of the teacher keypoint channels (must match the weak training).
        batch_size: inference batch.
    """

    confidence_scale: float = 10.0
    teacher_floor: float = 0.5
    min_joint_confidence: float = 0.2
    min_teacher_confidence: float = 0.4
    min_confident_joints: int = 10
    bone_ratio: tuple[float, float] = (0.5, 1.6)
    max_bad_bones: int = 3
    max_reprojection_px: float = 20.0
    min_track_frames: int = 3
    height_m: float = 1.70
    sigma_px: float = 8.0
    batch_size: int = 32


def config_hash(cfg: PseudoLabelConfig) -> str:
    return stable_hash(cfg)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def version_name(checkpoint: str | Path, cfg: PseudoLabelConfig) -> str:
    """``pl1-<checkpoint sha256[:8]>-<config hash[:6]>``."""
    return f"pl{FORMAT_VERSION}-{file_sha256(checkpoint)[:8]}-{config_hash(cfg)[:6]}"


def label_dir(recording: str | Path, fallback_dir: str | Path | None = None) -> Path:
    """Where a recording's pseudo-labels go: ``<recording>/pseudo_labels`` when writable, else
    ``fallback_dir/<recording name>``."""
    rec = Path(recording)
    target = rec / "pseudo_labels"
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / ".write_test"
        probe.write_text("")
        probe.unlink()
        return target
    except OSError:
        if fallback_dir is None:
            raise InputError(f"{rec} is not writable and no fallback folder was given for its pseudo-labels") from None
        out = Path(fallback_dir) / rec.name
        out.mkdir(parents=True, exist_ok=True)
        return out


def frame_filter(joints: np.ndarray, confidence: np.ndarray, teacher_conf: np.ndarray, reprojection_px: np.ndarray,
                 js: JointSet, cfg: PseudoLabelConfig, track: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Reliability of each person-frame.

    Args:
        joints: (S, J, 3) metres. confidence: (S, J) pseudo-label confidence. teacher_conf: (S, J).
        reprojection_px: (S,) median reprojection distance.
        track: (S,) track ids of one recording (None: the track-length test is skipped).
    Returns:
        reliable (S,) bool and reasons (S,) uint8 (bits documented in the module docstring).
    """
    reasons = np.zeros(len(joints), np.uint8)
    reasons |= np.where(np.nanmean(teacher_conf, axis=1) < cfg.min_teacher_confidence, 1, 0).astype(np.uint8)
    reasons |= np.where((confidence >= cfg.min_joint_confidence).sum(1) < cfg.min_confident_joints, 2, 0).astype(np.uint8)
    bones = np.asarray(js.tree_bones)
    prior = bone_prior(js, cfg.height_m)
    lengths = np.linalg.norm(joints[:, bones[:, 0]] - joints[:, bones[:, 1]], axis=-1)
    ratio = lengths / prior
    bad = ~((ratio >= cfg.bone_ratio[0]) & (ratio <= cfg.bone_ratio[1]))
    reasons |= np.where(bad.sum(1) > cfg.max_bad_bones, 4, 0).astype(np.uint8)
    reasons |= np.where(~(reprojection_px <= cfg.max_reprojection_px), 8, 0).astype(np.uint8)
    in_front = np.isfinite(joints).all(-1) & (joints[..., 2] > 0.1)
    reasons |= np.where(~in_front.all(1), 16, 0).astype(np.uint8)
    if track is not None and len(track):
        reasons |= np.where(track_frames(track) < cfg.min_track_frames, 32, 0).astype(np.uint8)
    return reasons == 0, reasons


def track_frames(track: np.ndarray) -> np.ndarray:
    """(S,) int: how many person-frames of one recording share each person-frame's track id."""
    _, inverse, counts = np.unique(np.asarray(track), return_inverse=True, return_counts=True)
    return counts[inverse.reshape(-1)]


@torch.no_grad()
def predict_samples(checkpoint: str | Path, shard: str | Path, cfg: PseudoLabelConfig, device: str = "cpu"
                    ) -> dict[str, np.ndarray]:
    """Run the weak point network over every sample of one shard.

    Returns arrays ``joints`` (S, J, 3) metres, ``net_confidence`` (S, J), ``teacher_conf``
    (S, J), ``reprojection_px`` (S,), ``stamp``, ``frame_index``, ``track`` (S,), ``joints_gt``
    (S, J, 3) (NaN without ground truth).
    """
    loaded = load_checkpoint(checkpoint, map_location=device, expect_kind="pointcloud")
    model = loaded.model.eval()
    features = loaded.config.point_features > 0
    ds = WeakSampleDataset([Path(shard)], window=1, n_points=loaded.config.n_points, features=features,
                           sigma_px=cfg.sigma_px, train=False, seed=0)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("joints", "net_confidence", "teacher_conf", "reprojection_px",
                                                         "index", "joints_gt")}
    dev = torch.device(device)
    for batch in DataLoader(ds, batch_size=cfg.batch_size, shuffle=False):
        joints, raw = predict_metres(model, batch, dev)
        j = joints[:, 0].double().cpu().numpy()
        conf = torch.exp(-raw.spread.float() / cfg.confidence_scale).cpu().numpy()
        tconf = batch["conf"][:, 0].numpy()
        d = keypoint_distance_px(j, batch)
        with np.errstate(all="ignore"):
            rep = np.where(np.isfinite(d).any(1), np.nanmedian(d, axis=1), np.inf)
        out["joints"].append(j.astype(np.float32))
        out["net_confidence"].append(conf.astype(np.float32))
        out["teacher_conf"].append(tconf.astype(np.float32))
        out["reprojection_px"].append(rep.astype(np.float32))
        out["index"].append(batch["index"][:, 0].numpy())
        out["joints_gt"].append(batch["joints_gt"][:, 0].numpy().astype(np.float32))
    res = {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
    idx = res.pop("index").astype(np.int64)
    meta = ds.sample_arrays(idx)
    res.update(stamp=meta["stamp"].astype(np.int64), frame_index=meta["frame_index"].astype(np.int32),
               track=meta["track"].astype(np.int32))
    return res


def write_pseudo_labels(recording: str | Path, shard: str | Path, checkpoint: str | Path, cfg: PseudoLabelConfig,
                        teacher: dict, fallback_dir: str | Path | None = None, device: str = "cpu") -> Path:
    """Predict, filter and write one recording's pseudo-labels; returns the ``.npz`` path (an
    existing file of the same version is kept: the stage resumes)."""
    version = version_name(checkpoint, cfg)
    folder = label_dir(recording, fallback_dir)
    npz, meta = folder / f"{version}.npz", folder / f"{version}.json"
    if npz.exists() and meta.exists():
        return npz
    js = joint_set("itop15")
    p = predict_samples(checkpoint, shard, cfg, device)
    conf = p["net_confidence"] * (cfg.teacher_floor + (1 - cfg.teacher_floor) * np.nan_to_num(p["teacher_conf"]))
    reliable, reasons = frame_filter(p["joints"], conf, p["teacher_conf"], p["reprojection_px"], js, cfg,
                                     p["track"])
    arrays = {"stamp": p["stamp"], "frame_index": p["frame_index"], "track": p["track"],
              "joints": p["joints"].astype(np.float32), "confidence": conf.astype(np.float32), "reliable": reliable,
              "reasons": reasons, "reprojection_px": p["reprojection_px"]}
    gt = p["joints_gt"]
    ok = np.isfinite(gt).all(-1)
    err = np.linalg.norm(p["joints"] - np.nan_to_num(gt), axis=-1)
    diagnostic = None
    if ok.any():
        kept = ok & reliable[:, None]
        diagnostic = {"all_mpjpe_mm": float(err[ok].mean() * 1000),
                      "reliable_mpjpe_mm": float(err[kept].mean() * 1000) if kept.any() else None,
                      "reliable_map_10cm": float((err[kept] <= 0.1).mean()) if kept.any() else None}
    info = {
        "format": "unipose_ros.pseudo_labels", "format_version": FORMAT_VERSION, "version": version,
        "recording": str(Path(recording)), "joint_set": js.name, "frame": "camera optical frame, metres",
        "samples": int(len(reliable)), "reliable": int(reliable.sum()),
        "unreliable_by_reason": {name: int(((reasons & bit) > 0).sum()) for name, bit in
                                 (("low teacher confidence", 1), ("too few confident joints", 2),
                                  ("implausible bone lengths", 4), ("reprojection too far", 8),
                                  ("not in front of the camera", 16), ("short track", 32))},
        "provenance": {"teacher": teacher, "checkpoint": str(Path(checkpoint)),
                       "checkpoint_sha256": file_sha256(checkpoint), "config": asdict(cfg),
                       "config_hash": config_hash(cfg),
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
        "diagnostic_vs_ground_truth": diagnostic,
        "next_to_data": folder.parent.resolve() == Path(recording).resolve(),
    }
    tmp = npz.with_name(npz.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, npz)
    meta.write_text(json.dumps(info, indent=1))
    return npz


def teacher_provenance(samples_json: str | Path) -> dict:
    """What the pseudo-labels' supervision came from: the teacher named in the teacher cache that
    the samples shard (its ``.json``) was built from: ``name``, ``source`` joint order, cache path
    and configuration hash."""
    meta = json.loads(Path(samples_json).read_text())
    cache = meta.get("teacher_cache")
    info: dict[str, Any] = {"cache": cache}
    if cache:
        tj = Path(cache).with_suffix(".json")
        if tj.exists():
            t = json.loads(tj.read_text())
            info.update(name=t.get("teacher"), source=t.get("source"), config_hash=t.get("config_hash"))
    return info


@dataclass
class PseudoLabels:
    """One recording's pseudo-labels read back (arrays as in the module docstring, plus ``info``)."""

    stamp: np.ndarray
    frame_index: np.ndarray
    track: np.ndarray
    joints: np.ndarray
    confidence: np.ndarray
    reliable: np.ndarray
    reasons: np.ndarray
    reprojection_px: np.ndarray
    info: dict

    def people_by_stamp(self, min_joint_confidence: float, reliable_only: bool = True,
                        min_joints: int = 3) -> dict[int, list[PersonPose]]:
        """Stamp -> people as :class:`PersonPose` (joints under ``min_joint_confidence`` NaN), for
        the lifting stage's crop cache. Unreliable frames are left out when ``reliable_only``, and
        so are people left with fewer than ``min_joints`` joints."""
        js = joint_set(self.info.get("joint_set", "itop15"))
        out: dict[int, list[PersonPose]] = {}
        for i in range(len(self.stamp)):
            if (reliable_only and not self.reliable[i]) or not (self.joints[i][:, 2] > 0.1).any():
                continue
            j = self.joints[i].astype(np.float32).copy()
            j[self.confidence[i] < min_joint_confidence] = np.nan
            if np.isfinite(j).all(-1).sum() < min_joints:
                continue
            out.setdefault(int(self.stamp[i]), []).append(
                PersonPose(track_id=int(self.track[i]), joint_set=js, joints=j, confidence=self.confidence[i],
                           modality=Modality.POINT_CLOUD, score=float(self.confidence[i].mean())))
        return out


def read_pseudo_labels(path: str | Path) -> PseudoLabels:
    """Read a ``.npz`` written by :func:`write_pseudo_labels` (its ``.json`` beside it)."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if not path.exists() or not meta.exists():
        raise InputError(f"{path} (and its .json) not found: run the pseudo-label stage first")
    info = json.loads(meta.read_text())
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise InputError(f"{path} has pseudo-label format {info.get('format_version')}; this version reads "
                         f"{FORMAT_VERSION}: update unipose_ros")
    with np.load(path, allow_pickle=False) as z:
        return PseudoLabels(info=info, **{k: z[k] for k in ("stamp", "frame_index", "track", "joints", "confidence",
                                                          "reliable", "reasons", "reprojection_px")})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write pseudo-labels of recordings with a weakly trained point network.")
    ap.add_argument("--checkpoint", type=Path, required=True, help="weak point network (weak stage output)")
    ap.add_argument("--samples", type=Path, required=True, help="folder of sample shards (<recording name>.npz)")
    ap.add_argument("recordings", nargs="+", type=Path)
    ap.add_argument("--fallback-dir", type=Path, help="where labels go when a recording folder is read-only")
    args = ap.parse_args(argv)
    cfg = PseudoLabelConfig()
    for rec in args.recordings:
        shard = args.samples / f"{rec.name}.npz"
        meta = shard.with_suffix(".json")
        teacher = teacher_provenance(meta) if meta.exists() else {}
        path = write_pseudo_labels(rec, shard, args.checkpoint, cfg, teacher, args.fallback_dir)
        info = json.loads(path.with_suffix(".json").read_text())
        print(f"{rec.name}: {info['reliable']}/{info['samples']} reliable -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
