"""Stable track ids for 3D skeletons across frames.

Each frame's poses are matched to live tracks by the 3D distance between the pose's root and the
track's predicted path: the segment from the track's last matched root to its predicted root (last
root plus a smoothed constant-velocity step, optionally held after a horizon). A person who stopped
or turned back while unseen is somewhere on that path, not only at its end, so the cost is the
distance to the nearest point of the segment. A gate (optionally widening with the time since the
track's last match) bounds that cost, and the optimal one-to-one assignment (Hungarian, scipy) is
used. Unmatched poses start new tracks; tracks missed
for more than ``max_missed`` consecutive frames (or, given frame times, unseen for more than
``max_age_s`` seconds) expire. Ids are small integers counted up from 0 and never reused while
the tracker lives (so a live id is never given to someone else, and a person who left and came
back after expiry gets a new id). A track is tentative until it has ``min_hits`` matches: its
poses carry ``track_id`` -1 until then (a one-frame false detection never gets an id). With
``smoothing`` the joints of each track go through a One Euro filter (:mod:`.one_euro`). Given a
colour image, each track keeps a colour signature (:mod:`.appearance`): ``appearance_weight``
metres per unit of colour distance are added to the matching cost, so two people whose paths meet
are told apart by their clothes, and the gate of a track in the same clothes (colour distance at
most ``reid_colour``) widens by ``reid_gate_m``, so someone found again a little off their path
keeps their id.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from unipose_ros.core.appearance import appearance_distance, bone_colours
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.one_euro import OneEuroFilter
from unipose_ros.core.pose import PersonPose


@dataclass
class Track:
    """One live track. ``root``: last matched root (metres, optical frame); ``velocity``: metres
    per frame (metres per second when frame times are given); ``missed``: consecutive frames
    without a match; ``last_seen_s``: time of the last match (s) when frame times are given."""

    track_id: int
    root: np.ndarray
    velocity: np.ndarray
    missed: int = 0
    hits: int = 1
    last_seen_s: float | None = None
    smoother: OneEuroFilter | None = None
    appearance: np.ndarray | None = None


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


def path_distance(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(N, M) distances from each of ``points`` (N, 3) to each path segment from ``starts[j]`` to
    ``ends[j]`` (M, 3), all in metres: the nearest point of the segment, its ends included."""
    d = ends - starts  # (M, 3)
    rel = points[:, None, :] - starts[None, :, :]  # (N, M, 3)
    length2 = np.einsum("mk,mk->m", d, d)
    u = np.clip(np.einsum("nmk,mk->nm", rel, d) / np.where(length2 > 1e-12, length2, np.inf), 0.0, 1.0)
    return np.linalg.norm(rel - u[..., None] * d[None, :, :], axis=-1)


