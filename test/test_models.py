"""A2J models: anchors, aggregation, loss, model shapes and checkpoints (known answers and round trips)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from unipose_ros.core.config import from_dict
from unipose_ros.core.crop import CropConfig
from unipose_ros.core.joints import ITOP15
from unipose_ros.models import (
    KINDS,
    A2JConfig,
    A2JOutput,
    CheckpointError,
    ResNet,
    ResNetConfig,
    a2j_loss,
    aggregate,
    anchor_grid,
    anchor_grid_3d,
    build_model,
    default_checkpoint,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from unipose_ros.models.a2j import to_anchor_major
from unipose_ros.models.checkpoint import CHECKPOINT_DIR
from unipose_ros.models.point_a2j import knn, neighbour_max

J = len(ITOP15)


# ---------------------------------------------------------------- helpers
def small_config(kind: str, **kw) -> A2JConfig:
    """A narrow model of ``kind`` (fast tests; same code paths as the default sizes)."""
    base = dict(kind=kind, input_size=64, n_points=128, point_k=8, neck_channels=32, head_channels=32,
                backbone=ResNetConfig(widths=(16, 16, 32, 32), blocks=(1, 1, 1, 1), output_stride=8),
                point_widths=(16, 16, 32), point_global=32, point_head_channels=32)
    base.update(kw)
    return A2JConfig(**base)


def sample_inputs(cfg: A2JConfig, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = cfg.input_size
    if cfg.kind == "depth":
        return torch.rand(batch, 1, s, s, generator=g) * 2 - 1
    if cfg.kind == "rgb":
        return torch.randint(0, 256, (batch, 3, s, s), generator=g, dtype=torch.uint8)
    return torch.rand(batch, cfg.n_points, 3, generator=g) * 2 - 1


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give the output layers (initialised near zero) and batch norms non-trivial values, so that
    outputs depend clearly on the input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_bn = ".bn" in name and name.endswith("weight")
            if name.endswith("out.weight") or is_bn:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2 + (1.0 if is_bn else 0.0))
        for name, buf in model.named_buffers():
            if name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
    return model


class Fixed(nn.Module):
    """Returns a given tensor whatever its input (stands in for a head)."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], *self.value.shape[1:])


# ---------------------------------------------------------------- anchors
def test_anchor_grid_hand_positions_and_order():
    g = anchor_grid(1, 1, 16, 4)
    assert g.shape == (16, 2) and g.dtype == torch.float32
    assert g[:4].tolist() == [[2, 2], [6, 2], [10, 2], [14, 2]]          # row-major within the cell
    assert g[4].tolist() == [2, 6] and g[15].tolist() == [14, 14]
    g = anchor_grid(2, 3, 8, 2)                                             # cells row-major, then in-cell
    assert g.shape == (2 * 3 * 4, 2)
    # cell (i=1, j=2), ky=1, kx=0 -> ((1 * 3 + 2) * 2 + 1) * 2 + 0 = 22
    assert g[22].tolist() == [2 * 8 + 2, 8 + 6]
    assert g[4].tolist() == [8 + 2, 2]                                      # cell (0, 1), first anchor


def test_anchor_grid_3d_levels_innermost():
    g = anchor_grid_3d(1, 2, 4, 1, [-3.0, 0.0, 5.0])
    assert g.tolist() == [[2, 2, -3], [2, 2, 0], [2, 2, 5], [6, 2, -3], [6, 2, 0], [6, 2, 5]]


@pytest.mark.parametrize("head_stride", [0, 4])
def test_head_layout_matches_anchor_order_depth(head_stride):
    cfg = small_config("depth", head_stride=head_stride)   # 8x8 cells of 2x2 anchors, or 16x16 of 1 (upsampled)
    model = build_model(cfg).eval()
    f, pc = cfg.feature_size, cfg.per_cell
    i, jcol, ky, kx, joint = 5, 2, min(1, pc - 1), 0, 7
    logits = torch.zeros(1, pc * pc * J, f, f)
    logits[0, (ky * pc + kx) * J + joint, i, jcol] = 50.0
    model.weight_head = Fixed(logits)
    model.offset_head = Fixed(torch.zeros(1, pc * pc * J * 2, f, f))
    depth = torch.zeros(1, pc * pc * J, f, f)
    depth[0, (ky * pc + kx) * J + joint, i, jcol] = 9.0
    model.depth_head = Fixed(depth)
    with torch.no_grad():
        out = model(sample_inputs(cfg, 1))
    stride, step = cfg.stride, cfg.anchor_stride
    expected = [jcol * stride + (kx + 0.5) * step, i * stride + (ky + 0.5) * step, 9.0]
    assert out.joints[0, joint].tolist() == pytest.approx(expected, abs=1e-4)
    a = int(out.weights[0, :, joint].argmax())
    assert out.anchors[0, a].tolist() == pytest.approx(expected[:2] + [0.0])
    assert out.spread[0, joint] < 1e-3


