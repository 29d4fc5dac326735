"""Body and joint frames of a skeleton, for TF (REP-155 spirit): pure numpy, no ROS.

All inputs are in the camera optical frame (x right, y down, z forward, metres).

Body frame ``body_<id>``:
    origin: the hip midpoint (mean of ``left_hip`` and ``right_hip``); the joint set's root when a
        hip is missing (NaN).
    z axis (up): from the hip midpoint to the shoulder midpoint.
    y axis (the person's left): from the right hip to the left hip (the shoulders when a hip is
        missing), made orthogonal to z.
    x axis (forward, out of the chest): y x z, so (x, y, z) is right-handed.
    A person facing the camera upright therefore has x along -z_optical, y along +x_optical and
    z along -y_optical. When the torso joints needed for an axis are missing, that fallback
    (upright, facing the camera) is used for the orientation.

Joint frame ``<joint>_<id>`` (a child of the body frame):
    origin: the joint.
    x axis: along the bone to the joint's only child (for leaves: along the bone from the parent;
        for joints with several children, e.g. the torso, and for the root: the body frame's
        axes are used unchanged).
    y axis: the body's left (y), made orthogonal to x; the body's up (z) if the bone is along y.
    z axis: x X y.

Quaternions are (x, y, z, w), the ROS order (transforms3d uses w, x, y, z).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from unipose_ros.core.joints import JointSet

# The upright, facing-the-camera orientation, columns = body x, y, z in optical coordinates.
FACING_CAMERA = np.array([[0.0, 1.0, 0.0],
                          [0.0, 0.0, -1.0],
                          [-1.0, 0.0, 0.0]])
_EPS = 1e-6


@dataclass(frozen=True)
class Frame:
    """A rigid frame: ``rotation`` (3, 3) whose columns are the frame's axes expressed in the
    parent frame, and ``origin`` (3,) metres in the parent frame."""

    origin: np.ndarray
    rotation: np.ndarray

    @property
    def quaternion(self) -> np.ndarray:
        """(4,) (x, y, z, w) unit quaternion of ``rotation``."""
        return rotation_to_quaternion(self.rotation)

    def inverse_apply(self, points: np.ndarray) -> np.ndarray:
        """Express parent-frame ``points`` (..., 3) in this frame."""
        return (np.asarray(points, dtype=np.float64) - self.origin) @ self.rotation


def rotation_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (x, y, z, w) with w >= 0
    (scipy's ``Rotation``, whose quaternions are in the ROS order)."""
    r = np.asarray(r, dtype=np.float64)
    q = Rotation.from_matrix(r.reshape(-1, 3, 3)).as_quat().reshape(*r.shape[:-2], 4)
    return np.where(q[..., 3:] < 0, -q, q)


def quaternion_to_rotation(q: np.ndarray) -> np.ndarray:
    """(4,) quaternion (x, y, z, w) -> (3, 3) rotation matrix."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = math.sqrt(float(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]))
    return None if not math.isfinite(n) or n < _EPS else v / n


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (np.cross costs ten times more on single vectors)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _joint(joints: np.ndarray, joint_set: JointSet, name: str) -> np.ndarray | None:
    try:
        p = joints[joint_set.index(name)]
    except KeyError:
        return None
    return p if np.isfinite(p).all() else None


def _mid(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    return None if a is None or b is None else 0.5 * (a + b)


def _frame_from(x_hint: np.ndarray | None, y_hint: np.ndarray | None, fallback: np.ndarray,
                prefer: str) -> np.ndarray:
    """Rotation from a primary axis and a secondary hint, Gram-Schmidt; ``prefer`` names the
    primary axis ('z' for the body: up wins, 'x' for bones: the bone wins)."""
    if prefer == "z":
        z, y = x_hint, y_hint  # (up, left)
        z = _unit(z) if z is not None else None
        if z is None:
            z = fallback[:, 2]
        y = _unit(y - np.dot(y, z) * z) if y is not None else None
        if y is None:
            y = _unit(fallback[:, 1] - np.dot(fallback[:, 1], z) * z)
            if y is None:
                y = _unit(_cross(z, fallback[:, 0]))
        x = _cross(y, z)
        return np.stack([x, y, z], axis=1)
    x = _unit(x_hint) if x_hint is not None else None
    if x is None:
        return fallback.copy()
    y = None
    for hint in (y_hint, fallback[:, 1], fallback[:, 2]):
        if hint is not None:
            y = _unit(hint - np.dot(hint, x) * x)
            if y is not None and abs(np.dot(_unit(hint), x)) < 0.99:
                break
    z = _cross(x, y)
    return np.stack([x, y, z], axis=1)


def body_frame(joints: np.ndarray, joint_set: JointSet) -> Frame | None:
    """The body frame of one skeleton in the optical frame (see the module docstring).

    Args:
        joints: (J, 3) metres, camera optical frame, NaN for missing joints.
        joint_set: order of ``joints``; needs ``left_hip``/``right_hip``/``left_shoulder``/
            ``right_shoulder`` for a full orientation.
    Returns:
        the frame, or None when neither the hips nor the root joint are finite.
    """
    joints = np.asarray(joints, dtype=np.float64)
    lh, rh = _joint(joints, joint_set, "left_hip"), _joint(joints, joint_set, "right_hip")
    ls, rs = _joint(joints, joint_set, "left_shoulder"), _joint(joints, joint_set, "right_shoulder")
    hip, shoulder = _mid(lh, rh), _mid(ls, rs)
    origin = hip
    if origin is None:
        root = joints[joint_set.root]
        if not np.isfinite(root).all():
            return None
        origin = root
    up = None if shoulder is None else shoulder - origin
    left = (lh - rh) if hip is not None else ((ls - rs) if shoulder is not None else None)
    rot = _frame_from(up, left, FACING_CAMERA, prefer="z")
    return Frame(origin=origin, rotation=rot)


@functools.lru_cache(maxsize=16)
def _bone_ends(joint_set: JointSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per joint: the joint whose direction sets its frame's x axis (its only child, or for a leaf
    its parent; 0 and not ``has_bone`` for none) and whether the bone points to it (child) or from
    it (parent); (J,) int and (J,) bool each, plus (J,) ``has_bone``. Once per joint set."""
    children: dict[int, list[int]] = {i: [] for i in range(len(joint_set))}
    for p, c in joint_set.tree_bones:
        children[p].append(c)
    other = np.full(len(joint_set), -1)
    to_child = np.zeros(len(joint_set), bool)
    for j in range(len(joint_set)):
        if len(children[j]) == 1:
            other[j], to_child[j] = children[j][0], True
        elif not children[j] and joint_set.parents[j] >= 0:
            other[j] = joint_set.parents[j]
    has_bone = other >= 0
    for a in (other, to_child, has_bone):
        a.flags.writeable = False  # shared by every call
    return np.maximum(other, 0), to_child, has_bone


