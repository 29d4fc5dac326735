"""SkeletonTracker: stable ids through crossings, new ids for newcomers, empty frames."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.joints import ITOP15
from unipose_ros.core.pose import PersonPose
from unipose_ros.core.tracking import SkeletonTracker, path_distance, pose_anchor

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


def _walker(x: float, z: float = 3.0):
    from unipose_ros.core.joints import ITOP15
    from unipose_ros.core.pose import PersonPose

    j = np.zeros((len(ITOP15), 3), np.float32) + np.array([x, 0.0, z], np.float32)
    j[:, 1] = np.linspace(-0.8, 0.8, len(ITOP15))
    return PersonPose(track_id=-1, joint_set=ITOP15, joints=j, confidence=np.ones(len(ITOP15), np.float32))


def test_expiry_in_seconds_whatever_the_frame_rate():
    tr = SkeletonTracker(max_age_s=0.5, max_missed=1000)
    first = tr.update([_walker(0.0)], stamp_s=10.0)[0].track_id
    assert tr.update([], stamp_s=10.4) == [] and len(tr.tracks) == 1      # 0.4 s unseen: kept
    assert tr.update([_walker(0.05)], stamp_s=10.45)[0].track_id == first
    tr.update([], stamp_s=10.9)
    tr.update([], stamp_s=11.0)                                           # 0.55 s unseen: gone
    assert tr.tracks == [] and tr.update([_walker(0.05)], stamp_s=11.05)[0].track_id != first


def test_velocity_in_metres_per_second_predicts_across_dropped_frames():
    tr = SkeletonTracker(gate_m=0.3, max_age_s=2.0)
    for k in range(5):  # 1 m/s at 10 Hz
        tid = tr.update([_walker(0.1 * k)], stamp_s=0.1 * k)[0].track_id
    # 0.5 s of dropped frames: 0.5 m further, beyond the gate unless the prediction uses seconds
    assert tr.update([_walker(0.9)], stamp_s=0.9)[0].track_id == tid


def test_min_hits_hides_the_id_of_a_one_frame_ghost_and_backwards_stamps_are_safe():
    tr = SkeletonTracker(min_hits=3, max_age_s=1.0)
    ids = [tr.update([_walker(0.0)], stamp_s=0.1 * k)[0].track_id for k in range(4)]
    assert ids[:2] == [-1, -1] and ids[2] == ids[3] >= 0
    ghost = tr.update([_walker(0.0), _walker(2.0)], stamp_s=0.4)
    assert ghost[0].track_id == ids[3] and ghost[1].track_id == -1
    out = tr.update([_walker(0.02)], stamp_s=0.0)  # a stamp that goes back: no crash, same id
    assert out[0].track_id == ids[3] and np.isfinite(tr.tracks[0].velocity).all()


def test_one_euro_smoothing_removes_jitter_and_its_lag_is_bounded():
    from unipose_ros.core.one_euro import OneEuroFilter

    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.7)
    still = [f(np.array([[0.0, 0.0, 3.0]]) + rng.normal(0, 0.01, (1, 3)), k / 30) for k in range(90)]
    assert np.std(np.array(still)[30:, 0, 0]) < 0.4 * 0.01          # jitter at rest cut by > 60 %
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.7)
    moving = [f(np.array([[k / 30, 0.0, 3.0]]), k / 30)[0, 0] for k in range(120)]  # 1 m/s
    lag_s = (120 - 1) / 30 - moving[-1]  # metres behind at 1 m/s = seconds of lag
    expected = 1 / (2 * np.pi * (1.0 + 0.7 * 1.0))
    assert 0.5 * expected < lag_s < 1.6 * expected, (lag_s, expected)
    tr = SkeletonTracker(smoothing=(1.0, 0.7))
    a = tr.update([_walker(0.0)], stamp_s=0.0)[0]
    b = tr.update([_walker(0.1)], stamp_s=1 / 30)[0]
    assert 0.0 < b.joints[0, 0] < 0.1 and a.track_id == b.track_id


def test_switch_count_of_three_people_passing_each_other_at_walking_speed():
    """Three people cross in front of the camera at 1.4 m/s, seen at 15 fps with 3 cm of joint
    noise: the tracker with the node's defaults keeps every id (the CLEAR-MOT count is 0), and
    the counter finds the switches of a tracker that names people by their image order."""
    from unipose_ros.ros.params import PoseNodeParams, make_tracker
    from unipose_training.evaluation.tracking import count_switches

    rng = np.random.default_rng(3)
    fps, speed = 15.0, 1.4
    starts = [(-1.5, 2.5, 1), (1.5, 2.8, -1), (-1.5, 3.1, 1)]  # x, z, direction
    frames = []
    for k in range(45):
        truth, detections = [], []
        for pid, (x0, z, sign) in enumerate(starts):
            x = x0 + sign * speed * k / fps + (0.3 if pid == 2 else 0.0)
            truth.append(person([x, 0.0, z], track_id=pid))
            noisy = person([x, 0.0, z])
            noisy.joints = noisy.joints + rng.normal(0, 0.03, noisy.joints.shape).astype(np.float32)
            detections.append(noisy)
        frames.append((k / fps, detections[::-1] if k % 2 else detections, truth))
    tracker = make_tracker(PoseNodeParams())
    result = count_switches((tracker.update(d, stamp_s=t), g) for t, d, g in frames)
    assert result["matched_person_frames"] == 3 * 45 and result["close_person_frames"] > 0
    assert result["id_switches"] == 0

    def by_image_order(dets):  # ids by x order: swaps whenever two people pass
        order = np.argsort([float(d.joints[ITOP15.root, 0]) for d in dets])
        out = list(dets)
        for rank, i in enumerate(order):
            out[i] = PersonPose(track_id=rank, joint_set=ITOP15, joints=dets[i].joints, confidence=dets[i].confidence)
        return out

    naive = count_switches((by_image_order(d), g) for _, d, g in frames)
    assert naive["id_switches"] >= 4
    # matched in (almost) every frame: CLEAR-MOT keeps a pair while it is within 0.5 m, so where
    # two people meet one of them may go unmatched for a frame
    assert max(naive["switch_gaps"]) <= 2 and naive["matched_person_frames"] >= 3 * 45 - 2
    # all people stand 2.5-3.1 m deep: one distance bin holds every person-frame
    rows = {(b["from_m"], b["to_m"]): (b["gt_person_frames"], b["matched_person_frames"]) for b in naive["by_distance"]}
    assert rows[(2.0, 3.0)][0] + rows[(3.0, 4.0)][0] == 3 * 45 and rows[(2.0, 3.0)][0] == rows[(2.0, 3.0)][1]


def test_a_person_missed_longer_than_the_track_age_comes_back_with_a_new_id_and_the_gap_is_reported():
    from unipose_ros.ros.params import PoseNodeParams, make_tracker
    from unipose_training.evaluation.tracking import count_switches

    fps, frames = 15.0, []
    for k in range(50):
        truth = [person([-1.0 + 0.05 * k, 0.0, 4.5], track_id=0), person([1.0, 0.0, 2.5], track_id=1)]
        detections = [person(t.joints[ITOP15.root].tolist()) for t in truth]
        if 10 <= k < 40:  # the far person is missed for 30 frames (2 s, beyond tracker_max_age_s)
            detections = detections[1:]
        frames.append((k / fps, detections, truth))
    p = PoseNodeParams()
    assert 30 / fps > p.tracker_max_age_s
    tracker = make_tracker(p)
    result = count_switches((tracker.update(d, stamp_s=t), g, [not 10 <= round(t * fps) < 40, True])
                            for t, d, g in frames)  # ... because the depth image does not measure them
    assert result["id_switches"] == 1 and result["swaps"] == 0 and result["switch_gaps"] == [31]
    assert result["measured_person_frames"] == 100 - 30 == result["matched_measured_person_frames"]
    far = next(b for b in result["by_distance"] if b["from_m"] == 4.0)
    assert far["gt_person_frames"] == 50 and far["matched_person_frames"] == 20


def test_missed_people_are_split_into_not_detected_and_detected_without_a_skeleton():
    from unipose_ros.ros.params import PoseNodeParams, make_tracker
    from unipose_training.evaluation.tracking import count_switches, detected_people

    tracker, frames = make_tracker(PoseNodeParams()), []
    for k in range(20):
        truth = [person([-1.0, 0.0, 3.0], track_id=0), person([1.0, 0.0, 2.5], track_id=1)]
        centres = [t.joints[ITOP15.index("torso")] + np.array([0.1, 0.0, -0.2]) for t in truth]
        shown = [person(t.joints[ITOP15.root].tolist()) for t in truth]
        if 5 <= k < 10:  # the detector misses person 0
            centres, shown = centres[1:], shown[1:]
        if 12 <= k < 15:  # person 1 is detected, but no skeleton comes out (a score under the threshold)
            shown = shown[:1]
        found = detected_people(centres, truth)
        assert found == [not 5 <= k < 10, True]
        frames.append((tracker.update(shown, stamp_s=k / 15.0), truth, [True, True], found))
    result = count_switches(frames)
    assert result["missed_undetected"] == 5 and result["missed_detected"] == 3
    assert result["matched_measured_person_frames"] == 40 - 8
    assert detected_people([np.array([0.0, 0.0, 3.0])], [person([0.0, 0.0, 3.7])]) == [False]  # 0.7 m behind


def test_the_gate_of_an_unseen_track_widens_with_time():
    """Someone walking at 1 m/s sidesteps 0.9 m while the detector misses them for 1 s: they
    reappear 0.9 m from their path. A fixed 0.5 m gate gives them a new id; a gate that widens by
    0.6 m per unseen second (1.1 m after 1 s) keeps theirs."""
    def run(growth: float) -> list[int]:
        tr = SkeletonTracker(gate_m=0.5, max_age_s=2.0, gate_growth_mps=growth)
        ids = [tr.update([person([0.1 * k, 0.0, 3.0])], stamp_s=0.1 * k)[0].track_id for k in range(10)]
        ids.append(tr.update([person([1.4, 0.0, 3.9])], stamp_s=1.9)[0].track_id)
        return ids

    assert len(set(run(0.0))) == 2
    assert len(set(run(0.6))) == 1
    with pytest.raises(ValueError, match="gate_growth_mps"):
        SkeletonTracker(gate_growth_mps=-1.0)


def test_path_distance_known_answers():
    starts = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    ends = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])  # the second track does not move
    points = np.array([[1.0, 0.5, 0.0], [-1.0, 0.0, 0.0], [3.0, 0.0, 0.0], [1.0, 1.0, 2.0]])
    d = path_distance(points, starts, ends)
    assert d.shape == (4, 2)
    np.testing.assert_allclose(d[:, 0], [0.5, 1.0, 1.0, np.sqrt(5.0)])  # beside, before, after the segment
    np.testing.assert_allclose(d[:, 1], np.linalg.norm(points - starts[1], axis=1))


def test_a_person_who_turns_back_while_unseen_keeps_their_id():
    """Running at 3 m/s (0.2 m a frame at 15 fps), missed for 3 frames in which they turned back:
    they reappear 0.2 m behind where they were lost, 1.0 m from the constant-velocity prediction
    (0.8 m ahead), beyond a gate of 0.5 + 1.5 * 0.27 = 0.9 m. They are on the track's path (from
    where it was lost to the prediction), so the id is kept."""
    tr = SkeletonTracker(gate_m=0.5, max_age_s=1.5, gate_growth_mps=1.5)
    ids = [tr.update([person([-1.0 + 0.2 * k, 0.0, 3.5])], stamp_s=k / 15)[0].track_id for k in range(8)]
    lost_at = -1.0 + 0.2 * 7
    ids.append(tr.update([person([lost_at - 0.2, 0.0, 3.5])], stamp_s=11 / 15)[0].track_id)
    assert len(set(ids)) == 1


def test_prediction_is_held_after_the_horizon():
    """Someone walking at 1 m/s away from the camera is missed for 3 s; someone else appears 2.7 m
    beyond where they were lost. Carried on for 3 s, the lost person's path reaches 3 m beyond
    that point and passes through the newcomer, who would take the lost person's id. Extrapolated
    for at most 0.5 s, the path ends 0.5 m beyond it, 2.2 m from the newcomer, outside the
    0.5 + 0.5 * 3 = 2 m gate: the newcomer gets a new id."""
    def run(horizon):
        tr = SkeletonTracker(gate_m=0.5, max_age_s=5.0, gate_growth_mps=0.5, predict_horizon=horizon)
        ids = [tr.update([person([0.0, 0.0, 2.0 + 0.1 * k])], stamp_s=0.1 * k)[0].track_id for k in range(10)]
        ids.append(tr.update([person([0.0, 0.0, 2.9 + 2.7])], stamp_s=3.9)[0].track_id)
        return ids

    assert len(set(run(None))) == 1
    assert len(set(run(0.5))) == 2
    with pytest.raises(ValueError, match="predict_horizon"):
        SkeletonTracker(predict_horizon=-1.0)


def test_clear_mot_keeps_last_frames_pairs():
    """Two people overlap for a frame: B's track is missed and A's skeleton lies between them,
    a little nearer B. Matched anew in every frame that counts two switches (B to A's track and
    back); CLEAR-MOT keeps A's pair while it stays within 0.5 m, and no switch is counted."""
    from unipose_training.evaluation.tracking import count_switches

    a, b = np.array([0.0, 0.0, 3.0]), np.array([0.6, 0.0, 3.0])
    frames = []
    for k in range(6):
        truth = [person(a, track_id=0), person(b, track_id=1)]
        if k == 3:
            shown = [person(a + [0.32, 0.0, 0.0], track_id=10)]  # 0.32 m from A, 0.28 m from B
        else:
            shown = [person(a, track_id=10), person(b, track_id=11)]
        frames.append((shown, truth))
    result = count_switches(frames)
    assert result["id_switches"] == 0 and result["matched_person_frames"] == 11


