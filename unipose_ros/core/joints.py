"""Joint sets as data: names, bones (parent of each joint), left/right pairs, and maps between sets.

A :class:`JointSet` is the single source of truth for joint order; nothing else in the package
writes joint names or indices as literals. Maps between sets are linear (each target joint is a
weighted mean of source joints), stored as a ``(J_target, J_source)`` weight matrix.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class JointSet:
    """An ordered set of joints with a kinematic tree.

    Attributes:
        name: identifier written into messages and checkpoints (e.g. ``"itop15"``).
        joints: joint names in their fixed order.
        parents: index of each joint's parent, -1 for the root (the tree used for TF and bones).
        extra_bones: bones outside the tree drawn for display (e.g. hip to hip).
        flip_pairs: (left, right) index pairs, used by symmetry losses and mirroring.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    extra_bones: tuple[tuple[int, int], ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents):
            raise ValueError(f"{self.name}: {len(self.joints)} joints but {len(self.parents)} parents")
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"{self.name}: duplicate joint names")
        roots = [i for i, p in enumerate(self.parents) if p < 0]
        if len(roots) != 1:
            raise ValueError(f"{self.name}: expected one root, found {len(roots)}")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.joints)})

    def __len__(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        """Index of the joint called ``name``; KeyError lists the valid names."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a joint of {self.name}: {list(self.joints)}") from None

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def tree_bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) index pairs of the kinematic tree."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """All bones to draw: the tree plus ``extra_bones``."""
        return self.tree_bones + self.extra_bones

    @property
    def flip_permutation(self) -> np.ndarray:
        """(J,) int index array that swaps left and right joints (for mirroring)."""
        perm = np.arange(len(self))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


def _build(name: str, spec: list[tuple[str, str | None]], extra: list[tuple[str, str]] = (),
           pairs: list[tuple[str, str]] = ()) -> JointSet:
    names = [n for n, _ in spec]
    idx = {n: i for i, n in enumerate(names)}
    parents = tuple(-1 if p is None else idx[p] for _, p in spec)
    return JointSet(
        name=name,
        joints=tuple(names),
        parents=parents,
        extra_bones=tuple((idx[a], idx[b]) for a, b in extra),
        flip_pairs=tuple((idx[a], idx[b]) for a, b in pairs),
    )


# ITOP-15, in the dataset's order. Neck = midpoint of the shoulders; torso = midpoint of neck and
# mid-hip (ITOP's definitions). Root: torso.
ITOP15 = _build(
    "itop15",
    [
        ("head", "neck"),
        ("neck", "torso"),
        ("right_shoulder", "neck"),
        ("left_shoulder", "neck"),
        ("right_elbow", "right_shoulder"),
        ("left_elbow", "left_shoulder"),
        ("right_hand", "right_elbow"),
        ("left_hand", "left_elbow"),
        ("torso", None),
        ("right_hip", "torso"),
        ("left_hip", "torso"),
        ("right_knee", "right_hip"),
        ("left_knee", "left_hip"),
        ("right_foot", "right_knee"),
        ("left_foot", "left_knee"),
    ],
    pairs=[
        ("left_shoulder", "right_shoulder"), ("left_elbow", "right_elbow"), ("left_hand", "right_hand"),
        ("left_hip", "right_hip"), ("left_knee", "right_knee"), ("left_foot", "right_foot"),
    ],
)

# COCO-17 keypoints, in COCO's order. The tree hangs off the nose; shoulders and hips are joined
# across the body by extra bones (the usual COCO drawing).
COCO17 = _build(
    "coco17",
    [
        ("nose", None),
        ("left_eye", "nose"),
        ("right_eye", "nose"),
        ("left_ear", "left_eye"),
        ("right_ear", "right_eye"),
        ("left_shoulder", "nose"),
        ("right_shoulder", "nose"),
        ("left_elbow", "left_shoulder"),
        ("right_elbow", "right_shoulder"),
        ("left_wrist", "left_elbow"),
        ("right_wrist", "right_elbow"),
        ("left_hip", "left_shoulder"),
        ("right_hip", "right_shoulder"),
        ("left_knee", "left_hip"),
        ("right_knee", "right_hip"),
        ("left_ankle", "left_knee"),
        ("right_ankle", "right_knee"),
    ],
    extra=[("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")],
    pairs=[
        ("left_eye", "right_eye"), ("left_ear", "right_ear"), ("left_shoulder", "right_shoulder"),
        ("left_elbow", "right_elbow"), ("left_wrist", "right_wrist"), ("left_hip", "right_hip"),
        ("left_knee", "right_knee"), ("left_ankle", "right_ankle"),
    ],
)

# MediaPipe BlazePose's 33 landmarks, in its order (mp.solutions.pose.PoseLandmark).
BLAZEPOSE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)

JOINT_SETS: dict[str, JointSet] = {js.name: js for js in (ITOP15, COCO17)}


def joint_set(name: str) -> JointSet:
    """The joint set called ``name`` (``"itop15"`` or ``"coco17"``)."""
    try:
        return JOINT_SETS[name]
    except KeyError:
        raise KeyError(f"unknown joint set {name!r}; known: {sorted(JOINT_SETS)}") from None


@dataclass(frozen=True)
class JointMap:
    """A linear map from a source joint order to a target joint set.

    ``weights[t, s]`` is the weight of source joint ``s`` in target joint ``t``; rows sum to 1.
    """

    source_names: tuple[str, ...]
    target: JointSet
    weights: np.ndarray  # (J_target, J_source) float64

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map ``points`` (..., J_source, D) to (..., J_target, D), any D (2D pixels or 3D metres)."""
        points = np.asarray(points)
        if points.shape[-2] != len(self.source_names):
            raise ValueError(f"expected {len(self.source_names)} source joints, got shape {points.shape}")
        out = np.einsum("ts,...sd->...td", self.weights, points.astype(np.float64))
        return out.astype(points.dtype if points.dtype.kind == "f" else np.float64)

    def apply_confidence(self, confidence: np.ndarray) -> np.ndarray:
        """Map per-joint confidence (..., J_source) to (..., J_target): the minimum over the
        source joints a target joint depends on (a mean is only as sure as its weakest part)."""
        confidence = np.asarray(confidence, dtype=np.float64)
        used = self.weights > 0  # (T, S)
        masked = np.where(used, confidence[..., None, :], np.inf)
        return masked.min(axis=-1).astype(np.float32)


def _joint_map(source_names: tuple[str, ...], target: JointSet,
               recipe: dict[str, dict[str, float]]) -> JointMap:
    src = {n: i for i, n in enumerate(source_names)}
    weights = np.zeros((len(target), len(source_names)))
    for t_name in target.joints:
        parts = recipe[t_name]
        total = sum(parts.values())
        for s_name, w in parts.items():
            weights[target.index(t_name), src[s_name]] = w / total
    return JointMap(source_names=source_names, target=target, weights=weights)


def itop_recipe(wrist: str = "wrist", ankle: str = "ankle") -> dict[str, dict[str, float]]:
    """ITOP-15 from a skeleton with named shoulders, hips, ears, elbows, wrists/ankles: ITOP joint ->
    {source joint: weight} (each ITOP joint is the weighted mean of those source joints)."""
    return {
        "head": {"left_ear": 1, "right_ear": 1},
        "neck": {"left_shoulder": 1, "right_shoulder": 1},
        "right_shoulder": {"right_shoulder": 1},
        "left_shoulder": {"left_shoulder": 1},
        "right_elbow": {"right_elbow": 1},
        "left_elbow": {"left_elbow": 1},
        "right_hand": {f"right_{wrist}": 1},
        "left_hand": {f"left_{wrist}": 1},
        # midpoint of neck (mid-shoulder) and mid-hip
        "torso": {"left_shoulder": 1, "right_shoulder": 1, "left_hip": 1, "right_hip": 1},
        "right_hip": {"right_hip": 1},
        "left_hip": {"left_hip": 1},
        "right_knee": {"right_knee": 1},
        "left_knee": {"left_knee": 1},
        "right_foot": {f"right_{ankle}": 1},
        "left_foot": {f"left_{ankle}": 1},
    }


BLAZEPOSE33_TO_ITOP15 = _joint_map(BLAZEPOSE33_NAMES, ITOP15, itop_recipe("wrist", "ankle"))
COCO17_TO_ITOP15 = _joint_map(COCO17.joints, ITOP15, itop_recipe("wrist", "ankle"))
BLAZEPOSE33_TO_COCO17 = _joint_map(BLAZEPOSE33_NAMES, COCO17, {n: {n: 1} for n in COCO17.joints})


def joint_map(source: str, target: str) -> JointMap:
    """The map from joint order ``source`` (``"blazepose33"``, ``"coco17"``) to set ``target``."""
    maps = {
        ("blazepose33", "itop15"): BLAZEPOSE33_TO_ITOP15,
        ("coco17", "itop15"): COCO17_TO_ITOP15,
        ("blazepose33", "coco17"): BLAZEPOSE33_TO_COCO17,
    }
    try:
        return maps[(source, target)]
    except KeyError:
        raise KeyError(f"no joint map {source} -> {target}; known: {sorted(maps)}") from None
