"""Depth sensor models: each leaves its signature artefact on a known scene; the generator's
sampled distribution (phase, speed, sensors, views) follows its config."""
from __future__ import annotations

import numpy as np
import pytest

from unipose_ros.synthetic.sensors import SENSORS, apply_sensor, occluded_from_right, sensor

H, W = 240, 320


def slab_scene(z_back: float = 3.0, z_front: float = 1.5, cols=(140, 180)) -> np.ndarray:
    """A wall at z_back with a vertical slab (columns ``cols``) at z_front."""
    z = np.full((H, W), z_back, np.float32)
    z[:, cols[0]:cols[1]] = z_front
    return z


def test_shadow_rule_known_answer():
    # second centre b to the right: the wall just left of the slab is hidden over
    # f*b*(1/z_front - 1/z_back) columns
    fb = 300.0 * 0.075
    occ = occluded_from_right(slab_scene(), fb)
    width = fb * (1 / 1.5 - 1 / 3.0)  # 7.5 px
    row = occ[100]
    hidden = np.nonzero(row)[0]
    assert hidden.min() >= 140 - np.ceil(width) - 1 and hidden.max() < 140
    assert abs(len(hidden) - width) <= 1.0
    assert not occ[:, 140:].any()  # nothing right of the slab's left edge
    # the other side when the centre is on the left
    occ_l = occluded_from_right(slab_scene(), -fb)
    assert np.nonzero(occ_l[100])[0].min() >= 180 and not occ_l[:, :180].any()


@pytest.mark.parametrize("name", ["itop", "kinect_v1", "xtion"])
def test_structured_light_shadow_left_of_objects_and_coarse_steps(name):
    m = sensor(name)
    z = np.full((m.height, m.width), 3.0, np.float32)
    c0, c1 = m.width // 2 - 20, m.width // 2 + 20
    z[:, c0:c1] = 1.5
    d = apply_sensor(z, None, m, np.random.default_rng(0))
    left = (d[:, c0 - 8:c0 - 1] == 0).mean()
    right = (d[:, c1 + 1:c1 + 8] == 0).mean()
    assert left > 0.6 and right < 0.1, (left, right)
    # disparity quantisation: depths at 3 m take few distinct values, steps of cm
    far = d[:, :c0 - 20][d[:, :c0 - 20] > 0].astype(np.float64)
    levels = np.unique(far)
    assert len(levels) < 40
    assert np.diff(levels).min() >= 10  # >= 1 cm between levels at 3 m


def test_active_stereo_invalid_band_and_registration_holes():
    m = sensor("d435")
    z = np.full((m.height, m.width), 2.5, np.float32)
    z[:, 300:360] = 1.0
    d = apply_sensor(z, None, m, np.random.default_rng(1))
    band = int(np.ceil(m.fx * m.baseline_m / 2.5))
    assert (d[:, :band] == 0).all() and (d[:, band + 2:band + 20] > 0).mean() > 0.9
    # IR shadow left of the object, registration holes right of it
    assert (d[:, 285:299] == 0).mean() > 0.5
    reg = m.fx * m.registration_m * (1 / 1.0 - 1 / 2.5)
    assert (d[:, 361:361 + int(reg) - 1] == 0).mean() > 0.5
    assert (d[:, 380:420] == 0).mean() < 0.1


def test_tof_dark_dropout_flying_pixels_and_linear_noise():
    m = sensor("kinect_v2")
    z = np.full((m.height, m.width), 3.0, np.float32)
    z[:, 200:300] = 1.5
    rgb = np.full((m.height, m.width, 3), 200, np.uint8)
    rgb[:100] = 10  # a dark upper half
    d = apply_sensor(z, rgb, m, np.random.default_rng(2)).astype(np.float64) / 1000
    assert (d[:100] == 0).mean() > 0.5 and (d[150:] == 0).mean() < 0.1
    edge = d[150:, 200]  # the foreground pixel at the silhouette mixes with the wall behind
    mixed = (edge > 1.6) & (edge < 2.9)
    assert mixed.mean() > 0.2  # flying pixels between the two surfaces
    near, far = d[150:, 230:270], d[150:, 20:120]
    ratio = np.std(far[far > 0]) / np.std(near[near > 0])
    assert 1.5 < ratio < 2.6  # noise grows ~linearly with depth (x2 at twice the range)


