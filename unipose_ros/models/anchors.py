"""Anchor positions of the A2J models, in crop units.

Crop pixels have their centres at integers ((0, 0) is the top-left pixel; see
:mod:`unipose_ros.core.crop`). A feature cell (i, j) of a map with ``stride`` covers the crop pixels
``[j * stride, (j + 1) * stride)`` x ``[i * stride, (i + 1) * stride)``; it holds ``per_cell`` x
``per_cell`` anchors at offsets ``(k + 0.5) * stride / per_cell`` from the cell's first pixel
(A2J's layout: stride 16, per_cell 4 -> offsets 2, 6, 10, 14).

**Ordering** (shared with the heads' reshape in :mod:`unipose_ros.models.a2j`): anchor index
``a = ((i * feat_w + j) * per_cell + ky) * per_cell + kx``, i.e. row-major over cells, then
row-major within the cell. 3D anchors add ``L`` depth levels innermost:
``a3 = a * L + l``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def anchor_grid(feat_h: int, feat_w: int, stride: int, per_cell: int) -> torch.Tensor:
    """In-plane anchors of a ``feat_h`` x ``feat_w`` feature map.

    Returns:
        (feat_h * feat_w * per_cell**2, 2) float32 crop-pixel (x, y) positions, in the order
        described in the module docstring.
    """
    if min(feat_h, feat_w, stride, per_cell) <= 0:
        raise ValueError(f"anchor_grid needs positive sizes, got {feat_h}x{feat_w}, stride {stride}, per_cell {per_cell}")
    k = (torch.arange(per_cell, dtype=torch.float64) + 0.5) * (stride / per_cell)
    ys = (torch.arange(feat_h, dtype=torch.float64) * stride)[:, None, None, None] + k[None, None, :, None]
    xs = (torch.arange(feat_w, dtype=torch.float64) * stride)[None, :, None, None] + k[None, None, None, :]
    shape = (feat_h, feat_w, per_cell, per_cell)
    grid = torch.stack([xs.expand(shape), ys.expand(shape)], dim=-1)
    return grid.reshape(-1, 2).to(torch.float32)


def anchor_grid_3d(feat_h: int, feat_w: int, stride: int, per_cell: int, depth_levels: Sequence[float]) -> torch.Tensor:
    """In-plane anchors times depth levels.

    Args:
        depth_levels: anchor depths ``d`` in crop units (relative to the crop centre's depth).
    Returns:
        (A * L, 3) float32 (x, y, d) crop units, depth levels innermost (``a * L + l``).
    """
    levels = torch.as_tensor(list(depth_levels), dtype=torch.float32)
    if levels.ndim != 1 or len(levels) == 0:
        raise ValueError(f"depth_levels must be a non-empty sequence of numbers, got {depth_levels!r}")
    xy = anchor_grid(feat_h, feat_w, stride, per_cell)
    a, n = len(xy), len(levels)
    return torch.cat([xy[:, None, :].expand(a, n, 2), levels[None, :, None].expand(a, n, 1)], dim=-1).reshape(a * n, 3)


def anchor_grid_xyd(feat_h: int, feat_w: int, stride: int, per_cell: int) -> torch.Tensor:
    """(A, 3) float32: :func:`anchor_grid` with depth 0 (the 2D anchors of the depth model)."""
    xy = anchor_grid(feat_h, feat_w, stride, per_cell)
    return torch.cat([xy, torch.zeros(len(xy), 1)], dim=1)
