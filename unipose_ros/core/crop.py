"""Person crops and their normalisation: one implementation for training and inference.

A person is seen through a cube of side ``cube_m`` metres centred on them (``centre``, optical
frame). The image window is the projection of the cube's centre square (side ``cube_m`` at the
centre's depth), resized to ``size`` x ``size`` pixels.

**Crop units.** Networks predict joints as (u, v, d): u, v in crop pixels (pixel centres at
integers, (0, 0) the top-left pixel) and d = (z - centre_z) * size / cube_m, the depth offset from the
centre expressed in crop pixels, so that one unit is ``unit_m = cube_m / size`` metres on every axis
(18.75 mm with the defaults). The point-cloud path uses metric offsets from the centre in the same
unit: q = (xyz - centre) / unit_m (x right, y down, z forward; no rotation).

**Inputs.**
- depth crop: n = clip((z - centre_z) / (cube_m / 2), -1, 1); invalid pixels, pixels outside the
  image and pixels behind the cube are 1.0 (far). Inside the cube n * size / 2 == d.
- colour crop: uint8 RGB, bilinear; the network normalises with :data:`RGB_MEAN` / :data:`RGB_STD`
  on its own device (uploading uint8 moves 4x fewer bytes).
- points: valid depth pixels inside the window whose 3D point lies inside the cube, as
  p = (xyz - centre) / (cube_m / 2) in [-1, 1]^3 (p * size / 2 == q).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from unipose_ros.core.camera import PinholeCamera

#: ImageNet colour statistics (RGB order, 0-1 scale) used by the colour networks.
RGB_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
RGB_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class CropConfig:
    """Crop geometry: output ``size`` pixels (square) and metric ``cube_m`` side (metres).

    ``mask_people``: a crop shows only its own person: depth pixels outside the person's mask
    (other people, the floor, furniture, walls) are background, as if nothing were there. Crops
    without a mask (a person found by the geometric proposals) are cut from the whole image.
    """

    size: int = 128
    cube_m: float = 2.4
    mask_people: bool = False

    def __post_init__(self) -> None:
        if self.size < 8 or self.cube_m <= 0:
            raise ValueError(f"crop size must be >= 8 px and cube_m > 0, got {self.size}, {self.cube_m}")

    @property
    def unit_m(self) -> float:
        """Metres per crop unit."""
        return self.cube_m / self.size


@dataclass
class PersonCrop:
    """Where one person's crop lies and how to map between crop units and the camera frame.

    Attributes:
        centre: (3,) cube centre, metres, optical frame.
        box: (x0, y0, x1, y1) window in image pixels, pixel-edge coordinates (pixel u covers
            [u - 0.5, u + 0.5] in centre coordinates, i.e. [u, u + 1] in edge coordinates).
        size: crop side in pixels.
        cube_m: cube side in metres.
        camera: intrinsics of the image the crop was cut from.
        mask: (H, W) bool pixels of this person in that image (a detector's instance mask), or
            None when unknown.
    """

    centre: np.ndarray
    box: tuple[float, float, float, float]
    size: int
    cube_m: float
    camera: PinholeCamera = field(repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def unit_m(self) -> float:
        return self.cube_m / self.size

    @property
    def scale(self) -> tuple[float, float]:
        """Image pixels per crop pixel along u and v."""
        x0, y0, x1, y1 = self.box
        return (x1 - x0) / self.size, (y1 - y0) / self.size

    def crop_to_image(self, uv: np.ndarray) -> np.ndarray:
        """Crop pixels (..., 2) -> image pixels (..., 2) (pixel-centre coordinates on both sides)."""
        uv = np.asarray(uv, dtype=np.float64)
        sx, sy = self.scale
        return np.stack([self.box[0] - 0.5 + (uv[..., 0] + 0.5) * sx,
                         self.box[1] - 0.5 + (uv[..., 1] + 0.5) * sy], axis=-1)

    def image_to_crop(self, uv: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) -> crop pixels (..., 2)."""
        uv = np.asarray(uv, dtype=np.float64)
        sx, sy = self.scale
        return np.stack([(uv[..., 0] + 0.5 - self.box[0]) / sx - 0.5,
                         (uv[..., 1] + 0.5 - self.box[1]) / sy - 0.5], axis=-1)

    def to_camera(self, uvd: np.ndarray) -> np.ndarray:
        """Crop units (..., 3) (u, v, d) -> points (..., 3) metres in the optical frame."""
        uvd = np.asarray(uvd, dtype=np.float64)
        z = self.centre[2] + uvd[..., 2] * self.unit_m
        return self.camera.backproject(self.crop_to_image(uvd[..., :2]), z)

    def from_camera(self, xyz: np.ndarray) -> np.ndarray:
        """Points (..., 3) metres in the optical frame -> crop units (..., 3) (u, v, d)."""
        xyz = np.asarray(xyz, dtype=np.float64)
        uv = self.image_to_crop(self.camera.project(xyz))
        d = (xyz[..., 2] - self.centre[2]) / self.unit_m
        return np.concatenate([uv, d[..., None]], axis=-1)

    def points_to_camera(self, q: np.ndarray) -> np.ndarray:
        """Point-path crop units (..., 3) (metric offsets / unit_m) -> metres in the optical frame."""
        return self.centre + np.asarray(q, dtype=np.float64) * self.unit_m

    def camera_to_points(self, xyz: np.ndarray) -> np.ndarray:
        """Metres in the optical frame (..., 3) -> point-path crop units (..., 3)."""
        return (np.asarray(xyz, dtype=np.float64) - self.centre) / self.unit_m

    def _crop_to_image_matrix(self) -> np.ndarray:
        """2x3 affine taking crop pixel centres to image pixel centres (for cv2.WARP_INVERSE_MAP)."""
        sx, sy = self.scale
        return np.array([[sx, 0.0, self.box[0] - 0.5 + 0.5 * sx],
                         [0.0, sy, self.box[1] - 0.5 + 0.5 * sy]])


def make_crop(camera: PinholeCamera, centre: np.ndarray, config: CropConfig | None = None,
              mask: np.ndarray | None = None) -> PersonCrop:
    """The crop of a cube centred on ``centre`` (3,) metres (optical frame, z > 0); ``mask`` (H, W)
    bool: the person's pixels, if known."""
    cfg = config or CropConfig()
    centre = np.asarray(centre, dtype=np.float64).reshape(3)
    if not (np.isfinite(centre).all() and centre[2] > 0):
        raise ValueError(f"crop centre must be finite with z > 0, got {centre}")
    u, v = camera.project(centre)
    hx = camera.fx * cfg.cube_m / 2 / centre[2]
    hy = camera.fy * cfg.cube_m / 2 / centre[2]
    # edge coordinates: the pixel whose centre is u spans [u, u + 1]
    box = (float(u + 0.5 - hx), float(v + 0.5 - hy), float(u + 0.5 + hx), float(v + 0.5 + hy))
    return PersonCrop(centre=centre, box=box, size=cfg.size, cube_m=cfg.cube_m, camera=camera, mask=mask)


def crop_source_depth(depth: np.ndarray, crop: PersonCrop, config: CropConfig) -> np.ndarray:
    """The depth image (H, W metres) a crop is cut from: with ``config.mask_people`` and a known
    ``crop.mask``, every pixel outside the person's mask is invalid (NaN); else ``depth`` itself.
    Training crops and run-time crops both go through here."""
    if not config.mask_people or crop.mask is None:
        return depth
    if crop.mask.shape != depth.shape:
        raise ValueError(f"person mask {crop.mask.shape} does not match the depth image {depth.shape}")
    return np.where(crop.mask, depth, np.float32(np.nan)).astype(np.float32, copy=False)


def centre_from_box(box: tuple[float, float, float, float], depth_m: float, camera: PinholeCamera) -> np.ndarray:
    """(3,) metres: the centre pixel of ``box`` (x0, y0, x1, y1 edge coordinates) at ``depth_m``."""
    u = (box[0] + box[2]) / 2 - 0.5
    v = (box[1] + box[3]) / 2 - 0.5
    return camera.backproject(np.array([u, v]), np.array(depth_m))


def centre_from_proposal(proposal, camera: PinholeCamera) -> np.ndarray:
    """(3,) metres: a :class:`~unipose_ros.core.person_proposals.PersonProposal`'s box centre at its
    median depth (the front surface of the body; the cube is deep enough for the back)."""
    return centre_from_box(proposal.box, proposal.depth_m, camera)


def person_centres(depth: np.ndarray, camera: PinholeCamera, proposals=None, max_people: int = 6) -> list[np.ndarray]:
    """(3,) metres crop centres of the nearest ``max_people`` people proposed in ``depth`` (H, W)
    metres (:func:`~unipose_ros.core.person_proposals.propose_people` with ``proposals``, a
    ``ProposalConfig`` or None for its defaults), nearest first."""
    from unipose_ros.core.person_proposals import propose_people

    return [centre_from_proposal(p, camera) for p in propose_people(depth, camera, proposals)[:max_people]]


def centre_from_joints(joints: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    """(3,) metres: the rule of :func:`centre_from_proposal` applied to a skeleton (J, 3): the
    box of the projected joints at their median depth. NaN joints are ignored."""
    joints = np.asarray(joints, dtype=np.float64)
    ok = np.isfinite(joints).all(axis=1) & (joints[:, 2] > 0)
    if not ok.any():
        raise ValueError("no finite joint in front of the camera")
    uv = camera.project(joints[ok])
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    box = (lo[0] + 0.5, lo[1] + 0.5, hi[0] + 0.5, hi[1] + 0.5)
    return centre_from_box(box, float(np.median(joints[ok, 2])), camera)


def crop_depth(depth: np.ndarray, crop: PersonCrop) -> np.ndarray:
    """(S, S) float32 normalised depth crop (see the module docstring) of ``depth`` (H, W) metres."""
    s = crop.size
    d = np.asarray(depth, dtype=np.float32)
    patch = cv2.warpAffine(d, crop._crop_to_image_matrix(), (s, s),
                           flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    half = crop.cube_m / 2
    with np.errstate(invalid="ignore"):
        n = (patch - crop.centre[2]) / half
        bad = ~np.isfinite(n) | ~(patch > 0) | (n > 1)
    n = np.clip(np.where(bad, 1.0, n), -1.0, 1.0)
    return n.astype(np.float32)


def crop_rgb(rgb: np.ndarray, crop: PersonCrop) -> np.ndarray:
    """(S, S, 3) uint8 colour crop (bilinear; outside the image black) of ``rgb`` (H, W, 3) uint8."""
    s = crop.size
    return cv2.warpAffine(np.ascontiguousarray(rgb), crop._crop_to_image_matrix(), (s, s),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def crop_points(depth: np.ndarray, crop: PersonCrop, n_points: int,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, int]:
    """The person's points in normalised cube coordinates.

    Args:
        depth: (H, W) metres, NaN or <= 0 invalid, registered to ``crop.camera``.
        crop: the person's crop.
        n_points: number of points returned.
        rng: random sampling when given; None = deterministic evenly spaced choice.
    Returns:
        points (n_points, 3) float32 in [-1, 1] (p = (xyz - centre) / (cube_m / 2)); sampled
        without replacement when more were found, repeated cyclically when fewer, zeros when none;
        and the number of points found in the cube (before sampling; when the window holds more
        than 8 * n_points valid pixels, an evenly thinned subset of them is tested).
    """
    cam = crop.camera
    h, w = depth.shape
    x0, y0, x1, y1 = crop.box
    c0, r0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    c1, r1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
    out = np.zeros((n_points, 3), np.float32)
    if c1 <= c0 or r1 <= r0:
        return out, 0
    window = np.asarray(depth[r0:r1, c0:c1], dtype=np.float32)
    rows, cols = np.nonzero(np.isfinite(window) & (window > 0))
    if len(rows) > 8 * n_points:  # thin evenly: the cube test below needs only a few candidates per output
        keep = np.linspace(0, len(rows) - 1, 8 * n_points).round().astype(int)
        rows, cols = rows[keep], cols[keep]
    z = window[rows, cols]
    us, vs = cols + c0, rows + r0
    xyz = np.stack([(us - cam.cx) / cam.fx * z, (vs - cam.cy) / cam.fy * z, z], axis=-1)
    p = (xyz - crop.centre) / (crop.cube_m / 2)
    p = p[(np.abs(p) <= 1.0).all(axis=1)].astype(np.float32)
    count = len(p)
    if count == 0:
        return out, 0
    if count >= n_points:
        idx = (rng.choice(count, n_points, replace=False) if rng is not None
               else np.linspace(0, count - 1, n_points).round().astype(int))
    else:
        idx = np.arange(n_points) % count
        if rng is not None:
            idx = rng.permutation(count)[idx]
    return p[idx], count


def centre_from_keypoints(depth: np.ndarray, camera: PinholeCamera, uv: np.ndarray, conf: np.ndarray,
                          min_conf: float = 0.3, joint_set="itop15", window_px: int = 4,
                          depth_offset_m: float = 0.0) -> np.ndarray | None:
    """(3,) metres crop centre of one person from their 2D keypoints and the registered depth.

    The trunk keypoints (neck, torso, shoulders, hips) with ``conf >= min_conf`` are used, or every
    confident keypoint when no trunk keypoint is confident. The centre pixel is their mean (u, v);
    its depth is the median over those keypoints of the nearest depth mode in a
    ``(2 * window_px + 1)`` square window around each (the mode rule of
    :func:`~unipose_ros.core.depth_lookup.lift_keypoints`, so a window that straddles the
    silhouette reads the body, not the wall behind it). Like :func:`centre_from_proposal` the
    depth is that of the visible front surface (the cube is deep enough for the back of the body);
    ``depth_offset_m`` pushes it along the optical axis (e.g. 0.1 to centre inside the trunk).

    Args:
        depth: (H, W) float32 metres, NaN or <= 0 invalid, registered to the image of ``uv``.
        camera: intrinsics of that image.
        uv: (J, 2) pixels (u, v) in ``joint_set`` order (NaN allowed).
        conf: (J,) keypoint confidence in [0, 1].
        min_conf: keypoints below this are ignored.
        joint_set: a :class:`~unipose_ros.core.joints.JointSet` or its name.
        window_px: window radius in pixels.
        depth_offset_m: added to the surface depth, metres.
    Returns:
        (3,) float64 metres, optical frame; None when no confident keypoint has valid depth.
    """
    from unipose_ros.core.depth_lookup import DEFAULT_REFERENCE_JOINTS, nearest_mode, sample_window
    from unipose_ros.core.joints import joint_set as _joint_set

    js = _joint_set(joint_set) if isinstance(joint_set, str) else joint_set
    uv = np.asarray(uv, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(conf, dtype=np.float64), nan=0.0)
    if uv.shape != (len(js), 2) or conf.shape != (len(js),):
        raise ValueError(f"{js.name} has {len(js)} joints; got uv {uv.shape}, conf {conf.shape}")
    ok = (conf >= min_conf) & np.isfinite(uv).all(axis=1)
    trunk = np.zeros(len(js), bool)
    trunk[[js.index(n) for n in DEFAULT_REFERENCE_JOINTS if n in js.joints]] = True
    use = np.flatnonzero(ok & trunk) if (ok & trunk).any() else np.flatnonzero(ok)
    if use.size == 0:
        return None
    depth = np.asarray(depth, dtype=np.float32)
    zs = []
    for j in use:
        vals, wts, _ = sample_window(depth, uv[j, 0], uv[j, 1], int(window_px))
        mode = nearest_mode(vals, wts, gap=0.06, min_fraction=0.15)
        if mode is not None:
            zs.append(mode[0])
    if not zs:
        return None
    z = float(np.median(zs)) + float(depth_offset_m)
    if not z > 0:
        return None
    return camera.backproject(uv[use].mean(axis=0), np.array(z))
