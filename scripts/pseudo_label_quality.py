"""How good are a run's pseudo-labels? Their 3D error against ground truth that training never
reads, overall, for the frames the filter keeps, and by track length (short tracks are mostly
false detections and the network's worst frames: what ``PseudoLabelConfig.min_track_frames``
filters).

    python scripts/pseudo_label_quality.py --samples runs/weak48/samples --recordings data/synthetic/train

Each recording's newest pseudo-label file is read (``--version`` picks another). Person-frames
are matched to the samples' ground truth by (stamp, track); a sample without ground truth (a
detection of nobody, or of a person the ground truth leaves out) counts as unmatched.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from unipose_training.weak.lift import latest_labels
from unipose_training.weak.pipeline import find_bags
from unipose_training.weak.pseudo_labels import read_pseudo_labels, track_frames
from unipose_training.weak.samples import load_samples

BUCKETS = ((1, 3), (3, 5), (5, 20), (20, 10**9))


def collect(samples_dir: Path, recordings: list[Path], version: str | None) -> dict[str, np.ndarray]:
    """Per person-frame: ``error_mm`` (S, J) joint errors (NaN when unmatched), ``matched``,
    ``reliable``, ``track_frames`` (length of its track), over all recordings."""
    out: dict[str, list] = {"error_mm": [], "matched": [], "reliable": [], "track_frames": []}
    for rec in recordings:
        path = rec / "pseudo_labels" / f"{version}.npz" if version else latest_labels(rec)
        labels = read_pseudo_labels(path)
        samples = load_samples(samples_dir / f"{rec.name}.npz")
        row = {(int(s), int(t)): i for i, (s, t) in enumerate(zip(samples["stamp"], samples["track"]))}
        order = np.array([row[(int(s), int(t))] for s, t in zip(labels.stamp, labels.track)], dtype=np.int64)
        gt = samples["joints_gt"][order]
        matched = np.isfinite(gt).all(axis=(1, 2))
        err = np.full(labels.joints.shape[:2], np.nan)
        err[matched] = np.linalg.norm(labels.joints[matched] - gt[matched], axis=-1) * 1000
        out["error_mm"].append(err)
        out["matched"].append(matched)
        out["reliable"].append(labels.reliable.astype(bool))
        out["track_frames"].append(track_frames(labels.track))
    return {k: np.concatenate(v) for k, v in out.items()}


def table(d: dict[str, np.ndarray]) -> str:
    """Markdown table: all / kept by the filter / by track length (kept frames); errors over the
    matched person-frames."""
    def row(name: str, sel: np.ndarray) -> str:
        m = sel & d["matched"]
        err = d["error_mm"][m]
        mean = f"{err.mean():.1f}" if err.size else "-"
        acc = f"{(err <= 100).mean():.3f}" if err.size else "-"  # joints within 10 cm: mAP@10cm
        return f"| {name} | {int(sel.sum())} | {int((sel & ~d['matched']).sum())} | {mean} | {acc} |"

    everything = np.ones_like(d["matched"])
    lines = ["| person-frames | count | unmatched | MPJPE (mm) | mAP@10cm |",
             "|---|---:|---:|---:|---:|", row("all", everything), row("kept by the filter", d["reliable"])]
    for lo, hi in BUCKETS:
        span = f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+"
        lines.append(row(f"kept, track of {span} frames", d["reliable"] & (d["track_frames"] >= lo)
                         & (d["track_frames"] < hi)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, required=True, help="the run's sample shards (RUN/samples)")
    ap.add_argument("--recordings", type=Path, nargs="+", required=True, help="recordings (or folders of them)")
    ap.add_argument("--version", help="pseudo-label version (pl1-...); default: each recording's newest")
    args = ap.parse_args(argv)
    print(table(collect(args.samples, find_bags(args.recordings), args.version)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
