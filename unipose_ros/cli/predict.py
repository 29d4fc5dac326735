"""3D skeletons of the people in one depth image (and optionally its colour image), from files.

Example::

    unipose-predict --depth frame.png --intrinsics 285.714,285.714,160,120 --json
    unipose-predict --depth depth.npy --depth-scale 0.001 --rgb colour.jpg \\
        --intrinsics 615.0,615.0,320.0,240.0 --estimator fused

Inputs:
    --depth: ``.npy`` (a 2D array) or ``.png`` (16-bit, read unchanged). ``--depth-scale`` converts
        the stored values to metres (default 0.001 for integer arrays, i.e. millimetres, and 1.0
        for float arrays). 0, negative and non-finite values are invalid.
    --rgb: ``.png`` / ``.jpg`` (read with OpenCV, converted to RGB) or ``.npy`` ((H, W, 3) uint8
        RGB), registered to the depth image (same size and intrinsics).
    --intrinsics: FX,FY,CX,CY in pixels of the depth image.

The people are found in the depth image (no box needed); the nearest ``max_people`` are kept.
Output (``--json``)::

    {"people": [{"id": 0, "joints": {"Head": [x, y, z], ...}, "confidence": {"Head": c, ...}}]}

metres in the camera optical frame (x right, y down, z forward), ITOP-15 joints, ``id`` 0 the
nearest person; a joint without an estimate is ``null``. Without ``--json`` a table is printed.
No person found: an empty list (exit 0) and a note on stderr. Bad input: a message on stderr and
exit status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.errors import EmptyInputError, InputError, SizeMismatchError
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import ITOP15, JointSet
from unipose_ros.core.pose import PersonPose

PROG = "unipose-predict"
FRAME_ID = "camera_optical_frame"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_MAT_HINT = ("MATLAB .mat files are not supported (out of scope): save the depth array as .npy first, e.g. "
             "python -c \"import numpy, scipy.io; numpy.save('depth.npy', scipy.io.loadmat('FILE.mat')['depth'])\" "
             "(then pass --depth-scale if it is not in millimetres / metres)")


def display_name(joint: str) -> str:
    """Display name of a joint: ``right_shoulder`` -> ``RShoulder``, ``head`` -> ``Head``."""
    parts = joint.split("_")
    side = {"right": "R", "left": "L"}.get(parts[0])
    rest = parts[1:] if side else parts
    return (side or "") + "".join(p.capitalize() for p in rest)


def display_names(joints: JointSet = ITOP15) -> list[str]:
    """Display names of a joint set's joints, in its order (ITOP-15: Head, Neck, RShoulder, ...)."""
    return [display_name(j) for j in joints.joints]


