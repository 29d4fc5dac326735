"""Everyday poses the motion-capture clips lack: sitting, gestures, bending, crouching, kneeling, lying.

The 15 bundled clips are athletic (walk, run, kicks, cartwheels); a robot mostly sees people
sitting on chairs and sofas, standing and pointing, waving or reaching, bending down, crouching,
kneeling or lying. The package registries have motion-capture readers (bvh, bvhio, c3d) but no
package we found ships such motions under a permissive licence (pybullet_data's DeepMimic clips are
the bundled ones), so these are sampled procedurally: each family draws key poses from joint-angle
ranges within anatomical limits, and a clip holds each key pose for 0.6-2 s with 0.4-1.2 s slerp
transitions in between.

Every key pose is a :class:`~unipose_ros.synthetic.motions.Motion` frame in the clips' convention
(world axes: X forward, Y left, Z up; local joint rotations in world-aligned rest axes; clip scale,
0.87 m standing pelvis height). The root height comes from forward kinematics on the clips'
humanoid skeleton (DeepMimic ``humanoid3d`` bone offsets): the lowest body point, with a margin for
the body's thickness, rests on the floor, so a sitting person's feet touch it (the seat is not
rendered) and a lying person lies on it.

Angles (degrees) of a key pose, for the right side (the left side is drawn independently and
mirrored):

========  ===========================================================================================
family    ranges
========  ===========================================================================================
sit       hips flexed 70-105, knees 60-115, torso -15..25 (back / forward lean); arms on the thighs,
          in the lap or gesturing. One in four sits on the floor (knees 0-50).
gesture   standing (hips -5..15, knees 0-20); each arm at rest, pointing (elevation 60-110), reaching
          (30-165), waving (upper arm out 70-130, forearm up), hand on hip or at the face.
bend      pelvis pitched 30-75 forward, torso 0-35 more, knees 0-35, arms hanging or reaching down.
crouch    pelvis pitched 5-45, hips 95-135, knees 100-145 (feet flat), arms forward or on knees.
kneel     on both knees (hips -10..40, shins about level behind) or on one (the other foot flat in
          front, its shin upright), torso 0-30.
lie       on the back, front or a side, hips 0-60, knees 0-100, arms anywhere in reach.
========  ===========================================================================================
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from unipose_ros.synthetic.motions import JOINTS, Motion

#: Everyday pose families, as clip names ("everyday_<family>").
FAMILIES: tuple[str, ...] = ("sit", "gesture", "bend", "crouch", "kneel", "lie")
PREFIX = "everyday_"
#: Families whose person stands (they may be mixed with the upright clips).
STANDING: frozenset[str] = frozenset({"gesture"})

# DeepMimic humanoid3d bone offsets in world axes (X forward, Y left, Z up), clip metres; the
# right side has negative Y.
_ROOT_CHEST = np.array([0.0, 0.0, 0.236151])
_CHEST_NECK = np.array([0.0, 0.0, 0.223894])
_NECK_HEAD = np.array([0.0, 0.0, 0.20])
_ROOT_HIP = np.array([0.0, -0.084887, 0.0])
_HIP_KNEE = np.array([0.0, 0.0, -0.421546])
_KNEE_ANKLE = np.array([0.0, 0.0, -0.40987])
_CHEST_SHOULDER = np.array([-0.02405, -0.18311, 0.24350])
_SHOULDER_ELBOW = np.array([0.0, 0.0, -0.274788])
_ELBOW_WRIST = np.array([0.0, 0.0, -0.258947])
_ANKLE_HEEL = np.array([-0.05, 0.0, -0.05])
_ANKLE_TOE = np.array([0.16, 0.0, -0.05])
_MIRROR = np.diag([1.0, -1.0, 1.0])


def _rx(deg: float) -> np.ndarray:
    return Rotation.from_euler("x", deg, degrees=True).as_matrix()


def _ry(deg: float) -> np.ndarray:
    return Rotation.from_euler("y", deg, degrees=True).as_matrix()


def _rz(deg: float) -> np.ndarray:
    return Rotation.from_euler("z", deg, degrees=True).as_matrix()


def _min_rot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector ``a`` to unit vector ``b``."""
    v, c = np.cross(a, b), float(np.dot(a, b))
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        return np.eye(3) if c > 0 else _rx(180.0)
    return Rotation.from_rotvec(v / n * np.arctan2(n, c)).as_matrix()


def hip(flex: float, abduct: float = 0.0, twist: float = 0.0) -> np.ndarray:
    """Right hip rotation: ``flex`` degrees forward (thigh up in front), ``abduct`` out to the
    right, ``twist`` about the thigh."""
    return _ry(-flex) @ _rx(-abduct) @ _rz(twist)


