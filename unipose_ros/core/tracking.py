"""Stable track ids for 3D skeletons across frames.

Each frame's poses are matched to live tracks by the 3D distance between the pose's root and the
track's predicted root (last root plus a damped constant-velocity step), with a gate; the optimal
one-to-one assignment (Hungarian, scipy) is used. Unmatched poses start new tracks; tracks missed
for more than ``max_missed`` consecutive frames expire. Ids are small integers counted up from 0
and never reused while the tracker lives (so a live id is never given to someone else, and a
person who left and came back after expiry gets a new id).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from unipose_ros.core.pose import PersonPose


@dataclass
class Track:
    """One live track. ``root``: last matched root (metres, optical frame); ``velocity``: metres
    per frame; ``missed``: consecutive frames without a match."""

    track_id: int
    root: np.ndarray
    velocity: np.ndarray
    missed: int = 0
    hits: int = 1


def pose_anchor(pose: PersonPose) -> np.ndarray:
    """(3,) point used for matching: the root joint, or the confidence-weighted mean of the finite
    joints when the root is not finite. NaN when the pose has no finite joint."""
    root = pose.joints[pose.joint_set.root]
    if np.isfinite(root).all():
        return root.astype(np.float64)
    ok = np.isfinite(pose.joints).all(axis=1)
    if not ok.any():
        return np.full(3, np.nan)
    w = np.clip(pose.confidence[ok].astype(np.float64), 1e-3, None)
    return (pose.joints[ok] * w[:, None]).sum(axis=0) / w.sum()


class SkeletonTracker:
    """Assigns stable ``track_id`` values to the poses of consecutive frames.

    Args:
        gate_m: a pose farther than this (metres) from a track's predicted root cannot take it.
        max_missed: a track not matched for more than this many consecutive frames expires.
        velocity_smoothing: weight of the newest displacement in the velocity estimate (0 turns
            prediction off, 1 uses the last displacement only).
    """

    def __init__(self, gate_m: float = 0.5, max_missed: int = 10, velocity_smoothing: float = 0.5) -> None:
        if gate_m <= 0 or max_missed < 0 or not 0.0 <= velocity_smoothing <= 1.0:
            raise ValueError("gate_m must be > 0, max_missed >= 0, velocity_smoothing in [0, 1]")
        self.gate_m = float(gate_m)
        self.max_missed = int(max_missed)
        self.velocity_smoothing = float(velocity_smoothing)
        self._tracks: list[Track] = []
        self._next_id = 0

    @property
    def tracks(self) -> list[Track]:
        """The live tracks (including ones missed in the last ``max_missed`` frames)."""
        return list(self._tracks)

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so old ids are still not reused)."""
        self._tracks = []

    def update(self, poses: list[PersonPose]) -> list[PersonPose]:
        """Match one frame's poses to tracks.

        Args:
            poses: the frame's poses (any ``track_id``; not modified).
        Returns:
            copies of ``poses``, same order, with ``track_id`` set. Poses with no finite joint get
            ``track_id`` -1 and do not touch the tracks.
        """
        anchors = np.array([pose_anchor(p) for p in poses]).reshape(-1, 3)
        valid = np.isfinite(anchors).all(axis=1)
        predicted = np.array([t.root + (t.missed + 1) * t.velocity for t in self._tracks]).reshape(-1, 3)
        ids = np.full(len(poses), -1, dtype=int)
        det_idx = np.flatnonzero(valid)
        matched_tracks: set[int] = set()
        if len(det_idx) and len(self._tracks):
            cost = np.linalg.norm(anchors[det_idx, None, :] - predicted[None, :, :], axis=-1)
            big = 1e6
            rows, cols = linear_sum_assignment(np.where(cost <= self.gate_m, cost, big))
            for r, c in zip(rows, cols):
                if cost[r, c] > self.gate_m:
                    continue
                track = self._tracks[c]
                new_root = anchors[det_idx[r]]
                step = (new_root - track.root) / (track.missed + 1)
                a = self.velocity_smoothing
                track.velocity = (1 - a) * track.velocity + a * step if track.hits > 1 else a * step
                track.root = new_root
                track.missed = 0
                track.hits += 1
                ids[det_idx[r]] = track.track_id
                matched_tracks.add(c)
        survivors: list[Track] = []
        for c, track in enumerate(self._tracks):
            if c not in matched_tracks:
                track.missed += 1  # coasts: predicted at root + (missed + 1) * velocity
                if track.missed > self.max_missed:
                    continue
            survivors.append(track)
        self._tracks = survivors
        for i in det_idx:
            if ids[i] < 0:
                track = Track(track_id=self._next_id, root=anchors[i].copy(), velocity=np.zeros(3))
                self._next_id += 1
                self._tracks.append(track)
                ids[i] = track.track_id
        return [replace(p, track_id=int(ids[i])) for i, p in enumerate(poses)]
