"""Person boxes from a depth image alone: remove large planes (floor, walls) and far background,
then keep connected foreground blobs with a person-sized 3D extent.

Steps, on a depth image downsampled to about ``grid_width`` columns:
1. back-project to an organised point grid (camera optical frame, metres);
2. drop points beyond ``max_range_m``;
3. RANSAC up to ``max_planes`` planes; a plane is removed only when it holds at least
   ``min_plane_fraction`` of the valid points AND its inliers span more than
   ``min_plane_extent_m`` along both in-plane axes (a wall or floor; a torso is never that large);
4. cut the remaining foreground at depth discontinuities larger than ``depth_jump_m``, label
   4-connected components, and keep those whose 3D extent (2nd to 98th percentile) is person-sized.

Pure numpy + scipy.ndimage. Boxes are (x0, y0, x1, y1) full-resolution pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from unipose_ros.core.camera import PinholeCamera


@dataclass(frozen=True)
class ProposalConfig:
    """Parameters of :func:`propose_people` (metres, pixels of the downsampled grid, fractions)."""

    grid_width: int = 160
    max_range_m: float = 6.0
    max_planes: int = 3
    plane_threshold_m: float = 0.04
    min_plane_fraction: float = 0.12
    min_plane_extent_m: float = 1.2
    ransac_iterations: int = 150
    ransac_sample: int = 1500
    depth_jump_m: float = 0.15
    min_points: int = 40
    min_extent_m: float = 0.4
    max_extent_m: float = 2.4
    max_width_m: float = 1.8
    seed: int = 0


@dataclass
class PersonProposal:
    """A candidate person. ``box`` pixels (x0, y0, x1, y1); ``depth_m`` median depth of its points;
    ``extent_m`` (3,) size along x, y, z; ``points`` its number of grid points."""

    box: tuple[float, float, float, float]
    depth_m: float
    extent_m: np.ndarray
    points: int


def _fit_plane(p: np.ndarray) -> tuple[np.ndarray, float] | None:
    n = np.cross(p[1] - p[0], p[2] - p[0])
    norm = np.linalg.norm(n)
    if norm < 1e-9:
        return None
    n = n / norm
    return n, -float(n @ p[0])


def _plane_is_large(pts: np.ndarray, normal: np.ndarray, min_extent: float) -> bool:
    a = np.cross(normal, [1.0, 0.0, 0.0] if abs(normal[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    ext = [np.subtract(*np.percentile(pts @ ax, [98, 2])) for ax in (a, b)]
    return min(ext) > min_extent


def remove_planes(points: np.ndarray, valid: np.ndarray, cfg: ProposalConfig) -> np.ndarray:
    """Mask (same shape as ``valid``) with the points of large planes set False.

    Args:
        points: (h, w, 3) organised points, metres. valid: (h, w) bool.
    """
    keep = valid.copy()
    rng = np.random.default_rng(cfg.seed)
    total = int(valid.sum())
    for _ in range(cfg.max_planes):
        idx = np.flatnonzero(keep.ravel())
        if idx.size < max(3, cfg.min_plane_fraction * total):
            break
        pts = points.reshape(-1, 3)[idx].astype(np.float64)
        # Score hypotheses on a random subset (fast), then take the inliers among all points.
        sub = pts[rng.choice(pts.shape[0], min(pts.shape[0], cfg.ransac_sample), replace=False)]
        best_count, best = 0, None
        for _ in range(cfg.ransac_iterations):
            plane = _fit_plane(sub[rng.choice(sub.shape[0], 3, replace=False)])
            if plane is None:
                continue
            count = int((np.abs(sub @ plane[0] + plane[1]) < cfg.plane_threshold_m).sum())
            if count > best_count:
                best_count, best = count, plane
        if best is None:
            break
        inl = np.abs(pts @ best[0] + best[1]) < cfg.plane_threshold_m
        if inl.sum() < cfg.min_plane_fraction * total:
            break
        if not _plane_is_large(pts[inl], best[0], cfg.min_plane_extent_m):
            break
        keep.ravel()[idx[inl]] = False
    return keep


def propose_people(depth: np.ndarray, camera: PinholeCamera,
                   config: ProposalConfig | None = None) -> list[PersonProposal]:
    """Person-sized foreground blobs of a depth image, nearest first.

    Args:
        depth: (H, W) float32 metres along the optical axis, NaN invalid.
        camera: intrinsics of ``depth``.
    Returns:
        proposals sorted by depth (nearest first); empty when nothing person-like stands out.
    """
    cfg = config or ProposalConfig()
    camera.check_image(depth.shape, "depth image")
    stride = max(1, int(round(depth.shape[1] / cfg.grid_width)))
    pts = camera.depth_to_points(depth, organized=True, stride=stride).astype(np.float64)
    z = pts[..., 2]
    valid = np.isfinite(z) & (z > 0) & (z < cfg.max_range_m)
    if valid.sum() < cfg.min_points:
        return []
    fg = remove_planes(pts, valid, cfg)
    # Cut at depth jumps so that people in front of each other (or of furniture) separate.
    zf = np.where(valid, z, np.inf)
    jump = np.zeros_like(fg)
    for axis in (0, 1):
        with np.errstate(invalid="ignore"):
            dz = np.abs(np.diff(zf, axis=axis))
        big = ~(dz <= cfg.depth_jump_m)  # inf/NaN count as jumps
        sl_a = [slice(None)] * 2
        sl_b = [slice(None)] * 2
        sl_a[axis], sl_b[axis] = slice(0, -1), slice(1, None)
        # mark the FARTHER pixel of each jump, so the nearer surface keeps its outline
        far_a = big & (zf[tuple(sl_a)] > zf[tuple(sl_b)])
        far_b = big & ~far_a
        jump[tuple(sl_a)] |= far_a
        jump[tuple(sl_b)] |= far_b
    labels, n = ndimage.label(fg & ~jump)  # 4-connected: one-pixel cuts must hold
    out: list[PersonProposal] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        mask = labels[sl] == k
        if mask.sum() < cfg.min_points:
            continue
        p = pts[sl][mask]
        lo, hi = np.percentile(p, [2, 98], axis=0)
        ext = hi - lo
        if not (cfg.min_extent_m <= ext.max() <= cfg.max_extent_m and ext[0] <= cfg.max_width_m):
            continue
        rows, cols = sl
        box = (float(cols.start * stride), float(rows.start * stride),
               float(min(cols.stop * stride, depth.shape[1])), float(min(rows.stop * stride, depth.shape[0])))
        out.append(PersonProposal(box=box, depth_m=float(np.median(p[:, 2])), extent_m=ext,
                                  points=int(mask.sum())))
    out.sort(key=lambda pr: pr.depth_m)
    return out