def knee(flex: float) -> np.ndarray:
    """Knee hinge: the shin folds back by ``flex`` degrees (0 straight)."""
    return _ry(flex)


def elbow(flex: float) -> np.ndarray:
    """Elbow hinge: the forearm folds forward by ``flex`` degrees (0 straight)."""
    return _ry(-flex)


def torso(bend: float, side: float = 0.0, twist: float = 0.0) -> np.ndarray:
    """Chest (or neck) rotation: ``bend`` degrees forward, ``side`` to the left, ``twist`` about Z."""
    return _ry(bend) @ _rx(-side) @ _rz(twist)


def shoulder(elevation: float, azimuth: float, twist: float = 0.0) -> np.ndarray:
    """Right shoulder rotation: the upper arm points ``elevation`` degrees up from hanging down,
    towards ``azimuth`` degrees (0 forward, -90 out to the right, +90 across the body), turned by
    ``twist`` degrees about its own axis (which sets the plane the elbow bends in)."""
    e, a = np.radians(elevation), np.radians(azimuth)
    d = np.array([np.sin(e) * np.cos(a), np.sin(e) * np.sin(a), -np.cos(e)])
    return _min_rot(np.array([0.0, 0.0, -1.0]), d) @ _rz(twist)


KeyPose = tuple[np.ndarray, dict[str, np.ndarray]]  # (root rotation, local rotation per joint)


