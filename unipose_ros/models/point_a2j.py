"""Per-point voting on a person's point cloud: the points are the anchors (P2P / A2J style)."""
from __future__ import annotations

import torch
from torch import nn

from unipose_ros.models.a2j import A2JOutput, aggregate
from unipose_ros.models.config import A2JConfig


def knn(points: torch.Tensor, k: int, batched: bool | None = None) -> torch.Tensor:
    """(B, N, k) int64 indices of each point's ``k`` nearest points (itself included), by
    Euclidean distance in ``points`` (B, N, 3), computed in float32 whatever the autocast state.

    ``batched`` None: one sample at a time on a CPU (the (N, N) distance matrix stays in cache:
    several times faster than one (B, N, N) matrix), the whole batch at once elsewhere.
    """
    with torch.autocast(device_type=points.device.type, enabled=False):
        p = points.float()
        sq = p.square().sum(-1)
        if batched if batched is not None else p.device.type != "cpu":
            dist = torch.baddbmm(sq.unsqueeze(2) + sq.unsqueeze(1), p, p.transpose(1, 2), alpha=-2.0)
            return dist.topk(k, dim=-1, largest=False).indices
        out = []
        for q, s in zip(p, sq):
            dist = torch.addmm(s.unsqueeze(1) + s.unsqueeze(0), q, q.t(), alpha=-2.0)
            out.append(dist.topk(k, dim=-1, largest=False).indices)
        return torch.stack(out)


def neighbour_max(features: torch.Tensor, rows: torch.Tensor, running: bool | None = None) -> torch.Tensor:
    """(M, C): for each row i the element-wise max of ``features`` (M, C) over the rows ``rows[i]``
    ((M, k) int64).

    ``running`` None: on a CPU one gather per neighbour rank with a running max, which never
    materialises the (M, k, C) tensor (several times faster at batch 8); with a gradient, the
    arg-max rows are tracked and gathered once (the backward pass is then a scatter of (M, C), not
    (M, k, C)). Elsewhere one gather and a max. Both give identical values; the gradient of a tie
    goes to one of the tied rows (running) or is shared (gather and max).
    """
    if not (running if running is not None else features.device.type == "cpu"):
        return features.index_select(0, rows.reshape(-1)).reshape(*rows.shape, -1).amax(dim=1)
    cols = rows.t().contiguous()
    need_grad = torch.is_grad_enabled() and features.requires_grad
    with torch.no_grad():
        best = features.index_select(0, cols[0])
        arg = cols[0].unsqueeze(1).expand_as(best).clone() if need_grad else None
        for r in range(1, cols.shape[0]):
            g = features.index_select(0, cols[r])
            if arg is not None:
                torch.where(g > best, cols[r].unsqueeze(1), arg, out=arg)
            torch.maximum(best, g, out=best)
    return features.gather(0, arg) if arg is not None else best


class PointMLP(nn.Module):
    """Per-point linear + batch norm + ReLU on (B, N, C) features."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_ch, out_ch, bias=False)
        self.bn = nn.BatchNorm1d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        y = self.linear(x)
        return torch.relu(self.bn(y.reshape(b * n, -1)).reshape(b, n, -1))


class EdgeConv(nn.Module):
    """Edge convolution (DGCNN) on a fixed kNN graph, normalised after the neighbour max.

    Pre-activation of point i and neighbour j: W [f_i, f_j - f_i] = (W_a - W_b) f_i + W_b f_j;
    the max over the k neighbours only needs max_j W_b f_j, so it is computed as two per-point
    projections and one gather-max (cheap on a CPU). Batch norm and LeakyReLU follow the max (at
    inference this equals DGCNN's order whenever the batch-norm scales are positive, as both are
    monotonic). (B, N, C_in) -> (B, N, C_out).
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.centre = nn.Linear(in_ch, out_ch, bias=False)
        self.neighbour = nn.Linear(in_ch, out_ch, bias=False)
        self.bn = nn.BatchNorm1d(out_ch)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        k = idx.shape[-1]
        nb = self.neighbour(x)                                            # (B, N, C)
        rows = (idx + torch.arange(b, device=idx.device).view(b, 1, 1) * n).reshape(b * n, k)
        y = neighbour_max(nb.reshape(b * n, -1), rows)
        y = y.reshape(b, n, -1) + self.centre(x) - nb
        return self.act(self.bn(y.reshape(b * n, -1))).reshape(b, n, -1)


