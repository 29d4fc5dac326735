"""Learned person detector on depth: a small fully convolutional network that gives, at output
stride 4, a person mask, a person-centre heatmap (CenterNet style) and, for every person pixel,
the offset to its person's centre (the instance grouping).

The input is the depth image resized by nearest neighbour to ``DetectorConfig.width`` pixels
wide (height by the image's aspect, padded to a multiple of 16): channel 0 the depth in metres
normalised as ``(z - 2.5) / 2`` (0 where invalid), channel 1 the validity mask.
:func:`detector_input` builds it and :func:`decode` turns the outputs into person instances;
training (``unipose_training.detection``) and inference use both.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 4
OFFSET_SCALE = 16.0  # output pixels per offset unit


@dataclass(frozen=True)
class DetectorConfig:
    """Network and decoding settings (stored in the checkpoint).

    Attributes:
        width: input width (pixels) the depth image is resized to.
        channels: widths of the four stages (strides 2, 4, 8, 16).
        peak_threshold: smallest centre-heatmap peak that makes a person.
        mask_threshold: person-mask probability above which a pixel is a person's.
        min_pixels: smallest instance (output pixels) kept.
        nms_kernel: heatmap peaks are local maxima in this window (output pixels).
        mask_dilate: each person's mask grows by this many output pixels (a stride-4 mask is
            coarse: the margin keeps thin limbs whole).
        assign_radius: a mask pixel joins the person whose centre its offset points at only when
            it points within this many output pixels of it (else it is nobody's: mask pixels on
            objects point nowhere in particular).
    """

    width: int = 320
    channels: tuple[int, int, int, int] = (16, 32, 64, 96)
    peak_threshold: float = 0.35
    mask_threshold: float = 0.5
    min_pixels: int = 12
    nms_kernel: int = 7
    mask_dilate: int = 1
    assign_radius: float = 6.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DetectorConfig":
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        return cls(**d)


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PersonDetectorNet(nn.Module):
    """(B, 2, H, W) -> (B, 4, H/4, W/4): mask logit, centre-heatmap logit, offset (dx, dy) to the
    person centre in units of ``OFFSET_SCALE`` output pixels. H and W multiples of 16."""

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        super().__init__()
        c1, c2, c3, c4 = config.channels
        self.s2 = _cbr(2, c1, 2)
        self.s4 = nn.Sequential(_cbr(c1, c2, 2), _cbr(c2, c2))
        self.s8 = nn.Sequential(_cbr(c2, c3, 2), _cbr(c3, c3, dilation=2), _cbr(c3, c3, dilation=4))
        self.s16 = nn.Sequential(_cbr(c3, c4, 2), _cbr(c4, c4, dilation=2), _cbr(c4, c4, dilation=4))
        self.up8 = nn.Sequential(nn.Conv2d(c4 + c3, c3, 1, bias=False), nn.BatchNorm2d(c3), nn.ReLU(inplace=True),
                                 _cbr(c3, c3))
        self.up4 = nn.Sequential(nn.Conv2d(c3 + c2, c2, 1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(inplace=True),
                                 _cbr(c2, c2))
        self.head = nn.Conv2d(c2, 4, 1)
        nn.init.constant_(self.head.bias, 0.0)
        with torch.no_grad():
            self.head.bias[1] = -2.19  # CenterNet prior: heatmap starts near 0.1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f4 = self.s4(self.s2(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        u8 = self.up8(torch.cat([F.interpolate(f16, size=f8.shape[-2:], mode="nearest"), f8], 1))
        u4 = self.up4(torch.cat([F.interpolate(u8, size=f4.shape[-2:], mode="nearest"), f4], 1))
        return self.head(u4)


def nearest_indices(n_out: int, n_in: int) -> np.ndarray:
    """(n_out,) source index of each output pixel when ``n_in`` pixels are resized to ``n_out``
    by nearest neighbour (pixel centres aligned)."""
    return np.minimum(((np.arange(n_out) + 0.5) * n_in / n_out).astype(int), n_in - 1)


def resize_rows_cols(shape: tuple[int, int], width: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Nearest-neighbour row and column indices that resize an (H, W) image to ``width`` wide
    (height by the aspect), and the padded input size (h, w), multiples of 16."""
    h, w = shape
    height = max(1, int(round(h * width / w)))
    return nearest_indices(height, h), nearest_indices(width, w), -(-height // 16) * 16, -(-width // 16) * 16


def normalise_depth(depth_m: np.ndarray) -> np.ndarray:
    """(h, w) metres (NaN / 0 invalid) -> (2, h, w) float32 network channels."""
    valid = np.isfinite(depth_m) & (depth_m > 0)
    z = np.where(valid, (np.nan_to_num(depth_m) - 2.5) / 2.0, 0.0)
    return np.stack([z, valid]).astype(np.float32)


def detector_input(depth_m: np.ndarray, width: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The network input of one depth image.

    Args:
        depth_m: (H, W) float32 metres along the optical axis, NaN or 0 invalid.
        width: input width (``DetectorConfig.width``).
    Returns:
        ((2, h, w) float32 padded input, (rows, cols) the source pixel of each resized pixel).
    """
    rows, cols, hp, wp = resize_rows_cols(depth_m.shape, width)
    x = np.zeros((2, hp, wp), np.float32)
    x[:, :len(rows), :len(cols)] = normalise_depth(depth_m[rows][:, cols])
    return x, (rows, cols)


@dataclass
class Detection:
    """One detected person.

    Attributes:
        mask: (H, W) bool person pixels in the source image (valid depth only), with the
            ``mask_dilate`` margin (pixels within 0.6 m of the person's median depth).
        box: (x0, y0, x1, y1) edge coordinates of the mask without the margin (source pixels).
        depth_m: median depth of the mask's pixels without the margin (m).
        score: centre-heatmap peak in [0, 1].
        centre_uv: (2,) heatmap peak in source pixels.
    """

    mask: np.ndarray
    box: tuple[float, float, float, float]
    depth_m: float
    score: float
    centre_uv: np.ndarray


def decode_instances(out: np.ndarray, config: DetectorConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peaks and instance labels from one output (4, h, w) (logits and offsets, see the net).

    Returns:
        (labels (h, w) int32: -1 background, k = the k-th peak; peaks (K, 2) output-pixel (x, y);
        scores (K,) heatmap values), peaks by descending score.
    """
    mask = 1.0 / (1.0 + np.exp(-out[0])) > config.mask_threshold
    heat = 1.0 / (1.0 + np.exp(-out[1]))
    from scipy import ndimage

    local_max = ndimage.maximum_filter(heat, size=config.nms_kernel, mode="constant") == heat
    ys, xs = np.nonzero(local_max & (heat >= config.peak_threshold))
    order = np.argsort(-heat[ys, xs])
    peaks = np.stack([xs[order], ys[order]], 1).astype(np.float32)
    scores = heat[ys, xs][order]
    labels = np.full(mask.shape, -1, np.int32)
    if len(peaks) == 0:
        return labels, peaks, scores
    py, px = np.nonzero(mask)
    target = np.stack([px + out[2, py, px] * OFFSET_SCALE, py + out[3, py, px] * OFFSET_SCALE], 1)
    d = np.linalg.norm(target[:, None, :] - peaks[None], axis=-1)  # (N, K)
    k = d.argmin(1)
    near = d[np.arange(len(k)), k] <= config.assign_radius
    py, px, k = py[near], px[near], k[near]
    labels[py, px] = k
    counts = np.bincount(k, minlength=len(peaks))
    keep = counts >= config.min_pixels
    if not keep.all():  # drop tiny instances and renumber
        remap = np.full(len(peaks), -1, np.int32)
        remap[keep] = np.arange(int(keep.sum()))
        labels = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)
        peaks, scores = peaks[keep], scores[keep]
    return labels, peaks, scores


def detections_from_output(out: np.ndarray, depth_m: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                           config: DetectorConfig, min_valid: int = 30) -> list[Detection]:
    """Person instances of one image from the network output.

    Args:
        out: (4, h, w) network output for the input made by :func:`detector_input`.
        depth_m: (H, W) the source depth (metres, NaN / 0 invalid).
        rows, cols: from :func:`detector_input`.
        min_valid: smallest number of valid source pixels of a kept person.
    Returns:
        detections, nearest first.
    """
    from scipy import ndimage

    labels, peaks, scores = decode_instances(out, config)
    H, W = depth_m.shape
    # each source pixel's resized pixel, then its output pixel
    ri, ci = nearest_indices(H, len(rows)) // STRIDE, nearest_indices(W, len(cols)) // STRIDE
    ri, ci = np.minimum(ri, labels.shape[0] - 1), np.minimum(ci, labels.shape[1] - 1)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    sx, sy = W / len(cols), H / len(rows)
    found = []
    for k in range(len(peaks)):
        own = labels == k
        core = own[ri][:, ci] & valid  # box and depth come from the mask itself
        if core.sum() < min_valid:
            continue
        z = float(np.median(depth_m[core]))
        m = core
        if config.mask_dilate > 0:  # the margin takes pixels near the person's depth only
            rim = ndimage.binary_dilation(own, iterations=config.mask_dilate)[ri][:, ci] & valid & ~core
            with np.errstate(invalid="ignore"):
                m = core | (rim & (np.abs(depth_m - z) < 0.6))
        ys, xs = np.nonzero(core)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        uv = np.array([(peaks[k, 0] + 0.5) * STRIDE * sx - 0.5, (peaks[k, 1] + 0.5) * STRIDE * sy - 0.5])
        found.append(Detection(mask=m, box=box, depth_m=z, score=float(scores[k]), centre_uv=uv))
    found.sort(key=lambda d: d.depth_m)
    return found
