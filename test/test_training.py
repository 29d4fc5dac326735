"""Training pipeline: crop cache, augmentation, datasets, the supervised trainer (overfit, exact
resume, two-process DistributedDataParallel on gloo). Tiny models and 64 px crops so it runs in
seconds on a CPU."""
from __future__ import annotations

import importlib.util
import json
import shutil
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import run_torchrun

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from unipose_ros.core.crop import CropConfig  # noqa: E402
from unipose_ros.core.joints import ITOP15  # noqa: E402
from unipose_training.supervised import augment as aug  # noqa: E402
from unipose_training.supervised.augment import AugmentConfig  # noqa: E402

_MISSING = [m for m in ("anny", "open3d") if importlib.util.find_spec(m) is None]
needs_body = pytest.mark.skipif(bool(_MISSING), reason=f"synthetic rendering needs {_MISSING}")

ROOT = Path(__file__).resolve().parents[1]
CROP = CropConfig(size=64, cube_m=2.4)
J = len(ITOP15)


# ------------------------------------------------------------------------------- augmentation


def _blob_depth(target: np.ndarray, size: int) -> np.ndarray:
    """A background depth crop with a 3x3 foreground blob (value -0.5) at each target's (u, v)."""
    d = np.ones((size, size), np.float32)
    for u, v in np.rint(target[:, :2]).astype(int):
        d[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2] = -0.5
    return d