def test_head_layout_matches_anchor_order_rgb():
    cfg = small_config("rgb", depth_levels=(-0.25, 0.0, 0.25))
    model = build_model(cfg).eval()
    f, pc, nl = cfg.feature_size, cfg.per_cell, 3
    i, jcol, ky, kx, lv, joint = 1, 6, 0, 1, 2, 3
    logits = torch.zeros(1, pc * pc * nl * J, f, f)
    logits[0, ((ky * pc + kx) * nl + lv) * J + joint, i, jcol] = 50.0
    model.weight_head = Fixed(logits)
    model.offset_head = Fixed(torch.zeros(1, pc * pc * nl * J * 3, f, f))
    with torch.no_grad():
        out = model(sample_inputs(cfg, 1))
    stride, step = cfg.backbone.output_stride, cfg.anchor_stride
    expected = [jcol * stride + (kx + 0.5) * step, i * stride + (ky + 0.5) * step, 0.25 * cfg.input_size]
    assert out.joints[0, joint].tolist() == pytest.approx(expected, abs=1e-4)


def test_to_anchor_major_rejects_wrong_channels():
    with pytest.raises(ValueError, match="channels"):
        to_anchor_major(torch.zeros(1, 10, 2, 2), 4, 3, 1)


# ---------------------------------------------------------------- aggregation
ANCHORS = torch.tensor([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 8.0, 2.0]])
OFFSETS = torch.tensor([[[[1.0, 0.0, 0.0], [0.0, 0.0, 3.0]],
                         [[1.0, 1.0, 0.0], [0.0, 0.0, 3.0]],
                         [[-2.0, 2.0, 1.0], [0.0, 0.0, 3.0]]]])             # (1, A=3, J=2, 3)


def test_aggregate_uniform_is_mean_of_votes():
    out = aggregate(torch.zeros(1, 3, 2), ANCHORS, OFFSETS)
    assert isinstance(out, A2JOutput)
    assert out.weights.shape == (1, 3, 2)
    assert out.weights.sum(1)[0].tolist() == pytest.approx([1.0, 1.0])
    # anchors mean (4/3, 8/3, 2/3); joint 0 offsets mean (0, 1, 1/3); joint 1 offsets (0, 0, 3)
    assert out.anchor_joints[0, 0].tolist() == pytest.approx([4 / 3, 8 / 3, 2 / 3])
    assert out.joints[0, 0].tolist() == pytest.approx([4 / 3, 8 / 3 + 1, 2 / 3 + 1 / 3])
    assert out.joints[0, 1].tolist() == pytest.approx([4 / 3, 8 / 3, 2 / 3 + 3])
    # joint 1 votes: (0,0,3), (4,0,3), (0,8,5) around (4/3, 8/3, 11/3): mean squared distance
    votes = ANCHORS + torch.tensor([0.0, 0.0, 3.0])
    ms = ((votes - out.joints[0, 1]) ** 2).sum(1).mean()
    assert float(out.spread[0, 1]) == pytest.approx(math.sqrt(float(ms)), rel=1e-5)


def test_aggregate_dominant_logit_picks_that_anchor():
    logits = torch.zeros(1, 3, 2)
    logits[0, 2, 0] = 100.0
    logits[0, 1, 1] = 100.0
    out = aggregate(logits, ANCHORS.unsqueeze(0), OFFSETS)                   # (B, A, 3) anchors too
    assert out.joints[0, 0].tolist() == pytest.approx([-2.0, 10.0, 3.0])
    assert out.joints[0, 1].tolist() == pytest.approx([4.0, 0.0, 3.0])
    assert out.anchor_joints[0, 0].tolist() == pytest.approx([0.0, 8.0, 2.0])
    assert out.spread.max() < 1e-3


