"""Where the errors are: accuracy per view (front / side / back), per sensor and per motion, the
left/right swap oracle, and person detection recall and precision, for every estimator on the
same frames.

    python -m unipose_training.evaluation.breakdown --data data/robot/cross \\
        --estimators baseline depth+learned pointcloud+learned teacher_pointcloud fused+learned --out reports/breakdown/cross

* **View** of a ground-truth person: the angle between their facing direction (perpendicular to
  the shoulder line, from the torso's up direction) and the direction to the camera: front
  < 45 deg, back > 135 deg, side otherwise.
* **Swap oracle**: the MPJPE if left and right were swapped wherever that is better (per
  person); the **swap rate** is the share of matched people whose swapped skeleton is more than
  20 mm closer to the truth.
* **Detection**: a ground-truth person is found when a prediction is matched to them
  (:func:`unipose_ros.core.metrics.match_people`, mean joint distance <= 0.5 m); a prediction
  matched to nobody is a false person.
* **Sensor**: the ``sensor`` of the recording's generator config (``generic`` for the original
  splits).
* **Motion**: the clip a person's current motion segment comes from (``motion_labels.json`` of a
  synthetic recording, ``motions.clip_family``: ``walk``, ``everyday_sit``...); ``unknown`` for
  recordings without labels.
* **Depth**: ``measured`` when the depth image measures at least
  ``core.metrics.MIN_DEPTH_SUPPORTED_JOINTS`` of the person's joints, ``beyond range`` otherwise
  (a person past the sensor's working range, or hidden: the colour camera may see them, a
  depth-only estimator cannot).

``NAME+learned`` runs the learned estimator NAME with ``detector: learned``; ``NAME@PATH`` with the
checkpoint PATH instead of the bundled one (``depth+learned@runs/depth/best.pt``); ``NAME=YAML`` with
the settings in YAML (``depth=config/learned.yaml``).
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from unipose_ros.core.joints import ITOP15, JointSet
from unipose_ros.core.metrics import match_people

VIEWS = ("front", "side", "back")


def person_view(joints: np.ndarray, js: JointSet = ITOP15) -> str:
    """``front``, ``side`` or ``back``: how a person (J, 3 metres, optical frame) faces the camera."""
    r, l_ = joints[js.index("right_shoulder")], joints[js.index("left_shoulder")]
    up = joints[js.index("neck")] - joints[js.index("torso")]
    forward = np.cross(up, r - l_)
    to_cam = -joints[js.index("torso")]
    n = np.linalg.norm(forward) * np.linalg.norm(to_cam)
    if not np.isfinite(n) or n == 0:
        return "side"
    angle = np.degrees(np.arccos(np.clip(forward @ to_cam / n, -1, 1)))
    return "front" if angle < 45 else "back" if angle > 135 else "side"


def swap_errors(pred: np.ndarray, gt: np.ndarray, js: JointSet = ITOP15) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint errors (J,) metres of ``pred`` against ``gt`` and against ``gt`` with left and
    right swapped."""
    return np.linalg.norm(pred - gt, axis=-1), np.linalg.norm(pred - gt[js.flip_permutation], axis=-1)