def parse_intrinsics(text: str) -> tuple[float, float, float, float]:
    """``"FX,FY,CX,CY"`` -> four floats (pixels); ArgumentTypeError with an example otherwise."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(
            f"intrinsics must be FX,FY,CX,CY: four numbers in pixels separated by commas, no spaces "
            f"needed (e.g. 285.714,285.714,160,120); got {text!r}")
    if values[0] <= 0 or values[1] <= 0:
        raise argparse.ArgumentTypeError(f"intrinsics: FX and FY must be > 0, got {text!r}")
    return values  # type: ignore[return-value]


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} file {path} does not exist")
    if not path.is_file():
        raise InputError(f"{what} path {path} is not a file")
    if path.suffix.lower() == ".mat":
        raise InputError(f"{what} file {path}: {_MAT_HINT}")


def _imread(path: Path, flags: int) -> np.ndarray:
    import cv2  # noqa: PLC0415

    # cv2.imread does not take non-ASCII paths on every platform: decode from bytes instead.
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), flags)
    if image is None:
        raise InputError(f"{path} could not be decoded as an image (corrupt or not a {path.suffix} file)")
    return image


def load_depth(path: str | Path, scale: float | None = None) -> np.ndarray:
    """Read a depth image file as (H, W) float32 metres, NaN where invalid.

    Args:
        path: ``.npy`` (2D numeric array) or ``.png`` (16-bit single channel; read unchanged).
        scale: metres per stored unit; None = 0.001 for integer data, 1.0 for float data.
    Raises:
        InputError: missing or unreadable file, unsupported format, not a single-channel image.
    """
    path = Path(path)
    _check_file(path, "depth")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            raw = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"depth file {path} is not a readable .npy array: {e}") from None
    elif suffix == ".png":
        import cv2  # noqa: PLC0415

        raw = _imread(path, cv2.IMREAD_UNCHANGED)
        if raw.dtype == np.uint8 and scale is None:
            raise InputError(f"depth PNG {path} is 8-bit: a depth image is a 16-bit PNG (millimetres); for "
                             "another encoding give --depth-scale (metres per stored unit)")
    else:
        raise InputError(f"depth file {path}: unsupported format {path.suffix!r}; use .npy or a 16-bit .png")
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    if raw.ndim != 2 or raw.size == 0:
        raise InputError(f"depth file {path} holds an array of shape {raw.shape}: a depth image is one "
                         "channel, (H, W)")
    if raw.dtype.kind not in "uif":
        raise InputError(f"depth file {path} holds {raw.dtype} values: expected integers or floats")
    if scale is None:
        scale = 1.0 if raw.dtype.kind == "f" else 0.001
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"--depth-scale must be > 0 (metres per stored unit), got {scale}")
    depth = raw.astype(np.float64) * scale
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth.astype(np.float32)


def load_rgb(path: str | Path) -> np.ndarray:
    """Read a colour image file as (H, W, 3) uint8 RGB.

    Args:
        path: ``.png`` / ``.jpg`` / ``.jpeg`` (OpenCV, BGR converted to RGB) or ``.npy``
            ((H, W, 3) uint8, already RGB).
    Raises:
        InputError: missing or unreadable file, unsupported format or array.
    """
    path = Path(path)
    _check_file(path, "colour")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            rgb = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"colour file {path} is not a readable .npy array: {e}") from None
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"colour file {path} holds {rgb.shape} {rgb.dtype}: expected (H, W, 3) uint8 RGB")
        return np.ascontiguousarray(rgb)
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"colour file {path}: unsupported format {path.suffix!r}; use .png, .jpg or .npy")
    import cv2  # noqa: PLC0415

    bgr = _imread(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def make_frame(depth: np.ndarray, intrinsics: tuple[float, float, float, float],
               rgb: np.ndarray | None = None) -> RGBDFrame:
    """An :class:`RGBDFrame` of depth (H, W) metres (+ colour registered to it).

    Raises:
        SizeMismatchError: colour and depth sizes differ.
        EmptyInputError: no valid depth pixel.
    """
    h, w = depth.shape
    if rgb is not None and rgb.shape[:2] != (h, w):
        raise SizeMismatchError(f"colour image is {rgb.shape[1]}x{rgb.shape[0]} but depth is {w}x{h}: the depth "
                                "must be registered to the colour image (same size and intrinsics)")
    fx, fy, cx, cy = intrinsics
    frame = RGBDFrame(stamp_ns=0, frame_id=FRAME_ID, camera=PinholeCamera(fx, fy, cx, cy, w, h),
                      rgb=rgb, depth=depth).validate()
    if not frame.has_valid_depth():
        raise EmptyInputError("the depth image has no valid pixel (all 0, negative or NaN): check the file "
                              "and --depth-scale")
    return frame


def _round(v: float, digits: int) -> float | None:
    return round(float(v), digits) if math.isfinite(v) else None


def poses_to_json(poses: Sequence[PersonPose]) -> dict:
    """``{"people": [{"id", "joints": {NAME: [x, y, z]}, "confidence": {NAME: c}}]}``: metres
    (0.1 mm resolution) in the optical frame, display joint names; NaN -> None (JSON null)."""
    people = []
    for i, pose in enumerate(poses):
        names = display_names(pose.joint_set)
        joints = {}
        for name, xyz in zip(names, pose.joints):
            joints[name] = [_round(v, 4) for v in xyz] if np.isfinite(xyz).all() else None
        confidence = {n: _round(c, 3) for n, c in zip(names, pose.confidence)}
        people.append({"id": i, "joints": joints, "confidence": confidence})
    return {"people": people}


def format_table(poses: Sequence[PersonPose]) -> str:
    """A readable table of the poses (metres, optical frame)."""
    if not poses:
        return "0 people"
    lines = [f"{len(poses)} {'person' if len(poses) == 1 else 'people'} (metres, camera optical frame: "
             "x right, y down, z forward)"]
    for i, pose in enumerate(poses):
        lines += ["", f"person {i}  score {pose.score:.2f}  modality {pose.modality.name.lower()}",
                  f"  {'joint':<10} {'x':>8} {'y':>8} {'z':>8} {'conf':>6}"]
        for name, xyz, c in zip(display_names(pose.joint_set), pose.joints, pose.confidence):
            coords = " ".join(f"{v:8.3f}" if np.isfinite(v) else f"{'-':>8}" for v in xyz)
            lines.append(f"  {name:<10} {coords} {c:6.2f}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from unipose_ros.estimators.registry import ESTIMATORS, PRECISIONS  # noqa: PLC0415

    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Exit status: 0 success (also when nobody is found), 2 bad input or setup.")
    ap.add_argument("--depth", required=True, type=Path, metavar="FILE", help="depth image: .npy or 16-bit .png")
    ap.add_argument("--depth-scale", type=float, metavar="S",
                    help="metres per stored depth unit (default 0.001 for integer data, 1.0 for float data)")
    ap.add_argument("--rgb", type=Path, metavar="FILE",
                    help="colour image registered to the depth: .png, .jpg or .npy (H, W, 3) uint8 RGB")
    ap.add_argument("--intrinsics", required=True, type=parse_intrinsics, metavar="FX,FY,CX,CY",
                    help="pinhole intrinsics of the depth image in pixels, e.g. 285.714,285.714,160,120")
    ap.add_argument("--estimator", choices=ESTIMATORS, default="depth",
                    help="depth (default), rgb, pointcloud (need depth; rgb also --rgb), fused (depth, point "
                         "cloud and, with --rgb, colour combined) or baseline (2D keypoints + depth; needs --rgb)")
    ap.add_argument("--checkpoint", type=Path, metavar="FILE",
                    help="checkpoint of the depth / rgb / pointcloud estimator (default: the bundled one)")
    ap.add_argument("--config", type=Path, metavar="YAML", help="estimator settings (e.g. config/learned.yaml)")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda or cuda:N")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="inference precision of learned estimators (default fp32)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return ap


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``unipose-predict`` (see the module docstring). Returns the exit status."""
    args = build_parser().parse_args(argv)
    needs_rgb = args.estimator in ("rgb", "baseline", "teacher_pointcloud")
    if needs_rgb and args.rgb is None:
        return _fail(f"the {args.estimator} estimator needs a colour image: give --rgb FILE (registered to the "
                     "depth image), or use --estimator depth / pointcloud / fused for depth only")
    try:
        depth = load_depth(args.depth, args.depth_scale)
        rgb = load_rgb(args.rgb) if args.rgb is not None else None
        frame = make_frame(depth, args.intrinsics, rgb)
    except InputError as e:
        return _fail(str(e))

    from unipose_ros.estimators.registry import build_estimator  # noqa: PLC0415 (torch)

    try:
        estimator = build_estimator(args.estimator, device=args.device, precision=args.precision,
                                    checkpoint=args.checkpoint, config=args.config)
    except (ValueError, OSError, RuntimeError, ImportError) as e:  # CheckpointError is a ValueError
        return _fail(str(e))
    try:
        poses = estimator.estimate(frame)
    except InputError as e:
        return _fail(str(e))
    finally:
        estimator.close()
    if not poses:
        print(f"{PROG}: note: no person found in {args.depth} (nothing person-sized stands out from the "
              "floor and walls in the depth image)", file=sys.stderr)
    if args.json:
        print(json.dumps(poses_to_json(poses)))
    else:
        print(format_table(poses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
