"""A2J on a normalised depth crop: in-plane anchors, in-plane offsets and a depth per anchor."""
from __future__ import annotations

import torch
from torch import nn

from unipose_ros.models.a2j import A2JOutput, ConvHead, aggregate, make_neck, to_anchor_major
from unipose_ros.models.anchors import anchor_grid_xyd
from unipose_ros.models.backbone import ResNet
from unipose_ros.models.config import A2JConfig


class DepthA2J(nn.Module):
    """Depth A2J.

    forward(x (B, 1, S, S) float normalised depth from :func:`unipose_ros.core.crop.crop_depth`,
    values in [-1, 1], 1 = far / invalid) -> :class:`A2JOutput` in crop units (u, v pixels, d =
    depth offset from the crop centre in crop pixels).

    A ResNet gives an (S / os) x (S / os) map (upsampled to S / head_stride when the config asks
    for a finer head, see ``A2JConfig.head_stride``); each cell holds (stride / anchor_stride)^2
    anchors at depth 0. Three heads predict per anchor and joint: a weight logit, an in-plane offset (2) and
    a depth (1); joint = sum_a w_a (anchor_xy + offset_xy, depth).
    """

    def __init__(self, config: A2JConfig) -> None:
        super().__init__()
        if config.kind != "depth":
            raise ValueError(f"DepthA2J needs kind='depth', got {config.kind!r}")
        self.config = config
        j, p = config.num_joints, config.per_cell ** 2
        self.backbone = ResNet(config.backbone, in_channels=1)
        self.neck = make_neck(self.backbone, config.neck_channels, config.stride)
        c = self.neck.out_channels
        self.weight_head = ConvHead(c, config.head_channels, config.head_layers, p * j)
        self.offset_head = ConvHead(c, config.head_channels, config.head_layers, p * j * 2)
        self.depth_head = ConvHead(c, config.head_channels, config.head_layers, p * j)
        f = config.feature_size
        self.register_buffer("anchors", anchor_grid_xyd(f, f, config.stride, config.per_cell),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> A2JOutput:
        cfg = self.config
        s = cfg.input_size
        if x.ndim != 4 or x.shape[1:] != (1, s, s):
            raise ValueError(f"DepthA2J expects (B, 1, {s}, {s}) normalised depth, got {tuple(x.shape)}")
        feat = self.neck(*self.backbone.features(x if x.is_floating_point() else x.float(), cfg.stride))
        j, p = cfg.num_joints, cfg.per_cell ** 2
        logits = to_anchor_major(self.weight_head(feat), p, j, 1).squeeze(-1)
        xy = to_anchor_major(self.offset_head(feat), p, j, 2)
        d = to_anchor_major(self.depth_head(feat), p, j, 1)
        return aggregate(logits, self.anchors, torch.cat([xy, d], dim=-1))
