"""The evaluation report of the weakly supervised pipeline: several methods side by side.

:func:`evaluate_methods` runs every method (an object with ``estimate(frame) -> list[PersonPose]``)
on the same frames with :func:`unipose_training.evaluation.evaluate.evaluate_estimators` and writes into
``out_dir`` (``RUN/eval/`` in the pipeline):

* ``report.json``: ``{<method>: {"mpjpe_mm", "root_rel_mpjpe_mm", "map_10cm", "pck": {"5cm",
  "10cm", "15cm"}, "frames", ...more metrics}, ..., "config": {...}, "data": {...}}``; the
  usual methods are ``baseline``, ``weak_pointcloud``, ``weak_depth``, ``weak_rgb`` and
  ``full_depth`` (any names work except ``config`` and ``data``);
* ``report.md``: the accuracy table and a weak-versus-full table (mAP ratio of each ``weak_X``
  to ``full_X``, else to the full reference; MPJPE change against the baseline);
* ``per_joint_error.png``: per-joint MPJPE, one bar per method, grouped by joint;
* ``error_over_time_<recording>.png``: per-frame MPJPE of each method along each recording, and
  the numbers in ``per_frame_errors.csv``;
* ``overlay_<k>.png``: a few evenly spread frames, one panel per method: the colour image (depth
  when there is none), the method's skeletons projected, the ground truth in green.

Distances are metres in, millimetres out (``_mm``), in the camera optical frame.
"""
from __future__ import annotations

import csv
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence, Union

import numpy as np

from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import ITOP15, JointSet
from unipose_ros.core.metrics import match_people
from unipose_ros.core.pose import PersonPose

#: The methods the pipeline compares, in report order.
METHODS: tuple[str, ...] = ("baseline", "weak_pointcloud", "weak_depth", "weak_rgb", "full_depth")
#: Keys every method entry of report.json has.
METHOD_KEYS: tuple[str, ...] = ("mpjpe_mm", "root_rel_mpjpe_mm", "map_10cm", "pck", "frames")
#: Keys of a method's ``pck``.
PCK_KEYS: tuple[str, ...] = ("5cm", "10cm", "15cm")
#: Top-level keys of report.json besides the methods.
RESERVED_KEYS: tuple[str, ...] = ("config", "data")

GT_COLOUR_BGR = (0, 200, 0)
_METHOD_COLOURS_BGR = [(0, 140, 255), (255, 120, 0), (200, 60, 220), (0, 220, 255), (255, 0, 120),
                       (60, 60, 255), (255, 200, 0)]

#: One evaluation source: a rosbag2 recording with ground truth, or (name, (frame, truth) pairs),
#: e.g. ``("itop_side_test", iter_itop(...))``.
Source = Union[str, Path, tuple[str, Iterable[tuple[RGBDFrame, list[PersonPose]]]]]


def method_entry(result: dict) -> dict:
    """One method's report entry from an :func:`evaluate_estimators` result: the required keys
    (``METHOD_KEYS``, ``pck`` with ``PCK_KEYS``) first, then the other metrics (per-joint errors,
    misses, false positives, latency). ``recordings`` is dropped (it lives in ``data``)."""
    pck = result.get("pck") or {}
    entry = {
        "mpjpe_mm": result.get("mpjpe_mm"),
        "root_rel_mpjpe_mm": result.get("root_rel_mpjpe_mm", result.get("root_relative_mpjpe_mm")),
        "map_10cm": result.get("map_10cm"),
        "pck": {k: pck.get(k, result.get(f"map_{k}")) for k in PCK_KEYS},
        "frames": int(result.get("frames", 0)),
    }
    for k, v in result.items():
        if k not in entry and k not in ("recordings", "root_relative_mpjpe_mm"):
            entry[k] = v
    return entry


