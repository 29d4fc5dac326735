"""The anny parametric body, posed with motion-capture joint rotations, with exact 3D joints.

Ground-truth joint definition (every joint is a point rigidly attached to one bone of anny's rig,
so bone lengths are constant over time, and every joint lies inside the body):

- shoulders, elbows, wrists: heads of anny's ``upperarm01``, ``lowerarm01`` and ``wrist`` bones
  (the centres of the glenohumeral, elbow and wrist joints);
- hips, knees, ankles: heads of ``upperleg01``, ``lowerleg01`` and ``foot`` (hip, knee and ankle
  joint centres);
- head (ITOP): the midpoint of anny's COCO ear keypoints in the rest pose, carried by the ``head``
  bone (the centre of the head);
- nose, eyes, ears (COCO): anny's COCO keypoint regressor evaluated in the rest pose (points on
  the face surface), carried by the ``head`` bone;
- ITOP neck: midpoint of the shoulders; ITOP torso: midpoint of the neck and the mid-hip point;
  ITOP hands = wrists, ITOP feet = ankles.

Retargeting: a clip joint's rotation drives the anny bone at the same anatomical joint (chest is
spread over ``spine05..spine01``, neck over ``neck01..head``). anny's rest pose is an A-pose;
each limb bone gets a fixed correction that makes it hang straight down (the clip's rest pose)
before the clip rotation is applied.

Frames: the scene's world frame is Z up; a person at rest faces +X with their left at +Y.
anny's own frame (Z up, facing -Y, left +X) is used only inside this module.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unipose_ros.core.joints import COCO17, ITOP15
from unipose_ros.synthetic.motions import JOINTS, Motion

# world (x forward, y left, z up) -> anny (x left, y backward, z up)
_P = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
_CLIP_PELVIS_HEIGHT = 0.87  # standing pelvis height of the clips' humanoid, metres
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")

# anny bone -> (clip joint, fraction of its rotation); bones not listed follow their parent.
_DRIVE: dict[str, tuple[str, float]] = {
    **{f"spine0{k}": ("chest", 0.2) for k in range(1, 6)},
    **{b: ("neck", 0.25) for b in ("neck01", "neck02", "neck03", "head")},
}
for _s, _side in (("L", "left"), ("R", "right")):
    _DRIVE.update({f"upperleg01.{_s}": (f"{_side}_hip", 1.0), f"lowerleg01.{_s}": (f"{_side}_knee", 1.0),
                   f"foot.{_s}": (f"{_side}_ankle", 1.0), f"upperarm01.{_s}": (f"{_side}_shoulder", 1.0),
                   f"lowerarm01.{_s}": (f"{_side}_elbow", 1.0)})
# limb bones straightened to hang down (bone -> bone whose head is its distal end); feet reset flat
_STRAIGHTEN = {f"{a}.{s}": f"{b}.{s}" for s in "LR" for a, b in
               (("upperarm01", "lowerarm01"), ("lowerarm01", "wrist"), ("upperleg01", "lowerleg01"),
                ("lowerleg01", "foot"))}
_FLAT = ("foot.L", "foot.R")

# joint name -> (bone carrying it, how its rest position is found: "head" or a COCO label list)
_BODY_ANCHORS = {}
for _s, _side in (("L", "left"), ("R", "right")):
    _BODY_ANCHORS.update({f"{_side}_shoulder": f"upperarm01.{_s}", f"{_side}_elbow": f"lowerarm01.{_s}",
                          f"{_side}_wrist": f"wrist.{_s}", f"{_side}_hip": f"upperleg01.{_s}",
                          f"{_side}_knee": f"lowerleg01.{_s}", f"{_side}_ankle": f"foot.{_s}"})
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
# order of the anchor points: body joints, face points, head centre
_ANCHOR_NAMES = tuple(_BODY_ANCHORS) + _FACE + ("head_centre",)


def default_cache_dir() -> Path:
    """anny's model cache: ``$ANNY_CACHE_DIR``, else ``<repo>/.cache/anny``."""
    env = os.environ.get("ANNY_CACHE_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "anny"


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) smallest rotation taking direction ``a`` to direction ``b``."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def _fractional(r: np.ndarray, frac: float) -> np.ndarray:
    """Rotations (..., 3, 3) raised to the power ``frac`` (same axis, angle times frac)."""
    if frac == 1.0:
        return r
    from scipy.spatial.transform import Rotation

    flat = r.reshape(-1, 3, 3)
    out = Rotation.from_rotvec(Rotation.from_matrix(flat).as_rotvec() * frac).as_matrix()
    return out.reshape(r.shape)


