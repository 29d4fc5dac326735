"""``unipose-predict``: file loading, arguments, JSON / table output and its errors.

Uses small untrained checkpoints written to a temporary folder (the numbers are checked against
the estimator called directly, not for accuracy).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from test_learned_estimators import write_checkpoint  # noqa: E402

from unipose_ros.cli import predict  # noqa: E402
from unipose_ros.core.camera import metres_to_depth  # noqa: E402
from unipose_ros.core.errors import InputError  # noqa: E402
from unipose_ros.core.joints import ITOP15  # noqa: E402
from unipose_ros.estimators.learned import LearnedEstimator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real_depth_unlabelled"
ITOP_NAMES = ["Head", "Neck", "RShoulder", "LShoulder", "RElbow", "LElbow", "RHand", "LHand", "Torso", "RHip",
              "LHip", "RKnee", "LKnee", "RFoot", "LFoot"]
ITOP_INTRINSICS = "285.714,285.714,160,120"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ckpt")
    return {k: write_checkpoint(folder / f"{k}.pt", k, seed=i) for i, k in enumerate(("depth", "rgb", "pointcloud"))}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A synthetic frame with two people saved as uint16 millimetre .npy / 16-bit .png depth and
    a .png colour image; returns (folder, intrinsics string, frame)."""
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_frames

    sf = next(generate_frames(GeneratorConfig(frames=1, resolution=(320, 240), seed=8, people=2, clutter=0)))
    folder = tmp_path_factory.mktemp("inputs")
    mm = metres_to_depth(sf.frame.depth, "16UC1")
    np.save(folder / "depth.npy", mm)
    np.save(folder / "depth_m.npy", sf.frame.depth)
    cv2.imwrite(str(folder / "depth.png"), mm)
    cv2.imwrite(str(folder / "colour.png"), cv2.cvtColor(sf.frame.rgb, cv2.COLOR_RGB2BGR))
    cam = sf.frame.camera
    return folder, f"{cam.fx},{cam.fy},{cam.cx},{cam.cy}", sf.frame


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        rc = predict.main([str(a) for a in argv])
    except SystemExit as e:  # argparse errors
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_display_names_are_the_itop15_names():
    assert predict.display_names(ITOP15) == ITOP_NAMES


