"""Reading rosbag2 recordings of any layout: topic detection, stamp pairing, ordering, report."""
from __future__ import annotations

import json
import logging
import struct

import numpy as np
import pytest

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.io.bag import DEFAULT_TOPICS, RecordingWriter
from unipose_ros.io.camera_info import camera_info_from_camera
from unipose_ros.io.image import numpy_to_image
from unipose_ros.io.messages import make_header
from unipose_ros.io.pointcloud import numpy_to_cloud
from unipose_ros.io.typestore import ros_typestore
from unipose_training.datasets.ingest import (
    IngestConfig,
    IngestReport,
    detect_topics,
    header_stamp_ns,
    ingest_frames,
    ingest_recording,
    main,
    read_report,
    write_report,
)

TS = ros_typestore()
IMAGE, INFO = TS.types["sensor_msgs/msg/Image"], TS.types["sensor_msgs/msg/CameraInfo"]
CLOUD = TS.types["sensor_msgs/msg/PointCloud2"]
CAM = PinholeCamera(fx=30.0, fy=31.0, cx=15.5, cy=11.5, width=32, height=24)
FRAME_ID = "rgb_camera_link"
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
PERIOD = 33 * MS


def _rgb(i: int) -> np.ndarray:
    """(24, 32, 3) colour image whose red channel is the frame index (to recognise it)."""
    rgb = np.random.default_rng(i).integers(0, 256, (24, 32, 3)).astype(np.uint8)
    rgb[..., 0] = i
    return rgb


def _depth_m(i: int) -> np.ndarray:
    """(24, 32) whole millimetres as metres (exact in 16UC1), NaN in a corner."""
    d = (1000 + 10 * i + np.arange(24 * 32).reshape(24, 32) % 500).astype(np.float32) / np.float32(1000)
    d[:3, :4] = np.nan
    return d


def _write(path, frames, storage="mcap", color="/k4a/rgb/image_raw", depth="/k4a/depth_to_rgb/image_raw",
           info="/k4a/rgb/camera_info", points=None, color_encoding="bgr8", depth_encoding="16UC1",
           extra=()):
    """Write a recording with custom topic names, message by message in list order.

    ``frames``: (index, colour stamp, depth stamp or None) per frame; the log time of each
    message is its write position (so header stamps may be out of log order).
    ``extra``: (topic, message, msgtype) written once at the start.
    """
    log = T0
    with RecordingWriter(path, storage=storage) as w:
        for topic, msg, msgtype in extra:
            w.write_message(topic, msg, msgtype, stamp_ns=log)
        for i, c_stamp, d_stamp in frames:
            log += PERIOD
            h = make_header(IMAGE, c_stamp, FRAME_ID)
            if info:
                w.write_message(info, camera_info_from_camera(CAM, INFO, h), stamp_ns=log)
            rgb = _rgb(i)
            raw = rgb[..., ::-1].copy() if color_encoding == "bgr8" else rgb
            w.write_message(color, numpy_to_image(raw, color_encoding, IMAGE, h), stamp_ns=log)
            if d_stamp is not None:
                hd = make_header(IMAGE, d_stamp, FRAME_ID)
                d = _depth_m(i)
                arr = (np.nan_to_num(d * 1000).round().astype(np.uint16) if depth_encoding == "16UC1"
                       else np.nan_to_num(d).astype(np.float32))
                w.write_message(depth, numpy_to_image(arr, depth_encoding, IMAGE, hd), stamp_ns=log + 1)
                if points:
                    xyz = CAM.depth_to_points(d)
                    w.write_message(points, numpy_to_cloud(xyz, msg_cls=CLOUD, header=hd), stamp_ns=log + 2)


def _regular(n: int, jitter=None) -> list[tuple[int, int, int]]:
    jitter = jitter or [0] * n
    return [(i, T0 + i * PERIOD, T0 + i * PERIOD + jitter[i]) for i in range(n)]


# ----------------------------------------------------------------------------- header stamp


