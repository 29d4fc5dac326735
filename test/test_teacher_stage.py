"""Teacher stage: the 2D teacher's keypoints cached per recording (unipose_training.weak.teacher_stage).

A small synthetic recording (8 frames, 320x240, one person) is generated once; the real MediaPipe
teacher runs on it, and a deterministic stand-in teacher checks the joint mapping exactly."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import BLAZEPOSE33_NAMES, COCO17, ITOP15, joint_map
from unipose_ros.teachers.base import Keypoints2D

_MISSING = [m for m in ("anny", "open3d", "torch", "rosbags") if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"synthetic recordings need {_MISSING}")

from unipose_training.weak.teacher_stage import (  # noqa: E402
    DetectionConfig,
    TeacherStageConfig,
    build_teacher,
    cache_paths,
    load_teacher_cache,
    run_teacher_stage,
)

FRAMES = 8

# A person in COCO-17 order (pixels); ITOP-15 derived by hand below.
_COCO_UV = {"nose": (80, 20), "left_eye": (84, 16), "right_eye": (76, 16), "left_ear": (90, 18),
            "right_ear": (70, 18), "left_shoulder": (100, 50), "right_shoulder": (60, 50),
            "left_elbow": (104, 80), "right_elbow": (56, 80), "left_wrist": (106, 110),
            "right_wrist": (54, 110), "left_hip": (96, 120), "right_hip": (64, 120),
            "left_knee": (94, 160), "right_knee": (66, 160), "left_ankle": (92, 200), "right_ankle": (68, 200)}
COCO_UV = np.array([_COCO_UV[n] for n in COCO17.joints], np.float32)
COCO_CONF = np.linspace(0.5, 0.9, 17).astype(np.float32)


class FakeTeacher:
    """Always the same COCO-17 person (whole image only), counting its calls."""

    source = "coco17"

    def __init__(self, score: float = 0.8) -> None:
        self.score, self.calls, self.closed = score, 0, False

    def detect(self, rgb):
        self.calls += 1
        return [Keypoints2D(source="coco17", names=COCO17.joints, uv=COCO_UV, confidence=COCO_CONF,
                            box=(50.0, 10.0, 110.0, 205.0), score=self.score)]

    def detect_in_boxes(self, rgb, boxes):
        return []

    def close(self) -> None:
        self.closed = True


class ExplodingTeacher(FakeTeacher):
    def detect(self, rgb):
        raise AssertionError("the cache was current: the teacher must not run")


class NoBoxes:
    source = "coco17"

    def detect(self, rgb):
        return []

    def close(self) -> None:
        pass


class UnknownOrder(FakeTeacher):
    source = "my_skeleton_21"


def make_fake(score: float = 0.8) -> FakeTeacher:
    return FakeTeacher(score)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_recording

    rec = tmp_path_factory.mktemp("bags") / "rec_one"
    generate_recording(rec, GeneratorConfig(frames=FRAMES, resolution=(320, 240), seed=3, people=1))
    return rec


@pytest.fixture(scope="module")
def ground_truth(recording):
    from unipose_ros.io.bag import RecordingReader

    with RecordingReader(recording) as r:
        gt = r.ground_truth("itop15")
        cams = {f.stamp_ns: f.camera for f in r.frames(points=False)}
    return gt, cams


@pytest.fixture(scope="module")
def mediapipe_cache(recording, tmp_path_factory):
    pytest.importorskip("mediapipe")
    out = tmp_path_factory.mktemp("teacher")
    return run_teacher_stage(recording, out, TeacherStageConfig(), progress=False)


def test_mediapipe_cache_files_and_round_trip(mediapipe_cache, recording, ground_truth):
    npz, meta_path = cache_paths(mediapipe_cache.parent, recording)
    assert npz == mediapipe_cache and npz.is_file() and meta_path.is_file()
    assert not list(npz.parent.glob("*.tmp"))
    meta = json.loads(meta_path.read_text())
    assert meta["version"] == 1 and meta["teacher"] == "mediapipe" and meta["source"] == "blazepose33"
    assert tuple(meta["source_joints"]) == BLAZEPOSE33_NAMES and tuple(meta["joints"]) == ITOP15.joints
    assert meta["frames"] == FRAMES and len(meta["config_hash"]) == 16
    cache = load_teacher_cache(npz)
    gt, _ = ground_truth
    # every ingested frame is listed, in sequence order, with the recording's stamps
    assert cache.stamp.tolist() == sorted(gt)
    assert cache.people == meta["people"] >= FRAMES - 1
    assert sum(len(cache.people_at(i)) == 0 for i in range(FRAMES)) == meta["frames_without_people"]
    assert sum(len(cache.people_at(i)) for i in range(FRAMES)) == cache.people
    assert cache.uv.shape == (cache.people, 15, 2) and cache.raw_uv.shape == (cache.people, 33, 2)
    assert cache.uv.dtype == np.float32 and cache.frame_index.dtype == np.int32
    assert np.all(np.diff(cache.frame_index) >= 0)
    m = joint_map("blazepose33", "itop15")
    np.testing.assert_allclose(cache.uv, m.apply(cache.raw_uv), atol=1e-4)
    np.testing.assert_allclose(cache.conf, m.apply_confidence(cache.raw_conf), atol=1e-6)
    uv, conf, box, score = cache.people_at(int(cache.frame_index[0]))[0]
    assert uv.shape == (15, 2) and conf.shape == (15,) and box.shape == (4,) and 0.3 <= score <= 1.0
    with pytest.raises(IndexError):
        cache.people_at(FRAMES)


def test_mediapipe_keypoints_near_projected_ground_truth(mediapipe_cache, ground_truth):
    cache = load_teacher_cache(mediapipe_cache)
    gt, cams = ground_truth
    errors = []
    for i, stamp in enumerate(cache.stamp.tolist()):
        if not gt[stamp] or not cache.people_at(i):
            continue
        proj = cams[stamp].project(gt[stamp][0].joints)
        # the person nearest the ground truth (other detections may be false positives)
        err = min(np.median(np.linalg.norm(uv - proj, axis=1)) for uv, *_ in cache.people_at(i))
        errors.append(err)
    assert len(errors) >= FRAMES - 1
    assert np.median(errors) < 30.0, errors


def test_resume_skips_and_config_change_reruns(recording, tmp_path):
    cfg = TeacherStageConfig(teacher="unused")
    npz = run_teacher_stage(recording, tmp_path, cfg, progress=False, teacher=FakeTeacher())
    stamp = npz.stat().st_mtime_ns, npz.with_suffix(".json").stat().st_mtime_ns
    again = run_teacher_stage(recording, tmp_path, cfg, progress=False, teacher=ExplodingTeacher())
    assert again == npz and (npz.stat().st_mtime_ns, npz.with_suffix(".json").stat().st_mtime_ns) == stamp
    # another configuration (or a damaged report) is rebuilt
    other = TeacherStageConfig(teacher="unused", detection=DetectionConfig(max_people=2))
    fake = FakeTeacher()
    run_teacher_stage(recording, tmp_path, other, progress=False, teacher=fake)
    assert fake.calls == FRAMES and not fake.closed  # a teacher handed in is not closed here
    meta = json.loads(npz.with_suffix(".json").read_text())
    meta["frames"] = 3
    npz.with_suffix(".json").write_text(json.dumps(meta))
    fake = FakeTeacher()
    run_teacher_stage(recording, tmp_path, other, progress=False, teacher=fake)
    assert fake.calls == FRAMES


def test_plugged_teacher_maps_to_itop15(recording, tmp_path):
    cfg = TeacherStageConfig(teacher=f"{__name__}:make_fake", teacher_args={"score": 0.7})
    cache = load_teacher_cache(run_teacher_stage(recording, tmp_path, cfg, progress=False))
    assert cache.people == FRAMES and cache.frame_index.tolist() == list(range(FRAMES))
    assert cache.meta["source"] == "coco17" and tuple(cache.meta["source_joints"]) == COCO17.joints
    uv, conf, box, score = cache.people_at(3)[0]
    assert score == pytest.approx(0.7)
    assert box.tolist() == [50.0, 10.0, 110.0, 205.0]
    it = ITOP15.index
    # by hand: neck = mid-shoulder (80, 50); torso = mean of shoulders and hips (80, 85);
    # head = mid-ear (80, 18); hands = wrists; feet = ankles
    assert uv[it("neck")].tolist() == [80.0, 50.0]
    assert uv[it("torso")].tolist() == [80.0, 85.0]
    assert uv[it("head")].tolist() == [80.0, 18.0]
    assert uv[it("left_hand")].tolist() == [106.0, 110.0] and uv[it("right_foot")].tolist() == [68.0, 200.0]
    # confidence of a mean = its weakest part
    c = dict(zip(COCO17.joints, COCO_CONF))
    assert conf[it("torso")] == pytest.approx(min(c["left_shoulder"], c["right_shoulder"], c["left_hip"], c["right_hip"]))
    np.testing.assert_array_equal(cache.raw_uv[0], COCO_UV)


def test_low_score_people_are_not_cached(recording, tmp_path):
    cfg = TeacherStageConfig(teacher="x", detection=DetectionConfig(min_person_score=0.9))
    cache = load_teacher_cache(run_teacher_stage(recording, tmp_path, cfg, progress=False, teacher=FakeTeacher(0.5)))
    assert cache.people == 0 and cache.frames == FRAMES
    assert cache.meta["frames_without_people"] == FRAMES
    assert cache.uv.shape == (0, 15, 2) and cache.people_at(0) == []


def test_build_teacher_errors():
    with pytest.raises(InputError, match="unknown teacher"):
        build_teacher("openpose")
    with pytest.raises(InputError, match="cannot load"):
        build_teacher("no_such_package.module:factory")
    with pytest.raises(InputError, match="detect_in_boxes"):
        build_teacher(f"{__name__}:NoBoxes")
    with pytest.raises(InputError, match="no joint map"):
        build_teacher(f"{__name__}:UnknownOrder")
    t = build_teacher(f"{__name__}:make_fake", score=0.4)
    assert isinstance(t, FakeTeacher) and t.score == 0.4


def test_config_from_dict_keeps_teacher_args():
    from unipose_ros.core.config import from_dict

    data = {"teacher": "pkg.mod:build", "teacher_args": {"model": "rtmpose-m.onnx", "fp16": True, "size": 256},
            "detection": {"max_people": 3, "proposals": {}}}
    for cfg in (TeacherStageConfig.from_dict(data), from_dict(TeacherStageConfig, data)):
        assert cfg.teacher_args == {"model": "rtmpose-m.onnx", "fp16": True, "size": 256}
        assert cfg.detection.max_people == 3
        b = cfg.baseline_config()
        assert b.max_people == 3 and b.joint_set == "itop15" and b.min_person_score == 0.3
    with pytest.raises(ValueError, match="unknown keys"):
        TeacherStageConfig.from_dict({"teachr": "x"})