@dataclass
class Person:
    """One body shape with everything needed to pose it (rest data in anny's frame).

    Attributes:
        phenotype: the six anny phenotype values in [0, 1].
        coeffs: anny blendshape inputs (torch tensor (1, 6)).
        corrections: (B, 3, 3) per-bone rest corrections (A-pose -> arms and legs straight down).
        anchors_rest: (A, 3) rest positions of the ground-truth anchor points, metres.
        pelvis_height: standing height of the pelvis above the soles, metres.
        colors: (V, 3) float32 RGB in [0, 1] per vertex (skin, hair, clothes, shoes).
    """

    phenotype: dict[str, float]
    coeffs: object
    corrections: np.ndarray
    anchors_rest: np.ndarray
    pelvis_height: float
    colors: np.ndarray


@dataclass
class PosedBody:
    """A person posed over T frames, in the scene's world frame (metres, Z up).

    Attributes:
        vertices: (T, V, 3) float32 mesh vertices.
        itop15: (T, 15, 3) float32 ground-truth joints in ITOP15 order.
        coco17: (T, 17, 3) float32 ground-truth joints in COCO17 order.
    """

    vertices: np.ndarray
    itop15: np.ndarray
    coco17: np.ndarray


#: Phenotype ranges of the training bodies (anny's six values, each in [0, 1]).
PHENOTYPE_RANGES: dict[str, tuple[float, float]] = {
    "gender": (0.0, 1.0), "age": (0.4, 0.85), "muscle": (0.2, 0.8), "weight": (0.2, 0.8),
    "height": (0.2, 0.9), "proportions": (0.3, 0.8)}


def sample_phenotype(rng: np.random.Generator, ranges: dict[str, tuple[float, float]] | None = None) -> dict[str, float]:
    """Uniform phenotype values within ``ranges`` (missing keys: :data:`PHENOTYPE_RANGES`), drawn
    in the order of :data:`PHENOTYPE_RANGES`."""
    r = {**PHENOTYPE_RANGES, **(ranges or {})}
    return {k: float(rng.uniform(*r[k])) for k in PHENOTYPE_RANGES}


