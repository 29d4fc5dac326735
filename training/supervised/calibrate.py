"""Calibrate a checkpoint's person-score threshold on recordings with ground truth.

Depth person proposals include person-sized objects (boxes, furniture); the network's votes scatter
on them, so their score (mean joint confidence) is low. This picks the highest threshold that keeps
``keep`` of the real people (predictions matched to a ground-truth person) and writes it into the
checkpoint (``provenance["calibration"]``), where the learned estimators read it.

Example::

    python -m unipose_training.supervised.calibrate --checkpoint unipose_ros/checkpoints/depth_a2j.pt \
        --data data/synthetic/train --frame-stride 5
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from unipose_ros.core.metrics import match_people


def score_samples(estimator, recordings: list[Path], frame_stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores of predictions matched to a ground-truth person and of the others (objects)."""
    from unipose_training.evaluation.evaluate import evaluate_estimators

    people: list[float] = []
    objects: list[float] = []

    def on_frame(_name, _frame, poses, truth) -> None:
        split_scores(poses, truth, people, objects)

    evaluate_estimators(recordings, {"candidate": estimator}, frame_stride=frame_stride, on_frame=on_frame)
    return np.asarray(people), np.asarray(objects)


def split_scores(poses: list, truth: list, people: list[float], objects: list[float]) -> None:
    """Append the score of each of ``poses`` to ``people`` when it matches one of ``truth`` (people
    with joints (J, 3)), else to ``objects``."""
    matched = {p for p, _ in match_people([p.joints for p in poses], [g.joints for g in truth])}
    for i, pose in enumerate(poses):
        (people if i in matched else objects).append(float(pose.score))


def write_calibration(loaded, path: Path, people: np.ndarray, objects: np.ndarray, keep: float, **info) -> dict:
    """Choose the threshold keeping ``keep`` of ``people``, store it (with the counts and ``info``)
    in the checkpoint's ``provenance["calibration"]`` at ``path``, and return that dict."""
    from unipose_ros.models import save_checkpoint

    thr = choose_threshold(people, keep)
    calibration = {"min_person_score": thr, "keep_people": float((people >= thr).mean()),
                   "keep_objects": float((objects >= thr).mean()) if objects.size else 0.0,
                   "people": int(people.size), "objects": int(objects.size), **info}
    provenance = dict(loaded.provenance or {})
    provenance["calibration"] = calibration
    save_checkpoint(path, loaded.model, loaded.config, loaded.crop, provenance)
    return calibration


def choose_threshold(people: np.ndarray, keep: float) -> float:
    """The largest threshold keeping at least ``keep`` of ``people`` scores (rounded down to 0.01)."""
    if people.size == 0:
        raise ValueError("no prediction matched a ground-truth person: cannot calibrate")
    return float(np.floor(np.quantile(people, 1.0 - keep) * 100) / 100)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="recordings with ground truth (not the test split)")
    ap.add_argument("--keep", type=float, default=0.98, help="fraction of real people to keep")
    ap.add_argument("--frame-stride", type=int, default=5)
    ap.add_argument("--detector", choices=("geometric", "learned"), default=None,
                    help="how people are found (default: learned for a checkpoint trained on masked crops, "
                         "else the LearnedConfig default)")
    args = ap.parse_args(argv)
    from unipose_ros.estimators.learned import LearnedConfig, LearnedEstimator
    from unipose_ros.models import load_checkpoint
    from unipose_training.evaluation.evaluate import find_recordings

    loaded = load_checkpoint(args.checkpoint)
    detector = args.detector or ("learned" if loaded.crop.mask_people else LearnedConfig.detector)
    est = LearnedEstimator(loaded, config=LearnedConfig(min_person_score=0.0, detector=detector))
    people, objects = score_samples(est, find_recordings(args.data), args.frame_stride)
    calibration = write_calibration(loaded, args.checkpoint, people, objects, args.keep, data=str(args.data),
                                    frame_stride=args.frame_stride, detector=detector)
    print(f"{args.checkpoint}: min_person_score {calibration['min_person_score']:.2f} keeps "
          f"{100 * calibration['keep_people']:.1f} % of {people.size} people and "
          f"{100 * calibration['keep_objects']:.1f} % of {objects.size} object proposals")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
