"""A2J pose networks (depth, colour, point cloud): models, loss and self-describing checkpoints.

All positions are in **crop units** (:mod:`unipose_ros.core.crop`): for the image models (u, v)
crop pixels and d = (z - centre_z) / unit_m; for the point model metric offsets from the crop
centre / unit_m (x right, y down, z forward). ``unit_m = cube_m / size`` (18.75 mm by default).
J = number of joints of ``config.joint_set``, A = anchors per sample, S = ``config.input_size``.

Public API:

* :class:`A2JConfig` (kind "depth" | "rgb" | "pointcloud", joint_set, input_size, n_points,
  backbone :class:`ResNetConfig`, anchor_stride, depth_levels, neck/head sizes, point-net sizes);
  properties ``num_joints``, ``num_anchors``, ``surround_dims``. :data:`KINDS`.
* :func:`build_model` (config) -> nn.Module with ``.config``; ``forward(x) -> A2JOutput``:
  depth (B, 1, S, S) float normalised depth (``crop_depth``); rgb (B, 3, S, S) uint8 (``crop_rgb``
  transposed to channels-first; normalised inside); pointcloud (B, N, 3) float normalised cube
  coordinates (``crop_points``).
* :class:`A2JOutput` (float32 NamedTuple): joints (B, J, 3), anchor_joints (B, J, 3),
  weights (B, A, J) softmax over anchors, anchors (B, A, 3), spread (B, J) weighted RMS distance of
  the anchors' votes from the joint (crop units, no gradient; a confidence cue).
* :func:`aggregate` (logits (B, A, J), anchors (A, 3) | (B, A, 3), offsets (B, A, J, 3)) -> A2JOutput.
* :func:`a2j_loss` (out, target (B, J, 3) crop units, valid (B, J) bool | None, alpha=0.5,
  xy_beta=1.0, depth_beta=3.0, regression_weight=3.0, surround_weight=1.0, surround_dims=2)
  -> {"total", "regression", "surround"} scalars (use ``config.surround_dims``).
* :func:`save_checkpoint` (path, model, config, crop: CropConfig, provenance: dict) -> Path;
  :func:`load_checkpoint` (path, map_location="cpu", expect_kind=None, expect_joint_set=None,
  expect_input_size=None) -> :class:`LoadedModel` (model in eval mode, config, crop, provenance,
  path); :class:`CheckpointError` (ValueError) on a mismatch or a file that is not a checkpoint;
  :func:`default_checkpoint` (kind) -> Path of the bundled file (``unipose_ros/checkpoints/``).
* Anchors: :func:`anchor_grid` (feat_h, feat_w, stride, per_cell) -> (A, 2) crop-pixel (x, y);
  :func:`anchor_grid_3d` (..., depth_levels in crop units) -> (A * L, 3).
"""
from unipose_ros.models.a2j import A2JOutput, aggregate
from unipose_ros.models.anchors import anchor_grid, anchor_grid_3d
from unipose_ros.models.backbone import ResNet, ResNetConfig
from unipose_ros.models.build import build_model
from unipose_ros.models.checkpoint import (
    CHECKPOINT_DIR,
    CheckpointError,
    LoadedModel,
    default_checkpoint,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from unipose_ros.models.config import KINDS, A2JConfig
from unipose_ros.models.loss import a2j_loss

__all__ = [
    "A2JConfig", "A2JOutput", "CHECKPOINT_DIR", "CheckpointError", "KINDS", "LoadedModel", "ResNet", "ResNetConfig",
    "a2j_loss", "aggregate", "anchor_grid", "anchor_grid_3d", "build_model", "default_checkpoint",
    "load_checkpoint", "read_checkpoint", "save_checkpoint",
]
