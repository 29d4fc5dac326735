"""Plain-torch ResNet backbones (BasicBlock) sized for robot CPUs and embedded GPUs.

No torchvision: the blocks are written here. The network keeps a chosen ``output_stride`` by
dilating the later stages instead of striding them (as in DeepLab), so that a 128 x 128 crop
gives a 16 x 16 feature map at output stride 8.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ResNetConfig:
    """ResNet shape.

    Attributes:
        widths: channels of the four stages.
        blocks: BasicBlocks per stage.
        output_stride: input pixels per output feature cell: 4, 8, 16 or 32. The stem (a strided
            conv and a max-pool) gives stride 4; each later stage halves the resolution until this
            stride is reached and is dilated after that.
        stem_channels: channels of the stem convolution (defaults to ``widths[0]``).
    """

    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    output_stride: int = 8
    stem_channels: int = 0

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.blocks) or not self.widths:
            raise ValueError(f"ResNetConfig: widths {self.widths} and blocks {self.blocks} need the same, non-zero length")
        if any(w <= 0 for w in self.widths) or any(b <= 0 for b in self.blocks):
            raise ValueError(f"ResNetConfig: widths and blocks must be positive, got {self.widths}, {self.blocks}")
        valid = [4 * 2 ** i for i in range(len(self.widths))]
        if self.output_stride not in valid:
            raise ValueError(f"ResNetConfig: output_stride must be one of {valid}, got {self.output_stride}")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection (ResNet-18/34 block)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet feature extractor.

    forward(x (B, in_channels, H, W)) -> (B, widths[-1], H / output_stride, W / output_stride)
    (H and W divisible by ``output_stride``).
    """

    def __init__(self, config: ResNetConfig, in_channels: int) -> None:
        super().__init__()
        self.config = config
        stem = config.stem_channels or config.widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem, 7, 2, padding=3, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, padding=1))
        stages = []
        self.stage_strides: list[int] = []
        in_ch, stride_now, dilation = stem, 4, 1
        for i, (width, n) in enumerate(zip(config.widths, config.blocks)):
            stride = 1
            if i > 0:
                if stride_now < config.output_stride:
                    stride, stride_now = 2, stride_now * 2
                else:
                    dilation *= 2
            blocks = [BasicBlock(in_ch, width, stride, dilation)]
            blocks += [BasicBlock(width, width, 1, dilation) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            self.stage_strides.append(stride_now)
            in_ch = width
        self.stages = nn.Sequential(*stages)
        self.out_channels = in_ch
        self.stride = config.output_stride
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each residual branch: each block starts as identity
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def channels_at(self, stride: int) -> int:
        """Channels of the last stage that runs at ``stride`` (input pixels per cell)."""
        return self.config.widths[self._last_stage_at(stride)]

    def _last_stage_at(self, stride: int) -> int:
        idx = [i for i, s in enumerate(self.stage_strides) if s == stride]
        if not idx:
            raise ValueError(f"ResNet: no stage runs at stride {stride}; stage strides {self.stage_strides}")
        return idx[-1]

    def features(self, x: torch.Tensor, stride: int = 0) -> tuple[torch.Tensor, ...]:
        """``(top,)``, or ``(top, fine)`` with ``fine`` the output of the last stage at ``stride``
        when ``stride`` is finer than the output stride (for an upsampling neck).

        Shapes: top (B, widths[-1], H / output_stride, W / output_stride); fine
        (B, channels_at(stride), H / stride, W / stride)."""
        if not stride or stride == self.stride:
            return (self(x),)
        keep = self._last_stage_at(stride)
        y, fine = self.stem(x), None
        for i, stage in enumerate(self.stages):
            y = stage(y)
            if i == keep:
                fine = y
        return y, fine