def test_header_stamp_from_cdr_bytes_both_byte_orders():
    msg = numpy_to_image(_rgb(0), "rgb8", IMAGE, make_header(IMAGE, 5 * 10**9 + 7, "x"))
    raw = TS.serialize_cdr(msg, "sensor_msgs/msg/Image")
    stamp = TS.deserialize_cdr(raw, "sensor_msgs/msg/Image").header.stamp
    assert header_stamp_ns(raw) == 5 * 10**9 + 7 == stamp.sec * 10**9 + stamp.nanosec
    # hand-built: big endian (byte 1 = 0x00), sec 2, nanosec 3 -> 2_000_000_003
    assert header_stamp_ns(b"\x00\x00\x00\x00" + struct.pack(">iI", 2, 3)) == 2_000_000_003
    assert header_stamp_ns(b"\x00\x01\x00\x00" + struct.pack("<iI", 2, 3)) == 2_000_000_003
    assert header_stamp_ns(b"\x00\x01\x00") is None  # too short
    assert header_stamp_ns(b"\x00\x03\x00\x00" + bytes(8)) is None  # parameter-list CDR: not parsed


# ----------------------------------------------------------------------------- detection


REALSENSE = {
    "/camera/color/image_raw": ("sensor_msgs/msg/Image", 10),
    "/camera/color/image_raw/compressed": ("sensor_msgs/msg/CompressedImage", 10),
    "/camera/color/camera_info": ("sensor_msgs/msg/CameraInfo", 10),
    "/camera/depth/image_rect_raw": ("sensor_msgs/msg/Image", 10),
    "/camera/depth/camera_info": ("sensor_msgs/msg/CameraInfo", 10),
    "/camera/aligned_depth_to_color/image_raw": ("sensor_msgs/msg/Image", 10),
    "/camera/aligned_depth_to_color/camera_info": ("sensor_msgs/msg/CameraInfo", 10),
    "/camera/aligned_depth_to_infra1/image_raw": ("sensor_msgs/msg/Image", 10),
    "/camera/infra1/image_rect_raw": ("sensor_msgs/msg/Image", 10),
    "/camera/depth/color/points": ("sensor_msgs/msg/PointCloud2", 10),
    "/tf_static": ("tf2_msgs/msg/TFMessage", 1),
}
AZURE = {
    "/rgb/image_raw": ("sensor_msgs/msg/Image", 5), "/rgb/camera_info": ("sensor_msgs/msg/CameraInfo", 5),
    "/depth/image_raw": ("sensor_msgs/msg/Image", 5), "/depth/camera_info": ("sensor_msgs/msg/CameraInfo", 5),
    "/depth_to_rgb/image_raw": ("sensor_msgs/msg/Image", 5),
    "/depth_to_rgb/camera_info": ("sensor_msgs/msg/CameraInfo", 5),
    "/rgb_to_depth/image_raw": ("sensor_msgs/msg/Image", 5),
    "/rgb_to_depth/camera_info": ("sensor_msgs/msg/CameraInfo", 5),
    "/ir/image_raw": ("sensor_msgs/msg/Image", 5), "/points2": ("sensor_msgs/msg/PointCloud2", 5),
}
ZED = {
    "/zed/zed_node/rgb/image_rect_color": ("sensor_msgs/msg/Image", 5),
    "/zed/zed_node/rgb/camera_info": ("sensor_msgs/msg/CameraInfo", 5),
    "/zed/zed_node/right/image_rect_color": ("sensor_msgs/msg/Image", 5),
    "/zed/zed_node/right/camera_info": ("sensor_msgs/msg/CameraInfo", 5),
    "/zed/zed_node/depth/depth_registered": ("sensor_msgs/msg/Image", 5),
    "/zed/zed_node/depth/camera_info": ("sensor_msgs/msg/CameraInfo", 5),
    "/zed/zed_node/point_cloud/cloud_registered": ("sensor_msgs/msg/PointCloud2", 5),
}


def test_detect_realsense_prefers_aligned_depth_and_colour_info():
    notes: list[str] = []
    t = detect_topics(REALSENSE, IngestConfig(use_points=True), warnings=notes)
    assert t == {"color": "/camera/color/image_raw", "depth": "/camera/aligned_depth_to_color/image_raw",
                 "camera_info": "/camera/color/camera_info", "points": "/camera/depth/color/points"}
    assert notes == []  # nothing ambiguous
    assert "points" not in detect_topics(REALSENSE, IngestConfig())