def joint_frame_arrays(joints: np.ndarray, joint_set: JointSet, body: Frame
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames of every joint relative to ``body`` (see the module docstring), as arrays.

    Args:
        joints: (J, 3) metres, camera optical frame, NaN for missing joints.
        joint_set: order of ``joints``.
        body: the body frame from :func:`body_frame`.
    Returns:
        ``finite`` (J,) bool (joints without a frame: False), ``origins`` (J, 3) metres and
        ``rotations`` (J, 3, 3) (columns: the joint frame's axes), both in the body frame.
    """
    local = body.inverse_apply(np.asarray(joints, dtype=np.float64))  # (J, 3) in the body frame
    finite = np.isfinite(local).all(axis=1)
    other, to_child, has_bone = _bone_ends(joint_set)
    has = finite & has_bone & finite[other]
    bone = np.where(to_child[:, None], local[other] - local, local - local[other])
    norm = np.linalg.norm(np.where(has[:, None], bone, 0.0), axis=1)
    has &= norm >= _EPS
    x = np.where(has[:, None], bone / np.where(norm > 0, norm, 1.0)[:, None], [1.0, 0.0, 0.0])
    # y: the body's left made orthogonal to x; the body's up when the bone runs along the left
    hint = np.where((np.abs(x[:, 1]) < 0.99)[:, None], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    y = hint - (hint * x).sum(axis=1, keepdims=True) * x
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    z = np.cross(x, y)
    rotations = np.where(has[:, None, None], np.stack([x, y, z], axis=2), np.eye(3))
    return finite, local, rotations


def joint_frames(joints: np.ndarray, joint_set: JointSet, body: Frame) -> dict[int, Frame]:
    """Frames of every finite joint, expressed in ``body`` (see the module docstring).

    Args:
        joints: (J, 3) metres, camera optical frame, NaN for missing joints.
        joint_set: order of ``joints``.
        body: the body frame from :func:`body_frame`.
    Returns:
        joint index -> frame relative to the body frame (missing joints are left out).
    """
    finite, origins, rotations = joint_frame_arrays(joints, joint_set, body)
    return {int(j): Frame(origin=origins[j], rotation=rotations[j]) for j in np.flatnonzero(finite)}


def transform_points(points: np.ndarray, translation: np.ndarray, quaternion: np.ndarray
                     ) -> np.ndarray:
    """Apply a rigid transform (parent <- child, as in a TF lookup) to ``points`` (..., 3).

    Args:
        points: (..., 3) metres in the child frame; NaN stays NaN.
        translation: (3,) metres, the child's origin in the parent frame.
        quaternion: (4,) (x, y, z, w), the child's orientation in the parent frame.
    Returns:
        (..., 3) float32 metres in the parent frame.
    """
    r = quaternion_to_rotation(quaternion)
    out = np.asarray(points, dtype=np.float64) @ r.T + np.asarray(translation, dtype=np.float64)
    return out.astype(np.float32)