def build_report(results: dict[str, dict], config: dict, data_info: dict) -> dict:
    """The report.json content: each method's :func:`method_entry`, then ``config`` and ``data``.

    Raises:
        InputError: a method called ``config`` or ``data``.
    """
    clash = [m for m in results if m in RESERVED_KEYS]
    if clash:
        raise InputError(f"method name(s) {clash} clash with report keys {RESERVED_KEYS}: rename the method")
    report: dict = {m: method_entry(r) for m, r in results.items()}
    report["config"] = dict(config)
    report["data"] = dict(data_info)
    return report


def report_methods(report: dict) -> dict[str, dict]:
    """The method entries of a report (everything but ``config`` and ``data``), in order."""
    return {k: v for k, v in report.items() if k not in RESERVED_KEYS}


def full_reference_of(method: str, methods: Iterable[str], full_reference: str = "full_depth") -> str | None:
    """The fully supervised method a weak method is compared with: ``full_X`` for ``weak_X``
    when present, else ``full_reference`` when present; None for a method not named ``weak_*``."""
    if not method.startswith("weak_"):
        return None
    methods = set(methods)
    same = "full_" + method[len("weak_"):]
    if same in methods:
        return same
    return full_reference if full_reference in methods else None


def ratio_rows(report: dict, baseline: str = "baseline", full_reference: str = "full_depth") -> list[dict]:
    """Side-by-side numbers per method.

    Returns:
        one dict per method: ``method``, ``map_10cm``, ``mpjpe_mm``, ``full`` (the reference of a
        weak method, see :func:`full_reference_of`, else None), ``map_ratio_to_full`` (weak
        mAP@10cm / full mAP@10cm), ``mpjpe_change_vs_baseline_pct`` (100 (m - b) / b; None for the
        baseline itself or when a number is missing).
    """
    methods = report_methods(report)
    base = methods.get(baseline, {}).get("mpjpe_mm")
    rows = []
    for name, e in methods.items():
        full = full_reference_of(name, methods, full_reference)
        ratio = None
        if full is not None:
            wm, fm = e.get("map_10cm"), methods[full].get("map_10cm")
            ratio = None if (wm is None or not fm) else wm / fm
        m = e.get("mpjpe_mm")
        change = None if (name == baseline or base in (None, 0) or m is None) else 100.0 * (m - base) / base
        rows.append({"method": name, "map_10cm": e.get("map_10cm"), "mpjpe_mm": m, "full": full,
                     "map_ratio_to_full": ratio, "mpjpe_change_vs_baseline_pct": change})
    return rows