def _side(right: dict[str, np.ndarray], left: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Joint dict from right-side rotations for both sides (left = mirrored independent draw)."""
    out = {f"right_{k}": v for k, v in right.items()}
    out.update({f"left_{k}": _MIRROR @ v @ _MIRROR for k, v in left.items()})
    return out


def _arm(rng: np.random.Generator, kinds: tuple[str, ...], pitch: float = 0.0) -> dict[str, np.ndarray]:
    """One (right) arm: shoulder and elbow of a random gesture among ``kinds``. ``pitch`` (deg) is
    how far the chest leans forward, so that a hanging arm hangs down in the world."""
    kind = kinds[rng.integers(len(kinds))]
    u = rng.uniform
    if kind == "rest":
        s, e = shoulder(max(0.0, pitch + u(-5, 20)), u(-40, 20), u(-20, 20)), u(0, 30)
    elif kind == "point":
        s, e = shoulder(u(60, 110), u(-70, 30), u(-20, 20)), u(0, 15)
    elif kind == "reach":
        s, e = shoulder(u(30, 165), u(-90, 40), u(-40, 40)), u(0, 40)
    elif kind == "wave":
        s, e = shoulder(u(70, 130), u(-110, -60), u(-110, -70)), u(50, 110)
    elif kind == "hip":
        s, e = shoulder(u(25, 45), u(-110, -80), u(-100, -70)), u(80, 115)
    elif kind == "face":
        s, e = shoulder(u(15, 45), u(-30, 20), u(-10, 10)), u(115, 145)
    elif kind == "thigh":  # seated: the hand on the thigh
        s, e = shoulder(u(15, 40), u(-25, 10), u(-15, 15)), u(40, 75)
    else:  # "lap" / "knees": forearm across the lap or around the knees
        s, e = shoulder(u(20, 45), u(-10, 30), u(10, 40)), u(70, 110)
    return {"shoulder": s, "elbow": elbow(e)}


def _leg(flex: float, abd: float, twist: float, knee_flex: float, root: np.ndarray, flat: bool) -> dict[str, np.ndarray]:
    """One (right) leg; ``flat`` turns the ankle so that the foot is level with the floor."""
    h, k = hip(flex, abd, twist), knee(knee_flex)
    ankle = (root @ h @ k).T if flat else _ry(0.0)
    return {"hip": h, "knee": k, "ankle": ankle}


def _pose_sit(rng: np.random.Generator) -> KeyPose:
    u = rng.uniform
    root = _ry(u(-20, 15))  # slouched back or upright
    floor = rng.random() < 0.25
    legs = []
    for _ in range(2):
        kf = u(0, 50) if floor else u(60, 115)
        legs.append(_leg(u(70, 105), u(0, 20), u(-15, 15), kf, root, flat=not floor))
    arms = ("thigh", "lap", "rest", "point", "face", "reach", "wave")
    chest = torso(u(-15, 25), u(-10, 10), u(-20, 20))
    right = {**legs[0], **_arm(rng, arms)}
    left = {**legs[1], **_arm(rng, arms)}
    return root, {"chest": chest, "neck": torso(u(-15, 30), u(-10, 10), u(-40, 40)), **_side(right, left)}


def _pose_gesture(rng: np.random.Generator) -> KeyPose:
    u = rng.uniform
    root = _ry(u(-5, 8))
    arms = ("rest", "point", "reach", "wave", "hip", "face")
    right = {**_leg(u(-5, 15), u(0, 12), u(-15, 15), u(0, 20), root, flat=True), **_arm(rng, arms)}
    left = {**_leg(u(-5, 15), u(0, 12), u(-15, 15), u(0, 20), root, flat=True), **_arm(rng, arms)}
    return root, {"chest": torso(u(-8, 15), u(-10, 10), u(-30, 30)), "neck": torso(u(-20, 30), u(-10, 10), u(-50, 50)),
                  **_side(right, left)}


def _pose_bend(rng: np.random.Generator) -> KeyPose:
    u = rng.uniform
    pitch = u(30, 75)
    root = _ry(pitch)
    bend = u(0, 35)
    legs = [_leg(pitch + u(-10, 15), u(0, 15), u(-10, 10), u(0, 35), root, flat=True) for _ in range(2)]
    arms = ("rest", "reach", "rest")
    right = {**legs[0], **_arm(rng, arms, pitch + bend)}
    left = {**legs[1], **_arm(rng, arms, pitch + bend)}
    return root, {"chest": torso(bend, u(-10, 10), u(-20, 20)), "neck": torso(u(-40, 10), 0, u(-30, 30)),
                  **_side(right, left)}


def _pose_crouch(rng: np.random.Generator) -> KeyPose:
    u = rng.uniform
    pitch = u(5, 45)
    root = _ry(pitch)
    legs = [_leg(u(95, 135), u(5, 30), u(-15, 15), u(100, 145), root, flat=True) for _ in range(2)]
    arms = ("knees", "reach", "point", "rest")
    right = {**legs[0], **_arm(rng, arms, pitch)}
    left = {**legs[1], **_arm(rng, arms, pitch)}
    return root, {"chest": torso(u(0, 30), u(-10, 10), u(-20, 20)), "neck": torso(u(-40, 10), 0, u(-30, 30)),
                  **_side(right, left)}


def _pose_kneel(rng: np.random.Generator) -> KeyPose:
    u = rng.uniform
    pitch = u(-5, 25)
    root = _ry(pitch)

    def on_knee() -> dict[str, np.ndarray]:  # the shin about level on the floor behind the knee, toes pointed
        flex = u(-10, 40)
        leg = _leg(flex, u(0, 15), u(-10, 10), min(150.0, flex - pitch + u(75, 100)), root, flat=False)
        leg["ankle"] = _ry(u(60, 90))
        return leg

    right = on_knee()
    if rng.random() < 0.5:  # on one knee: the other foot flat in front, the shin upright
        flex = u(70, 100)
        left = _leg(flex, u(0, 15), u(-10, 10), max(0.0, flex - pitch + u(-15, 10)), root, flat=True)
    else:
        left = on_knee()
    arms = ("rest", "reach", "point", "thigh", "face")
    right.update(_arm(rng, arms))
    left.update(_arm(rng, arms))
    return root, {"chest": torso(u(0, 30), u(-10, 10), u(-20, 20)), "neck": torso(u(-20, 20), 0, u(-30, 30)),
                  **_side(right, left)}


def _pose_lie(rng: np.random.Generator, way: int | None = None) -> KeyPose:
    u = rng.uniform
    way = int(rng.integers(4)) if way is None else way  # back, front, right side, left side
    root = [_ry(-90.0), _ry(90.0), _rx(90.0), _rx(-90.0)][way] @ _rz(u(-10, 10))
    arms = ("rest", "reach", "face", "point", "hip")
    right = {**_leg(u(0, 60), u(0, 25), u(-20, 20), u(0, 100), root, flat=False), **_arm(rng, arms)}
    left = {**_leg(u(0, 60), u(0, 25), u(-20, 20), u(0, 100), root, flat=False), **_arm(rng, arms)}
    return root, {"chest": torso(u(-10, 20), u(-15, 15), u(-25, 25)), "neck": torso(u(-30, 40), 0, u(-60, 60)),
                  **_side(right, left)}


_SAMPLERS: dict[str, Callable[[np.random.Generator], KeyPose]] = {
    "sit": _pose_sit, "gesture": _pose_gesture, "bend": _pose_bend, "crouch": _pose_crouch,
    "kneel": _pose_kneel, "lie": _pose_lie,
}

# Body points for grounding: (parent chain, offset, margin above the floor in clip metres).
_MARGIN_TRUNK, _MARGIN_LIMB = 0.10, 0.05


def body_points(root_rot: np.ndarray, local: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics of the clips' humanoid with the root at the origin.

    Args:
        root_rot: (3, 3) pelvis orientation (world from body).
        local: local rotation (3, 3) of each joint name in :data:`motions.JOINTS`.
    Returns:
        points (N, 3) clip metres: pelvis, chest, neck, head, hips, knees, ankles, heels, toes,
        shoulders, elbows, wrists; and margins (N,): how far above the floor each point must stay
        (the body's half-thickness there; 0 for the soles).
    """
    pts, margins = [np.zeros(3)], [_MARGIN_TRUNK]
    chest_r = root_rot @ local["chest"]
    chest = root_rot @ _ROOT_CHEST
    neck = chest + chest_r @ _CHEST_NECK
    neck_r = chest_r @ local["neck"]
    pts += [chest, neck, neck + neck_r @ _NECK_HEAD]
    margins += [_MARGIN_TRUNK, _MARGIN_TRUNK, _MARGIN_TRUNK]
    for side, m in (("right", np.eye(3)), ("left", _MIRROR)):
        hip_p = root_rot @ (m @ _ROOT_HIP)
        thigh_r = root_rot @ local[f"{side}_hip"]
        knee_p = hip_p + thigh_r @ _HIP_KNEE
        shin_r = thigh_r @ local[f"{side}_knee"]
        ankle_p = knee_p + shin_r @ _KNEE_ANKLE
        foot_r = shin_r @ local[f"{side}_ankle"]
        sh = chest + chest_r @ (m @ _CHEST_SHOULDER)
        upper_r = chest_r @ local[f"{side}_shoulder"]
        el = sh + upper_r @ _SHOULDER_ELBOW
        wr = el + upper_r @ local[f"{side}_elbow"] @ _ELBOW_WRIST
        pts += [hip_p, knee_p, ankle_p, ankle_p + foot_r @ _ANKLE_HEEL, ankle_p + foot_r @ _ANKLE_TOE, sh, el, wr]
        margins += [_MARGIN_TRUNK, _MARGIN_LIMB, _MARGIN_LIMB, 0.0, 0.0, _MARGIN_LIMB, _MARGIN_LIMB, 0.04]
    return np.asarray(pts), np.asarray(margins)


def grounded_height(root_rot: np.ndarray, local: dict[str, np.ndarray]) -> float:
    """Pelvis height (clip metres) that puts the lowest body point, margin included, on the floor."""
    pts, margins = body_points(root_rot, local)
    return float(np.max(margins - pts[:, 2]))


def key_pose(family: str, rng: np.random.Generator) -> KeyPose:
    """One random key pose of ``family`` (see :data:`FAMILIES`)."""
    if family not in _SAMPLERS:
        raise KeyError(f"unknown everyday pose family {family!r}; known: {list(FAMILIES)}")
    return _SAMPLERS[family](rng)


def is_everyday(name: str) -> bool:
    """Whether clip ``name`` is a procedural everyday clip (``everyday_<family>``)."""
    return name.startswith(PREFIX) and name[len(PREFIX):] in _SAMPLERS


def everyday_clips() -> list[str]:
    """Clip names of every family."""
    return [PREFIX + f for f in FAMILIES]


def make_clip(name: str, rng: np.random.Generator, fps: float = 30.0, keys: int = 8) -> Motion:
    """A looping clip of ``keys`` key poses of family ``name`` ("everyday_sit" or "sit"), each held
    0.6-2 s, with 0.4-1.2 s slerp transitions (the last one back to the first pose). The root
    stays at x = y = 0 and its height keeps the lowest body point on the floor; a lying clip keeps
    one side down."""
    family = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if family == "lie":  # one way of lying per clip: a slerp from the back to the front would stand up
        way = int(rng.integers(4))
        poses = [_pose_lie(rng, way) for _ in range(keys)]
    else:
        poses = [key_pose(family, rng) for _ in range(keys)]
    times, roots, locals_ = [], [], []
    t = 0.0
    for root, local in poses + poses[:1]:
        for hold in (0.0, rng.uniform(0.6, 2.0)):
            t += hold
            times.append(t)
            roots.append(root)
            locals_.append(np.stack([local[j] for j in JOINTS]))
        t += rng.uniform(0.4, 1.2)
    times = np.asarray(times[:-1])  # the closing pose is held by the loop's first frame
    n = max(2, int(np.floor(times[-1] * fps)) + 1)
    tq = np.minimum(np.arange(n) / fps, times[-1])
    roots_a = np.asarray(roots[:-1])
    locals_a = np.asarray(locals_[:-1])
    root_rot = Slerp(times, Rotation.from_matrix(roots_a))(tq).as_matrix()
    local = np.stack([Slerp(times, Rotation.from_matrix(locals_a[:, j]))(tq).as_matrix()
                      for j in range(len(JOINTS))], axis=1)
    local_d = [{j: local[i, k] for k, j in enumerate(JOINTS)} for i in range(n)]
    z = np.array([grounded_height(root_rot[i], local_d[i]) for i in range(n)])
    root_pos = np.zeros((n, 3))
    root_pos[:, 2] = z
    return Motion(name=PREFIX + family, fps=fps, root_pos=root_pos, root_rot=root_rot, local=local, loop=True)
