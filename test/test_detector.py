"""Person detector: targets and decoding agree on hand-made scenes (known answers), the
network overfits a few frames in seconds, and the bundled checkpoint finds people in renders
(lying on the floor, touching a wall) and in real depth frames."""
from __future__ import annotations

import numpy as np
import pytest

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
    found = detections_from_output(perfect_output(inst), depth, rows, cols, DetectorConfig())
    assert len(found) == 2
    for det, (x0, y0, x1, y1), z in zip(found, boxes, (2.0, 3.0)):  # nearest first
        assert det.depth_m == pytest.approx(z)
        assert np.allclose(det.box, (x0, y0, x1, y1), atol=STRIDE)
        truth = inst == boxes.index((x0, y0, x1, y1))
        iou = (det.mask & truth).sum() / (det.mask | truth).sum()
        assert iou > 0.85


def test_touching_people_are_split_by_their_offsets():
    # two people side by side with no gap: one mask blob, two instances
    boxes = [(100, 50, 150, 210), (150, 50, 200, 210)]
    depth, inst = boxes_scene(boxes, z=(2.5, 2.5))
    found = detections_from_output(perfect_output(inst), depth, np.arange(H), np.arange(W), DetectorConfig())
    assert len(found) == 2
    lefts = sorted(d.box[0] for d in found)
    assert abs(lefts[0] - 100) <= STRIDE and abs(lefts[1] - 150) <= STRIDE


def test_small_people_are_ignored_not_negatives():
    depth, inst = boxes_scene([(10, 10, 14, 14)])
    t = make_targets(inst, min_pixels=12)
    assert len(t["centres"]) == 0 and t["mask"].sum() == 0
    assert (t["weight"] == 0).sum() == 1  # a 4x4 person is one output pixel, not counted


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