def test_every_preset_renders_at_its_own_size():
    for m in SENSORS.values():
        d = apply_sensor(np.full((m.height, m.width), 2.0, np.float32), None, m, np.random.default_rng(0))
        assert d.shape == (m.height, m.width) and d.dtype == np.uint16
    with pytest.raises(ValueError, match="presets"):
        sensor("kinect_v9")


def test_resample_phase_and_speed():
    from unipose_ros.synthetic import motions as mo

    clip = mo.load_clip("walk")
    base = mo.resample(clip, 30.0, 20)
    fast = mo.resample(clip, 30.0, 10, speed=2.0)
    np.testing.assert_allclose(fast.local[:5], base.local[0:10:2], atol=1e-6)
    late = mo.resample(clip, 30.0, 5, start_s=10 / 30.0)
    np.testing.assert_allclose(late.local, base.local[10:15], atol=1e-6)
    with pytest.raises(ValueError, match="speed"):
        mo.resample(clip, 30.0, 5, speed=0.0)


def test_planned_motion_phases_and_speeds_follow_the_config(monkeypatch):
    from unipose_ros.synthetic import motions as mo
    from unipose_ros.synthetic import recording as rec

    calls = []
    real = mo.resample

    def spy(motion, fps, n_frames=None, start_s=0.0, speed=1.0):
        calls.append((motion.name, start_s / max(motion.duration, 1e-9), speed))
        return real(motion, fps, n_frames, start_s, speed)

    monkeypatch.setattr(rec.mo, "resample", spy)
    clips = {n: mo.load_clip(n) for n in ("walk", "run", "punch")}
    rng = np.random.default_rng(0)
    for _ in range(60):
        rec.plan_motion(rng, clips, 40, 10.0, (2.5, 4.5, -1, 1), augment=False, random_phase=True, speed=(0.5, 1.5))
    phases = np.array([c[1] for c in calls])
    speeds = np.array([c[2] for c in calls])
    assert len(calls) > 60
    assert phases.min() >= 0 and phases.max() <= 1 and abs(phases.mean() - 0.5) < 0.1
    assert speeds.min() >= 0.5 and speeds.max() <= 1.5 and abs(speeds.mean() - 1.0) < 0.1


def test_plan_motion_root_never_jumps_between_segments():
    """A person's root moves at most a runner's speed per frame, also where one segment ends
    outside the area and the next begins (it used to restart clipped into the area, a jump of
    up to metres in one frame that no tracker or motion loss can follow)."""
    from unipose_ros.synthetic import motions as mo
    from unipose_ros.synthetic import recording as rec

    clips = {n: mo.load_clip(n) for n in ("walk", "run")}
    fps, worst, segments = 15.0, 0.0, 0
    for seed in range(12):
        m = rec.plan_motion(np.random.default_rng(seed), clips, 150, fps, (2.5, 4.0, -0.8, 0.8), random_phase=True)
        segments += len(m.name.split("|"))
        worst = max(worst, float(np.linalg.norm(np.diff(m.root_pos[:, :2], axis=0), axis=1).max() * fps))
    assert segments > 40
    assert worst < 6.0, f"root moved {worst:.1f} m/s between two frames"


def test_views_sample_camera_height_pitch_and_distance():
    from unipose_ros.synthetic.scene import ViewConfig, random_view

    view = ViewConfig()
    rng = np.random.default_rng(3)
    heights, pitches, near, far, walls = [], [], [], [], 0
    for _ in range(200):
        room, cam = random_view(rng, view)
        heights.append(cam.position[2])
        forward = cam.rotation[:, 2]
        pitches.append(np.degrees(np.arcsin(forward[2])))
        near.append(room.area[0])
        far.append(room.area[1])
        wall_x = room.objects[1].vertices[:, 0].min()
        walls += wall_x < room.area[1] + 0.61
    heights, pitches = np.array(heights), np.array(pitches)
    assert 0.4 <= heights.min() and heights.max() <= 2.0 and np.ptp(heights) > 1.3
    assert pitches.min() >= -30.5 - 3 and pitches.max() <= 15.5 + 3 and np.ptp(pitches) > 25
    assert min(near) >= 0.8 and max(far) <= 5.0
    assert 0.2 < walls / 200 < 0.45  # wall_behind_p = 0.3 (plus rooms that are short anyway)


