"""Depth lookup (known answers), depth person proposals, and the baseline estimator end to end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.depth_lookup import DepthLookupConfig, DepthSource, lift_keypoints, nearest_mode
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import ITOP15
from unipose_ros.core.person_proposals import propose_people
from unipose_ros.core.pose import Modality

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CAM = PinholeCamera.from_fov(640, 480, 60.0)
CFG = DepthLookupConfig()
BOX = (250, 100, 390, 400)  # u0, v0, u1, v1 of the person-like box


def scene(box_z: float = 1.5, wall_z: float = 2.0) -> np.ndarray:
    d = np.full((480, 640), wall_z, np.float32)
    d[BOX[1]:BOX[3], BOX[0]:BOX[2]] = box_z
    return d


def column_keypoints() -> np.ndarray:
    """ITOP-15 keypoints on a vertical line through the box, head at the top."""
    return np.array([[320.0, 120.0 + 18 * i] for i in range(15)])


def expected_z(uv: np.ndarray, surface_z: float) -> np.ndarray:
    """Surface at ``surface_z`` pushed along the ray by each joint's radius."""
    radii = np.array([CFG.joint_radius_m[n] for n in ITOP15.joints])
    return surface_z + radii * CAM.rays(uv)[:, 2]


def test_nearest_mode_picks_nearest_substantial_cluster():
    vals = np.array([1.0, 1.01, 1.02, 2.0, 2.0, 2.01, 2.02, 0.5])  # one stray near pixel
    z, w = nearest_mode(vals, np.ones_like(vals), gap=0.06, min_fraction=0.2)
    assert z == pytest.approx(1.01) and w == 3
    assert nearest_mode(np.empty(0), np.empty(0), 0.06, 0.2) is None


def test_keypoints_on_box_get_box_depth_plus_radius():
    uv = column_keypoints()
    res = lift_keypoints(scene(), CAM, uv, np.ones(15), ITOP15)
    np.testing.assert_allclose(res.joints[:, 2], expected_z(uv, 1.5), atol=1e-4)
    assert np.all(res.source == DepthSource.WINDOW)
    assert res.reference_depth == pytest.approx(1.5)
    np.testing.assert_allclose(res.confidence, 1.0)
    # x, y lie on the rays through the keypoints
    np.testing.assert_allclose(CAM.project(res.joints), uv, atol=1e-3)


def test_background_in_window_is_rejected():
    uv = column_keypoints()
    uv[6] = [BOX[0] + 1, 300]  # right hand on the box's left edge: half the window is wall
    uv[7] = [BOX[2] - 2, 300]
    res = lift_keypoints(scene(wall_z=1.9), CAM, uv, np.ones(15), ITOP15)
    np.testing.assert_allclose(res.joints[[6, 7], 2], expected_z(uv, 1.5)[[6, 7]], atol=1e-4)
    assert np.all(res.support[[6, 7]] > 0.3)


def test_hole_falls_back_along_the_bone():
    uv = column_keypoints()
    d = scene()
    u, v = uv[6].astype(int)  # right hand; its parent (right elbow) is 18 px above
    d[v - 14:v + 14, u - 14:u + 14] = np.nan
    res = lift_keypoints(d, CAM, uv, np.ones(15), ITOP15)
    assert res.source[6] == DepthSource.BONE
    assert res.joints[6, 2] == pytest.approx(expected_z(uv, 1.5)[6], abs=1e-4)
    assert res.confidence[6] < res.confidence[4]


def test_joint_off_the_person_with_no_depth_takes_person_depth():
    uv = column_keypoints()
    d = scene()
    d[:, :200] = np.nan
    uv[8] = [100, 250]  # torso is the root: no bone to fall back on
    res = lift_keypoints(d, CAM, uv, np.ones(15), ITOP15)
    assert res.source[8] == DepthSource.PERSON
    assert res.joints[8, 2] == pytest.approx(expected_z(uv, 1.5)[8], abs=1e-3)
    assert res.confidence[8] == pytest.approx(CFG.no_depth_confidence)


