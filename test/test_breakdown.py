"""Evaluation breakdown: view of a person, the left/right swap oracle, detection counts (known
answers on hand-made skeletons)."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.joints import ITOP15
from unipose_training.evaluation.breakdown import Breakdown, person_view, swap_errors


def skeleton(facing_camera: bool = True, yaw_deg: float = 0.0, z: float = 3.0) -> np.ndarray:
    """A T-pose-ish ITOP-15 skeleton at depth ``z`` (optical frame: x right, y down), facing the
    camera or turned by ``yaw_deg`` about the vertical axis."""
    # person's own frame: x to their left, y up, z forward (towards the camera when facing it)
    own = {"head": (0, 0.65, 0), "neck": (0, 0.45, 0), "right_shoulder": (-0.2, 0.42, 0), "left_shoulder": (0.2, 0.42, 0),
           "right_elbow": (-0.45, 0.42, 0), "left_elbow": (0.45, 0.42, 0), "right_hand": (-0.7, 0.42, 0),
           "left_hand": (0.7, 0.42, 0), "torso": (0, 0.2, 0), "right_hip": (-0.12, 0, 0), "left_hip": (0.12, 0, 0),
           "right_knee": (-0.12, -0.45, 0), "left_knee": (0.12, -0.45, 0), "right_foot": (-0.12, -0.9, 0),
           "left_foot": (0.12, -0.9, 0)}
    a = np.radians(yaw_deg + (0.0 if facing_camera else 180.0))
    out = []
    for name in ITOP15.joints:
        x, y, _ = own[name]
        # facing the camera: the person's left (+x own) is the camera's right (+x optical)
        xr = x * np.cos(a)
        zr = -x * np.sin(a)
        out.append((xr, -y, z + zr))
    return np.asarray(out)


@pytest.mark.parametrize("facing,yaw,view", [(True, 0, "front"), (True, 30, "front"), (True, 90, "side"),
                                             (False, 0, "back"), (False, -20, "back"), (True, 150, "back"),
                                             (True, 120, "side")])
def test_person_view(facing, yaw, view):
    assert person_view(skeleton(facing, yaw)) == view


def test_swap_oracle_known_answer():
    gt = skeleton()
    swapped = gt[ITOP15.flip_permutation]
    e, s = swap_errors(swapped, gt)
    assert e.max() > 0.3 and s.max() == pytest.approx(0.0)
    b = Breakdown()
    b.add("generic", [swapped, gt + [3.0, 0, 0]], [gt])  # one swapped person, one false person
    row = b.table("view")["front"]
    assert row["swap_rate"] == 1.0 and row["swap_oracle_mpjpe_mm"] == pytest.approx(0.0)
    assert row["mpjpe_mm"] == pytest.approx(1e3 * e.mean())
    d = b.detection()["all"]
    assert (d["recall"], d["precision"], d["false_person_frames"]) == (1.0, 0.5, 1.0)
    b.add("generic", [], [gt])  # a miss: counted in mAP as 0, not in MPJPE
    assert b.detection()["generic"]["recall"] == 0.5
    row = b.table("sensor")["generic"]
    assert row["people"] == 2 and row["missed"] == 1
    assert row["map_10cm"] == pytest.approx(0.5 * float((e < 0.1).mean()))
    assert row["mpjpe_mm"] == pytest.approx(1e3 * e.mean())


def test_per_motion_table_and_labels_file(tmp_path):
    import json

    from unipose_training.evaluation.breakdown import MotionLabels

    gt = skeleton()
    b = Breakdown()
    b.add("generic", [gt + 0.05], [gt, gt + [2.0, 0, 0]], ["everyday_sit", "walk"])  # sitter found, walker missed
    t = b.table("motion")
    assert t["everyday_sit"]["missed"] == 0 and t["everyday_sit"]["mpjpe_mm"] == pytest.approx(1e3 * np.sqrt(3) * 0.05)
    assert t["walk"]["missed"] == 1 and t["walk"]["map_10cm"] == 0.0 and t["all"]["people"] == 2
    # labels of a recording: frame index from the stamp, clip family of the segment name
    (tmp_path / "motion_labels.json").write_text(json.dumps(
        {"fps": 2.0, "start_stamp_ns": 1000, "people": [["walk~mirror", "walk~mirror+punch", "everyday_lie"],
                                                        ["run", "run", "run"]]}))
    labels = MotionLabels(tmp_path)
    assert labels(1000 + 500_000_000, [0, 1, 5]) == ["walk", "run", "unknown"]
    assert labels(1000 + 1_000_000_000, [0]) == ["everyday_lie"]
    assert MotionLabels(tmp_path / "none")(0, [0]) == ["unknown"]


def test_people_beyond_the_depth_range_are_told_apart():
    """A person whose joints have no measured depth around them (past the sensor's range) is
    'beyond range'; the same person in a depth image that measures their body is 'measured', and
    the breakdown keeps both groups apart."""
    from unipose_ros.core.camera import PinholeCamera
    from unipose_ros.core.metrics import MIN_DEPTH_SUPPORTED_JOINTS, depth_supported_joints

    cam = PinholeCamera(fx=300.0, fy=300.0, cx=160.0, cy=120.0, width=320, height=240)
    gt = skeleton(z=3.0)                              # 3 m away
    assert np.all(gt[:, 2] > 2.0)
    empty = np.full((240, 320), np.nan, np.float32)   # beyond range: nothing measured
    wall = np.full((240, 320), 6.0, np.float32)       # a wall behind, the person not measured
    body = np.full((240, 320), 6.0, np.float32)
    uv = np.rint(cam.project(gt)).astype(int)
    for (u, v), z in zip(uv, gt[:, 2]):
        body[v - 1:v + 2, u - 1:u + 2] = z           # depth on every joint
    assert depth_supported_joints(gt, empty, cam) == 0 and depth_supported_joints(gt, wall, cam) == 0
    assert depth_supported_joints(gt, body, cam) == len(gt) >= MIN_DEPTH_SUPPORTED_JOINTS
    b = Breakdown()
    b.add("generic", [gt + 0.02], [gt, gt + [1.0, 0, 0]], measured=[True, False])
    t = b.table("depth")
    assert t["measured"]["missed"] == 0 and t["beyond range"]["missed"] == 1 and t["all"]["people"] == 2
