"""Weak samples (unipose_training.weak.samples) and the keypoint crop centre
(unipose_ros.core.crop.centre_from_keypoints): hand-made cases with known answers, then the real
MediaPipe teacher on a small synthetic recording (8 frames, 320x240, one person)."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.crop import centre_from_keypoints
from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import ITOP15

torch = pytest.importorskip("torch")

from unipose_training.weak.samples import (  # noqa: E402
    SKIP_FEW_KEYPOINTS,
    SKIP_FEW_POINTS,
    SampleConfig,
    WeakSampleDataset,
    assign_tracks,
    build_samples,
    match_ground_truth,
    surface_depth,
)

CAM = PinholeCamera(fx=200.0, fy=200.0, cx=79.5, cy=59.5, width=160, height=120)
IT = ITOP15.index
FRAMES = 8
_MISSING = [m for m in ("anny", "open3d", "mediapipe", "rosbags") if importlib.util.find_spec(m) is None]
needs_recording = pytest.mark.skipif(bool(_MISSING), reason=f"synthetic recording + teacher need {_MISSING}")


# ------------------------------------------------------------------------ centre_from_keypoints


def _body_depth() -> np.ndarray:
    """A 2 m plane over columns 60-99, rows 20-99 (the body); a 4 m wall elsewhere."""
    d = np.full((120, 160), 4.0, np.float32)
    d[20:100, 60:100] = 2.0
    return d


def _keypoints() -> tuple[np.ndarray, np.ndarray]:
    uv = np.full((15, 2), np.nan)
    conf = np.zeros(15)
    for name, p in {"neck": (80, 30), "torso": (80, 55), "right_hip": (70, 80), "left_hip": (90, 80),
                    "right_shoulder": (60, 30), "left_shoulder": (99, 30), "head": (80, 10)}.items():
        uv[IT(name)], conf[IT(name)] = p, 0.9
    return uv, conf


def test_centre_from_trunk_keypoints():
    uv, conf = _keypoints()
    c = centre_from_keypoints(_body_depth(), CAM, uv, conf)
    # trunk = neck, torso, hips, shoulders (the head is left out): mean u = (80+80+70+90+60+99)/6,
    # mean v = (30+55+80+80+30+30)/6 = 50.833; the shoulders sit on the silhouette edge, half of
    # their windows on the wall, but the nearest depth mode is the body's 2 m.
    u, v = (80 + 80 + 70 + 90 + 60 + 99) / 6, (30 + 55 + 80 + 80 + 30 + 30) / 6
    np.testing.assert_allclose(c, [(u - 79.5) / 200 * 2.0, (v - 59.5) / 200 * 2.0, 2.0], atol=1e-9)
    c2 = centre_from_keypoints(_body_depth(), CAM, uv, conf, depth_offset_m=0.1, joint_set=ITOP15)
    np.testing.assert_allclose(c2, [(u - 79.5) / 200 * 2.1, (v - 59.5) / 200 * 2.1, 2.1], atol=1e-9)


def test_centre_falls_back_to_confident_keypoints_and_none():
    uv, conf = _keypoints()
    trunk_off = conf.copy()
    trunk_off[[IT(n) for n in ("neck", "torso", "right_hip", "left_hip", "right_shoulder", "left_shoulder")]] = 0.1
    c = centre_from_keypoints(_body_depth(), CAM, uv, trunk_off)  # only the head (80, 10) is left: the wall
    np.testing.assert_allclose(c, [(80 - 79.5) / 200 * 4.0, (10 - 59.5) / 200 * 4.0, 4.0], atol=1e-9)
    assert centre_from_keypoints(_body_depth(), CAM, uv, np.zeros(15)) is None
    assert centre_from_keypoints(np.full((120, 160), np.nan, np.float32), CAM, uv, conf) is None
    with pytest.raises(ValueError, match="15 joints"):
        centre_from_keypoints(_body_depth(), CAM, uv[:5], conf[:5])


# ---------------------------------------------------------------------------- small functions


def test_surface_depth_is_the_window_median():
    d = np.tile(np.arange(160, dtype=np.float32) / 100 + 1.0, (120, 1))  # z = 1 + u / 100
    d[0:3, 0:3] = np.nan
    uv = np.array([[50.2, 40.0], [1.0, 1.0], [np.nan, 3.0], [159.0, 119.0]])
    s = surface_depth(d, uv, window=5)
    assert s[0] == pytest.approx(1.50)                   # columns 48..52: median 50 -> 1.5
    # rows/cols 0..3 around (1, 1): the 3x3 NaN corner leaves row 3 (cols 0..3) and column 3
    # (rows 0..2): values u = 0,1,2,3,3,3,3 -> median 3
    assert s[1] == pytest.approx(1.03)
    assert np.isnan(s[2])
    assert s[3] == pytest.approx(2.58)                    # cols 157..159 (clipped): median 158
    assert np.isnan(surface_depth(np.full((10, 10), np.nan, np.float32), np.array([[5.0, 5.0]]))[0])


def test_assign_tracks_greedy_with_gate_and_gap():
    # person A walks along x (0.1 m per frame), person B stands 1 m away; frame 2 misses B
    frame = np.array([0, 0, 1, 1, 2, 3, 3])
    centre = np.array([[0, 0, 2], [1, 0, 2], [1, 0, 2], [0.1, 0, 2], [0.2, 0, 2], [0.3, 0, 2], [1.02, 0, 2]], float)
    ids = assign_tracks(frame, centre, gate_m=0.5, max_gap=1)
    assert ids.tolist() == [0, 1, 1, 0, 0, 0, 2]  # B lost at the gap -> new id
    ids = assign_tracks(frame, centre, gate_m=0.5, max_gap=2)
    assert ids.tolist() == [0, 1, 1, 0, 0, 0, 1]
    ids = assign_tracks(frame, centre, gate_m=0.05, max_gap=2)  # A moves 0.1 m: beyond the gate
    assert ids.tolist() == [0, 1, 1, 2, 3, 4, 1]
    assert assign_tracks(np.zeros(0, int), np.zeros((0, 3))).shape == (0,)


def test_match_ground_truth_one_to_one():
    centres = [np.array([0.0, 0, 2]), np.array([0.1, 0, 2]), np.array([3.0, 0, 2])]
    roots = [np.array([0.12, 0, 2]), np.array([0.0, 0, 2.05]), np.full(3, np.nan)]
    assert match_ground_truth(centres, roots, 0.5) == [1, 0, None]
    assert match_ground_truth(centres, [], 0.5) == [None, None, None]


# ------------------------------------------------------------------------- dataset on a fake shard


def _fake_shard(path, frame_index, track, n=64):
    s = len(frame_index)
    rng = np.random.default_rng(0)
    arrays = dict(
        points=rng.uniform(-0.2, 0.2, (s, n, 3)).astype(np.float16), point_count=np.full(s, n, np.int32),
        centre=np.tile([0.0, 0.0, 2.0], (s, 1)), intrinsics=np.tile([200.0, 200, 79.5, 59.5, 160, 120], (s, 1)),
        uv=np.tile(np.float32([79.5, 59.5]), (s, 15, 1)), conf=np.full((s, 15), 0.8, np.float32),
        surface_z=np.full((s, 15), 1.9, np.float32), stamp=np.asarray(frame_index, np.int64) * 100,
        frame_index=np.asarray(frame_index, np.int32), track=np.asarray(track, np.int32),
        score=np.ones(s, np.float32), teacher_row=np.arange(s, dtype=np.int32),
        joints_gt=np.full((s, 15, 3), np.nan, np.float32),
        crop_size=np.int32(128), cube_m=np.float64(2.4), joint_set=np.array("itop15"), version=np.int32(1))
    np.savez(path, **arrays)
    path.with_suffix(".json").write_text("{}")
    return path


def test_windows_follow_tracks_and_pad_the_ends(tmp_path):
    # track 0: frames 0, 1, 2, then 4 (a gap); track 1: frames 1, 2
    shard = _fake_shard(tmp_path / "a.npz", [0, 1, 1, 2, 2, 4], [0, 0, 1, 0, 1, 0])
    ds = WeakSampleDataset(tmp_path, window=3, n_points=16, features=False)
    rows = sorted(zip(ds.windows.tolist(), ds.window_valid.tolist()))
    assert rows == sorted([
        ([0, 0, 1], [False, True, True]), ([0, 1, 3], [True, True, True]), ([1, 3, 3], [True, True, False]),
        ([5, 5, 5], [False, True, False]),                                     # track 0 after the gap
        ([2, 2, 4], [False, True, True]), ([2, 4, 4], [True, True, False])])   # track 1
    assert len(ds) == 6 and ds.num_samples == 6
    w = next(k for k, r in enumerate(ds.windows.tolist()) if r == [0, 0, 1])
    item = ds[w]
    assert item["valid"].tolist() == [False, True, True] and item["index"].tolist() == [0, 0, 1]
    torch.testing.assert_close(item["points"][0], item["points"][1])  # padding repeats the edge frame
    assert item["features"].shape == (3, 16, 0) and item["unit_m"].tolist() == pytest.approx([2.4 / 128] * 3)
    stride = WeakSampleDataset([shard], window=3, stride=2, n_points=16, features=False)
    assert len(stride) == 4  # runs of 3, 1 and 2 samples: centres 0, 2 | 0 | 0
    single = WeakSampleDataset([shard], window=1, n_points=16, features=False)
    assert len(single) == 6 and single.window_valid.all()
    with pytest.raises(InputError, match="n_points"):
        WeakSampleDataset([shard], n_points=65, features=False)


def test_points_subsets_deterministic(tmp_path):
    shard = _fake_shard(tmp_path / "a.npz", [0, 1, 2], [0, 0, 0])
    stored = np.load(shard)["points"].astype(np.float32)
    ev = WeakSampleDataset([shard], window=1, n_points=8, features=False)
    np.testing.assert_array_equal(ev[1]["points"][0].numpy(), stored[1][np.linspace(0, 63, 8).round().astype(int)])
    tr = WeakSampleDataset([shard], window=1, n_points=8, features=False, train=True, seed=3)
    a, b, c = tr[(0, 1)]["points"], tr[(0, 1)]["points"], tr[(1, 1)]["points"]
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
    rows = {tuple(r) for r in stored[1].tolist()}
    assert all(tuple(p) in rows for p in a[0].tolist())  # a subset of the stored points, unchanged


# ------------------------------------------------------------------------------ real recording


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if _MISSING:
        pytest.skip(f"needs {_MISSING}")
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_recording
    from unipose_training.weak.teacher_stage import run_teacher_stage

    root = tmp_path_factory.mktemp("weak")
    rec = root / "rec_one"
    generate_recording(rec, GeneratorConfig(frames=FRAMES, resolution=(320, 240), seed=3, people=1))
    teacher = run_teacher_stage(rec, root / "teacher", progress=False)
    samples = build_samples(rec, teacher, root / "samples", SampleConfig(n_points=256), progress=False)
    return rec, teacher, samples


@needs_recording
def test_samples_written_with_report(built):
    rec, teacher, npz = built
    assert npz.is_file() and npz.with_suffix(".json").is_file()
    rep = json.loads(npz.with_suffix(".json").read_text())
    z = np.load(npz)
    assert rep["frames"] == FRAMES and rep["has_gt"] is True
    assert rep["people"] == rep["samples"] + sum(rep["skipped"].values()) and rep["samples"] == len(z["stamp"])
    s = rep["samples"]
    assert s >= FRAMES - 1
    assert z["points"].shape == (s, 256, 3) and z["points"].dtype == np.float16
    assert z["uv"].shape == (s, 15, 2) and z["surface_z"].shape == (s, 15) and z["joints_gt"].shape == (s, 15, 3)
    assert z["intrinsics"].shape == (s, 6) and z["frame_index"].dtype == np.int32 and z["track"].dtype == np.int32
    assert np.all(np.abs(z["points"]) <= 1.0) and np.all(z["point_count"] >= 50)
    # the points are the person: back in metres they lie within the cube around the centre and
    # project inside the image
    xyz = z["centre"][:, None] + z["points"].astype(np.float64) * 1.2
    fx, fy, cx, cy, w, h = z["intrinsics"][0]
    u, v = fx * xyz[..., 0] / xyz[..., 2] + cx, fy * xyz[..., 1] / xyz[..., 2] + cy
    assert (u > -1).all() and (u < w).all() and (v > -1).all() and (v < h).all()
    # resume: nothing is rewritten
    mtime = npz.stat().st_mtime_ns
    assert build_samples(rec, teacher, npz.parent, SampleConfig(n_points=256), progress=False) == npz
    assert npz.stat().st_mtime_ns == mtime


@needs_recording
def test_track_uv_and_surface_against_ground_truth(built):
    from unipose_ros.io.bag import RecordingReader

    rec, _, npz = built
    z = np.load(npz)
    matched = np.isfinite(z["joints_gt"]).all(axis=(1, 2))
    assert matched.sum() >= FRAMES - 1
    # one person: every sample on them carries one track id
    assert len(set(z["track"][matched].tolist())) == 1
    cam_of, depth_of = {}, {}
    with RecordingReader(rec) as r:
        for f in r.frames(points=False):
            cam_of[f.stamp_ns], depth_of[f.stamp_ns] = f.camera, f.depth
    err = [np.median(np.linalg.norm(cam_of[int(z["stamp"][i])].project(z["joints_gt"][i]) - z["uv"][i], axis=1))
           for i in np.flatnonzero(matched)]
    assert np.median(err) < 30.0, err
    # surface_z: the median of the 5x5 depth box at each keypoint
    checked = 0
    for i in range(len(z["stamp"])):
        d = depth_of[int(z["stamp"][i])]
        for j in range(15):
            u, v = np.rint(z["uv"][i, j]).astype(int)
            if not (2 <= u < d.shape[1] - 2 and 2 <= v < d.shape[0] - 2):
                continue
            box = d[v - 2:v + 3, u - 2:u + 3]
            want = np.median(box[np.isfinite(box)]) if np.isfinite(box).any() else np.nan
            np.testing.assert_allclose(z["surface_z"][i, j], want, rtol=1e-6, equal_nan=True)
            checked += 1
    assert checked > 50
    # and it is the body surface: a little in front of the joints on the confident trunk keypoints
    trunk = [IT(n) for n in ("neck", "torso", "right_hip", "left_hip")]
    gap = (z["joints_gt"][matched][:, trunk, 2] - z["surface_z"][matched][:, trunk])
    assert 0.0 < np.nanmedian(gap) < 0.2, gap


@needs_recording
def test_skips_are_counted_with_reasons(built, tmp_path):
    rec, teacher, _ = built
    rep_of = lambda p: json.loads(p.with_suffix(".json").read_text())  # noqa: E731
    few = build_samples(rec, teacher, tmp_path / "a", SampleConfig(n_points=64, min_points=10**9), progress=False)
    rep = rep_of(few)
    assert rep["samples"] == 0 and rep["skipped"] == {SKIP_FEW_POINTS: rep["people"]} and rep["people"] > 0
    assert len(rep["skipped_people"]) == rep["people"] and rep["skipped_people"][0]["reason"] == SKIP_FEW_POINTS
    assert np.load(few)["points"].shape == (0, 64, 3)
    with pytest.raises(InputError, match="no samples"):
        WeakSampleDataset(few.parent, features=False)
    kp = build_samples(rec, teacher, tmp_path / "b", SampleConfig(n_points=64, min_keypoints=16), progress=False)
    assert rep_of(kp)["skipped"] == {SKIP_FEW_KEYPOINTS: rep["people"]}


@needs_recording
def test_frames_must_match_the_teacher_cache(built, tmp_path):
    from unipose_training.datasets.ingest import IngestConfig

    rec, teacher, _ = built
    with pytest.raises(InputError, match="same ingest settings"):
        build_samples(rec, teacher, tmp_path, SampleConfig(n_points=64), IngestConfig(max_frames=4), progress=False)


@needs_recording
def test_dataset_items_on_real_samples(built):
    _, _, npz = built
    ds = WeakSampleDataset([npz], window=3, n_points=128, features=True, train=True, seed=1)
    item = ds[(0, 0)]
    shapes = {k: tuple(v.shape) for k, v in item.items()}
    assert shapes == {"points": (3, 128, 3), "features": (3, 128, 15), "uv": (3, 15, 2), "conf": (3, 15),
                      "intrinsics": (3, 4), "surface_z": (3, 15), "centre": (3, 3), "unit_m": (3,),
                      "joints_gt": (3, 15, 3), "valid": (3,), "index": (3,)}
    assert item["points"].dtype == torch.float32 and item["valid"].dtype == torch.bool
    f = item["features"]
    assert float(f.min()) >= 0.0 and float(f.max()) <= 1.0 and float(f.max()) > 0.1
    one = ds.samples_at(2)
    assert one["points"].shape == (1, 128, 3) and one["valid"].tolist() == [True] and one["index"].tolist() == [2]
    assert len(ds.single()) == ds.num_samples
    info = ds.sample_info(2)
    assert info["frame_index"] == int(np.load(npz)["frame_index"][2])
    # predictions in point crop units map back to metres around the centre
    q = np.ones((15, 3))
    np.testing.assert_allclose(ds.to_camera(2, q), np.tile(ds.arrays["centre"][2] + 2.4 / 128, (15, 1)))
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    batch = next(iter(loader))
    assert batch["points"].shape == (2, 3, 128, 3)
