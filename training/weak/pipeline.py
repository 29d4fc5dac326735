"""The whole weakly supervised pipeline, one command: recordings in, adapted 3D pose models out.

Stages (each also has its own command; each skips work whose output already exists, so an
interrupted run continues where it stopped when started again with the same ``--out``):

=========  ==================================================  =====================================
stage      what                                                 output under ``--out``
=========  ==================================================  =====================================
ingest     find the camera topics, pair colour/depth by stamp   ingest/<rec>.json
teacher    2D teacher keypoints on every colour frame           teacher/<rec>.npz, .json
samples    person point clouds + keypoints + tracks             samples/<rec>.npz, .json
weak       point network trained from 2D keypoints only         weak/weak_pointcloud.pt
pseudo     pseudo-labels (filtered) next to each recording      <rec>/pseudo_labels/<version>.npz
lift       depth and RGB A2J trained on the pseudo-labels       weak_depth_a2j.pt, weak_rgb_a2j.pt
evaluate   side-by-side accuracy on recordings with ground      eval/report.json, report.md, plots
           truth (only when ``--eval`` recordings are given)
=========  ==================================================  =====================================

Example (the reduced configuration, a few minutes per 100 frames on a CPU)::

    python -m unipose_training.weak.pipeline --config config/weak/reduced.yaml \\
        --recordings data/weak/train --eval data/synthetic/test --out runs/weak_reduced

``torchrun --nproc_per_node N -m unipose_training.weak.pipeline ...`` trains the networks with DDP
(the other stages run on rank 0 while the others wait).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from unipose_ros.core.config import from_dict, stable_hash
from unipose_ros.core.package_files import share_dir
from unipose_training import distributed as dist_util
from unipose_training.datasets.ingest import IngestConfig
from unipose_training.weak.lift import LiftConfig
from unipose_training.weak.pseudo_labels import PseudoLabelConfig
from unipose_training.weak.samples import SampleConfig
from unipose_training.weak.teacher_stage import TeacherStageConfig
from unipose_training.weak.train import WeakTrainConfig

STAGES = ("ingest", "teacher", "samples", "weak", "pseudo", "lift", "evaluate")


@dataclass(frozen=True)
class EvaluateConfig:
    """Evaluation settings.

    Attributes:
        frame_stride: evaluate every n-th frame.
        full_depth: checkpoint of the fully supervised depth A2J to compare with ("" = bundled).
        methods: which methods to run (names of the report); ``weak_depth``, ``weak_rgb``,
            ``full_depth`` and ``full_rgb`` also come with ``_flip`` (test-time flip,
            ``LearnedConfig.flip_test``).
        overlay_frames: overlay pictures written.
    """

    frame_stride: int = 1
    full_depth: str = ""
    methods: tuple[str, ...] = ("baseline", "weak_pointcloud", "weak_depth", "weak_rgb", "full_depth")
    overlay_frames: int = 4


@dataclass(frozen=True)
class PipelineConfig:
    """One YAML for every stage (config/weak/*.yaml); missing sections take the defaults."""

    ingest: IngestConfig = field(default_factory=IngestConfig)
    teacher: TeacherStageConfig = field(default_factory=TeacherStageConfig)
    samples: SampleConfig = field(default_factory=SampleConfig)
    weak: WeakTrainConfig = field(default_factory=WeakTrainConfig)
    pseudo: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    lift: LiftConfig = field(default_factory=LiftConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    seed: int = 0


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    return from_dict(PipelineConfig, data, str(path))


def _hash(obj: Any) -> str:
    return stable_hash(obj)


def find_bags(paths: list[Path]) -> list[Path]:
    """rosbag2 directories among ``paths`` (a path that is a recording is taken as is; a folder
    of recordings is searched one level deep)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / "metadata.yaml").exists():
            out.append(p)
        elif p.is_dir():
            found = sorted(q.parent for q in p.glob("*/metadata.yaml"))
            if not found:
                raise FileNotFoundError(f"{p} holds no rosbag2 recording (no */metadata.yaml)")
            out.extend(found)
        else:
            raise FileNotFoundError(f"{p} does not exist")
    return out


class Pipeline:
    """Runs the stages in order and keeps ``state.json`` (stage -> done, seconds, config hash)."""

    def __init__(self, cfg: PipelineConfig, recordings: list[Path], out: Path, eval_recordings: list[Path] | None = None,
                 root: Path | None = None, progress: bool = True, log: Callable[[str], None] = print) -> None:
        self.cfg, self.recordings, self.out = cfg, recordings, Path(out)
        self.eval_recordings = eval_recordings or []
        self.root = root or share_dir()  # where config/ lives (the checkout, or the installed share/)
        self.progress = progress
        self.info = dist_util.init_distributed(cfg.weak.device)
        self.log = log if self.info.is_main else (lambda _m: None)
        self.state_path = self.out / "state.json"
        self.state: dict[str, Any] = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.out.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ bookkeeping
    def _save_state(self) -> None:
        if self.info.is_main:
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state, indent=1))
            tmp.replace(self.state_path)

    def stage_hash(self, stage: str) -> str:
        c = asdict(self.cfg)
        upstream = {"ingest": ["ingest"], "teacher": ["ingest", "teacher"], "samples": ["ingest", "teacher", "samples"],
                    "weak": ["ingest", "teacher", "samples", "weak"],
                    "pseudo": ["ingest", "teacher", "samples", "weak", "pseudo"],
                    "lift": ["ingest", "teacher", "samples", "weak", "pseudo", "lift"],
                    "evaluate": ["ingest", "teacher", "samples", "weak", "pseudo", "lift", "evaluate"]}[stage]
        evals = [str(r) for r in self.eval_recordings] if stage == "evaluate" else []
        return _hash({k: c[k] for k in upstream}
                     | {"recordings": [str(r) for r in self.recordings], "seed": c["seed"], "eval": evals})

    def run(self, stages: tuple[str, ...] = STAGES) -> dict:
        for stage in stages:
            h = self.stage_hash(stage)
            prev = self.state.get(stage, {})
            if prev.get("done") and prev.get("hash") == h:
                self.log(f"[{stage}] done earlier ({prev.get('seconds', 0):.0f} s): skipped")
                continue
            if stage == "evaluate" and not self.eval_recordings:
                self.log("[evaluate] no --eval recordings with ground truth: skipped")
                continue
            self.log(f"[{stage}] ...")
            t0 = time.monotonic()
            summary = getattr(self, f"stage_{stage}")()
            dist_util.barrier()
            self.state[stage] = {"done": True, "hash": h, "seconds": round(time.monotonic() - t0, 1), "summary": summary}
            self._save_state()
            self.log(f"[{stage}] finished in {time.monotonic() - t0:.0f} s")
        return self.state

    def _on_main(self) -> bool:
        return self.info.is_main

    # ------------------------------------------------------------------ stages
    def stage_ingest(self) -> dict:
        from unipose_training.datasets.ingest import ingest_recording

        total = {"recordings": len(self.recordings), "frames": 0, "skipped": 0}
        if not self._on_main():
            return total
        for rec in self.recordings:
            report = ingest_recording(rec, self.cfg.ingest, self.out / "ingest", progress=self.progress)
            self.log(report.format())
            total["frames"] += report.frames
            total["skipped"] += sum(report.skipped.values())
        return total

    def stage_teacher(self) -> dict:
        from unipose_training.weak.teacher_stage import build_teacher, run_teacher_stage

        out = {"recordings": len(self.recordings)}
        if not self._on_main():
            return out
        teacher = None
        try:
            for rec in self.recordings:
                if teacher is None:
                    teacher = build_teacher(self.cfg.teacher.teacher, **dict(self.cfg.teacher.teacher_args))
                run_teacher_stage(rec, self.out / "teacher", self.cfg.teacher, self.cfg.ingest,
                                  progress=self.progress, teacher=teacher)
        finally:
            if teacher is not None:
                teacher.close()
        return out

    def stage_samples(self) -> dict:
        from unipose_training.weak.samples import build_samples

        tot: dict[str, int] = {}
        if not self._on_main():
            return tot
        for rec in self.recordings:
            path = build_samples(rec, self.out / "teacher" / f"{rec.name}.npz", self.out / "samples", self.cfg.samples,
                                 self.cfg.ingest, progress=self.progress)
            info = json.loads(Path(path).with_suffix(".json").read_text())
            for k in ("frames", "people", "samples"):
                tot[k] = tot.get(k, 0) + int(info.get(k, 0) or 0)
        return tot

    @property
    def weak_checkpoint(self) -> Path:
        return self.out / "weak" / "weak_pointcloud.pt"

    def stage_weak(self) -> dict:
        from unipose_training.weak.train import train_weak

        shards = [self.out / "samples" / f"{r.name}.npz" for r in self.recordings]
        res = train_weak(self.cfg.weak, shards, self.out / "weak", resume=True, export=self.weak_checkpoint,
                         progress=self.progress, log=self.log)
        return {"epochs": res.epochs_done, "diagnostic": res.metrics}

    def stage_pseudo(self) -> dict:
        from unipose_training.weak.pseudo_labels import teacher_provenance, write_pseudo_labels

        paths: dict[str, str] = {}
        if self._on_main():
            for rec in self.recordings:
                shard = self.out / "samples" / f"{rec.name}.npz"
                teacher = teacher_provenance(shard.with_suffix(".json"))
                npz = write_pseudo_labels(rec, shard, self.weak_checkpoint, self.cfg.pseudo, teacher,
                                          fallback_dir=self.out / "pseudo_labels")
                paths[rec.name] = str(npz)
        paths = dist_util.broadcast_object(paths)
        summary: dict[str, Any] = {"labels": paths, "samples": 0, "reliable": 0}
        diag = []
        for p in paths.values():
            info = json.loads(Path(p).with_suffix(".json").read_text())
            summary["samples"] += info["samples"]
            summary["reliable"] += info["reliable"]
            if info.get("diagnostic_vs_ground_truth"):
                diag.append(info["diagnostic_vs_ground_truth"])
        if diag:
            summary["diagnostic_all_mpjpe_mm"] = sum(d["all_mpjpe_mm"] for d in diag) / len(diag)
        self.log(f"[pseudo] {summary['reliable']}/{summary['samples']} person-frames reliable")
        return summary

    def stage_lift(self) -> dict:
        from unipose_training.weak.lift import build_lift_shard, summarise_shards, train_lifted
        from unipose_training.weak.pseudo_labels import read_pseudo_labels

        crops = self.out / "crops"
        crop = self.cfg.weak.crop
        labels = self.state.get("pseudo", {}).get("summary", {}).get("labels", {})
        if self._on_main():
            for rec in self.recordings:
                if rec.name not in labels:
                    raise RuntimeError(f"no pseudo-labels of {rec.name}: run the pseudo stage first")
                build_lift_shard(rec, read_pseudo_labels(labels[rec.name]), crops / "train", crop, self.cfg.lift,
                                 self.cfg.ingest, seed=self.cfg.seed)
            if self.eval_recordings:
                from unipose_training.supervised.crops import build_crop_cache

                for rec in self.eval_recordings:
                    build_crop_cache(rec, crops / "test", crop, n_points=self.cfg.lift.n_points, seed=self.cfg.seed)
        dist_util.barrier()
        tot = summarise_shards(crops / "train")
        out: dict[str, Any] = {"crops": tot, "crop_samples": tot.get("samples", 0)}
        for kind in self.cfg.lift.kinds:
            res = train_lifted(kind, crops, self.out / f"lift_{kind}", self.cfg.lift, self.out / f"weak_{kind}_a2j.pt",
                               root=self.root, progress=self.progress)
            out[kind] = {"epochs": res.epochs_done, "test": res.metrics}
            if res.metrics and res.metrics.get("mpjpe_mm") is not None:
                out[f"{kind}_test_mpjpe_mm"] = float(res.metrics["mpjpe_mm"])
            if self._on_main():
                out[kind]["calibration"] = self.calibrate(kind, labels)
        return out

    def calibrate(self, kind: str, labels: dict[str, str]) -> dict:
        """Person-score threshold of a lifted checkpoint from the pseudo-labelled people (no
        ground truth): the largest threshold keeping 98 % of them; written into the checkpoint."""
        import numpy as np

        from unipose_ros.estimators.learned import LearnedConfig, LearnedEstimator
        from unipose_ros.models import load_checkpoint
        from unipose_training.datasets.ingest import ingest_frames
        from unipose_training.supervised.calibrate import split_scores, write_calibration
        from unipose_training.weak.pseudo_labels import read_pseudo_labels

        path = self.out / f"weak_{kind}_a2j.pt"
        loaded = load_checkpoint(path)
        est = LearnedEstimator(loaded, config=LearnedConfig(min_person_score=0.0))
        people: list[float] = []
        objects: list[float] = []
        for rec in self.recordings:
            by_stamp = read_pseudo_labels(labels[rec.name]).people_by_stamp(0.0, reliable_only=True)
            for i, frame in enumerate(ingest_frames(rec, self.cfg.ingest)):
                truth = by_stamp.get(frame.stamp_ns)
                if truth and i % 3 == 0:
                    split_scores(est.estimate(frame), truth, people, objects)
        est.close()
        if not people:
            return {"min_person_score": 0.0, "people": 0}
        return write_calibration(loaded, path, np.asarray(people), np.asarray(objects), 0.98,
                                 source="pseudo-labelled people (no ground truth)")

    def estimators(self) -> dict[str, Any]:
        from unipose_ros.estimators.learned import LearnedConfig
        from unipose_ros.estimators.registry import build_estimator

        full = self.cfg.evaluate.full_depth or None
        makers = {
            "baseline": lambda flip: build_estimator("baseline"),
            "weak_pointcloud": lambda flip: build_estimator("teacher_pointcloud", checkpoint=self.weak_checkpoint),
            "weak_depth": lambda flip: build_estimator("depth", checkpoint=self.out / "weak_depth_a2j.pt", config=flip),
            "weak_rgb": lambda flip: build_estimator("rgb", checkpoint=self.out / "weak_rgb_a2j.pt", config=flip),
            "full_depth": lambda flip: build_estimator("depth", checkpoint=full, config=flip),
            "full_rgb": lambda flip: build_estimator("rgb", config=flip),
        }
        flippable = ("weak_depth", "weak_rgb", "full_depth", "full_rgb")
        out = {}
        for name in self.cfg.evaluate.methods:
            base = name.removesuffix("_flip")
            if base not in makers or (name != base and base not in flippable):
                raise ValueError(f"unknown evaluation method {name!r}: use {sorted(makers)} "
                                 f"(or {', '.join(m + '_flip' for m in flippable)}: with test-time flip)")
            if base.startswith("weak_") and base[5:] in ("depth", "rgb") and base[5:] not in self.cfg.lift.kinds:
                continue
            out[name] = makers[base](LearnedConfig(flip_test=name != base) if base in flippable else None)
        return out

    def stage_evaluate(self) -> dict:
        from unipose_training.weak.report import evaluate_methods

        if not self._on_main():
            return {}
        ests = self.estimators()
        try:
            report = evaluate_methods(self.eval_recordings, ests, self.out / "eval",
                                      config=json.loads(json.dumps(asdict(self.cfg), default=str)),
                                      data_info={"train_recordings": [str(r) for r in self.recordings],
                                                 "eval_recordings": [str(r) for r in self.eval_recordings],
                                                 "pipeline_state": {k: {kk: vv for kk, vv in v.items() if kk != "summary"}
                                                                    for k, v in self.state.items()}},
                                      frame_stride=self.cfg.evaluate.frame_stride,
                                      overlay_frames=self.cfg.evaluate.overlay_frames, progress=self.progress)
        finally:
            for e in ests.values():
                close = getattr(e, "close", None)
                if close:
                    close()
        return {k: {m: v.get(m) for m in ("mpjpe_mm", "root_rel_mpjpe_mm", "map_10cm", "frames")}
                for k, v in report.items() if isinstance(v, dict) and "mpjpe_mm" in v}

    # ------------------------------------------------------------------ summary
    def summary_table(self) -> str:
        lines = ["| stage | seconds | result |", "|---|---:|---|"]
        for stage in STAGES:
            s = self.state.get(stage)
            if not s:
                continue
            lines.append(f"| {stage} | {s.get('seconds', 0):.0f} | {_short(s.get('summary'))} |")
        total = sum(s.get("seconds", 0) for s in self.state.values() if isinstance(s, dict))
        lines.append(f"| **total** | {total:.0f} | |")
        ev = self.state.get("evaluate", {}).get("summary") or {}
        if ev:
            lines += ["", "| method | MPJPE (mm) | root-relative (mm) | mAP@10cm | frames |", "|---|---:|---:|---:|---:|"]
            for name, m in ev.items():
                lines.append(f"| {name} | {_fmt(m.get('mpjpe_mm'), '{:.1f}')} | "
                             f"{_fmt(m.get('root_rel_mpjpe_mm'), '{:.1f}')} | "
                             f"{_fmt(m.get('map_10cm'), '{:.3f}')} | {m.get('frames', '-')} |")
        return "\n".join(lines)