def test_detect_azure_kinect_by_names_and_encodings():
    enc = {"/rgb/image_raw": "bgra8", "/depth/image_raw": "16UC1", "/depth_to_rgb/image_raw": "16UC1",
           "/rgb_to_depth/image_raw": "bgra8", "/ir/image_raw": "mono16"}
    for encodings in (enc, None):  # names alone decide here too
        t = detect_topics(AZURE, IngestConfig(), encodings)
        assert t == {"depth": "/depth_to_rgb/image_raw", "color": "/rgb/image_raw", "camera_info": "/rgb/camera_info"}


def test_detect_zed_avoids_right_camera_and_by_encoding_only():
    t = detect_topics(ZED, IngestConfig(use_points=True))
    assert t["color"] == "/zed/zed_node/rgb/image_rect_color"
    assert t["depth"] == "/zed/zed_node/depth/depth_registered"
    assert t["camera_info"] == "/zed/zed_node/rgb/camera_info"
    assert t["points"] == "/zed/zed_node/point_cloud/cloud_registered"
    # names that say nothing: the encodings decide (depth 32FC1, colour rgb8)
    anon = {"/cam/a": ("sensor_msgs/msg/Image", 3), "/cam/b": ("sensor_msgs/msg/Image", 3),
            "/cam/k": ("sensor_msgs/msg/CameraInfo", 3)}
    notes: list[str] = []
    t = detect_topics(anon, IngestConfig(), {"/cam/a": "rgb8", "/cam/b": "32FC1"}, notes)
    assert (t["color"], t["depth"], t["camera_info"]) == ("/cam/a", "/cam/b", "/cam/k")
    assert any("not named as registered" in n for n in notes)


def test_detect_ambiguity_warns_with_alternatives_and_overrides_win():
    topics = {"/a/color/image_raw": ("sensor_msgs/msg/Image", 3), "/b/color/image_raw": ("sensor_msgs/msg/Image", 3),
              "/a/aligned_depth_to_color/image_raw": ("sensor_msgs/msg/Image", 3),
              "/a/color/camera_info": ("sensor_msgs/msg/CameraInfo", 3)}
    notes: list[str] = []
    t = detect_topics(topics, IngestConfig(), warnings=notes)
    assert t["color"] == "/a/color/image_raw"  # shares the depth topic's namespace
    assert len(notes) == 1 and "alternatives: /b/color/image_raw" in notes[0]
    t = detect_topics(topics, IngestConfig(color="/b/color/image_raw"))
    assert t["color"] == "/b/color/image_raw"
    assert t["camera_info"] == "/a/color/camera_info"  # none next to /b: next to the depth
    with pytest.raises(InputError, match=r"'/nope' is not in the recording.*/a/color/image_raw"):
        detect_topics(topics, IngestConfig(depth="/nope"))
    with pytest.raises(InputError, match="is a sensor_msgs/msg/CameraInfo"):
        detect_topics(topics, IngestConfig(color="/a/color/camera_info"))
    with pytest.raises(InputError, match="no depth image"):
        detect_topics({"/a/color/image_raw": ("sensor_msgs/msg/Image", 3)}, IngestConfig())
    with pytest.raises(InputError, match="no PointCloud2"):
        detect_topics(topics, IngestConfig(use_points=True))
    assert "camera_info" not in detect_topics(topics, IngestConfig(intrinsics=(1, 1, 0, 0)))


def test_config_dict_round_trip_and_validation():
    cfg = IngestConfig(color="/c", intrinsics=(500, 501, 320, 240), max_frames=3, slop_ms=5)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert IngestConfig.from_dict(d) == cfg and d["intrinsics"] == [500.0, 501.0, 320.0, 240.0]
    with pytest.raises(InputError, match="unknown ingest option"):
        IngestConfig.from_dict({"colour": "/c"})
    with pytest.raises(InputError, match="intrinsics"):
        IngestConfig(intrinsics=(0, 1, 2, 3))
    with pytest.raises(InputError, match="either intrinsics or a camera_info"):
        IngestConfig(intrinsics=(1, 1, 0, 0), camera_info="/x")