class Breakdown:
    """Accumulates per-person records of one estimator."""

    def __init__(self, js: JointSet = ITOP15) -> None:
        self.js = js
        self.people: list[dict] = []    # matched people
        self.frames: dict[str, dict] = defaultdict(lambda: {"frames": 0, "people": 0, "found": 0, "false": 0,
                                                            "false_frames": 0})
        self.ms: list[float] = []

    def add(self, sensor: str, pred: list[np.ndarray], gt: list[np.ndarray], motions: list[str] | None = None,
            measured: list[bool] | None = None) -> None:
        """One frame: predicted and ground-truth people (J, 3) metres; ``motions`` the clip of each
        ground-truth person; ``measured`` whether the depth image measures them
        (``core.metrics.depth_supported_joints``; None: all)."""
        motions = motions or ["unknown"] * len(gt)
        depth = ["measured" if m else "beyond range" for m in (measured or [True] * len(gt))]
        pairs = match_people(pred, gt)
        f = self.frames[sensor]
        f["frames"] += 1
        f["people"] += len(gt)
        f["found"] += len(pairs)
        f["false"] += len(pred) - len(pairs)
        f["false_frames"] += int(len(pred) > len(pairs))
        for i, j in pairs:
            e, s = swap_errors(pred[i], gt[j], self.js)
            e = np.where(np.isfinite(e), e, 10.0)
            s = np.where(np.isfinite(s), s, 10.0)
            self.people.append({**self._groups(sensor, gt[j], motions[j], depth[j]), "missed": False,
                                "mpjpe": float(e.mean()), "swap_mpjpe": float(min(e.mean(), s.mean())),
                                "pck10": float((e < 0.1).mean()), "swapped": bool(s.mean() < e.mean() - 0.02)})
        found = {j for _, j in pairs}
        for j in range(len(gt)):
            if j not in found:
                self.people.append({**self._groups(sensor, gt[j], motions[j], depth[j]), "missed": True})

    def _groups(self, sensor: str, gt: np.ndarray, motion: str, depth: str = "measured") -> dict[str, str]:
        """The groups a ground-truth person (J, 3) is counted in."""
        return {"sensor": sensor, "view": person_view(gt, self.js), "motion": motion, "depth": depth}

    def table(self, key: str) -> dict[str, dict]:
        """Group -> metrics (``key``: "view", "sensor", "motion" or "depth"), plus "all": MPJPE, swap oracle and swap
        rate over matched people; mAP@10cm over every ground-truth person (a missed one scores 0,
        as in :class:`~unipose_ros.core.metrics.PoseEvaluator`)."""
        groups: dict[str, list[dict]] = defaultdict(list)
        for p in self.people:
            groups[p[key]].append(p)
            groups["all"].append(p)
        out = {}
        nan = float("nan")
        for g, everyone in groups.items():
            ps = [p for p in everyone if not p["missed"]]
            out[g] = {"people": len(everyone), "missed": len(everyone) - len(ps),
                      "mpjpe_mm": 1e3 * float(np.mean([p["mpjpe"] for p in ps])) if ps else nan,
                      "map_10cm": float(sum(p["pck10"] for p in ps) / len(everyone)),
                      "swap_oracle_mpjpe_mm": 1e3 * float(np.mean([p["swap_mpjpe"] for p in ps])) if ps else nan,
                      "swap_rate": float(np.mean([p["swapped"] for p in ps])) if ps else nan}
        return out

    def detection(self) -> dict[str, dict]:
        tot = defaultdict(int)
        out = {}
        for s, f in self.frames.items():
            out[s] = _det_row(f)
            for k, v in f.items():
                tot[k] += v
        out["all"] = _det_row(tot)
        return out


def _det_row(f: dict) -> dict:
    found_pred = f["found"]
    return {"frames": f["frames"], "people": f["people"], "recall": f["found"] / max(f["people"], 1),
            "precision": found_pred / max(found_pred + f["false"], 1),
            "false_person_frames": f["false_frames"] / max(f["frames"], 1)}


def recording_sensor(rec: Path) -> str:
    """The sensor preset a synthetic recording was generated with (``generic`` when none)."""
    meta = rec / "generator.json"
    if meta.exists():
        cfg = json.loads(meta.read_text()).get("config", {})
        return cfg.get("sensor") or "generic"
    return "unknown"


class MotionLabels:
    """The motion of each person in each frame of a synthetic recording (``motion_labels.json``)."""

    def __init__(self, rec: Path) -> None:
        from unipose_ros.synthetic.motions import clip_family
        from unipose_ros.synthetic.recording import MOTION_LABELS

        self._family = clip_family
        path = rec / MOTION_LABELS
        data = json.loads(path.read_text()) if path.exists() else None
        self.people: list[list[str]] = data["people"] if data else []
        self.fps = float(data["fps"]) if data else 1.0
        self.start = int(data["start_stamp_ns"]) if data else 0

    def __call__(self, stamp_ns: int, track_ids: list[int]) -> list[str]:
        """Clip family of each track id at ``stamp_ns`` ("unknown" where not labelled)."""
        i = round((stamp_ns - self.start) * self.fps / 1e9)
        return [self._family(self.people[t][i]) if 0 <= t < len(self.people) and 0 <= i < len(self.people[t])
                else "unknown" for t in track_ids]