def test_aggregate_is_float32_under_half_inputs():
    out = aggregate(torch.zeros(1, 3, 2, dtype=torch.float16), ANCHORS, OFFSETS.half())
    assert out.joints.dtype == torch.float32 and out.weights.dtype == torch.float32


def test_aggregate_rejects_bad_shapes():
    with pytest.raises(ValueError, match="offsets"):
        aggregate(torch.zeros(1, 3, 2), ANCHORS, torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="anchors"):
        aggregate(torch.zeros(1, 3, 2), ANCHORS[:2], OFFSETS)


# ---------------------------------------------------------------- point network pieces
def test_knn_matches_brute_force_in_both_modes():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(2, 50, 3, generator=g)
    brute = torch.cdist(pts.double(), pts.double()).argsort(dim=-1)[..., :4]
    for batched in (False, True):
        got = knn(pts, 4, batched=batched)
        assert got.shape == (2, 50, 4)
        assert torch.equal(got.sort(-1).values, brute.sort(-1).values)
    assert (knn(pts, 4)[..., 0] == torch.arange(50)).all()                  # each point is its own nearest


def test_neighbour_max_modes_agree_with_hand_case():
    feats = torch.tensor([[1.0, 5.0], [3.0, 2.0], [0.0, 9.0], [4.0, -1.0]])
    rows = torch.tensor([[0, 1], [1, 3], [2, 0], [3, 3]])
    want = torch.tensor([[3.0, 5.0], [4.0, 2.0], [1.0, 9.0], [4.0, -1.0]])
    for running in (False, True):
        assert torch.equal(neighbour_max(feats, rows, running=running), want)
    for running in (False, True):                                           # gradient to the arg-max rows
        leaf = feats.clone().requires_grad_(True)
        neighbour_max(leaf, rows, running=running).sum().backward()
        assert leaf.grad[:, 0].tolist() == [1.0, 1.0, 0.0, 2.0] and leaf.grad[:, 1].tolist() == [1.0, 1.0, 1.0, 1.0]


# ---------------------------------------------------------------- loss
def _out(joints: torch.Tensor, anchor_joints: torch.Tensor) -> A2JOutput:
    b, j, _ = joints.shape
    return A2JOutput(joints, anchor_joints, torch.full((b, 1, j), 1.0), torch.zeros(b, 1, 3), torch.zeros(b, j))


TARGET = torch.tensor([[[10.0, 20.0, 3.0], [30.0, 40.0, -5.0]]])


def test_loss_zero_at_target():
    loss = a2j_loss(_out(TARGET.clone(), TARGET.clone()), TARGET)
    assert {k: float(v) for k, v in loss.items()} == {"total": 0.0, "regression": 0.0, "surround": 0.0}


def test_loss_unit_error_in_x():
    joints = TARGET.clone()
    joints[0, 0, 0] += 1.0
    loss = a2j_loss(_out(joints, TARGET.clone()), TARGET)
    # joint 0: alpha * SmoothL1_1(1) = 0.5 * 0.5; mean over 2 joints; total = 3 * regression
    assert float(loss["regression"]) == pytest.approx(0.25 / 2)
    assert float(loss["surround"]) == 0.0
    assert float(loss["total"]) == pytest.approx(3 * 0.25 / 2)


def test_loss_depth_term_is_smoothed_not_raw_l1():
    joints = TARGET.clone()
    joints[0, 1, 2] -= 1.0
    loss = a2j_loss(_out(joints, TARGET.clone()), TARGET)
    # SmoothL1 with beta 3: 0.5 * 1^2 / 3 = 1/6 (the official code's raw |dz| would give 1)
    assert float(loss["regression"]) == pytest.approx((1 / 6) / 2)
    joints[0, 1, 2] = TARGET[0, 1, 2] + 5.0                                 # linear part: 5 - 1.5
    assert float(a2j_loss(_out(joints, TARGET.clone()), TARGET)["regression"]) == pytest.approx(3.5 / 2)