# ----------------------------------------------------------------------------- reading


def test_own_layout_16uc1_and_32fc1_give_the_same_metres(tmp_path):
    out = {}
    for enc in ("16UC1", "32FC1"):
        with RecordingWriter(tmp_path / enc, depth_encoding=enc, write_points=False) as w:
            for i in range(3):
                w.write_frame(RGBDFrame(stamp_ns=T0 + i * PERIOD, frame_id=FRAME_ID, camera=CAM, rgb=_rgb(i),
                                        depth=_depth_m(i)))
        report = IngestReport()
        out[enc] = list(ingest_frames(tmp_path / enc, report=report))
        assert report.topics == {"color": DEFAULT_TOPICS.color, "depth": DEFAULT_TOPICS.depth,
                                 "camera_info": DEFAULT_TOPICS.color_info}
        assert report.depth_encoding == enc and report.rgb_encoding == "rgb8" and report.storage == "mcap"
        assert report.frames == report.color_messages == 3 and report.skipped == {}
    for a, b, i in zip(out["16UC1"], out["32FC1"], range(3)):
        assert a.stamp_ns == b.stamp_ns == T0 + i * PERIOD
        assert a.depth.dtype == np.float32 and a.camera == CAM and a.frame_id == FRAME_ID
        np.testing.assert_allclose(a.depth, _depth_m(i), rtol=0, atol=1e-6)
        np.testing.assert_allclose(b.depth, _depth_m(i), rtol=0, atol=1e-6)
        assert np.isnan(a.depth[0, 0]) and np.isnan(b.depth[0, 0])
        assert np.array_equal(a.rgb, _rgb(i))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_custom_names_bgr8_and_storage(tmp_path, storage):
    rec = tmp_path / "k4a_rec"
    # an unregistered depth and a colour-in-depth-geometry image are present but not used
    raw_depth = numpy_to_image(np.full((12, 16), 900, np.uint16), "16UC1", IMAGE, make_header(IMAGE, T0, "d"))
    c2d = numpy_to_image(np.zeros((12, 16, 4), np.uint8), "bgra8", IMAGE, make_header(IMAGE, T0, "d"))
    _write(rec, _regular(4), storage=storage,
           extra=[("/k4a/depth/image_raw", raw_depth, None), ("/k4a/rgb_to_depth/image_raw", c2d, None)])
    report = IngestReport()
    frames = list(ingest_frames(rec, report=report))
    assert report.storage == storage
    assert report.topics == {"color": "/k4a/rgb/image_raw", "depth": "/k4a/depth_to_rgb/image_raw",
                             "camera_info": "/k4a/rgb/camera_info"}
    assert report.rgb_encoding == "bgr8" and report.depth_encoding == "16UC1"
    assert set(report.ignored) == {"/k4a/depth/image_raw", "/k4a/rgb_to_depth/image_raw"}
    assert report.camera == {"fx": 30.0, "fy": 31.0, "cx": 15.5, "cy": 11.5, "width": 32, "height": 24}
    assert [f.stamp_ns for f in frames] == [T0 + i * PERIOD for i in range(4)]
    for i, f in enumerate(frames):
        assert np.array_equal(f.rgb, _rgb(i))  # bgr8 swapped back to RGB
        np.testing.assert_allclose(f.depth, _depth_m(i), rtol=0, atol=1e-6)
        assert f.frame_id == FRAME_ID and f.points is None
    # the .mcap / .db3 file itself is accepted as the path too
    data_file = next(p for p in rec.iterdir() if p.suffix in (".mcap", ".db3"))
    assert len(list(ingest_frames(data_file))) == 4


def test_overrides_select_the_named_topics(tmp_path):
    rec = tmp_path / "rec"
    _write(rec, _regular(2), color="/cam/left/image", depth="/cam/stereo/range", info="/cam/left/info")
    cfg = IngestConfig(color="/cam/left/image", depth="/cam/stereo/range", camera_info="/cam/left/info")
    report = IngestReport()
    frames = list(ingest_frames(rec, cfg, report))
    assert len(frames) == 2 and report.topics["depth"] == "/cam/stereo/range"
    np.testing.assert_allclose(frames[1].depth, _depth_m(1), atol=1e-6)
    with pytest.raises(InputError, match="/cam/left/image"):  # the message lists the topics
        list(ingest_frames(rec, IngestConfig(depth="/camera/aligned_depth_to_color/image_raw")))


