"""The single constructor of the A2J models."""
from __future__ import annotations

from torch import nn

from unipose_ros.models.config import A2JConfig


def build_model(config: A2JConfig) -> nn.Module:
    """A new (randomly initialised) model for ``config.kind``: DepthA2J, RGBA2J or PointA2J.

    Every model has ``.config`` (the :class:`A2JConfig`) and forward(x) -> A2JOutput.
    """
    from unipose_ros.models.depth_a2j import DepthA2J
    from unipose_ros.models.point_a2j import PointA2J
    from unipose_ros.models.rgb_a2j import RGBA2J

    classes = {"depth": DepthA2J, "rgb": RGBA2J, "pointcloud": PointA2J}
    return classes[config.kind](config)
