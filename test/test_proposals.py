"""Person proposals on depth: fragments merge, bridges of edge pixels to the wall are cut, real frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.person_proposals import ProposalConfig, merge_fragments, propose_people

CAM = PinholeCamera(fx=285.714, fy=285.714, cx=160.0, cy=120.0, width=320, height=240)
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_depth_unlabelled"


def _room_with_person() -> np.ndarray:
    """A wavy background (no plane to remove) at ~4 m and a 0.5 x 1.7 m 'person' slab at 2.8 m, joined
    to the background by a two-pixel-high ramp of intermediate depths (flying pixels, as Kinect edges make)."""
    u = np.arange(320, dtype=np.float32)
    d = np.tile(4.0 + 0.3 * np.sin(u / 25.0), (240, 1)).astype(np.float32)
    d[40:210, 135:185] = 2.8
    ramp = np.linspace(2.85, float(d[150, 245]), 60, dtype=np.float32)
    d[150, 185:245] = ramp          # a smooth path from the body to the wall, 1 px high
    d[151, 185:245] = ramp
    return d


def test_bridge_of_edge_pixels_does_not_hide_the_person():
    d = _room_with_person()
    found = propose_people(d, CAM)
    assert any(abs(p.depth_m - 2.8) < 0.1 and p.box[0] <= 140 and p.box[2] >= 180 for p in found)
    plain = propose_people(d, CAM, ProposalConfig(open_bridges=False))
    assert not any(abs(p.depth_m - 2.8) < 0.1 for p in plain)  # the failure the opening fixes


def test_fragments_of_one_body_merge_but_two_people_do_not():
    rng = np.random.default_rng(0)

    def blob(x0, x1, y0, y1, z):
        n = 200
        pts = np.stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), np.full(n, z)], 1)
        box = (CAM.project(np.array([x0, y0, z]))[0], CAM.project(np.array([x0, y0, z]))[1],
               CAM.project(np.array([x1, y1, z]))[0], CAM.project(np.array([x1, y1, z]))[1])
        return box, pts

    cfg = ProposalConfig()
    torso, arm = blob(-0.2, 0.2, -0.6, 0.3, 3.0), blob(0.15, 0.45, -0.5, -0.2, 3.05)  # overlapping pieces
    assert len(merge_fragments([torso, arm], cfg)) == 1
    a, b = blob(-0.9, -0.4, -0.9, 0.8, 3.0), blob(0.4, 0.9, -0.9, 0.8, 3.0)  # two people 0.8 m apart
    assert len(merge_fragments([a, b], cfg)) == 2
    near, far = blob(-0.2, 0.2, -0.9, 0.8, 2.0), blob(-0.1, 0.3, -0.9, 0.8, 3.0)  # one behind the other
    assert len(merge_fragments([near, far], cfg)) == 2


@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/real_depth_unlabelled not present")
@pytest.mark.parametrize("name, box", [("ITOP_train_000000000053.npy", (140, 70, 200, 200)),
                                       ("ITOP_train_000000009814.npy", (125, 80, 180, 230))])
def test_real_itop_frames_propose_the_person(name, box):
    raw = np.load(REAL / name)
    d = np.where(raw > 0, raw.astype(np.float32) / 1000, np.nan).astype(np.float32)
    found = propose_people(d, CAM)
    # the proposal must cover the person's core box (hand-read from the image) and lie at ~3 m
    hits = [p for p in found if p.box[0] <= box[0] and p.box[1] <= box[1] and p.box[2] >= box[2]
            and p.box[3] >= box[3] and 2.7 < p.depth_m < 3.3]
    assert hits, [(p.box, round(p.depth_m, 2)) for p in found]
