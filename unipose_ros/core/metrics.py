"""Accuracy metrics against exact 3D ground truth: MPJPE, mAP@k, PCK, per-joint tables.

All distances in metres in, millimetres out where the name says ``_mm``. Predictions are matched to
ground-truth people per frame (Hungarian assignment on mean joint distance); a ground-truth person
with no prediction counts as missed (every joint outside any threshold) in mAP and is reported in
``missed``; MPJPE is over matched people only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


def mean_joint_distance(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean distance (m) between the finite joints of two (J, 3) skeletons; inf when none is finite."""
    d = np.linalg.norm(pred - gt, axis=-1)
    return float(np.nanmean(d)) if np.isfinite(d).any() else float("inf")


def match_people(pred: list[np.ndarray], gt: list[np.ndarray],
                 max_mean_dist: float = 0.5) -> list[tuple[int, int]]:
    """Match predicted to ground-truth skeletons of one frame.

    Args:
        pred: list of (J, 3) metres (NaN allowed for unknown joints).
        gt: list of (J, 3) metres.
        max_mean_dist: pairs further apart than this (mean joint distance, metres) stay unmatched.
    Returns:
        (pred_index, gt_index) pairs.
    """
    if not pred or not gt:
        return []
    cost = np.minimum(np.array([[mean_joint_distance(p, g) for g in gt] for p in pred]), 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= max_mean_dist]


#: a person is "measured by depth" when at least this many joints have depth support
#: (:func:`depth_supported_joints`); fewer: beyond the sensor's range, or hidden
MIN_DEPTH_SUPPORTED_JOINTS = 5


def depth_supported_joints(joints: np.ndarray, depth: np.ndarray, camera, window_px: int = 2,
                           tol_m: float = 0.3) -> int:
    """How many of a person's joints the depth image measures.

    Args:
        joints: (J, 3) metres, the depth camera's optical frame (ground truth).
        depth: (H, W) float32 metres, NaN invalid (``RGBDFrame.depth``).
        camera: the depth image's :class:`~unipose_ros.core.camera.PinholeCamera`.
        window_px: half size of the square window searched around each joint's projection.
        tol_m: a valid depth pixel within this distance of the joint's depth supports it.
    Returns:
        the number of joints inside the image with a supporting pixel: 0 for a person beyond the
        sensor's working range (the colour camera still sees them; a depth-only estimator cannot).
    """
    from unipose_ros.core.depth_lookup import sample_window

    j = np.asarray(joints, np.float64)
    j = j[np.isfinite(j).all(axis=1) & (j[:, 2] > 0)]
    uv = np.rint(camera.project(j)) if len(j) else np.zeros((0, 2))
    h, w = depth.shape
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    return sum(int(np.any(np.abs(sample_window(depth, u, v, window_px)[0] - z) < tol_m))
               for (u, v), z in zip(uv[inside], j[inside, 2]))


def measured_by_depth(joints: np.ndarray, depth: np.ndarray | None, camera) -> bool:
    """True when the depth image measures the person (at least ``MIN_DEPTH_SUPPORTED_JOINTS`` of
    their joints, :func:`depth_supported_joints`); True without a depth image (nothing to tell)."""
    return depth is None or depth_supported_joints(joints, depth, camera) >= MIN_DEPTH_SUPPORTED_JOINTS


def percentiles(values: list[float]) -> dict[str, float | None]:
    """{"p50", "p95", "mean"} of ``values`` (None each when empty), e.g. latencies in ms."""
    if not values:
        return {"p50": None, "p95": None, "mean": None}
    a = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)), "mean": float(a.mean())}


@dataclass
class PoseEvaluator:
    """Accumulates per-joint errors over frames; ``summary()`` gives the metrics.

    Args:
        joint_names: names of the J joints being compared.
        thresholds_m: distances for mAP/PCK (default 0.1 m: ITOP's mAP@10cm).
    """

    joint_names: tuple[str, ...]
    thresholds_m: tuple[float, ...] = (0.1,)
    errors: list[np.ndarray] = field(default_factory=list)  # each (J,) metres, inf = missed/NaN
    root_relative: list[np.ndarray] = field(default_factory=list)
    frames: int = 0
    gt_people: int = 0
    matched: int = 0
    false_positives: int = 0

    def add_frame(self, pred: list[np.ndarray], gt: list[np.ndarray], root: int | None = None) -> None:
        """Add one frame: ``pred`` and ``gt`` lists of (J, 3) metres; ``root`` joint index for the
        root-relative error."""
        self.frames += 1
        self.gt_people += len(gt)
        pairs = match_people(pred, gt)
        self.matched += len(pairs)
        self.false_positives += len(pred) - len(pairs)
        matched_gt = {g for _, g in pairs}
        for p, g in pairs:
            err = np.linalg.norm(pred[p].astype(np.float64) - gt[g], axis=-1)
            self.errors.append(np.where(np.isfinite(err), err, np.inf))
            if root is not None:
                rel = (pred[p] - pred[p][root]) - (gt[g] - gt[g][root])
                rel_err = np.linalg.norm(rel, axis=-1)
                self.root_relative.append(np.where(np.isfinite(rel_err), rel_err, np.inf))
        for g in range(len(gt)):
            if g not in matched_gt:
                self.errors.append(np.full(len(self.joint_names), np.inf))

    def summary(self) -> dict:
        """Metrics as a JSON-ready dict: mpjpe_mm (matched, finite joints), map_<k>cm (fraction of
        ground-truth joints within k, averaged over joints, misses included), per-joint tables."""
        out: dict = {"frames": self.frames, "gt_people": self.gt_people, "matched": self.matched,
                     "missed": self.gt_people - self.matched, "false_positives": self.false_positives}
        if not self.errors:
            out.update({"mpjpe_mm": None, **{f"map_{round(t * 100)}cm": None for t in self.thresholds_m}})
            return out
        e = np.stack(self.errors)  # (P, J)
        matched_rows = np.isfinite(e).any(axis=1)
        finite = e[matched_rows]
        fin_mask = np.isfinite(finite)
        out["mpjpe_mm"] = float(finite[fin_mask].mean() * 1000) if fin_mask.any() else None
        if self.root_relative:
            r = np.stack(self.root_relative)
            out["root_relative_mpjpe_mm"] = float(r[np.isfinite(r)].mean() * 1000) if np.isfinite(r).any() else None
        per_joint_mm = {}
        for j, name in enumerate(self.joint_names):
            col = finite[:, j][np.isfinite(finite[:, j])] if len(finite) else np.array([])
            per_joint_mm[name] = float(col.mean() * 1000) if col.size else None
        out["per_joint_mpjpe_mm"] = per_joint_mm
        for t in self.thresholds_m:
            within = (e <= t).mean(axis=0)  # per joint, misses count as outside
            key = f"map_{round(t * 100)}cm"
            out[key] = float(within.mean())
            out[f"per_joint_{key}"] = {n: float(w) for n, w in zip(self.joint_names, within)}
        return out
