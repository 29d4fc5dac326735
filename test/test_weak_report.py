"""The weak-pipeline evaluation report: exact report.json schema, ratios in report.md computed by
hand, plots and overlays written, per-frame errors, and evaluate.py's recording path still working."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import ITOP15
from unipose_ros.core.pose import Modality, PersonPose
from unipose_training.weak.report import (
    METHOD_KEYS,
    PCK_KEYS,
    FrameLog,
    build_report,
    evaluate_methods,
    format_markdown,
    frame_mpjpe_mm,
    ratio_rows,
)

CAM = PinholeCamera(fx=60.0, fy=60.0, cx=31.5, cy=23.5, width=64, height=48)
T0 = 1_700_000_000_000_000_000


def _person(track: int, x: float) -> PersonPose:
    """A 15-joint person at depth 3 m, spread over 1.5 m vertically, centred at ``x``."""
    joints = np.stack([np.full(15, x), np.linspace(-0.8, 0.7, 15), np.full(15, 3.0)], axis=1)
    joints[:, 0] += np.linspace(-0.2, 0.2, 15)
    return PersonPose(track_id=track, joint_set=ITOP15, joints=joints, confidence=np.ones(15),
                      modality=Modality.GROUND_TRUTH)


def _frame(i: int, rgb: bool = True) -> RGBDFrame:
    depth = np.full((48, 64), 3.0, np.float32)
    image = np.full((48, 64, 3), 20 * i % 255, np.uint8) if rgb else None
    return RGBDFrame(stamp_ns=T0 + i * 100_000_000, frame_id="cam", camera=CAM, rgb=image, depth=depth)


def _pairs(n: int, rgb: bool = True):
    for i in range(n):
        yield _frame(i, rgb), [_person(1, -0.5), _person(2, 0.5 + 0.01 * i)]


class _Shifted:
    """Returns the ground truth (rebuilt from the frame index) moved by ``offset`` metres; with
    ``drop_every`` it sees nobody on every n-th frame."""

    def __init__(self, offset, drop_every: int = 0) -> None:
        self.offset, self.drop_every = np.asarray(offset, np.float32), drop_every

    def estimate(self, frame):
        i = round((frame.stamp_ns - T0) / 100_000_000)
        if self.drop_every and i % self.drop_every == 0:
            return []
        return [PersonPose(track_id=p.track_id, joint_set=ITOP15, joints=p.joints + self.offset,
                           confidence=np.ones(15)) for p in (_person(1, -0.5), _person(2, 0.5 + 0.01 * i))]


def _hand_results() -> dict[str, dict]:
    def r(mpjpe, m10, m5, m15):
        return {"mpjpe_mm": mpjpe, "root_relative_mpjpe_mm": mpjpe / 2, "map_10cm": m10, "map_5cm": m5,
                "map_15cm": m15, "frames": 10, "pck": {"5cm": m5, "10cm": m10, "15cm": m15},
                "latency_ms": {"p50": 5.0, "p95": 6.0, "mean": 5.0}, "recordings": ["a"]}

    return {"baseline": r(100.0, 0.5, 0.2, 0.7), "weak_pointcloud": r(120.0, 0.4, 0.1, 0.6),
            "weak_depth": r(80.0, 0.6, 0.3, 0.8), "weak_rgb": r(90.0, 0.45, 0.2, 0.7),
            "full_depth": r(50.0, 0.8, 0.5, 0.9), "full_rgb": r(60.0, 0.9, 0.6, 0.95)}


def test_report_json_schema_is_exact():
    report = build_report(_hand_results(), {"seed": 1}, {"split": "test"})
    methods = ["baseline", "weak_pointcloud", "weak_depth", "weak_rgb", "full_depth", "full_rgb"]
    assert list(report) == methods + ["config", "data"]
    assert report["config"] == {"seed": 1} and report["data"] == {"split": "test"}
    for m in methods:
        e = report[m]
        assert list(e)[:len(METHOD_KEYS)] == list(METHOD_KEYS)
        assert list(e["pck"]) == list(PCK_KEYS)
        assert "recordings" not in e and "root_relative_mpjpe_mm" not in e
    assert report["baseline"]["root_rel_mpjpe_mm"] == 50.0
    assert report["weak_depth"]["pck"] == {"5cm": 0.3, "10cm": 0.6, "15cm": 0.8}
    assert report["full_depth"]["frames"] == 10
    with pytest.raises(InputError, match="config"):
        build_report({"config": _hand_results()["baseline"]}, {}, {})


def test_ratios_by_hand():
    rows = {r["method"]: r for r in ratio_rows(build_report(_hand_results(), {}, {}))}
    # weak_depth vs full_depth: 0.6 / 0.8 = 0.75; MPJPE (80 - 100) / 100 = -20 %
    assert rows["weak_depth"]["full"] == "full_depth"
    assert rows["weak_depth"]["map_ratio_to_full"] == pytest.approx(0.75)
    assert rows["weak_depth"]["mpjpe_change_vs_baseline_pct"] == pytest.approx(-20.0)
    # weak_rgb has its own full_rgb: 0.45 / 0.9 = 0.5; (90 - 100) / 100 = -10 %
    assert rows["weak_rgb"]["full"] == "full_rgb"
    assert rows["weak_rgb"]["map_ratio_to_full"] == pytest.approx(0.5)
    # weak_pointcloud has no full_pointcloud: compared with full_depth: 0.4 / 0.8 = 0.5; +20 %
    assert rows["weak_pointcloud"]["full"] == "full_depth"
    assert rows["weak_pointcloud"]["map_ratio_to_full"] == pytest.approx(0.5)
    assert rows["weak_pointcloud"]["mpjpe_change_vs_baseline_pct"] == pytest.approx(20.0)
    # full_depth: (50 - 100) / 100 = -50 %, no ratio; baseline: nothing relative to itself
    assert rows["full_depth"]["map_ratio_to_full"] is None
    assert rows["full_depth"]["mpjpe_change_vs_baseline_pct"] == pytest.approx(-50.0)
    assert rows["baseline"]["mpjpe_change_vs_baseline_pct"] is None


def test_markdown_shows_the_ratios():
    md = format_markdown(build_report(_hand_results(), {}, {"split": "test"}))
    lines = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| weak_")
             and "full" in ln}
    assert "| weak_depth | 0.600 | full_depth | 0.750 | 80.0 | -20.0 % |" in md
    assert "| weak_pointcloud | 0.400 | full_depth | 0.500 | 120.0 | +20.0 % |" in md
    assert "| weak_rgb | 0.450 | full_rgb | 0.500 | 90.0 | -10.0 % |" in md
    assert "| full_depth | 0.800 | - | - | 50.0 | -50.0 % |" in md
    assert set(lines) == {"weak_depth", "weak_pointcloud", "weak_rgb"}
    assert "- split: test" in md
    # the accuracy table (evaluate.format_table) is there with its MPJPE-vs-baseline column
    assert "| weak_depth | 80.0 | 40.0 | 0.600 | 0.300 | 0.800 |" in md


def test_frame_mpjpe_by_hand():
    gt = [_person(1, 0.0)]
    pred = [PersonPose(track_id=1, joint_set=ITOP15, joints=gt[0].joints + [0.03, 0.04, 0.0],
                       confidence=np.ones(15))]
    assert frame_mpjpe_mm(pred, gt) == pytest.approx(50.0, abs=1e-3)  # sqrt(3^2 + 4^2) cm
    assert np.isnan(frame_mpjpe_mm([], gt))


def test_frame_log_keeps_few_evenly_spread_frames():
    log = FrameLog(methods=("a", "b"), overlay_frames=3)
    for frame, truth in _pairs(100):
        for name in ("a", "b"):
            log.on_frame(name, frame, truth, truth)
        assert len(log._kept) <= 2 * 3 + 1
    picks = log.picks()
    assert len(picks) == 3 and all(set(k.poses) == {"a", "b"} for k in picks)
    idx = [k.index for k in picks]
    assert idx[0] == 0 and idx[-1] >= 60 and idx == sorted(idx)
    assert len(log.rows) == 200


def test_evaluate_methods_writes_the_report_folder(tmp_path):
    ests = {"baseline": _Shifted([0.12, 0.0, 0.0]), "weak_depth": _Shifted([0.0, 0.04, 0.0]),
            "weak_pointcloud": _Shifted([0.0, 0.0, 0.03], drop_every=2), "full_depth": _Shifted([0.02, 0.0, 0.0])}
    out = tmp_path / "eval"
    report = evaluate_methods([("rec_a", _pairs(6)), ("rec b/depth", _pairs(4, rgb=False))], ests, out,
                              config={"checkpoints": {"weak_depth": "w.pt"}}, data_info={"split": "test"},
                              overlay_frames=3, progress=False)
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == report
    assert list(on_disk) == list(ests) + ["config", "data"]
    assert on_disk["data"] == {"split": "test", "sources": ["rec_a", "rec b/depth"], "frames": 10}
    assert on_disk["config"]["checkpoints"] == {"weak_depth": "w.pt"}
    assert on_disk["config"]["methods"] == list(ests)
    assert on_disk["baseline"]["mpjpe_mm"] == pytest.approx(120.0, abs=1e-3)
    assert on_disk["weak_depth"]["mpjpe_mm"] == pytest.approx(40.0, abs=1e-3)
    assert on_disk["full_depth"]["mpjpe_mm"] == pytest.approx(20.0, abs=1e-3)
    assert on_disk["full_depth"]["map_10cm"] == 1.0 and on_disk["baseline"]["map_10cm"] == 0.0
    # weak_pointcloud sees nobody on frames 0, 2, 4 of rec_a and 0, 2 of rec b: 5 of 10 frames missed
    assert on_disk["weak_pointcloud"]["missed"] == 10 and on_disk["weak_pointcloud"]["map_10cm"] == 0.5
    for m in ests:
        assert on_disk[m]["frames"] == 10 and list(on_disk[m]["pck"]) == ["5cm", "10cm", "15cm"]
    md = (out / "report.md").read_text()
    assert "| weak_depth | 1.000 | full_depth | 1.000 | 40.0 | -66.7 % |" in md
    for name in ("per_joint_error.png", "error_over_time_rec_a.png", "error_over_time_rec_b_depth.png",
                 "overlay_00.png", "overlay_01.png", "overlay_02.png"):
        assert (out / name).stat().st_size > 1000, name
    assert not (out / "overlay_03.png").exists()
    import cv2

    sheet = cv2.imread(str(out / "overlay_00.png"))
    assert sheet.shape == (240, 320 * 4, 3)  # one panel per method, 64x48 shown at 320x240
    with open(out / "per_frame_errors.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 * 4
    base_a = [r for r in rows if r["method"] == "baseline" and r["recording"] == "rec_a"]
    assert len(base_a) == 6 and all(float(r["mpjpe_mm"]) == pytest.approx(120.0, abs=0.01) for r in base_a)
    missed = [r for r in rows if r["method"] == "weak_pointcloud" and r["mpjpe_mm"] == ""]
    assert len(missed) == 5


def test_evaluate_methods_refuses_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="at least one method"):
        evaluate_methods([("a", _pairs(1))], {}, tmp_path, {}, {})
    with pytest.raises(InputError, match="source"):
        evaluate_methods([], {"baseline": _Shifted([0, 0, 0])}, tmp_path, {}, {})
    with pytest.raises(InputError, match="data"):
        evaluate_methods([("a", _pairs(1))], {"data": _Shifted([0, 0, 0])}, tmp_path, {}, {})


def test_recordings_through_evaluate_and_the_report(tmp_path):
    """A rosbag2 recording with ground truth: evaluate.py's own path (evaluate_estimators +
    write_report, as its CLI uses them) and evaluate_methods on the same recording."""
    from unipose_ros.io.bag import RecordingWriter
    from unipose_training.evaluation.evaluate import evaluate_estimators, find_recordings, write_report

    rec = tmp_path / "data" / "rec0"
    rec.parent.mkdir()
    with RecordingWriter(rec, write_points=False) as w:
        for frame, truth in _pairs(5):
            w.write_frame(frame, {"itop15": truth})
    recordings = find_recordings(tmp_path / "data")
    assert recordings == [rec]
    ests = {"baseline": _Shifted([0.05, 0.0, 0.0]), "weak_depth": _Shifted([0.0, 0.0, 0.0])}
    res = evaluate_estimators(recordings, ests, progress=False, frame_stride=2)
    assert res["baseline"]["frames"] == 3 and res["baseline"]["matched"] == 6
    assert res["baseline"]["mpjpe_mm"] == pytest.approx(50.0, abs=0.01)
    assert res["baseline"]["recordings"] == [str(rec)]
    write_report(res, tmp_path / "classic", {"data": "x"})
    classic = json.loads((tmp_path / "classic" / "report.json").read_text())
    assert set(classic) == {"results", "config"}
    assert (tmp_path / "classic" / "per_joint_error.png").stat().st_size > 1000
    assert "| weak_depth | 0.0 |" in (tmp_path / "classic" / "report.md").read_text()

    report = evaluate_methods([rec], ests, tmp_path / "eval", {}, {}, overlay_frames=2, progress=False)
    assert report["data"]["sources"] == [str(rec)] and report["data"]["frames"] == 5
    assert report["weak_depth"]["mpjpe_mm"] == pytest.approx(0.0, abs=0.01)
    assert (tmp_path / "eval" / "error_over_time_rec0.png").exists()
    assert (tmp_path / "eval" / "overlay_01.png").exists()
