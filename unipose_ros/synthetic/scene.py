"""A random room (floor, walls, clutter) and a camera placed in it.

World frame: Z up, metres; the camera stands near the origin looking roughly along +X.
Camera optical frame: x right, y down, z forward (REP-103).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from unipose_ros.core.camera import PinholeCamera


@dataclass
class SceneObject:
    """A static triangle mesh with a base colour and a texture kind.

    Attributes:
        vertices: (N, 3) float32 world metres.
        triangles: (M, 3) int32.
        color: (3,) float RGB in [0, 1].
        texture: "plain", "floor" (tiles / planks pattern) or "wall" (faint noise).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    color: np.ndarray
    texture: str = "plain"


@dataclass
class CameraPose:
    """Camera extrinsics: ``rotation`` (3, 3) world-from-optical, ``position`` (3,) world metres."""

    rotation: np.ndarray
    position: np.ndarray

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> optical frame (..., 3), metres."""
        return (np.asarray(points, dtype=np.float64) - self.position) @ self.rotation


@dataclass
class Room:
    """The static part of a scene: room surfaces and clutter, plus the free floor area where
    people may be placed (``area``: x_min, x_max, y_min, y_max, world metres)."""

    objects: list[SceneObject] = field(default_factory=list)
    area: tuple[float, float, float, float] = (2.5, 4.6, -1.0, 1.0)


def camera_intrinsics(resolution: tuple[int, int]) -> PinholeCamera:
    """Realistic intrinsics: 640x480 RealSense-D435-like colour (fx = fy = 615), 320x240 ITOP-like
    (fx = fy = 285.714); other sizes scale the 640x480 camera."""
    w, h = resolution
    if (w, h) == (320, 240):
        return PinholeCamera(fx=285.714, fy=285.714, cx=160.0, cy=120.0, width=320, height=240)
    base = PinholeCamera(fx=615.0, fy=615.0, cx=319.5, cy=239.5, width=640, height=480)
    return base if (w, h) == (640, 480) else base.scaled(w / 640, h / 480)


def look_camera(position: np.ndarray, yaw: float, pitch: float, roll: float = 0.0) -> CameraPose:
    """Camera at ``position`` looking along heading ``yaw`` (rad about Z from +X), tilted down by
    ``pitch`` rad and rolled by ``roll`` rad about its optical axis."""
    f = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    c, s = np.cos(roll), np.sin(roll)
    r, d = c * r + s * d, -s * r + c * d
    return CameraPose(rotation=np.stack([r, d, f], axis=1), position=np.asarray(position, dtype=np.float64))


def box(center: np.ndarray, size: np.ndarray, yaw: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box (rotated by ``yaw`` about Z): (8, 3) vertices, (12, 3) triangles."""
    c = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)]) * size
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    tris = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return (c @ rz.T + center).astype(np.float32), tris.astype(np.int32)


def cylinder(center_xy: np.ndarray, radius: float, height: float,
             n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Upright closed cylinder standing on the floor: vertices (2n + 2, 3), triangles (4n, 3)."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([center_xy[0] + radius * np.cos(a), center_xy[1] + radius * np.sin(a)], axis=1)
    v = np.concatenate([np.c_[ring, np.zeros(n)], np.c_[ring, np.full(n, height)],
                        [[center_xy[0], center_xy[1], 0.0], [center_xy[0], center_xy[1], height]]])
    i = np.arange(n)
    j = (i + 1) % n
    tris = np.concatenate([np.stack([i, j, n + j], 1), np.stack([i, n + j, n + i], 1),
                           np.stack([np.full(n, 2 * n), j, i], 1),
                           np.stack([np.full(n, 2 * n + 1), n + i, n + j], 1)])
    return v.astype(np.float32), tris.astype(np.int32)


def random_room(rng: np.random.Generator, n_clutter: int = 5, min_depth_m: float = 0.0) -> Room:
    """A room about 6-9 m deep (at least ``min_depth_m``) and 6-8 m wide with a planked floor, three
    walls, a ceiling and a few boxes and cylinders outside the area kept free for people."""
    depth, width, height = max(rng.uniform(6.0, 9.0), min_depth_m), rng.uniform(6.0, 8.0), 2.8
    x0, x1, y0, y1 = -1.0, depth, -width / 2, width / 2
    objs = []
    v, t = box(np.array([(x0 + x1) / 2, 0.0, -0.05]), np.array([x1 - x0, y1 - y0, 0.1]))
    objs.append(SceneObject(v, t, rng.uniform(0.35, 0.75, 3), "floor"))
    wall = rng.uniform(0.55, 0.9, 3)
    for c, s in (((x1 + 0.05, 0.0, height / 2), (0.1, y1 - y0, height)),
                 (((x0 + x1) / 2, y0 - 0.05, height / 2), (x1 - x0, 0.1, height)),
                 (((x0 + x1) / 2, y1 + 0.05, height / 2), (x1 - x0, 0.1, height)),
                 (((x0 + x1) / 2, 0.0, height + 0.05), (x1 - x0, y1 - y0, 0.1))):
        v, t = box(np.array(c), np.array(s))
        objs.append(SceneObject(v, t, np.clip(wall * rng.uniform(0.85, 1.15, 3), 0, 1), "wall"))
    area = (2.5, min(4.6, x1 - 1.0), max(-1.0, y0 + 0.8), min(1.0, y1 - 0.8))
    for _ in range(n_clutter):
        for _try in range(20):  # keep clutter out of the people area
            xy = np.array([rng.uniform(1.0, x1 - 0.4), rng.uniform(y0 + 0.4, y1 - 0.4)])
            if not (area[0] - 0.6 < xy[0] < area[1] + 0.6 and area[2] - 0.6 < xy[1] < area[3] + 0.6):
                break
        else:
            continue
        if rng.random() < 0.6:
            size = np.array([rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.4)])
            v, t = box(np.array([xy[0], xy[1], size[2] / 2]), size, rng.uniform(0, np.pi))
        else:
            v, t = cylinder(xy, rng.uniform(0.12, 0.35), rng.uniform(0.4, 1.8))
        objs.append(SceneObject(v, t, rng.uniform(0.1, 0.9, 3), "plain"))
    return Room(objects=objs, area=area)


