"""Weak-supervision losses for 3D joints predicted from depth, supervised by 2D keypoints only.

The terms follow C3P (Wu et al., ECCV 2022; weights from its code) plus two terms of our own:

==============  ======  =====================================================================
term            weight  what it asks of the predicted joints
==============  ======  =====================================================================
ray             10      lie on the camera ray through the teacher's 2D keypoint (scale free)
bone            1       tree bone lengths equal to reference (population or subject) lengths
symmetry        0.002   left / right bone length ratio equal to 1
temporal        0.1     each joint at the midpoint of its neighbours in time (smooth motion)
consistency     0.002   each bone's length constant over the sequence (zero variance)
surface         1       joint depth behind the observed surface at its keypoint, not far behind
cross_modal     1       two modalities agree; the less confident learns from the other
==============  ======  =====================================================================

Conventions: joints (..., J, 3) float, metres, camera optical frame (x right, y down, z
forward); pixels (u, v) = (column, row) with the pixel centre at integer coordinates; intrinsics
(..., 4) = fx, fy, cx, cy in pixels. Every loss takes ``reduction``: ``"mean"`` returns a scalar
tensor (a weighted mean over the elements that count, 0 when none counts, still attached to the
graph), ``"none"`` the per-element values (unweighted, 0 where an element does not count).
Elements that do not count (non-finite keypoints or surface depth, zero confidence, padded
frames) are replaced before any arithmetic, so they give zero, never NaN, gradients; lengths use
a norm whose gradient at zero is zero.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Mapping, Sequence

import numpy as np
import torch

from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import JointSet

TERMS: tuple[str, ...] = ("ray", "bone", "symmetry", "temporal", "consistency", "surface", "cross_modal")
_MIN_ALONG_M = 1e-3  # distance along a ray below which a joint counts as at the camera (m)
_MIN_LEN_M = 1e-3  # right bone length floor in the symmetry ratio (m)
_EPS = 1e-8

# ------------------------------------------------------------------------------------ helpers


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise InputError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _float_dtype(x: torch.Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _like(value: torch.Tensor | np.ndarray | Sequence[float] | float, ref: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=ref.dtype, device=ref.device)


def _norm(x: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the last axis with a zero (not NaN) gradient at the zero vector."""
    sq = (x * x).sum(-1)
    pos = sq > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def _reduce(values: torch.Tensor, weights: torch.Tensor, reduction: str) -> torch.Tensor:
    """``sum(w * v) / max(sum(w), eps)`` (0 when every weight is 0), or ``v`` masked to 0 where w == 0."""
    counted = weights > 0
    values = torch.where(counted, values, torch.zeros_like(values))
    if reduction == "none":
        return values
    return (values * weights).sum() / weights.sum().clamp(min=_EPS)


def _index_pairs(pairs: torch.Tensor | np.ndarray | Sequence, shape_tail: tuple[int, ...], name: str,
                 n_joints: int, device: torch.device) -> torch.Tensor:
    idx = pairs if isinstance(pairs, torch.Tensor) else torch.as_tensor(np.asarray(pairs, dtype=np.int64))
    idx = idx.to(dtype=torch.long).reshape(-1, *shape_tail)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n_joints):
        raise InputError(f"{name} index joints outside 0..{n_joints - 1}: {idx.tolist()}")
    return idx.to(device)


def bone_lengths(joints: torch.Tensor, bones: torch.Tensor | np.ndarray | Sequence) -> torch.Tensor:
    """Lengths (..., nb) in metres of ``bones`` (nb, 2) (parent, child) joint indices of ``joints`` (..., J, 3)."""
    idx = _index_pairs(bones, (2,), "bones", joints.shape[-2], joints.device)
    return _norm(joints[..., idx[:, 1], :] - joints[..., idx[:, 0], :])


def symmetric_bone_pairs(joint_set: JointSet) -> np.ndarray:
    """(np, 2, 2) int64 ``[[l_parent, l_child], [r_parent, r_child]]``: each tree bone ending in a
    left joint (first of ``joint_set.flip_pairs``) with its mirror bone (ITOP-15: 6 pairs)."""
    perm = joint_set.flip_permutation
    tree = set(joint_set.tree_bones)
    lefts = {a for a, _ in joint_set.flip_pairs}
    out = [[[p, c], [int(perm[p]), int(perm[c])]] for p, c in joint_set.tree_bones
           if c in lefts and (int(perm[p]), int(perm[c])) in tree]
    return np.asarray(out, dtype=np.int64).reshape(-1, 2, 2)