def _fmt(value: float | None, fmt: str) -> str:
    return fmt.format(value) if value is not None else "-"


def _short(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "" if obj is None else str(obj)
    parts = []
    for k, v in obj.items():
        if isinstance(v, dict) or isinstance(v, list):
            continue
        parts.append(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Weakly supervised pipeline: unlabelled RGB-D recordings -> 3D pose models.")
    ap.add_argument("--config", type=Path, required=True, help="pipeline YAML (config/weak/*.yaml)")
    ap.add_argument("--recordings", type=Path, nargs="+", required=True,
                    help="rosbag2 recordings (or folders of them) to learn from; no labels needed")
    ap.add_argument("--eval", type=Path, nargs="*", default=[], help="recordings with ground truth to evaluate on")
    ap.add_argument("--out", type=Path, required=True, help="run folder (resumes when it exists)")
    ap.add_argument("--from", dest="first", choices=STAGES, help="force the stages from this one on to run again")
    ap.add_argument("--until", choices=STAGES, help="stop after this stage")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = load_pipeline_config(args.config)
    pipe = Pipeline(cfg, find_bags(args.recordings), args.out, find_bags(args.eval) if args.eval else [],
                    progress=not args.no_progress)
    stages = STAGES[: STAGES.index(args.until) + 1] if args.until else STAGES
    if args.first:
        for s in STAGES[STAGES.index(args.first):]:
            pipe.state.pop(s, None)
    try:
        pipe.run(stages)
        pipe.log("\n" + pipe.summary_table())
        if pipe.info.is_main:
            (pipe.out / "summary.md").write_text(pipe.summary_table() + "\n")
    finally:
        dist_util.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