def test_all_nan_depth_low_confidence_and_no_crash():
    uv = column_keypoints()
    conf = np.full(15, 0.9)
    res = lift_keypoints(np.full((480, 640), np.nan, np.float32), CAM, uv, conf, ITOP15)
    assert np.isfinite(res.joints).all()
    assert np.all(res.source == DepthSource.SIZE_PRIOR) and np.isnan(res.reference_depth)
    np.testing.assert_allclose(res.confidence, 0.9 * CFG.no_depth_confidence, rtol=1e-5)
    trunk_px = abs(uv[ITOP15.index("left_hip"), 1] - uv[ITOP15.index("left_shoulder"), 1])
    surface = CAM.fx * CFG.trunk_length_m / trunk_px
    assert res.joints[ITOP15.index("neck"), 2] == pytest.approx(surface + 0.07, abs=0.01)


def test_occluder_in_front_outside_person_range_is_ignored():
    uv = column_keypoints()
    d = scene()
    d[150:170, 300:340] = 0.3  # a thing 1.2 m in front of the person, covering the neck window
    res = lift_keypoints(d, CAM, uv, np.ones(15), ITOP15)
    assert res.joints[1, 2] > 1.5


def test_shape_checks():
    with pytest.raises(ValueError, match="15 joints"):
        lift_keypoints(scene(), CAM, np.zeros((14, 2)), np.ones(14), ITOP15)


def room_with_people(boxes_z: list[tuple[tuple[int, int, int, int], float]]) -> tuple[np.ndarray, PinholeCamera]:
    """A camera 1.2 m above a floor looking horizontally at a wall 5 m away, and upright
    person-sized boxes standing on the floor."""
    cam = PinholeCamera.from_fov(320, 240, 70.0)
    vs, us = np.mgrid[0:240, 0:320].astype(np.float64)
    ry = (vs - cam.cy) / cam.fy
    with np.errstate(divide="ignore"):
        z_floor = np.where(ry > 0, 1.2 / ry, np.inf)
    d = np.minimum(z_floor, 5.0)
    for (x0, x1, h, _), z in boxes_z:
        # a box 0.5 m wide, h m tall, between x0..x1 metres laterally, standing on the floor
        u0, u1 = cam.cx + cam.fx * x0 / z, cam.cx + cam.fx * x1 / z
        v0, v1 = cam.cy + cam.fy * (1.2 - h) / z, cam.cy + cam.fy * 1.2 / z
        m = (us >= u0) & (us < u1) & (vs >= v0) & (vs < v1)
        d[m] = np.minimum(d[m], z)
    return d.astype(np.float32), cam


def test_proposals_find_two_people_in_a_room():
    depth, cam = room_with_people([((-1.0, -0.5, 1.7, 0), 2.5), ((0.4, 0.9, 1.6, 0), 3.5)])
    props = propose_people(depth, cam)
    assert len(props) == 2
    assert props[0].depth_m == pytest.approx(2.5, abs=0.05) and props[1].depth_m == pytest.approx(3.5, abs=0.05)
    assert props[0].box[2] < cam.cx < props[1].box[0]  # left and right of the centre
    assert propose_people(room_with_people([])[0], cam) == []


@pytest.mark.skipif(not (SHARED / "data" / "real_depth_unlabelled").is_dir(),
                    reason="../shared/data/real_depth_unlabelled is not available")
def test_proposals_on_real_panoptic_frame_cover_three_people():
    scipy_io = pytest.importorskip("scipy.io")
    d = scipy_io.loadmat(SHARED / "data" / "real_depth_unlabelled" / "depth_02_000000005014.mat")["depth"]
    d = d.astype(np.float32)
    d[~(d > 0)] = np.nan
    cam = PinholeCamera(364.85, 364.85, 249.18, 202.52, 512, 424)
    boxes = [p.box for p in propose_people(d, cam)]
    # the three people stand around u = 290, 350 and 480 (their heads at v ~ 100-150)
    for u in (290, 350, 480):
        assert any(b[0] <= u <= b[2] and b[1] < 200 for b in boxes), (u, boxes)


# ---------------------------------------------------------------- the estimator (needs mediapipe)

@pytest.fixture(scope="module")
def estimator():
    pytest.importorskip("mediapipe")
    from unipose_ros.estimators.baseline import build_baseline

    est = build_baseline(Path(__file__).resolve().parents[1] / "config" / "baseline.yaml")
    yield est
    est.close()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return pytest.importorskip("skimage.data").astronaut()


