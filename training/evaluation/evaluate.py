"""Side-by-side accuracy of estimators on recordings with exact 3D ground truth.

Every estimator sees the same frames (the full ``estimate(frame)`` path: person finding, crops,
network, uncrop), and is scored against the recording's ground-truth skeletons with
:class:`unipose_ros.core.metrics.PoseEvaluator`: MPJPE (mm, camera frame), root-relative MPJPE,
mAP@10cm (ITOP), PCK at several thresholds, misses, false positives, per-joint tables, and the
per-frame latency of the estimator on this machine.

Example::

    python -m unipose_training.evaluation.evaluate --data data/synthetic/test \
        --estimators baseline depth rgb pointcloud fused --out reports/a2j_synthetic
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import ITOP15, JointSet
from unipose_ros.core.metrics import PoseEvaluator, percentiles
from unipose_ros.core.pose import PersonPose

#: PCK thresholds (metres); mAP@10cm is PCK at 0.1 m averaged over joints.
PCK_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.15)


def find_recordings(path: Path) -> list[Path]:
    """Recording folders under ``path`` (``path`` itself when it is one): those holding a
    ``metadata.yaml`` (rosbag2)."""
    path = Path(path)
    if (path / "metadata.yaml").exists():
        return [path]
    found = sorted(p.parent for p in path.rglob("metadata.yaml"))
    if not found:
        raise FileNotFoundError(f"no rosbag2 recording (folder with metadata.yaml) under {path}")
    return found


def iter_recording_pairs(recordings: Iterable[Path], joint_set: JointSet = ITOP15, frame_stride: int = 1
                         ) -> Iterator[tuple[RGBDFrame, list[PersonPose]]]:
    """(frame, ground-truth people) of every ``frame_stride``-th frame of each recording, in order.

    Args:
        recordings: rosbag2 recordings with ``/ground_truth/skeletons/<joint set>`` topics.
        joint_set: the ground-truth topic of this joint set is read.
        frame_stride: keep every n-th frame of each recording (counted per recording).
    Raises:
        ValueError: a recording whose ground-truth topic holds no message.
    """
    from unipose_ros.io.bag import RecordingReader

    for rec in recordings:
        with RecordingReader(rec) as reader:
            truth_by_stamp = reader.ground_truth(joint_set.name)
            if not truth_by_stamp:
                raise ValueError(f"{rec}: no ground truth on /ground_truth/skeletons/{joint_set.name}")
            for i, frame in enumerate(reader.frames(points=False)):
                if i % frame_stride:
                    continue
                yield frame, truth_by_stamp.get(frame.stamp_ns, [])


def evaluate_estimators(recordings: Iterable[Path], estimators: dict[str, object], joint_set: JointSet = ITOP15,
                        frame_stride: int = 1, progress: bool = True,
                        on_frame: Callable[[str, object, list[PersonPose], list[PersonPose]], None] | None = None,
                        pairs: Iterable[tuple[RGBDFrame, list[PersonPose]]] | None = None
                        ) -> dict[str, dict]:
    """Run every estimator on every ``frame_stride``-th frame of ``recordings`` and score it.

    Args:
        recordings: rosbag2 recordings with ``/ground_truth/skeletons/<joint set>`` topics. When
            ``pairs`` is given they are not read, only listed in the results.
        estimators: name -> object with ``estimate(frame) -> list[PersonPose]`` in ``joint_set``.
        joint_set: the joint set compared (the ground-truth topic of that name is read).
        frame_stride: evaluate every n-th frame (of each recording, or of ``pairs``).
        progress: tqdm bar over frames.
        on_frame: called as ``on_frame(name, frame, predicted, truth)`` (pictures, dumps).
        pairs: another source of frames instead of recordings: (RGBDFrame, ground-truth people in
            ``joint_set``) pairs, e.g. from :mod:`unipose_training.datasets.public`.
    Returns:
        name -> metrics (see :meth:`PoseEvaluator.summary`) plus ``pck`` {threshold_cm: value},
        ``latency_ms`` and ``recordings``.
    """
    from tqdm import tqdm

    recordings = list(recordings)
    if pairs is None:
        source = iter_recording_pairs(recordings, joint_set, frame_stride)
    else:
        source = itertools.islice(pairs, 0, None, frame_stride)
    evaluators = {n: PoseEvaluator(joint_set.joints, thresholds_m=PCK_THRESHOLDS) for n in estimators}
    times: dict[str, list[float]] = {n: [] for n in estimators}
    bar = tqdm(total=None, unit="frame", desc="evaluate", disable=not progress)
    for frame, truth in source:
        for name, est in estimators.items():
            t0 = time.perf_counter()
            poses = est.estimate(frame)
            times[name].append((time.perf_counter() - t0) * 1e3)
            evaluators[name].add_frame([p.joints for p in poses], [g.joints for g in truth],
                                       root=joint_set.root)
            if on_frame is not None:
                on_frame(name, frame, poses, truth)
        bar.update(1)
    bar.close()
    out: dict[str, dict] = {}
    for name, ev in evaluators.items():
        s = ev.summary()
        s["pck"] = {f"{round(t * 100)}cm": s.get(f"map_{round(t * 100)}cm") for t in PCK_THRESHOLDS}
        s["latency_ms"] = percentiles(times[name])
        s["recordings"] = [str(r) for r in recordings]
        out[name] = s
    return out


def format_table(results: dict[str, dict], reference: str | None = "baseline") -> str:
    """A markdown table: one row per estimator (MPJPE, root-relative MPJPE, mAP@10cm, PCK@5/15cm,
    missed, false positives, latency) and, when ``reference`` is present, MPJPE change vs it."""
    head = ("| estimator | MPJPE (mm) | root-rel. MPJPE (mm) | mAP@10cm | PCK@5cm | PCK@15cm | missed | "
            "false pos. | latency p50 (ms) | MPJPE vs " + (reference or "-") + " |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    ref = results.get(reference or "", {}).get("mpjpe_mm")

    def f(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)

    for name, s in results.items():
        change = "-" if (ref is None or s.get("mpjpe_mm") is None or name == reference) else \
            f"{100 * (s['mpjpe_mm'] - ref) / ref:+.0f} %"
        pck = s.get("pck") or {}
        lines.append(f"| {name} | {f(s.get('mpjpe_mm'))} | {f(s.get('root_relative_mpjpe_mm'))} | "
                     f"{f(s.get('map_10cm'), '{:.3f}')} | {f(pck.get('5cm'), '{:.3f}')} | "
                     f"{f(pck.get('15cm'), '{:.3f}')} | {s.get('missed', '-')} | {s.get('false_positives', '-')} | "
                     f"{f((s.get('latency_ms') or {}).get('p50'))} | {change} |")
    return "\n".join(lines)


def save_result(out: Path | None, stem: str, result: dict, table: str) -> None:
    """Print ``table`` and, with ``out``, write ``out/<stem>.json`` (``result``) and ``out/<stem>.md``."""
    print(table)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
        (out / f"{stem}.md").write_text(table)


def write_report(results: dict[str, dict], out: Path, config: dict) -> None:
    """``out/report.json`` (results + the config and data they came from), ``out/report.md``
    (the table) and ``out/per_joint_error.png`` (per-joint MPJPE bars, one colour per estimator)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"results": results, "config": config}, indent=1))
    (out / "report.md").write_text(format_table(results) + "\n")
    per_joint_bars(results, out / "per_joint_error.png")


