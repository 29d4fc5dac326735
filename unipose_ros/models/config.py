"""A2J model configuration: one typed dataclass for the three model kinds (loadable from YAML)."""
from __future__ import annotations

from dataclasses import dataclass, field

from unipose_ros.core.joints import joint_set as get_joint_set
from unipose_ros.models.backbone import ResNetConfig

#: Model kinds: input modality of the network.
KINDS: tuple[str, ...] = ("depth", "rgb", "pointcloud")


@dataclass(frozen=True)
class A2JConfig:
    """Everything :func:`unipose_ros.models.build_model` needs; stored inside every checkpoint.

    Attributes:
        kind: ``"depth"`` (normalised depth crop), ``"rgb"`` (colour crop) or ``"pointcloud"``
            (person points in the cube).
        joint_set: output joint set name (``"itop15"``).
        input_size: crop side S in pixels (depth / rgb); also sets the crop unit of the point model
            (points in normalised cube coordinates times S / 2 are crop units).
        n_points: points per person (point model).
        backbone: ResNet of the image models.
        anchor_stride: crop pixels between neighbouring in-plane anchors; must divide the head's
            stride (anchors per feature cell = (stride / anchor_stride) ** 2).
        head_stride: input pixels per cell of the heads' feature map; 0 = the backbone's output
            stride. A finer stride (e.g. 8 with output stride 16) adds an upsampling neck
            (``a2j.UpsampleNeck``) that merges the backbone stage at that stride, so the heads see
            a 16 x 16 map of a 128 px crop without running the deep stages at that size.
        depth_levels: depths of the 3D anchors of the colour model, as fractions of the cube side
            (crop units = level * input_size; -0.125 is 0.3 m in front of the centre with a 2.4 m cube).
        neck_channels: 1x1 convolution reducing the backbone features before the heads (0: none).
        head_channels: channels of the hidden 3x3 convolutions of each head.
        head_layers: hidden convolutions per head (each conv + batch norm + ReLU), then one output conv.
        point_widths: point model: the shared per-point MLP's width, then the width of each
            EdgeConv (kNN) layer.
        point_k: neighbours of each EdgeConv layer (kNN in xyz).
        point_global: width of the global (max-pooled) point feature.
        point_head_channels: hidden width of the per-point heads.
        point_features: point model: extra input channels per point after x, y, z (0: none; J,
            the number of joints, for the teacher keypoint channels of
            :func:`unipose_ros.core.keypoint_features.keypoint_point_features`). Checkpoints
            written before this field existed load with 0.
    """

    kind: str = "depth"
    joint_set: str = "itop15"
    input_size: int = 128
    n_points: int = 1024
    backbone: ResNetConfig = field(default_factory=ResNetConfig)
    anchor_stride: int = 4
    head_stride: int = 0
    depth_levels: tuple[float, ...] = (-0.125, 0.0, 0.125)
    neck_channels: int = 128
    head_channels: int = 96
    head_layers: int = 2
    point_widths: tuple[int, ...] = (64, 64, 128)
    point_k: int = 16
    point_global: int = 256
    point_head_channels: int = 128
    point_features: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"A2JConfig.kind must be one of {KINDS}, got {self.kind!r}")
        get_joint_set(self.joint_set)  # KeyError naming the known sets
        top = self.backbone.output_stride
        if self.head_stride and (self.head_stride > top or self.head_stride < 4 or top % self.head_stride):
            raise ValueError(f"A2JConfig.head_stride ({self.head_stride}) must be 0 or a stride of the backbone "
                             f"between 4 and its output stride {top}")
        if self.head_stride and self.head_stride != top and self.kind == "pointcloud":
            raise ValueError("A2JConfig.head_stride applies to the image models (depth, rgb), not 'pointcloud'")
        stride = self.stride
        if self.input_size <= 0 or self.input_size % top:
            raise ValueError(f"A2JConfig.input_size ({self.input_size}) must be a positive multiple of the backbone's "
                             f"output stride ({top})")
        if self.anchor_stride <= 0 or stride % self.anchor_stride:
            raise ValueError(f"A2JConfig.anchor_stride ({self.anchor_stride}) must divide the heads' stride ({stride})")
        if not self.depth_levels:
            raise ValueError("A2JConfig.depth_levels must not be empty")
        if len(self.point_widths) < 1 or min(self.point_widths) <= 0:
            raise ValueError(f"A2JConfig.point_widths must be positive widths, got {self.point_widths}")
        if self.point_k < 1 or self.point_k > self.n_points:
            raise ValueError(f"A2JConfig.point_k ({self.point_k}) must be in [1, n_points={self.n_points}]")
        if self.point_features < 0:
            raise ValueError(f"A2JConfig.point_features must be >= 0 extra channels per point, got {self.point_features}")
        if self.point_features and self.kind != "pointcloud":
            raise ValueError(f"A2JConfig.point_features ({self.point_features}) applies to kind 'pointcloud' only, "
                             f"not {self.kind!r}; set it to 0")
        if self.head_layers < 0 or self.head_channels <= 0 or self.neck_channels < 0:
            raise ValueError("A2JConfig: head_layers >= 0, head_channels > 0 and neck_channels >= 0 required")

    @property
    def num_joints(self) -> int:
        return len(get_joint_set(self.joint_set))

    @property
    def stride(self) -> int:
        """Input pixels per cell of the heads' feature map."""
        return self.head_stride or self.backbone.output_stride

    @property
    def per_cell(self) -> int:
        """In-plane anchors per feature cell along each axis."""
        return self.stride // self.anchor_stride

    @property
    def feature_size(self) -> int:
        """Side of the heads' feature map."""
        return self.input_size // self.stride

    @property
    def num_anchors(self) -> int:
        """Anchors per sample: 2D grid (depth), grid x depth levels (rgb), points (pointcloud)."""
        if self.kind == "pointcloud":
            return self.n_points
        grid = (self.feature_size * self.per_cell) ** 2
        return grid * len(self.depth_levels) if self.kind == "rgb" else grid

    @property
    def surround_dims(self) -> int:
        """Dimensions of the anchor surround loss: 2 for the in-plane anchors of the depth model, else 3."""
        return 2 if self.kind == "depth" else 3