def test_depth_files_load_in_metres_with_invalid_as_nan(tmp_path):
    mm = np.array([[0, 1000], [2500, 65535]], np.uint16)
    np.save(tmp_path / "d.npy", mm)
    cv2.imwrite(str(tmp_path / "d.png"), mm)
    for name in ("d.npy", "d.png"):
        d = predict.load_depth(tmp_path / name)
        assert d.dtype == np.float32 and d.shape == (2, 2)
        assert np.isnan(d[0, 0])
        np.testing.assert_allclose(d[[0, 1, 1], [1, 0, 1]], [1.0, 2.5, 65.535], rtol=1e-6)
    np.testing.assert_allclose(predict.load_depth(tmp_path / "d.npy", scale=0.0001)[0, 1], 0.1, rtol=1e-6)
    metres = np.array([[1.25, np.nan], [-1.0, 0.0]], np.float32)
    np.save(tmp_path / "m.npy", metres)
    d = predict.load_depth(tmp_path / "m.npy")  # float data: already metres
    assert d[0, 0] == np.float32(1.25) and np.isnan(d[0, 1]) and np.isnan(d[1]).all()
    cv2.imwrite(str(tmp_path / "8bit.png"), np.full((4, 4), 100, np.uint8))
    with pytest.raises(InputError, match="8-bit"):
        predict.load_depth(tmp_path / "8bit.png")
    np.save(tmp_path / "rgb.npy", np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(InputError, match="one channel"):
        predict.load_depth(tmp_path / "rgb.npy")
    with pytest.raises(InputError, match="unsupported format '.tif'"):
        (tmp_path / "d.tif").write_bytes(b"x")
        predict.load_depth(tmp_path / "d.tif")


def test_colour_files_load_as_rgb(tmp_path):
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 0] = 200  # red
    rgb[1, 2] = (10, 20, 30)
    cv2.imwrite(str(tmp_path / "c.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(predict.load_rgb(tmp_path / "c.png"), rgb)
    np.save(tmp_path / "c.npy", rgb)
    np.testing.assert_array_equal(predict.load_rgb(tmp_path / "c.npy"), rgb)
    cv2.imwrite(str(tmp_path / "c.jpg"), np.full((8, 8, 3), (0, 0, 255), np.uint8))  # BGR red
    jpg = predict.load_rgb(tmp_path / "c.jpg").astype(int)
    assert np.all(jpg[..., 0] > 240) and np.all(jpg[..., 2] < 15)


def test_json_output_matches_the_estimator(capsys, files, checkpoints):
    folder, intr, _ = files
    rc, out, err = run(capsys, "--depth", folder / "depth.npy", "--intrinsics", intr, "--checkpoint",
                       checkpoints["depth"], "--json")
    assert rc == 0, err
    result = json.loads(out)
    assert list(result) == ["people"] and len(result["people"]) == 2
    frame = predict.make_frame(predict.load_depth(folder / "depth.npy"),
                               predict.parse_intrinsics(intr))
    expected = LearnedEstimator(checkpoints["depth"]).estimate(frame)
    for i, (person, pose) in enumerate(zip(result["people"], expected)):
        assert set(person) == {"id", "joints", "confidence"} and person["id"] == i
        assert list(person["joints"]) == ITOP_NAMES and list(person["confidence"]) == ITOP_NAMES
        joints = np.array([person["joints"][n] for n in ITOP_NAMES])
        np.testing.assert_allclose(joints, pose.joints, atol=6e-5)
        conf = np.array([person["confidence"][n] for n in ITOP_NAMES])
        np.testing.assert_allclose(conf, pose.confidence, atol=6e-4)
        assert np.all((conf >= 0) & (conf <= 1))
    # the same depth as a 16-bit PNG gives the same answer
    rc, out_png, _ = run(capsys, "--depth", folder / "depth.png", "--intrinsics", intr, "--checkpoint",
                         checkpoints["depth"], "--json")
    assert rc == 0 and json.loads(out_png) == result
    # ... and as float metres
    rc, out_m, _ = run(capsys, "--depth", folder / "depth_m.npy", "--intrinsics", intr, "--checkpoint",
                       checkpoints["depth"], "--json")
    assert rc == 0 and len(json.loads(out_m)["people"]) == 2


def test_table_output_and_the_other_estimators(capsys, files, checkpoints, tmp_path):
    folder, intr, _ = files
    rc, out, err = run(capsys, "--depth", folder / "depth.npy", "--rgb", folder / "colour.png", "--intrinsics", intr,
                       "--estimator", "rgb", "--checkpoint", checkpoints["rgb"])
    assert rc == 0, err
    assert out.startswith("2 people") and "person 0" in out and "person 1" in out
    assert all(name in out for name in ITOP_NAMES) and "modality rgb" in out
    rc, out, err = run(capsys, "--depth", folder / "depth.npy", "--intrinsics", intr, "--estimator", "pointcloud",
                       "--checkpoint", checkpoints["pointcloud"], "--json", "--precision", "bf16")
    assert rc == 0 and len(json.loads(out)["people"]) == 2, err
    fused_cfg = tmp_path / "fused.yaml"
    fused_cfg.write_text("".join(f"{k}_checkpoint: {p}\n" for k, p in checkpoints.items()))
    for extra in ([], ["--rgb", folder / "colour.png"]):  # fused: colour optional
        rc, out, err = run(capsys, "--depth", folder / "depth.npy", *extra, "--intrinsics", intr, "--estimator",
                           "fused", "--config", fused_cfg, "--json")
        assert rc == 0 and len(json.loads(out)["people"]) == 2, err


def test_no_person_is_an_empty_list_exit_zero_and_a_note(capsys, tmp_path, checkpoints):
    depth = np.zeros((240, 320), np.uint16)
    depth[100:104, 100:104] = 2000  # 16 valid pixels: nothing person-sized
    np.save(tmp_path / "few.npy", depth)
    rc, out, err = run(capsys, "--depth", tmp_path / "few.npy", "--intrinsics", ITOP_INTRINSICS, "--checkpoint",
                       checkpoints["depth"], "--json")
    assert rc == 0 and json.loads(out) == {"people": []}
    assert "no person found" in err
    rc, out, err = run(capsys, "--depth", tmp_path / "few.npy", "--intrinsics", ITOP_INTRINSICS, "--checkpoint",
                       checkpoints["depth"])
    assert rc == 0 and out.strip() == "0 people" and "no person found" in err


@pytest.mark.parametrize("argv, message", [
    (["--depth", "{d}/missing.npy", "--intrinsics", ITOP_INTRINSICS], "missing.npy does not exist"),
    (["--depth", "{d}/depth.npy", "--intrinsics", "285,285,160"], "intrinsics must be FX,FY,CX,CY"),
    (["--depth", "{d}/depth.npy", "--intrinsics", "a,b,c,d"], "intrinsics must be FX,FY,CX,CY"),
    (["--depth", "{d}/depth.npy", "--intrinsics", "0,285,160,120"], "FX and FY must be > 0"),
    (["--depth", "{d}/depth.npy", "--intrinsics", ITOP_INTRINSICS, "--estimator", "rgb"], "needs a colour image"),
    (["--depth", "{d}/depth.npy", "--intrinsics", ITOP_INTRINSICS, "--estimator", "baseline"], "give --rgb"),
    (["--depth", "{d}/depth.npy", "--rgb", "{d}/small.png", "--intrinsics", ITOP_INTRINSICS], "registered"),
    (["--depth", "{d}/depth.mat", "--intrinsics", ITOP_INTRINSICS], ".mat files are not supported"),
    (["--depth", "{d}/zeros.npy", "--intrinsics", ITOP_INTRINSICS], "no valid pixel"),
    (["--depth", "{d}/depth.npy", "--intrinsics", ITOP_INTRINSICS, "--checkpoint", "{d}/none.pt"], "does not exist"),
    (["--depth", "{d}/depth.npy", "--intrinsics", ITOP_INTRINSICS, "--estimator", "a2j"], "invalid choice"),
])
def test_bad_input_is_a_clear_error_with_exit_status_2(capsys, tmp_path, argv, message):
    np.save(tmp_path / "depth.npy", np.full((240, 320), 2000, np.uint16))
    np.save(tmp_path / "zeros.npy", np.zeros((240, 320), np.uint16))
    (tmp_path / "depth.mat").write_bytes(b"MATLAB 5.0")
    cv2.imwrite(str(tmp_path / "small.png"), np.zeros((120, 160, 3), np.uint8))
    rc, out, err = run(capsys, *[a.format(d=tmp_path) for a in argv])
    assert rc == 2 and out == ""
    assert message in err, err


def test_device_cuda_without_cuda_is_a_clear_error(capsys, files, checkpoints):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    folder, intr, _ = files
    rc, _, err = run(capsys, "--depth", folder / "depth.npy", "--intrinsics", intr, "--checkpoint",
                     checkpoints["depth"], "--device", "cuda")
    assert rc == 2 and "device 'cuda' requested" in err


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real depth data not found ({REAL})")
def test_real_itop_frame_as_a_process(checkpoints):
    """The module as a process on a real ITOP depth frame (uint16 mm, 240x320)."""
    proc = subprocess.run([sys.executable, "-m", "unipose_ros.cli.predict", "--depth",
                           str(REAL / "ITOP_train_000000000053.npy"), "--intrinsics", ITOP_INTRINSICS,
                           "--checkpoint", str(checkpoints["depth"]), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    people = json.loads(proc.stdout)["people"]
    assert len(people) >= 1
    for person in people:
        xyz = np.array(list(person["joints"].values()), dtype=float)
        assert xyz.shape == (15, 3) and np.isfinite(xyz).all() and np.all((xyz[:, 2] > 1.0) & (xyz[:, 2] < 6.0))
