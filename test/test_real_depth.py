"""Real depth frames (ITOP side view, CMU Panoptic Kinect v2) through the message conversions.

Data: ../shared/data/real_depth_unlabelled (see its README); skipped when absent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera, depth_to_metres, metres_to_depth
from unipose_ros.io.image import depth_from_image, depth_to_image, image_to_numpy, numpy_to_image
from unipose_ros.io.pointcloud import cloud_to_xyz, numpy_to_cloud
from unipose_ros.io.typestore import ros_typestore

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_depth_unlabelled"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real depth data not found ({DATA})")

TS = ros_typestore()
IMAGE = TS.types["sensor_msgs/msg/Image"]
CLOUD = TS.types["sensor_msgs/msg/PointCloud2"]
ITOP_CAM = PinholeCamera(fx=285.714, fy=285.714, cx=160.0, cy=120.0, width=320, height=240)
PANOPTIC_CAM = PinholeCamera(fx=364.85, fy=364.85, cx=249.18, cy=202.52, width=512, height=424)
ITOP_FILES = ["ITOP_train_000000000053.npy", "ITOP_train_000000009814.npy"]


def _itop(name: str) -> np.ndarray:
    mm = np.load(DATA / name)
    assert mm.dtype == np.uint16 and mm.shape == (240, 320)
    return mm


def _panoptic() -> np.ndarray:
    scipy_io = pytest.importorskip("scipy.io")
    depth = scipy_io.loadmat(str(DATA / "depth_02_000000005014.mat"))["depth"]
    assert depth.shape == (424, 512)
    return depth


@pytest.mark.parametrize("name", ITOP_FILES)
def test_itop_messages_round_trip_exactly(name):
    mm = _itop(name)
    msg = numpy_to_image(mm, "16UC1", IMAGE)
    raw = TS.serialize_cdr(msg, "sensor_msgs/msg/Image")
    back = TS.deserialize_cdr(raw, "sensor_msgs/msg/Image")
    assert np.array_equal(image_to_numpy(back), mm)
    metres = depth_from_image(back)
    assert np.array_equal(metres, depth_to_metres(mm, "16UC1"), equal_nan=True)
    # metres -> 32FC1 -> metres is exact; metres -> 16UC1 gives back the original millimetres
    assert np.array_equal(depth_from_image(depth_to_image(metres, IMAGE, encoding="32FC1")),
                          metres, equal_nan=True)
    assert np.array_equal(image_to_numpy(depth_to_image(metres, IMAGE, encoding="16UC1")), mm)
    pts = ITOP_CAM.depth_to_points(metres)
    cloud = TS.deserialize_cdr(TS.serialize_cdr(numpy_to_cloud(pts, msg_cls=CLOUD),
                                                "sensor_msgs/msg/PointCloud2"),
                               "sensor_msgs/msg/PointCloud2")
    assert np.array_equal(cloud_to_xyz(cloud), pts)


def _person_blob(depth: np.ndarray, cam: PinholeCamera) -> np.ndarray:
    """Points of the largest foreground blob (0.5 m in front of the back wall) that touches
    neither the top nor the side borders (those blobs are furniture and walls)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    wall = np.nanmedian(depth[:60, 100:220])
    labels, _ = ndimage.label(np.isfinite(depth) & (depth < wall - 0.5))
    best, best_size = 0, 0
    for k, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        if rows.start == 0 or cols.start <= 4 or cols.stop >= depth.shape[1] - 4:
            continue
        size = int((labels[rows, cols] == k).sum())
        if size > best_size:
            best, best_size = k, size
    assert best, "no foreground blob in front of the wall"
    return cam.depth_to_points(np.where(labels == best, depth, np.nan))


@pytest.mark.parametrize("name", ITOP_FILES)
def test_itop_back_projection_is_plausible(name):
    depth = depth_from_image(numpy_to_image(_itop(name), "16UC1", IMAGE))
    pts = ITOP_CAM.depth_to_points(depth)
    assert len(pts) > 0.9 * depth.size
    assert ((pts[:, 2] > 0.5) & (pts[:, 2] < 8.0)).all()
    person = _person_blob(depth, ITOP_CAM)
    assert len(person) > 2000
    lo, hi = np.percentile(person, [0.5, 99.5], axis=0)
    height, width, z = hi[1] - lo[1], hi[0] - lo[0], np.median(person[:, 2])
    assert 1.2 < height < 2.0, f"person height {height:.2f} m"  # a standing adult
    assert 0.3 < width < 1.2, f"person width {width:.2f} m"
    assert 2.0 < z < 3.5, f"person at {z:.2f} m"
    # upright in the optical frame (y down): the blob's top is its narrow head, not the floor
    top = person[person[:, 1] < lo[1] + 0.25]
    assert np.ptp(top[:, 0]) < 0.45


def test_panoptic_messages_and_back_projection():
    depth64 = _panoptic()
    metres = depth_to_metres(depth64.astype(np.float32), "32FC1")
    msg = numpy_to_image(metres_to_depth(metres, "32FC1"), "32FC1", IMAGE)
    assert np.array_equal(depth_from_image(msg), metres, equal_nan=True)
    mm_msg = depth_to_image(metres, IMAGE, encoding="16UC1")
    back = depth_from_image(mm_msg)
    valid = np.isfinite(metres)
    assert np.array_equal(np.isfinite(back), valid)
    assert np.abs(back[valid] - metres[valid]).max() <= 0.0005 + 1e-6  # whole millimetres
    pts = PANOPTIC_CAM.depth_to_points(metres)
    assert 0.7 * metres.size < len(pts) == valid.sum()
    assert ((pts[:, 2] > 0.5) & (pts[:, 2] < 8.0)).all()
    assert np.array_equal(cloud_to_xyz(numpy_to_cloud(pts, msg_cls=CLOUD)), pts)
    organised = PANOPTIC_CAM.depth_to_points(metres, organized=True)
    cloud = numpy_to_cloud(organised, msg_cls=CLOUD)
    assert (cloud.height, cloud.width) == (424, 512) and not cloud.is_dense
    assert np.array_equal(cloud_to_xyz(cloud, organized=True), organised, equal_nan=True)
    # a room seen by a Kinect v2: the scene is a few metres wide and deep, centred ahead
    lo, hi = np.percentile(pts, [1, 99], axis=0)
    assert 2.0 < hi[0] - lo[0] < 10.0 and 1.0 < np.median(pts[:, 2]) < 6.0
