#!/usr/bin/env python3
"""Skeletons on real depth frames (ITOP side view, CMU Panoptic Kinect v2): pictures and checks.

No labels exist for these frames, so the checks are plausibility checks, printed per estimator:
- upright: head above the hips above the feet (image y grows downwards; the cameras are upright);
- on or inside the body: a joint's depth is not in front of the depth surface at its pixel (by more
  than 5 cm) and not more than 35 cm behind it (the far side of a torso is ~30 cm deep).

    python scripts/real_depth_pictures.py [--data ../shared/data/real_depth_unlabelled] [--out docs/images]

Writes ``real_depth.png`` (one row per frame: depth with skeletons, and a side view of the person's
points with the skeleton) and ``real_depth.json`` (the checks); ``real_depth_learned.*`` with
``--detector learned``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "real_depth_unlabelled"

# name -> (file, (fx, fy, cx, cy)) as documented with the data
FRAMES = {
    "ITOP side 53": ("ITOP_train_000000000053.npy", (285.714, 285.714, 160.0, 120.0)),
    "ITOP side 9814": ("ITOP_train_000000009814.npy", (285.714, 285.714, 160.0, 120.0)),
    "Panoptic Kinect v2": ("depth_02_000000005014.mat", (364.85, 364.85, 249.18, 202.52)),
}
COLOURS = {"depth": (0, 200, 255), "pointcloud": (255, 120, 0), "fused": (60, 220, 60)}


def load_depth_m(path: Path) -> np.ndarray:
    """(H, W) float32 metres, NaN invalid, from an ITOP .npy (uint16 mm) or a Panoptic .mat (metres)."""
    if path.suffix == ".mat":
        from scipy.io import loadmat

        d = np.asarray(loadmat(str(path))["depth"], dtype=np.float32)
    else:
        raw = np.load(path)
        d = raw.astype(np.float32) * (0.001 if np.issubdtype(raw.dtype, np.integer) else 1.0)
    return np.where(d > 0, d, np.nan).astype(np.float32)


def plausibility(pose, depth: np.ndarray, camera) -> dict:
    """Upright and on-or-inside-the-body checks of one skeleton (see the module docstring)."""
    js = pose.joint_set
    j = pose.joints
    y = {n: j[js.index(n), 1] for n in js.joints}
    head = y["head"]
    hips = (y["right_hip"] + y["left_hip"]) / 2
    feet = (y["right_foot"] + y["left_foot"]) / 2
    uv = np.round(camera.project(j)).astype(int)
    inside = []
    for (u, v), z in zip(uv, j[:, 2]):
        if not (0 <= u < depth.shape[1] and 0 <= v < depth.shape[0]):
            inside.append(False)
            continue
        win = depth[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2]
        surf = np.nanmin(win) if np.isfinite(win).any() else np.nan
        inside.append(bool(np.isfinite(surf) and surf - 0.05 <= z <= surf + 0.35))
    return {"upright": bool(head < hips < feet), "on_or_inside": float(np.mean(inside)),
            "height_m": float(np.nanmax(j[:, 1]) - np.nanmin(j[:, 1]))}


def draw(depth: np.ndarray, camera, poses_by_est: dict, title: str) -> np.ndarray:
    import cv2

    from unipose_ros.core.joints import ITOP15

    valid = np.isfinite(depth)
    lo, hi = (np.percentile(depth[valid], [2, 98]) if valid.any() else (0.5, 5.0))
    norm = np.clip((np.nan_to_num(depth, nan=hi) - lo) / max(hi - lo, 1e-3), 0, 1)
    img = cv2.applyColorMap((255 * (1 - norm)).astype(np.uint8), cv2.COLORMAP_BONE)
    img[~valid] = 0
    scale = 480 / img.shape[0]
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    side = np.full((480, 360, 3), 30, np.uint8)  # side view: z (right) vs y (down)
    pts = camera.depth_to_points(depth)
    for name, poses in poses_by_est.items():
        col = COLOURS.get(name, (255, 255, 255))
        for p in poses:
            uv = camera.project(p.joints) * scale
            for a, b in ITOP15.bones:
                if np.isfinite(uv[[a, b]]).all():
                    cv2.line(img, tuple(int(v) for v in uv[a]), tuple(int(v) for v in uv[b]), col, 2, cv2.LINE_AA)
            for q in uv[np.isfinite(uv).all(1)]:
                cv2.circle(img, (int(q[0]), int(q[1])), 3, col, -1, cv2.LINE_AA)
    first = next((ps[0] for ps in poses_by_est.values() if ps), None)
    if first is not None:
        c = np.nanmean(first.joints, axis=0)
        near = pts[np.linalg.norm(pts - c, axis=1) < 1.3]
        s = 180.0  # px per metre

        def to_side(xyz):
            return np.stack([180 + (xyz[..., 2] - c[2]) * s, 240 + (xyz[..., 1] - c[1]) * s], -1)

        for q in to_side(near[::3]).astype(int):
            if 0 <= q[0] < 360 and 0 <= q[1] < 480:
                side[q[1], q[0]] = (150, 150, 150)
        for name, poses in poses_by_est.items():
            col = COLOURS.get(name, (255, 255, 255))
            for p in poses[:1]:
                sv = to_side(p.joints)
                for a, b in ITOP15.bones:
                    if np.isfinite(sv[[a, b]]).all():
                        cv2.line(side, tuple(int(v) for v in sv[a]), tuple(int(v) for v in sv[b]), col, 2, cv2.LINE_AA)
        cv2.putText(side, "side view (camera left)", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (220, 220, 220), 1)
    cv2.putText(img, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    y = 44
    for name in poses_by_est:
        cv2.putText(img, name, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, COLOURS.get(name, (255, 255, 255)), 2)
        y += 20
    return np.concatenate([img, side], axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--estimators", nargs="+", default=["depth", "pointcloud", "fused"])
    ap.add_argument("--detector", choices=("learned", "geometric"), default=None,
                    help="how the learned estimators find people (default: their config's)")
    args = ap.parse_args()
    if not args.data.exists():
        print(f"{args.data} not found: the real depth frames are not available here", file=sys.stderr)
        return 1
    import cv2

    from unipose_ros.core.camera import PinholeCamera
    from unipose_ros.core.frame import RGBDFrame
    from unipose_ros.estimators.registry import build_estimator

    def config(name: str):
        if args.detector is None:
            return None
        from unipose_ros.estimators.fused import FusedConfig
        from unipose_ros.estimators.learned import LearnedConfig

        learned = LearnedConfig(detector=args.detector)
        return FusedConfig(learned=learned) if name == "fused" else learned

    estimators = {n: build_estimator(n, config=config(n)) for n in args.estimators}
    rows, report = [], {}
    for title, (fname, (fx, fy, cx, cy)) in FRAMES.items():
        depth = load_depth_m(args.data / fname)
        cam = PinholeCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=depth.shape[1], height=depth.shape[0])
        frame = RGBDFrame(stamp_ns=0, frame_id="camera_depth_optical_frame", camera=cam, depth=depth)
        poses = {n: e.estimate(frame) for n, e in estimators.items()}
        report[title] = {n: [plausibility(p, depth, cam) | {"score": float(p.score)} for p in ps]
                         for n, ps in poses.items()}
        rows.append(draw(depth, cam, poses, title))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "real_depth_learned" if args.detector == "learned" else "real_depth"
    cv2.imwrite(str(args.out / f"{stem}.png"), sheet)
    (args.out / f"{stem}.json").write_text(json.dumps({"detector": args.detector or "config", **report}, indent=1))
    print(json.dumps(report, indent=1))
    print(f"wrote {args.out / (stem + '.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