def test_yaml_config_equals_defaults_and_rejects_unknown_keys(tmp_path):
    pytest.importorskip("yaml")
    from unipose_ros.estimators.baseline import BaselineConfig, load_baseline_config

    cfg = load_baseline_config(Path(__file__).resolve().parents[1] / "config" / "baseline.yaml")
    assert cfg == BaselineConfig()
    bad = tmp_path / "bad.yaml"
    bad.write_text("depth:\n  window_radius: 3\n")
    with pytest.raises(ValueError, match="window_radius"):
        load_baseline_config(bad)


def test_baseline_on_astronaut_with_plane_depth(estimator, astronaut):
    cam = PinholeCamera.from_fov(512, 512, 60.0)
    frame = RGBDFrame(0, "camera_color_optical_frame", cam, rgb=astronaut,
                      depth=np.full((512, 512), 2.0, np.float32))
    poses = estimator.estimate(frame)
    assert len(poses) == 1
    p = poses[0]
    assert p.joint_set is ITOP15 and p.modality == Modality.RGBD_LOOKUP and p.track_id == -1
    assert p.joints.shape == (15, 3) and np.isfinite(p.joints).all()
    assert np.all((p.confidence >= 0) & (p.confidence <= 1))
    head, feet = p.joints[ITOP15.index("head")], p.joints[[ITOP15.index("right_foot"), ITOP15.index("left_foot")]]
    assert head[1] < feet[:, 1].min()
    assert head[2] == pytest.approx(2.0 + 0.08, abs=0.01)  # plane + head radius
    np.testing.assert_allclose(cam.project(p.joints), p.keypoints_2d, atol=0.05)
    assert p.confidence[ITOP15.index("head")] > 0.8


def test_baseline_needs_rgb_and_depth(estimator, astronaut):
    cam = PinholeCamera.from_fov(512, 512, 60.0)
    with pytest.raises(InputError, match="depth"):
        estimator.estimate(RGBDFrame(0, "f", cam, rgb=astronaut, depth=None))
    with pytest.raises(InputError, match="colour"):
        estimator.estimate(RGBDFrame(0, "f", cam, rgb=None, depth=np.ones((512, 512), np.float32)))


def test_baseline_two_people_from_depth_proposals(estimator, astronaut):
    """Two copies of the photo side by side; depth: a wall at 4 m and a person-sized slab in front
    of each copy at 2.0 m and 2.6 m (upper-body sized: 0.6 x 0.75 m at 2 m). Proposals give one
    box each; two poses at those depths."""
    two = np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))
    cam = PinholeCamera(fx=1200.0, fy=1200.0, cx=511.5, cy=255.5, width=1024, height=512)
    d = np.full((512, 1024), 4.0, np.float32)
    d[60:512, 80:440] = 2.0
    d[60:512, 512 + 72:512 + 432] = 2.6
    poses = estimator.estimate(RGBDFrame(0, "f", cam, rgb=two, depth=d))
    assert len(poses) == 2
    torso = ITOP15.index("torso")
    assert poses[0].joints[torso, 2] == pytest.approx(2.1, abs=0.03)
    assert poses[1].joints[torso, 2] == pytest.approx(2.7, abs=0.03)
    assert poses[0].keypoints_2d[torso, 0] < 512 <= poses[1].keypoints_2d[torso, 0]


def test_baseline_coco17_output(astronaut):
    pytest.importorskip("mediapipe")
    from unipose_ros.estimators.baseline import BaselineConfig, BaselineEstimator
    from unipose_ros.teachers.mediapipe_pose import MediaPipePoseTeacher

    est = BaselineEstimator(MediaPipePoseTeacher(), BaselineConfig(joint_set="coco17", multi_person=False))
    try:
        cam = PinholeCamera.from_fov(512, 512, 60.0)
        poses = est.estimate(RGBDFrame(0, "f", cam, rgb=astronaut, depth=np.full((512, 512), 2.0, np.float32)))
        assert len(poses) == 1 and poses[0].joint_set.name == "coco17" and poses[0].joints.shape == (17, 3)
        assert poses[0].joints[0, 2] == pytest.approx(2.0, abs=0.005)  # nose: a surface point
    finally:
        est.close()
