"""Motion-capture clips (DeepMimic reference motions) and their augmentation.

The bundled clips in ``data/motions`` are the DeepMimic reference motions as shipped in
pybullet 3.2.7's ``pybullet_data`` (zlib licence, ``data/motions/LICENSE-pybullet.txt``).
Each file is JSON ``{"Loop": ..., "Frames": [[44 numbers], ...]}``; per frame: ``dt``, root
position (3), root quaternion (w, x, y, z), then chest, neck, right hip (quaternions), right knee
(angle), right ankle, right shoulder (quaternions), right elbow (angle), and the same for the left
side. Clip axes: Y up, +X forward, +Z right; rest pose: standing, arms straight down, every joint
frame aligned with the clip axes; knees and elbows are hinges about the sideways (Z) axis.

:class:`Motion` holds a clip converted to the *world* frame of the synthetic scene (Z up, the
person facing +X at rest, +Y to the person's left) with every local joint rotation as a 3x3
matrix in world-aligned axes (the rest pose's joint frames are the world axes), so a joint's
global rotation is the product of the local rotations from the root down.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

MOTION_DIR = Path(__file__).resolve().parent / "data" / "motions"

# Local joints of a clip, in the order of Motion.local (hinges stored as rotations about Y).
JOINTS: tuple[str, ...] = (
    "chest", "neck",
    "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
    "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow",
)
_HINGES = frozenset({"right_knee", "right_elbow", "left_knee", "left_elbow"})
_UPPER = frozenset({"chest", "neck", "right_shoulder", "right_elbow", "left_shoulder", "left_elbow"})
# Clips whose root stays upright (feet on the floor): those may be mixed and walked around.
UPRIGHT_CLIPS = ("walk", "run", "jump", "kick", "punch", "spinkick", "dance_a", "dance_b", "spin")

# Clip axes (x forward, y up, z right) -> world axes (x forward, y left, z up).
_C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class Motion:
    """A motion sampled at a fixed rate, in the scene's world frame (metres, Z up).

    Attributes:
        name: clip name (e.g. ``"walk"``; ``"walk+punch"`` for a mixed clip).
        fps: frames per second.
        root_pos: (T, 3) pelvis position, metres (clip scale: a ~0.85 m pelvis height).
        root_rot: (T, 3, 3) pelvis orientation (world from body).
        local: (T, len(JOINTS), 3, 3) local rotations in world-aligned rest axes.
        loop: whether the clip is cyclic (it can be repeated end to start).
        frame_labels: the clip each frame comes from (a planned motion of several segments);
            empty for a single clip.
    """

    name: str
    fps: float
    root_pos: np.ndarray
    root_rot: np.ndarray
    local: np.ndarray
    loop: bool = False
    frame_labels: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.root_pos)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self) / self.fps


def clip_family(label: str) -> str:
    """The source clip of a segment name: ``"walk~mirror+punch"`` (walk mirrored, its upper body
    from punch) -> ``"walk"``; ``"everyday_sit"`` stays."""
    return label.split("+")[0].split("~")[0]


def available_clips(motion_dir: Path = MOTION_DIR) -> list[str]:
    """Names of the clips in ``motion_dir`` (``humanoid3d_<name>.txt``)."""
    return sorted(p.stem.removeprefix("humanoid3d_") for p in motion_dir.glob("humanoid3d_*.txt"))


def _quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    return Rotation.from_quat(q[..., [1, 2, 3, 0]]).as_matrix()


def _to_world(r: np.ndarray) -> np.ndarray:
    """Rotations (..., 3, 3) expressed in clip axes -> world axes."""
    return _C @ r @ _C.T


def _hinge(angle: np.ndarray) -> np.ndarray:
    """Clip hinge angle about the clip's +Z (right) axis -> (T, 3, 3) world rotation."""
    return _to_world(Rotation.from_rotvec(angle[:, None] * np.array([0.0, 0.0, 1.0])).as_matrix())