def _targets(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    t = np.zeros((J, 3), np.float32)
    t[:, :2] = rng.uniform(16, size - 16, (J, 2)).round()
    t[:, 2] = rng.uniform(-10, 10, J)
    return t


def test_zero_strength_is_identity() -> None:
    rng = np.random.default_rng(0)
    off = AugmentConfig.off()
    t = _targets(rng)
    depth = rng.uniform(-1, 1, (64, 64)).astype(np.float32)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    pts = rng.uniform(-1, 1, (100, 3)).astype(np.float32)
    d2, t2 = aug.augment_depth(depth, t, 64, off, rng)
    np.testing.assert_array_equal(d2, depth)
    np.testing.assert_array_equal(t2, t)
    r2, t3 = aug.augment_rgb(rgb, t, 64, off, rng)
    np.testing.assert_array_equal(r2, rgb)
    np.testing.assert_array_equal(t3, t)
    p2, t4 = aug.augment_points(pts, t, 64, off, rng)
    np.testing.assert_array_equal(p2, pts)
    np.testing.assert_array_equal(t4, t)


def test_pure_shift_moves_image_and_targets_by_the_shift() -> None:
    t = _targets(np.random.default_rng(1))
    depth = _blob_depth(t, 64)
    m = aug.affine_matrix(64, shift=(3.0, -2.0))
    moved = aug.apply_affine_uv(t, m)
    np.testing.assert_allclose(moved[:, :2] - t[:, :2], np.tile([3.0, -2.0], (J, 1)), atol=1e-6)
    np.testing.assert_array_equal(moved[:, 2], t[:, 2])
    warped = aug.warp_image(depth, m, nearest=True, border=1.0)
    np.testing.assert_array_equal(warped[0:62, 3:], depth[2:64, 0:61])  # content moved right 3, up 2
    assert (warped[62:, :] == 1.0).all() and (warped[:, :3] == 1.0).all()  # border value


@pytest.mark.parametrize("seed", range(5))
def test_random_affine_targets_follow_the_image(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = _targets(rng)
    depth = _blob_depth(t, 64)
    cfg = AugmentConfig().only(scale=0.1, shift_px=6.0, rotation_deg=15.0)
    d2, t2 = aug.augment_depth(depth, t, 64, cfg, rng)
    assert not np.array_equal(d2, depth)
    for u, v in np.rint(t2[:, :2]).astype(int):
        assert d2[v, u] == np.float32(-0.5), "a target left its blob"
    np.testing.assert_array_equal(t2[:, 2], t[:, 2])


def test_depth_shift_moves_foreground_and_target_depth() -> None:
    rng = np.random.default_rng(3)
    t = _targets(rng)
    depth = _blob_depth(t, 64)
    d2, t2 = aug.augment_depth(depth, t, 64, AugmentConfig().only(depth_shift=0.05), rng)
    fg = depth < 1
    delta = float(np.unique(d2[fg] - depth[fg])[0])
    assert 0 < abs(delta) <= 0.05
    np.testing.assert_allclose(d2[fg] - depth[fg], delta, atol=1e-6)
    assert (d2[~fg] == 1.0).all()
    np.testing.assert_allclose(t2[:, 2] - t[:, 2], delta * 64 / 2, atol=1e-5)


def test_flip_swaps_joints_and_twice_is_identity() -> None:
    rng = np.random.default_rng(4)
    t = _targets(rng)
    depth = _blob_depth(t, 64)
    cfg = AugmentConfig().only(flip_prob=1.0)
    perm = ITOP15.flip_permutation
    d1, t1 = aug.augment_depth(depth, t, 64, cfg, rng, perm)
    np.testing.assert_array_equal(d1, depth[:, ::-1])
    np.testing.assert_allclose(t1[perm, 0], 63 - t[:, 0])  # mirrored u, joints swapped
    d2, t2 = aug.augment_depth(d1, t1, 64, cfg, rng, perm)
    np.testing.assert_array_equal(d2, depth)
    np.testing.assert_allclose(t2, t)
    with pytest.raises(ValueError, match="flip_permutation"):
        aug.augment_depth(depth, t, 64, cfg, rng)


def test_rotated_points_keep_target_to_point_distances() -> None:
    rng = np.random.default_rng(5)
    pts = rng.uniform(-1, 1, (200, 3)).astype(np.float32)
    t = rng.uniform(-30, 30, (J, 3)).astype(np.float32)  # crop units = normalised * 32
    cfg = AugmentConfig().only(point_rotation_deg=20.0, point_shift=0.04)
    p2, t2 = aug.augment_points(pts, t, 64, cfg, rng)
    assert not np.allclose(p2, pts)
    before = np.linalg.norm(t[:, None] / 32 - pts[None], axis=-1)
    after = np.linalg.norm(t2[:, None] / 32 - p2[None], axis=-1)
    np.testing.assert_allclose(after, before, atol=1e-5)
    np.testing.assert_allclose(p2[:, 1] - pts[:, 1], (p2[0, 1] - pts[0, 1]), atol=1e-6)  # y only shifts


def test_colour_jitter_ranges() -> None:
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    grey = aug.jitter_colour(rgb, AugmentConfig().only(grayscale_prob=1.0), rng)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    j = aug.jitter_colour(rgb, AugmentConfig().only(brightness=0.3, contrast=0.3, channel_gain=0.1), rng)
    assert j.dtype == np.uint8 and not np.array_equal(j, rgb)


# ----------------------------------------------------------------------------- cache + dataset


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """A crop cache (train and test = the same 8 frames, 64 px crops) of a small synthetic
    recording written through the rosbag2 path."""
    if _MISSING:
        pytest.skip(f"synthetic rendering needs {_MISSING}")
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_recording
    from unipose_training.supervised.crops import build_crop_cache

    root = tmp_path_factory.mktemp("training")
    rec = root / "recordings" / "rec_00003"
    generate_recording(rec, GeneratorConfig(frames=8, resolution=(320, 240), seed=3))
    build_crop_cache(rec, root / "crops" / "train", CROP, n_points=256)
    shutil.copytree(root / "crops" / "train", root / "crops" / "test")
    return root / "crops"


@needs_body
def test_cache_report_counts_and_round_trips(crops: Path) -> None:
    from unipose_training.supervised.crops import build_crop_cache, crop_from_arrays

    rep = json.loads((crops / "train" / "rec_00003.json").read_text())
    assert rep["frames"] == 8 and rep["people"] >= 8
    assert rep["matched"] + rep["fallbacks"] == rep["people"]
    assert rep["samples"] == rep["people"] - rep["skipped"] and rep["skipped"] == len(rep["skipped_people"])
    assert rep["matched"] >= rep["people"] // 2  # the proposals find this scene's person
    with np.load(crops / "train" / "rec_00003.npz") as z:
        n = rep["samples"]
        assert z["depth"].shape == (n, 64, 64) and z["depth"].dtype == np.float16
        assert z["rgb"].shape == (n, 64, 64, 3) and z["points"].shape == (n, 256, 3)
        assert set(np.unique(z["centre_source"])) <= {0, 1}
        assert int(z["crop_size"]) == 64
        for i in range(n):
            crop = crop_from_arrays(z["centre"][i], z["intrinsics"][i], CROP)
            np.testing.assert_allclose(crop.box, z["box"][i], atol=1e-3)
            np.testing.assert_allclose(crop.to_camera(z["target_uvd"][i]), z["joints_cam"][i], atol=1e-4)
            np.testing.assert_allclose(crop.points_to_camera(z["target_points"][i]), z["joints_cam"][i], atol=1e-4)
    # resume: the existing shard is kept, the report read back
    before = (crops / "train" / "rec_00003.npz").stat().st_mtime_ns
    again = build_crop_cache(crops.parent / "recordings" / "rec_00003", crops / "train", CROP, n_points=256)
    assert again.resumed and again.samples == rep["samples"]
    assert (crops / "train" / "rec_00003.npz").stat().st_mtime_ns == before
    from unipose_ros.core.errors import InputError

    with pytest.raises(InputError, match="another --out"):
        build_crop_cache(crops.parent / "recordings" / "rec_00003", crops / "train", CropConfig(size=96), n_points=256)


@needs_body
def test_cache_fallbacks_skips_and_command_line(crops: Path, tmp_path: Path) -> None:
    from unipose_ros.core.errors import InputError
    from unipose_ros.core.person_proposals import ProposalConfig
    from unipose_training.supervised.crops import CropDataset, build_crop_cache, main

    rec = crops.parent / "recordings" / "rec_00003"
    none = build_crop_cache(rec, tmp_path / "none", CROP, n_points=64, proposals=ProposalConfig(min_points=10**9))
    assert none.matched == 0 and none.fallbacks == none.people == none.samples  # nobody dropped silently
    with np.load(tmp_path / "none" / "rec_00003.npz") as z:
        assert (z["centre_source"] == 1).all()
    skip = build_crop_cache(rec, tmp_path / "skip", CROP, n_points=64, min_pixels=10**9)
    assert skip.skipped == skip.people and skip.samples == 0 and len(skip.skipped_people) == skip.people
    with pytest.raises(InputError, match="no samples"):
        CropDataset(tmp_path / "skip", "depth", train=False)
    assert main(["--data", str(crops.parent), "--split", "recordings", "--out", str(tmp_path / "cli"), "--size", "64",
                 "--n-points", "64", "--no-progress"]) == 0
    summary = json.loads((tmp_path / "cli" / "recordings" / "summary.json").read_text())
    assert summary["recordings"] == 1 and summary["frames"] == 8
    assert summary["matched"] + summary["fallbacks"] == summary["people"]


def test_match_proposals_prefers_depth_and_is_one_to_one() -> None:
    from unipose_ros.core.camera import PinholeCamera
    from unipose_ros.core.person_proposals import PersonProposal
    from unipose_training.supervised.crops import match_proposals

    cam = PinholeCamera(fx=200, fy=200, cx=159.5, cy=119.5, width=320, height=240)
    a = np.zeros((J, 3)) + [0.0, 0.0, 3.0]   # root projects to the image centre
    b = np.zeros((J, 3)) + [0.0, 0.0, 3.5]   # same pixel, further back
    box = (100.0, 50.0, 220.0, 200.0)
    props = [PersonProposal(box=box, depth_m=3.45, extent_m=np.ones(3), points=100),
             PersonProposal(box=box, depth_m=2.95, extent_m=np.ones(3), points=100)]
    assert match_proposals([a, b], props, cam, ITOP15.root) == [1, 0]
    assert match_proposals([a, a], props[1:], cam, ITOP15.root) == [0, None]  # one proposal, one person
    far = np.zeros((J, 3)) + [0.0, 0.0, 4.5]
    assert match_proposals([far], props, cam, ITOP15.root) == [None]  # > 0.6 m from every proposal
    off = np.zeros((J, 3)) + [2.0, 0.0, 3.0]
    assert match_proposals([off], props, cam, ITOP15.root) == [None]  # outside the boxes


@needs_body
@pytest.mark.parametrize("kind", ["depth", "rgb", "pointcloud"])
def test_dataset_items_and_camera_round_trip(crops: Path, kind: str) -> None:
    from unipose_training.supervised.crops import CropDataset

    ds = CropDataset(crops / "train", kind, train=True, n_points=128, seed=1, crop=CROP)
    ev = CropDataset(crops / "train", kind, train=False, n_points=128, crop=CROP)
    item = ds[(2, 0)]
    shape = {"depth": (1, 64, 64), "rgb": (3, 64, 64), "pointcloud": (128, 3)}[kind]
    assert tuple(item["input"].shape) == shape
    assert item["input"].dtype == (torch.uint8 if kind == "rgb" else torch.float32)
    assert item["target"].shape == (J, 3) and item["valid"].all()
    for k in ("input", "target"):
        assert torch.equal(ds[(2, 0)][k], item[k])  # deterministic from (seed, epoch, index)
    assert not torch.equal(ds[(3, 0)]["target"], item["target"])  # another epoch, another draw
    e = ev[0]
    for i in range(len(ev)):
        np.testing.assert_allclose(ev.to_camera(i, ev[i]["target"].numpy()), ev[i]["joints_cam"].numpy(), atol=2e-3)
    assert torch.equal(e["input"], ev[0]["input"])
    with pytest.raises(Exception, match="rebuild the cache"):
        CropDataset(crops / "train", kind, train=False, crop=CropConfig(size=128))


@needs_body
def test_stream_dataset_yields_every_sample_once(crops: Path) -> None:
    from unipose_training.supervised.crops import CropDataset, CropStream

    ds = CropDataset(crops / "train", "depth", train=False, crop=CROP)
    items = list(CropStream(crops / "train", "depth", train=False, crop=CROP))
    assert len(items) == len(ds)
    for a, i in zip(items, range(len(ds))):
        assert torch.equal(a["input"], ds[i]["input"])


# ------------------------------------------------------------------------------------- trainer


def _tiny_config(kind: str = "depth", **kw):
    from unipose_ros.models import A2JConfig, ResNetConfig
    from unipose_training.supervised.train import SupervisedConfig

    model = A2JConfig(kind=kind, input_size=64, n_points=128,
                      backbone=ResNetConfig(widths=(16, 24, 32, 32), blocks=(1, 1, 1, 1), output_stride=8),
                      neck_channels=32, head_channels=32, head_layers=1, point_widths=(32, 32), point_k=8,
                      point_global=64, point_head_channels=32)
    base = dict(model=model, crop=CROP, batch_size=8, epochs=3, lr=3e-3, warmup=0.0, final_lr=0.1, workers=0,
                threads=1, eval_every=1000, eval_batch_size=16, device="cpu", seed=0)
    base.update(kw)
    return SupervisedConfig(**base)


@pytest.fixture(autouse=True)
def _restore_threads():
    """The trainer sets torch's thread count (one thread is fastest for these tiny models on a
    shared CPU); give the next test the count it had."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@needs_body
def test_overfits_a_handful_of_depth_crops(crops: Path, tmp_path: Path) -> None:
    from unipose_ros.models import load_checkpoint
    from unipose_training.supervised.train import train

    cfg = _tiny_config(epochs=60, augment=AugmentConfig.off(), lr=5e-3)
    res = train(cfg, crops, tmp_path / "run", progress=False, log=lambda _m: None,
                export=tmp_path / "export.pt")
    first, last = res.history[0]["train_loss"], res.history[-1]["train_loss"]
    assert last < first / 5, (first, last)
    assert res.metrics["mpjpe_mm"] < 60.0, res.metrics["mpjpe_mm"]
    assert res.metrics["map_10cm"] > 0.9
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["latest"]["mpjpe_mm"] == pytest.approx(res.metrics["mpjpe_mm"])
    assert "| head |" in (tmp_path / "run" / "report.md").read_text()
    loaded = load_checkpoint(tmp_path / "export.pt", expect_kind="depth")
    prov = loaded.provenance
    assert prov["epochs"] == 60 and prov["data"]["train_samples"] == res.metrics["samples"]
    assert prov["metrics"]["mpjpe_mm"] == pytest.approx(res.metrics["mpjpe_mm"])
    assert len(prov["config_hash"]) == 12 and prov["weights"] == "final"
    assert (tmp_path / "run" / "best.pt").exists()


@needs_body
def test_init_starts_from_a_bundled_checkpoint_and_refuses_another_model(crops: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from unipose_ros.models import load_checkpoint
    from unipose_training.supervised.train import train

    quiet = {"progress": False, "log": lambda _m: None}
    cfg = _tiny_config(epochs=1, steps_per_epoch=2, batch_size=4)
    first = train(cfg, crops, tmp_path / "a", export=tmp_path / "a.pt", **quiet)
    # zero epochs from the export: the run's weights are the export's, and its test error too
    again = train(replace(cfg, epochs=0, init=str(tmp_path / "a.pt")), crops, tmp_path / "b",
                  export=tmp_path / "b.pt", **quiet)
    a, b = (load_checkpoint(tmp_path / f"{n}.pt").model.state_dict() for n in "ab")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert again.metrics["mpjpe_mm"] == pytest.approx(first.metrics["mpjpe_mm"], abs=1e-3)
    other = replace(cfg, model=replace(cfg.model, head_channels=16), init=str(tmp_path / "a.pt"))
    with pytest.raises(ValueError, match="model config differs"):
        train(other, crops, tmp_path / "c", **quiet)
    # what a crop shows (other people kept or masked) may change between the two trainings: a
    # checkpoint trained on masked crops starts a run on these unmasked ones
    saved = torch.load(tmp_path / "a.pt", map_location="cpu", weights_only=False)
    saved["crop"] = dict(saved["crop"], mask_people=not cfg.crop.mask_people)
    torch.save(saved, tmp_path / "masked.pt")
    train(replace(cfg, epochs=0, init=str(tmp_path / "masked.pt")), crops, tmp_path / "e", **quiet)


@needs_body
def test_resume_gives_the_uninterrupted_weights(crops: Path, tmp_path: Path) -> None:
    from unipose_training.supervised.train import train

    cfg = _tiny_config(epochs=3, batch_size=4, eval_every=2)
    quiet = {"progress": False, "log": lambda _m: None}
    train(cfg, crops, tmp_path / "full", **quiet)
    part = train(cfg, crops, tmp_path / "part", max_minutes=0.0, **quiet)  # no time for a second epoch
    assert part.stopped_early and part.epochs_done == 1
    s1 = _state(tmp_path / "part" / "last.pt")
    assert s1["epoch"] == 1 and s1["optimizer"]["state"]
    more = train(cfg, crops, tmp_path / "part", resume=True, stop_after=1, **quiet)
    assert more.stopped_early and more.epochs_done == 2
    rest = train(cfg, crops, tmp_path / "part", resume=True, **quiet)
    assert rest.epochs_done == 3 and not rest.stopped_early
    a, b = _state(tmp_path / "full" / "last.pt"), _state(tmp_path / "part" / "last.pt")
    assert a["step"] == b["step"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert [h["epoch"] for h in b["history"]] == [1, 2, 3]
    assert b["history"][-1]["test"]["mpjpe_mm"] == pytest.approx(a["history"][-1]["test"]["mpjpe_mm"])


@needs_body
def test_pointcloud_and_rgb_train_steps(crops: Path, tmp_path: Path) -> None:
    from unipose_training.supervised.train import train

    for kind in ("pointcloud", "rgb"):
        res = train(_tiny_config(kind, epochs=1, steps_per_epoch=2, batch_size=4), crops, tmp_path / kind,
                    progress=False, log=lambda _m: None)
        assert np.isfinite(res.history[0]["train_loss"]) and res.metrics["mpjpe_mm"] > 0


@needs_body
def test_command_line_trains_resumes_and_exports(crops: Path, tmp_path: Path) -> None:
    import yaml

    from unipose_ros.models import load_checkpoint
    from unipose_training.supervised.train import main

    cfg = _tiny_config(epochs=2, batch_size=4)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(asdict(cfg)))))
    common = ["--config", str(tmp_path / "cfg.yaml"), "--data", str(crops), "--out", str(tmp_path / "run"),
              "--no-progress"]
    assert main(common + ["--stop-after", "1", "--set", "lr=5e-4", "steps_per_epoch=1"]) == 0
    assert _state(tmp_path / "run" / "last.pt")["epoch"] == 1
    assert main(common + ["--resume", "--set", "lr=5e-4", "steps_per_epoch=1", "--export",
                          str(tmp_path / "depth.pt")]) == 0
    state = _state(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 2 and state["step"] == 2 and state["config"]["lr"] == 5e-4
    prov = load_checkpoint(tmp_path / "depth.pt").provenance
    assert prov["epochs"] == 2 and prov["metrics"]["epoch"] == 2
    with pytest.raises(SystemExit, match="KEY one of"):
        main(common + ["--set", "model=3"])


@needs_body
def test_two_process_gloo_ranks_end_with_identical_weights(crops: Path, tmp_path: Path) -> None:
    from dataclasses import asdict

    import yaml

    cfg = _tiny_config(epochs=1, batch_size=2, threads=1, eval_every=1)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(asdict(cfg)))))
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(f"""
        import torch
        from unipose_training import distributed
        from unipose_training.supervised.train import load_config, train
        cfg = load_config({str(tmp_path / 'cfg.yaml')!r})
        res = train(cfg, {str(crops)!r}, {str(tmp_path / 'out')!r}, progress=False)
        torch.save(res.model.state_dict(), {str(tmp_path)!r} + f"/rank{{distributed.rank()}}.pt")
        assert distributed.world_size() == 2
        distributed.cleanup()
    """))
    proc = run_torchrun(script, tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = _state(tmp_path / "rank0.pt"), _state(tmp_path / "rank1.pt")
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    hist = json.loads((tmp_path / "out" / "metrics.json").read_text())["history"]
    assert hist[0]["step"] >= 1 and hist[0]["test"]["samples"] == json.loads(
        (crops / "test" / "rec_00003.json").read_text())["samples"]  # eval shares summed over both ranks
    assert "2 process(es)" in proc.stdout
    saved = _state(tmp_path / "out" / "last.pt")["model"]
    for k in r0:
        assert torch.equal(saved[k], r0[k]), k  # rank 0 wrote the weights every rank holds


def test_config_files_load_and_build() -> None:
    from unipose_ros.models import build_model
    from unipose_training.supervised.train import load_config

    for kind in ("depth", "rgb", "pointcloud"):
        cfg = load_config(ROOT / "config" / "train" / f"{kind}_a2j.yaml")
        assert cfg.model.kind == kind and cfg.model.input_size == cfg.crop.size
        model = build_model(cfg.model)
        assert sum(p.numel() for p in model.parameters()) * 4 < 25e6  # bundled checkpoints < 25 MB
    with pytest.raises(ValueError, match="input_size"):
        replace(load_config(ROOT / "config" / "train" / "depth_a2j.yaml"), crop=CropConfig(size=96))


def test_lr_schedule_warms_up_and_decays() -> None:
    from unipose_training.supervised.train import lr_factor

    f = [lr_factor(s, 100, 0.1, 0.01) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] == pytest.approx(0.01, abs=1e-3)


def test_calibrated_threshold_keeps_the_asked_fraction_of_people():
    from unipose_training.supervised.calibrate import choose_threshold

    people = np.linspace(0.0, 0.99, 100)  # scores 0.00, 0.01, ..., 0.99
    assert choose_threshold(people, 0.97) == pytest.approx(0.02)
    assert (people >= choose_threshold(people, 0.9)).mean() >= 0.9
    with pytest.raises(ValueError, match="no prediction matched"):
        choose_threshold(np.array([]), 0.97)
