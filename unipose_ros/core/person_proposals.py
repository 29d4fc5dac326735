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
    merge_overlap: float = 0.3
    merge_gap_px: float = 6.0
    merge_small_m: float = 0.7
    open_bridges: bool = True
    regrow_steps: int = 30
    merge_depth_m: float = 0.3
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


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection area of boxes ``a`` and ``b`` over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(small, 1e-9)


def _gap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Pixels between boxes ``a`` and ``b`` (0 when they touch or overlap)."""
    return max(a[0] - b[2], b[0] - a[2], a[1] - b[3], b[1] - a[3], 0.0)


def _extent_xy(p: np.ndarray) -> float:
    """Largest image-plane extent (x or y, 2nd to 98th percentile, metres) of points (N, 3)."""
    lo, hi = np.percentile(p[:, :2], [2, 98], axis=0)
    return float((hi - lo).max())


def merge_fragments(blobs: list[tuple[tuple[float, float, float, float], np.ndarray]], cfg: ProposalConfig
                    ) -> list[tuple[tuple[float, float, float, float], np.ndarray]]:
    """Join blobs that are pieces of one body (real sensors split a person at holes and noisy edges):
    two blobs with median depths within ``merge_depth_m`` merge when their boxes overlap by at least
    ``merge_overlap`` of the smaller box, or when they lie within ``merge_gap_px`` pixels and one of
    them is a fragment (image-plane extent under ``merge_small_m``; 0 disables this rule). Two whole
    people side by side overlap little and neither is a fragment; one behind the other differ in depth.

    Args:
        blobs: (box (x0, y0, x1, y1) pixels, points (N, 3) metres) per connected component.
    Returns:
        the blobs after merging, same layout.
    """
    blobs = list(blobs)
    merged = True
    while merged:
        merged = False
        for i in range(len(blobs)):
            for j in range(i + 1, len(blobs)):
                (a, pa), (b, pb) = blobs[i], blobs[j]
                if abs(float(np.median(pa[:, 2])) - float(np.median(pb[:, 2]))) > cfg.merge_depth_m:
                    continue
                near = _gap(a, b) <= cfg.merge_gap_px and min(_extent_xy(pa), _extent_xy(pb)) < cfg.merge_small_m
                if near or _overlap(a, b) >= cfg.merge_overlap:
                    box = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    blobs[i] = (box, np.concatenate([pa, pb]))
                    del blobs[j]
                    merged = True
                    break
            if merged:
                break
    return blobs


def _split_oversize(labels: np.ndarray, cut: np.ndarray, pts: np.ndarray, cfg: ProposalConfig) -> np.ndarray:
    """Re-cut components too large to be a person after an opening (3x3 erosion): on real sensors a
    thin bridge of edge ("flying") pixels often joins a body to the wall behind it. The eroded
    pixels go back, by geodesic regrowth inside the component, to the pieces next to them (thin
    arms come back). Components of person size are left as they are."""
    out = labels.copy()
    next_label = int(labels.max()) + 1
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        mask = labels[sl] == k
        if mask.sum() < cfg.min_points:
            continue
        p = pts[sl][mask]
        ext = np.subtract(*np.percentile(p, [98, 2], axis=0))
        if ext.max() <= cfg.max_extent_m and ext[0] <= cfg.max_width_m:
            continue
        sub, n = ndimage.label(ndimage.binary_erosion(mask, np.ones((3, 3), bool)))
        for _ in range(cfg.regrow_steps):
            grown = np.where(mask & (sub == 0), ndimage.grey_dilation(sub, size=(3, 3)), sub)
            if np.array_equal(grown, sub):
                break
            sub = grown
        region = out[sl]
        region[mask] = np.where(sub[mask] > 0, sub[mask] + next_label - 1, 0)
        next_label += n
    return out


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
    cut = fg & ~jump
    labels, _ = ndimage.label(cut)  # 4-connected: one-pixel cuts must hold
    if cfg.open_bridges:
        labels = _split_oversize(labels, cut, pts, cfg)
    blobs: list[tuple[tuple[float, float, float, float], np.ndarray]] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        mask = labels[sl] == k
        if mask.sum() < cfg.min_points:
            continue
        rows, cols = sl
        box = (float(cols.start * stride), float(rows.start * stride),
               float(min(cols.stop * stride, depth.shape[1])), float(min(rows.stop * stride, depth.shape[0])))
        blobs.append((box, pts[sl][mask]))
    out: list[PersonProposal] = []
    for box, p in merge_fragments(blobs, cfg):
        lo, hi = np.percentile(p, [2, 98], axis=0)
        ext = hi - lo
        if not (cfg.min_extent_m <= ext.max() <= cfg.max_extent_m and ext[0] <= cfg.max_width_m):
            continue
        out.append(PersonProposal(box=box, depth_m=float(np.median(p[:, 2])), extent_m=ext, points=len(p)))
    out.sort(key=lambda pr: pr.depth_m)
    return out