class BodyModel:
    """The anny model, built (or loaded from its cache) once, then shared by every person.

    Args:
        cache_dir: anny's cache folder (the first build takes about a minute and writes ~0.8 GB).
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("ANNY_CACHE_DIR", str(cache))
        import anny
        import anny.paths
        import torch

        anny.paths.set_anny_cache_path(cache)
        self._torch = torch
        self.model = anny.Anny()
        self.model.eval()
        self._coco = anny.KeypointsRegressor.coco(self.model)
        self.labels: list[str] = list(self.model.bone_labels)
        self.parents = np.asarray(self.model.bone_parents, dtype=int)
        self.faces = self.model.get_triangular_faces().cpu().numpy().astype(np.int32)
        w = self.model.vertex_bone_weights.cpu().numpy()
        idx = self.model.vertex_bone_indices.cpu().numpy()
        self.vertex_bone = idx[np.arange(len(idx)), w.argmax(1)]  # (V,) dominant bone
        self._drive = {self.labels.index(b): (JOINTS.index(j), f) for b, (j, f) in _DRIVE.items()}

    @property
    def num_vertices(self) -> int:
        return len(self.vertex_bone)

    # ------------------------------------------------------------------ people
    def make_person(self, rng: np.random.Generator, phenotype: dict[str, float] | None = None) -> Person:
        """A person with a random (or given) phenotype and random skin, hair and clothes."""
        torch = self._torch
        if phenotype is None:
            phenotype = sample_phenotype(rng)
        coeffs = torch.tensor([[float(phenotype[k]) for k in self.model.phenotype_labels]],
                              dtype=self.model.dtype)
        with torch.no_grad():
            out = self.model(None, phenotype_kwargs=coeffs)
            face = self._coco({"vertices": out["rest_vertices"]})[0].cpu().numpy().astype(np.float64)
        heads = out["rest_bone_poses"][0, :, :3, 3].cpu().numpy().astype(np.float64)
        verts = out["rest_vertices"][0].cpu().numpy()
        corr = np.repeat(np.eye(3)[None], len(self.labels), axis=0)
        for b in range(len(self.labels)):  # parents come before children in anny's order
            name = self.labels[b]
            if name in _STRAIGHTEN:
                d = heads[self.labels.index(_STRAIGHTEN[name])] - heads[b]
                corr[b] = _min_rotation(d, np.array([0.0, 0.0, -1.0]))
            elif name in _FLAT or b == 0:
                corr[b] = np.eye(3)
            else:
                corr[b] = corr[self.parents[b]]
        lab = self._coco.labels
        face_pts = [face[lab.index(n)] for n in _FACE]
        centre = 0.5 * (face[lab.index("left_ear")] + face[lab.index("right_ear")])
        body_pts = [heads[self.labels.index(b)] for b in _BODY_ANCHORS.values()]
        anchors = np.array(body_pts + face_pts + [centre])
        return Person(phenotype=dict(phenotype), coeffs=coeffs, corrections=corr, anchors_rest=anchors,
                      pelvis_height=float(-verts[:, 2].min()), colors=self._colors(rng, verts))

    def _colors(self, rng: np.random.Generator, rest_verts: np.ndarray) -> np.ndarray:
        skin = np.array([[0.96, 0.80, 0.69], [0.88, 0.66, 0.52], [0.72, 0.52, 0.38], [0.45, 0.31, 0.22],
                         [0.30, 0.20, 0.14]])[rng.integers(5)]
        hair = np.array([[0.08, 0.06, 0.05], [0.30, 0.18, 0.09], [0.65, 0.50, 0.30],
                         [0.5, 0.5, 0.5]])[rng.integers(4)]
        shirt, trousers = rng.uniform(0.05, 0.95, 3), rng.uniform(0.05, 0.6, 3)
        shoes = rng.uniform(0.02, 0.3) * np.ones(3)
        short_sleeves, shorts = rng.random() < 0.4, rng.random() < 0.2
        head_z = rest_verts[self.vertex_bone == self.labels.index("head"), 2]
        eye_z = rest_verts[:, 2][self.vertex_bone == self.labels.index("eye.L")].mean() if (
            self.vertex_bone == self.labels.index("eye.L")).any() else np.percentile(head_z, 70)
        cols = np.empty((self.num_vertices, 3))
        for b, name in enumerate(self.labels):
            m = self.vertex_bone == b
            if name.startswith(("head", "neck", "eye", "wrist", "finger", "metacarpal")):
                c = skin
            elif name.startswith(("foot", "toe")):
                c = shoes
            elif name.startswith("lowerarm"):
                c = skin if short_sleeves else shirt
            elif name.startswith("lowerleg"):
                c = skin if shorts else trousers
            elif name.startswith(("upperleg", "pelvis", "spine05", "root")):
                c = trousers
            else:
                c = shirt
            cols[m] = c
        head = self.vertex_bone == self.labels.index("head")
        back = (rest_verts[:, 1] > 0.0) & (rest_verts[:, 2] > eye_z - 0.06)  # anny: +y is behind
        top = head & ((rest_verts[:, 2] > eye_z + 0.03) | back)
        cols[top] = hair
        return np.clip(cols * rng.uniform(0.9, 1.1, (self.num_vertices, 1)) ** 0.2, 0, 1).astype(np.float32)

    # ------------------------------------------------------------------ posing
    def _deltas(self, person: Person, motion: Motion) -> np.ndarray:
        """(T, B, 4, 4) anny 'local-ref' pose deltas (world-aligned local rotations)."""
        t, nb = len(motion), len(self.labels)
        pm = lambda r: _P @ r @ _P.T  # noqa: E731  (world axes -> anny axes)
        glob = np.empty((t, nb, 3, 3))
        glob[:, 0] = pm(motion.root_rot)
        for b in range(1, nb):
            g = glob[:, self.parents[b]]
            if b in self._drive:
                j, frac = self._drive[b]
                g = g @ pm(_fractional(motion.local[:, j], frac))
            glob[:, b] = g
        target = glob @ person.corrections[None]  # anny global rotation of each bone
        local = np.empty_like(target)
        local[:, 0] = target[:, 0]
        local[:, 1:] = np.swapaxes(target[:, self.parents[1:]], -1, -2) @ target[:, 1:]
        out = np.zeros((t, nb, 4, 4))
        out[..., :3, :3], out[..., 3, 3] = local, 1.0
        return out

    def pose(self, person: Person, motion: Motion, chunk: int = 64) -> PosedBody:
        """Pose ``person`` along ``motion`` (world frame, root path scaled to the person's leg
        length, soles on the floor z = 0 over the clip). Returns world-frame vertices and joints."""
        torch = self._torch
        deltas = self._deltas(person, motion)
        verts, anchors = [], []
        body_idx = [self.labels.index(b) for b in _BODY_ANCHORS.values()]
        head_idx = self.labels.index("head")
        bones = np.array(body_idx + [head_idx] * (len(_FACE) + 1))
        for s in range(0, len(deltas), chunk):
            d = torch.as_tensor(deltas[s:s + chunk], dtype=self.model.dtype)
            with torch.no_grad():
                out = self.model(d, phenotype_kwargs=person.coeffs.expand(len(d), -1))
            w = out["bone_poses"].cpu().numpy().astype(np.float64)[:, bones]
            r = out["rest_bone_poses"].cpu().numpy().astype(np.float64)[:, bones]
            # skinning transform T = W R^-1 applied to each anchor's rest position
            local = np.einsum("bji,bj->bi", r[0, :, :3, :3], person.anchors_rest - r[0, :, :3, 3])
            anchors.append(np.einsum("tbij,bj->tbi", w[..., :3, :3], local) + w[..., :3, 3])
            verts.append(out["vertices"].cpu().numpy())
        v_a, a_a = np.concatenate(verts), np.concatenate(anchors)
        scale = person.pelvis_height / _CLIP_PELVIS_HEIGHT
        root = motion.root_pos * scale
        v_w = v_a @ _P + root[:, None]  # P^T x for row vectors is x @ P
        a_w = a_a @ _P + root[:, None]
        floor = np.percentile(v_w[..., 2].min(axis=1), 10)
        v_w[..., 2] -= floor
        a_w[..., 2] -= floor
        return PosedBody(vertices=v_w.astype(np.float32), itop15=_itop15(a_w).astype(np.float32),
                         coco17=_coco17(a_w).astype(np.float32))


def _anchor(a: np.ndarray, name: str) -> np.ndarray:
    return a[:, _ANCHOR_NAMES.index(name)]


def _coco17(a: np.ndarray) -> np.ndarray:
    return np.stack([_anchor(a, n) for n in COCO17.joints], axis=1)


def _itop15(a: np.ndarray) -> np.ndarray:
    ls, rs = _anchor(a, "left_shoulder"), _anchor(a, "right_shoulder")
    neck = 0.5 * (ls + rs)
    mid_hip = 0.5 * (_anchor(a, "left_hip") + _anchor(a, "right_hip"))
    named = {"head": _anchor(a, "head_centre"), "neck": neck, "torso": 0.5 * (neck + mid_hip),
             "left_hand": _anchor(a, "left_wrist"), "right_hand": _anchor(a, "right_wrist"),
             "left_foot": _anchor(a, "left_ankle"), "right_foot": _anchor(a, "right_ankle")}
    return np.stack([named[n] if n in named else _anchor(a, n) for n in ITOP15.joints], axis=1)
