"""Identity switches of the node's tracker on recordings with exact ground truth.

    python -m unipose_training.evaluation.tracking --make-set data/tracking --recordings 4
    python -m unipose_training.evaluation.tracking --data data/tracking --estimator depth \\
        [--out reports/tracking] [--param tracker_gate_m=0.6 ...]

Each recording runs through an estimator and a :class:`~unipose_ros.core.tracking.SkeletonTracker`
with the pose node's default settings (``PoseNodeParams``), frame by frame with the frames' stamps,
as the node runs them. In every frame the published people (track id >= 0) are matched to the
ground-truth people as CLEAR-MOT does (:func:`clear_mot_pairs`: last frame's pairs are kept while
within a mean joint distance of 0.5 m, the rest are matched optimally). An identity
switch (CLEAR-MOT) is a ground-truth person matched to another track id than at their previous
match; the rate is per 100 matched person-frames. ``swaps`` are the switches to a track that
belonged to another person first (two people exchanging ids); the others are new ids after a
track was lost. ``close_frames`` counts person-frames in which
another person's root is within 1 m: the encounters that can swap ids.

``--make-set`` writes 15 fps recordings of three people walking or running in random robot views
(``synthetic.scene.ViewConfig``) with held-out sensors and bodies, the case of two people passing
each other. Sets of four: ``data/tracking`` (seeds from 52000, the default),
``data/tracking_val`` (``--seed0 53000``), ``data/tracking_test`` (``--seed0 54000``) and
``data/tracking_holdout`` (``--seed0 55000``: made after the tracker's path matching was chosen
on the other three, for a last check); ``data/tracking_fresh`` (``--seed0 56000``) was made after
the colour cue was chosen, and is a fifth set of four.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from unipose_ros.core.joints import ITOP15
from unipose_ros.core.metrics import match_people


def make_set(out: Path, recordings: int = 4, frames: int = 90, seed0: int = 52000) -> list[Path]:
    """Generate the crossing set (module docstring) under ``out``; existing recordings are kept."""
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_recording
    from unipose_ros.synthetic.scene import ViewConfig
    from unipose_training.datasets.splits import CROSS_SENSORS, HEAVY_BODIES

    paths = []
    for i in range(recordings):
        path = out / f"rec_{seed0 + i}"
        if not (path / "metadata.yaml").exists():
            cfg = GeneratorConfig(frames=frames, fps=15.0, people=3, seed=seed0 + i, motions=["walk", "run"],
                                  sensor=CROSS_SENSORS[i % len(CROSS_SENSORS)], views=ViewConfig(),
                                  random_phase=True, body_ranges=dict(HEAVY_BODIES))
            generate_recording(path, cfg, progress=False)
        paths.append(path)
    return paths


#: distance bins (m, the root's depth) of the recall table
DISTANCE_BINS_M = (0.0, 2.0, 3.0, 4.0, 5.0, 100.0)


def clear_mot_pairs(shown: list, truth: list, kept: dict[int, int], max_mean_dist: float = 0.5
                    ) -> list[tuple[int, int]]:
    """(shown index, truth index) pairs of one frame as CLEAR-MOT makes them: a person's match of
    the previous frame (``kept``: person id -> track id) is kept while that track is shown and
    still within ``max_mean_dist`` (mean joint distance, m) of them; the others are matched
    optimally (``core.metrics.match_people``). Without the first step, a skeleton lying between
    two people who overlap would count as a switch whenever it is a little nearer the other one."""
    from unipose_ros.core.metrics import mean_joint_distance

    where = {p.track_id: i for i, p in enumerate(shown)}
    pairs = []
    for g, person in enumerate(truth):
        i = where.get(kept.get(person.track_id, -1))
        if i is not None and mean_joint_distance(shown[i].joints.astype(np.float64),
                                                 person.joints.astype(np.float64)) <= max_mean_dist:
            pairs.append((i, g))
    taken_p, taken_g = {p for p, _ in pairs}, {g for _, g in pairs}
    free_p = [i for i in range(len(shown)) if i not in taken_p]
    free_g = [g for g in range(len(truth)) if g not in taken_g]
    rest = match_people([shown[i].joints.astype(np.float64) for i in free_p],
                        [truth[g].joints.astype(np.float64) for g in free_g], max_mean_dist)
    return pairs + [(free_p[p], free_g[g]) for p, g in rest]


def count_switches(frames: Iterable[tuple]) -> dict:
    """Identity switches over consecutive frames of (published poses, ground-truth people[,
    measured[, detected]]), the published ones carrying the tracker's ids (-1: not published), the
    ground truth its person ids (module docstring); ``measured`` (one bool per ground-truth person,
    optional) says whether the depth image measures them (``core.metrics.depth_supported_joints``),
    ``detected`` (optional) whether the person detector found them (:func:`detected_people`).

    Besides the counts: ``switch_gaps`` lists, for every switch, the frames since that person's
    previous match (1: matched in the frame before; larger: re-found after a miss), and
    ``by_distance`` the ground-truth and matched person-frames per root-depth bin
    (``DISTANCE_BINS_M``), which says where people are lost, and ``measured_person_frames`` /
    ``matched_measured_person_frames`` those the depth image measures. With ``detected``, the
    measured person-frames that were not matched are split by cause: ``missed_undetected`` (the
    detector did not find the person) and ``missed_detected`` (found, but no published skeleton
    within 0.5 m: a pose too far off, a score under the threshold, a tentative track)."""
    last: dict[int, tuple[int, int]] = {}  # person -> (track id, frame index of the match)
    kept: dict[int, int] = {}  # person -> track id matched in the previous frame
    owner: dict[int, int] = {}  # track id -> the person it was first matched to
    gt_frames = matched = switches = swaps = close = 0
    gaps: list[int] = []
    nbins = len(DISTANCE_BINS_M) - 1
    gt_bin, matched_bin = [0] * nbins, [0] * nbins
    n_measured = matched_measured = undetected = detected_unmatched = 0
    for k, (poses, truth, *rest) in enumerate(frames):
        measured = rest[0] if rest else [True] * len(truth)
        detected = rest[1] if len(rest) > 1 else None
        n_measured += int(sum(measured))
        shown = [p for p in poses if p.track_id >= 0]
        gt = [g.joints.astype(np.float64) for g in truth]
        roots = np.array([g[ITOP15.root] for g in gt]) if gt else np.zeros((0, 3))
        bins = np.clip(np.searchsorted(DISTANCE_BINS_M, roots[:, 2], side="right") - 1, 0, nbins - 1)
        for i in range(len(gt)):
            d = np.linalg.norm(roots - roots[i], axis=1)
            close += int(np.any((d > 0) & (d < 1.0)))
            gt_bin[bins[i]] += 1
        gt_frames += len(gt)
        pairs = clear_mot_pairs(shown, truth, kept)
        if detected is not None:
            paired = {g for _, g in pairs}
            for g in range(len(truth)):
                if measured[g] and g not in paired:
                    undetected += int(not detected[g])
                    detected_unmatched += int(bool(detected[g]))
        for p, g in pairs:
            person, track = truth[g].track_id, shown[p].track_id
            matched += 1
            matched_bin[bins[g]] += 1
            matched_measured += int(measured[g])
            if person in last and last[person][0] != track:
                switches += 1
                swaps += int(owner.get(track, person) != person)
                gaps.append(k - last[person][1])
            owner.setdefault(track, person)
            last[person] = (track, k)
        kept = {person: track for person, (track, at) in last.items() if at == k}
    by_distance = [{"from_m": DISTANCE_BINS_M[b], "to_m": DISTANCE_BINS_M[b + 1], "gt_person_frames": gt_bin[b],
                    "matched_person_frames": matched_bin[b]} for b in range(nbins)]
    return {"gt_person_frames": gt_frames, "matched_person_frames": matched, "id_switches": switches,
            "swaps": swaps, "close_person_frames": close, "measured_person_frames": n_measured,
            "matched_measured_person_frames": matched_measured, "missed_undetected": undetected,
            "missed_detected": detected_unmatched, "switch_gaps": gaps, "by_distance": by_distance}


def detected_people(centres: list[np.ndarray], truth: list, radius_m: float = 0.4, depth_m: float = 0.6
                    ) -> list[bool]:
    """Whether each ground-truth person (``PersonPose``, metres, optical frame) has a person
    detection: a crop centre (3,) metres within ``radius_m`` of their torso across the view (x, y)
    and ``depth_m`` along it (a centre lies on the body's front surface). Not the rule of
    ``detection.evaluate`` (a box holding the torso's projection), which needs the boxes."""
    torso = ITOP15.index("torso")
    out = []
    for g in truth:
        t = g.joints[torso].astype(np.float64)
        out.append(any(np.linalg.norm(c[:2] - t[:2]) <= radius_m and abs(c[2] - t[2]) <= depth_m for c in centres))
    return out


def recording_switches(rec: Path, estimator, tracker) -> dict:
    """:func:`count_switches` of one recording through ``estimator`` and ``tracker``."""
    from unipose_ros.core.metrics import measured_by_depth
    from unipose_training.evaluation.evaluate import iter_recording_pairs

    def detected(truth) -> list[bool] | None:  # the people the estimate of this frame found
        centres = getattr(estimator, "last_centres", None)
        return None if centres is None else detected_people(centres, truth)

    frames = ((tracker.update(estimator.estimate(frame), stamp_s=frame.stamp_ns * 1e-9, frame=frame), truth,
               [measured_by_depth(g.joints, frame.depth, frame.camera) for g in truth], detected(truth))
              for frame, truth in iter_recording_pairs([rec], ITOP15))
    return {"recording": str(rec)} | count_switches(frames)


def evaluate(recordings: list[Path], estimator_spec: str, changes: dict | None = None) -> dict:
    """Totals over ``recordings`` and one row per recording, with the node's default parameters
    and ``changes`` (parameter name -> value, validated as ``ros2 param set`` would be)."""
    from unipose_ros.ros.params import PoseNodeParams, make_tracker, validate_changes
    from unipose_training.evaluation.breakdown import build

    p = validate_changes(PoseNodeParams(), changes or {})
    est = build(estimator_spec)
    try:
        rows = [recording_switches(r, est, make_tracker(p)) for r in recordings]
    finally:
        est.close()
    total = {k: sum(r[k] for r in rows) for k in ("gt_person_frames", "matched_person_frames", "id_switches",
                                                   "swaps", "close_person_frames", "measured_person_frames",
                                                   "matched_measured_person_frames", "missed_undetected",
                                                   "missed_detected")}
    total["switches_per_100"] = 100.0 * total["id_switches"] / max(total["matched_person_frames"], 1)
    total["switch_gaps"] = sorted(g for r in rows for g in r["switch_gaps"])
    total["by_distance"] = [dict(b, gt_person_frames=sum(r["by_distance"][i]["gt_person_frames"] for r in rows),
                                 matched_person_frames=sum(r["by_distance"][i]["matched_person_frames"] for r in rows))
                            for i, b in enumerate(rows[0]["by_distance"])] if rows else []
    return {"estimator": estimator_spec, "tracker": {k: v for k, v in asdict(p).items() if k.startswith("tracker_")},
            "total": total, "recordings": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-set", type=Path, help="generate the crossing set into this folder")
    ap.add_argument("--recordings", type=int, default=4)
    ap.add_argument("--seed0", type=int, default=52000, help="seed of the first recording of --make-set")
    ap.add_argument("--data", type=Path, nargs="*", default=[], help="folders of recordings to evaluate")
    ap.add_argument("--estimator", default="depth", help="estimator spec (as in evaluation.breakdown)")
    ap.add_argument("--out", type=Path, help="write tracking.json here")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a pose node parameter other than its default (repeatable), e.g. tracker_gate_m=0.6")
    args = ap.parse_args(argv)
    changes = {}
    if args.param:
        import yaml

        from unipose_ros.ros.params import PoseNodeParams
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or name not in {f.name for f in fields(PoseNodeParams)}:
            ap.error(f"--param {item!r}: expected NAME=VALUE with NAME a pose node parameter")
        changes[name] = yaml.safe_load(value)
    if args.make_set:
        for path in make_set(args.make_set, args.recordings, seed0=args.seed0):
            print(path)
    if args.data:
        from unipose_training.evaluation.evaluate import find_recordings

        result = evaluate([r for d in args.data for r in find_recordings(d)], args.estimator, changes)
        t = result["total"]
        print(f"{args.estimator}: {t['id_switches']} id switches in {t['matched_person_frames']} matched person-frames "
              f"({t['switches_per_100']:.2f} per 100, {t['swaps']} of them swaps between people; "
              f"{t['gt_person_frames']} ground-truth person-frames, "
              f"{t['close_person_frames']} with another person within 1 m)")
        print(f"  {t['matched_measured_person_frames']} of the {t['measured_person_frames']} person-frames the depth "
              f"image measures were matched ({t['gt_person_frames'] - t['measured_person_frames']} beyond its range); "
              f"of the others, {t['missed_undetected']} were not found by the person detector and "
              f"{t['missed_detected']} were found but got no skeleton within 0.5 m")
        gaps = t["switch_gaps"]
        print(f"frames since the person's previous match, per switch: {gaps} "
              f"({sum(g > 1 for g in gaps)} of {len(gaps)} after a miss)")
        for b in t["by_distance"]:
            n, m = b["gt_person_frames"], b["matched_person_frames"]
            span = f"{b['from_m']:.0f}-{b['to_m']:.0f} m" if b["to_m"] < 100 else f"beyond {b['from_m']:.0f} m"
            print(f"  people {span}: {m} of {n} person-frames matched"
                  + (f" ({m / n:.2f})" if n else ""))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "tracking.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
