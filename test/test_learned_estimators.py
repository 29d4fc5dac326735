"""Learned estimators (depth, rgb, pointcloud A2J), the fused estimator and the registry.

Small untrained checkpoints are written to a temporary folder (the bundled, trained ones are tested
only where they exist): these tests check the plumbing (crops, batching, devices, precision,
confidences, fusion, errors), not accuracy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unipose_ros.core.camera import PinholeCamera  # noqa: E402
from unipose_ros.core.crop import CropConfig, make_crop  # noqa: E402
from unipose_ros.core.errors import InputError  # noqa: E402
from unipose_ros.core.frame import RGBDFrame  # noqa: E402
from unipose_ros.core.joints import ITOP15  # noqa: E402
from unipose_ros.core.pose import Modality, PersonPose  # noqa: E402
from unipose_ros.estimators.base import Estimator  # noqa: E402
from unipose_ros.estimators.fused import FusedConfig, FusedEstimator, fuse_joint, fuse_poses  # noqa: E402
from unipose_ros.estimators.learned import LearnedConfig, LearnedEstimator, resolve_device  # noqa: E402
from unipose_ros.estimators.registry import build_estimator, resolve_checkpoint  # noqa: E402
from unipose_ros.models import (  # noqa: E402
    A2JConfig,
    CheckpointError,
    ResNetConfig,
    build_model,
    default_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

KINDS = ("depth", "rgb", "pointcloud")
SIZE = 64
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_depth_unlabelled"
ITOP_CAM = PinholeCamera(fx=285.714, fy=285.714, cx=160.0, cy=120.0, width=320, height=240)


def small_config(kind: str, joint_set: str = "itop15") -> A2JConfig:
    """A tiny A2J model of ``kind`` (fast on a CPU)."""
    return A2JConfig(kind=kind, joint_set=joint_set, input_size=SIZE, n_points=256,
                     backbone=ResNetConfig(widths=(8, 16, 16, 16), blocks=(1, 1, 1, 1)), neck_channels=16,
                     head_channels=16, head_layers=1, point_widths=(16, 16), point_k=8, point_global=32,
                     point_head_channels=32)


def write_checkpoint(path: Path, kind: str, seed: int = 0, joint_set: str = "itop15") -> Path:
    torch.manual_seed(seed)
    cfg = small_config(kind, joint_set)
    provenance = {"data": "untrained test"}
    return save_checkpoint(path, build_model(cfg), cfg, CropConfig(size=SIZE, cube_m=2.4), provenance)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    return {kind: write_checkpoint(folder / f"{kind}_a2j.pt", kind, seed=i) for i, kind in enumerate(KINDS)}


@pytest.fixture(scope="module")
def frames():
    """Two synthetic 320x240 frames with two people and no clutter (both people are proposed)."""
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_frames

    return list(generate_frames(GeneratorConfig(frames=2, resolution=(320, 240), seed=8, people=2, clutter=0)))


@pytest.fixture(scope="module")
def estimators(checkpoints):
    made = {kind: LearnedEstimator(checkpoints[kind], kind=kind) for kind in KINDS}
    yield made
    for e in made.values():
        e.close()


def assert_inside_cube(pose: PersonPose, crop, kind: str) -> None:
    """Every joint lies in the crop's cube: depth within cube_m / 2 of the centre and, for the
    image models, projecting into the crop window (the point model: within cube_m / 2 per axis)."""
    half = crop.cube_m / 2
    off = pose.joints.astype(np.float64) - crop.centre
    assert np.all(np.abs(off[:, 2]) <= half + 1e-4), off
    if kind == "pointcloud":
        assert np.all(np.abs(off) <= half + 1e-4), off
    else:
        uv = crop.camera.project(pose.joints)
        x0, y0, x1, y1 = crop.box
        assert np.all((uv[:, 0] >= x0 - 1e-3) & (uv[:, 0] <= x1 + 1e-3)), (uv, crop.box)
        assert np.all((uv[:, 1] >= y0 - 1e-3) & (uv[:, 1] <= y1 + 1e-3)), (uv, crop.box)


# ---------------------------------------------------------------- learned estimators
@pytest.mark.parametrize("kind", KINDS)
def test_poses_have_the_right_shapes_ranges_and_lie_in_the_crop_cube(kind, estimators, frames):
    est = estimators[kind]
    assert isinstance(est, Estimator)
    assert est.joint_set is ITOP15 and est.modality == {"depth": Modality.DEPTH, "rgb": Modality.RGB,
                                                        "pointcloud": Modality.POINT_CLOUD}[kind]
    assert est.name == f"a2j_{kind}"
    for sf in frames:
        frame = sf.frame
        crops = est.make_crops(frame)
        poses = est.estimate(frame)
        assert len(poses) == len(crops) == 2
        for pose, crop in zip(poses, crops):
            assert pose.joints.shape == (15, 3) and pose.confidence.shape == (15,)
            assert np.isfinite(pose.joints).all()
            assert np.all((pose.confidence >= 0) & (pose.confidence <= 1))
            assert 0.0 <= pose.score <= 1.0 and pose.track_id == -1 and pose.modality == est.modality
            assert_inside_cube(pose, crop, kind)
            np.testing.assert_allclose(pose.keypoints_2d, frame.camera.project(pose.joints), atol=1e-3)


def test_two_people_give_two_poses_nearest_first_each_on_its_person(estimators, frames):
    """An untrained model puts every joint near its crop's centre: each pose must sit on its own
    person (ground truth), the nearer person first."""
    sf = frames[0]
    gt = sorted(sf.ground_truth["itop15"], key=lambda p: float(np.median(p.joints[:, 2])))
    assert len(gt) == 2
    for kind in KINDS:
        poses = estimators[kind].estimate(sf.frame)
        assert len(poses) == 2
        for pose, person in zip(poses, gt):
            dist = np.linalg.norm(pose.joints.mean(axis=0) - person.joints.mean(axis=0))
            other = [p for p in gt if p is not person][0]
            assert dist < 0.8 and dist < np.linalg.norm(pose.joints.mean(axis=0) - other.joints.mean(axis=0)), kind


@pytest.mark.parametrize("kind", KINDS)
def test_batched_equals_one_by_one(kind, estimators, frames):
    est = estimators[kind]
    frame = frames[1].frame
    crops = est.make_crops(frame)
    assert len(crops) == 2
    batched = est.estimate_crops(frame, crops)
    single = [est.estimate_crops(frame, [c])[0] for c in crops]
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)
    # crops made with another crop size are re-made around the same centres with the model's own
    other = [make_crop(frame.camera, c.centre, CropConfig(size=96, cube_m=3.0)) for c in crops]
    for a, b in zip(est.estimate_crops(frame, other), batched):
        np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)


def test_max_people_keeps_the_nearest(checkpoints, frames):
    est = LearnedEstimator(checkpoints["depth"], max_people=1)
    try:
        full = LearnedEstimator(checkpoints["depth"])
        frame = frames[0].frame
        one, both = est.estimate(frame), full.estimate(frame)
        assert len(one) == 1 and len(both) == 2
        np.testing.assert_allclose(one[0].joints, both[0].joints, atol=1e-4)
    finally:
        est.close()


def empty_camera() -> PinholeCamera:
    return PinholeCamera(fx=150.0, fy=150.0, cx=79.5, cy=59.5, width=160, height=120)


@pytest.mark.parametrize("kind", KINDS)
def test_a_frame_without_people_gives_no_poses(kind, estimators):
    cam = empty_camera()
    rgb = np.zeros((120, 160, 3), np.uint8)
    nothing = np.full((120, 160), np.nan, np.float32)
    wall = np.full((120, 160), 3.0, np.float32)  # a flat wall filling the view: removed as a plane
    for depth in (nothing, wall):
        assert estimators[kind].estimate(RGBDFrame(0, "cam", cam, rgb=rgb, depth=depth)) == []
    assert estimators[kind].estimate_crops(RGBDFrame(0, "cam", cam, rgb=rgb, depth=wall), []) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_frame_without_depth_is_a_clear_input_error(kind, estimators):
    frame = RGBDFrame(0, "cam", empty_camera(), rgb=np.zeros((120, 160, 3), np.uint8))
    with pytest.raises(InputError, match="needs a depth image"):
        estimators[kind].estimate(frame)


def test_the_rgb_estimator_needs_colour(estimators, frames):
    sf = frames[0]
    frame = RGBDFrame(0, "cam", sf.frame.camera, depth=sf.frame.depth)
    with pytest.raises(InputError, match="needs a colour image"):
        estimators["rgb"].estimate(frame)
    assert len(estimators["depth"].estimate(frame)) == 2  # the depth model does not


def ring_frame(hole: bool) -> tuple[RGBDFrame, np.ndarray]:
    """A person-sized block at 2.5 m, optionally with a large hole (no depth) in its middle."""
    cam = PinholeCamera(fx=150.0, fy=150.0, cx=79.5, cy=59.5, width=160, height=120)
    depth = np.full((120, 160), np.nan, np.float32)
    depth[20:110, 60:100] = 2.5
    if hole:
        depth[40:90, 68:92] = np.nan
    return RGBDFrame(0, "cam", cam, depth=depth), depth


def test_confidence_is_the_vote_spread_rule_and_zero_without_depth_support(checkpoints):
    loaded = load_checkpoint(checkpoints["depth"])
    # a person-sized block: found by the geometric proposals (the learned detector rightly sees no person)
    est = LearnedEstimator(loaded, config=LearnedConfig(confidence_scale=20.0, detector="geometric", flip_test=False))
    frame, _ = ring_frame(hole=False)
    crops = est.make_crops(frame)
    assert len(crops) == 1
    pose = est.estimate_crops(frame, crops)[0]
    # known answer: exp(-spread / scale) from the network's own output on the same crop
    from unipose_ros.core.crop import crop_depth

    with torch.inference_mode():
        out = loaded.model(torch.from_numpy(crop_depth(frame.depth, crops[0])[None, None]))
    expected = np.exp(-out.spread[0].numpy() / 20.0)
    np.testing.assert_allclose(pose.confidence, expected, rtol=1e-4)
    assert pose.confidence.min() > 0
    # an untrained model puts the joints near the crop centre: make the centre a hole
    holed, _ = ring_frame(hole=True)
    unsupported = est.estimate_crops(holed, crops)[0]
    uv = crops[0].from_camera(unsupported.joints)[:, :2]
    assert np.all(np.abs(uv - SIZE / 2) < 12), uv  # the joints are inside the hole (> 4 px from depth)
    assert np.all(unsupported.confidence == 0)
    # the same joints count as supported when the search radius reaches the block around the hole
    wide = LearnedEstimator(loaded, config=LearnedConfig(confidence_scale=20.0, support_radius=SIZE // 2, flip_test=False,
                                                         detector="geometric"))
    assert np.all(wide.estimate_crops(holed, crops)[0].confidence > 0)


def test_bf16_runs_on_the_cpu_close_to_fp32(checkpoints, frames):
    fp32 = LearnedEstimator(checkpoints["depth"])
    bf16 = LearnedEstimator(checkpoints["depth"], precision="bf16")
    frame = frames[0].frame
    a, b = fp32.estimate(frame), bf16.estimate(frame)
    assert len(a) == len(b) == 2
    for p, q in zip(a, b):
        assert np.isfinite(q.joints).all() and q.joints.dtype == np.float32
        assert np.abs(p.joints - q.joints).max() < 0.05  # bf16 keeps ~3 digits: < 5 cm on a 2.4 m cube
        assert np.all((q.confidence >= 0) & (q.confidence <= 1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(checkpoints):
    with pytest.raises(ValueError, match="device 'cuda' requested but .*use device 'cpu'"):
        LearnedEstimator(checkpoints["depth"], device="cuda")
    with pytest.raises(ValueError, match="use 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="precision 'fp8'"):
        LearnedEstimator(checkpoints["depth"], precision="fp8")
    assert resolve_device("cpu") == torch.device("cpu")


def test_checkpoints_of_the_wrong_kind_joint_set_or_size_are_refused(checkpoints, tmp_path):
    with pytest.raises(CheckpointError, match="kind is 'depth', expected 'rgb'"):
        LearnedEstimator(checkpoints["depth"], kind="rgb")
    with pytest.raises(CheckpointError, match="joint set is 'itop15', expected 'coco17'"):
        LearnedEstimator(checkpoints["depth"], config=LearnedConfig(joint_set="coco17"))
    with pytest.raises(CheckpointError, match=f"input size is {SIZE}, expected 128"):
        LearnedEstimator(checkpoints["depth"], config=LearnedConfig(input_size=128))
    coco = write_checkpoint(tmp_path / "coco.pt", "depth", joint_set="coco17")
    with pytest.raises(CheckpointError, match="joint set is 'coco17', expected 'itop15'"):
        build_estimator("depth", checkpoint=coco)
    with pytest.raises(CheckpointError, match="kind is 'pointcloud', expected 'depth'"):
        build_estimator("depth", checkpoint=checkpoints["pointcloud"])
    # a LoadedModel given directly is checked the same way
    with pytest.raises(CheckpointError, match="expected 'rgb'"):
        LearnedEstimator(load_checkpoint(checkpoints["depth"]), kind="rgb")


# ---------------------------------------------------------------- fusion
def pose_of(joints, conf) -> PersonPose:
    return PersonPose(track_id=-1, joint_set=ITOP15, joints=np.asarray(joints, np.float32),
                      confidence=np.asarray(conf, np.float32), modality=Modality.DEPTH)


def test_fuse_joint_drops_the_outlier_of_three_and_weights_by_confidence():
    pts = np.array([[0.0, 0.0, 2.0], [0.04, 0.0, 2.0], [0.5, 0.0, 2.0]])
    conf = np.array([0.6, 0.2, 0.9])
    x, c, kept = fuse_joint(pts, conf, outlier_m=0.15)
    assert kept.tolist() == [True, True, False]
    np.testing.assert_allclose(x, [0.75 * 0.0 + 0.25 * 0.04, 0.0, 2.0])  # weights 0.6 / 0.8, 0.2 / 0.8
    s = np.sqrt(0.75 * 0.01 ** 2 + 0.25 * 0.03 ** 2)                       # weighted RMS from x
    expected = (0.6 ** 2 + 0.2 ** 2) / 0.8 * (2 / 3) * np.exp(-0.5 * (s / 0.15) ** 2)
    assert c == pytest.approx(expected, rel=1e-9)
    # with two members nothing is dropped: the weighted mean, confidence lowered by the disagreement
    x2, c2, kept2 = fuse_joint(pts[[0, 2]], conf[[0, 2]], outlier_m=0.15)
    assert kept2.tolist() == [True, True]
    np.testing.assert_allclose(x2, [0.5 * 0.9 / 1.5, 0.0, 2.0])
    assert c2 < 0.5
    # non-finite members do not take part; none at all gives NaN and 0
    x3, c3, kept3 = fuse_joint(np.array([[np.nan] * 3, [1.0, 1.0, 3.0], [1.0, 1.0, 3.0]]), np.array([1.0, 0.5, 0.5]))
    np.testing.assert_allclose(x3, [1.0, 1.0, 3.0])
    assert c3 == pytest.approx(0.5) and kept3.tolist() == [False, True, True]
    x4, c4, _ = fuse_joint(np.full((2, 3), np.nan), np.ones(2))
    assert np.isnan(x4).all() and c4 == 0.0
    # all three far from the median: the nearest to it is kept
    spread = np.array([[0.0, 0.0, 2.0], [0.4, 0.0, 2.0], [0.0, 0.4, 2.0]])
    x5, _, kept5 = fuse_joint(spread, np.ones(3), outlier_m=0.15)
    assert kept5.sum() == 1


def test_fuse_poses_per_joint_with_an_outlier_member():
    base = np.tile([0.0, 0.0, 2.0], (15, 1))
    a = pose_of(base, np.full(15, 0.8))
    b = pose_of(base + [0.02, 0.0, 0.0], np.full(15, 0.8))
    bad = base.copy()
    bad[0] += [0.0, -0.6, 0.0]  # one member is wrong about the head only
    c = pose_of(bad, np.full(15, 1.0))
    fused = fuse_poses([a, b, c])
    assert fused.modality == Modality.FUSED and fused.joint_set is ITOP15
    np.testing.assert_allclose(fused.joints[0], [0.01, 0.0, 2.0], atol=1e-6)       # c's head dropped
    assert fused.confidence[0] < 0.8 * 2 / 3 + 1e-6                               # 2 of 3 agreed
    others = (0.8 * 0.0 + 0.8 * 0.02 + 1.0 * 0.0) / 2.6
    np.testing.assert_allclose(fused.joints[1:, 0], others, atol=1e-6)            # all three kept
    assert fused.score == pytest.approx(float(fused.confidence.mean()))


def test_fused_of_identical_members_is_the_member(checkpoints, frames):
    loaded = [load_checkpoint(checkpoints["depth"]) for _ in range(3)]
    members = [LearnedEstimator(m) for m in loaded]
    fused = FusedEstimator(members)
    frame = frames[0].frame
    expected = LearnedEstimator(checkpoints["depth"]).estimate(frame)
    got = fused.estimate(frame)
    assert len(got) == len(expected) == 2
    for g, e in zip(got, expected):
        assert g.modality == Modality.FUSED
        np.testing.assert_allclose(g.joints, e.joints, atol=1e-5)
        np.testing.assert_allclose(g.confidence, e.confidence, atol=1e-5)
    fused.close()


def test_fused_skips_the_colour_member_on_depth_only_input(checkpoints, frames):
    cfg = FusedConfig(depth_checkpoint=str(checkpoints["depth"]), rgb_checkpoint=str(checkpoints["rgb"]),
                      pointcloud_checkpoint=str(checkpoints["pointcloud"]))
    fused = build_estimator("fused", config=cfg)
    assert isinstance(fused, FusedEstimator) and fused.name == "a2j_fused"
    detectors = {id(m.detector) for m in fused.members}
    assert len(detectors) == 1 and fused.members[0].detector is not None  # one detector loaded, shared
    sf = frames[0]
    with_rgb = fused.estimate(sf.frame)
    assert fused.last_used == ["depth", "rgb", "pointcloud"] and len(with_rgb) == 2
    depth_only = RGBDFrame(0, "cam", sf.frame.camera, depth=sf.frame.depth)
    poses = fused.estimate(depth_only)
    assert fused.last_used == ["depth", "pointcloud"] and len(poses) == 2
    for p in poses:
        assert np.isfinite(p.joints).all() and np.all((p.confidence >= 0) & (p.confidence <= 1))
    with pytest.raises(InputError, match="needs a depth image"):
        fused.estimate(RGBDFrame(0, "cam", sf.frame.camera, rgb=sf.frame.rgb))
    fused.close()


# ---------------------------------------------------------------- registry
def test_registry_builds_by_name_with_config_files(checkpoints, tmp_path):
    yaml_path = tmp_path / "learned.yaml"
    yaml_path.write_text("max_people: 1\nconfidence_scale: 5.0\nproposals:\n  max_range_m: 5.0\n")
    est = build_estimator("depth", checkpoint=checkpoints["depth"], config=yaml_path)
    assert isinstance(est, LearnedEstimator) and est.kind == "depth"
    assert est.config.max_people == 1 and est.config.proposals.max_range_m == 5.0
    est.close()
    with pytest.raises(ValueError, match="unknown estimator 'a2j'.*baseline, depth, rgb, pointcloud, fused"):
        build_estimator("a2j")
    with pytest.raises(ValueError, match="does not apply to the baseline"):
        build_estimator("baseline", checkpoint=checkpoints["depth"])
    with pytest.raises(ValueError, match="rgb_checkpoint"):
        build_estimator("fused", checkpoint=checkpoints["depth"])
    with pytest.raises(CheckpointError, match="does not exist"):
        build_estimator("rgb", checkpoint=tmp_path / "nope.pt")


def test_a_missing_bundled_checkpoint_names_the_file_and_how_to_train_it(monkeypatch, tmp_path):
    import unipose_ros.models as models

    monkeypatch.setattr(models, "default_checkpoint", lambda kind: tmp_path / f"{kind}_a2j.pt")
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint("depth")
    msg = str(err.value)
    assert str(tmp_path / "depth_a2j.pt") in msg
    assert "python -m unipose_training.supervised.train --config config/train/depth_a2j.yaml" in msg
    with pytest.raises(CheckpointError, match="the bundled depth checkpoint .*depth_a2j.yaml"):
        build_estimator("fused")


@pytest.mark.parametrize("kind", KINDS)
def test_bundled_checkpoints_run(kind, frames):
    if not default_checkpoint(kind).is_file():
        pytest.skip(f"bundled checkpoint {default_checkpoint(kind)} not present")
    est = build_estimator(kind)
    poses = est.estimate(frames[0].frame)
    assert len(poses) >= 1
    for p in poses:
        assert np.isfinite(p.joints).all() and np.all((p.confidence >= 0) & (p.confidence <= 1))
    est.close()


# ---------------------------------------------------------------- real depth
@pytest.mark.skipif(not REAL.is_dir(), reason=f"real depth data not found ({REAL})")
@pytest.mark.parametrize("kind", ("depth", "pointcloud"))
def test_real_itop_depth_runs(kind, checkpoints):
    """Real ITOP frames (one person each): poses for the proposed people, finite, in range."""
    from unipose_ros.core.camera import depth_to_metres

    est = LearnedEstimator(checkpoints[kind])
    for name in ("ITOP_train_000000000053.npy", "ITOP_train_000000009814.npy"):
        mm = np.load(REAL / name)
        frame = RGBDFrame(0, "cam", ITOP_CAM, depth=depth_to_metres(mm, "16UC1"))
        poses = est.estimate(frame)
        assert 1 <= len(poses) <= est.config.max_people
        for pose in poses:
            assert np.isfinite(pose.joints).all()
            assert 1.0 < float(np.median(pose.joints[:, 2])) < 6.0
    est.close()
    if default_checkpoint(kind).is_file():  # a trained network: the standing person of frame 53 is upright
        mm = np.load(REAL / "ITOP_train_000000000053.npy")
        frame = RGBDFrame(0, "cam", ITOP_CAM, depth=depth_to_metres(mm, "16UC1"))
        head, feet = ITOP15.index("head"), [ITOP15.index("left_foot"), ITOP15.index("right_foot")]
        poses = build_estimator(kind).estimate(frame)
        # y points down in the optical frame: the head is well above both feet
        assert any(p.joints[head, 1] < p.joints[feet, 1].min() - 0.8 for p in poses)


def test_config_files_hold_the_defaults():
    from unipose_ros.core.config import load_yaml

    root = Path(__file__).resolve().parents[1] / "config"
    assert load_yaml(LearnedConfig, root / "learned.yaml") == LearnedConfig()
    assert load_yaml(FusedConfig, root / "fused.yaml") == FusedConfig()


@pytest.mark.parametrize("kind", ("depth", "rgb"))
def test_channels_last_gives_the_same_poses(kind, checkpoints, frames):
    frame = frames[0].frame
    plain = LearnedEstimator(checkpoints[kind], channels_last=False).estimate(frame)
    cl = LearnedEstimator(checkpoints[kind], channels_last=True)
    assert cl.channels_last
    for a, b in zip(plain, cl.estimate(frame)):
        np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_flip_test_answer_of_a_mirror_symmetric_crop_is_mirror_symmetric(checkpoints, kind):
    # On an input that equals its own mirror the plain network (untrained, so not symmetric) gives
    # some answer o; the flip-test answer averages o with its mirror, so a left joint must sit at
    # the mirror image of its right partner: u_left + u_right = S - 1 (images) or x_left = -x_right
    # (points), with v and depth equal.
    est = LearnedEstimator(checkpoints[kind], kind=kind, config=LearnedConfig(flip_test=True, flip_side_check=False))
    rng = np.random.default_rng(3)
    if kind == "depth":
        half = rng.uniform(-1, 1, (2, 1, SIZE, SIZE // 2)).astype(np.float32)
        batch = np.concatenate([half, half[..., ::-1]], axis=-1)
    elif kind == "rgb":
        half = rng.integers(0, 256, (2, SIZE, SIZE // 2, 3), dtype=np.uint8)
        batch = np.concatenate([half, half[:, :, ::-1]], axis=2)
    else:
        half = rng.uniform(-1, 1, (2, 128, 3)).astype(np.float32)
        batch = np.concatenate([half, half * np.array([-1, 1, 1], np.float32)], axis=1)
    np.testing.assert_array_equal(np.sort(est._mirror_input(batch).reshape(-1)), np.sort(batch.reshape(-1)))
    plain = LearnedEstimator(checkpoints[kind], kind=kind, config=LearnedConfig(flip_test=False))._run(batch)
    out = est._run(batch)
    assert out.shape == plain.shape == (2, 15, 4)
    left, right = np.array(ITOP15.flip_pairs).T
    if kind == "pointcloud":
        assert np.abs(plain[:, left, 0] + plain[:, right, 0]).max() > 5e-4  # the plain answer is not symmetric
        np.testing.assert_allclose(out[:, left, 0], -out[:, right, 0], atol=1e-6)
    else:
        assert np.abs(plain[:, left, 0] + plain[:, right, 0] - (SIZE - 1)).max() > 1e-2
        np.testing.assert_allclose(out[:, left, 0] + out[:, right, 0], SIZE - 1, atol=1e-3)
    np.testing.assert_allclose(out[:, left, 1:], out[:, right, 1:], atol=1e-4)
    centre = [i for i in range(15) if i not in set(left) | set(right)]
    if kind == "pointcloud":
        np.testing.assert_allclose(out[:, centre, 0], 0.0, atol=1e-6)
    else:
        np.testing.assert_allclose(out[:, centre, 0], (SIZE - 1) / 2, atol=1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_flip_test_default_is_on_for_depth_only(checkpoints, kind):
    assert LearnedEstimator(checkpoints[kind], kind=kind).flip_test == (kind == "depth")
    assert not LearnedEstimator(checkpoints[kind], kind=kind, config=LearnedConfig(flip_test=False)).flip_test
    assert LearnedEstimator(checkpoints[kind], kind=kind, config=LearnedConfig(flip_test=True)).flip_test


def test_evaluate_cli_with_checkpoint_and_config_overrides(checkpoints, frames, tmp_path):
    """``python -m unipose_training.evaluation.evaluate``: a kind's checkpoint and settings (flip_test) are
    used, and the fused estimator takes the same checkpoint overrides for its members."""
    import json

    from unipose_ros.io.bag import RecordingWriter
    from unipose_training.evaluation.evaluate import main

    rec = tmp_path / "data" / "rec0"
    rec.parent.mkdir()
    with RecordingWriter(rec, write_points=False) as w:
        for sf in frames:
            w.write_frame(sf.frame, {"itop15": sf.ground_truth["itop15"]})
    (tmp_path / "flip.yaml").write_text("flip_test: true\nmin_person_score: 0.0\n")
    overrides = [a for kind in KINDS for a in ("--checkpoint", f"{kind}={checkpoints[kind]}")]
    assert main(["--data", str(tmp_path / "data"), "--estimators", "depth", "fused", "--out", str(tmp_path / "out"),
                 "--config", f"depth={tmp_path / 'flip.yaml'}", *overrides]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["config"]["configs"] == {"depth": str(tmp_path / "flip.yaml")}
    assert report["config"]["checkpoints"]["depth"] == str(checkpoints["depth"])
    assert report["results"]["depth"]["frames"] == report["results"]["fused"]["frames"] == len(frames)


def test_flip_combination_keeps_an_ambiguous_pair_unaveraged_with_lower_confidence():
    from unipose_ros.estimators.learned import combine_flip

    pairs = ((1, 2),)
    direct = np.array([[[10, 10, 0, 0.8], [5, 10, 0, 0.9], [15, 10, 0, 0.7]]], np.float32)
    agree = direct.copy()
    agree[..., :3] += 1.0
    out = combine_flip(direct, agree, pairs, 0.5)
    np.testing.assert_allclose(out[0, :, :3], direct[0, :, :3] + 0.5)       # averaged
    np.testing.assert_allclose(out[0, :, 3], direct[0, :, 3])
    swapped = direct.copy()
    swapped[0, [1, 2]] = direct[0, [2, 1]]                                   # the mirror put left on the right
    out = combine_flip(direct, swapped, pairs, 0.5)
    np.testing.assert_allclose(out[0, 1:, :3], direct[0, 1:, :3])          # not blended into the middle
    np.testing.assert_allclose(out[0, 1:, 3], direct[0, 1:, 3] * 0.5)
    np.testing.assert_allclose(out[0, 0, :3], direct[0, 0, :3])            # unpaired joint: mean of equals
