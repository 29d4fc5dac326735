"""Core types with answers known by hand: joint sets and maps, camera geometry, frames, metrics."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera, depth_to_metres, metres_to_depth
from unipose_ros.core.errors import CameraInfoError, EncodingError, SizeMismatchError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import BLAZEPOSE33_NAMES, COCO17, ITOP15, joint_map, joint_set
from unipose_ros.core.metrics import PoseEvaluator, match_people
from unipose_ros.core.pose import Modality, PersonPose

CAM = PinholeCamera(fx=600.0, fy=500.0, cx=320.0, cy=240.0, width=640, height=480)


# ---- joint sets ---------------------------------------------------------------------------------
def test_itop15_order_and_tree():
    assert len(ITOP15) == 15 and len(COCO17) == 17
    assert ITOP15.joints[0] == "head" and ITOP15.joints[8] == "torso" and ITOP15.joints[14] == "left_foot"
    assert ITOP15.root == ITOP15.index("torso")
    assert (ITOP15.index("neck"), ITOP15.index("head")) in ITOP15.bones
    assert len(ITOP15.tree_bones) == 14  # a tree over 15 joints
    perm = ITOP15.flip_permutation
    assert ITOP15.joints[perm[ITOP15.index("left_hand")]] == "right_hand"
    assert np.array_equal(perm[perm], np.arange(15))  # an involution


def test_unknown_names_raise_with_choices():
    with pytest.raises(KeyError, match="itop15"):
        ITOP15.index("nose")
    with pytest.raises(KeyError, match="coco17"):
        joint_set("smpl24")


def test_blazepose_to_itop_known_answer():
    pts = np.zeros((33, 3))
    idx = {n: i for i, n in enumerate(BLAZEPOSE33_NAMES)}
    pts[idx["left_shoulder"]] = [1.0, 0.0, 2.0]
    pts[idx["right_shoulder"]] = [-1.0, 0.0, 2.0]
    pts[idx["left_hip"]] = [1.0, 2.0, 2.0]
    pts[idx["right_hip"]] = [-1.0, 2.0, 2.0]
    pts[idx["left_ear"]] = [0.2, -1.0, 2.0]
    pts[idx["right_ear"]] = [-0.2, -1.0, 2.0]
    out = joint_map("blazepose33", "itop15").apply(pts)
    assert out.shape == (15, 3)
    np.testing.assert_allclose(out[ITOP15.index("neck")], [0.0, 0.0, 2.0])
    np.testing.assert_allclose(out[ITOP15.index("torso")], [0.0, 1.0, 2.0])  # mid of neck and mid-hip
    np.testing.assert_allclose(out[ITOP15.index("head")], [0.0, -1.0, 2.0])
    np.testing.assert_allclose(out[ITOP15.index("left_hip")], [1.0, 2.0, 2.0])


def test_joint_map_confidence_is_weakest_source_and_batches():
    m = joint_map("coco17", "itop15")
    conf = np.ones(17)
    conf[COCO17.index("left_hip")] = 0.2
    out = m.apply_confidence(conf)
    assert out[ITOP15.index("torso")] == pytest.approx(0.2)
    assert out[ITOP15.index("left_hip")] == pytest.approx(0.2)
    assert out[ITOP15.index("neck")] == pytest.approx(1.0)
    batch = np.random.default_rng(0).normal(size=(4, 17, 2))
    np.testing.assert_allclose(m.apply(batch)[2], m.apply(batch[2]))  # batched == single
    assert np.allclose(m.weights.sum(axis=1), 1.0)


def test_blazepose_to_coco_is_a_selection():
    pts = np.arange(33 * 2, dtype=np.float64).reshape(33, 2)
    out = joint_map("blazepose33", "coco17").apply(pts)
    for j, name in enumerate(COCO17.joints):
        np.testing.assert_array_equal(out[j], pts[BLAZEPOSE33_NAMES.index(name)])


# ---- camera -------------------------------------------------------------------------------------
def test_project_known_answer_and_round_trip():
    p = np.array([[0.5, -0.25, 2.0], [0.0, 0.0, 1.0]])
    uv = CAM.project(p)
    np.testing.assert_allclose(uv[0], [320 + 600 * 0.25, 240 - 500 * 0.125])
    np.testing.assert_allclose(uv[1], [320, 240])
    np.testing.assert_allclose(CAM.backproject(uv, p[:, 2]), p)
    assert np.isnan(CAM.project(np.array([0.0, 0.0, -1.0]))).all()  # behind the camera


def test_rays_are_unit_and_point_through_pixels():
    uv = np.array([[10.0, 20.0], [600.0, 400.0]])
    r = CAM.rays(uv)
    np.testing.assert_allclose(np.linalg.norm(r, axis=-1), 1.0)
    np.testing.assert_allclose(CAM.project(r * 3.0), uv)


def test_depth_units_rep118():
    raw = np.array([[0, 1000], [1500, 65535]], dtype=np.uint16)
    m = depth_to_metres(raw, "16UC1")
    assert np.isnan(m[0, 0]) and m[0, 1] == pytest.approx(1.0) and m[1, 0] == pytest.approx(1.5)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(metres_to_depth(m, "16UC1"), raw)
    every = np.arange(65536, dtype=np.uint16)  # every value, also big-endian: mm * 0.001 in float32
    want = every.astype(np.float32) * np.float32(0.001)
    want[0] = np.nan
    np.testing.assert_array_equal(depth_to_metres(every, "16UC1"), want)
    np.testing.assert_array_equal(depth_to_metres(every.astype(">u2"), "mono16"), want)
    f = np.array([[0.0, np.nan], [np.inf, 2.5]], dtype=np.float32)
    mf = depth_to_metres(f, "32FC1")
    assert np.isnan(mf[:1]).all() and np.isnan(mf[1, 0]) and mf[1, 1] == pytest.approx(2.5)
    with pytest.raises(EncodingError, match="16UC1"):
        depth_to_metres(raw, "8UC1")


def test_depth_to_points_known_pixel():
    cam = PinholeCamera(fx=100.0, fy=100.0, cx=1.0, cy=1.0, width=3, height=3)
    depth = np.full((3, 3), np.nan, dtype=np.float32)
    depth[0, 2] = 2.0  # u=2, v=0
    pts = cam.depth_to_points(depth)
    np.testing.assert_allclose(pts, [[0.02, -0.02, 2.0]], rtol=1e-6)
    org = cam.depth_to_points(depth, organized=True)
    assert org.shape == (3, 3, 3) and np.isnan(org[1, 1]).all()
    with pytest.raises(CameraInfoError, match="camera_info"):
        cam.depth_to_points(np.zeros((4, 3), dtype=np.float32))


def test_camera_info_validation_and_scaling():
    class Info:  # the fields of sensor_msgs/CameraInfo that the model reads
        k = [0.0] * 9
        width, height = 640, 480

    with pytest.raises(CameraInfoError, match="all-zero K"):
        PinholeCamera.from_camera_info(Info())
    Info.k = [600.0, 0, 320.0, 0, 500.0, 240.0, 0, 0, 1]
    assert PinholeCamera.from_camera_info(Info()) == CAM
    half = CAM.scaled(0.5)
    assert (half.width, half.height, half.fx) == (320, 240, 300.0)
    p = np.array([0.3, 0.1, 2.0])
    np.testing.assert_allclose((half.project(p) + 0.5) * 2 - 0.5, CAM.project(p))


# ---- frames and poses ---------------------------------------------------------------------------
def test_frame_validation_messages():
    rgb = np.zeros((480, 640, 3), np.uint8)
    RGBDFrame(1, "cam", CAM, rgb=rgb, depth=np.ones((480, 640), np.float32)).validate()
    with pytest.raises(SizeMismatchError, match="aligned_depth_to_color"):
        RGBDFrame(1, "cam", CAM, rgb=rgb, depth=np.ones((240, 320), np.float32)).validate()
    with pytest.raises(CameraInfoError):
        RGBDFrame(1, "cam", CAM, rgb=np.zeros((240, 320, 3), np.uint8)).validate()


def test_person_pose_checks_shapes():
    PersonPose(0, ITOP15, np.zeros((15, 3)), np.ones(15), Modality.DEPTH)
    with pytest.raises(ValueError, match="itop15 has 15 joints"):
        PersonPose(0, ITOP15, np.zeros((17, 3)), np.ones(17))


# ---- metrics ------------------------------------------------------------------------------------
def test_metrics_known_answer():
    gt = [np.zeros((15, 3)), np.full((15, 3), 3.0)]
    pred_a = gt[0].copy()
    pred_a[:, 0] += 0.05  # every joint 5 cm off
    pred_a[0, 0] += 0.10  # head 15 cm off
    ev = PoseEvaluator(ITOP15.joints)
    ev.add_frame([pred_a], gt, root=ITOP15.root)  # second GT person missed
    s = ev.summary()
    assert s["matched"] == 1 and s["missed"] == 1
    assert s["mpjpe_mm"] == pytest.approx((14 * 50 + 150) / 15)
    # 14 of 30 GT joints within 10 cm (head too far, the missed person counts as outside)
    assert s["map_10cm"] == pytest.approx(14 / 30)
    assert s["per_joint_mpjpe_mm"]["head"] == pytest.approx(150)
    assert s["root_relative_mpjpe_mm"] == pytest.approx(100 / 15)


def test_match_people_prefers_nearest_and_gates():
    gt = [np.zeros((3, 3)), np.ones((3, 3))]
    pred = [np.ones((3, 3)) + 0.01, np.zeros((3, 3)) - 0.01, np.full((3, 3), 9.0)]
    assert sorted(match_people(pred, gt)) == [(0, 1), (1, 0)]
    assert match_people([], gt) == []
