"""Readers that turn public 3D pose datasets into (RGBDFrame, ground-truth people) pairs.

The pairs feed :func:`unipose_training.evaluation.evaluate.evaluate_estimators` (its ``pairs`` argument) and
:func:`unipose_training.weak.report.evaluate_methods`, so that any estimator is scored on public
data exactly as on our own recordings. Every 3D quantity comes out in metres in the camera optical
frame (x right, y down, z forward) in the ITOP-15 joint order.

Supported:

* **ITOP** (Haque et al., ECCV 2016; Stanford), the HDF5 release: ``ITOP_<view>_<split>_depth_map.h5``
  (``data`` (N, 240, 320) float16 metres, ``id`` (N,) strings ``"PP_FFFFF"`` = person, frame) and
  ``ITOP_<view>_<split>_labels.h5`` (``id``, ``is_valid`` (N,), ``real_world_coordinates``
  (N, 15, 3) metres with ITOP's axes X right, Y up, Z forward, ``image_coordinates`` (N, 15, 2)
  pixels). ITOP's joint order is ours (ITOP-15). Its camera has fx = fy = 1 / 0.0035 = 285.714,
  cx = 160, cy = 120, and ``u = 160 + X / (0.0035 Z)``, ``v = 120 - Y / (0.0035 Z)``: the optical
  frame is therefore (X, -Y, Z). Depth only (no colour); 0 depth = no reading (NaN here).
* **CMU Panoptic** 3D skeletons (``body3DScene_<frame>.json``: ``{"bodies": [{"id", "joints19":
  [x, y, z, c] * 19}]}``, centimetres in the dome's world frame) seen from one calibrated camera
  of ``calibration_<sequence>.json`` (``cameras``: ``name``, ``resolution`` [w, h], ``K``,
  ``distCoef`` (k1, k2, p1, p2, k3), ``R``, ``t`` (cm), with ``x_cam = R X + t``). The joints are
  transformed into that camera's optical frame in metres. Images: the camera's extracted frames
  (``hdImgs/00_05/00_05_00000123.jpg``, ``kinectImgs/50_01/50_01_00000123.jpg``, ...), undistorted
  with ``distCoef`` so that the pinhole intrinsics ``K`` hold. Depth: only per-frame arrays that
  are already metric, undistorted and registered to the chosen camera (``<frame>.npy`` or a
  MATLAB ``.mat`` with key ``depth``). The raw Kinect streams (``kinect_shared_depth/*/depthdata.dat``
  with ``kcalibration_*.json`` and the sync tables) are NOT decoded here: register them to the
  camera first (panoptic-toolbox ``matlab/kinoptic-tools``) and save per-frame arrays.
  The Panoptic joints19 -> ITOP-15 table below (:data:`PANOPTIC19_TO_ITOP15_RECIPE`) lives in this
  module as data, following the same definitions as the maps in :mod:`unipose_ros.core.joints`
  (head = mid-ears, neck = mid-shoulders, torso = mean of shoulders and hips).

Both datasets are for non-commercial research use under their own terms; nothing here downloads
them. ``h5py`` is needed for ITOP only (imported when used).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import InputError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import ITOP15, JointMap, itop_recipe
from unipose_ros.core.pose import Modality, PersonPose

log = logging.getLogger(__name__)

#: ITOP's depth camera (both views): fx = fy = 1 / 0.0035 px, principal point (160, 120), 320x240.
ITOP_CAMERA = PinholeCamera(fx=1 / 0.0035, fy=1 / 0.0035, cx=160.0, cy=120.0, width=320, height=240)
#: ITOP has no time stamps; frames are stamped ``frame number / ITOP_NOMINAL_FPS`` seconds.
ITOP_NOMINAL_FPS = 30.0
#: Maps ITOP's axes (X right, Y up, Z forward) to the optical frame (x right, y down, z forward).
ITOP_TO_OPTICAL = np.diag([1.0, -1.0, 1.0])

#: CMU Panoptic's ``joints19`` order (panoptic-toolbox README, "Skeleton Output Format").
PANOPTIC19_NAMES: tuple[str, ...] = (
    "neck", "nose", "body_center", "left_shoulder", "left_elbow", "left_wrist", "left_hip",
    "left_knee", "left_ankle", "right_shoulder", "right_elbow", "right_wrist", "right_hip",
    "right_knee", "right_ankle", "left_eye", "left_ear", "right_eye", "right_ear",
)

#: ITOP-15 joint -> {Panoptic joint: weight}: each ITOP joint is the weighted mean of these.
#: Panoptic's own "neck" sits above the shoulder line and "body_center" is the mid-hip; ITOP
#: defines neck as mid-shoulders and torso as the midpoint of neck and mid-hip, so those come
#: from the shoulders and hips like in ``unipose_ros.core.joints``.
PANOPTIC19_TO_ITOP15_RECIPE: dict[str, dict[str, float]] = itop_recipe("wrist", "ankle")


def _recipe_map(source_names: tuple[str, ...], recipe: dict[str, dict[str, float]]) -> JointMap:
    src = {n: i for i, n in enumerate(source_names)}
    weights = np.zeros((len(ITOP15), len(source_names)))
    for target, parts in recipe.items():
        total = sum(parts.values())
        for name, w in parts.items():
            weights[ITOP15.index(target), src[name]] = w / total
    return JointMap(source_names=source_names, target=ITOP15, weights=weights)


#: The Panoptic joints19 -> ITOP-15 map built from :data:`PANOPTIC19_TO_ITOP15_RECIPE`.
PANOPTIC19_TO_ITOP15: JointMap = _recipe_map(PANOPTIC19_NAMES, PANOPTIC19_TO_ITOP15_RECIPE)


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading ITOP needs h5py: pip install h5py") from None
    return h5py


def _ground_truth_pose(track_id: int, joints: np.ndarray, confidence: np.ndarray) -> PersonPose:
    return PersonPose(track_id=track_id, joint_set=ITOP15, joints=joints, confidence=confidence,
                      modality=Modality.GROUND_TRUTH, score=1.0)


def _decode_id(raw: object) -> str:
    return raw.decode() if isinstance(raw, (bytes, np.bytes_)) else str(raw)


def itop_to_optical(real_world: np.ndarray) -> np.ndarray:
    """ITOP ``real_world_coordinates`` (..., 3) metres (X right, Y up, Z forward) -> the optical
    frame (..., 3) metres (x right, y down, z forward): y = -Y."""
    return np.asarray(real_world, dtype=np.float64) @ ITOP_TO_OPTICAL.T


def iter_itop(depth_h5: str | Path, labels_h5: str | Path, max_frames: int | None = None,
              only_valid: bool = True, check_projection: bool = True
              ) -> Iterator[tuple[RGBDFrame, list[PersonPose]]]:
    """Frames of an ITOP split with their ground truth (one person per frame).

    Args:
        depth_h5: ``ITOP_<view>_<split>_depth_map.h5``.
        labels_h5: the matching ``ITOP_<view>_<split>_labels.h5``.
        max_frames: stop after this many yielded frames.
        only_valid: skip frames whose ``is_valid`` is 0 (ITOP's unreliable labels; the published
            ITOP results use the valid frames only).
        check_projection: on the first valid frame, project the converted joints with
            :data:`ITOP_CAMERA` and warn when they miss ``image_coordinates`` by more than 3 px
            (a file whose axes differ from the documented convention).
    Yields:
        (frame, [pose]): frame.depth (240, 320) float32 metres (NaN = no reading), no colour,
        frame.camera :data:`ITOP_CAMERA`, frame.frame_id ``"itop"``, stamp = frame number / 30 s;
        pose.joints (15, 3) metres in the optical frame, confidence 1, track id = ITOP person id.
    Raises:
        InputError: missing files or datasets, or depth and label files that do not match.
    """
    h5py = _h5py()
    for p in (depth_h5, labels_h5):
        if not Path(p).is_file():
            raise InputError(f"ITOP file {p} not found (expected ITOP_<view>_<split>_depth_map.h5 and "
                             "ITOP_<view>_<split>_labels.h5)")
    with h5py.File(depth_h5, "r") as fd, h5py.File(labels_h5, "r") as fl:
        for f, keys in ((fd, ("data", "id")), (fl, ("id", "is_valid", "real_world_coordinates"))):
            missing = [k for k in keys if k not in f]
            if missing:
                raise InputError(f"{f.filename} lacks dataset(s) {missing} (has {sorted(f.keys())}): "
                                 "not an ITOP depth_map/labels file")
        depth_ids = [_decode_id(i) for i in fd["id"][:]]
        label_ids = [_decode_id(i) for i in fl["id"][:]]
        if depth_ids != label_ids:
            label_row = {k: i for i, k in enumerate(label_ids)}
            common = sum(1 for k in depth_ids if k in label_row)
            if common == 0:
                raise InputError(f"{depth_h5} and {labels_h5} share no frame id: pass the same view "
                                 "and split for both")
            log.warning("ITOP: depth and label ids differ in order or content; matching %d frames by id",
                        common)
        else:
            label_row = {k: i for i, k in enumerate(label_ids)}
        valid = np.asarray(fl["is_valid"][:]).astype(bool)
        world = fl["real_world_coordinates"]
        image_uv = fl["image_coordinates"] if "image_coordinates" in fl else None
        yielded, checked, skipped_invalid = 0, not check_projection, 0
        for row, fid in enumerate(depth_ids):
            if max_frames is not None and yielded >= max_frames:
                break
            lrow = label_row.get(fid)
            if lrow is None:
                continue
            if only_valid and not valid[lrow]:
                skipped_invalid += 1
                continue
            joints = itop_to_optical(world[lrow]).astype(np.float32)
            if not checked and image_uv is not None:
                _check_itop_projection(joints, np.asarray(image_uv[lrow], dtype=np.float64), fid)
                checked = True
            depth = np.asarray(fd["data"][row], dtype=np.float32)
            depth[~(depth > 0)] = np.nan
            person, frame_no = _split_itop_id(fid, row)
            frame = RGBDFrame(stamp_ns=int(round(frame_no * 1e9 / ITOP_NOMINAL_FPS)), frame_id="itop",
                              camera=ITOP_CAMERA, depth=depth).validate()
            yield frame, [_ground_truth_pose(person, joints, np.ones(len(ITOP15), np.float32))]
            yielded += 1
        if skipped_invalid:
            log.info("ITOP: skipped %d frames with is_valid = 0", skipped_invalid)


def _split_itop_id(fid: str, row: int) -> tuple[int, int]:
    """``"PP_FFFFF"`` -> (person PP, frame FFFFF); (0, row) when the id has another form."""
    m = re.fullmatch(r"(\d+)_(\d+)", fid.strip())
    return (int(m.group(1)), int(m.group(2))) if m else (0, row)


def _check_itop_projection(joints: np.ndarray, image_uv: np.ndarray, fid: str) -> None:
    uv = ITOP_CAMERA.project(joints)
    err = np.linalg.norm(uv - image_uv, axis=-1)
    if np.isfinite(err).any() and float(np.nanmedian(err)) > 3.0:
        log.warning("ITOP frame %s: converted joints project %.1f px (median) from image_coordinates; "
                    "the file may not follow ITOP's axis convention (X right, Y up, Z forward)",
                    fid, float(np.nanmedian(err)))


@dataclass(frozen=True)
class PanopticCamera:
    """One camera of a Panoptic ``calibration_<sequence>.json``.

    Attributes:
        name: e.g. ``"00_05"`` (HD), ``"50_01"`` (Kinect colour).
        camera: pinhole intrinsics from ``K`` and ``resolution``.
        R: (3, 3) world -> camera rotation.
        t: (3,) translation in metres (the file's centimetres / 100).
        dist: (5,) k1, k2, p1, p2, k3 (OpenCV order).
    """

    name: str
    camera: PinholeCamera
    R: np.ndarray
    t: np.ndarray
    dist: np.ndarray

    def world_to_camera(self, points_cm: np.ndarray) -> np.ndarray:
        """World points (..., 3) in centimetres -> (..., 3) metres in this camera's optical frame."""
        x = np.asarray(points_cm, dtype=np.float64) / 100.0
        return x @ self.R.T + self.t


def load_panoptic_camera(calibration_json: str | Path, name: str) -> PanopticCamera:
    """The camera called ``name`` from a Panoptic calibration file (InputError lists the names)."""
    try:
        calib = json.loads(Path(calibration_json).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read the Panoptic calibration {calibration_json}: {e}") from None
    cams = {c.get("name"): c for c in calib.get("cameras", [])}
    if name not in cams:
        raise InputError(f"{calibration_json} has no camera {name!r}; cameras: {sorted(map(str, cams))}")
    c = cams[name]
    K = np.asarray(c["K"], dtype=np.float64).reshape(3, 3)
    w, h = (int(v) for v in c["resolution"])
    return PanopticCamera(name=name,
                          camera=PinholeCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], width=w, height=h),
                          R=np.asarray(c["R"], dtype=np.float64).reshape(3, 3),
                          t=np.asarray(c["t"], dtype=np.float64).reshape(3) / 100.0,
                          dist=np.asarray(c.get("distCoef", [0.0] * 5), dtype=np.float64).reshape(-1))


