"""The teacher-guided point network: keypoint channels per point, the point model with extra input
channels, the TeacherPointEstimator and its registry entry.

Models are small and untrained (written to a temporary folder): these tests check the geometry of
the channels and the plumbing (shapes, batching, refusals), not accuracy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unipose_ros.core.camera import PinholeCamera  # noqa: E402
from unipose_ros.core.crop import CropConfig, crop_points, make_crop  # noqa: E402
from unipose_ros.core.errors import InputError  # noqa: E402
from unipose_ros.core.frame import RGBDFrame  # noqa: E402
from unipose_ros.core.joints import COCO17, ITOP15, joint_map  # noqa: E402
from unipose_ros.core.keypoint_features import keypoint_point_features, keypoint_point_features_torch  # noqa: E402
from unipose_ros.core.pose import Modality  # noqa: E402
from unipose_ros.estimators.base import Estimator  # noqa: E402
from unipose_ros.estimators.learned import LearnedEstimator  # noqa: E402
from unipose_ros.estimators.registry import ESTIMATORS, build_estimator  # noqa: E402
from unipose_ros.estimators.teacher_point import TeacherPointConfig, TeacherPointEstimator  # noqa: E402
from unipose_ros.models import (  # noqa: E402
    A2JConfig,
    CheckpointError,
    build_model,
    default_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from unipose_ros.teachers.base import Keypoints2D, box_from_keypoints  # noqa: E402

SIZE = 64
J = len(ITOP15)


# ---------------------------------------------------------------- keypoint channels
def hand_case():
    """Camera fx = fy = 100, cx = 50, cy = 40; cube of 2 m (half side 1 m) centred at z = 2 m.

    Points (normalised) -> metres -> pixels:
      p0 (0, 0, 0)       -> (0, 0, 2)     -> (50, 40)
      p1 (0.1, 0, 0)     -> (0.1, 0, 2)   -> (100 * 0.1 / 2 + 50, 40) = (55, 40)
      p2 (0, 0.2, 0.5)   -> (0, 0.2, 2.5) -> (50, 100 * 0.2 / 2.5 + 40) = (50, 48)
    Keypoints: j0 (50, 40) conf 1; j1 (55, 44) conf 0.5; j2 NaN conf 1; j3 (50, 40) conf 0.
    sigma 4 px: 2 sigma^2 = 32.
    """
    cam = PinholeCamera(fx=100.0, fy=100.0, cx=50.0, cy=40.0, width=100, height=80)
    crop = make_crop(cam, np.array([0.0, 0.0, 2.0]), CropConfig(size=8, cube_m=2.0))
    points = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.2, 0.5]], np.float32)
    uv = np.array([[50.0, 40.0], [55.0, 44.0], [np.nan, np.nan], [50.0, 40.0]])
    conf = np.array([1.0, 0.5, 1.0, 0.0])
    return crop, points, uv, conf


def test_keypoint_features_hand_computed():
    crop, points, uv, conf = hand_case()
    f = keypoint_point_features(points, crop, uv, conf, sigma_px=4.0)
    assert f.shape == (3, 4) and f.dtype == np.float32
    expected = np.array([
        # j0: d^2 = 0, 25, 64        j1: d^2 = 5^2+4^2 = 41, 0^2+4^2 = 16, 5^2+4^2 = 41   j2, j3: 0
        [1.0,              0.5 * np.exp(-41 / 32), 0.0, 0.0],
        [np.exp(-25 / 32), 0.5 * np.exp(-16 / 32), 0.0, 0.0],
        [np.exp(-64 / 32), 0.5 * np.exp(-41 / 32), 0.0, 0.0],
    ])
    np.testing.assert_allclose(f, expected, rtol=1e-5, atol=1e-7)
    # an empty crop (crop_points found nothing: zeros are padding) has no channel anywhere
    assert not keypoint_point_features(points, crop, uv, conf, sigma_px=4.0, count=0).any()
    # a wider sigma: exp(-25 / (2 * 64)) for p1 / j0
    wide = keypoint_point_features(points, crop, uv, conf, sigma_px=8.0)
    np.testing.assert_allclose(wide[1, 0], np.exp(-25 / 128), rtol=1e-6)


def test_keypoint_features_unprojectable_points_are_zero_not_nan():
    cam = PinholeCamera(fx=100.0, fy=100.0, cx=50.0, cy=40.0, width=100, height=80)
    crop = make_crop(cam, np.array([0.0, 0.0, 0.5]), CropConfig(size=8, cube_m=2.0))
    # z = 0.5 + (-0.5) * 1 = 0 (on the camera plane) and 0.5 - 1 < 0 (behind it): no projection
    points = np.array([[0.0, 0.0, -0.5], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]], np.float32)
    f = keypoint_point_features(points, crop, np.array([[50.0, 40.0]]), np.array([0.8]), sigma_px=4.0)
    np.testing.assert_allclose(f[:, 0], [0.0, 0.0, 0.8, 0.0], atol=1e-7)


def test_keypoint_features_shape_errors():
    crop, points, uv, conf = hand_case()
    with pytest.raises(ValueError, match="points_norm"):
        keypoint_point_features(points[:, :2], crop, uv, conf)
    with pytest.raises(ValueError, match="conf"):
        keypoint_point_features(points, crop, uv, conf[:2])
    with pytest.raises(ValueError, match="sigma_px"):
        keypoint_point_features(points, crop, uv, conf, sigma_px=0.0)


def test_torch_features_equal_numpy_batched():
    crop, points, uv, conf = hand_case()
    other = make_crop(crop.camera, np.array([0.3, -0.2, 3.0]), CropConfig(size=8, cube_m=2.4))
    rng = np.random.default_rng(0)
    pts2 = rng.uniform(-1, 1, (3, 3)).astype(np.float32)
    uv2 = rng.uniform(0, 100, (4, 2))
    conf2 = rng.uniform(0, 1, 4)
    expected = np.stack([keypoint_point_features(points, crop, uv, conf, 4.0),
                         keypoint_point_features(pts2, other, uv2, conf2, 4.0, count=0)])
    k = torch.tensor([[100.0, 100.0, 50.0, 40.0]] * 2)
    got = keypoint_point_features_torch(torch.from_numpy(np.stack([points, pts2])),
                                        torch.tensor(np.stack([crop.centre, other.centre])),
                                        torch.tensor([2.0, 2.4]), k, torch.tensor(np.stack([uv, uv2])),
                                        torch.tensor(np.stack([conf, conf2])), 4.0, count=torch.tensor([5, 0]))
    assert got.shape == (2, 3, 4) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- model with extra channels
def small_config(point_features: int = J) -> A2JConfig:
    return A2JConfig(kind="pointcloud", input_size=SIZE, n_points=128, point_widths=(16, 16), point_k=8,
                     point_global=32, point_head_channels=32, point_features=point_features)


def test_point_model_takes_extra_channels_and_refuses_the_wrong_count():
    torch.manual_seed(0)
    model = build_model(small_config()).eval()
    x = torch.rand(2, 128, 3) * 2 - 1
    feats = torch.rand(2, 128, J)
    with torch.no_grad():
        out = model(torch.cat([x, feats], dim=-1))
        assert out.joints.shape == (2, J, 3) and torch.isfinite(out.joints).all()
        assert out.anchors.shape == (2, 128, 3)
        torch.testing.assert_close(out.anchors, x * (SIZE / 2))  # anchors come from xyz only
        changed = model(torch.cat([x, feats.flip(1)], dim=-1))   # the channels reach the network
        assert not torch.allclose(changed.weights, out.weights)
    with pytest.raises(ValueError, match="15 extra channels, the input has 0"):
        model(x)
    with pytest.raises(ValueError, match="the input has 3"):
        model(torch.cat([x, feats[..., :3]], dim=-1))
    plain = build_model(small_config(0))
    with pytest.raises(ValueError, match=r"expects \(B, 128, 3\) normalised points"):
        plain(torch.cat([x, feats], dim=-1))


def test_point_features_config_is_checked():
    with pytest.raises(ValueError, match="point_features"):
        small_config(-1)
    with pytest.raises(ValueError, match="applies to kind 'pointcloud' only"):
        A2JConfig(kind="depth", point_features=3)
    assert A2JConfig().point_features == 0


def test_checkpoint_without_the_field_loads_with_zero(tmp_path):
    cfg = small_config(0)
    path = save_checkpoint(tmp_path / "old.pt", build_model(cfg), cfg, CropConfig(size=SIZE))
    blob = torch.load(path, weights_only=True)
    del blob["config"]["point_features"]  # as written before the field existed
    torch.save(blob, path)
    loaded = load_checkpoint(path)
    assert loaded.config.point_features == 0 and loaded.model.mlp.linear.in_features == 3


def test_bundled_pointcloud_checkpoint_still_loads():
    path = default_checkpoint("pointcloud")
    if not path.is_file():
        pytest.skip(f"{path} not installed")
    loaded = load_checkpoint(path)
    assert loaded.config.point_features == 0
    with torch.no_grad():
        out = loaded.model(torch.zeros(1, loaded.config.n_points, 3))
    assert out.joints.shape == (1, J, 3)


# ---------------------------------------------------------------- estimator
class GroundTruthTeacher:
    """A stand-in 2D teacher: the projected COCO-17 ground truth of the current frame."""

    source = "coco17"

    def __init__(self) -> None:
        self.people: list[np.ndarray] = []  # (17, 2) pixels each
        self.closed = False

    def detect(self, rgb: np.ndarray) -> list[Keypoints2D]:
        conf = np.full(len(COCO17), 0.9, np.float32)
        return [Keypoints2D(self.source, COCO17.joints, uv, conf, box_from_keypoints(uv, conf), 0.9)
                for uv in self.people]

    def detect_in_boxes(self, rgb: np.ndarray, boxes) -> list[Keypoints2D]:
        return self.detect(rgb)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def frames():
    """Two synthetic 320x240 frames with two people and no clutter."""
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_frames

    return list(generate_frames(GeneratorConfig(frames=2, resolution=(320, 240), seed=8, people=2, clutter=0)))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    cfg = small_config()
    path = tmp_path_factory.mktemp("ckpt") / "teacher_point.pt"
    return save_checkpoint(path, build_model(cfg), cfg, CropConfig(size=SIZE, cube_m=2.4),
                           {"data": "untrained test", "training_config": {"sigma_px": 6.0}})


def teacher_for(sf) -> GroundTruthTeacher:
    t = GroundTruthTeacher()
    t.people = [sf.frame.camera.project(p.joints) for p in sf.ground_truth["coco17"]]
    return t


@pytest.fixture(scope="module")
def estimator(checkpoint):
    est = TeacherPointEstimator(checkpoint, GroundTruthTeacher(),
                                config=TeacherPointConfig(detection=_single_image_detection()))
    yield est
    est.close()


def _single_image_detection():
    from unipose_ros.estimators.baseline import BaselineConfig

    return BaselineConfig(multi_person=False)


def test_estimator_returns_finite_poses_on_each_person(estimator, frames):
    est = estimator
    assert isinstance(est, Estimator) and est.modality == Modality.POINT_CLOUD and est.joint_set is ITOP15
    assert est.name == "teacher_a2j_pointcloud" and est.sigma_px == 6.0  # read from the checkpoint
    m = joint_map("coco17", "itop15")
    for sf in frames:
        est.teacher.people = teacher_for(sf).people
        people = sorted(zip(sf.ground_truth["itop15"], sf.ground_truth["coco17"]),
                        key=lambda pq: float(pq[0].root[2]))  # nearest first
        poses = est.estimate(sf.frame)
        assert len(poses) == len(people) == 2
        for i, (pose, (person, coco)) in enumerate(zip(poses, people)):
            assert pose.joints.shape == (J, 3) and pose.confidence.shape == (J,)
            assert np.isfinite(pose.joints).all() and pose.track_id == -1
            assert np.all((pose.confidence >= 0) & (pose.confidence <= 1)) and 0 <= pose.score <= 1
            # keypoints_2d are the teacher's keypoints of that person (ITOP-15 order): nearest first
            np.testing.assert_allclose(pose.keypoints_2d, m.apply(sf.frame.camera.project(coco.joints)), atol=1e-3)
            # untrained: the joints sit in the person's crop cube, nearer to them than to the other
            other = people[1 - i][0]
            d_own = np.linalg.norm(pose.joints.mean(0) - person.joints.mean(0))
            assert d_own < 0.8 and d_own < np.linalg.norm(pose.joints.mean(0) - other.joints.mean(0))


def test_estimator_batched_equals_one_by_one_and_uses_the_channels(estimator, frames):
    est = estimator
    sf = frames[0]
    m = joint_map("coco17", "itop15")
    uv = np.stack([m.apply(sf.frame.camera.project(p.joints)) for p in sf.ground_truth["coco17"]])
    conf = np.full(uv.shape[:2], 0.9)
    both = est.estimate_keypoints(sf.frame, uv, conf)
    single = [est.estimate_keypoints(sf.frame, uv[i:i + 1], conf[i:i + 1])[0] for i in range(len(uv))]
    assert len(both) == len(single) == 2
    by_person = {round(float(p.keypoints_2d[0, 0]), 3): p for p in single}  # head u identifies the person
    for a in both:
        b = by_person[round(float(a.keypoints_2d[0, 0]), 3)]
        np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
    # the network input is xyz + keypoint_point_features of the crop
    crop = make_crop(sf.frame.camera, np.median(sf.ground_truth["itop15"][0].joints, axis=0), est.crop_config)
    seen = []
    handle = est.model.mlp.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
    try:
        est.estimate_crops(sf.frame, [crop], uv[:1], conf[:1])
    finally:
        handle.remove()
    pts, n = crop_points(sf.frame.depth, crop, est.n_points, None)
    expected = np.concatenate([pts, keypoint_point_features(pts, crop, uv[0], conf[0], 6.0, n)], axis=-1)
    assert seen[0].shape == (1, est.n_points, 3 + J)
    np.testing.assert_allclose(seen[0][0].numpy(), expected, atol=1e-5)
    assert expected[:, 3:].max() > 0.5  # some points lie on the keypoints


def test_estimator_input_errors(estimator, frames):
    sf = frames[0]
    with pytest.raises(InputError, match="needs a colour image"):
        estimator.estimate(RGBDFrame(0, "cam", sf.frame.camera, depth=sf.frame.depth))
    with pytest.raises(InputError, match="needs a depth image"):
        estimator.estimate(RGBDFrame(0, "cam", sf.frame.camera, rgb=sf.frame.rgb))
    crop = make_crop(sf.frame.camera, np.array([0.0, 0.0, 3.0]), estimator.crop_config)
    with pytest.raises(InputError, match="2D keypoints of each crop"):
        estimator.estimate_crops(sf.frame, [crop])
    with pytest.raises(InputError, match=r"uv \(P, 15, 2\)"):
        estimator.estimate_keypoints(sf.frame, np.zeros((1, 17, 2)), np.zeros((1, 17)))
    # nobody found, or keypoints where the depth is empty: no poses
    estimator.teacher.people = []
    assert estimator.estimate(sf.frame) == []
    hole = sf.frame.depth.copy()
    hole[:] = np.nan
    empty = RGBDFrame(0, "cam", sf.frame.camera, rgb=sf.frame.rgb, depth=hole)
    assert estimator.estimate_keypoints(empty, np.full((1, J, 2), 100.0), np.ones((1, J))) == []


def test_learned_estimator_refuses_a_teacher_point_checkpoint(checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="needs the 2D teacher: use estimator teacher_pointcloud"):
        LearnedEstimator(checkpoint)
    with pytest.raises(CheckpointError, match="teacher_pointcloud"):
        build_estimator("pointcloud", checkpoint=checkpoint)
    cfg = small_config(0)
    plain = save_checkpoint(tmp_path / "plain.pt", build_model(cfg), cfg, CropConfig(size=SIZE))
    with pytest.raises(CheckpointError, match="use the pointcloud estimator"):
        TeacherPointEstimator(plain, GroundTruthTeacher())
    cfg = small_config(3)
    three = save_checkpoint(tmp_path / "three.pt", build_model(cfg), cfg, CropConfig(size=SIZE))
    with pytest.raises(CheckpointError, match="one per joint"):
        TeacherPointEstimator(three, GroundTruthTeacher())


def test_registry_entry(checkpoint, tmp_path):
    assert "teacher_pointcloud" in ESTIMATORS
    from unipose_ros.estimators.registry import TEACHER_POINT_FILE
    from unipose_ros.models.checkpoint import CHECKPOINT_DIR, load_checkpoint

    bundled = load_checkpoint(CHECKPOINT_DIR / TEACHER_POINT_FILE)
    assert bundled.config.point_features == 15 and bundled.provenance["supervision"] == "2D teacher keypoints only"
    with pytest.raises(CheckpointError, match="does not exist"):
        build_estimator("teacher_pointcloud", checkpoint=tmp_path / "missing.pt")
    pytest.importorskip("mediapipe")
    est = build_estimator("teacher_pointcloud", checkpoint=checkpoint,
                          config=TeacherPointConfig(sigma_px=5.0, detection=_single_image_detection()))
    try:
        assert isinstance(est, TeacherPointEstimator) and est.sigma_px == 5.0
        assert est.teacher.source == "blazepose33"
    finally:
        est.close()


def test_flip_test_swaps_the_teacher_channels(checkpoint):
    # Points symmetric about x = 0 whose keypoint channels are the mirror of themselves (a left
    # joint's channel on a point = the right partner's channel on the mirrored point): the
    # mirrored batch is a permutation of the batch, so the flip-test answer is mirror-symmetric.
    from dataclasses import replace as dc_replace

    from unipose_ros.core.joints import ITOP15

    base = TeacherPointConfig(detection=_single_image_detection())
    flip = dc_replace(base.learned, flip_test=True, flip_side_check=False)
    est = TeacherPointEstimator(checkpoint, GroundTruthTeacher(), config=dc_replace(base, learned=flip))
    rng = np.random.default_rng(5)
    half = np.concatenate([rng.uniform(-1, 1, (1, 64, 3)), rng.uniform(0, 1, (1, 64, J))], axis=-1)
    mirror = half.copy()
    mirror[..., 0] *= -1
    mirror[..., 3:] = mirror[..., 3:][..., ITOP15.flip_permutation]
    batch = np.concatenate([half, mirror], axis=1).astype(np.float32)
    flipped = est._mirror_input(batch)
    np.testing.assert_array_equal(flipped[:, 64:], batch[:, :64])  # the channels moved with their joints
    out = est._run(batch)
    left, right = np.array(ITOP15.flip_pairs).T
    np.testing.assert_allclose(out[:, left, 0], -out[:, right, 0], atol=1e-6)
    np.testing.assert_allclose(out[:, left, 1:], out[:, right, 1:], atol=1e-5)
    wrong = batch.copy()
    wrong[..., 3:] = batch[..., 3:][..., ::-1]  # channels not mirror-consistent: the plain net sees a different cloud
    assert not np.allclose(est._network(wrong), est._network(batch), atol=1e-4)
    est.close()