def _painted(people: list[tuple[PersonPose, tuple[float, float, float]]]):
    """Colour and depth images of ``_walker`` people as vertical bands of their colour (5 px each
    side of their column), drawn far to near; 640x480, f 500."""
    from unipose_ros.core.camera import PinholeCamera
    from unipose_ros.core.frame import RGBDFrame

    cam = PinholeCamera(fx=500.0, fy=500.0, cx=320.0, cy=240.0, width=640, height=480)
    rgb = np.full((480, 640, 3), 128, np.uint8)
    depth = np.full((480, 640), np.nan, np.float32)
    for pose, colour in sorted(people, key=lambda pc: -float(pc[0].joints[0, 2])):
        x, _, z = pose.joints[0]
        u = int(round(320 + 500 * x / z))
        rgb[:, u - 5:u + 6] = np.array(colour) * 255
        depth[:, u - 5:u + 6] = z
    return RGBDFrame(stamp_ns=0, frame_id="camera", camera=cam, rgb=rgb, depth=depth)


def test_bone_colours_see_the_person_not_what_is_in_front_of_them():
    from unipose_ros.core.appearance import appearance_distance, bone_colours

    red = _walker(0.0)
    frame = _painted([(red, (1.0, 0.0, 0.0))])
    colours = bone_colours(red, frame.rgb, frame.depth, frame.camera)
    assert colours.shape == (len(ITOP15.tree_bones), 3)
    np.testing.assert_allclose(colours, np.tile([1.0, 0.0, 0.0], (len(colours), 1)), atol=1e-6)
    blue_in_front = _walker(0.0, z=2.0)  # covers the red person's band entirely
    both = _painted([(red, (1.0, 0.0, 0.0)), (blue_in_front, (0.0, 0.0, 1.0))])
    assert np.isnan(bone_colours(red, both.rgb, both.depth, both.camera)).all()  # hidden: no colour
    seen_anyway = bone_colours(red, both.rgb, None, both.camera)  # without depth the occluder colours it
    assert appearance_distance(seen_anyway, colours) == pytest.approx(np.sqrt(2.0), abs=1e-6)
    assert np.isnan(appearance_distance(colours, np.full_like(colours, np.nan)))