# ------------------------------------------------------------------------------------- losses


def ray_loss(joints: torch.Tensor, uv: torch.Tensor, conf: torch.Tensor, intrinsics: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
    """Scale-free distance of each joint to the camera ray through its 2D keypoint.

    With r = normalise((u - cx) / fx, (v - cy) / fy, 1) and t = max(dot(X, r), 1e-3) m the joint's
    distance along the ray, d = |X - t r| / t: for a joint in front of the camera the perpendicular
    distance over the distance along the ray, i.e. the tangent of the angle between X and r (a
    joint behind the camera is measured to the ray's start, so it is never "on" the ray).

    Args:
        joints: (..., J, 3) metres, camera optical frame.
        uv: (..., J, 2) keypoints, pixels. Non-finite -> the joint does not count.
        conf: (..., J) keypoint confidence, the weight; <= 0 or non-finite -> does not count.
        intrinsics: (..., 4) fx, fy, cx, cy pixels, broadcast over J (non-finite or fx, fy <= 0:
            the row does not count).
        reduction: "mean": ``sum(conf * d) / max(sum(conf), eps)``; "none": d (..., J).
    """
    _check_reduction(reduction)
    dt = _float_dtype(joints)
    joints = joints.to(dt)
    if joints.shape[-1] != 3 or uv.shape != (*joints.shape[:-1], 2) or conf.shape != joints.shape[:-1]:
        raise InputError(f"ray_loss: joints {tuple(joints.shape)} must be (..., J, 3) with uv (..., J, 2) and conf "
                         f"(..., J); got uv {tuple(uv.shape)}, conf {tuple(conf.shape)}")
    if intrinsics.shape[-1] != 4:
        raise InputError(f"ray_loss: intrinsics must be (..., 4) fx, fy, cx, cy; got {tuple(intrinsics.shape)}")
    uv, conf = _like(uv, joints), _like(conf, joints)
    k = _like(intrinsics, joints).unsqueeze(-2)  # (..., 1, 4)
    k_ok = torch.isfinite(k).all(-1) & (k[..., 0] > 0) & (k[..., 1] > 0)  # (..., 1)
    k = torch.where(k_ok.unsqueeze(-1), k, _like([1.0, 1.0, 0.0, 0.0], joints))
    ok = torch.isfinite(uv).all(-1) & torch.isfinite(conf) & (conf > 0) & k_ok
    uv = torch.where(ok.unsqueeze(-1), uv, torch.zeros_like(uv))
    x = (uv[..., 0] - k[..., 2]) / k[..., 0]
    y = (uv[..., 1] - k[..., 3]) / k[..., 1]
    ray = torch.stack((x, y, torch.ones_like(x)), -1)
    ray = ray / _norm(ray).unsqueeze(-1)  # norm >= 1
    t = (joints * ray).sum(-1).clamp(min=_MIN_ALONG_M)
    d = _norm(joints - t.unsqueeze(-1) * ray) / t
    return _reduce(d, torch.where(ok, conf, torch.zeros_like(conf)), reduction)


def bone_length_loss(joints: torch.Tensor, bones: torch.Tensor | np.ndarray | Sequence,
                     reference: torch.Tensor | np.ndarray | Sequence[float], reduction: str = "mean") -> torch.Tensor:
    """L1 error of bone lengths against reference lengths.

    Args:
        joints: (..., J, 3) metres.
        bones: (nb, 2) int (parent, child) joint indices.
        reference: (nb,) or broadcastable to (..., nb) metres; a non-finite entry is not counted.
        reduction: "mean": mean |len - ref| over bones and leading dims (m); "none": (..., nb).
    """
    _check_reduction(reduction)
    joints = joints.to(_float_dtype(joints))
    lengths = bone_lengths(joints, bones)
    ref = _like(reference, joints)
    try:
        ref = torch.broadcast_to(ref, lengths.shape)
    except RuntimeError:
        raise InputError(f"bone_length_loss: reference {tuple(ref.shape)} does not broadcast to the bone lengths "
                         f"{tuple(lengths.shape)} (one entry per bone, in the order of `bones`)") from None
    ok = torch.isfinite(ref)
    ref = torch.where(ok, ref, torch.zeros_like(ref))
    return _reduce((lengths - ref).abs(), ok.to(joints.dtype), reduction)


def symmetry_loss(joints: torch.Tensor, pairs: torch.Tensor | np.ndarray | Sequence,
                  reduction: str = "mean") -> torch.Tensor:
    """Left / right bone length ratio -> 1: mean of ``(len_l / max(len_r, 1e-3) - 1) ** 2``.

    Args:
        joints: (..., J, 3) metres.
        pairs: (np, 2, 2) joint indices ``[[l_a, l_b], [r_a, r_b]]`` (see :func:`symmetric_bone_pairs`).
        reduction: "mean" over pairs and leading dims (unitless); "none": (..., np).
    """
    _check_reduction(reduction)
    joints = joints.to(_float_dtype(joints))
    idx = _index_pairs(pairs, (2, 2), "pairs", joints.shape[-2], joints.device)
    left = bone_lengths(joints, idx[:, 0])
    right = bone_lengths(joints, idx[:, 1]).clamp(min=_MIN_LEN_M)
    values = (left / right - 1.0) ** 2
    return _reduce(values, torch.ones_like(values), reduction)


def _frame_mask(seq: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if seq.dim() != 4 or seq.shape[-1] != 3:
        raise InputError(f"expected a sequence (B, T, J, 3), got {tuple(seq.shape)}")
    if valid is None:
        return torch.ones(seq.shape[:2], dtype=torch.bool, device=seq.device)
    if tuple(valid.shape) != tuple(seq.shape[:2]):
        raise InputError(f"valid must be (B, T) = {tuple(seq.shape[:2])}, got {tuple(valid.shape)}")
    return valid.to(device=seq.device, dtype=torch.bool)


def temporal_smoothness_loss(seq: torch.Tensor, valid: torch.Tensor | None = None,
                             reduction: str = "mean") -> torch.Tensor:
    """Distance of each joint to the midpoint of its previous and next positions.

    Args:
        seq: (B, T, J, 3) metres, consecutive frames (T < 3 has no triple: 0).
        valid: (B, T) bool; a triple (t-1, t, t+1) counts only when all three frames are valid.
        reduction: "mean" over joints of counted triples (m; 0 when none); "none": (B, T - 2, J),
            0 for triples that do not count.
    """
    _check_reduction(reduction)
    seq = seq.to(_float_dtype(seq))
    mask = _frame_mask(seq, valid)
    values = _norm(seq[:, 1:-1] - 0.5 * (seq[:, :-2] + seq[:, 2:]))  # (B, T-2, J)
    counted = (mask[:, :-2] & mask[:, 1:-1] & mask[:, 2:]).unsqueeze(-1).expand_as(values)
    return _reduce(values, counted.to(seq.dtype), reduction)


def bone_consistency_loss(seq: torch.Tensor, bones: torch.Tensor | np.ndarray | Sequence,
                          valid: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """Variance over time of each bone's length (population variance, unbiased=False).

    Args:
        seq: (B, T, J, 3) metres.
        bones: (nb, 2) int (parent, child) joint indices.
        valid: (B, T) bool; only valid frames enter the variance. A window with fewer than two
            valid frames does not count.
        reduction: "mean" over bones of the counted windows (m^2; 0 when none); "none": (B, nb),
            0 for windows that do not count.
    """
    _check_reduction(reduction)
    seq = seq.to(_float_dtype(seq))
    mask = _frame_mask(seq, valid)
    lengths = bone_lengths(seq, bones)  # (B, T, nb)
    m = mask.unsqueeze(-1).expand_as(lengths)
    lengths = torch.where(m, lengths, torch.zeros_like(lengths))
    mf = m.to(seq.dtype)
    n = mf.sum(1).clamp(min=1.0)  # (B, nb)
    mean = (lengths * mf).sum(1) / n
    var = (((lengths - mean.unsqueeze(1)) ** 2) * mf).sum(1) / n
    counted = (mask.sum(1) >= 2).unsqueeze(-1).expand_as(var)
    return _reduce(var, counted.to(seq.dtype), reduction)


def surface_loss(joints: torch.Tensor, surface_z: torch.Tensor, conf: torch.Tensor, front_margin: float = 0.02,
                 max_behind: float = 0.25, reduction: str = "mean", offset: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """Joints lie inside the body: behind the observed surface at their keypoint, but not far behind.

    Per joint, with z the joint's depth, s the surface depth and o the joint's expected depth
    behind the surface (``offset``; 0 when None), all metres:
    ``relu(s + o - front_margin - z) + relu(z - s - o - max_behind)``, 0 for
    s + o - front_margin <= z <= s + o + max_behind.

    Args:
        joints: (..., J, 3) metres, camera optical frame.
        surface_z: (..., J) observed depth at each joint's keypoint, metres; NaN -> does not count.
        conf: (..., J) keypoint confidence, the weight (<= 0 or non-finite -> does not count).
        front_margin: allowed depth in front of the surface (m; depth noise, clothing).
        max_behind: allowed depth behind the surface (m; about a body's thickness).
        reduction: "mean": conf-weighted mean (m); "none": (..., J).
        offset: (J,) or broadcastable to (..., J), metres: how far behind the visible surface each
            joint's centre lies (see :func:`surface_offsets`).
    """
    _check_reduction(reduction)
    joints = joints.to(_float_dtype(joints))
    if joints.shape[-1] != 3 or surface_z.shape != joints.shape[:-1] or conf.shape != joints.shape[:-1]:
        raise InputError(f"surface_loss: joints {tuple(joints.shape)} must be (..., J, 3) with surface_z and conf "
                         f"(..., J); got {tuple(surface_z.shape)}, {tuple(conf.shape)}")
    s, conf = _like(surface_z, joints), _like(conf, joints)
    ok = torch.isfinite(s) & torch.isfinite(conf) & (conf > 0)
    s = torch.where(ok, s, torch.zeros_like(s))
    if offset is not None:
        s = s + _like(torch.as_tensor(offset), joints)
    z = joints[..., 2]
    values = torch.relu(s - front_margin - z) + torch.relu(z - s - max_behind)
    return _reduce(values, torch.where(ok, conf, torch.zeros_like(conf)), reduction)


def cross_modal_agreement_loss(a: torch.Tensor, b: torch.Tensor, conf_a: torch.Tensor, conf_b: torch.Tensor,
                               reduction: str = "mean") -> torch.Tensor:
    """Agreement of two modalities' joints, each pulled towards the other where the other is surer.

    Per joint: ``relu(conf_b - conf_a) * |a - b.detach()| + relu(conf_a - conf_b) * |b - a.detach()|``,
    so the gradient flows only into the less confident prediction (none where they are equally sure).

    Args:
        a, b: (..., J, 3) metres, the same joints from two modalities (e.g. points and depth image).
        conf_a, conf_b: (..., J) their per-joint confidences; a joint with a non-finite confidence
            or position on either side does not count.
        reduction: "mean" over joints and leading dims (plain mean, m x confidence); "none": (..., J).
    """
    _check_reduction(reduction)
    a = a.to(_float_dtype(a))
    if a.shape[-1] != 3 or b.shape != a.shape or conf_a.shape != a.shape[:-1] or conf_b.shape != a.shape[:-1]:
        raise InputError(f"cross_modal_agreement_loss: a and b must both be (..., J, 3) with confidences (..., J); got "
                         f"{tuple(a.shape)}, {tuple(b.shape)}, {tuple(conf_a.shape)}, {tuple(conf_b.shape)}")
    b, ca, cb = b.to(a.dtype), _like(conf_a, a), _like(conf_b, a)
    ok = (torch.isfinite(a).all(-1) & torch.isfinite(b).all(-1) & torch.isfinite(ca) & torch.isfinite(cb))
    zero = torch.zeros_like(ca)
    ca, cb = torch.where(ok, ca, zero), torch.where(ok, cb, zero)
    a = torch.where(ok.unsqueeze(-1), a, torch.zeros_like(a))
    b = torch.where(ok.unsqueeze(-1), b, torch.zeros_like(b))
    values = torch.relu(cb - ca) * _norm(a - b.detach()) + torch.relu(ca - cb) * _norm(b - a.detach())
    if reduction == "none":
        return values  # 0 where a joint does not count (both weights are 0 there)
    return values.sum() / max(values.numel(), 1)


# ------------------------------------------------------------------------------- combination


@dataclass(frozen=True)
class WeakLossConfig:
    """Weights and switches of the weak loss terms (weights from C3P's code where it has the term).

    ``total = sum(<term>_weight * <term>)`` over the terms whose ``use_<term>`` is True; an ablation
    flips one switch off (:meth:`without`). ``surface_front_margin`` / ``surface_max_behind`` are the
    :func:`surface_loss` margins (m).
    """

    ray_weight: float = 10.0
    bone_weight: float = 1.0
    symmetry_weight: float = 0.002
    temporal_weight: float = 0.1
    consistency_weight: float = 0.002
    surface_weight: float = 1.0
    cross_modal_weight: float = 1.0
    use_ray: bool = True
    use_bone: bool = True
    use_symmetry: bool = True
    use_temporal: bool = True
    use_consistency: bool = True
    use_surface: bool = True
    use_cross_modal: bool = True
    surface_front_margin: float = 0.02
    surface_max_behind: float = 0.25
    surface_body_depth: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_weight") and not (np.isfinite(value) and value >= 0):
                raise InputError(f"WeakLossConfig.{f.name} must be a finite weight >= 0, got {value}")
        if self.surface_front_margin < 0 or self.surface_max_behind < 0:
            raise InputError("WeakLossConfig surface margins must be >= 0 metres")

    def enabled(self) -> dict[str, float]:
        """Weight of each switched-on term, in :data:`TERMS` order."""
        return {t: float(getattr(self, f"{t}_weight")) for t in TERMS if getattr(self, f"use_{t}")}

    def without(self, term: str) -> "WeakLossConfig":
        """This config with ``term`` (one of :data:`TERMS`) switched off."""
        if term not in TERMS:
            raise InputError(f"unknown weak loss term {term!r}; terms: {list(TERMS)}")
        return replace(self, **{f"use_{term}": False})


@dataclass(frozen=True)
class CrossModalInput:
    """The other modality's prediction for :func:`weak_loss`'s cross-modal term.

    Attributes:
        joints: (B, T, J, 3) metres, the other modality's joints (gradient may flow into it).
        conf: (B, T, J) the other modality's per-joint confidence.
        own_conf: (B, T, J) the confidence of the sequence being trained (``seq``).
    """

    joints: torch.Tensor
    conf: torch.Tensor
    own_conf: torch.Tensor


_NEEDS: dict[str, tuple[str, ...]] = {"ray": ("uv", "conf", "intrinsics"), "surface": ("surface_z", "conf")}


def weak_loss(seq: torch.Tensor, batch: Mapping[str, torch.Tensor], joint_set: JointSet, cfg: WeakLossConfig,
              reference_bones: torch.Tensor | np.ndarray | Sequence[float],
              other: CrossModalInput | None = None) -> dict[str, torch.Tensor]:
    """All enabled weak terms of a batch of predicted sequences, unweighted, plus their weighted ``total``.

    Args:
        seq: (B, T, J, 3) predicted joints, metres, camera optical frame, consecutive frames.
        batch: "uv" (B, T, J, 2) px, "conf" (B, T, J), "intrinsics" (B, T, 4) fx fy cx cy,
            "surface_z" (B, T, J) m (NaN unknown), "valid" (B, T) bool (optional, default all; a
            padded frame is not valid and enters no term).
        joint_set: the joints' set; bones are its ``tree_bones``, symmetry pairs from its flip pairs.
        cfg: weights and switches.
        reference_bones: (nb,), (B, nb) per sequence or (B, T, nb) metres, in ``tree_bones`` order
            (e.g. :func:`bone_prior`).
        other: the other modality's prediction for the cross-modal term; without it the term is absent.
    Returns:
        {term: scalar} for every enabled term (T < 3 gives temporal 0, T < 2 consistency 0) and
        "total" = sum of weight * term.
    """
    if seq.dim() != 4 or seq.shape[2] != len(joint_set) or seq.shape[3] != 3:
        raise InputError(f"weak_loss: seq must be (B, T, {len(joint_set)}, 3) for {joint_set.name}, got {tuple(seq.shape)}")
    weights = cfg.enabled()
    for term, keys in _NEEDS.items():
        missing = [k for k in keys if term in weights and k not in batch]
        if missing:
            raise InputError(f"weak_loss: the {term} term needs batch keys {missing} (have {sorted(batch)}); "
                             f"switch it off with use_{term}=False")
    valid = _frame_mask(seq, batch.get("valid"))
    bones = np.asarray(joint_set.tree_bones, dtype=np.int64)
    vf = valid.unsqueeze(-1)  # (B, T, 1)
    conf = None
    if "conf" in batch:
        conf = torch.where(vf, _like(batch["conf"], seq), torch.zeros_like(seq[..., 0]))
    terms: dict[str, torch.Tensor] = {}
    if "ray" in weights:
        terms["ray"] = ray_loss(seq, batch["uv"], conf, batch["intrinsics"])
    if "bone" in weights:
        ref = _like(reference_bones, seq)
        if ref.shape[-1] != len(bones):
            raise InputError(f"weak_loss: reference_bones has {ref.shape[-1]} lengths, {joint_set.name} has "
                             f"{len(bones)} tree bones")
        ref = ref.unsqueeze(1) if ref.dim() == 2 else ref
        terms["bone"] = bone_length_loss(seq[valid], bones, torch.broadcast_to(ref, (*seq.shape[:2], len(bones)))[valid])
    if "symmetry" in weights:
        terms["symmetry"] = symmetry_loss(seq[valid], symmetric_bone_pairs(joint_set))
    if "temporal" in weights:
        terms["temporal"] = temporal_smoothness_loss(seq, valid)
    if "consistency" in weights:
        terms["consistency"] = bone_consistency_loss(seq, bones, valid)
    if "surface" in weights:
        offset = torch.as_tensor(surface_offsets(joint_set), device=seq.device) if cfg.surface_body_depth else None
        terms["surface"] = surface_loss(seq, batch["surface_z"], conf, cfg.surface_front_margin, cfg.surface_max_behind,
                                        offset=offset)
    if "cross_modal" in weights and other is not None:
        zero = torch.zeros_like(seq[..., 0])
        own = torch.where(vf, _like(other.own_conf, seq), zero)
        theirs = torch.where(vf, _like(other.conf, seq), zero)
        terms["cross_modal"] = cross_modal_agreement_loss(seq, other.joints, own, theirs)
    total = (seq * 0).sum()  # keeps the graph when every term is switched off
    for term, value in terms.items():
        total = total + weights[term] * value
    terms["total"] = total
    return terms


# ---------------------------------------------------------------------------------- body prior

# Segment lengths as fractions of body height H, per (parent, child) bone with the side removed.
# Vertical levels and limb segments from Drillis & Contini (1966) as tabulated in Winter,
# "Biomechanics and Motor Control of Human Movement" (4th ed., 2009, fig. 4.1): shoulder 0.818 H,
# greater trochanter (hip) 0.530 H, chin 0.870 H, top of head 1.000 H; upper arm 0.186 H, forearm
# (elbow to wrist) 0.146 H, thigh 0.245 H, leg (knee to ankle) 0.246 H.
# ITOP-15 joints: neck = mid-shoulders (0.818 H); head = head centre, midway chin to top
# (0.935 H); torso = midway neck and mid-hip (0.674 H); hand = wrist; foot = ankle.
# Widths are joint centres, narrower than the outer breadths in Winter's figure (shoulders
# 0.259 H, hips 0.191 H): shoulder joint centres 0.200 H apart (the acromion tips lie ~3-4 cm
# outside the joint centres); hip joint centres 0.100 H apart (Bell et al. 1989: each 14 % of the
# inter-ASIS distance medial to its ASIS; inter-ASIS about 0.14 H). These widths are estimates.
_NECK_HEAD = 0.935 - 0.818
_HALF_TRUNK = (0.818 - 0.530) / 2
_SEGMENT_FRACTIONS: dict[tuple[str, str], float] = {
    ("neck", "head"): _NECK_HEAD,  # 0.117
    ("torso", "neck"): _HALF_TRUNK,  # 0.144
    ("neck", "shoulder"): 0.200 / 2,  # 0.100
    ("shoulder", "elbow"): 0.186,
    ("elbow", "hand"): 0.146,
    ("torso", "hip"): float(np.hypot(_HALF_TRUNK, 0.100 / 2)),  # 0.1524
    ("hip", "knee"): 0.245,
    ("knee", "foot"): 0.246,
}


def _unsided(name: str) -> str:
    for prefix in ("left_", "right_"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def bone_prior(joint_set: JointSet, height_m: float = 1.70) -> np.ndarray:
    """Population mean lengths (nb,) float64 metres of ``joint_set.tree_bones`` for a body ``height_m`` tall.

    Each length is a fixed fraction of body height H (Drillis & Contini 1966 / Winter 2009):

    ==================  ========  ======================================================
    bone                fraction  from
    ==================  ========  ======================================================
    neck -> head        0.117 H   head centre 0.935 H (chin 0.870, top 1.0) - shoulders 0.818 H
    torso -> neck       0.144 H   half of shoulders 0.818 H - hips 0.530 H
    neck -> shoulder    0.100 H   half the shoulder joint centre width 0.200 H (estimate)
    shoulder -> elbow   0.186 H   upper arm
    elbow -> hand       0.146 H   forearm (hand joint = wrist)
    torso -> hip        0.152 H   hypot(0.144 H, half the hip joint centre width 0.100 H)
    hip -> knee         0.245 H   thigh
    knee -> foot        0.246 H   leg (foot joint = ankle)
    ==================  ========  ======================================================

    Raises:
        InputError: a non-positive height, or a joint set with bones outside this table (ITOP-15
            is covered): pass measured reference lengths instead.
    """
    if not (np.isfinite(height_m) and height_m > 0):
        raise InputError(f"bone_prior: height_m must be a positive number of metres, got {height_m}")
    out = []
    for p, c in joint_set.tree_bones:
        key = (_unsided(joint_set.joints[p]), _unsided(joint_set.joints[c]))
        if key not in _SEGMENT_FRACTIONS:
            raise InputError(f"bone_prior has no anthropometric length for bone {joint_set.joints[p]} -> "
                             f"{joint_set.joints[c]} of {joint_set.name} (known: {sorted(_SEGMENT_FRACTIONS)}); "
                             "give reference bone lengths explicitly")
        out.append(_SEGMENT_FRACTIONS[key] * height_m)
    return np.asarray(out, dtype=np.float64)


#: How far behind the visible body surface each ITOP-15 joint centre lies, metres: half the
#: front-to-back thickness of the body segment at that joint, for an average adult (head depth
#: ~0.18-0.19 m; chest / abdomen depth ~0.22 m; pelvis ~0.18-0.20 m; deltoid ~0.12 m; elbow ~0.08 m;
#: wrist ~0.05 m; knee ~0.10 m; ankle ~0.07 m; ISO 7250 / ANSUR-style body dimensions). The neck
#: (midpoint of the shoulder joints) sits in the upper chest. A population prior, not fitted to
#: any data of this package.
JOINT_DEPTH_BEHIND_SURFACE_M: dict[str, float] = {
    "head": 0.09, "neck": 0.07, "right_shoulder": 0.06, "left_shoulder": 0.06, "right_elbow": 0.04,
    "left_elbow": 0.04, "right_hand": 0.025, "left_hand": 0.025, "torso": 0.11, "right_hip": 0.09,
    "left_hip": 0.09, "right_knee": 0.05, "left_knee": 0.05, "right_foot": 0.035, "left_foot": 0.035,
}


def surface_offsets(joint_set: JointSet) -> np.ndarray:
    """(J,) metres: :data:`JOINT_DEPTH_BEHIND_SURFACE_M` in ``joint_set``'s order.

    Raises:
        InputError: a joint of ``joint_set`` has no entry (give ``surface_body_depth: false``).
    """
    missing = [n for n in joint_set.joints if n not in JOINT_DEPTH_BEHIND_SURFACE_M]
    if missing:
        raise InputError(f"no body-depth prior for joints {missing} of {joint_set.name}: set "
                         "surface_body_depth: false in the weak loss config")
    return np.array([JOINT_DEPTH_BEHIND_SURFACE_M[n] for n in joint_set.joints], dtype=np.float64)
