"""Person crops: geometry round trips and known answers (unipose_ros.core.crop)."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.crop import CropConfig, centre_from_joints, crop_depth, crop_points, crop_rgb, make_crop

CAM = PinholeCamera(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)


def test_box_is_the_projected_cube_square():
    crop = make_crop(CAM, np.array([0.0, 0.0, 3.0]), CropConfig(size=128, cube_m=2.4))
    x0, y0, x1, y1 = crop.box
    assert x1 - x0 == pytest.approx(300 * 2.4 / 3.0)
    assert (x0 + x1) / 2 - 0.5 == pytest.approx(CAM.cx)
    assert (y0 + y1) / 2 - 0.5 == pytest.approx(CAM.cy)
    # the crop's centre pixel (between pixels 63 and 64) is the principal point
    assert crop.crop_to_image(np.array([63.5, 63.5])) == pytest.approx([CAM.cx, CAM.cy])


def test_crop_uncrop_round_trip():
    rng = np.random.default_rng(0)
    crop = make_crop(CAM, np.array([0.3, -0.2, 2.5]))
    xyz = crop.centre + rng.uniform(-1, 1, (50, 3))
    assert crop.to_camera(crop.from_camera(xyz)) == pytest.approx(xyz, abs=1e-9)
    uv = rng.uniform(0, 320, (20, 2))
    assert crop.crop_to_image(crop.image_to_crop(uv)) == pytest.approx(uv, abs=1e-9)
    assert crop.points_to_camera(crop.camera_to_points(xyz)) == pytest.approx(xyz, abs=1e-12)
    # the centre is the crop's middle at d = 0; one unit of d is unit_m metres
    assert crop.from_camera(crop.centre) == pytest.approx([63.5, 63.5, 0.0])
    assert crop.from_camera(crop.centre + [0, 0, crop.unit_m])[2] == pytest.approx(1.0)


def test_crop_depth_values_and_background():
    depth = np.full((240, 320), 3.0, np.float32)
    depth[:, :100] = np.nan          # invalid
    depth[:, 250:] = 9.0             # far wall, behind the cube
    depth[100:140, 150:170] = 2.4    # nearer object inside the cube
    crop = make_crop(CAM, np.array([0.0, 0.0, 3.0]), CropConfig(size=64, cube_m=2.4))
    n = crop_depth(depth, crop)
    assert n.shape == (64, 64) and n.dtype == np.float32
    c = crop.image_to_crop(np.array([[50, 120], [200, 60], [160, 120], [270, 120]])).round().astype(int)
    assert n[c[0, 1], c[0, 0]] == 1.0                      # NaN -> far
    assert n[c[1, 1], c[1, 0]] == pytest.approx(0.0)       # at the centre depth
    assert n[c[2, 1], c[2, 0]] == pytest.approx(-0.5)      # 0.6 m nearer = -0.6 / 1.2
    assert n[c[3, 1], c[3, 0]] == 1.0                      # behind the cube
    assert n[0, 0] == 1.0                                  # outside the image (box exceeds it)


def test_crop_rgb_samples_the_window():
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[:, 160:] = 200
    crop = make_crop(CAM, np.array([0.0, 0.0, 4.0]), CropConfig(size=32, cube_m=2.0))
    patch = crop_rgb(rgb, crop)
    assert patch.shape == (32, 32, 3) and patch.dtype == np.uint8
    assert patch[16, :14].max() == 0 and patch[16, 18:].min() == 200


def test_crop_points_in_the_cube_and_counts():
    depth = np.full((240, 320), 3.0, np.float32)
    crop = make_crop(CAM, np.array([0.0, 0.0, 3.0]), CropConfig(size=128, cube_m=2.4))
    pts, count = crop_points(depth, crop, 256)
    assert pts.shape == (256, 3) and count >= 256
    assert np.abs(pts).max() <= 1.0
    assert pts[:, 2] == pytest.approx(0.0, abs=1e-6)   # the wall is at the centre depth
    again, _ = crop_points(depth, crop, 256)
    assert np.array_equal(pts, again)                   # deterministic without rng
    empty, n0 = crop_points(np.full_like(depth, np.nan), crop, 16)
    assert n0 == 0 and not empty.any()
    few = np.full_like(depth, np.nan)
    few[120, 160:163] = 3.0
    pts3, n3 = crop_points(few, crop, 10)
    assert n3 == 3 and len(np.unique(pts3, axis=0)) == 3


def test_centre_from_joints_centres_the_skeleton():
    joints = np.array([[-0.3, -0.9, 3.0], [0.3, 0.8, 3.2], [0.0, 0.0, 3.1]])
    centre = centre_from_joints(joints, CAM)
    assert centre[2] == pytest.approx(3.1)
    crop = make_crop(CAM, centre)
    uvd = crop.from_camera(joints)
    assert (uvd[:, :2] > 0).all() and (uvd[:, :2] < 128).all()
    with pytest.raises(ValueError):
        make_crop(CAM, np.array([0.0, 0.0, -1.0]))


def test_the_crop_mask_removes_a_second_person_and_the_floor():
    from unipose_ros.core.crop import crop_source_depth

    depth = np.full((240, 320), 4.0, np.float32)      # wall
    depth[200:] = 2.6                                  # floor in front of it
    depth[40:200, 140:170] = 2.5                       # person A
    depth[50:200, 172:200] = 2.7                       # person B right beside A, inside A's cube
    mask = np.zeros_like(depth, bool)
    mask[40:200, 140:170] = True
    centre = np.array([CAM.backproject(np.array([154.5, 120.0]), np.array(2.5))]).reshape(3)
    masked = CropConfig(mask_people=True)
    crop = make_crop(CAM, centre, masked, mask)
    whole = crop_depth(crop_source_depth(depth, crop, CropConfig()), crop)
    only = crop_depth(crop_source_depth(depth, crop, masked), crop)
    b_depth = (2.7 - 2.5) / 1.2  # person B in crop units
    assert np.isclose(whole, b_depth, atol=1e-3).sum() > 500
    assert not np.isclose(only, b_depth, atol=1e-3).any()           # B gone
    assert (only < 1.0).sum() == pytest.approx((whole == 0.0).sum(), rel=0.05)  # A kept whole
    assert (only == 1.0).sum() > (whole == 1.0).sum()                 # floor and B are background
    # without a mask (geometric proposals) the crop is cut from the whole image
    no_mask = make_crop(CAM, centre, masked)
    assert np.array_equal(crop_depth(crop_source_depth(depth, no_mask, masked), no_mask), whole)
    with pytest.raises(ValueError, match="does not match"):
        crop_source_depth(depth[:100], crop, masked)