def panoptic_bodies_to_poses(bodies: list[dict], cam: PanopticCamera, min_joint_confidence: float = 0.1
                             ) -> list[PersonPose]:
    """Panoptic ``bodies`` of one frame -> ITOP-15 poses in ``cam``'s optical frame (metres).

    A joint whose Panoptic sources have confidence below ``min_joint_confidence`` (the toolbox's
    0.1) is NaN; a body whose torso is NaN, or that is behind the camera, is left out. The pose
    confidence is the mapped confidence (minimum over the sources), clipped to [0, 1].
    """
    poses = []
    for body in bodies:
        j19 = np.asarray(body["joints19"], dtype=np.float64).reshape(-1, 4)
        if j19.shape[0] != len(PANOPTIC19_NAMES):
            raise InputError(f"Panoptic body {body.get('id')}: joints19 has {j19.shape[0]} joints, "
                             f"expected {len(PANOPTIC19_NAMES)}")
        xyz = cam.world_to_camera(j19[:, :3])
        joints = PANOPTIC19_TO_ITOP15.apply(xyz)
        conf = PANOPTIC19_TO_ITOP15.apply_confidence(j19[:, 3])
        joints[conf < min_joint_confidence] = np.nan
        root = joints[ITOP15.root]
        if not np.isfinite(root).all() or root[2] <= 0:
            continue
        poses.append(_ground_truth_pose(int(body.get("id", len(poses))), joints.astype(np.float32),
                                        np.clip(conf, 0.0, 1.0)))
    return poses


