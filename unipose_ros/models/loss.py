"""The A2J training loss: joint regression plus the informative anchor surround term."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from unipose_ros.models.a2j import A2JOutput


def a2j_loss(out: A2JOutput, target: torch.Tensor, valid: torch.Tensor | None = None, alpha: float = 0.5,
             xy_beta: float = 1.0, depth_beta: float = 3.0, regression_weight: float = 3.0,
             surround_weight: float = 1.0, surround_dims: int = 2) -> dict[str, torch.Tensor]:
    """A2J loss (Xiong et al. 2019), as the paper intends it.

    With SmoothL1_b(e) = 0.5 e^2 / b for |e| < b, else |e| - 0.5 b, and errors in crop units:

    * regression, per joint: ``alpha * (SmoothL1_xy(dx) + SmoothL1_xy(dy)) + SmoothL1_depth(dz)``
      on ``out.joints`` (the official implementation adds the raw |dz| instead of the smoothed depth
      term; here the smoothed term is used: a unit depth error costs 1/6 with beta 3, not 1);
    * surround, per joint: ``sum over the first surround_dims dims of SmoothL1_1(anchor_joints - target)``
      (2 for the in-plane anchors of the depth model, 3 for 3D anchors and points);
    * each averaged over the valid joints of the batch; ``total = regression_weight * regression +
      surround_weight * surround``.

    Args:
        out: model output (joints, anchor_joints (B, J, 3)).
        target: (B, J, 3) ground truth, crop units.
        valid: (B, J) bool, joints that count (None: all).
    Returns:
        dict of scalar tensors ``total``, ``regression``, ``surround`` (0 with no valid joint).
    """
    joints = out.joints.float()
    target = target.to(device=joints.device, dtype=torch.float32)
    if target.shape != joints.shape:
        raise ValueError(f"a2j_loss: target shape {tuple(target.shape)} != prediction shape {tuple(joints.shape)}")
    if not 1 <= surround_dims <= 3:
        raise ValueError(f"a2j_loss: surround_dims must be 1, 2 or 3, got {surround_dims}")
    if valid is None:
        mask = torch.ones(joints.shape[:2], dtype=torch.float32, device=joints.device)
    else:
        if valid.shape != joints.shape[:2]:
            raise ValueError(f"a2j_loss: valid shape {tuple(valid.shape)} != (B, J) {tuple(joints.shape[:2])}")
        mask = valid.to(device=joints.device, dtype=torch.float32)
    # invalid joints may carry NaN targets: replace them before the loss so no NaN reaches the gradient
    target = torch.where(mask.bool().unsqueeze(-1), target, joints.detach())
    xy = F.smooth_l1_loss(joints[..., :2], target[..., :2], reduction="none", beta=xy_beta).sum(-1)
    z = F.smooth_l1_loss(joints[..., 2], target[..., 2], reduction="none", beta=depth_beta)
    regression_j = alpha * xy + z
    anchor_joints = out.anchor_joints.float()
    surround_j = F.smooth_l1_loss(anchor_joints[..., :surround_dims], target[..., :surround_dims], reduction="none",
                                  beta=1.0).sum(-1)
    count = mask.sum().clamp_min(1.0)
    regression = (regression_j * mask).sum() / count
    surround = (surround_j * mask).sum() / count
    total = regression_weight * regression + surround_weight * surround
    return {"total": total, "regression": regression, "surround": surround}
