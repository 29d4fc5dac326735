"""Detection recall and precision of the learned detector and of the geometric proposals, side
by side on the same frames (recordings of ``unipose_training.detection.data``), per sensor.

    python -m unipose_training.detection.evaluate --data data/detect/cross --out reports/detector

A person counts when at least ``min_visible_px`` of their pixels are seen with a valid depth (at
the stored 320-pixel width): a person past the sensor's working range is in the colour image but
not in the depth image, and no depth detector can find them. Smaller ones may be found or not
(neither a hit nor a false person). A
detection finds a person by the rule that assigns training crops to people
(:func:`unipose_training.supervised.crops.match_proposals`): its box holds the projection of the
person's torso joint and its median depth lies within ``match_m`` of the torso's depth; pairs
are taken greedily by depth difference. A false person is a detection that finds nobody; the
false-person frame rate is the share of frames with at least one. ``centre_err_m`` is the median
distance of a found person's crop centre (box centre at the median depth) from the torso joint.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.crop import centre_from_proposal
from unipose_ros.core.joints import ITOP15

TORSO = ITOP15.index("torso")


@dataclass
class Tally:
    frames: int = 0
    people: int = 0
    found: int = 0
    detections: int = 0
    false: int = 0
    false_frames: int = 0
    ms: list | None = None
    centre_err: list | None = None

    def add(self, other: "Tally") -> None:
        for k in ("frames", "people", "found", "detections", "false", "false_frames"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.ms = (self.ms or []) + (other.ms or [])
        self.centre_err = (self.centre_err or []) + (other.centre_err or [])

    def row(self) -> dict:
        ms = np.asarray(self.ms or [np.nan])
        err = np.asarray(self.centre_err or [np.nan])
        return {"frames": self.frames, "people": self.people, "recall": self.found / max(self.people, 1),
                "precision": (self.detections - self.false) / max(self.detections, 1),
                "false_person_frames": self.false_frames / max(self.frames, 1),
                "centre_err_m": float(np.median(err)),
                "ms_p50": float(np.median(ms)), "ms_p95": float(np.percentile(ms, 95))}


def recording_camera(sensor_name: str, width: int, height: int) -> PinholeCamera:
    """The intrinsics of a stored (resized) recording of ``sensor_name``."""
    from unipose_ros.synthetic.sensors import sensor

    cam = sensor(sensor_name).camera
    return cam.scaled(width / cam.width, height / cam.height)


def score_frame(found: list, torsos: np.ndarray, must: np.ndarray, camera: PinholeCamera, match_m: float) -> Tally:
    """Match detections (with ``box`` and ``depth_m``) to the torso joints (P, 3) of the people;
    ``must`` (P,) marks the people that count."""
    from unipose_training.supervised.crops import match_proposals

    t = Tally(frames=1, people=int(must.sum()), detections=len(found))
    people = [torsos[p][None] for p in range(len(torsos))]
    assigned = match_proposals(people, found, camera, 0, match_m)
    t.centre_err = []
    for p, k in enumerate(assigned):
        if k is not None:
            t.found += int(must[p])
            t.centre_err.append(float(np.linalg.norm(centre_from_proposal(found[k], camera) - torsos[p])))
    t.false = len(found) - sum(k is not None for k in assigned)
    t.false_frames = int(t.false > 0)
    return t


def evaluate(data: list[Path], checkpoint: Path | None, min_visible_px: int = 300, match_m: float = 0.6,
             methods: tuple[str, ...] = ("learned", "geometric"), min_score: float | None = None) -> dict:
    """Per method and sensor tallies over every frame of ``data`` (folders of rec_*.npz)."""
    from unipose_ros.core.person_proposals import propose_people
    from unipose_ros.estimators.person_detector import LearnedPersonDetector

    detector = LearnedPersonDetector(checkpoint, min_score=min_score) if "learned" in methods else None
    tallies: dict[str, dict[str, Tally]] = {m: {} for m in methods}
    files = sorted(f for d in data for f in Path(d).glob("rec_*.npz"))
    if not files:
        raise FileNotFoundError(f"no rec_*.npz under {[str(d) for d in data]}")
    from tqdm import tqdm

    for f in tqdm(files, unit="rec", desc="detector evaluation"):
        with np.load(f) as z:
            depth_mm, inst, joints, sensor_name = z["depth"], z["instance"], z["joints"], str(z["sensor"])
        cam = recording_camera(sensor_name, depth_mm.shape[2], depth_mm.shape[1])
        for k in range(len(depth_mm)):
            depth = depth_mm[k].astype(np.float32) / 1000.0
            depth[depth_mm[k] == 0] = np.nan
            measured = depth_mm[k] > 0
            seen = np.array([((inst[k] == p) & measured).sum() for p in range(joints.shape[1])])
            must = seen >= min_visible_px
            torsos = joints[k, :, TORSO]
            for m in methods:
                t0 = time.perf_counter()
                found = detector.detect(depth, cam) if m == "learned" else propose_people(depth, cam)
                ms = 1e3 * (time.perf_counter() - t0)
                t = score_frame(found[:6], torsos, must, cam, match_m)
                t.ms = [ms]
                tallies[m].setdefault(sensor_name, Tally()).add(t)
    out: dict = {"files": len(files), "min_visible_px": min_visible_px, "match_m": match_m, "methods": {}}
    for m, per in tallies.items():
        total = Tally()
        for t in per.values():
            total.add(t)
        out["methods"][m] = {"all": total.row(), **{s: t.row() for s, t in sorted(per.items())}}
    return out


def markdown(result: dict) -> str:
    lines = ["| method | sensor | frames | people | recall | precision | frames with a false person | "
             "centre error (m) | ms p50 | ms p95 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m, per in result["methods"].items():
        for s, r in per.items():
            lines.append(f"| {m} | {s} | {r['frames']} | {r['people']} | {r['recall']:.3f} | {r['precision']:.3f} | "
                         f"{r['false_person_frames']:.3f} | {r['centre_err_m']:.2f} | {r['ms_p50']:.1f} | "
                         f"{r['ms_p95']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+", required=True)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--min-visible-px", type=int, default=300)
    ap.add_argument("--match-m", type=float, default=0.6)
    ap.add_argument("--min-score", type=float, help="the learned detector's peak threshold (default: the checkpoint's)")
    ap.add_argument("--methods", nargs="+", default=["learned", "geometric"])
    args = ap.parse_args(argv)
    result = evaluate(args.data, args.checkpoint, args.min_visible_px, args.match_m, tuple(args.methods), args.min_score)
    from unipose_training.evaluation.evaluate import save_result

    save_result(args.out, "detection", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