def test_missing_camera_info_needs_intrinsics(tmp_path):
    rec = tmp_path / "rec"
    _write(rec, _regular(2), info=None)
    with pytest.raises(InputError, match="intrinsics"):
        list(ingest_frames(rec))
    frames = list(ingest_frames(rec, IngestConfig(intrinsics=(40.0, 41.0, 16.0, 12.0))))
    assert len(frames) == 2
    assert frames[0].camera == PinholeCamera(fx=40.0, fy=41.0, cx=16.0, cy=12.0, width=32, height=24)


def test_out_of_order_stamps_come_out_sorted(tmp_path):
    rec = tmp_path / "rec"
    order = [0, 2, 1, 4, 3, 5]  # written (logged) in this order; header stamps of frame i
    _write(rec, [(i, T0 + i * PERIOD, T0 + i * PERIOD) for i in order])
    report = IngestReport()
    frames = list(ingest_frames(rec, report=report))
    assert [f.stamp_ns for f in frames] == [T0 + i * PERIOD for i in range(6)]
    for i, f in enumerate(frames):  # content follows the stamp
        assert int(f.rgb[0, 0, 0]) == i
        np.testing.assert_allclose(f.depth, _depth_m(i), atol=1e-6)
    # 2->1 and 4->3 on colour, depth and camera_info topics each
    assert report.out_of_order == 6
    assert report.frames == 6 and report.skipped == {}


def test_jittered_depth_pairs_and_misses_are_counted(tmp_path, caplog):
    rec = tmp_path / "rec"
    # depth stamps 5 ms off either way pair with their colour image; frame 3's depth is 25 ms
    # early (74 ms: frame 2's own depth at 71 ms stays nearer to frame 2 at 66 ms), and frame 4's
    # depth is at 127 ms, 28 ms after frame 3 (99 ms) -> frame 3 has no depth within 20 ms.
    frames_in = _regular(6, jitter=[5 * MS, -5 * MS, 5 * MS, -25 * MS, -5 * MS, 0])
    # frame 5 repeats frame 4's colour stamp (a driver hiccup) and has no depth of its own
    frames_in[5] = (5, frames_in[4][1], None)
    _write(rec, frames_in)
    report = IngestReport()
    with caplog.at_level(logging.WARNING):
        frames = list(ingest_frames(rec, report=report))
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [0, 1, 2, 4]
    for f in frames:
        np.testing.assert_allclose(f.depth, _depth_m(int(f.rgb[0, 0, 0])), atol=1e-6)
    assert report.skipped == {"no depth within 20 ms": 1, "duplicate colour stamp": 1}
    assert report.frames + sum(report.skipped.values()) == report.color_messages == 6
    assert "did not become frames" in caplog.text
    # a wider slop takes frame 3 in
    assert len(list(ingest_frames(rec, IngestConfig(slop_ms=26)))) == 5


def test_undecodable_depth_is_counted(tmp_path):
    rec = tmp_path / "rec"
    _write(rec, _regular(2))
    rec2 = tmp_path / "rec2"
    with RecordingWriter(rec2, write_points=False) as w:  # second depth image is mono8
        for i in range(2):
            h = make_header(IMAGE, T0 + i * PERIOD, FRAME_ID)
            w.write_message("/cam/color/camera_info", camera_info_from_camera(CAM, INFO, h))
            w.write_message("/cam/color/image_raw", numpy_to_image(_rgb(i), "rgb8", IMAGE, h))
            d = (np.full((24, 32), 1000, np.uint16), "16UC1") if i == 0 else (np.zeros((24, 32), np.uint8), "mono8")
            w.write_message("/cam/aligned_depth_to_color/image_raw", numpy_to_image(d[0], d[1], IMAGE, h))
    report = IngestReport()
    frames = list(ingest_frames(rec2, report=report))
    assert len(frames) == 1 and report.skipped == {"undecodable depth (encoding mono8)": 1}
    assert any("mono8" in w for w in report.warnings)