_FRAME_RE = re.compile(r"body3DScene_(\d+)\.json$")


def _find_frame_file(folder: Path, frame_no: int, exts: tuple[str, ...]) -> Path | None:
    for ext in exts:
        for pattern in (f"*_{frame_no:08d}{ext}", f"{frame_no:08d}{ext}"):
            hits = sorted(folder.glob(pattern))
            if hits:
                return hits[0]
    return None


def _load_depth(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        depth = np.load(path)
    else:
        from scipy.io import loadmat

        mat = loadmat(path)
        if "depth" not in mat:
            raise InputError(f"{path}: no 'depth' array (keys {sorted(k for k in mat if not k.startswith('__'))})")
        depth = mat["depth"]
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise InputError(f"{path}: depth must be (H, W) metres, got shape {depth.shape}")
    depth = depth.copy()
    depth[~(depth > 0)] = np.nan
    return depth


def iter_panoptic(skeleton_dir: str | Path, calibration_json: str | Path, camera: str,
                  image_dir: str | Path | None = None, depth_dir: str | Path | None = None,
                  max_frames: int | None = None, min_joint_confidence: float = 0.1,
                  undistort: bool = True, fps: float = 29.97
                  ) -> Iterator[tuple[RGBDFrame, list[PersonPose]]]:
    """Frames of a CMU Panoptic sequence seen from one camera, with their ground truth.

    Args:
        skeleton_dir: folder of ``body3DScene_<frame>.json`` (e.g. ``hdPose3d_stage1_coco19``).
        calibration_json: the sequence's ``calibration_<sequence>.json``.
        camera: camera name in the calibration (``"00_05"``, ``"50_01"``, ...).
        image_dir: the camera's extracted images, named ``<anything>_<frame:08d>.jpg|.png``
            (e.g. ``hdImgs/00_05``); None for no colour.
        depth_dir: per-frame depth registered to ``camera`` in metres, undistorted, named
            ``[<anything>_]<frame:08d>.npy`` or ``.mat`` (key ``depth``); None for no depth.
        max_frames: stop after this many yielded frames.
        min_joint_confidence: Panoptic joints below this confidence give NaN joints.
        undistort: undistort colour images with the camera's ``distCoef`` (then the pinhole ``K``
            holds exactly; our estimators assume rectified images).
        fps: used for the stamps when a skeleton file has no ``univTime`` (HD: 29.97).
    Yields:
        (frame, poses): frame.rgb (H, W, 3) uint8 and/or frame.depth (H, W) float32 metres,
        frame.camera from ``K`` and ``resolution``, frame_id = the camera name, stamp from
        ``univTime`` (ms) or frame / fps; poses in ITOP-15, metres, optical frame of ``camera``,
        track id = Panoptic body id. Frames whose image or depth file is missing are skipped
        (counted and logged at the end).
    Raises:
        InputError: no colour and no depth source, no skeleton files, unknown camera, images of
            another size than the calibration says.
    """
    if image_dir is None and depth_dir is None:
        raise InputError("iter_panoptic needs image_dir (the camera's extracted frames) and/or depth_dir "
                         "(depth registered to the camera): estimators need an image")
    skeleton_dir = Path(skeleton_dir)
    files = sorted((int(m.group(1)), p) for p in skeleton_dir.glob("body3DScene_*.json")
                   if (m := _FRAME_RE.search(p.name)))
    if not files:
        raise InputError(f"no body3DScene_<frame>.json under {skeleton_dir} (extract hdPose3d_stage1_coco19.tar)")
    cam = load_panoptic_camera(calibration_json, camera)
    distorted = bool(np.any(cam.dist != 0))
    if distorted and (image_dir is None or not undistort):
        log.warning("Panoptic camera %s has lens distortion %s; images are used as given, so the pinhole "
                    "projection of the ground truth is off by the distortion", camera, cam.dist.tolist())
    import cv2

    missing = 0
    yielded = 0
    for frame_no, path in files:
        if max_frames is not None and yielded >= max_frames:
            break
        rgb = depth = None
        if image_dir is not None:
            img_path = _find_frame_file(Path(image_dir), frame_no, (".jpg", ".png", ".jpeg"))
            if img_path is None:
                missing += 1
                continue
            bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise InputError(f"cannot decode image {img_path}")
            if (bgr.shape[1], bgr.shape[0]) != (cam.camera.width, cam.camera.height):
                raise InputError(f"{img_path} is {bgr.shape[1]}x{bgr.shape[0]} but camera {camera} is "
                                 f"{cam.camera.width}x{cam.camera.height}: pass the images of camera {camera}")
            if distorted and undistort:
                bgr = cv2.undistort(bgr, cam.camera.K, cam.dist)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if depth_dir is not None:
            d_path = _find_frame_file(Path(depth_dir), frame_no, (".npy", ".mat"))
            if d_path is None:
                missing += 1
                continue
            depth = _load_depth(d_path)
        try:
            scene = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"{path} is not valid JSON: {e}") from None
        stamp = int(round(float(scene["univTime"]) * 1e6)) if "univTime" in scene else \
            int(round(frame_no * 1e9 / fps))
        frame = RGBDFrame(stamp_ns=stamp, frame_id=camera, camera=cam.camera, rgb=rgb, depth=depth).validate()
        yield frame, panoptic_bodies_to_poses(scene.get("bodies", []), cam, min_joint_confidence)
        yielded += 1
    if missing:
        log.warning("Panoptic: skipped %d frames without an image or depth file", missing)
