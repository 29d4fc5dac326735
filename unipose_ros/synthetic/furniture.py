"""Procedural furniture for the synthetic rooms: chairs, tables, sofas, shelves and plants, each a
single triangle mesh built from boxes and cylinders with randomised proportions (real rooms are
not made of boxes: legs, backs, armrests and leaves are what a person detector must learn to
reject, and what hides people's legs).

World frame: Z up, metres; every piece stands on the floor (z = 0) at ``xy`` turned by ``yaw``.
"""
from __future__ import annotations

import numpy as np

from unipose_ros.synthetic.scene import SceneObject, box, cylinder

KINDS = ("chair", "table", "sofa", "shelf", "plant")


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    verts, tris, n = [], [], 0
    for v, t in parts:
        verts.append(v)
        tris.append(t + n)
        n += len(v)
    return np.concatenate(verts).astype(np.float32), np.concatenate(tris).astype(np.int32)


def _place(parts: list[tuple[np.ndarray, np.ndarray]], xy: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Parts built around the origin, turned by ``yaw`` about Z and moved to ``xy``."""
    v, t = _merge(parts)
    c, s = np.cos(yaw), np.sin(yaw)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)
    return (v @ rz.T + np.array([xy[0], xy[1], 0.0], np.float32)).astype(np.float32), t


def _legs(rng, w: float, d: float, h: float, r: float) -> list:
    return [box(np.array([sx * (w / 2 - r), sy * (d / 2 - r), h / 2]), np.array([2 * r, 2 * r, h]))
            for sx in (-1, 1) for sy in (-1, 1)]


def chair(rng: np.random.Generator) -> list:
    w, d = rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.55)
    seat_h, back_h = rng.uniform(0.4, 0.5), rng.uniform(0.35, 0.55)
    parts = _legs(rng, w, d, seat_h, 0.02)
    parts.append(box(np.array([0, 0, seat_h + 0.025]), np.array([w, d, 0.05])))
    parts.append(box(np.array([-d / 2 + 0.025, 0, seat_h + 0.05 + back_h / 2]), np.array([0.05, w, back_h])))
    return parts


def table(rng: np.random.Generator) -> list:
    w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.6, 0.9), rng.uniform(0.7, 0.78)
    parts = _legs(rng, w, d, h - 0.04, 0.03)
    parts.append(box(np.array([0, 0, h - 0.02]), np.array([w, d, 0.04])))
    return parts


def sofa(rng: np.random.Generator) -> list:
    w, d = rng.uniform(1.4, 2.2), rng.uniform(0.8, 1.0)
    seat_h, back_h, arm = rng.uniform(0.38, 0.48), rng.uniform(0.35, 0.5), rng.uniform(0.12, 0.22)
    return [box(np.array([0, 0, seat_h / 2]), np.array([d, w, seat_h])),
            box(np.array([-d / 2 + 0.1, 0, seat_h + back_h / 2]), np.array([0.2, w, back_h])),
            box(np.array([0, -w / 2 + arm / 2, seat_h + 0.1]), np.array([d, arm, 0.2])),
            box(np.array([0, w / 2 - arm / 2, seat_h + 0.1]), np.array([d, arm, 0.2]))]


def shelf(rng: np.random.Generator) -> list:
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.3, 0.45), rng.uniform(1.2, 2.0)
    n = int(rng.integers(3, 6))
    parts = [box(np.array([0, sy * (w / 2 - 0.01), h / 2]), np.array([d, 0.02, h])) for sy in (-1, 1)]
    parts += [box(np.array([0, 0, h * (k + 0.5) / n]), np.array([d, w, 0.02])) for k in range(n)]
    for k in range(n):  # a few books or boxes on each board
        for _ in range(int(rng.integers(0, 4))):
            bh = rng.uniform(0.1, 0.8 * h / n)
            parts.append(box(np.array([0, rng.uniform(-w / 2 + 0.1, w / 2 - 0.1), h * (k + 0.5) / n + 0.01 + bh / 2]),
                             np.array([d * 0.8, rng.uniform(0.05, 0.2), bh])))
    return parts


def plant(rng: np.random.Generator) -> list:
    pot_r, pot_h = rng.uniform(0.12, 0.22), rng.uniform(0.25, 0.45)
    parts = [cylinder(np.zeros(2), pot_r, pot_h, 16)]
    stem_h = rng.uniform(0.5, 1.4)
    parts.append(box(np.array([0, 0, pot_h + stem_h / 2]), np.array([0.03, 0.03, stem_h])))
    for _ in range(int(rng.integers(6, 14))):  # leaves: thin tilted slabs around the stem
        z = pot_h + rng.uniform(0.3, 1.0) * stem_h
        a = rng.uniform(0, 2 * np.pi)
        length = rng.uniform(0.2, 0.45)
        v, t = box(np.array([length / 2, 0, 0]), np.array([length, rng.uniform(0.06, 0.15), 0.01]))
        tilt = rng.uniform(-0.6, 0.4)
        ry = np.array([[np.cos(tilt), 0, np.sin(tilt)], [0, 1, 0], [-np.sin(tilt), 0, np.cos(tilt)]])
        rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        parts.append(((v @ (rz @ ry).T + np.array([0, 0, z])).astype(np.float32), t))
    return parts


BUILDERS = {"chair": chair, "table": table, "sofa": sofa, "shelf": shelf, "plant": plant}


def random_furniture(rng: np.random.Generator, xy: np.ndarray, kinds: tuple[str, ...] = KINDS,
                     yaw: float | None = None) -> SceneObject:
    """One piece of a kind drawn from ``kinds``, standing at ``xy`` (world metres)."""
    kind = str(rng.choice(list(kinds)))
    parts = BUILDERS[kind](rng)
    v, t = _place(parts, np.asarray(xy, float), rng.uniform(-np.pi, np.pi) if yaw is None else yaw)
    colour = rng.uniform(0.05, 0.9, 3) if kind != "plant" else np.array([0.1, rng.uniform(0.3, 0.6), 0.1])
    return SceneObject(v, t, colour, "plain")
