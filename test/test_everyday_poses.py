"""Procedural everyday poses: anatomy of the key poses, grounding, and their share in recordings."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.synthetic import everyday as ev
from unipose_ros.synthetic import motions as mo
from unipose_ros.synthetic.recording import plan_motion


def _points(motion: mo.Motion, i: int) -> np.ndarray:
    local = {j: motion.local[i, k] for k, j in enumerate(mo.JOINTS)}
    pts, _ = ev.body_points(motion.root_rot[i], local)
    return pts + motion.root_pos[i]


# indices into body_points: 0 pelvis, 3 head, per side (right from 4, left from 12): hip, knee,
# ankle, heel, toe, shoulder, elbow, wrist
HEAD, R_KNEE, R_HEEL, L_HEEL = 3, 5, 7, 15


def test_known_angles_move_the_limbs_the_stated_way() -> None:
    down = np.array([0.0, 0.0, -1.0])
    assert ev.hip(90) @ down == pytest.approx([1, 0, 0], abs=1e-9)            # thigh forward
    assert ev.knee(90) @ down == pytest.approx([-1, 0, 0], abs=1e-9)          # shin back
    assert ev.elbow(90) @ down == pytest.approx([1, 0, 0], abs=1e-9)          # forearm forward
    assert ev.shoulder(90, -90) @ down == pytest.approx([0, -1, 0], abs=1e-9)  # right arm out to the right
    assert ev.shoulder(180 - 1e-6, 0) @ down == pytest.approx([0, 0, 1], abs=1e-6)  # arm straight up
    assert ev.torso(90) @ np.array([0.0, 0, 1]) == pytest.approx([1, 0, 0], abs=1e-9)  # chest bends forward


@pytest.mark.parametrize("family", ev.FAMILIES)
def test_every_family_rests_on_the_floor_and_keeps_its_shape(family: str) -> None:
    clip = ev.make_clip(family, np.random.default_rng(3), keys=5)
    assert clip.loop and clip.name == ev.PREFIX + family and len(clip) > 30
    knee_down = []
    for i in range(0, len(clip), 7):
        pts = _points(clip, i)
        _, margins = ev.body_points(clip.root_rot[i], {j: clip.local[i, k] for k, j in enumerate(mo.JOINTS)})
        # the lowest point (margin included) touches the floor, nothing is below it
        assert np.min(pts[:, 2] - margins) == pytest.approx(0.0, abs=1e-6)
        # rotations stay rotations
        assert np.allclose(clip.local[i] @ np.swapaxes(clip.local[i], -1, -2), np.eye(3), atol=1e-6)
        height = pts[:, 2].max()
        if family == "gesture":           # standing: head ~1.5 m up (clip scale), both soles on the floor
            assert pts[HEAD, 2] > 1.3 and max(pts[R_HEEL, 2], pts[L_HEEL, 2]) < 0.08
        elif family == "lie":             # lying: pelvis and chest low, the head at most raised
            assert pts[[0, 1], 2].max() < 0.4 and pts[HEAD, 2] < 0.7
        elif family in ("sit", "crouch"):
            assert pts[0, 2] < 0.75 and height < 1.45
        elif family == "kneel":
            knee_down.append(min(pts[R_KNEE, 2], pts[R_KNEE + 8, 2]) < 0.2)
    if family == "kneel":  # a knee on the floor while the pose is held (not while getting up or down)
        assert np.mean(knee_down) > 0.5


def test_plan_motion_draws_the_everyday_share() -> None:
    rng = np.random.default_rng(0)
    clips = {n: mo.load_clip(n) for n in ("walk", "punch")}
    clips.update({n: ev.make_clip(n, rng, keys=3) for n in ev.everyday_clips()})
    names = []
    for seed in range(40):
        m = plan_motion(np.random.default_rng(seed), clips, 200, 6.0, (2.0, 4.0, -1.0, 1.0), everyday=0.4)
        names += [p.split("~")[0].split("+")[0] for p in m.name.split("|")]
    share = np.mean([ev.is_everyday(n) for n in names])
    assert 0.3 < share < 0.5, share
    none = plan_motion(np.random.default_rng(1), clips, 200, 6.0, (2.0, 4.0, -1.0, 1.0), everyday=0.0)
    assert not any(ev.is_everyday(p.split("~")[0]) for p in none.name.split("|"))


def test_unknown_family_is_named() -> None:
    with pytest.raises(KeyError, match="sit"):
        ev.key_pose("yoga", np.random.default_rng(0))