def test_loss_surround_term():
    anchor_joints = TARGET.clone()
    anchor_joints[0, 0] += torch.tensor([1.0, -2.0, 7.0])
    out = _out(TARGET.clone(), anchor_joints)
    # dims 2: SmoothL1(1) + SmoothL1(2) = 0.5 + 1.5; the depth error is ignored
    loss = a2j_loss(out, TARGET, surround_dims=2)
    assert float(loss["surround"]) == pytest.approx(2.0 / 2)
    assert float(loss["total"]) == pytest.approx(1.0)
    # dims 3 adds SmoothL1(7) = 6.5
    assert float(a2j_loss(out, TARGET, surround_dims=3)["surround"]) == pytest.approx(8.5 / 2)
    assert float(a2j_loss(out, TARGET, surround_weight=0.5)["total"]) == pytest.approx(0.5)


def test_loss_valid_mask_excludes_joints():
    target = TARGET.clone()
    target[0, 1] = float("nan")                                             # unlabelled joint
    joints = TARGET.clone().requires_grad_(True)
    pred = joints + torch.tensor([[[1.0, 0.0, 0.0], [50.0, 50.0, 50.0]]])
    valid = torch.tensor([[True, False]])
    loss = a2j_loss(_out(pred, TARGET.clone()), target, valid)
    assert loss["regression"].item() == pytest.approx(0.25)                 # joint 0 alone, mean over 1
    loss["total"].backward()
    assert torch.isfinite(joints.grad).all() and joints.grad[0, 1].abs().sum() == 0
    none = a2j_loss(_out(pred, TARGET.clone()), target, torch.zeros(1, 2, dtype=torch.bool))
    assert none["total"].item() == 0.0


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("kind", KINDS)
def test_output_shapes(kind):
    cfg = small_config(kind)
    out = build_model(cfg).eval()(sample_inputs(cfg, 2))
    a = cfg.num_anchors
    assert out.joints.shape == (2, J, 3) and out.anchor_joints.shape == (2, J, 3)
    assert out.weights.shape == (2, a, J) and out.anchors.shape == (2, a, 3) and out.spread.shape == (2, J)
    assert torch.allclose(out.weights.sum(1), torch.ones(2, J))


def test_default_sizes_anchor_counts():
    assert A2JConfig(kind="depth").num_anchors == 1024                     # 16x16 cells x 2x2
    assert A2JConfig(kind="rgb").num_anchors == 3 * 1024
    assert A2JConfig(kind="pointcloud").num_anchors == 1024
    assert A2JConfig().surround_dims == 2 and A2JConfig(kind="rgb").surround_dims == 3
    for kind in KINDS:                                                      # the default sizes run
        cfg = A2JConfig(kind=kind)
        with torch.no_grad():
            out = build_model(cfg).eval()(sample_inputs(cfg, 1))
        assert out.weights.shape == (1, cfg.num_anchors, J) and torch.isfinite(out.joints).all()


