"""End to end: the weakly supervised pipeline on a tiny synthetic recording (real MediaPipe teacher,
real torch training, real rosbag2 files), its resumption, and DDP with two gloo processes."""
from __future__ import annotations

import importlib.util
import json
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import run_torchrun

torch = pytest.importorskip("torch")

_MISSING = [m for m in ("anny", "open3d", "mediapipe") if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"the pipeline test needs {_MISSING}")

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "samples": {"n_points": 256},
    "weak": {"model": {"kind": "pointcloud", "n_points": 128, "point_widths": [32, 32], "point_k": 8,
                       "point_global": 64, "point_head_channels": 32, "point_features": 15},
             "batch_size": 4, "epochs": 3, "threads": 2, "lr": 0.003},
    # a tiny, briefly trained network: keep every person-frame so the lifting stage has crops
    "pseudo": {"min_teacher_confidence": 0.0, "min_confident_joints": 0, "bone_ratio": [0.0, 100.0],
               "max_reprojection_px": 1.0e9, "min_joint_confidence": 0.0},
    "lift": {"depth_epochs": 1, "rgb_epochs": 1, "min_joint_confidence": 0.0},
    "evaluate": {"frame_stride": 4, "overlay_frames": 1},
}


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_recording

    rec = tmp_path_factory.mktemp("weak") / "rec_tiny"
    generate_recording(rec, GeneratorConfig(frames=16, fps=10, resolution=(320, 240), seed=3), progress=False)
    return rec


def _config(**over):
    from unipose_ros.core.config import from_dict
    from unipose_training.weak.pipeline import PipelineConfig

    data = json.loads(json.dumps(TINY))
    for k, v in over.items():
        data[k] = {**data.get(k, {}), **v}
    return from_dict(PipelineConfig, data, "test")