def random_camera(rng: np.random.Generator, room: Room) -> CameraPose:
    """Camera 1.0-1.6 m high, near x = 0, aimed at the middle of the people area at ~1 m."""
    h = rng.uniform(1.0, 1.6)
    pos = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), h])
    target = np.array([(room.area[0] + room.area[1]) / 2, (room.area[2] + room.area[3]) / 2, 1.0])
    d = target - pos
    yaw = np.arctan2(d[1], d[0]) + rng.normal(0, np.radians(3))
    pitch = np.arctan2(-d[2], np.hypot(d[0], d[1])) + rng.normal(0, np.radians(2))
    return look_camera(pos, yaw, pitch, roll=rng.normal(0, np.radians(1)))


@dataclass(frozen=True)
class ViewConfig:
    """The scene distribution robots see (used when a recording sets ``views``).

    Attributes:
        camera_height_m: camera height range (m).
        pitch_deg: camera pitch range (deg; negative looks down, positive up). The camera aims
            at the people area's middle 0.9 m above the floor, jittered by 8 deg, clipped to this.
        distance_m: range of the people area's distance from the camera (m, along the view).
        area_width_m: width of the people area (m).
        wall_behind_p: probability that the back wall stands 0.2-0.6 m behind the people area
            (people against a wall).
        occluder_p: probability of a piece of furniture (a table, chair or sofa) between the
            camera and the people area, hiding legs or the lower body.
        clutter: boxes and cylinders elsewhere in the room.
        furniture: chairs, tables, sofas, shelves and plants around the people area
            (``synthetic.furniture``), in view of the camera.
    """

    camera_height_m: tuple[float, float] = (0.4, 2.0)
    pitch_deg: tuple[float, float] = (-30.0, 15.0)
    distance_m: tuple[float, float] = (0.8, 5.0)
    area_width_m: float = 2.0
    wall_behind_p: float = 0.3
    occluder_p: float = 0.3
    clutter: int = 4
    furniture: int = 3


def random_view(rng: np.random.Generator, view: ViewConfig) -> tuple[Room, CameraPose]:
    """A room and a camera drawn from ``view``: the people area spans a random distance slice
    (at least 0.8 m deep) within ``view.distance_m``; the camera aims at the area's middle at a
    random height and pitch, so people may be cut by the image border."""
    d_lo, d_hi = view.distance_m
    near = rng.uniform(d_lo, max(d_lo, d_hi - 0.8))
    far = min(d_hi, near + rng.uniform(0.8, 2.0))
    room = random_room(rng, view.clutter, min_depth_m=far + 1.0)  # people never stand in the back wall
    if rng.random() < view.wall_behind_p:  # move the back wall's near face 0.2-0.6 m behind
        wall = room.objects[1].vertices
        wall[:, 0] += np.float32(far + rng.uniform(0.2, 0.6) - wall[:, 0].min())
    hw = view.area_width_m / 2
    room.area = (near, far, -hw, hw)
    # drop clutter that stands inside the people area
    keep = room.objects[:5]
    for o in room.objects[5:]:
        x, y = o.vertices[:, 0], o.vertices[:, 1]
        if x.max() < near - 0.3 or x.min() > far + 0.3 or y.max() < -hw - 0.3 or y.min() > hw + 0.3:
            keep.append(o)
    room.objects = keep
    from unipose_ros.synthetic.furniture import random_furniture

    cx = near - rng.uniform(0.5, 0.9)  # just in front of the people area
    if rng.random() < view.occluder_p and cx > 0.9:
        room.objects.append(random_furniture(rng, np.array([cx, rng.uniform(-hw, hw)]), ("table", "chair", "sofa"),
                                             yaw=rng.uniform(-0.4, 0.4) + np.pi / 2 * rng.integers(0, 4)))
    for _ in range(view.furniture):  # beside and behind the people area, where the camera sees
        for _try in range(10):
            xy = np.array([rng.uniform(max(1.0, near - 0.5), far + 2.0), rng.uniform(-hw - 2.0, hw + 2.0)])
            if not (near - 0.6 < xy[0] < far + 0.6 and -hw - 0.6 < xy[1] < hw + 0.6):
                room.objects.append(random_furniture(rng, xy))
                break
    h = rng.uniform(*view.camera_height_m)
    pos = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), h])
    target = np.array([(near + far) / 2, 0.0, 0.9])
    d = target - pos
    yaw = np.arctan2(d[1], d[0]) + rng.normal(0, np.radians(5))
    up = np.degrees(np.arctan2(d[2], np.hypot(d[0], d[1]))) + rng.normal(0, 8.0)
    pitch = -np.radians(np.clip(up, *view.pitch_deg))  # look_camera: positive tilts down
    return room, look_camera(pos, yaw, pitch, roll=rng.normal(0, np.radians(2)))
