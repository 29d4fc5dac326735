"""Person detector: targets and decoding agree on hand-made scenes (known answers), the
network overfits a few frames in seconds, and the bundled checkpoint finds people in renders
(lying on the floor, touching a wall) and in real depth frames."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

torch = pytest.importorskip("torch")

from unipose_ros.models.detector import (  # noqa: E402
    STRIDE,
    DetectorConfig,
    PersonDetectorNet,
    detections_from_output,
    detector_input,
)
from unipose_training.detection.targets import make_targets, sample  # noqa: E402

H, W = 240, 320


def boxes_scene(boxes, z=(2.0, 3.0), shape=(H, W)):
    """A wall at 4 m with people-sized boxes (x0, y0, x1, y1) at the given depths; returns
    (depth metres, instance)."""
    depth = np.full(shape, 4.0, np.float32)
    inst = np.full(shape, -1, np.int16)
    for k, ((x0, y0, x1, y1), zk) in enumerate(zip(boxes, z)):
        depth[y0:y1, x0:x1] = zk
        inst[y0:y1, x0:x1] = k
    return depth, inst


def perfect_output(inst: np.ndarray) -> np.ndarray:
    """The network output that matches the targets exactly (logits of 0/1 saturated)."""
    t = make_targets(inst)
    heat = np.clip(t["heat"], 1e-6, 1 - 1e-6)
    return np.concatenate([np.where(t["mask"] > 0, 10.0, -10.0)[None], np.log(heat / (1 - heat))[None],
                           t["offset"]]).astype(np.float32)


def test_targets_and_decoding_round_trip_on_boxes_at_known_places():
    boxes = [(40, 40, 88, 200), (180, 60, 220, 220)]
    depth, inst = boxes_scene(boxes)
    t = make_targets(inst)
    assert t["centres"].shape == (2, 2)
    np.testing.assert_allclose(t["centres"][0], [(40 + 88) / 2 / STRIDE - 0.5, (40 + 200) / 2 / STRIDE - 0.5], atol=0.6)
    assert t["heat"].max() == pytest.approx(1.0)
    rows, cols = np.arange(H), np.arange(W)
    found = detections_from_output(perfect_output(inst), depth, rows, cols, DetectorConfig(mask_dilate=0))
    assert len(found) == 2
    for det, (x0, y0, x1, y1), z in zip(found, boxes, (2.0, 3.0)):  # nearest first
        assert det.depth_m == pytest.approx(z)
        assert np.allclose(det.box, (x0, y0, x1, y1), atol=STRIDE)
        truth = inst == boxes.index((x0, y0, x1, y1))
        iou = (det.mask & truth).sum() / (det.mask | truth).sum()
        assert iou > 0.85
    # the default one-cell margin keeps the whole person and adds at most a 4-pixel rim
    for det, k in zip(detections_from_output(perfect_output(inst), depth, rows, cols, DetectorConfig()), (0, 1)):
        truth = inst == k
        assert (det.mask & truth).sum() >= 0.97 * truth.sum()
        assert not (det.mask & ~ndimage.binary_dilation(truth, iterations=2 * STRIDE)).any()


def test_touching_people_are_split_by_their_offsets():
    # two people side by side with no gap: one mask blob, two instances
    boxes = [(100, 50, 150, 210), (150, 50, 200, 210)]
    depth, inst = boxes_scene(boxes, z=(2.5, 2.5))
    found = detections_from_output(perfect_output(inst), depth, np.arange(H), np.arange(W),
                                   DetectorConfig(mask_dilate=0))
    assert len(found) == 2
    lefts = sorted(d.box[0] for d in found)
    assert abs(lefts[0] - 100) <= STRIDE and abs(lefts[1] - 150) <= STRIDE


def test_small_people_are_ignored_not_negatives():
    depth, inst = boxes_scene([(10, 10, 14, 14)])
    t = make_targets(inst, min_pixels=12)
    assert len(t["centres"]) == 0 and t["mask"].sum() == 0
    assert (t["weight"] == 0).sum() == 1  # a 4x4 person is one output pixel, not counted


def test_people_without_depth_are_left_out_and_only_measured_pixels_are_targets():
    """A person past the sensor's range (no valid depth) is neither a target nor background; a
    half-measured person's mask and centre come from their measured half."""
    depth, inst = boxes_scene([(40, 40, 80, 120), (160, 40, 200, 120)])
    measured = np.isfinite(depth)
    measured[:, 150:] = False            # the second person: nothing measured
    measured[:, 60:80] = False           # the first: only their left half
    t = make_targets(inst, measured=measured)
    assert len(t["centres"]) == 1
    cx, cy = t["centres"][0]
    assert abs(cx * STRIDE - 50) <= STRIDE and abs(cy * STRIDE - 80) <= STRIDE  # middle of the measured half
    ins = inst[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE]  # the targets' output grid
    assert t["mask"][ins == 1].sum() == 0 and (t["weight"][ins == 1] == 0).all()   # left out, not background
    right_half = (ins == 0) & ~measured[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE]
    assert right_half.any() and (t["weight"][right_half] == 0).all() and t["mask"][right_half].sum() == 0
    everything = make_targets(inst)       # no mask: every instance pixel counts (as before)
    assert len(everything["centres"]) == 2


