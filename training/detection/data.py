"""Detector training data: short synthetic recordings across sensors, views, bodies and people
counts, stored as depth at the detector's input width with the exact person instance of every
pixel.

    python -m unipose_training.detection.data --out data/detect/train --recordings 400
    python -m unipose_training.detection.data --out data/detect/cross --recordings 40 \\
        --sensors cross --seed 900000 --heavy-bodies        # the held-out sensors and bodies
    python -m unipose_training.detection.data --out data/detect/everyday --recordings 300 \\
        --seed 700000 --everyday 0.5                        # sitting, crouching, lying... people
    python -m unipose_training.detection.data --out data/detect/far --recordings 400 \
        --seed 800000 --distance 3.0 7.0 --people-p 0 0.3 0.35 0.35   # far and crowded people

One ``rec_<seed>.npz`` per recording (written atomically, so an interrupted run resumes where it
stopped): ``depth`` (F, h, w) uint16 mm, ``instance`` (F, h, w) int8 (-1 background), ``fx``,
``sensor``, ``joints`` (F, P, 15, 3) ITOP-15 metres in the optical frame of the resized image's
camera, ``visible`` (F, P) bool.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from unipose_ros.models.detector import resize_rows_cols
from unipose_ros.synthetic.scene import ViewConfig
from unipose_training.datasets.splits import CROSS_SENSORS, HEAVY_BODIES

TRAIN_SENSORS = ("kinect_v1", "itop", "kinect_v2", "d435")



@dataclass(frozen=True)
class DetectionDataConfig:
    """What the detector sees in training.

    Attributes:
        recordings: number of short recordings (each its own room, camera, sensor, bodies).
        frames: frames per recording; fps: their rate (low: poses differ between frames).
        sensors: sensor presets drawn uniformly (``synthetic.sensors.SENSORS``).
        people_p: probabilities of 0, 1, 2 and 3 people in a recording.
        width: stored width (the detector's input width); height follows the sensor's aspect.
        seed: recording ``i`` uses seed ``seed + i``.
        views: scene distribution.
        heavy_bodies: draw phenotypes from the heavy / old end (a body distribution training
            does not use, for the cross-sensor set).
        everyday: share of motion segments from the procedural everyday poses (sitting,
            crouching, lying...; ``synthetic.everyday``).
    """

    recordings: int = 400
    frames: int = 6
    fps: float = 1.5
    sensors: tuple[str, ...] = TRAIN_SENSORS
    people_p: tuple[float, float, float, float] = (0.1, 0.45, 0.3, 0.15)
    width: int = 320
    seed: int = 500_000
    views: ViewConfig = field(default_factory=ViewConfig)
    heavy_bodies: bool = False
    everyday: float = 0.0


def resize_nearest(a: np.ndarray, width: int) -> np.ndarray:
    """(H, W, ...) -> (round(H * width / W), width, ...) by nearest neighbour (no mixed depths
    at silhouettes, invalid pixels stay invalid): the detector's own resize."""
    rows, cols, _, _ = resize_rows_cols(a.shape[:2], width)
    return a[rows][:, cols]


def recording_plan(cfg: DetectionDataConfig, i: int) -> tuple[int, str]:
    """(people, sensor) of recording ``i``: drawn from ``cfg.people_p`` and uniformly from
    ``cfg.sensors`` with the recording's own seed."""
    rng = np.random.default_rng(cfg.seed + i)
    people = int(rng.choice(4, p=np.asarray(cfg.people_p) / np.sum(cfg.people_p)))
    return people, str(rng.choice(list(cfg.sensors)))


def generate(cfg: DetectionDataConfig, out: Path, progress: bool = True) -> dict:
    """Write the recordings of ``cfg`` under ``out`` (skipping those already there); returns counts."""
    from unipose_ros.core.joints import ITOP15
    from unipose_ros.synthetic.bodies import BodyModel
    from unipose_ros.synthetic.recording import GeneratorConfig, generate_frames

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1))
    body = BodyModel()
    todo = [i for i in range(cfg.recordings) if not (out / f"rec_{cfg.seed + i}.npz").exists()]
    it = todo
    if progress:
        from tqdm import tqdm

        it = tqdm(todo, unit="rec", desc="detector data")
    t0, frames = time.perf_counter(), 0
    for i in it:
        seed = cfg.seed + i
        people, sensor = recording_plan(cfg, i)
        gen = GeneratorConfig(frames=cfg.frames, fps=cfg.fps, people=people, seed=seed, sensor=sensor,
                              views=cfg.views, random_phase=True, speed=(0.6, 1.5),
                              body_ranges=HEAVY_BODIES if cfg.heavy_bodies else None, everyday=cfg.everyday)
        depth, inst, joints, visible, fx = [], [], [], [], 0.0
        for sf in generate_frames(gen, body):
            depth.append(resize_nearest(sf.depth_mm, cfg.width))
            inst.append(resize_nearest(sf.instance, cfg.width).astype(np.int8))
            joints.append(sf.joints_all[ITOP15.name])
            vis = np.zeros(people, bool)
            vis[[p.track_id for p in sf.ground_truth[ITOP15.name]]] = True
            visible.append(vis)
            fx = sf.frame.camera.fx * cfg.width / sf.frame.camera.width
        tmp = out / f"rec_{seed}.tmp.npz"
        np.savez_compressed(tmp, depth=np.stack(depth), instance=np.stack(inst), fx=np.float32(fx),
                            sensor=sensor, joints=np.stack(joints).astype(np.float32), visible=np.stack(visible))
        tmp.rename(out / f"rec_{seed}.npz")
        frames += cfg.frames
    return {"recordings": len(todo), "frames": frames, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--recordings", type=int, default=DetectionDataConfig.recordings)
    ap.add_argument("--frames", type=int, default=DetectionDataConfig.frames)
    ap.add_argument("--sensors", type=str, default=",".join(TRAIN_SENSORS))
    ap.add_argument("--seed", type=int, default=DetectionDataConfig.seed)
    ap.add_argument("--heavy-bodies", action="store_true")
    ap.add_argument("--everyday", type=float, default=0.0, help="share of everyday-pose segments (0-1)")
    ap.add_argument("--distance", type=float, nargs=2, metavar=("NEAR", "FAR"),
                    default=ViewConfig().distance_m, help="range of the people's distance from the camera (m)")
    ap.add_argument("--people-p", type=float, nargs=4, metavar=("P0", "P1", "P2", "P3"),
                    default=DetectionDataConfig.people_p, help="probabilities of 0, 1, 2 and 3 people")
    args = ap.parse_args(argv)
    sensors = CROSS_SENSORS if args.sensors == "cross" else tuple(s for s in args.sensors.split(",") if s)
    cfg = replace(DetectionDataConfig(), recordings=args.recordings, frames=args.frames, sensors=sensors, seed=args.seed,
                  heavy_bodies=args.heavy_bodies, everyday=args.everyday, people_p=tuple(args.people_p),
                  views=replace(ViewConfig(), distance_m=tuple(args.distance)))
    print(generate(cfg, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