class SkeletonTracker:
    """Assigns stable ``track_id`` values to the poses of consecutive frames.

    Args:
        gate_m: a pose farther than this (metres) from a track's predicted path cannot take it.
        max_missed: a track not matched for more than this many consecutive frames expires.
        velocity_smoothing: weight of the newest displacement in the velocity estimate (0 turns
            prediction off, 1 uses the last displacement only).
        max_age_s: with frame times (``update(..., stamp_s=)``), a track unseen for longer than
            this (s) expires (instead of ``max_missed`` frames); None = frames only.
        min_hits: matches a track needs before its id is given out.
        smoothing: (min_cutoff_hz, beta) of a One Euro filter on every track's joints; None = off.
        first_id: the first track id; ids count up from it and are never reused (a node starts
            at a random one, so ids do not repeat across restarts either).
        gate_growth_mps: with frame times, a track's gate widens by this many metres per second
            since its last match (someone missed for a while may be farther from the prediction).
        predict_horizon: a track's path is extrapolated with its velocity for at most this
            long since its last match (seconds with frame times, else frames), then held: a
            velocity carried on for seconds draws a path metres long, which a newcomer far ahead
            of someone lost long ago may then be matched to. None = no limit.
        appearance_weight: with a colour image (``update(..., frame=)``), metres added to the
            matching cost per unit of colour distance between a pose and a track
            (:func:`~unipose_ros.core.appearance.appearance_distance`, RGB in [0, 1]); 0 = off.
        appearance_update: weight of the newest signature in a track's running signature.
        reid_gate_m: with ``appearance_weight``, metres added to the gate of a track whose colour
            signature is within ``reid_colour`` of the pose's: someone missed for a few frames who
            reappears a little off their path, still in the same clothes, keeps their id.
        reid_colour: the colour distance under which two signatures are taken for one person
            (with true poses on the first crossing set: the same person in consecutive frames
            0.10 or less in 95 % of pairs, two people 0.17 or more in 95 %).
    """

    def __init__(self, gate_m: float = 0.5, max_missed: int = 10, velocity_smoothing: float = 0.5,
                 max_age_s: float | None = None, min_hits: int = 1,
                 smoothing: tuple[float, float] | None = None, first_id: int = 0,
                 gate_growth_mps: float = 0.0, predict_horizon: float | None = None,
                 appearance_weight: float = 0.0,
                 appearance_update: float = 0.3, reid_gate_m: float = 0.0, reid_colour: float = 0.12) -> None:
        if gate_m <= 0 or max_missed < 0 or not 0.0 <= velocity_smoothing <= 1.0:
            raise ValueError("gate_m must be > 0, max_missed >= 0, velocity_smoothing in [0, 1]")
        if (max_age_s is not None and max_age_s <= 0) or min_hits < 1 or gate_growth_mps < 0:
            raise ValueError("max_age_s must be > 0 (or None), min_hits >= 1 and gate_growth_mps >= 0")
        if predict_horizon is not None and predict_horizon < 0:
            raise ValueError("predict_horizon must be >= 0 (or None)")
        if appearance_weight < 0 or not 0.0 < appearance_update <= 1.0:
            raise ValueError("appearance_weight must be >= 0 and appearance_update in (0, 1]")
        self.appearance_weight = float(appearance_weight)
        self.appearance_update = float(appearance_update)
        if reid_gate_m < 0 or reid_colour < 0:
            raise ValueError("reid_gate_m and reid_colour must be >= 0")
        self.reid_gate_m, self.reid_colour = float(reid_gate_m), float(reid_colour)
        self.gate_growth_mps = float(gate_growth_mps)
        self.predict_horizon = None if predict_horizon is None else float(predict_horizon)
        self.gate_m = float(gate_m)
        self.max_missed = int(max_missed)
        self.velocity_smoothing = float(velocity_smoothing)
        self.max_age_s = None if max_age_s is None else float(max_age_s)
        self.min_hits = int(min_hits)
        self.smoothing = smoothing
        if smoothing is not None:
            OneEuroFilter(*smoothing)  # validates
        self._tracks: list[Track] = []
        if first_id < 0:
            raise ValueError("first_id must be >= 0")
        self._next_id = int(first_id)
        self._last_stamp: float | None = None

    @property
    def tracks(self) -> list[Track]:
        """The live tracks (including ones missed in the last ``max_missed`` frames)."""
        return list(self._tracks)

    @property
    def next_id(self) -> int:
        """The id the next new track gets (ids are counted up and never reused)."""
        return self._next_id

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so old ids are still not reused)."""
        self._tracks = []

    def _look_distances(self, looks: list[np.ndarray | None]) -> np.ndarray:
        """(N, M) colour distance of each signature to each track's; NaN where either is unknown."""
        out = np.full((len(looks), len(self._tracks)), np.nan)
        for i, look in enumerate(looks):
            for j, track in enumerate(self._tracks):
                if look is not None and track.appearance is not None:
                    out[i, j] = appearance_distance(look, track.appearance)
        return out

    def _elapsed(self, track: Track, stamp_s: float | None) -> float:
        """Frames (or seconds, with frame times) from the track's last match to now."""
        if stamp_s is not None and track.last_seen_s is not None:
            return max(stamp_s - track.last_seen_s, 1e-6)
        return float(track.missed + 1)

    def _match(self, track: Track, new_root: np.ndarray, elapsed: float, stamp_s: float | None) -> None:
        """Move ``track`` to ``new_root`` (matched ``elapsed`` frames or seconds after its last match)."""
        step = (new_root - track.root) / elapsed
        a = self.velocity_smoothing
        track.velocity = (1 - a) * track.velocity + a * step if track.hits > 1 else a * step
        track.root = new_root
        track.missed = 0
        track.hits += 1
        track.last_seen_s = stamp_s

    def _remember_look(self, track: Track, signature: np.ndarray | None) -> None:
        """Blend ``signature`` (B, 3) into the track's running signature, bone by bone."""
        if signature is None:
            return
        if track.appearance is None:
            track.appearance = signature.copy()
            return
        r = self.appearance_update
        old, new = track.appearance, signature
        track.appearance = np.where(np.isnan(old), new, np.where(np.isnan(new), old, (1 - r) * old + r * new))

    def update(self, poses: list[PersonPose], stamp_s: float | None = None,
               frame: RGBDFrame | None = None) -> list[PersonPose]:
        """Match one frame's poses to tracks.

        Args:
            poses: the frame's poses (any ``track_id``; not modified).
            stamp_s: the frame's time (s, increasing); velocities and ``max_age_s`` then work in
                seconds, whatever the frame rate (frames may be dropped).
            frame: the frame the poses were seen in (their optical frame): its colour and depth
                images for ``appearance_weight``.
        Returns:
            copies of ``poses``, same order, with ``track_id`` set (-1 while a track is
            tentative) and, with ``smoothing``, filtered joints. Poses with no finite joint get
            ``track_id`` -1 and do not touch the tracks.
        """
        if stamp_s is not None:  # a time that does not advance (a replay restarted, a bad stamp)
            if self._last_stamp is not None and not stamp_s > self._last_stamp:  # counts as 1/30 s later
                stamp_s = self._last_stamp + 1.0 / 30.0
            self._last_stamp = stamp_s
        anchors = np.array([pose_anchor(p) for p in poses]).reshape(-1, 3)
        valid = np.isfinite(anchors).all(axis=1)
        looks = ([bone_colours(p, frame.rgb, frame.depth, frame.camera) if v else None for p, v in zip(poses, valid)]
                 if self.appearance_weight and frame is not None and frame.rgb is not None else [None] * len(poses))
        elapsed = np.array([self._elapsed(t, stamp_s) for t in self._tracks])
        horizon = elapsed if self.predict_horizon is None else np.minimum(elapsed, self.predict_horizon)
        predicted = np.array([t.root + h * t.velocity for t, h in zip(self._tracks, horizon)]).reshape(-1, 3)
        track_of: dict[int, Track] = {}
        ids = np.full(len(poses), -1, dtype=int)
        det_idx = np.flatnonzero(valid)
        matched_tracks: set[int] = set()
        if len(det_idx) and len(self._tracks):
            last = np.array([t.root for t in self._tracks]).reshape(-1, 3)
            cost = path_distance(anchors[det_idx], last, predicted)
            gates = np.full(len(self._tracks), self.gate_m)
            if self.gate_growth_mps and stamp_s is not None:  # elapsed is in seconds for timed tracks
                timed = np.array([t.last_seen_s is not None for t in self._tracks])
                gates += self.gate_growth_mps * np.where(timed, elapsed, 0.0)
            inside = cost <= gates[None, :]
            if self.appearance_weight:  # colour ranks the candidates, and widens the gate of one that looks the same
                colour = self._look_distances([looks[i] for i in det_idx])
                with np.errstate(invalid="ignore"):
                    inside |= (colour <= self.reid_colour) & (cost <= gates[None, :] + self.reid_gate_m)
                cost = cost + self.appearance_weight * np.nan_to_num(colour, nan=0.0)
            rows, cols = linear_sum_assignment(np.where(inside, cost, 1e6))
            for r, c in zip(rows, cols):
                if not inside[r, c]:
                    continue
                track = self._tracks[c]
                self._match(track, anchors[det_idx[r]], elapsed[c], stamp_s)
                self._remember_look(track, looks[det_idx[r]])
                ids[det_idx[r]] = track.track_id
                track_of[int(det_idx[r])] = track
                matched_tracks.add(int(c))
        survivors: list[Track] = []
        for c, track in enumerate(self._tracks):
            if c not in matched_tracks:
                track.missed += 1  # coasts: predicted at root + elapsed * velocity
                if self.max_age_s is not None and stamp_s is not None and track.last_seen_s is not None:
                    if stamp_s - track.last_seen_s > self.max_age_s:
                        continue
                elif track.missed > self.max_missed:
                    continue
            survivors.append(track)
        self._tracks = survivors
        for i in det_idx:
            if ids[i] < 0:
                track = Track(track_id=self._next_id, root=anchors[i].copy(), velocity=np.zeros(3),
                              last_seen_s=stamp_s)
                if self.smoothing is not None:
                    track.smoother = OneEuroFilter(*self.smoothing)
                self._remember_look(track, looks[i])
                self._next_id += 1
                self._tracks.append(track)
                ids[i] = track.track_id
                track_of[int(i)] = track
        out = []
        for i, p in enumerate(poses):
            track = track_of.get(i)
            if track is None:
                out.append(replace(p, track_id=-1))
                continue
            joints = p.joints
            if track.smoother is not None:
                t = stamp_s if stamp_s is not None else float(track.hits)
                joints = track.smoother(p.joints, t).astype(p.joints.dtype)
            out.append(replace(p, track_id=track.track_id if track.hits >= self.min_hits else -1, joints=joints))
        return out
