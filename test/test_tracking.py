"""SkeletonTracker: stable ids through crossings, new ids for newcomers, empty frames."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.joints import ITOP15
from unipose_ros.core.pose import PersonPose
from unipose_ros.core.tracking import SkeletonTracker, pose_anchor

OFFSETS = np.random.default_rng(0).normal(0, 0.2, (len(ITOP15), 3))


def person(root, track_id: int = -1) -> PersonPose:
    joints = np.asarray(root, dtype=np.float32) + OFFSETS
    joints[ITOP15.root] = root
    return PersonPose(track_id=track_id, joint_set=ITOP15, joints=joints,
                      confidence=np.ones(len(ITOP15)))


def test_first_frame_gets_ids_0_1():
    tr = SkeletonTracker()
    out = tr.update([person([0, 0, 2]), person([1, 0, 3])])
    assert [p.track_id for p in out] == [0, 1]


def test_input_not_modified():
    tr = SkeletonTracker()
    p = person([0, 0, 2])
    tr.update([p])
    assert p.track_id == -1


@pytest.mark.parametrize("dz", [0.0, 0.3])
def test_two_people_crossing_keep_ids(dz):
    """A walks left to right, B right to left, 2 cm per frame; paths cross (same depth when dz=0)."""
    tr = SkeletonTracker(gate_m=0.5, max_missed=5)
    ids_a, ids_b = [], []
    for k in range(101):
        x = -1.0 + 0.02 * k
        a, b = person([x, 0.0, 3.0]), person([-x, 0.0, 3.0 + dz])
        order = [b, a] if k % 2 else [a, b]  # detection order must not matter
        out = tr.update(order)
        oa, ob = (out[1], out[0]) if k % 2 else (out[0], out[1])
        ids_a.append(oa.track_id)
        ids_b.append(ob.track_id)
    assert set(ids_a) == {ids_a[0]} and set(ids_b) == {ids_b[0]} and ids_a[0] != ids_b[0]


def test_person_leaves_and_new_one_gets_new_id():
    tr = SkeletonTracker(gate_m=0.5, max_missed=3)
    first = tr.update([person([0, 0, 2])])[0].track_id
    for _ in range(2):  # a short dropout keeps the id
        assert tr.update([]) == []
    assert tr.update([person([0.05, 0, 2])])[0].track_id == first
    for _ in range(5):  # gone for longer than max_missed: the track expires
        tr.update([])
    assert tr.tracks == []
    new = tr.update([person([0.05, 0, 2])])[0].track_id
    assert new != first


def test_new_person_while_first_is_live_never_reuses_live_id():
    tr = SkeletonTracker(gate_m=0.5)
    a = tr.update([person([0, 0, 2])])[0].track_id
    out = tr.update([person([0, 0, 2]), person([2, 0, 4])])
    assert out[0].track_id == a and out[1].track_id not in (a, -1)


def test_gate_rejects_jumps():
    tr = SkeletonTracker(gate_m=0.5)
    a = tr.update([person([0, 0, 2])])[0].track_id
    b = tr.update([person([1.0, 0, 2])])[0].track_id
    assert b != a
    assert len(tr.tracks) == 2  # the first is coasting, not yet expired


def test_empty_frames_and_nan_pose():
    tr = SkeletonTracker()
    assert tr.update([]) == []
    bad = person([0, 0, 2])
    bad.joints[:] = np.nan
    out = tr.update([bad])
    assert out[0].track_id == -1 and tr.tracks == []


def test_anchor_falls_back_to_weighted_mean():
    p = person([0, 0, 2])
    p.joints[ITOP15.root] = np.nan
    anchor = pose_anchor(p)
    finite = np.isfinite(p.joints).all(axis=1)
    np.testing.assert_allclose(anchor, p.joints[finite].mean(axis=0), atol=1e-6)


def test_bad_parameters():
    with pytest.raises(ValueError):
        SkeletonTracker(gate_m=0)
