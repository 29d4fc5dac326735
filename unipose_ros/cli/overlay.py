"""Pictures of results: skeletons drawn on the colour images, a contact sheet, per-joint error bars."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.pose import PersonPose

# Distinct BGR colours per track id.
_PALETTE = [(0, 200, 255), (255, 120, 0), (80, 220, 80), (200, 60, 220), (0, 90, 255), (255, 200, 0)]
_GT_COLOUR = (255, 255, 255)


def draw_pose(image_bgr: np.ndarray, camera: PinholeCamera, pose: PersonPose,
              colour: tuple[int, int, int], thickness: int = 2, min_confidence: float = 0.0) -> None:
    """Draw ``pose`` projected with ``camera`` onto ``image_bgr`` (H, W, 3) uint8 BGR, in place.
    Joints below ``min_confidence`` are drawn hollow; joints without an estimate (NaN) are skipped."""
    uv = camera.project(pose.joints)
    ok = np.isfinite(uv).all(axis=1)
    for a, b in pose.joint_set.bones:
        if ok[a] and ok[b]:
            cv2.line(image_bgr, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)),
                     colour, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        filled = -1 if pose.confidence[j] >= min_confidence else 1
        cv2.circle(image_bgr, tuple(np.round(uv[j]).astype(int)), thickness + 2, colour, filled, cv2.LINE_AA)
    root = uv[pose.joint_set.root]
    if np.isfinite(root).all() and pose.track_id >= 0 and pose.modality != 6:
        cv2.putText(image_bgr, f"id {pose.track_id}", tuple(np.round(root).astype(int) + [8, 0]),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


def render_frame(frame: RGBDFrame, predicted: list[PersonPose], truth: list[PersonPose]) -> np.ndarray:
    """(H, W, 3) uint8 BGR picture: the colour image (or depth when there is none), ground truth in
    thin white, predictions in per-track colours."""
    if frame.rgb is not None:
        img = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
    else:
        d = np.nan_to_num(frame.depth, nan=0.0)
        img = cv2.applyColorMap(cv2.convertScaleAbs(d, alpha=255 / max(float(d.max()), 1e-3)), cv2.COLORMAP_JET)
    for g in truth:
        draw_pose(img, frame.camera, g, _GT_COLOUR, thickness=1)
    for p in predicted:
        draw_pose(img, frame.camera, p, _PALETTE[p.track_id % len(_PALETTE)], thickness=2, min_confidence=0.3)
    return img


def contact_sheet(images: list[np.ndarray], columns: int = 3) -> np.ndarray:
    """Tile equally sized images into a grid (row-major), padding the last row with black."""
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    return sheet


def per_joint_error_plot(per_joint_mm: dict[str, float | None], path: Path, title: str) -> None:
    """Horizontal bar chart of per-joint MPJPE (mm) written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_joint_mm)
    vals = [v if v is not None else np.nan for v in per_joint_mm.values()]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
    ax.barh(names, vals, color="#3a7bd5")
    ax.invert_yaxis()
    ax.axvline(100, color="grey", ls="--", lw=1)
    ax.set_xlabel("error (mm); dashed: 10 cm")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_overlays(frames: Iterable[RGBDFrame] | object, predicted: dict[int, list[PersonPose]],
                   truth: dict[int, list[PersonPose]], out: Path, grid_frames: int = 6,
                   per_joint: dict | None = None, fps: float = 15.0) -> list[Path]:
    """Write ``overlay.mp4`` (every frame), ``overlay_grid.png`` (``grid_frames`` evenly spaced frames
    that have predictions) and, given metrics, ``per_joint_error.png`` into ``out``.

    Args:
        frames: RGBDFrame iterable, or an object with ``frames()`` (a RecordingReader).
        predicted / truth: stamp (ns) -> poses.
    Returns:
        the paths written.
    """
    if hasattr(frames, "frames"):
        frames = frames.frames()
    written: list[Path] = []
    video = None
    pictures: list[tuple[int, np.ndarray]] = []
    for frame in frames:
        img = render_frame(frame, predicted.get(frame.stamp_ns, []), truth.get(frame.stamp_ns, []))
        if video is None:
            video_path = out / "overlay.mp4"
            video = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                    (img.shape[1], img.shape[0]))
            written.append(video_path)
        video.write(img)
        if frame.stamp_ns in predicted:
            pictures.append((frame.stamp_ns, img))
    if video is not None:
        video.release()
    if pictures:
        picks = np.linspace(0, len(pictures) - 1, min(grid_frames, len(pictures))).round().astype(int)
        sheet = contact_sheet([pictures[i][1] for i in picks])
        cv2.imwrite(str(out / "overlay_grid.png"), sheet)
        written.append(out / "overlay_grid.png")
    if per_joint and per_joint.get("per_joint_mpjpe_mm"):
        per_joint_error_plot(per_joint["per_joint_mpjpe_mm"], out / "per_joint_error.png",
                             f"MPJPE {per_joint['mpjpe_mm']:.0f} mm, mAP@10cm {per_joint['map_10cm']:.2f}")
        written.append(out / "per_joint_error.png")
    return written