def _fmt(v: float | None, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def format_markdown(report: dict, baseline: str = "baseline", full_reference: str = "full_depth") -> str:
    """report.md: data summary, the accuracy table (:func:`evaluate.format_table`) and the
    weak-versus-full table of :func:`ratio_rows`."""
    from unipose_training.evaluation.evaluate import format_table

    methods = report_methods(report)
    data = report.get("data", {})
    lines = ["# Evaluation", ""]
    if data:
        lines += [f"- {k}: {v if not isinstance(v, (list, dict)) else json.dumps(v)}" for k, v in data.items()]
        lines.append("")
    table_input = {m: {**e, "root_relative_mpjpe_mm": e.get("root_rel_mpjpe_mm")} for m, e in methods.items()}
    lines += ["## Accuracy", "", format_table(table_input, reference=baseline if baseline in methods else None), ""]
    lines += ["## Weak versus full supervision", "",
              f"mAP@10cm of each weak method divided by that of its fully supervised counterpart "
              f"(full_X for weak_X, else {full_reference}); MPJPE change relative to {baseline}.", "",
              "| method | mAP@10cm | full reference | weak / full mAP | MPJPE (mm) | MPJPE vs " + baseline + " |",
              "|---|---|---|---|---|---|"]
    for r in ratio_rows(report, baseline, full_reference):
        change = r["mpjpe_change_vs_baseline_pct"]
        lines.append(f"| {r['method']} | {_fmt(r['map_10cm'], '{:.3f}')} | {r['full'] or '-'} | "
                     f"{_fmt(r['map_ratio_to_full'], '{:.3f}')} | {_fmt(r['mpjpe_mm'], '{:.1f}')} | "
                     f"{'-' if change is None else f'{change:+.1f} %'} |")
    return "\n".join(lines) + "\n"


def frame_mpjpe_mm(predicted: list[PersonPose], truth: list[PersonPose]) -> float:
    """Mean joint error (mm) of one frame over the matched people's finite joints (the matching
    of :class:`PoseEvaluator`); NaN when nobody is matched."""
    pred = [p.joints for p in predicted]
    gt = [g.joints for g in truth]
    errs = [np.linalg.norm(pred[p].astype(np.float64) - gt[g], axis=-1) for p, g in match_people(pred, gt)]
    if not errs:
        return float("nan")
    e = np.concatenate(errs)
    e = e[np.isfinite(e)]
    return float(e.mean() * 1000) if e.size else float("nan")


@dataclass
class _Kept:
    index: int
    recording: str
    frame: RGBDFrame
    truth: list[PersonPose]
    poses: dict[str, list[PersonPose]] = field(default_factory=dict)


@dataclass
class FrameLog:
    """Collects per-frame errors and a few evenly spread frames through the ``on_frame`` hook.

    Memory stays bounded: at most ``2 * overlay_frames + 1`` frames are held; when more would be,
    every other one is dropped and the spacing doubles.

    Attributes:
        methods: method names in evaluation order (the first one marks a new frame).
        overlay_frames: how many frames to keep for pictures.
        rows: (recording, stamp_ns, method, mpjpe_mm) per evaluated frame and method.
        recording: name of the source being evaluated (set by the caller as sources change).
    """

    methods: tuple[str, ...]
    overlay_frames: int = 4
    rows: list[tuple[str, int, str, float]] = field(default_factory=list)
    recording: str = ""
    _index: int = field(default=-1, init=False, repr=False)
    _stride: int = field(default=1, init=False, repr=False)
    _kept: list[_Kept] = field(default_factory=list, init=False, repr=False)
    _current: _Kept | None = field(default=None, init=False, repr=False)

    def on_frame(self, name: str, frame: RGBDFrame, predicted: list[PersonPose], truth: list[PersonPose]) -> None:
        """The ``on_frame(name, frame, predicted, truth)`` hook of ``evaluate_estimators``."""
        if name == self.methods[0]:
            self._index += 1
            self._current = None
            if self.overlay_frames > 0 and self._index % self._stride == 0:
                self._current = _Kept(self._index, self.recording, frame, list(truth))
                self._kept.append(self._current)
                if len(self._kept) > 2 * self.overlay_frames:
                    self._stride *= 2
                    self._kept = [k for k in self._kept if k.index % self._stride == 0]
        if self._current is not None:
            self._current.poses[name] = list(predicted)
        self.rows.append((self.recording, int(frame.stamp_ns), name, frame_mpjpe_mm(predicted, truth)))

    def picks(self) -> list[_Kept]:
        """Up to ``overlay_frames`` kept frames, evenly spread over the evaluated ones."""
        if not self._kept or self.overlay_frames <= 0:
            return []
        idx = np.unique(np.linspace(0, len(self._kept) - 1, min(self.overlay_frames, len(self._kept))).round().astype(int))
        return [self._kept[i] for i in idx]

    def series(self) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """recording -> method -> (seconds since the recording's first frame, MPJPE mm per frame)."""
        out: dict[str, dict[str, tuple[list, list]]] = {}
        first: dict[str, int] = {}
        for rec, stamp, _, _ in self.rows:
            first[rec] = min(first.get(rec, stamp), stamp)
        for rec, stamp, name, err in self.rows:
            t, e = out.setdefault(rec, {}).setdefault(name, ([], []))
            t.append((stamp - first[rec]) * 1e-9)
            e.append(err)
        return {r: {m: (np.asarray(t), np.asarray(e)) for m, (t, e) in d.items()} for r, d in out.items()}


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "recording"


def write_per_frame_csv(log: FrameLog, path: Path) -> None:
    """``recording, stamp_ns, method, mpjpe_mm`` rows (empty MPJPE = nobody matched)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["recording", "stamp_ns", "method", "mpjpe_mm"])
        for rec, stamp, name, err in log.rows:
            w.writerow([rec, stamp, name, "" if not np.isfinite(err) else f"{err:.2f}"])


def plot_error_over_time(log: FrameLog, out_dir: Path) -> list[Path]:
    """One PNG per recording, ``error_over_time_<recording>.png``: per-frame MPJPE (mm) against
    time (s), one line per method (gaps where nobody was matched)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for rec, per_method in log.series().items():
        fig, ax = plt.subplots(figsize=(10, 3.5))
        for name in log.methods:
            if name in per_method:
                t, e = per_method[name]
                order = np.argsort(t, kind="stable")
                ax.plot(t[order], e[order], marker=".", ms=3, lw=1, label=name)
        ax.set_xlabel("time since the first frame (s)")
        ax.set_ylabel("MPJPE (mm)")
        ax.set_title(f"Per-frame error: {rec}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out_dir / f"error_over_time_{_safe_name(rec)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _method_colour(i: int) -> tuple[int, int, int]:
    return _METHOD_COLOURS_BGR[i % len(_METHOD_COLOURS_BGR)]


def render_method_panels(kept: _Kept, methods: Sequence[str], panel_width: tuple[int, int] = (320, 480)
                         ) -> np.ndarray:
    """(H, W * len(methods), 3) uint8 BGR: one panel per method, the image (colour, else depth) with
    that method's skeletons and the ground truth (green) projected, the method name and the
    frame's MPJPE written on it. Panels are resized to a width within ``panel_width`` (pixels)."""
    import cv2

    from unipose_ros.cli.overlay import contact_sheet, draw_pose, render_frame

    background = render_frame(kept.frame, [], [])
    w = background.shape[1]
    scale = min(panel_width[1] / w, max(1.0, panel_width[0] / w))
    camera = kept.frame.camera
    if scale != 1.0:
        camera = camera.scaled(scale)
        background = cv2.resize(background, (camera.width, camera.height),
                                interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    panels = []
    for i, name in enumerate(methods):
        img = background.copy()
        for g in kept.truth:
            draw_pose(img, camera, g, GT_COLOUR_BGR, thickness=1)
        for p in kept.poses.get(name, []):
            draw_pose(img, camera, p, _method_colour(i), thickness=2, min_confidence=0.3)
        err = frame_mpjpe_mm(kept.poses.get(name, []), kept.truth)
        label = f"{name}  {err:.0f} mm" if np.isfinite(err) else f"{name}  no match"
        cv2.putText(img, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _method_colour(i), 1, cv2.LINE_AA)
        panels.append(img)
    return contact_sheet(panels, columns=len(panels))


def write_overlays(log: FrameLog, out_dir: Path) -> list[Path]:
    """``overlay_<k>.png`` for each frame of :meth:`FrameLog.picks` (see :func:`render_method_panels`)."""
    import cv2

    written = []
    for k, kept in enumerate(log.picks()):
        path = out_dir / f"overlay_{k:02d}.png"
        cv2.imwrite(str(path), render_method_panels(kept, log.methods))
        written.append(path)
    return written


def write_report_files(report: dict, out_dir: str | Path, log: FrameLog | None = None,
                       joint_set: JointSet = ITOP15, baseline: str = "baseline",
                       full_reference: str = "full_depth") -> list[Path]:
    """Write report.json, report.md, per_joint_error.png and, given a :class:`FrameLog`, the
    per-frame CSV, the error-over-time plots and the overlays into ``out_dir``. Returns the paths."""
    from unipose_training.evaluation.evaluate import per_joint_bars

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(format_markdown(report, baseline, full_reference))
    written = [out / "report.json", out / "report.md", out / "per_joint_error.png"]
    per_joint_bars(report_methods(report), out / "per_joint_error.png", joint_set.joints,
                   title="Per-joint error (mean over matched people)")
    if log is not None:
        write_per_frame_csv(log, out / "per_frame_errors.csv")
        written.append(out / "per_frame_errors.csv")
        written += plot_error_over_time(log, out)
        written += write_overlays(log, out)
    return written


def _source_pairs(sources: Sequence[Source], joint_set: JointSet, frame_stride: int, log: FrameLog
                  ) -> Iterator[tuple[RGBDFrame, list[PersonPose]]]:
    from unipose_training.evaluation.evaluate import iter_recording_pairs

    for src in sources:
        if isinstance(src, tuple):
            name, pairs = src
            it = itertools.islice(pairs, 0, None, frame_stride)
        else:
            name = Path(src).name
            it = iter_recording_pairs([Path(src)], joint_set, frame_stride)
        log.recording = str(name)
        yield from it


def evaluate_methods(recordings: Sequence[Source], estimators: dict[str, object], out_dir: str | Path,
                     config: dict, data_info: dict, frame_stride: int = 1, overlay_frames: int = 4,
                     progress: bool = True, joint_set: JointSet = ITOP15, baseline: str = "baseline",
                     full_reference: str = "full_depth") -> dict:
    """Evaluate every method on the same frames and write the report folder (see the module doc).

    Args:
        recordings: rosbag2 recordings with ground truth, and/or ``(name, pairs)`` sources of
            (RGBDFrame, ground-truth people) such as :func:`datasets_public.iter_itop`.
        estimators: method name -> object with ``estimate(frame) -> list[PersonPose]`` in
            ``joint_set`` (left open: the caller closes them).
        out_dir: report folder (created).
        config: how the methods were made (checkpoints, training settings), stored as ``config``.
        data_info: what the data is (split, origin), stored as ``data`` with the sources and frame
            count added.
        frame_stride: evaluate every n-th frame of each source.
        overlay_frames: how many frames get an overlay picture (0: none).
        progress: tqdm bar.
        baseline: the method MPJPE changes are relative to.
        full_reference: the fully supervised method a ``weak_X`` is compared with when there is no
            ``full_X``.
    Returns:
        the report (what report.json holds).
    Raises:
        InputError: no method, no source, or a method named ``config``/``data``.
    """
    from unipose_training.evaluation.evaluate import evaluate_estimators

    if not estimators:
        raise InputError("evaluate_methods needs at least one method (estimators is empty)")
    sources = list(recordings)
    if not sources:
        raise InputError("evaluate_methods needs at least one recording or (name, pairs) source")
    clash = [m for m in estimators if m in RESERVED_KEYS]
    if clash:
        raise InputError(f"method name(s) {clash} clash with report keys {RESERVED_KEYS}: rename the method")
    log = FrameLog(methods=tuple(estimators), overlay_frames=overlay_frames)
    paths = [s for s in sources if not isinstance(s, tuple)]
    results = evaluate_estimators(paths, estimators, joint_set=joint_set, frame_stride=1, progress=progress,
                                  on_frame=log.on_frame, pairs=_source_pairs(sources, joint_set, frame_stride, log))
    names = [str(s[0]) if isinstance(s, tuple) else str(s) for s in sources]
    frames = max((r.get("frames", 0) for r in results.values()), default=0)
    data = {**data_info, "sources": names, "frames": frames}
    cfg = {**config, "methods": list(estimators), "frame_stride": frame_stride, "joint_set": joint_set.name,
           "baseline": baseline, "full_reference": full_reference}
    report = build_report(results, cfg, data)
    write_report_files(report, out_dir, log, joint_set, baseline, full_reference)
    return report
