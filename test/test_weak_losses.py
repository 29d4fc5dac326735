"""Weak losses: zero at consistent solutions, hand-computed values, finite gradients on degenerate
inputs, switches and reductions. Tiny tensors, CPU, float64 where values are compared."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from unipose_ros.core.errors import InputError  # noqa: E402
from unipose_ros.core.joints import COCO17, ITOP15  # noqa: E402
from unipose_training.weak import losses as wl  # noqa: E402

F64 = torch.float64
K = torch.tensor([100.0, 120.0, 160.0, 120.0], dtype=F64)  # fx, fy, cx, cy


def _project(joints: torch.Tensor, k: torch.Tensor = K) -> torch.Tensor:
    x, y, z = joints.unbind(-1)
    return torch.stack((k[0] * x / z + k[2], k[1] * y / z + k[3]), -1)


def _skeleton() -> torch.Tensor:
    """(15, 3) ITOP-15 standing pose 3 m in front of the camera, exactly left/right symmetric."""
    right = {"head": (0.0, -0.6), "neck": (0.0, -0.4), "right_shoulder": (-0.17, -0.4), "right_elbow": (-0.2, -0.1),
             "right_hand": (-0.22, 0.15), "torso": (0.0, -0.15), "right_hip": (-0.09, 0.1),
             "right_knee": (-0.1, 0.5), "right_foot": (-0.1, 0.9)}
    out = torch.zeros(len(ITOP15), 3, dtype=F64)
    for i, name in enumerate(ITOP15.joints):
        x, y = right.get(name.replace("left_", "right_"))
        depth = 3.0 + 0.01 * ITOP15.index(name.replace("left_", "right_"))  # same for both sides
        out[i] = torch.tensor([-x if name.startswith("left_") else x, y, depth], dtype=F64)
    return out


def _batch(seq: torch.Tensor) -> dict[str, torch.Tensor]:
    b, t, j, _ = seq.shape
    return {"uv": _project(seq), "conf": torch.ones(b, t, j, dtype=F64), "intrinsics": K.expand(b, t, 4).clone(),
            # each joint exactly its body-depth prior behind the visible surface
            "surface_z": seq[..., 2] - torch.as_tensor(wl.surface_offsets(ITOP15), dtype=F64),
            "valid": torch.ones(b, t, dtype=torch.bool)}


# ------------------------------------------------------------------------------------ ray loss


def test_ray_loss_zero_on_rays_and_scale_free():
    joints = torch.rand(2, 15, 3, dtype=F64) + torch.tensor([-0.5, -0.5, 1.5], dtype=F64)
    uv, conf = _project(joints), torch.rand(2, 15, dtype=F64) + 0.1
    assert wl.ray_loss(joints, uv, conf, K).item() == pytest.approx(0.0, abs=1e-12)
    off = joints + torch.tensor([0.05, 0.0, 0.0], dtype=F64)
    # the tangent of an angle does not change when the joints slide along their rays together
    assert wl.ray_loss(3.0 * off, uv, conf, K).item() == pytest.approx(wl.ray_loss(off, uv, conf, K).item(), rel=1e-12)


def test_ray_loss_hand_computed():
    k = torch.tensor([100.0, 100.0, 0.0, 0.0], dtype=F64)
    joints = torch.tensor([[0.3, 0.4, 2.0],    # ray (0, 0, 1): along 2, perpendicular 0.5 -> d = 0.25
                           [1.0, 0.0, 2.0],    # uv (50, 0): ray (0.5, 0, 1), the joint is on it -> d = 0
                           [5.0, 5.0, 1.0],    # NaN keypoint: ignored
                           [5.0, 5.0, 1.0],    # zero confidence: ignored
                           [0.0, 0.0, -1.0]],  # behind the camera on the ray's backward line
                          dtype=F64)
    uv = torch.tensor([[0.0, 0.0], [50.0, 0.0], [math.nan, 0.0], [0.0, 0.0], [0.0, 0.0]], dtype=F64)
    conf = torch.tensor([1.0, 3.0, 1.0, 0.0, 0.0], dtype=F64)
    # (1 * 0.25 + 3 * 0) / (1 + 3) = 0.0625
    assert wl.ray_loss(joints, uv, conf, k).item() == pytest.approx(0.0625, abs=1e-12)
    per = wl.ray_loss(joints, uv, conf, k, reduction="none")
    assert per.shape == (5,)
    assert per[:4].tolist() == pytest.approx([0.25, 0.0, 0.0, 0.0], abs=1e-12)
    assert per[4].item() == 0.0  # zero confidence: not counted
    # counted, the joint behind the camera is measured to the ray's start 1 mm out: (1.001) / 0.001
    conf[4] = 1.0
    assert wl.ray_loss(joints, uv, conf, k, reduction="none")[4].item() == pytest.approx(1001.0, rel=1e-9)


def test_ray_loss_gradients_finite_and_gradcheck():
    joints = torch.tensor([[0.1, 0.2, 2.0], [0.0, 0.0, 0.0], [0.3, 0.0, 1.0]], dtype=F64, requires_grad=True)
    uv = torch.tensor([[math.nan, math.inf], [160.0, 120.0], [10.0, 10.0]], dtype=F64)
    conf = torch.tensor([1.0, 1.0, 0.0], dtype=F64)
    loss = wl.ray_loss(joints, uv, conf, K)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(joints.grad).all()
    assert joints.grad[0].abs().sum() == 0 and joints.grad[2].abs().sum() == 0  # not counted -> no gradient
    x = (torch.rand(4, 3, dtype=F64) + torch.tensor([0.0, 0.0, 1.0], dtype=F64)).requires_grad_()
    uv2, c2 = torch.rand(4, 2, dtype=F64) * 200, torch.rand(4, dtype=F64) + 0.1
    assert torch.autograd.gradcheck(lambda j: wl.ray_loss(j, uv2, c2, K), (x,))


def test_ray_loss_refuses_bad_shapes():
    with pytest.raises(InputError, match="uv"):
        wl.ray_loss(torch.zeros(2, 15, 3), torch.zeros(2, 14, 2), torch.ones(2, 15), torch.ones(4))
    with pytest.raises(InputError, match="reduction"):
        wl.ray_loss(torch.zeros(15, 3), torch.zeros(15, 2), torch.ones(15), torch.ones(4), reduction="sum")


# ---------------------------------------------------------------------------- body priors


def test_bone_length_loss_hand_computed_and_zero_length_gradient():
    joints = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.3], [0.4, 0.0, 0.3], [0.0, 0.0, 0.0]], dtype=F64,
                          requires_grad=True)
    bones = [(0, 1), (1, 2)]  # lengths 0.3 and 0.4
    # |0.3 - 0.25| = 0.05, |0.4 - 0.5| = 0.1 -> mean 0.075
    assert wl.bone_length_loss(joints, bones, [0.25, 0.5]).item() == pytest.approx(0.075, abs=1e-12)
    assert wl.bone_length_loss(joints, bones, [0.3, 0.4]).item() == pytest.approx(0.0, abs=1e-12)
    per = wl.bone_length_loss(joints.expand(2, 4, 3), bones, torch.tensor([[0.25, 0.5], [0.3, 0.4]], dtype=F64),
                              reduction="none")
    assert per.shape == (2, 2) and per.flatten().tolist() == pytest.approx([0.05, 0.1, 0.0, 0.0], abs=1e-12)
    loss = wl.bone_length_loss(joints, [(0, 3)], [0.2])  # zero-length bone: |0 - 0.2| = 0.2
    loss.backward()
    assert loss.item() == pytest.approx(0.2) and torch.isfinite(joints.grad).all()
    with pytest.raises(InputError, match="broadcast"):
        wl.bone_length_loss(joints, bones, [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="outside"):
        wl.bone_length_loss(joints, [(0, 4)], [0.1])


def test_symmetry_loss():
    joints = torch.tensor([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [-0.6, 0.0, 0.0], [-0.3, 0.0, 0.0]], dtype=F64)
    pairs = [[[0, 1], [0, 2]], [[0, 1], [0, 3]]]
    # left 0.3 vs right 0.6: (0.5 - 1)^2 = 0.25; left 0.3 vs right 0.3: 0 -> mean 0.125
    assert wl.symmetry_loss(joints, pairs).item() == pytest.approx(0.125, abs=1e-12)
    assert wl.symmetry_loss(joints, pairs, reduction="none").tolist() == pytest.approx([0.25, 0.0], abs=1e-12)
    sk = _skeleton()
    assert wl.symmetry_loss(sk, wl.symmetric_bone_pairs(ITOP15)).item() == pytest.approx(0.0, abs=1e-12)
    zero = torch.zeros(4, 3, dtype=F64, requires_grad=True)  # every bone of length 0
    loss = wl.symmetry_loss(zero, pairs)
    loss.backward()
    assert loss.item() == pytest.approx(1.0) and torch.isfinite(zero.grad).all()  # (0 / 1e-3 - 1)^2


def test_symmetric_bone_pairs_itop15():
    pairs = wl.symmetric_bone_pairs(ITOP15)
    assert pairs.shape == (6, 2, 2)
    names = {(ITOP15.joints[l_[1]], ITOP15.joints[r_[1]]) for l_, r_ in pairs}
    assert names == {(f"left_{n}", f"right_{n}") for n in ("shoulder", "elbow", "hand", "hip", "knee", "foot")}


# ---------------------------------------------------------------------------- temporal terms


def test_temporal_smoothness_zero_for_linear_motion_and_hand_value():
    x0, v = torch.rand(2, 1, 15, 3, dtype=F64), torch.rand(2, 1, 15, 3, dtype=F64)
    seq = x0 + v * torch.arange(5, dtype=F64).view(1, 5, 1, 1)
    assert wl.temporal_smoothness_loss(seq).item() == pytest.approx(0.0, abs=1e-12)
    # one joint 0 -> 1 -> 0 in x: |1 - 0| = 1; a static joint: 0 -> mean 0.5
    seq = torch.zeros(1, 3, 2, 3, dtype=F64)
    seq[0, 1, 0, 0] = 1.0
    assert wl.temporal_smoothness_loss(seq).item() == pytest.approx(0.5)
    assert wl.temporal_smoothness_loss(seq, reduction="none").shape == (1, 1, 2)


def test_temporal_smoothness_valid_mask():
    seq = torch.zeros(1, 4, 1, 3, dtype=F64)
    seq[0, 1, 0, 0] = 1.0   # triple (0,1,2): |1 - 0| = 1
    seq[0, 3, 0, 0] = 10.0  # triple (1,2,3): |0 - (1 + 10) / 2| = 5.5
    assert wl.temporal_smoothness_loss(seq).item() == pytest.approx(3.25)  # (1 + 5.5) / 2
    valid = torch.tensor([[True, True, True, False]])  # frame 3 padded: only the first triple counts
    assert wl.temporal_smoothness_loss(seq, valid).item() == pytest.approx(1.0)
    assert wl.temporal_smoothness_loss(seq, valid, reduction="none")[0, :, 0].tolist() == pytest.approx([1.0, 0.0])
    none = torch.tensor([[True, False, True, True]])
    seq.requires_grad_()
    loss = wl.temporal_smoothness_loss(seq, none)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(seq.grad).all()
    assert wl.temporal_smoothness_loss(torch.zeros(2, 2, 15, 3)).item() == 0.0  # T < 3: no triple


def test_bone_consistency():
    seq = torch.zeros(1, 3, 3, 3, dtype=F64)
    seq[0, :, 1, 0] = torch.tensor([1.0, 3.0, 100.0])  # bone (0, 1) lengths 1, 3, 100
    seq[0, :, 2, 1] = 0.5                               # bone (0, 2) constant 0.5
    bones = [(0, 1), (0, 2)]
    valid = torch.tensor([[True, True, False]])
    # lengths 1 and 3 over the valid frames: mean 2, variance ((1-2)^2 + (3-2)^2) / 2 = 1; other bone 0 -> 0.5
    assert wl.bone_consistency_loss(seq, bones, valid).item() == pytest.approx(0.5)
    assert wl.bone_consistency_loss(seq, bones, valid, reduction="none").flatten().tolist() == pytest.approx([1.0, 0.0])
    rigid = _skeleton().expand(2, 4, 15, 3) + torch.rand(2, 4, 1, 3, dtype=F64)  # translated rigid body
    assert wl.bone_consistency_loss(rigid, ITOP15.tree_bones).item() == pytest.approx(0.0, abs=1e-12)
    one = torch.tensor([[True, False, False]])  # one valid frame: the window does not count
    assert wl.bone_consistency_loss(seq, bones, one).item() == 0.0
    z = torch.zeros(1, 2, 3, 3, requires_grad=True)  # zero-length bones
    loss = wl.bone_consistency_loss(z, bones)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(z.grad).all()


# ------------------------------------------------------------------------------- surface


def test_surface_loss_hand_computed():
    joints = torch.zeros(4, 3, dtype=F64)
    joints[:, 2] = torch.tensor([1.9, 2.1, 2.5, 2.0], dtype=F64)
    surface = torch.tensor([2.0, 2.0, 2.0, math.nan], dtype=F64)
    conf = torch.tensor([1.0, 1.0, 2.0, 1.0], dtype=F64)
    # in front: 2 - 0.02 - 1.9 = 0.08; inside: 0; too deep: 2.5 - 2 - 0.25 = 0.25; NaN surface: ignored
    # (1 * 0.08 + 1 * 0 + 2 * 0.25) / (1 + 1 + 2) = 0.145
    assert wl.surface_loss(joints, surface, conf).item() == pytest.approx(0.145, abs=1e-12)
    assert wl.surface_loss(joints, surface, conf, reduction="none").tolist() == pytest.approx([0.08, 0, 0.25, 0])
    joints.requires_grad_()
    loss = wl.surface_loss(joints, torch.full((4,), math.nan, dtype=F64), conf)
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(joints.grad).all()


# --------------------------------------------------------------------------- cross-modal


def test_cross_modal_gradient_only_into_less_confident_side():
    a = torch.zeros(2, 3, dtype=F64, requires_grad=True)
    b = torch.tensor([[0.3, 0.4, 0.0], [1.0, 0.0, 0.0]], dtype=F64, requires_grad=True)
    conf_a, conf_b = torch.tensor([0.2, 0.5], dtype=F64), torch.tensor([0.8, 0.5], dtype=F64)
    # joint 0: relu(0.8 - 0.2) * 0.5 = 0.3; joint 1: equally sure -> 0; mean 0.15
    loss = wl.cross_modal_agreement_loss(a, b, conf_a, conf_b)
    assert loss.item() == pytest.approx(0.15)
    loss.backward()
    # d/da of 0.6 * |a - b| / 2 joints = 0.3 * (a - b) / |a - b| = 0.3 * (-0.6, -0.8, 0)
    assert a.grad[0].tolist() == pytest.approx([-0.18, -0.24, 0.0])
    assert b.grad.abs().sum().item() == 0.0 and a.grad[1].abs().sum().item() == 0.0
    per = wl.cross_modal_agreement_loss(a, b, torch.tensor([math.nan, 0.5]), conf_b, reduction="none")
    assert per.shape == (2,) and per.tolist() == [0.0, 0.0]


# ------------------------------------------------------------------------------ weak_loss


def test_weak_loss_zero_at_consistent_solution():
    sk = _skeleton()
    seq = sk + torch.tensor([0.02, 0.0, 0.01], dtype=F64) * torch.arange(4, dtype=F64).view(4, 1, 1)
    seq = seq.unsqueeze(0).repeat(2, 1, 1, 1)  # (2, 4, 15, 3) rigid body in linear motion
    ref = wl.bone_lengths(sk, ITOP15.tree_bones)
    other = wl.CrossModalInput(joints=seq.clone(), conf=torch.rand(2, 4, 15, dtype=F64),
                               own_conf=torch.rand(2, 4, 15, dtype=F64))
    out = wl.weak_loss(seq, _batch(seq), ITOP15, wl.WeakLossConfig(), ref, other=other)
    assert set(out) == set(wl.TERMS) | {"total"}
    for name, value in out.items():
        assert value.dim() == 0 and value.item() == pytest.approx(0.0, abs=1e-10), name


def test_weak_loss_total_weights_and_switches():
    torch.manual_seed(0)
    seq = (_skeleton() + 0.05 * torch.randn(2, 3, 15, 3, dtype=F64)).requires_grad_()
    batch = _batch(_skeleton().expand(2, 3, 15, 3))
    prior = wl.bone_prior(ITOP15)
    cfg = wl.WeakLossConfig()
    out = wl.weak_loss(seq, batch, ITOP15, cfg, prior)
    assert "cross_modal" not in out  # no other modality given
    expected = sum(w * out[t] for t, w in cfg.enabled().items() if t in out)
    assert out["total"].item() == pytest.approx(expected.item(), rel=1e-12)
    assert all(out[t].item() > 0 for t in ("ray", "bone", "symmetry", "temporal", "consistency"))
    off = wl.weak_loss(seq, batch, ITOP15, cfg.without("ray"), prior)
    assert "ray" not in off
    assert off["total"].item() == pytest.approx(out["total"].item() - 10.0 * out["ray"].item(), rel=1e-9)
    out["total"].backward()
    assert torch.isfinite(seq.grad).all() and seq.grad.abs().sum() > 0
    with pytest.raises(InputError, match="unknown weak loss term"):
        cfg.without("rays")
    with pytest.raises(InputError, match="surface_z"):
        wl.weak_loss(seq, {k: v for k, v in batch.items() if k != "surface_z"}, ITOP15, cfg, prior)
    only_bone = wl.WeakLossConfig(use_ray=False, use_symmetry=False, use_temporal=False, use_consistency=False,
                                  use_surface=False, use_cross_modal=False)
    assert set(wl.weak_loss(seq, {}, ITOP15, only_bone, prior)) == {"bone", "total"}


def test_weak_loss_degenerate_inputs_give_finite_gradients():
    seq = torch.zeros(2, 3, 15, 3, dtype=F64)
    seq[1] = _skeleton()
    seq.requires_grad_()  # sequence 0: every joint at the camera centre, all bones of length 0
    batch = _batch(_skeleton().expand(2, 3, 15, 3))
    batch["uv"][0, 0] = math.nan
    batch["conf"][0, 1] = 0.0
    batch["surface_z"][1, :, :5] = math.nan
    batch["valid"][1, 2] = False
    batch["uv"][1, 2] = math.nan  # the padded frame carries garbage
    batch["intrinsics"][1, 2] = math.nan
    other = wl.CrossModalInput(joints=torch.full_like(seq, math.nan).detach(), conf=torch.ones(2, 3, 15),
                               own_conf=torch.zeros(2, 3, 15))
    out = wl.weak_loss(seq, batch, ITOP15, wl.WeakLossConfig(), wl.bone_prior(ITOP15), other=other)
    out["total"].backward()
    assert all(torch.isfinite(v) for v in out.values()) and torch.isfinite(seq.grad).all()
    assert out["cross_modal"].item() == 0.0


def test_weak_loss_single_frame_and_per_sequence_reference():
    seq = (_skeleton() + 0.01).expand(3, 1, 15, 3).clone().requires_grad_()
    ref = torch.as_tensor(wl.bone_prior(ITOP15)).expand(3, 14)
    out = wl.weak_loss(seq, _batch(seq.detach()), ITOP15, wl.WeakLossConfig(), ref)
    assert out["temporal"].item() == 0.0 and out["consistency"].item() == 0.0
    out["total"].backward()
    assert torch.isfinite(seq.grad).all()
    with pytest.raises(InputError, match="tree bones"):
        wl.weak_loss(seq, _batch(seq.detach()), ITOP15, wl.WeakLossConfig(), np.ones(13))
    with pytest.raises(InputError, match=r"\(B, T, 15, 3\)"):
        wl.weak_loss(seq[..., :14, :], {}, ITOP15, wl.WeakLossConfig(), ref)


def test_weak_loss_descends_to_the_rays():
    """A few gradient steps from a displaced pose bring the joints towards their keypoint rays."""
    target = _skeleton().expand(1, 3, 15, 3)
    batch = _batch(target)
    seq = (target + torch.tensor([0.3, -0.2, 0.4], dtype=F64)).clone().requires_grad_()
    cfg = wl.WeakLossConfig(use_surface=False)
    ref = wl.bone_lengths(_skeleton(), ITOP15.tree_bones)
    opt = torch.optim.Adam([seq], lr=0.01)
    first = wl.weak_loss(seq, batch, ITOP15, cfg, ref)["ray"].item()
    for _ in range(60):
        opt.zero_grad()
        wl.weak_loss(seq, batch, ITOP15, cfg, ref)["total"].backward()
        opt.step()
    assert wl.weak_loss(seq, batch, ITOP15, cfg, ref)["ray"].item() < 0.2 * first


# ------------------------------------------------------------------------------ bone prior


def test_bone_prior_itop15():
    prior = wl.bone_prior(ITOP15, height_m=1.70)
    assert prior.shape == (len(ITOP15.tree_bones),) == (14,)
    names = [(ITOP15.joints[p], ITOP15.joints[c]) for p, c in ITOP15.tree_bones]
    length = dict(zip(names, prior))
    assert length[("right_hip", "right_knee")] == pytest.approx(0.245 * 1.70)  # thigh 0.4165 m
    assert length[("right_shoulder", "right_elbow")] == pytest.approx(0.186 * 1.70)
    assert length[("torso", "neck")] == pytest.approx((0.818 - 0.530) / 2 * 1.70)
    for (p, c), value in length.items():  # left and right equal
        if c.startswith("left_"):
            assert value == pytest.approx(length[(p.replace("left_", "right_"), c.replace("left_", "right_"))])
    assert wl.bone_prior(ITOP15, 1.0) * 1.7 == pytest.approx(prior)
    with pytest.raises(InputError, match="reference bone lengths"):
        wl.bone_prior(COCO17)
    with pytest.raises(InputError, match="height_m"):
        wl.bone_prior(ITOP15, 0.0)


def test_config_validates_and_defaults_match_c3p():
    cfg = wl.WeakLossConfig()
    assert cfg.enabled() == {"ray": 10.0, "bone": 1.0, "symmetry": 0.002, "temporal": 0.1, "consistency": 0.002,
                             "surface": 1.0, "cross_modal": 1.0}
    with pytest.raises(InputError, match="ray_weight"):
        wl.WeakLossConfig(ray_weight=-1.0)


def test_surface_offset_moves_the_allowed_band_behind_the_surface() -> None:
    from unipose_training.weak.losses import surface_loss, surface_offsets

    # one joint at z = 2.00, surface at 2.00, offset 0.10, front margin 0.02:
    # band [2.08, 2.35] -> 0.08 in front of it; without the offset the joint is inside [1.98, 2.25] -> 0
    joints = torch.tensor([[[0.0, 0.0, 2.0]]])
    s = torch.tensor([[2.0]])
    c = torch.tensor([[1.0]])
    assert float(surface_loss(joints, s, c)) == pytest.approx(0.0)
    assert float(surface_loss(joints, s, c, offset=torch.tensor([0.10]))) == pytest.approx(0.08)
    # 0.50 behind the surface with offset 0.10: 0.50 - 0.10 - 0.25 = 0.15 too far
    far = torch.tensor([[[0.0, 0.0, 2.5]]])
    assert float(surface_loss(far, s, c, offset=torch.tensor([0.10]))) == pytest.approx(0.15)
    off = surface_offsets(ITOP15)
    assert off.shape == (15,) and (off > 0).all() and (off < 0.15).all()
    assert off[ITOP15.index("torso")] > off[ITOP15.index("right_hand")]
