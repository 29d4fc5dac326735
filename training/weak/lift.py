"""3D lifting: train the depth and RGB A2J models on the point network's pseudo-labels.

The crops are cut exactly as for supervised training (:func:`unipose_training.supervised.crops.crop_frames`:
person proposals from the depth image matched to the labelled skeletons, the same crop cube and
normalisation), only the targets are the pseudo-labels: joints under the confidence threshold are
left out of the loss (NaN targets), unreliable frames are not used (counted in the cache report).
Training is :func:`unipose_training.supervised.train` unchanged, so resuming, ``torchrun``/DDP and
the exported self-describing checkpoints work the same way.

Run::

    python -m unipose_training.weak.lift --kind depth --recordings REC... --labels-version pl1-... \\
        --crops RUN/crops --out RUN/lift_depth --export RUN/weak_depth_a2j.pt
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from unipose_ros.core.crop import CropConfig
from unipose_ros.core.errors import InputError
from unipose_ros.core.person_proposals import ProposalConfig
from unipose_training.datasets.ingest import IngestConfig, ingest_frames
from unipose_training.supervised.crops import (
    CacheReport,
    CacheSettings,
    _recording_seed,
    crop_frames,
    shard_paths,
    write_shard,
)
from unipose_training.supervised.train import RunResult, SupervisedConfig, load_config, train
from unipose_training.weak.pseudo_labels import PseudoLabels


@dataclass(frozen=True)
class LiftConfig:
    """The lifting stage's settings.

    Attributes:
        kinds: which A2J models to train on the pseudo-labels (``depth``, ``rgb``).
        depth_config / rgb_config: supervised training YAML of each kind (model, crop, augment,
            loss, schedule); ``epochs`` below override the schedule length when set.
        depth_epochs / rgb_epochs: schedule length overrides (None: the YAML's).
        min_joint_confidence: pseudo-label joints under this are not trained on.
        reliable_only: use only the frames that passed the pseudo-label filter.
        n_points: points stored per crop (the image models do not use them; kept small).
        threads: torch CPU threads for the A2J training (0: default).
    """

    kinds: tuple[str, ...] = ("depth", "rgb")
    depth_config: str = "config/train/depth_a2j.yaml"
    rgb_config: str = "config/train/rgb_a2j.yaml"
    depth_epochs: int | None = None
    rgb_epochs: int | None = None
    min_joint_confidence: float = 0.2
    reliable_only: bool = True
    n_points: int = 64
    threads: int = 0

    def supervised(self, kind: str, root: str | Path = ".") -> SupervisedConfig:
        """The :class:`SupervisedConfig` of ``kind`` with the epoch override applied (relative
        YAML paths are taken from ``root``)."""
        path = Path(getattr(self, f"{kind}_config"))
        if not path.is_absolute():
            path = Path(root) / path
        cfg = load_config(path)
        epochs = getattr(self, f"{kind}_epochs")
        over: dict[str, Any] = {"epochs": epochs} if epochs is not None else {}
        if self.threads:
            over["threads"] = self.threads
        return replace(cfg, **over)


def build_lift_shard(recording: str | Path, labels: PseudoLabels, out_dir: str | Path, crop: CropConfig,
                     cfg: LiftConfig, ingest_cfg: IngestConfig | None = None, seed: int = 0,
                     proposals: ProposalConfig | None = None, progress: Any = None) -> dict:
    """Cut the crops of one recording with its pseudo-labels as targets.

    Writes ``out_dir/<recording>.npz`` (the crop-shard layout of
    :mod:`unipose_training.supervised.crops`) and ``.json`` (the :class:`CacheReport` plus the
    pseudo-label version and how many person-frames were left out as unreliable). An existing
    pair cut from the same label version is kept (the stage resumes). Returns the report dict.
    """
    rec = Path(recording)
    shard, report_path = shard_paths(out_dir, rec.name)
    version = labels.info.get("version")
    if shard.exists() and report_path.exists():
        old = json.loads(report_path.read_text())
        if old.get("pseudo_label_version") == version and old.get("crop") == asdict(crop):
            old["resumed"] = True
            return old
    t0 = time.perf_counter()
    people = labels.people_by_stamp(cfg.min_joint_confidence, cfg.reliable_only)
    report = CacheReport(recording=rec.name, crop=asdict(crop), n_points=cfg.n_points, joint_set="itop15")
    settings = CacheSettings(crop=crop, n_points=cfg.n_points, proposals=proposals or ProposalConfig(), seed=seed)
    frames = ingest_frames(rec, ingest_cfg or IngestConfig())
    arrays = crop_frames(((f, people.get(f.stamp_ns, [])) for f in frames), settings, report,
                         _recording_seed(seed, rec.name), progress)
    report.seconds = round(time.perf_counter() - t0, 2)
    write_shard(shard, arrays, crop, "itop15")
    info = report.to_dict()
    info.update(pseudo_label_version=version, pseudo_label_samples=int(len(labels.stamp)),
                unreliable_left_out=int((~labels.reliable).sum()) if cfg.reliable_only else 0,
                min_joint_confidence=cfg.min_joint_confidence)
    tmp = report_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, report_path)
    return info


def train_lifted(kind: str, crops: str | Path, out: str | Path, cfg: LiftConfig, export: str | Path,
                 resume: bool = True, root: str | Path = ".", progress: bool = True) -> RunResult:
    """Train the ``kind`` A2J on ``crops/train`` (pseudo-labels; ``crops/test`` with ground truth,
    when present, is only evaluated on) and export the checkpoint to ``export``.

    Raises:
        InputError: no pseudo-labelled crop at all (the message gives the filter's counts).
    """
    tot = summarise_shards(Path(crops) / "train")
    if not tot.get("samples"):
        raise InputError(
            f"no pseudo-labelled person crop in {Path(crops) / 'train'} ({tot.get('unreliable_left_out', 0)} "
            "person-frames were left out as unreliable, see <recording>/pseudo_labels/*.json): train the weak "
            "stage longer, record more frames, or relax the pseudo: filter (min_teacher_confidence, "
            "max_reprojection_px, bone_ratio)")
    sup = cfg.supervised(kind, root)
    if sup.model.kind != kind:
        raise ValueError(f"{kind}_config trains a {sup.model.kind} model, not {kind}")
    export = Path(export)
    if export.exists() and resume:
        meta = Path(out) / "metrics.json"
        if meta.exists():
            return RunResult(epochs_done=sup.epochs, stopped_early=False,
                             metrics=json.loads(meta.read_text()).get("latest"), out=Path(out))
    return train(sup, crops, out, resume=resume, export=export, progress=progress)


def summarise_shards(out_dir: str | Path) -> dict:
    """Totals over the lift shards' reports: samples, people, unreliable left out, fallbacks."""
    tot: dict[str, float] = {}
    for p in sorted(Path(out_dir).glob("*.json")):
        d = json.loads(p.read_text())
        for k in ("frames", "people", "samples", "matched", "fallbacks", "skipped", "unreliable_left_out"):
            tot[k] = tot.get(k, 0) + int(d.get(k, 0) or 0)
    return tot


def mean_confidence(labels: PseudoLabels) -> float:
    """Mean per-joint confidence of the reliable pseudo-labels (0 when none)."""
    c = labels.confidence[labels.reliable]
    return float(np.mean(c)) if c.size else 0.0


def latest_labels(recording: str | Path) -> Path:
    """The newest pseudo-label file of a recording (``<recording>/pseudo_labels/*.npz``)."""
    files = sorted(Path(recording).glob("pseudo_labels/*.npz"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise InputError(f"{recording} has no pseudo-labels (pseudo_labels/*.npz): run the pseudo stage first")
    return files[-1]


def main(argv: list[str] | None = None) -> int:
    import argparse

    from unipose_training.weak.pipeline import find_bags, load_pipeline_config
    from unipose_training.weak.pseudo_labels import read_pseudo_labels

    ap = argparse.ArgumentParser(description="Train an A2J model on the pseudo-labels of recordings.")
    ap.add_argument("--config", type=Path, required=True, help="pipeline YAML (its lift:, ingest: and weak.crop are used)")
    ap.add_argument("--kind", choices=("depth", "rgb"), required=True)
    ap.add_argument("--recordings", type=Path, nargs="+", required=True, help="recordings (or folders of them)")
    ap.add_argument("--eval", type=Path, nargs="*", default=[], help="recordings with ground truth to test on")
    ap.add_argument("--crops", type=Path, required=True, help="crop cache folder (train/ and test/ inside)")
    ap.add_argument("--out", type=Path, required=True, help="training run folder (resumes)")
    ap.add_argument("--export", type=Path, required=True, help="checkpoint to write")
    ap.add_argument("--epochs", type=int, help="override the schedule length")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    pcfg = load_pipeline_config(args.config)
    cfg = pcfg.lift if args.epochs is None else replace(pcfg.lift, **{f"{args.kind}_epochs": args.epochs})
    from tqdm import tqdm

    recs = find_bags(args.recordings)
    for rec in tqdm(recs, desc="crops", unit="recording", disable=args.no_progress):
        build_lift_shard(rec, read_pseudo_labels(latest_labels(rec)), args.crops / "train", pcfg.weak.crop, cfg,
                         pcfg.ingest, seed=pcfg.seed)
    if args.eval:
        from unipose_training.supervised.crops import build_crop_cache

        for rec in find_bags(args.eval):
            build_crop_cache(rec, args.crops / "test", pcfg.weak.crop, n_points=cfg.n_points, seed=pcfg.seed)
    print(json.dumps(summarise_shards(args.crops / "train")))
    train_lifted(args.kind, args.crops, args.out, cfg, args.export, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
