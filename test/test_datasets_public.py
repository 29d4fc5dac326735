"""Public dataset readers: tiny files written in the ITOP and CMU Panoptic layouts, read back into
frames and ITOP-15 ground truth in the optical frame, and scored through evaluate."""
from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest

from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import ITOP15
from unipose_ros.core.pose import PersonPose

h5py = pytest.importorskip("h5py")

from unipose_training.datasets.public import (  # noqa: E402
    ITOP_CAMERA,
    PANOPTIC19_NAMES,
    PANOPTIC19_TO_ITOP15,
    iter_itop,
    iter_panoptic,
)
from unipose_training.evaluation.evaluate import evaluate_estimators  # noqa: E402

# ---------------------------------------------------------------- ITOP


def _itop_skeleton(shift_x: float) -> np.ndarray:
    """(15, 3) ITOP real-world coordinates (X right, Y up, Z forward), a standing person 3 m away."""
    y = {"head": 0.75, "neck": 0.55, "right_shoulder": 0.5, "left_shoulder": 0.5, "right_elbow": 0.25,
         "left_elbow": 0.25, "right_hand": 0.0, "left_hand": 0.0, "torso": 0.3, "right_hip": 0.0,
         "left_hip": 0.0, "right_knee": -0.45, "left_knee": -0.45, "right_foot": -0.9, "left_foot": -0.9}
    x = {n: (-0.2 if n.startswith("right") else 0.2 if n.startswith("left") else 0.0) for n in y}
    return np.array([[x[n] + shift_x, y[n], 3.0 + 0.01 * i] for i, n in enumerate(ITOP15.joints)])


def _itop_uv(world: np.ndarray) -> np.ndarray:
    # ITOP's published projection: u = 160 + X / (0.0035 Z), v = 120 - Y / (0.0035 Z), whole pixels
    X, Y, Z = world[..., 0], world[..., 1], world[..., 2]
    return np.round(np.stack([160 + X / (0.0035 * Z), 120 - Y / (0.0035 * Z)], axis=-1))


def _write_itop(tmp_path, ids=("00_00010", "00_00011", "01_00042"), valid=(1, 0, 1), flip_y_in_uv=False):
    depth_path = tmp_path / "ITOP_side_test_depth_map.h5"
    labels_path = tmp_path / "ITOP_side_test_labels.h5"
    n = len(ids)
    depth = np.full((n, 240, 320), 3.25, np.float16)
    depth[:, :10, :20] = 0  # no reading
    depth[1, 100, 100] = 2.5
    world = np.stack([_itop_skeleton(0.1 * i) for i in range(n)]).astype(np.float32)
    uv = _itop_uv(world)
    if flip_y_in_uv:
        uv[..., 1] = 240 - uv[..., 1]
    with h5py.File(depth_path, "w") as f:
        f["data"] = depth
        f["id"] = np.array([i.encode() for i in ids])
    with h5py.File(labels_path, "w") as f:
        f["id"] = np.array([i.encode() for i in ids])
        f["is_valid"] = np.array(valid, np.uint8)
        f["real_world_coordinates"] = world
        f["image_coordinates"] = uv.astype(np.int64)
    return depth_path, labels_path, world, uv


def test_itop_round_trip_projects_onto_image_coordinates(tmp_path):
    depth_path, labels_path, world, uv = _write_itop(tmp_path)
    pairs = list(iter_itop(depth_path, labels_path))
    assert len(pairs) == 2  # the is_valid = 0 frame is skipped
    for (frame, truth), row in zip(pairs, (0, 2)):
        assert frame.rgb is None and frame.depth.shape == (240, 320) and frame.depth.dtype == np.float32
        assert frame.camera == ITOP_CAMERA
        assert len(truth) == 1 and truth[0].joint_set is ITOP15
        j = truth[0].joints
        # optical frame: x = X, y = -Y, z = Z
        np.testing.assert_allclose(j, world[row] * [1, -1, 1], atol=1e-6)
        assert j[ITOP15.index("head"), 1] < j[ITOP15.index("left_foot"), 1]  # head above the feet
        err = np.linalg.norm(frame.camera.project(j) - uv[row], axis=-1)
        assert err.max() <= 1.0
    frame0 = pairs[0][0]
    assert np.isnan(frame0.depth[:10, :20]).all() and frame0.depth[50, 50] == pytest.approx(3.25)
    # ids "PP_FFFFF": person -> track id, frame number -> stamp at 30 fps
    assert pairs[1][1][0].track_id == 1
    assert pairs[1][0].stamp_ns == round(42 * 1e9 / 30)