def test_input_keeps_aspect_and_pads_to_multiples_of_16():
    depth = np.full((424, 512), 2.0, np.float32)
    depth[:10] = np.nan
    x, (rows, cols) = detector_input(depth, 320)
    assert x.shape == (2, 272, 320) and len(rows) == 265 and len(cols) == 320
    assert x[1, :6].sum() == 0 and x[1, 10:265].all() and not x[1, 265:].any()


@pytest.fixture
def one_thread():
    """One torch thread: two pytest workers with two threads each slow each other down tenfold."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_detector_overfits_a_few_frames_on_the_cpu_in_seconds(one_thread):
    from unipose_training.detection.train import detector_loss

    torch.manual_seed(0)
    hw = (96, 128)
    scenes = [boxes_scene([(20, 16, 44, 88)], z=(2.0,), shape=hw),
              boxes_scene([(60, 12, 84, 92), (96, 30, 116, 80)], shape=hw)]
    batch = [sample((d * 1000).astype(np.uint16), i, None, hw) for d, i in scenes]
    batch = {k: torch.from_numpy(np.stack([b[k] for b in batch])) for k in batch[0] if k != "centres"}
    net = PersonDetectorNet(DetectorConfig(channels=(8, 16, 24, 32)))
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    first = None
    for _ in range(120):
        loss = detector_loss(net(batch["input"]), batch)["total"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.25 * first
    net.eval()
    with torch.no_grad():
        out = net(batch["input"]).numpy()
    for k, (d, inst) in enumerate(scenes):
        found = detections_from_output(out[k], d, np.arange(hw[0]), np.arange(hw[1]),
                                       DetectorConfig(peak_threshold=0.3, min_pixels=4), min_valid=10)
        assert len(found) == inst.max() + 1, [f.box for f in found]


# ------------------------------------------------------------------ the bundled detector
_RENDER_MISSING = [m for m in ("anny", "open3d") if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="module")
def detector():
    from unipose_ros.estimators.person_detector import DEFAULT_CHECKPOINT, LearnedPersonDetector

    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"no bundled detector checkpoint at {DEFAULT_CHECKPOINT}")
    return LearnedPersonDetector()


@pytest.fixture(scope="module")
def body():
    if _RENDER_MISSING:
        pytest.skip(f"rendering needs {_RENDER_MISSING}")
    from unipose_ros.synthetic.bodies import BodyModel

    return BodyModel()


def render_person(body, clip: str, frame: int, wall_behind_m: float | None = None, seed: int = 0):
    """One person (ITOP-like structured-light sensor, camera 1.2 m high, 15 deg down) about 3 m
    away; with ``wall_behind_m`` the back wall's face stands that far behind the body's farthest
    point. Returns (sensor depth metres NaN invalid, person mask, camera)."""
    from unipose_ros.synthetic import motions as mo
    from unipose_ros.synthetic.render import Renderer
    from unipose_ros.synthetic.scene import look_camera, random_room
    from unipose_ros.synthetic.sensors import apply_sensor, sensor

    rng = np.random.default_rng(seed)
    room = random_room(rng, 0)
    person = body.make_person(rng)
    motion = mo.place(mo.resample(mo.load_clip(clip), 15.0, frame + 1), 0.0, np.array([3.0, 0.0]))
    posed = body.pose(person, motion)
    verts = posed.vertices[frame]
    if wall_behind_m is not None:
        wall = room.objects[1].vertices
        wall[:, 0] += np.float32(verts[:, 0].max() + wall_behind_m - wall[:, 0].min())
    model = sensor("itop")
    cam_pose = look_camera(np.array([0.0, 0.0, 1.2]), 0.0, np.radians(15))
    r = Renderer(model.camera, cam_pose, room).render([(verts, body.faces, person.colors)])
    mm = apply_sensor(r.depth, r.rgb, model, rng)
    depth = np.where(mm > 0, mm / 1000.0, np.nan).astype(np.float32)
    return depth, r.instance == 0, model.camera


def _one_person(found, truth):
    assert len(found) == 1, f"{len(found)} people found: {[(d.box, round(d.score, 2)) for d in found]}"
    iou = (found[0].mask & truth).sum() / (found[0].mask | truth).sum()
    assert iou > 0.6, f"mask IoU {iou:.2f}"


def test_bundled_detector_finds_a_person_lying_on_the_floor(detector, body):
    depth, truth, cam = render_person(body, "getup_faceup", 0)
    assert truth.sum() > 300
    _one_person(detector.detect(depth, cam), truth & np.isfinite(depth))


def test_bundled_detector_finds_a_person_touching_a_wall(detector, body):
    depth, truth, cam = render_person(body, "walk", 10, wall_behind_m=0.02)
    _one_person(detector.detect(depth, cam), truth & np.isfinite(depth))


def test_bundled_detector_finds_nobody_in_an_empty_room(detector, body):
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_frames
    from unipose_ros.synthetic.scene import ViewConfig

    for seed in (11, 12, 13):
        sf = next(generate_frames(GeneratorConfig(frames=1, people=0, seed=seed, sensor="d435", views=ViewConfig()), body))
        assert detector.detect(sf.frame.depth, sf.frame.camera) == []


REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_depth_unlabelled"


@pytest.mark.skipif(not REAL.exists(), reason=f"{REAL} not present (real depth frames)")
@pytest.mark.parametrize("name,people", [("ITOP_train_000000000053.npy", 1), ("ITOP_train_000000009814.npy", 1),
                                         ("depth_02_000000005014.mat", 3)])
def test_bundled_detector_finds_every_person_in_the_real_frames(detector, name, people):
    from unipose_ros.core.camera import PinholeCamera

    if name.endswith(".mat"):
        scipy_io = pytest.importorskip("scipy.io")
        depth = np.asarray(scipy_io.loadmat(str(REAL / name))["depth"], np.float32)
        cam = PinholeCamera(fx=364.85, fy=364.85, cx=249.18, cy=202.52, width=512, height=424)
    else:
        depth = np.load(REAL / name).astype(np.float32) / 1000.0
        cam = PinholeCamera(fx=285.714, fy=285.714, cx=160.0, cy=120.0, width=320, height=240)
    depth[depth <= 0] = np.nan
    found = detector.detect(depth, cam)
    assert len(found) == people, [(d.box, round(d.score, 2), round(d.depth_m, 2)) for d in found]
    for d in found:  # person-sized: 1-2.1 m tall where the whole body is seen
        pts = cam.backproject(np.argwhere(d.mask)[:, ::-1].astype(float), depth[d.mask])
        extent = np.percentile(pts, 98, axis=0) - np.percentile(pts, 2, axis=0)
        assert 0.25 < extent[0] < 1.5 and 0.8 < extent[1] < 2.2, extent