@pytest.mark.parametrize("kind", KINDS)
def test_batched_equals_single(kind):
    cfg = small_config(kind)
    model = randomised(build_model(cfg)).eval()
    x = sample_inputs(cfg, 3, seed=1)
    with torch.no_grad():
        batch = model(x)
        singles = [model(x[i:i + 1]) for i in range(3)]
    for i, one in enumerate(singles):
        for got, want in zip(batch, one):
            assert torch.allclose(got[i], want[0], atol=1e-5, rtol=1e-5)
    # the outputs depend on the input (otherwise the comparison above proves nothing)
    assert (batch.joints[0] - batch.joints[1]).abs().max() > 1e-2


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_finite(kind):
    cfg = small_config(kind)
    model = build_model(cfg).train()
    x = sample_inputs(cfg, 2)
    out = model(x)
    target = out.joints.detach() + torch.randn(2, J, 3) * 5
    loss = a2j_loss(out, target, surround_dims=cfg.surround_dims)["total"]
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_bf16_autocast_gives_float32_outputs():
    cfg = small_config("depth")
    model = build_model(cfg).eval()
    x = sample_inputs(cfg, 1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.joints.dtype == torch.float32 and torch.isfinite(out.joints).all()
    assert torch.allclose(out.weights.sum(1), torch.ones(1, J), atol=1e-4)


def test_wrong_input_shape_is_refused():
    cfg = small_config("depth")
    with pytest.raises(ValueError, match=r"\(B, 1, 64, 64\)"):
        build_model(cfg)(torch.zeros(1, 1, 32, 32))


def test_upsampling_neck_gives_the_finer_map_and_learns_from_the_fine_stage():
    cfg = small_config("depth", head_stride=4)
    assert (cfg.feature_size, cfg.per_cell, cfg.num_anchors) == (16, 1, 256)
    model = build_model(cfg)
    out = model(sample_inputs(cfg, 2))
    assert out.joints.shape == (2, J, 3) and out.anchors.shape == (2, 256, 3)
    out.joints.square().sum().backward()
    # the lateral path of the stride-4 stage carries gradient (the fine features are used)
    assert model.neck.lateral[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="head_stride"):
        small_config("depth", head_stride=16)                # coarser than the backbone's output stride
    with pytest.raises(ValueError, match="head_stride"):
        small_config("pointcloud", head_stride=4)
    # rgb uses the same neck
    rgb = small_config("rgb", head_stride=4)
    assert build_model(rgb)(sample_inputs(rgb, 1)).anchors.shape[1] == 16 * 16 * len(rgb.depth_levels)


def test_resnet_output_stride():
    x = torch.zeros(1, 1, 64, 64)
    for os_ in (8, 16):
        net = ResNet(ResNetConfig(widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1), output_stride=os_), 1).eval()
        assert net(x).shape == (1, 16, 64 // os_, 64 // os_)
    with pytest.raises(ValueError, match="output_stride"):
        ResNetConfig(output_stride=12)


def test_config_from_dict_and_validation():
    cfg = from_dict(A2JConfig, {"kind": "rgb", "backbone": {"widths": [16, 32, 64, 128]}, "depth_levels": [-0.1, 0.1]})
    assert cfg.backbone.widths == (16, 32, 64, 128) and cfg.depth_levels == (-0.1, 0.1)
    with pytest.raises(ValueError, match="kind"):
        A2JConfig(kind="lidar")
    with pytest.raises(ValueError, match="anchor_stride"):
        A2JConfig(anchor_stride=3)
    with pytest.raises(KeyError, match="unknown joint set"):
        A2JConfig(joint_set="nope")


# ---------------------------------------------------------------- checkpoints
def _saved(tmp_path, kind: str = "depth"):
    cfg = small_config(kind)
    model = randomised(build_model(cfg)).eval()
    path = save_checkpoint(tmp_path / f"{kind}.pt", model, cfg, CropConfig(size=cfg.input_size, cube_m=2.0),
                           {"data": "unit test", "epochs": 0})
    return cfg, model, path


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip(tmp_path, kind):
    cfg, model, path = _saved(tmp_path, kind)
    loaded = load_checkpoint(path, expect_kind=kind, expect_joint_set="itop15", expect_input_size=cfg.input_size)
    assert loaded.config == cfg and loaded.crop == CropConfig(size=cfg.input_size, cube_m=2.0)
    assert loaded.provenance["data"] == "unit test" and "saved_utc" in loaded.provenance
    assert not loaded.model.training and loaded.model.config == cfg
    x = sample_inputs(cfg, 2, seed=3)
    with torch.no_grad():
        for got, want in zip(loaded.model(x), model(x)):
            assert torch.equal(got, want)
    blob = read_checkpoint(path)
    assert blob["joint_names"] == list(ITOP15.joints) and blob["input_size"] == cfg.input_size


def test_checkpoint_mismatch_messages(tmp_path):
    cfg, _, path = _saved(tmp_path)
    with pytest.raises(CheckpointError, match="coco17") as e:
        load_checkpoint(path, expect_joint_set="coco17")
    assert "itop15" in str(e.value)
    with pytest.raises(CheckpointError, match="128") as e:
        load_checkpoint(path, expect_input_size=128)
    assert "64" in str(e.value)
    with pytest.raises(CheckpointError, match="'rgb'") as e:
        load_checkpoint(path, expect_kind="rgb")
    assert "'depth'" in str(e.value)


def test_checkpoint_refuses_unknown_or_tampered_files(tmp_path):
    cfg, model, path = _saved(tmp_path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(garbage)
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)
    with pytest.raises(CheckpointError, match="unknown format"):
        load_checkpoint(bare)
    blob = torch.load(path, weights_only=True)
    newer = tmp_path / "newer.pt"
    torch.save({**blob, "version": 99}, newer)
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(newer)
    cut = tmp_path / "cut.pt"
    state = dict(blob["state_dict"])
    state.pop(next(iter(state)))
    torch.save({**blob, "state_dict": state}, cut)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_checkpoint(cut)
    renamed = tmp_path / "renamed.pt"
    torch.save({**blob, "joint_names": list(reversed(blob["joint_names"]))}, renamed)
    with pytest.raises(CheckpointError, match="joint order"):
        load_checkpoint(renamed)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "unipose_ros.a2j", "object": Fixed(torch.zeros(1))}, pickled)
    with pytest.raises(CheckpointError, match="cannot be read"):             # weights_only refuses code
        load_checkpoint(pickled)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_save_refuses_non_plain_provenance(tmp_path):
    cfg = small_config("pointcloud")
    with pytest.raises(ValueError, match="provenance"):
        save_checkpoint(tmp_path / "x.pt", build_model(cfg), cfg, CropConfig(size=64), {"bad": object()})


