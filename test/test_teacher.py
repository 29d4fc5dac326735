"""MediaPipe BlazePose teacher on a real photograph (skimage's astronaut)."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import BLAZEPOSE33_NAMES

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")

from unipose_ros.teachers.base import Keypoints2D, Teacher2D, box_from_keypoints, box_iou  # noqa: E402
from unipose_ros.teachers.mediapipe_pose import MediaPipePoseTeacher  # noqa: E402

NAME = {n: i for i, n in enumerate(BLAZEPOSE33_NAMES)}


@pytest.fixture(scope="module")
def teacher():
    t = MediaPipePoseTeacher(static_image_mode=True)
    yield t
    t.close()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()


def test_protocol(teacher):
    assert isinstance(teacher, Teacher2D)
    assert teacher.source == "blazepose33"


def test_finds_the_astronaut(teacher, astronaut):
    people = teacher.detect(astronaut)
    assert len(people) == 1
    kp = people[0]
    assert isinstance(kp, Keypoints2D) and kp.names == BLAZEPOSE33_NAMES
    assert kp.uv.shape == (33, 2) and kp.uv.dtype == np.float32
    assert np.all((kp.confidence >= 0) & (kp.confidence <= 1))
    assert 0.3 < kp.score <= 1.0
    face = [NAME[n] for n in ("nose", "left_eye", "right_eye")]
    shoulders = [NAME["left_shoulder"], NAME["right_shoulder"]]
    assert kp.confidence[face + shoulders].min() > 0.9
    assert kp.uv[face, 1].max() < kp.uv[shoulders, 1].min()  # face above shoulders (v grows down)
    h, w = astronaut.shape[:2]
    sure = kp.confidence > 0.5
    assert sure.sum() >= 11
    assert np.all((kp.uv[sure] >= 0) & (kp.uv[sure] < [w, h]))
    # The astronaut's own left shoulder is on the image's right.
    assert kp.uv[NAME["left_shoulder"], 0] > kp.uv[NAME["right_shoulder"], 0]


def test_crop_maps_back_to_full_image(teacher, astronaut):
    full = teacher.detect(astronaut)[0]
    crops = teacher.detect_in_boxes(astronaut, [full.box])
    assert len(crops) == 1
    sure = (full.confidence > 0.8) & (crops[0].confidence > 0.8)
    err = np.linalg.norm(full.uv[sure] - crops[0].uv[sure], axis=1)
    assert sure.sum() >= 8 and np.median(err) < 8.0, err


def test_two_people_by_boxes(teacher, astronaut):
    two = np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))
    w = astronaut.shape[1]
    people = teacher.detect_in_boxes(two, [(0, 0, w, 512), (w, 0, 2 * w, 512)])
    assert len(people) == 2
    nose = [p.uv[NAME["nose"]] for p in people]
    assert nose[0][0] < w <= nose[1][0]
    # mirrored copy: its nose is at the mirrored column
    assert abs((2 * w - 1 - nose[1][0]) - nose[0][0]) < 10


def test_tiny_or_empty_boxes_are_skipped(teacher, astronaut):
    assert teacher.detect_in_boxes(astronaut, [(0, 0, 10, 10)]) == []
    assert teacher.detect_in_boxes(astronaut, []) == []


def test_rejects_bad_images(teacher):
    with pytest.raises(InputError, match="uint8 RGB"):
        teacher.detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(InputError, match="uint8 RGB"):
        teacher.detect(np.zeros((64, 64, 3), np.float32))


def test_blank_image_has_nobody(teacher):
    assert teacher.detect(np.full((240, 320, 3), 127, np.uint8)) == []


def test_model_complexity_other_than_one_is_refused():
    with pytest.raises(ValueError, match="model_complexity=1"):
        MediaPipePoseTeacher(model_complexity=2)


def test_box_helpers():
    uv = np.array([[10, 20], [30, 60], [500, 500]], np.float32)
    box = box_from_keypoints(uv, np.array([1.0, 1.0, 0.0]), pad=0.0)
    assert box == (10.0, 20.0, 30.0, 60.0)
    assert box_iou(box, box) == pytest.approx(1.0)
    assert box_iou(box, (100, 100, 120, 120)) == 0.0
    assert box_iou((0, 0, 2, 2), (1, 0, 3, 2)) == pytest.approx(1 / 3)