def per_joint_bars(results: dict[str, dict], path: Path, joint_names: tuple[str, ...] = ITOP15.joints,
                   title: str = "Per-joint error on the held-out test split") -> None:
    """Grouped bar chart of per-joint MPJPE (mm, ``per_joint_mpjpe_mm`` of each result), one colour
    per estimator, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(joint_names)
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / max(len(results), 1)
    for k, (est, s) in enumerate(results.items()):
        vals = [(s.get("per_joint_mpjpe_mm") or {}).get(n) or 0.0 for n in names]
        ax.bar(np.arange(len(names)) + k * width, vals, width, label=est)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("mean joint error (mm)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a recording or a folder of recordings")
    ap.add_argument("--estimators", nargs="+", default=["baseline", "depth", "rgb", "pointcloud", "fused"])
    ap.add_argument("--checkpoint", action="append", default=[], metavar="KIND=PATH",
                    help="use this checkpoint for a kind (depth, rgb, pointcloud) instead of the bundled one")
    ap.add_argument("--config", action="append", default=[], metavar="NAME=YAML",
                    help="settings of an estimator (e.g. depth=config/learned.yaml with flip_test: true)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frame-stride", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True, help="report folder")
    args = ap.parse_args(argv)
    from unipose_ros.estimators.registry import build_estimator

    overrides = dict(item.split("=", 1) for item in args.checkpoint)
    configs = dict(item.split("=", 1) for item in args.config)
    estimators = {}
    for name in args.estimators:
        if name == "fused":  # the members' checkpoints go into its FusedConfig
            from dataclasses import replace

            from unipose_ros.core.config import load_yaml
            from unipose_ros.estimators.fused import FusedConfig

            cfg = load_yaml(FusedConfig, configs["fused"]) if "fused" in configs else FusedConfig()
            cfg = replace(cfg, **{f"{kind}_checkpoint": path for kind, path in overrides.items()
                                  if kind in ("depth", "rgb", "pointcloud")})
            estimators[name] = build_estimator(name, device=args.device, config=cfg)
            continue
        kw = {"checkpoint": overrides[name]} if name in overrides else {}
        estimators[name] = build_estimator(name, device=args.device, config=configs.get(name), **kw)
    recordings = find_recordings(args.data)
    try:
        results = evaluate_estimators(recordings, estimators, frame_stride=args.frame_stride)
    finally:
        for est in estimators.values():
            est.close()
    write_report(results, args.out, {"data": str(args.data), "recordings": [str(r) for r in recordings],
                                     "estimators": args.estimators, "checkpoints": overrides,
                                     "configs": configs,
                                     "frame_stride": args.frame_stride, "device": args.device})
    print(format_table(results))
    print(f"report: {args.out / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