def _yaw(r: np.ndarray) -> np.ndarray:
    """Heading angle (rad, about world Z) of the body forward axis (+X) of rotations (..., 3, 3)."""
    fwd = r[..., :, 0]
    return np.arctan2(fwd[..., 1], fwd[..., 0])


def rot_z(angle: float | np.ndarray) -> np.ndarray:
    """Rotation(s) (..., 3, 3) about world Z by ``angle`` radians."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1] = c, -s, s, c
    out[..., 2, 2] = 1.0
    return out


def load_clip(name: str, motion_dir: Path = MOTION_DIR) -> Motion:
    """Read clip ``name`` at its own rate, converted to world axes, with the first frame's heading
    removed (it faces +X) and its first root position moved to x = y = 0."""
    path = motion_dir / f"humanoid3d_{name}.txt"
    if not path.exists():
        raise FileNotFoundError(
            f"no motion clip {name!r} in {motion_dir}; available: {available_clips(motion_dir)}")
    data = json.loads(path.read_text())
    f = np.asarray(data["Frames"], dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != 44:
        raise ValueError(f"{path}: expected 44 numbers per frame, got shape {f.shape}")
    fps = 1.0 / float(np.median(f[:, 0]))
    root_pos = f[:, 1:4] @ _C.T
    root_rot = _to_world(_quat_wxyz_to_matrix(f[:, 4:8]))
    cols = {"chest": 8, "neck": 12, "right_hip": 16, "right_knee": 20, "right_ankle": 21,
            "right_shoulder": 25, "right_elbow": 29, "left_hip": 30, "left_knee": 34,
            "left_ankle": 35, "left_shoulder": 39, "left_elbow": 43}
    local = np.stack([_hinge(f[:, cols[j]]) if j in _HINGES
                      else _to_world(_quat_wxyz_to_matrix(f[:, cols[j]:cols[j] + 4]))
                      for j in JOINTS], axis=1)
    unyaw = rot_z(-_yaw(root_rot[0]))
    root_pos = (root_pos - root_pos[0] * np.array([1.0, 1.0, 0.0])) @ unyaw.T
    return Motion(name=name, fps=fps, root_pos=root_pos, root_rot=unyaw @ root_rot, local=local,
                  loop=str(data.get("Loop", "none")).lower() == "wrap")


def resample(motion: Motion, fps: float, n_frames: int | None = None, start_s: float = 0.0,
             speed: float = 1.0) -> Motion:
    """Resample to ``fps`` (slerp for rotations, linear for positions), starting ``start_s``
    seconds into the clip and playing it ``speed`` times as fast. With ``n_frames`` longer
    than the clip, a looping clip is repeated end to start, each repeat continuing from where the
    previous one ended (position and heading); a non-looping clip holds its last frame."""
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    t_src = np.arange(len(motion)) / motion.fps
    n = n_frames if n_frames is not None else max(1, int(np.floor(t_src[-1] * fps / speed)) + 1)
    t = float(start_s) + np.arange(n) * (speed / fps)
    period = t_src[-1]
    rep = np.floor(t / period).astype(int) if (motion.loop and period > 0) else np.zeros(n, int)
    tl = np.clip(t - rep * period, 0.0, period) if motion.loop else np.clip(t, 0.0, period)
    # per-repeat offsets: heading and displacement accumulated over whole cycles
    d_yaw = _yaw(motion.root_rot[-1]) - _yaw(motion.root_rot[0])
    d_pos = (motion.root_pos[-1] - motion.root_pos[0]) * np.array([1.0, 1.0, 0.0])
    offs_r, offs_p = [np.eye(3)], [np.zeros(3)]
    for _ in range(int(rep.max()) if n else 0):
        offs_p.append(offs_p[-1] + offs_r[-1] @ d_pos)
        offs_r.append(rot_z(d_yaw) @ offs_r[-1])
    offs_r, offs_p = np.asarray(offs_r)[rep], np.asarray(offs_p)[rep]

    def slerp(mats: np.ndarray) -> np.ndarray:
        if len(t_src) == 1:
            return np.repeat(mats, n, axis=0)
        return Slerp(t_src, Rotation.from_matrix(mats))(tl).as_matrix()

    root_rot = offs_r @ slerp(motion.root_rot)
    pos = np.stack([np.interp(tl, t_src, motion.root_pos[:, k]) for k in range(3)], axis=1)
    root_pos = np.einsum("nij,nj->ni", offs_r, pos) + offs_p
    local = np.stack([slerp(motion.local[:, j]) for j in range(len(JOINTS))], axis=1)
    return Motion(name=motion.name, fps=fps, root_pos=root_pos, root_rot=root_rot, local=local,
                  loop=motion.loop)


# Reflection across the sagittal plane (world Y -> -Y: the person's left <-> right).
_M = np.diag([1.0, -1.0, 1.0])
_SWAP = [JOINTS.index(j.replace("right_", "@").replace("left_", "right_").replace("@", "left_"))
         for j in JOINTS]


def mirror(motion: Motion) -> Motion:
    """Left/right mirrored motion: positions reflected across the sagittal plane, rotations
    conjugated by the reflection, left and right joints swapped."""
    return replace(motion, name=motion.name + "~mirror", root_pos=motion.root_pos @ _M,
                   root_rot=_M @ motion.root_rot @ _M, local=(_M @ motion.local @ _M)[:, _SWAP])


def mix(lower: Motion, upper: Motion) -> Motion:
    """Lower body and root of ``lower`` with the upper body (chest, neck, arms) of ``upper``;
    both at the same rate. ``upper`` is repeated or cut to the length of ``lower``."""
    if abs(lower.fps - upper.fps) > 1e-6:
        raise ValueError(f"mix needs equal rates, got {lower.fps} and {upper.fps}: resample first")
    idx = np.arange(len(lower)) % len(upper)
    local = lower.local.copy()
    for j, name in enumerate(JOINTS):
        if name in _UPPER:
            local[:, j] = upper.local[idx, j]
    return replace(lower, name=f"{lower.name}+{upper.name}", local=local)


def perturb(motion: Motion, rng: np.random.Generator, sigma_deg: float = 4.0) -> Motion:
    """Add a small constant random rotation (about ``sigma_deg`` per axis) to every ball joint and
    a small angle to every hinge (kept on its bending side: knees back, elbows forward)."""
    local = motion.local.copy()
    for j, name in enumerate(JOINTS):
        if name in _HINGES:
            # hinge about world Y in world axes (the clip's Z); keep the sign of the bend
            ang = np.arctan2(local[:, j, 0, 2], local[:, j, 0, 0])
            sign = 1.0 if np.median(ang) >= 0 else -1.0
            ang = sign * np.clip(sign * (ang + np.radians(rng.normal(0, sigma_deg))), 0.0, np.radians(150))
            c, s = np.cos(ang), np.sin(ang)
            r = np.zeros_like(local[:, j])
            r[:, 0, 0], r[:, 0, 2], r[:, 2, 0], r[:, 2, 2], r[:, 1, 1] = c, s, -s, c, 1.0
            local[:, j] = r
        else:
            d = Rotation.from_rotvec(np.radians(rng.normal(0, sigma_deg, 3))).as_matrix()
            local[:, j] = d @ local[:, j]
    return replace(motion, local=local)


def place(motion: Motion, heading: float, xy: np.ndarray) -> Motion:
    """Rotate the motion about the vertical axis through its first root position by ``heading``
    (rad) and move that first root position to ``xy`` (2,) metres (height unchanged)."""
    r = rot_z(heading)
    start = motion.root_pos[0] * np.array([1.0, 1.0, 0.0])
    pos = (motion.root_pos - start) @ r.T + np.array([xy[0], xy[1], 0.0])
    return replace(motion, root_pos=pos, root_rot=r @ motion.root_rot)