def test_every_stage_runs_resumes_and_writes_its_files(recording: Path, tmp_path: Path) -> None:
    from unipose_training.weak.pipeline import STAGES, Pipeline
    from unipose_training.weak.pseudo_labels import read_pseudo_labels
    from unipose_training.weak.train import train_weak

    out = tmp_path / "run"
    cfg = _config()
    logs: list[str] = []
    pipe = Pipeline(cfg, [recording], out, eval_recordings=[recording], progress=False, log=logs.append)
    pipe.run(STAGES[:3])
    assert (out / "ingest" / "rec_tiny.json").exists()
    assert (out / "teacher" / "rec_tiny.npz").exists() and (out / "samples" / "rec_tiny.npz").exists()
    assert json.loads((out / "ingest" / "rec_tiny.json").read_text())["frames"] == 16

    # an interrupted weak stage: one epoch of three, then the pipeline picks it up
    first = train_weak(cfg.weak, [out / "samples" / "rec_tiny.npz"], out / "weak", stop_after=1, progress=False,
                       log=logs.append)
    assert first.stopped_early and first.epochs_done == 1 and not (out / "weak" / "weak_pointcloud.pt").exists()

    logs.clear()
    pipe = Pipeline(cfg, [recording], out, eval_recordings=[recording], progress=False, log=logs.append)
    state = pipe.run()
    assert any("[ingest] done earlier" in m for m in logs) and any("[samples] done earlier" in m for m in logs)
    assert any("resumed from" in m and "1 epochs done" in m for m in logs)
    hist = json.loads((out / "weak" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]

    labels = list((recording / "pseudo_labels").glob("pl1-*.npz"))
    assert len(labels) == 1, "pseudo-labels are written next to the recording"
    pl = read_pseudo_labels(labels[0])
    assert pl.joints.shape[1:] == (15, 3) and pl.info["provenance"]["teacher"]["name"] == "mediapipe"
    assert pl.info["provenance"]["checkpoint_sha256"] and pl.info["samples"] == len(pl.stamp)
    for kind in ("depth", "rgb"):
        assert (out / f"weak_{kind}_a2j.pt").exists()
    report = json.loads((out / "eval" / "report.json").read_text())
    for method in ("baseline", "weak_pointcloud", "weak_depth", "weak_rgb", "full_depth"):
        assert {"mpjpe_mm", "root_rel_mpjpe_mm", "map_10cm", "pck", "frames"} <= set(report[method]), method
        assert report[method]["frames"] == 4
    assert "config" in report and "data" in report
    assert all(state[s]["done"] for s in STAGES)
    assert (out / "eval" / "per_joint_error.png").stat().st_size > 0

    # a second run does nothing again
    logs.clear()
    Pipeline(cfg, [recording], out, eval_recordings=[recording], progress=False, log=logs.append).run()
    assert sum("done earlier" in m for m in logs) == len(STAGES)


def test_weak_training_beats_an_untrained_network(recording: Path, tmp_path: Path) -> None:
    """Trained only on the teacher's 2D keypoints, the point network's 3D joints get closer to the
    (never used) ground truth than those of the same network untrained."""
    from unipose_training.weak.pipeline import STAGES, Pipeline
    from unipose_training.weak.samples import WeakSampleDataset
    from unipose_training.weak.train import diagnose, train_weak

    out = tmp_path / "run"
    cfg = _config(weak={"epochs": 12})
    Pipeline(cfg, [recording], out, progress=False, log=lambda _m: None).run(STAGES[:3])
    shards = [out / "samples" / "rec_tiny.npz"]
    torch.manual_seed(0)
    from unipose_ros.models import build_model

    untrained = build_model(cfg.weak.model)
    ds = WeakSampleDataset(shards, window=1, n_points=cfg.weak.model.n_points, features=True, train=False)
    before = diagnose(untrained, ds, cfg.weak, torch.device("cpu"))
    res = train_weak(cfg.weak, shards, out / "weak", progress=False, log=lambda _m: None)
    after = res.metrics
    assert before["samples"] > 0 and after["samples"] == before["samples"]
    assert after["mpjpe_mm"] < 0.7 * before["mpjpe_mm"], (before, after)
    assert after["ray_px"] < before["ray_px"]


def test_two_gloo_processes_agree(recording: Path, tmp_path: Path) -> None:
    import yaml

    from unipose_training.weak.pipeline import STAGES, Pipeline

    out = tmp_path / "run"
    cfg = _config(weak={"epochs": 1, "threads": 1})
    Pipeline(cfg, [recording], out, progress=False, log=lambda _m: None).run(STAGES[:3])
    (tmp_path / "weak.yaml").write_text(yaml.safe_dump({"weak": json.loads(json.dumps(asdict(cfg.weak)))}))
    script = tmp_path / "ddp_weak.py"
    script.write_text(textwrap.dedent(f"""
        import torch, yaml
        from unipose_ros.core.config import from_dict
        from unipose_training import distributed
        from unipose_training.weak.train import WeakTrainConfig, train_weak
        cfg = from_dict(WeakTrainConfig, yaml.safe_load(open({str(tmp_path / 'weak.yaml')!r}))["weak"])
        res = train_weak(cfg, [{str(out / 'samples' / 'rec_tiny.npz')!r}], {str(tmp_path / 'ddp')!r}, progress=False)
        torch.save(res.model.state_dict(), {str(tmp_path)!r} + f"/rank{{distributed.rank()}}.pt")
        assert distributed.world_size() == 2
        distributed.cleanup()
    """))
    proc = run_torchrun(script, tmp_path, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    assert "2 process(es)" in proc.stdout
    hist = json.loads((tmp_path / "ddp" / "metrics.json").read_text())["history"]
    assert hist[0]["diagnostic"]["samples"] > 0  # diagnostics summed over both ranks' shares
    assert (tmp_path / "ddp" / "weak_pointcloud.pt").exists()


def test_pseudo_label_filter_reasons() -> None:
    from unipose_ros.core.joints import joint_set
    from unipose_training.weak.losses import bone_prior
    from unipose_training.weak.pseudo_labels import PseudoLabelConfig, frame_filter

    js = joint_set("itop15")
    bones = np.asarray(js.tree_bones)
    prior = bone_prior(js, 1.70)
    # a skeleton with exactly the prior's bone lengths: lay the tree out joint by joint along x
    joints = np.full((15, 3), np.nan)
    joints[js.root] = [0.0, 0.0, 2.0]
    done = {js.root}
    while len(done) < 15:
        for i in range(len(bones)):
            a, b = bones[i]
            if a in done and b not in done:
                joints[b] = joints[a] + [0.0, prior[i], 0.0]
                done.add(b)
            elif b in done and a not in done:
                joints[a] = joints[b] - [0.0, prior[i], 0.0]
                done.add(a)
    cfg = PseudoLabelConfig()
    conf = np.full((4, 15), 0.9)
    tconf = np.full((4, 15), 0.9)
    rep = np.array([2.0, 2.0, 2.0, 50.0])
    j = np.stack([joints] * 4)
    j[1] = j[1][js.root] + 3.0 * (j[1] - j[1][js.root])  # every bone 3x the prior -> implausible
    tconf[2] = 0.1   # teacher unsure
    reliable, reasons = frame_filter(j, conf, tconf, rep, js, cfg)
    assert reliable.tolist() == [True, False, False, False]
    assert reasons.tolist() == [0, 4, 1, 8]
    j[0, 3, 2] = -1.0  # a joint behind the camera
    assert frame_filter(j, conf, tconf, rep, js, cfg)[1][0] == 16
    conf[0, :10] = 0.0
    _, reasons = frame_filter(j, conf, tconf, rep, js, replace(cfg, min_confident_joints=10))
    assert reasons[0] == 2 | 16
    # track 7 lasts one frame (under min_track_frames=3), track 1 three
    conf[0], j[0, 3, 2] = 0.9, 2.0
    _, reasons = frame_filter(j, conf, tconf, rep, js, cfg, track=np.array([7, 1, 1, 1]))
    assert reasons.tolist() == [32, 4, 1, 8]
    _, reasons = frame_filter(j, conf, tconf, rep, js, cfg, track=np.array([7, 7, 1, 1]))
    assert reasons.tolist() == [32, 4 | 32, 1 | 32, 8 | 32]
    _, reasons = frame_filter(j[:3], conf[:3], tconf[:3], rep[:3], js, cfg, track=np.array([1, 1, 1]))
    assert reasons.tolist() == [0, 4, 1]


def test_streamed_training_reads_one_shard_at_a_time(recording: Path, tmp_path: Path) -> None:
    from unipose_training.weak.pipeline import STAGES, Pipeline
    from unipose_training.weak.samples import WeakSampleDataset, WeakSampleStream
    from unipose_training.weak.train import train_weak

    out = tmp_path / "run"
    cfg = _config()
    Pipeline(cfg, [recording], out, progress=False, log=lambda _m: None).run(STAGES[:3])
    shard = out / "samples" / "rec_tiny.npz"
    kw = dict(window=3, n_points=64, features=True, seed=0)
    stream = list(WeakSampleStream([shard, shard], train=False, **kw))
    ds = WeakSampleDataset([shard], train=False, **kw)
    assert len(stream) == 2 * len(ds)
    for a, b in zip(stream[: len(ds)], (ds[i] for i in range(len(ds)))):
        assert set(a) == set(b) and all(torch.equal(a[k].nan_to_num(), b[k].nan_to_num()) for k in a)
    # more steps than one pass holds: the stream starts again so every rank runs the same steps
    steps = len(ds) // cfg.weak.batch_size + 2
    with pytest.raises(ValueError, match="steps_per_epoch"):
        replace(cfg.weak, stream=True)
    res = train_weak(replace(cfg.weak, stream=True, steps_per_epoch=steps, epochs=1), [shard], tmp_path / "stream",
                     progress=False, log=lambda _m: None)
    hist = json.loads((tmp_path / "stream" / "metrics.json").read_text())["history"]
    assert hist[0]["step"] == steps and res.metrics["samples"] > 0


def test_evaluation_methods_with_test_time_flip(tmp_path: Path) -> None:
    from unipose_ros.models.checkpoint import CHECKPOINT_DIR
    from unipose_training.weak.pipeline import EvaluateConfig, Pipeline, PipelineConfig

    if not all((CHECKPOINT_DIR / f"{kind}_a2j.pt").is_file() for kind in ("depth", "rgb")):
        pytest.skip("the bundled depth and rgb checkpoints are not here")

    def methods(*names: str) -> dict:
        cfg = PipelineConfig(evaluate=EvaluateConfig(methods=names))
        return Pipeline(cfg, [], tmp_path / "run", [], progress=False).estimators()

    made = methods("full_depth", "full_depth_flip", "full_rgb_flip")
    assert list(made) == ["full_depth", "full_depth_flip", "full_rgb_flip"]
    assert not made["full_depth"].config.flip_test and made["full_depth_flip"].config.flip_test
    assert made["full_rgb_flip"].config.flip_test and made["full_rgb_flip"].kind == "rgb"
    for name in ("baseline_flip", "weak_pointcloud_flip", "nope"):
        with pytest.raises(ValueError, match=f"unknown evaluation method '{name}'"):
            methods(name)
