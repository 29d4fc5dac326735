"""Anchor-to-joint (A2J) aggregation and the convolutional heads shared by the image models.

A2J (Xiong et al., ICCV 2019) predicts, for every anchor ``a`` and joint ``j``, a weight logit and
an offset; the joint is the softmax-weighted sum over anchors of (anchor position + offset).
All positions are in **crop units** (see :mod:`unipose_ros.core.crop`).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class A2JOutput(NamedTuple):
    """What every A2J model returns (float32 whatever the autocast precision).

    Attributes:
        joints: (B, J, 3) predicted joints, crop units.
        anchor_joints: (B, J, 3) sum over anchors of weight * anchor position (the informative
            anchor surround term of the loss), crop units.
        weights: (B, A, J) anchor weights, softmax over the A anchors (each column sums to 1).
        anchors: (B, A, 3) anchor positions, crop units (an expanded view for the image models).
        spread: (B, J) weighted RMS distance of the anchors' votes (anchor + offset) from the joint,
            crop units, without gradient: small when the anchors agree (a confidence cue).
    """

    joints: torch.Tensor
    anchor_joints: torch.Tensor
    weights: torch.Tensor
    anchors: torch.Tensor
    spread: torch.Tensor


def aggregate(logits: torch.Tensor, anchors: torch.Tensor, offsets: torch.Tensor) -> A2JOutput:
    """Combine per-anchor predictions into joints.

    Args:
        logits: (B, A, J) anchor weight logits.
        anchors: (A, 3) or (B, A, 3) anchor positions, crop units.
        offsets: (B, A, J, 3) offset of each anchor's vote for each joint, crop units.
    Returns:
        :class:`A2JOutput`; computed in float32 (softmax included) for fp16/bf16 safety.
    """
    if logits.ndim != 3 or offsets.ndim != 4 or offsets.shape[:3] != logits.shape or offsets.shape[3] != 3:
        raise ValueError(f"aggregate: logits (B, A, J) and offsets (B, A, J, 3) expected, got {tuple(logits.shape)} "
                         f"and {tuple(offsets.shape)}")
    b, a, _ = logits.shape
    anchors = anchors.to(device=logits.device, dtype=torch.float32)
    if anchors.ndim == 2:
        anchors = anchors.unsqueeze(0).expand(b, -1, -1)
    if anchors.shape != (b, a, 3):
        raise ValueError(f"aggregate: anchors (A, 3) or (B, A, 3) with A={a}, B={b} expected, got {tuple(anchors.shape)}")
    with torch.autocast(device_type=logits.device.type, enabled=False):  # einsum would run in half precision
        weights = torch.softmax(logits.float(), dim=1)
        votes = anchors.unsqueeze(2) + offsets.float()                   # (B, A, J, 3)
        joints = (weights.unsqueeze(-1) * votes).sum(1)
        anchor_joints = torch.einsum("baj,bac->bjc", weights, anchors)
        with torch.no_grad():
            sq = (votes - joints.unsqueeze(1)).square().sum(-1)         # (B, A, J)
            spread = (weights * sq).sum(1).clamp_min(0).sqrt()
    return A2JOutput(joints, anchor_joints, weights, anchors, spread)


class ConvHead(nn.Module):
    """``layers`` x (3x3 conv, batch norm, ReLU) then a 3x3 output conv (A2J's head shape).

    ``init_std`` sets the output conv's weight std (bias 0): small, so that a new model starts with
    near-uniform anchor weights and near-zero offsets, i.e. every joint at the anchors' mean.
    """

    def __init__(self, in_ch: int, mid_ch: int, layers: int, out_ch: int, init_std: float = 1e-3) -> None:
        super().__init__()
        body: list[nn.Module] = []
        for i in range(layers):
            body += [nn.Conv2d(in_ch if i == 0 else mid_ch, mid_ch, 3, padding=1, bias=False), nn.BatchNorm2d(mid_ch),
                     nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*body)
        self.out = nn.Conv2d(mid_ch if layers else in_ch, out_ch, 3, padding=1)
        nn.init.normal_(self.out.weight, std=init_std)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


def to_anchor_major(t: torch.Tensor, per_anchor: int, joints: int, channels: int) -> torch.Tensor:
    """Head output (B, per_anchor * J * C, H, W) -> (B, H * W * per_anchor, J, C).

    The channel index is ``(p * J + j) * C + c`` with ``p`` the anchor within the cell (for 3D
    anchors ``p = (ky * per_cell + kx) * L + l``); the anchor index of the result follows
    :mod:`unipose_ros.models.anchors` (cells row-major, then ``p``).
    """
    b, ch, h, w = t.shape
    if ch != per_anchor * joints * channels:
        raise ValueError(f"head output has {ch} channels, expected {per_anchor} x {joints} x {channels}")
    t = t.reshape(b, per_anchor, joints, channels, h, w).permute(0, 4, 5, 1, 2, 3)
    return t.reshape(b, h * w * per_anchor, joints, channels)


class Neck(nn.Module):
    """1x1 conv + batch norm + ReLU (or identity when ``out_ch`` is 0)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.out_channels = out_ch or in_ch
        self.body: nn.Module = (nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch),
                                              nn.ReLU(inplace=True)) if out_ch else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UpsampleNeck(nn.Module):
    """A finer feature map for the heads (one feature-pyramid step).

    forward(top (B, top_ch, h, w), fine (B, fine_ch, h * factor, w * factor)) ->
    (B, out_ch, h * factor, w * factor): the 1x1-reduced top features, bilinearly upsampled, plus
    a 1x1 lateral projection of the finer backbone stage, then a 3x3 conv + batch norm + ReLU.
    """

    def __init__(self, top_ch: int, fine_ch: int, out_ch: int, factor: int) -> None:
        super().__init__()
        if out_ch <= 0 or factor < 2:
            raise ValueError(f"UpsampleNeck needs out_ch > 0 and factor >= 2, got {out_ch}, {factor}")
        self.out_channels, self.factor = out_ch, factor
        self.top = nn.Sequential(nn.Conv2d(top_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))
        self.lateral = nn.Sequential(nn.Conv2d(fine_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.smooth = nn.Sequential(nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                                    nn.ReLU(inplace=True))

    def forward(self, top: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(self.top(top), scale_factor=self.factor, mode="bilinear", align_corners=False)
        return self.smooth(torch.relu(up + self.lateral(fine)))


def make_neck(backbone: nn.Module, out_ch: int, head_stride: int) -> nn.Module:
    """The neck of an image A2J model: :class:`Neck` at the backbone's output stride, or an
    :class:`UpsampleNeck` to ``head_stride`` when that is finer (``out_ch`` must then be > 0)."""
    if head_stride == backbone.stride:
        return Neck(backbone.out_channels, out_ch)
    return UpsampleNeck(backbone.out_channels, backbone.channels_at(head_stride), out_ch or backbone.out_channels,
                        backbone.stride // head_stride)