class PointA2J(nn.Module):
    """Point-cloud A2J.

    forward(x (B, N, 3 + C) float: normalised cube coordinates from
    :func:`unipose_ros.core.crop.crop_points`, in [-1, 1], then C = ``config.point_features``
    extra channels per point, e.g. the teacher keypoint channels of
    :func:`unipose_ros.core.keypoint_features.keypoint_point_features`) -> :class:`A2JOutput` in
    **point crop units**: metric offsets from the crop centre (x right, y down, z forward) divided
    by ``unit_m`` (``PersonCrop.points_to_camera`` maps them to metres).

    Network: a shared MLP (3 + C -> w0; every channel enters here), EdgeConv layers on the xyz kNN
    graph (k = ``point_k``; raw xyz concatenated to each layer's input), a global max-pooled
    feature concatenated back to every point, and per-point heads: J weight logits and J x 3
    offsets. The anchors are the input points themselves (``xyz * S / 2``), so each point votes for
    every joint. Only xyz defines the kNN graph and the anchors.
    """

    def __init__(self, config: A2JConfig) -> None:
        super().__init__()
        if config.kind != "pointcloud":
            raise ValueError(f"PointA2J needs kind='pointcloud', got {config.kind!r}")
        self.config = config
        widths = config.point_widths
        self.mlp = PointMLP(3 + config.point_features, widths[0])
        self.edges = nn.ModuleList(EdgeConv(widths[i] + 3, widths[i + 1]) for i in range(len(widths) - 1))
        local = sum(widths)
        self.global_mlp = PointMLP(local, config.point_global)
        h, j = config.point_head_channels, config.num_joints
        self.head = nn.Sequential(PointMLP(local + config.point_global, h), PointMLP(h, h))
        self.weight_out = nn.Linear(h, j)
        self.offset_out = nn.Linear(h, j * 3)
        for out in (self.weight_out, self.offset_out):
            nn.init.normal_(out.weight, std=1e-3)
            nn.init.zeros_(out.bias)

    def forward(self, x: torch.Tensor) -> A2JOutput:
        cfg = self.config
        c = 3 + cfg.point_features
        if x.ndim != 3 or x.shape[1:] != (cfg.n_points, c):
            what = (f"normalised points and {cfg.point_features} feature channels per point (teacher keypoint "
                    "channels: keypoint_point_features)" if cfg.point_features else "normalised points")
            got = (f"; this model takes {cfg.point_features} extra channels, the input has {x.shape[-1] - 3}"
                   if x.ndim == 3 and x.shape[-1] != c else "")
            raise ValueError(f"PointA2J expects (B, {cfg.n_points}, {c}) {what}, got {tuple(x.shape)}{got}")
        inputs = x.float()
        x = inputs[..., :3].contiguous()
        b, n, _ = x.shape
        idx = knn(x, cfg.point_k)
        feats = [self.mlp(inputs)]
        for layer in self.edges:
            feats.append(layer(torch.cat([feats[-1], x], dim=-1), idx))
        local = torch.cat(feats, dim=-1)
        glob = self.global_mlp(local).amax(dim=1, keepdim=True).expand(b, n, -1)
        h = self.head(torch.cat([local, glob], dim=-1))
        j = cfg.num_joints
        logits = self.weight_out(h)
        offsets = self.offset_out(h).reshape(b, n, j, 3)
        return aggregate(logits, x * (cfg.input_size / 2), offsets)
