"""Training targets and augmentation of the person detector, from a depth image and the exact
instance of every pixel (``unipose_training.detection.data``).

Targets at output stride 4: the person mask, a Gaussian at each person's centre (the mean of
its output pixels, rounded to a pixel; sigma grows with the square root of its area) and, per person pixel, the
offset to that centre in ``OFFSET_SCALE`` output pixels. People with fewer than ``min_pixels``
output pixels are neither positives nor negatives (weight 0): too little is seen to say.
"""
from __future__ import annotations

import numpy as np

from unipose_ros.models.detector import OFFSET_SCALE, STRIDE, nearest_indices, normalise_depth


def augment(depth_mm: np.ndarray, instance: np.ndarray, rng: np.random.Generator,
            out_hw: tuple[int, int] = (240, 320), scale: tuple[float, float] = (0.7, 1.3)
            ) -> tuple[np.ndarray, np.ndarray]:
    """A random rescale (nearest neighbour: another focal length or distance), crop or pad (with
    invalid depth) to ``out_hw`` and mirror of one frame. Returns (depth metres NaN invalid,
    instance int) of shape ``out_hw``."""
    s = rng.uniform(*scale)
    h, w = depth_mm.shape
    nh, nw = max(8, int(round(h * s))), max(8, int(round(w * s)))
    rows, cols = nearest_indices(nh, h), nearest_indices(nw, w)
    d, ins = depth_mm[rows][:, cols], instance[rows][:, cols]
    if rng.random() < 0.5:
        d, ins = d[:, ::-1], ins[:, ::-1]
    oh, ow = out_hw
    out_d = np.zeros(out_hw, np.uint16)
    out_i = np.full(out_hw, -1, np.int16)
    y0 = int(rng.integers(0, nh - oh + 1)) if nh > oh else 0
    x0 = int(rng.integers(0, nw - ow + 1)) if nw > ow else 0
    py = int(rng.integers(0, oh - nh + 1)) if nh < oh else 0
    px = int(rng.integers(0, ow - nw + 1)) if nw < ow else 0
    ch, cw = min(oh, nh), min(ow, nw)
    out_d[py:py + ch, px:px + cw] = d[y0:y0 + ch, x0:x0 + cw]
    out_i[py:py + ch, px:px + cw] = ins[y0:y0 + ch, x0:x0 + cw]
    z = out_d.astype(np.float32) / 1000.0
    z[out_d == 0] = np.nan
    return z, out_i


def make_targets(instance: np.ndarray, min_pixels: int = 12, measured: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    """Targets of one (H, W) instance image (H, W multiples of 4; -1 background).

    ``measured`` (H, W) bool marks the pixels with a valid depth (None: all). A person is a target
    only where the depth image shows them: their mask, centre and offsets come from their
    measured pixels, their unmeasured pixels are left out of the loss, and a person with fewer
    than ``min_pixels`` measured output pixels (past the sensor's range, or hidden) is left out
    altogether, never taught as background.

    Returns:
        mask (h, w) float32, heat (h, w) float32 in [0, 1], offset (2, h, w) float32,
        weight (h, w) float32 (0 on people too small to count), centres (K, 2) output-pixel (x, y).
    """
    ins = instance[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE]
    seen = (np.ones(ins.shape, bool) if measured is None
            else np.asarray(measured, bool)[STRIDE // 2::STRIDE, STRIDE // 2::STRIDE])
    h, w = ins.shape
    mask = np.zeros((h, w), np.float32)
    heat = np.zeros((h, w), np.float32)
    offset = np.zeros((2, h, w), np.float32)
    weight = np.ones((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    centres = []
    for k in np.unique(ins[ins >= 0]):
        everywhere = ins == k
        m = everywhere & seen
        n = int(m.sum())
        weight[everywhere & ~seen] = 0.0
        if n < min_pixels:
            weight[everywhere] = 0.0
            continue
        cx, cy = float(np.clip(np.rint(xx[m].mean()), 0, w - 1)), float(np.clip(np.rint(yy[m].mean()), 0, h - 1))
        centres.append((cx, cy))
        sigma = max(1.0, 0.12 * np.sqrt(n))
        heat = np.maximum(heat, np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)))
        mask[m] = 1.0
        offset[0][m] = (cx - xx[m]) / OFFSET_SCALE
        offset[1][m] = (cy - yy[m]) / OFFSET_SCALE
    # small people: not counted against the heatmap either
    return {"mask": mask, "heat": heat.astype(np.float32), "offset": offset, "weight": weight,
            "centres": np.asarray(centres, np.float32).reshape(-1, 2)}


def sample(depth_mm: np.ndarray, instance: np.ndarray, rng: np.random.Generator | None,
           out_hw: tuple[int, int] = (240, 320), min_pixels: int = 12) -> dict[str, np.ndarray]:
    """One training sample: network input (2, H, W) and its targets; ``rng`` None = no
    augmentation (the frame padded or cropped at the top left)."""
    if rng is None:
        z = depth_mm.astype(np.float32) / 1000.0
        z[depth_mm == 0] = np.nan
        d = np.full(out_hw, np.nan, np.float32)
        ins = np.full(out_hw, -1, np.int16)
        ch, cw = min(out_hw[0], z.shape[0]), min(out_hw[1], z.shape[1])
        d[:ch, :cw], ins[:ch, :cw] = z[:ch, :cw], instance[:ch, :cw]
    else:
        d, ins = augment(depth_mm, instance, rng, out_hw)
    t = make_targets(ins, min_pixels, measured=np.isfinite(d))
    t["input"] = normalise_depth(d)
    return t


def centre_focal_loss(logit, target, weight):
    """CenterNet's penalty-reduced focal loss (torch), normalised by the number of centres."""
    import torch

    p = torch.sigmoid(logit).clamp(1e-4, 1 - 1e-4)
    pos = (target > 0.99).float()
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p ** 2 * (1 - target) ** 4 * (1 - pos)
    n = pos.sum().clamp(min=1.0)
    return ((pos_loss + neg_loss) * weight).sum() / n
