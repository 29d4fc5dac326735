"""Ray-cast RGB-D rendering of a room with people (open3d RaycastingScene, CPU).

Depth is z along the optical axis (not the ray length): rays are cast with directions whose
optical-frame z component is 1, so the hit distance ``t`` equals the depth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.synthetic.scene import CameraPose, Room


@dataclass
class RenderedFrame:
    """One clean render.

    Attributes:
        rgb: (H, W, 3) uint8 RGB.
        depth: (H, W) float32 metres along the optical axis, NaN where no surface was hit.
        instance: (H, W) int16: person index (0, 1, ...) of each pixel, -1 for the room.
    """

    rgb: np.ndarray
    depth: np.ndarray
    instance: np.ndarray


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


class Renderer:
    """Renders one room seen by one camera, with any posed bodies per frame.

    Args:
        camera: intrinsics (image size included).
        pose: camera extrinsics.
        room: static geometry.
        light_dir: (3,) world direction *towards* the main light (normalised inside).
    """

    def __init__(self, camera: PinholeCamera, pose: CameraPose, room: Room,
                 light_dir: np.ndarray | None = None, ambient: float = 0.35) -> None:
        import open3d as o3d

        self._o3d = o3d
        self.camera, self.pose, self.room = camera, pose, room
        ld = np.array([-0.4, 0.3, 1.0]) if light_dir is None else np.asarray(light_dir, float)
        self.light = ld / np.linalg.norm(ld)
        self.ambient = ambient
        v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
        d_cam = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1)
        d_world = d_cam @ pose.rotation.T  # optical z = 1 -> t is depth
        origin = np.broadcast_to(pose.position, d_world.shape)
        self._rays = o3d.core.Tensor(np.concatenate([origin, d_world], -1).astype(np.float32))
        self._dirs = d_world

    def render(self, bodies: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> RenderedFrame:
        """Render the room plus ``bodies``: a list of (vertices (V, 3) world, faces (F, 3) int,
        vertex colours (V, 3) in [0, 1])."""
        o3d = self._o3d
        scene = o3d.t.geometry.RaycastingScene()
        n_static = len(self.room.objects)
        for obj in self.room.objects:
            scene.add_triangles(o3d.core.Tensor(obj.vertices.astype(np.float32)),
                                o3d.core.Tensor(obj.triangles.astype(np.uint32)))
        for v, f, _ in bodies:
            scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(v, dtype=np.float32)),
                                o3d.core.Tensor(np.ascontiguousarray(f, dtype=np.uint32)))
        hit = scene.cast_rays(self._rays, nthreads=0)
        t = hit["t_hit"].numpy()
        gid = hit["geometry_ids"].numpy().astype(np.int64)
        pid = hit["primitive_ids"].numpy().astype(np.int64)
        uv = hit["primitive_uvs"].numpy()
        normals = hit["primitive_normals"].numpy().astype(np.float64)
        valid = np.isfinite(t)
        gid = np.where(valid, gid, -1)
        h, w = t.shape
        albedo = np.zeros((h, w, 3))
        points = self.pose.position + self._dirs * np.where(valid, t, 0.0)[..., None]
        for k, obj in enumerate(self.room.objects):
            m = gid == k
            if m.any():
                albedo[m] = _texture(obj.texture, obj.color, points[m])
        instance = np.full((h, w), -1, np.int16)
        for b, (v, f, col) in enumerate(bodies):
            m = gid == n_static + b
            if not m.any():
                continue
            instance[m] = b
            tri = np.asarray(f)[pid[m]]
            bary = np.stack([1 - uv[m, 0] - uv[m, 1], uv[m, 0], uv[m, 1]], -1)[..., None]
            albedo[m] = (np.asarray(col)[tri] * bary).sum(1)
            vn = _vertex_normals(np.asarray(v, np.float64), np.asarray(f))
            normals[m] = (vn[tri] * bary).sum(1)
        normals /= np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
        # face the camera (two-sided surfaces)
        flip = (normals * self._dirs).sum(-1) > 0
        normals[flip] *= -1
        lambert = np.clip(normals @ self.light, 0.0, 1.0)
        head_on = np.clip(-(normals * self._dirs).sum(-1) / np.linalg.norm(self._dirs, axis=-1), 0, 1)
        shade = self.ambient + 0.45 * lambert + 0.25 * head_on
        rgb = albedo * shade[..., None]
        rgb[~valid] = 0.0
        depth = np.where(valid, t, np.nan).astype(np.float32)
        rgb8 = np.clip(rgb * 255.0, 0, 255).astype(np.uint8)
        return RenderedFrame(rgb=rgb8, depth=depth, instance=instance)


def _texture(kind: str, color: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Albedo (N, 3) of world points ``p`` (N, 3) on a surface of ``kind``."""
    color = np.asarray(color, dtype=np.float64)
    if kind == "floor":
        # planks 0.2 m wide with staggered joints, plus grain
        row = np.floor(p[:, 1] / 0.2)
        col = np.floor((p[:, 0] + 0.37 * row) / 1.2)
        tone = 0.85 + 0.15 * np.sin(row * 12.9898 + col * 78.233) ** 2
        grain = 0.05 * np.sin(p[:, 0] * 40.0 + 3 * np.sin(p[:, 1] * 9.0 + row))
        seam = ((p[:, 1] / 0.2) % 1.0 < 0.04) | (((p[:, 0] + 0.37 * row) / 1.2) % 1.0 < 0.01)
        f = np.where(seam, 0.55, tone + grain)
        return color[None] * f[:, None]
    if kind == "wall":
        f = 0.95 + 0.05 * np.sin(p[:, 0] * 3.1 + p[:, 1] * 2.3) * np.sin(p[:, 2] * 4.7)
        return color[None] * f[:, None]
    return np.repeat(color[None], len(p), axis=0)