def test_size_mismatch_is_counted_not_raised(tmp_path):
    rec = tmp_path / "rec"
    with RecordingWriter(rec, write_points=False) as w:
        h = make_header(IMAGE, T0, FRAME_ID)
        w.write_message("/c/color/camera_info", camera_info_from_camera(CAM, INFO, h))
        w.write_message("/c/color/image_raw", numpy_to_image(_rgb(0), "rgb8", IMAGE, h))
        w.write_message("/c/depth/image_raw", numpy_to_image(np.ones((12, 16), np.uint16), "16UC1", IMAGE, h))
    report = IngestReport()
    assert list(ingest_frames(rec, report=report)) == []
    (reason, n), = report.skipped.items()
    assert n == 1 and "depth image 16x12 does not match colour 32x24" in reason


def test_points_paired_like_depth(tmp_path):
    rec = tmp_path / "rec"
    _write(rec, _regular(3, jitter=[0, 4 * MS, 0]), points="/k4a/points2")
    report = IngestReport()
    frames = list(ingest_frames(rec, IngestConfig(use_points=True), report))
    assert report.topics["points"] == "/k4a/points2" and len(frames) == 3
    for i, f in enumerate(frames):
        assert np.array_equal(f.points, CAM.depth_to_points(_depth_m(i)))
    assert frames[0].points.shape[1] == 3


def test_max_frames_stops_early_and_counts_the_rest(tmp_path):
    rec = tmp_path / "rec"
    _write(rec, _regular(5))
    report = IngestReport()
    frames = list(ingest_frames(rec, IngestConfig(max_frames=2), report))
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [0, 1]
    assert report.skipped == {"beyond max_frames (2)": 3}
    gen = ingest_frames(rec)  # abandoning the iterator closes the recording
    next(gen)
    gen.close()


def test_shared_depth_is_not_aliased(tmp_path):
    rec = tmp_path / "rec"
    # colour at 0 and 10 ms, one depth at 5 ms: both frames take it, each its own array
    log = T0
    with RecordingWriter(rec, write_points=False) as w:
        for i, stamp in enumerate((T0, T0 + 10 * MS)):
            h = make_header(IMAGE, stamp, FRAME_ID)
            w.write_message("/c/color/camera_info", camera_info_from_camera(CAM, INFO, h), stamp_ns=log + i)
            w.write_message("/c/color/image_raw", numpy_to_image(_rgb(i), "rgb8", IMAGE, h), stamp_ns=log + i)
        hd = make_header(IMAGE, T0 + 5 * MS, FRAME_ID)
        w.write_message("/c/aligned_depth_to_color/image_raw",
                        numpy_to_image(np.full((24, 32), 1500, np.uint16), "16UC1", IMAGE, hd), stamp_ns=log + 5)
    a, b = list(ingest_frames(rec))
    assert not np.shares_memory(a.depth, b.depth)
    np.testing.assert_allclose(a.depth, 1.5, atol=1e-6)
    np.testing.assert_allclose(b.depth, 1.5, atol=1e-6)
    a.depth[:] = 0  # one consumer editing its frame does not change the other's
    np.testing.assert_allclose(b.depth, 1.5, atol=1e-6)


def test_report_json_round_trip_format_and_cli(tmp_path, capsys):
    rec = tmp_path / "my_rec"
    _write(rec, _regular(3, jitter=[0, 0, 25 * MS]))
    report = ingest_recording(rec, out_dir=tmp_path / "out")
    path = tmp_path / "out" / "my_rec.json"
    assert path.exists() and read_report(path) == report
    assert write_report(report, tmp_path / "again.json") == tmp_path / "again.json"
    assert read_report(tmp_path / "again.json").to_dict() == report.to_dict()
    text = report.format()
    assert "2 of 3 colour images" in text and "/k4a/depth_to_rgb/image_raw" in text
    assert "no depth within 20 ms" in text and "bgr8" in text
    assert main([str(rec), "--out", str(tmp_path / "cli"), "--slop-ms", "30"]) == 0
    cli = json.loads((tmp_path / "cli" / "my_rec.json").read_text())
    assert cli["frames"] == 3 and cli["skipped"] == {}
    assert "3 of 3 colour images" in capsys.readouterr().out
    assert main([str(tmp_path / "nothing")]) == 2