def test_furniture_pieces_stand_on_the_floor_at_their_place():
    from unipose_ros.synthetic.furniture import KINDS, random_furniture

    rng = np.random.default_rng(5)
    for kind in KINDS:
        for _ in range(5):
            obj = random_furniture(rng, np.array([2.0, -1.0]), (kind,))
            v, t = obj.vertices, obj.triangles
            assert t.min() >= 0 and t.max() < len(v) and v.dtype == np.float32
            assert abs(v[:, 2].min()) < 1e-5, kind  # on the floor
            centre = (v[:, :2].min(0) + v[:, :2].max(0)) / 2
            assert np.linalg.norm(centre - [2.0, -1.0]) < 0.8, kind
            assert 0.3 < v[:, 2].max() < 2.2 and np.ptp(v[:, 0]) < 2.5, kind


def test_detector_data_sensor_and_people_shares_follow_the_config():
    from unipose_training.detection.data import DetectionDataConfig, recording_plan

    cfg = DetectionDataConfig(recordings=3000)
    plans = [recording_plan(cfg, i) for i in range(cfg.recordings)]
    sensors = [s for _, s in plans]
    for name in cfg.sensors:
        assert abs(sensors.count(name) / len(plans) - 1 / len(cfg.sensors)) < 0.03, name
    people = np.bincount([p for p, _ in plans], minlength=4) / len(plans)
    np.testing.assert_allclose(people, np.asarray(cfg.people_p) / sum(cfg.people_p), atol=0.03)
    assert set(sensors) <= set(cfg.sensors) and "azure_kinect_nfov" not in sensors  # held out


def test_robot_splits_use_the_configured_sensors_poses_and_held_out_sets():
    from pathlib import Path

    from unipose_ros.core.config import load_yaml
    from unipose_training.datasets.splits import CROSS_SENSORS, TEST_CLIPS, SplitsConfig, recording_configs

    cfg = load_yaml(SplitsConfig, Path(__file__).resolve().parents[1] / "config" / "splits" / "robot.yaml")
    train = recording_configs(cfg, "train")
    assert len(train) == 96 and all(g.everyday == 0.4 and g.random_phase for g in train)
    sensors = [g.sensor or "generic" for g in train]  # cycled over the recordings
    assert {s: sensors.count(s) for s in set(sensors)} == {"kinect_v1": 20, "itop": 19, "kinect_v2": 19,
                                                           "d435": 19, "generic": 19}
    assert not set(TEST_CLIPS) & set(train[0].motions)
    for split in ("cross", "everyday"):
        held = recording_configs(cfg, split)
        assert {g.sensor for g in held} == set(CROSS_SENSORS) and not {g.sensor for g in held} & set(sensors)
        assert all(set(g.motions) == set(TEST_CLIPS) for g in held)
        assert all(g.body_ranges["age"][0] >= 0.85 for g in held)
    assert all(g.everyday == 0.6 for g in recording_configs(cfg, "everyday"))
    assert all(g.everyday == 0.0 for g in recording_configs(cfg, "cross") + recording_configs(cfg, "test"))


def test_more_robot_recordings_share_the_distribution_and_no_seed_with_any_other_split():
    from dataclasses import replace
    from pathlib import Path

    from unipose_ros.core.config import load_yaml
    from unipose_training.datasets.splits import SplitsConfig, recording_configs

    splits = Path(__file__).resolve().parents[1] / "config" / "splits"
    robot = load_yaml(SplitsConfig, splits / "robot.yaml")
    more = load_yaml(SplitsConfig, splits / "robot_more.yaml")
    fresh = recording_configs(more, "train")
    assert len(fresh) == 64
    # same generator settings recording for recording, except the seed
    for a, b in zip(recording_configs(robot, "train"), fresh):
        assert replace(a, seed=0) == replace(b, seed=0)
    used = {g.seed for split in ("train", "test", "cross", "everyday") for g in recording_configs(robot, split)}
    assert not used & {g.seed for g in fresh}
