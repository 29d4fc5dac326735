"""A2J on a colour crop with 3D anchors (in-plane grid x depth levels), for lifting to 3D."""
from __future__ import annotations

import torch
from torch import nn

from unipose_ros.core.crop import RGB_MEAN, RGB_STD
from unipose_ros.models.a2j import A2JOutput, ConvHead, aggregate, make_neck, to_anchor_major
from unipose_ros.models.anchors import anchor_grid_3d
from unipose_ros.models.backbone import ResNet
from unipose_ros.models.config import A2JConfig


class RGBA2J(nn.Module):
    """Colour A2J with 3D anchors (A2J-Transformer's anchor layout on a convolutional model).

    forward(x (B, 3, S, S) uint8 RGB from :func:`unipose_ros.core.crop.crop_rgb` (or float in
    0..255)) -> :class:`A2JOutput` in crop units. The colour is normalised inside the model (on its
    device) with ImageNet mean / std.

    Anchors: the in-plane grid of :class:`~unipose_ros.models.depth_a2j.DepthA2J`, each at
    ``len(depth_levels)`` depths (``level * S`` crop units). Two heads predict per anchor and joint a
    weight logit and a 3D offset. Depth is relative to the crop centre: a colour image alone does
    not give absolute distance; the absolute depth comes from the crop centre's depth (the person
    proposal's median depth, i.e. the depth prior), so ``crop.to_camera(joints)`` is metric.
    """

    def __init__(self, config: A2JConfig) -> None:
        super().__init__()
        if config.kind != "rgb":
            raise ValueError(f"RGBA2J needs kind='rgb', got {config.kind!r}")
        self.config = config
        j, p = config.num_joints, config.per_cell ** 2 * len(config.depth_levels)
        self.backbone = ResNet(config.backbone, in_channels=3)
        self.neck = make_neck(self.backbone, config.neck_channels, config.stride)
        c = self.neck.out_channels
        self.weight_head = ConvHead(c, config.head_channels, config.head_layers, p * j)
        self.offset_head = ConvHead(c, config.head_channels, config.head_layers, p * j * 3)
        f = config.feature_size
        levels = [lv * config.input_size for lv in config.depth_levels]
        self.register_buffer("anchors", anchor_grid_3d(f, f, config.stride, config.per_cell, levels),
                             persistent=False)
        self.register_buffer("mean", torch.tensor(RGB_MEAN).mul(255.0).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("inv_std", 1.0 / torch.tensor(RGB_STD).mul(255.0).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> A2JOutput:
        cfg = self.config
        s = cfg.input_size
        if x.ndim != 4 or x.shape[1:] != (3, s, s):
            raise ValueError(f"RGBA2J expects (B, 3, {s}, {s}) RGB, got {tuple(x.shape)}")
        x = (x.float() - self.mean) * self.inv_std
        feat = self.neck(*self.backbone.features(x, cfg.stride))
        j, p = cfg.num_joints, cfg.per_cell ** 2 * len(cfg.depth_levels)
        logits = to_anchor_major(self.weight_head(feat), p, j, 1).squeeze(-1)
        offsets = to_anchor_major(self.offset_head(feat), p, j, 3)
        return aggregate(logits, self.anchors, offsets)