def test_clothes_colour_keeps_ids_when_two_people_meet_and_turn_back():
    """A (red) and B (blue) walk towards each other at 1 m/s, 5 cm apart in depth, meet, and
    both turn back. Right after, each is on the other's constant-velocity path, so matching by
    position alone swaps their ids; their colours keep them."""
    def run(weight):
        tr = SkeletonTracker(gate_m=0.5, max_age_s=1.0, appearance_weight=weight)
        xs = [-0.5 + 0.1 * k for k in range(6)] + [0.5 - 0.1 * k for k in range(6, 11)]  # 0 at k = 5
        ids = []
        for k, x in enumerate(xs):
            a, b = _walker(x, 3.0), _walker(-x, 3.05)
            out = tr.update([a, b], stamp_s=0.1 * k, frame=_painted([(a, (1.0, 0.0, 0.0)), (b, (0.0, 0.0, 1.0))]))
            ids.append((out[0].track_id, out[1].track_id))
        return ids

    by_position = run(0.0)
    assert by_position[-1] != by_position[0]  # the test case does swap without colour
    with_colour = run(1.0)
    assert set(with_colour) == {with_colour[0]}
    with pytest.raises(ValueError, match="appearance_weight"):
        SkeletonTracker(appearance_weight=-1.0)


def test_same_clothes_widen_the_gate_for_someone_found_again_off_their_path():
    """A red person standing at x = 0 is missed for 0.3 s and reappears 0.9 m to the side, beyond
    the widened gate (0.5 + 1.0 * 0.3 = 0.8 m). With ``reid_gate_m`` 0.3 the same clothes keep
    their id; a blue person appearing there instead still gets a new one."""
    def run(reid_gate_m, colour):
        tr = SkeletonTracker(gate_m=0.5, max_age_s=1.0, gate_growth_mps=1.0, appearance_weight=1.0,
                             reid_gate_m=reid_gate_m)
        red = _walker(0.0)
        first = [tr.update([red], stamp_s=0.1 * k, frame=_painted([(red, (1.0, 0.0, 0.0))]))[0].track_id
                 for k in range(3)]
        tr.update([], stamp_s=0.3)
        tr.update([], stamp_s=0.4)
        back = _walker(0.9)
        again = tr.update([back], stamp_s=0.5, frame=_painted([(back, colour)]))[0].track_id
        return first[0], again

    assert len(set(run(0.0, (1.0, 0.0, 0.0)))) == 2  # beyond the gate: a new id without re-identification
    assert len(set(run(0.3, (1.0, 0.0, 0.0)))) == 1
    assert len(set(run(0.3, (0.0, 0.0, 1.0)))) == 2  # someone else
    with pytest.raises(ValueError, match="reid_gate_m"):
        SkeletonTracker(reid_gate_m=-0.1)
