"""Synthetic generator: motion clips, posed anny bodies with exact joints, renders, sensor model,
recordings. Small resolution and few frames; one anny model for the whole session."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from unipose_ros.core.joints import COCO17, ITOP15
from unipose_ros.synthetic import motions as mo

_MISSING = [m for m in ("anny", "open3d", "torch") if importlib.util.find_spec(m) is None]
needs_body = pytest.mark.skipif(
    bool(_MISSING), reason=f"synthetic rendering needs {_MISSING} (pip install anny open3d-cpu torch)")

# ---------------------------------------------------------------------------------- motions


def test_all_clips_parse_and_start_facing_forward() -> None:
    names = mo.available_clips()
    assert len(names) == 15
    for n in names:
        m = mo.load_clip(n)
        assert m.local.shape == (len(m), len(mo.JOINTS), 3, 3)
        np.testing.assert_allclose(m.root_pos[0, :2], 0.0, atol=1e-9)
        fwd = m.root_rot[0][:, 0]
        assert abs(np.arctan2(fwd[1], fwd[0])) < 1e-6  # first-frame heading removed
        assert 0.05 < m.root_pos[0, 2] < 1.0  # pelvis height, metres (Z up; low for getup clips)


def test_resample_rate_and_loop_continues_forward() -> None:
    walk = mo.load_clip("walk")
    r = mo.resample(walk, 15.0, 90)  # 6 s of a 1.3 s looping clip
    assert len(r) == 90 and r.fps == 15.0
    step = np.linalg.norm(np.diff(r.root_pos[:, :2], axis=0), axis=1)
    assert step.max() < 0.2  # no jump back to the start at each loop (walking ~1.2 m/s)
    assert r.root_pos[-1, 0] > 4.0


def test_mirror_swaps_left_and_right() -> None:
    m = mo.resample(mo.load_clip("punch"), 15.0)
    mm = mo.mirror(m)
    li, ri = mo.JOINTS.index("left_shoulder"), mo.JOINTS.index("right_shoulder")
    np.testing.assert_allclose(mm.local[:, li], np.diag([1, -1, 1]) @ m.local[:, ri] @ np.diag([1, -1, 1]))
    np.testing.assert_allclose(mm.root_pos[:, 1], -m.root_pos[:, 1])
    back = mo.mirror(mm)
    np.testing.assert_allclose(back.local, m.local, atol=1e-12)


# ---------------------------------------------------------------------------------- bodies


@pytest.fixture(scope="session")
def body():
    if _MISSING:
        pytest.skip(f"needs {_MISSING}")
    from unipose_ros.synthetic.bodies import BodyModel

    return BodyModel()


@pytest.fixture(scope="session")
def person(body):
    return body.make_person(np.random.default_rng(7))


@pytest.fixture(scope="session")
def walk_posed(body, person):
    return body.pose(person, mo.resample(mo.load_clip("walk"), 15.0, 30))


@needs_body
def test_limb_lengths_constant(walk_posed) -> None:
    """Limbs, shoulder and hip widths, and face points are rigid (the spine and neck bend, so
    bones through the ITOP neck/torso midpoints legitimately change length)."""
    limbs = [("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle")]
    for name, js, hand, foot in (("itop15", ITOP15, "hand", "foot"), ("coco17", COCO17, "wrist", "ankle")):
        pairs = [(f"{s}_{a}", f"{s}_{b.replace('wrist', hand).replace('ankle', foot)}")
                 for s in ("left", "right") for a, b in limbs]
        pairs += [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")]
        if name == "coco17":
            pairs += [("nose", "left_ear"), ("left_eye", "right_ear"), ("left_ear", "right_ear")]
        j = getattr(walk_posed, name).astype(np.float64)
        for a, b in pairs:
            length = np.linalg.norm(j[:, js.index(a)] - j[:, js.index(b)], axis=-1)
            assert np.ptp(length) < 1e-3, f"{name} {a}-{b} varies by {np.ptp(length)} m"
            assert length.min() > 0.05


@needs_body
def test_joints_inside_mesh_bounds_and_anatomy(walk_posed) -> None:
    v, j = walk_posed.vertices, walk_posed.itop15
    lo, hi = v.min(axis=1, keepdims=True), v.max(axis=1, keepdims=True)
    assert ((j >= lo) & (j <= hi)).all()
    assert (v[..., 2].min(axis=1) > -0.05).all()  # soles on the floor, not below
    z = lambda n: j[:, ITOP15.index(n), 2]  # noqa: E731
    assert (z("head") > z("neck")).all() and (z("neck") > z("torso")).all()
    assert (z("torso") > z("left_knee")).all() and (z("left_knee") > z("left_foot")).all()


@needs_body
def test_mirrored_motion_gives_mirrored_joints(body, person) -> None:
    m = mo.resample(mo.load_clip("kick"), 15.0, 12)
    a, b = body.pose(person, m), body.pose(person, mo.mirror(m))
    expect = a.itop15[:, ITOP15.flip_permutation] * np.array([1, -1, 1], np.float32)
    # phenotypes are left/right symmetric; the floor offset may differ by a few mm
    np.testing.assert_allclose(b.itop15[..., :2], expect[..., :2], atol=0.01)
    assert np.abs(b.itop15[..., 2] - expect[..., 2]).max() < 0.03


# ---------------------------------------------------------------------------------- renders


@pytest.fixture(scope="session")
def frames(body):
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_frames

    cfg = GeneratorConfig(frames=6, resolution=(320, 240), people=1, seed=3, motions=["walk", "punch"])
    return list(generate_frames(cfg, body))


@needs_body
def test_gt_joints_lie_behind_the_visible_body_surface(frames) -> None:
    checked, inside = 0, 0
    for f in frames:
        cam = f.frame.camera
        for pose in f.ground_truth["itop15"]:
            for name in ("torso", "left_hip", "right_hip", "left_shoulder", "right_shoulder", "neck"):
                p = pose.joints[ITOP15.index(name)]
                u, v = np.rint(cam.project(p)).astype(int)
                if not (0 <= u < cam.width and 0 <= v < cam.height) or f.instance[v, u] != pose.track_id:
                    continue
                gap = p[2] - f.clean_depth[v, u]  # joint depth minus visible surface depth
                checked += 1
                assert gap > -0.005, f"{name} is {-gap:.3f} m in front of the body surface"
                inside += gap < 0.25
    assert checked >= 15
    assert inside / checked > 0.9


@needs_body
def test_depth_is_whole_millimetres_and_noisy_but_close(frames) -> None:
    for f in frames:
        assert f.depth_mm.dtype == np.uint16
        d = f.frame.depth
        ok = np.isfinite(d)
        np.testing.assert_allclose(d[ok] * 1000.0, np.rint(d[ok] * 1000.0), atol=1e-3)
        both = ok & np.isfinite(f.clean_depth)
        err = np.abs(d[both] - f.clean_depth[both])
        assert np.median(err) < 0.03 and 0.5 < ok.mean() < 1.0
        f.frame.validate()


@needs_body
def test_person_closer_than_the_room_behind(body, person) -> None:
    from unipose_ros.synthetic.render import Renderer
    from unipose_ros.synthetic.scene import camera_intrinsics, random_camera, random_room

    rng = np.random.default_rng(11)
    room = random_room(rng)
    cam = camera_intrinsics((320, 240))
    r = Renderer(cam, random_camera(rng, room), room)
    m = mo.place(mo.resample(mo.load_clip("walk"), 15.0, 2), 1.0, np.array([3.2, 0.0]))
    pb = body.pose(person, m)
    with_p = r.render([(pb.vertices[0], body.faces, person.colors)])
    empty = r.render([])
    mask = with_p.instance == 0
    assert mask.sum() > 500
    assert (with_p.depth[mask] <= empty.depth[mask] + 1e-4).all()
    assert np.mean(with_p.depth[mask] < empty.depth[mask] - 0.05) > 0.9
    assert (with_p.rgb[mask].mean() > 10) and np.isnan(empty.depth).mean() < 0.01


def test_depth_noise_grows_with_distance_squared() -> None:
    from unipose_ros.synthetic.sensor import DepthNoise, apply_depth_noise

    rng = np.random.default_rng(0)
    noise = DepthNoise(dropout=0.0)
    stds = []
    for z in (1.0, 4.0):
        mm = apply_depth_noise(np.full((100, 100), z, np.float32), rng, noise)
        assert (mm > 0).all()
        stds.append(np.std(mm.astype(np.float64) / 1000.0))
    assert 10 < stds[1] / stds[0] < 25  # 16 expected for sigma ~ z^2
    far = apply_depth_noise(np.full((10, 10), 20.0, np.float32), rng, noise)
    assert (far == 0).all()  # beyond range: invalid


def test_depth_edges_get_flying_pixels_or_holes() -> None:
    from unipose_ros.synthetic.sensor import DepthNoise, apply_depth_noise

    depth = np.full((60, 60), 4.0, np.float32)
    depth[:, :30] = 2.0
    mm = apply_depth_noise(depth, np.random.default_rng(1), DepthNoise(sigma_z2=0.0, dropout=0.0))
    edge = mm[:, 29:31].astype(np.float64)
    assert (edge == 0).mean() > 0.15  # shadows
    assert ((edge > 2100) & (edge < 3900)).mean() > 0.1  # flying pixels between the surfaces
    assert (mm[:, :25] == 2000).all() and (mm[:, 35:] == 4000).all()


@needs_body
def test_recording_round_trip(tmp_path, body) -> None:
    pytest.importorskip("rosbags")
    from unipose_ros.io.bag import RecordingReader
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_recording

    cfg = GeneratorConfig(frames=3, resolution=(320, 240), people=2, seed=1, motions=["walk"])
    info = generate_recording(tmp_path / "rec", cfg, body=body)
    assert info.frames == 3
    with RecordingReader(tmp_path / "rec") as rd:
        gt = rd.ground_truth("itop15")
        got = list(rd.frames(points=False))
    assert len(got) == 3 and len(gt) == 3
    assert all(len(people) >= 1 for people in gt.values())
    import json

    labels = json.loads((tmp_path / "rec" / "motion_labels.json").read_text())
    assert len(labels["people"]) == 2 and all(len(p) == 3 for p in labels["people"])
    from unipose_ros.synthetic.recording import PLANNER_VERSION

    assert labels["planner_version"] == PLANNER_VERSION
    assert all(mo.clip_family(lab) == "walk" for p in labels["people"] for lab in p)
    assert got[0].depth.shape == (240, 320)