def test_default_checkpoint_paths():
    assert default_checkpoint("depth") == CHECKPOINT_DIR / "depth_a2j.pt"
    assert default_checkpoint("pointcloud").name == "pointcloud_a2j.pt"
    assert CHECKPOINT_DIR.name == "checkpoints" and CHECKPOINT_DIR.parent.name == "unipose_ros"
    with pytest.raises(CheckpointError, match="kind"):
        default_checkpoint("lidar")


def test_config_scalars_follow_the_dataclass_types():
    # YAML 1.1 reads 1e9 as a string and 5 as an int: both become the float the dataclass asks for.
    from unipose_training.supervised.train import SupervisedConfig

    cfg = from_dict(SupervisedConfig, {"lr": "1e-3", "epochs": 5.0, "batch_size": "16"})
    assert cfg.lr == pytest.approx(1e-3) and isinstance(cfg.lr, float)
    assert cfg.epochs == 5 and isinstance(cfg.epochs, int) and cfg.batch_size == 16
    cfg = from_dict(A2JConfig, {"depth_levels": [0, "-1e-1"]})
    assert cfg.depth_levels == (0.0, -0.1)
    with pytest.raises(ValueError, match=r"config\.lr: expected a number, got 'fast'"):
        from_dict(SupervisedConfig, {"lr": "fast"})
    with pytest.raises(ValueError, match=r"config\.epochs: expected an integer, got 2\.5"):
        from_dict(SupervisedConfig, {"epochs": 2.5})


def test_every_shipped_config_loads():
    from unipose_ros.cli.demo import DemoConfig
    from unipose_ros.core.config import load_yaml
    from unipose_ros.estimators.baseline import BaselineConfig
    from unipose_ros.estimators.fused import FusedConfig
    from unipose_ros.estimators.learned import LearnedConfig
    from unipose_training.datasets.splits import SplitsConfig
    from unipose_training.detection.train import DetectorTrainConfig
    from unipose_training.supervised.train import SupervisedConfig
    from unipose_training.weak.pipeline import PipelineConfig

    root = Path(__file__).resolve().parents[1] / "config"
    classes = {"baseline.yaml": BaselineConfig, "learned.yaml": LearnedConfig, "fused.yaml": FusedConfig,
               "demo.yaml": DemoConfig, "weak/recording_300.yaml": SplitsConfig}
    classes.update({f"train/{p.name}": DetectorTrainConfig if p.name.startswith("person_detector") else SupervisedConfig
                    for p in (root / "train").glob("*.yaml")})
    classes.update({"learned_flip.yaml": LearnedConfig, "learned_noflip.yaml": LearnedConfig})
    classes.update({f"splits/{p.name}": SplitsConfig for p in (root / "splits").glob("*.yaml")})
    classes.update({f"weak/{p.name}": PipelineConfig for p in (root / "weak").glob("*.yaml")
                    if p.name != "recording_300.yaml"})
    assert len(classes) >= 13
    for name, cls in classes.items():
        assert isinstance(load_yaml(cls, root / name), cls), name