def build(spec: str):
    """An estimator from a ``NAME[+DETECTOR][@CHECKPOINT][=YAML]`` spec (``registry.parse_spec``;
    the checkpoint replaces the bundled one; the YAML holds the estimator's settings and wins over
    ``+DETECTOR``)."""
    from unipose_ros.estimators.registry import build_estimator, parse_spec

    spec, _, yaml_path = spec.partition("=")
    spec, _, checkpoint = spec.partition("@")
    name, config = parse_spec(spec)
    return build_estimator(name, config=yaml_path or config, checkpoint=checkpoint or None)


def run(data: list[Path], names: list[str], frame_stride: int = 1) -> dict:
    """Every estimator of ``names`` on every ``frame_stride``-th frame of the recordings under
    ``data``: per-view, per-sensor, per-motion and detection tables."""
    from tqdm import tqdm

    from unipose_ros.core.metrics import measured_by_depth
    from unipose_training.evaluation.evaluate import find_recordings, iter_recording_pairs

    recs = [r for d in data for r in find_recordings(d)]
    estimators = {n: build(n) for n in names}
    stats = {n: Breakdown() for n in names}
    for rec in tqdm(recs, unit="rec", desc="breakdown"):
        sensor = recording_sensor(rec)
        labels = MotionLabels(rec)
        for frame, truth in iter_recording_pairs([rec], ITOP15, frame_stride):
            gt = [g.joints.astype(np.float64) for g in truth]
            motions = labels(frame.stamp_ns, [g.track_id for g in truth])
            measured = [measured_by_depth(g, frame.depth, frame.camera) for g in gt]
            for n, est in estimators.items():
                t0 = time.perf_counter()
                poses = est.estimate(frame)
                stats[n].ms.append(1e3 * (time.perf_counter() - t0))
                stats[n].add(sensor, [p.joints.astype(np.float64) for p in poses], gt, motions, measured)
    for est in estimators.values():
        est.close()
    return {n: {"view": s.table("view"), "sensor": s.table("sensor"), "motion": s.table("motion"),
                "depth": s.table("depth"),
                "detection": s.detection(),
                "latency_ms_p50": float(np.median(s.ms)) if s.ms else None}
            for n, s in stats.items()} | {"recordings": [str(r) for r in recs]}


def markdown(result: dict) -> str:
    names = [k for k in result if k != "recordings"]
    lines = []
    for key in ("view", "sensor", "motion", "depth"):
        groups = sorted({g for n in names for g in result[n].get(key, {})}, key=lambda g: (g == "all", VIEWS.index(g)
                                                                                  if g in VIEWS else 9, g))
        lines += [f"\n**Per {key}** (MPJPE mm of the found / mAP@10cm, misses count 0 / swap-oracle MPJPE mm / "
                  "swap rate)\n", "| estimator | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        for n in names:
            cells = []
            for g in groups:
                r = result[n].get(key, {}).get(g)
                if r is None:
                    cells.append("-")
                elif r["people"] == r["missed"]:  # nobody found: only the mAP (0) means something
                    cells.append(f"- / {r['map_10cm']:.2f} / - / - (n={r['people']})")
                else:
                    cells.append(f"{r['mpjpe_mm']:.0f} / {r['map_10cm']:.2f} / "
                                 f"{r['swap_oracle_mpjpe_mm']:.0f} / {r['swap_rate']:.2f} (n={r['people']})")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
    groups = sorted({g for n in names for g in result[n]["detection"]}, key=lambda g: (g == "all", g))
    lines += ["\n**Detection** (recall / precision / frames with a false person)\n",
              "| estimator | " + " | ".join(groups) + " | p50 ms |", "|---|" + "---|" * (len(groups) + 1)]
    for n in names:
        d = result[n]["detection"]
        cells = [f"{d[g]['recall']:.3f} / {d[g]['precision']:.3f} / {d[g]['false_person_frames']:.3f}" if g in d
                 else "-" for g in groups]
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {result[n]['latency_ms_p50']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+", required=True, help="recordings or folders of recordings")
    ap.add_argument("--estimators", nargs="+",
                    default=["baseline", "depth", "depth+learned", "pointcloud", "teacher_pointcloud", "fused"])
    ap.add_argument("--frame-stride", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    result = run(args.data, args.estimators, args.frame_stride)
    from unipose_training.evaluation.evaluate import save_result

    save_result(args.out, "breakdown", result, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