def test_static_camera_info_with_zero_stamps_keeps_the_buffer_small(tmp_path):
    rec = tmp_path / "rec"
    zero = make_header(IMAGE, 0, FRAME_ID)  # drivers that stamp a static camera_info with 0
    with RecordingWriter(rec, write_points=False) as w:
        for i in range(8):
            log = T0 + i * PERIOD
            h = make_header(IMAGE, log, FRAME_ID)
            w.write_message("/c/color/camera_info", camera_info_from_camera(CAM, INFO, zero), stamp_ns=log)
            w.write_message("/c/color/image_raw", numpy_to_image(_rgb(i), "rgb8", IMAGE, h), stamp_ns=log)
            w.write_message("/c/aligned_depth_to_color/image_raw",
                            numpy_to_image(np.full((24, 32), 1000 + i, np.uint16), "16UC1", IMAGE, h), stamp_ns=log)
    report = IngestReport()
    frames = list(ingest_frames(rec, report=report))
    assert len(frames) == 8 and all(f.camera == CAM for f in frames)
    # the first camera_info serves every frame: each frame is emitted as soon as its colour
    # and depth are read, so at most info + colour + depth wait at once
    assert report.buffered_peak <= 3


def test_compressed_colour_and_compressed_depth_are_read_from_bags(tmp_path):
    import cv2

    from unipose_ros.io.compressed import compress_depth, compress_rgb

    comp = TS.types["sensor_msgs/msg/CompressedImage"]
    ctype = "sensor_msgs/msg/CompressedImage"
    rec = tmp_path / "compressed_rec"
    log = T0
    with RecordingWriter(rec) as w:
        for i in range(3):
            log += PERIOD
            h = make_header(IMAGE, T0 + i * PERIOD, FRAME_ID)
            w.write_message("/camera/color/camera_info", camera_info_from_camera(CAM, INFO, h), stamp_ns=log)
            w.write_message("/camera/color/image_raw/compressed", compress_rgb(_rgb(i), comp, h, codec="png"),
                            ctype, stamp_ns=log)
            w.write_message("/camera/aligned_depth_to_color/image_raw/compressedDepth",
                            compress_depth(_depth_m(i), comp, h), ctype, stamp_ns=log + 1)
            # image_transport's plain "compressed" plugin on the depth topic: a 16-bit PNG, not depth
            png16 = cv2.imencode(".png", np.zeros((24, 32), np.uint16))[1].reshape(-1)
            w.write_message("/camera/aligned_depth_to_color/image_raw/compressed",
                            comp(header=h, format="16UC1; png compressed", data=png16), ctype, stamp_ns=log + 2)
    report = IngestReport()
    frames = list(ingest_frames(rec, report=report))
    assert report.topics == {"color": "/camera/color/image_raw/compressed",
                             "depth": "/camera/aligned_depth_to_color/image_raw/compressedDepth",
                             "camera_info": "/camera/color/camera_info"}
    assert len(frames) == 3
    for i, f in enumerate(frames):
        assert np.array_equal(f.rgb, _rgb(i))  # PNG: lossless
        np.testing.assert_allclose(f.depth, _depth_m(i), rtol=0, atol=1e-6)  # whole millimetres


def test_raw_images_win_over_their_compressed_twins():
    topics = dict(REALSENSE)
    topics["/camera/aligned_depth_to_color/image_raw/compressedDepth"] = ("sensor_msgs/msg/CompressedImage", 10)
    enc = {"/camera/color/image_raw/compressed": "rgb8",
           "/camera/aligned_depth_to_color/image_raw/compressedDepth": "16UC1"}
    got = detect_topics(topics, IngestConfig(), enc)
    assert got["color"] == "/camera/color/image_raw" and got["depth"] == "/camera/aligned_depth_to_color/image_raw"