def test_itop_invalid_frames_and_max_frames(tmp_path):
    depth_path, labels_path, _, _ = _write_itop(tmp_path)
    everything = list(iter_itop(depth_path, labels_path, only_valid=False))
    assert len(everything) == 3
    assert everything[1][0].depth[100, 100] == pytest.approx(2.5)
    assert len(list(iter_itop(depth_path, labels_path, max_frames=1))) == 1


def test_itop_warns_on_another_axis_convention(tmp_path, caplog):
    depth_path, labels_path, _, _ = _write_itop(tmp_path, flip_y_in_uv=True)
    with caplog.at_level(logging.WARNING):
        list(iter_itop(depth_path, labels_path))
    assert "axis convention" in caplog.text


def test_itop_bad_files_are_refused_clearly(tmp_path):
    depth_path, labels_path, _, _ = _write_itop(tmp_path)
    with pytest.raises(InputError, match="not found"):
        list(iter_itop(tmp_path / "nope.h5", labels_path))
    with pytest.raises(InputError, match="real_world_coordinates"):
        list(iter_itop(depth_path, depth_path))  # the depth file has no labels
    other = tmp_path / "other"
    other.mkdir()
    _, other_labels, _, _ = _write_itop(other, ids=("05_00001", "05_00002", "05_00003"))
    with pytest.raises(InputError, match="share no frame id"):
        list(iter_itop(depth_path, other_labels))


class _Shifted:
    """An estimator returning the ground truth of the frame moved by ``offset`` metres."""

    def __init__(self, truth_by_stamp: dict[int, list[PersonPose]], offset) -> None:
        self.truth, self.offset = truth_by_stamp, np.asarray(offset, np.float32)

    def estimate(self, frame):
        return [PersonPose(track_id=g.track_id, joint_set=g.joint_set, joints=g.joints + self.offset,
                           confidence=g.confidence) for g in self.truth[frame.stamp_ns]]


def test_evaluate_estimators_scores_itop_pairs(tmp_path):
    depth_path, labels_path, _, _ = _write_itop(tmp_path)
    truth = {f.stamp_ns: t for f, t in iter_itop(depth_path, labels_path)}
    ests = {"near": _Shifted(truth, [0.03, 0.04, 0.0]),  # 5 cm off every joint
            "far": _Shifted(truth, [0.0, 0.12, 0.0])}  # 12 cm off
    res = evaluate_estimators([], ests, progress=False, pairs=iter_itop(depth_path, labels_path))
    assert res["near"]["frames"] == 2 and res["near"]["matched"] == 2
    assert res["near"]["mpjpe_mm"] == pytest.approx(50.0, abs=1e-3)
    assert res["near"]["pck"]["10cm"] == 1.0 and res["near"]["pck"]["15cm"] == 1.0
    assert res["far"]["mpjpe_mm"] == pytest.approx(120.0, abs=1e-3)
    assert res["far"]["pck"] == {"5cm": 0.0, "10cm": 0.0, "15cm": 1.0}
    assert res["near"]["recordings"] == []
    # frame_stride applies to the pairs
    res = evaluate_estimators([], ests, progress=False, frame_stride=2, pairs=iter_itop(depth_path, labels_path))
    assert res["near"]["frames"] == 1


# ---------------------------------------------------------------- CMU Panoptic

W, H = 64, 48
K = [[50.0, 0.0, 31.5], [0.0, 52.0, 23.5], [0.0, 0.0, 1.0]]
ANGLE = np.radians(30)
# world -> camera: a rotation about the camera's y axis, camera 3 m in front of the origin
R = np.array([[np.cos(ANGLE), 0, -np.sin(ANGLE)], [0, 1, 0], [np.sin(ANGLE), 0, np.cos(ANGLE)]])
T_CM = np.array([10.0, -20.0, 300.0])


def _joints19(offset_cm: float) -> np.ndarray:
    """(19, 4) x, y, z (cm, dome world with y down like the Panoptic world), confidence."""
    rng = np.random.default_rng(7)
    xyz = rng.uniform(-40, 40, (19, 3)) + [offset_cm, 0, 0]
    conf = np.full((19, 1), 0.9)
    return np.hstack([xyz, conf])


def _write_panoptic(tmp_path, frames=(0, 1, 2), dist=(0, 0, 0, 0, 0)):
    skel = tmp_path / "hdPose3d_stage1_coco19"
    imgs = tmp_path / "hdImgs" / "00_03"
    depth_dir = tmp_path / "depth"
    for d in (skel, imgs, depth_dir):
        d.mkdir(parents=True)
    calib = {"calibDataSource": "test", "cameras": [
        {"name": "00_00", "type": "hd", "resolution": [W, H], "panel": 0, "node": 0, "K": K,
         "distCoef": [0, 0, 0, 0, 0], "R": np.eye(3).tolist(), "t": [[0], [0], [0]]},
        {"name": "00_03", "type": "hd", "resolution": [W, H], "panel": 0, "node": 3, "K": K,
         "distCoef": list(dist), "R": R.tolist(), "t": T_CM.reshape(3, 1).tolist()}]}
    calib_path = tmp_path / "calibration_test.json"
    calib_path.write_text(json.dumps(calib))
    bodies = {}
    for n in frames:
        j_a = _joints19(0.0)
        j_b = _joints19(30.0)
        j_b[PANOPTIC19_NAMES.index("left_wrist"), 3] = 0.05  # unreliable joint -> NaN left hand
        behind = _joints19(0.0)
        behind[:, 2] -= 2000  # far behind the camera: dropped
        bodies[n] = [j_a, j_b]
        scene = {"version": 0.7, "univTime": 1000.0 + 33.3667 * n, "fpsType": "hd_29_97",
                 "bodies": [{"id": 0, "joints19": j_a.ravel().tolist()},
                            {"id": 4, "joints19": j_b.ravel().tolist()},
                            {"id": 9, "joints19": behind.ravel().tolist()}]}
        (skel / f"body3DScene_{n:08d}.json").write_text(json.dumps(scene))
        img = np.full((H, W, 3), 40 * n, np.uint8)
        img[10:20, 5:15] = (0, 0, 255)  # red in BGR
        cv2.imwrite(str(imgs / f"00_03_{n:08d}.png"), img)
        np.save(depth_dir / f"{n:08d}.npy", np.full((H, W), 2.0 + n, np.float32))
    return skel, calib_path, imgs, depth_dir, bodies


def test_panoptic_joints_in_camera_frame_metres(tmp_path):
    skel, calib, imgs, depth_dir, bodies = _write_panoptic(tmp_path)
    pairs = list(iter_panoptic(skel, calib, "00_03", image_dir=imgs, depth_dir=depth_dir))
    assert len(pairs) == 3
    frame, truth = pairs[1]
    assert frame.frame_id == "00_03" and frame.rgb.shape == (H, W, 3) and frame.depth.shape == (H, W)
    assert (frame.camera.fx, frame.camera.fy, frame.camera.cx, frame.camera.cy) == (50.0, 52.0, 31.5, 23.5)
    assert tuple(frame.rgb[15, 10]) == (255, 0, 0)  # BGR file -> RGB frame
    assert frame.depth[0, 0] == pytest.approx(3.0)
    assert frame.stamp_ns == round((1000.0 + 33.3667) * 1e6)
    assert [p.track_id for p in truth] == [0, 4]  # the body behind the camera is left out
    j19 = bodies[1][0]
    cam = (R @ j19[:, :3].T).T / 100 + T_CM / 100  # x_cam = R X + t, cm -> m
    idx = {n: i for i, n in enumerate(PANOPTIC19_NAMES)}
    j = truth[0].joints
    np.testing.assert_allclose(j[ITOP15.index("right_hand")], cam[idx["right_wrist"]], atol=1e-5)
    np.testing.assert_allclose(j[ITOP15.index("left_foot")], cam[idx["left_ankle"]], atol=1e-5)
    np.testing.assert_allclose(j[ITOP15.index("head")], (cam[idx["left_ear"]] + cam[idx["right_ear"]]) / 2, atol=1e-5)
    np.testing.assert_allclose(j[ITOP15.index("neck")],
                               (cam[idx["left_shoulder"]] + cam[idx["right_shoulder"]]) / 2, atol=1e-5)
    torso = cam[[idx["left_shoulder"], idx["right_shoulder"], idx["left_hip"], idx["right_hip"]]].mean(axis=0)
    np.testing.assert_allclose(j[ITOP15.index("torso")], torso, atol=1e-5)
    assert np.isfinite(j).all() and np.allclose(truth[0].confidence, 0.9)
    # the low-confidence wrist of body 4 makes its left hand unknown, nothing else
    j4 = truth[1].joints
    assert np.isnan(j4[ITOP15.index("left_hand")]).all()
    assert np.isfinite(np.delete(j4, ITOP15.index("left_hand"), axis=0)).all()


def test_panoptic_map_rows_sum_to_one_and_every_itop_joint_is_covered():
    w = PANOPTIC19_TO_ITOP15.weights
    assert w.shape == (15, 19)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert (w > 0).any(axis=1).all()


def test_panoptic_sources_and_errors(tmp_path):
    skel, calib, imgs, depth_dir, _ = _write_panoptic(tmp_path)
    depth_only = list(iter_panoptic(skel, calib, "00_03", depth_dir=depth_dir, max_frames=2))
    assert len(depth_only) == 2 and depth_only[0][0].rgb is None
    with pytest.raises(InputError, match="00_00"):
        list(iter_panoptic(skel, calib, "99_99", image_dir=imgs))
    with pytest.raises(InputError, match="image_dir"):
        list(iter_panoptic(skel, calib, "00_03"))
    with pytest.raises(InputError, match="body3DScene"):
        list(iter_panoptic(tmp_path, calib, "00_03", image_dir=imgs))
    (imgs / "00_03_00000001.png").unlink()  # a missing image skips that frame
    assert len(list(iter_panoptic(skel, calib, "00_03", image_dir=imgs))) == 2
    big = np.zeros((H + 2, W, 3), np.uint8)
    cv2.imwrite(str(imgs / "00_03_00000000.png"), big)
    with pytest.raises(InputError, match="64x48"):
        list(iter_panoptic(skel, calib, "00_03", image_dir=imgs))


def test_panoptic_images_are_undistorted(tmp_path):
    skel, calib, imgs, _, _ = _write_panoptic(tmp_path, frames=(0,), dist=(-0.3, 0.1, 0, 0, 0))
    raw = cv2.cvtColor(cv2.imread(str(imgs / "00_03_00000000.png")), cv2.COLOR_BGR2RGB)
    undist = next(iter_panoptic(skel, calib, "00_03", image_dir=imgs))[0].rgb
    kept = next(iter_panoptic(skel, calib, "00_03", image_dir=imgs, undistort=False))[0].rgb
    assert np.array_equal(kept, raw)
    assert not np.array_equal(undist, raw)
    expect = cv2.cvtColor(cv2.undistort(cv2.imread(str(imgs / "00_03_00000000.png")), np.array(K),
                                        np.array([-0.3, 0.1, 0, 0, 0])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(undist, expect)
