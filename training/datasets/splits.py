"""Train / test splits of synthetic recordings with exact ground truth.

The splits never share a body, a motion clip, a room or a camera placement: every recording draws
its room, camera and bodies from its own seed, and the two splits use disjoint seed ranges and
disjoint clip lists. Recordings are ordinary rosbag2 files (``unipose_ros.io.bag`` layout), so the
same readers serve synthetic and real data.

Example::

    python -m unipose_training.datasets.splits --config config/splits.yaml --out data/synthetic
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from unipose_ros.core.config import load_yaml
from unipose_ros.synthetic.recording import GeneratorConfig, generate_recording
from unipose_ros.synthetic.scene import ViewConfig

#: Clips kept out of training, so the test split shows motions the models never saw.
TEST_CLIPS: tuple[str, ...] = ("dance_b", "kick", "jump", "getup_faceup")
#: Sensors no training recording uses (the cross-sensor split), and its bodies: older and heavier
#: than any training body.
CROSS_SENSORS: tuple[str, ...] = ("azure_kinect_nfov", "xtion", "d455")
HEAVY_BODIES: dict[str, tuple[float, float]] = {"age": (0.85, 1.0), "weight": (0.8, 1.0), "muscle": (0.1, 0.5)}


@dataclass
class SplitSpec:
    """One split: ``recordings`` recordings of ``frames`` frames each.

    Attributes:
        recordings: number of recordings.
        frames: frames per recording.
        fps: frame rate; a low rate spreads the frames over more motion.
        seed0: seed of the first recording (recording i uses ``seed0 + i``).
        motions: clip names; None = every bundled clip not in the other split's list.
        two_people_every: every n-th recording shows two people (0 = never).
        large_every: every n-th recording is 640x480 (the others 320x240; 0 = never).
        sensors: named sensors cycled over the recordings (``synthetic.sensors.SENSORS``; their
            size replaces ``large_every``); None = the generic sensor model.
        views: the scene distribution (``scene.ViewConfig``); None = the fixed room layout.
        body_ranges: phenotype ranges of the bodies; None = the training ranges.
        people_cycle: people per recording, cycled (replaces ``two_people_every`` when set).
        everyday: share of motion segments drawn from the procedural everyday poses (sitting,
            gestures, bending, crouching, kneeling, lying; ``synthetic.everyday``).
    """

    recordings: int = 4
    frames: int = 50
    fps: float = 6.0
    seed0: int = 1000
    motions: list[str] | None = None
    two_people_every: int = 3
    large_every: int = 3
    sensors: list[str] | None = None
    views: ViewConfig | None = None
    body_ranges: dict[str, tuple[float, float]] | None = None
    people_cycle: list[int] | None = None
    everyday: float = 0.0


@dataclass
class SplitsConfig:
    """The splits (see :class:`SplitSpec`): ``train``; ``test`` (held-out clips, bodies and rooms);
    ``cross`` (also held-out sensors, views and heavier, older bodies); ``everyday`` (as cross, with
    60 % of the segments procedural everyday poses drawn from seeds no training recording uses)."""

    train: SplitSpec = field(default_factory=lambda: SplitSpec(recordings=48, frames=100, seed0=1000))
    test: SplitSpec = field(default_factory=lambda: SplitSpec(recordings=8, frames=40, seed0=9000,
                                                              motions=list(TEST_CLIPS)))
    cross: SplitSpec = field(default_factory=lambda: SplitSpec(
        recordings=6, frames=30, fps=4.0, seed0=30000, motions=list(TEST_CLIPS),
        sensors=list(CROSS_SENSORS), views=ViewConfig(), body_ranges=dict(HEAVY_BODIES), people_cycle=[1, 2, 3]))
    everyday: SplitSpec = field(default_factory=lambda: SplitSpec(
        recordings=6, frames=30, fps=4.0, seed0=31000, motions=list(TEST_CLIPS), everyday=0.6,
        sensors=list(CROSS_SENSORS), views=ViewConfig(), body_ranges=dict(HEAVY_BODIES), people_cycle=[1, 2]))


def split_motions(cfg: SplitsConfig, split: str) -> list[str]:
    """Clip names a split draws from; the train split excludes the test clips and vice versa."""
    from unipose_ros.synthetic.motions import available_clips

    spec = getattr(cfg, split)
    if spec.motions:
        return list(spec.motions)
    other = cfg.test if split == "train" else cfg.train
    held = set(other.motions or (TEST_CLIPS if split == "train" else ()))
    return [c for c in available_clips() if c not in held]


def recording_configs(cfg: SplitsConfig, split: str) -> list[GeneratorConfig]:
    """The generator settings of every recording of ``split`` ("train", "test", "cross" or "everyday")."""
    spec: SplitSpec = getattr(cfg, split)
    motions = split_motions(cfg, split)
    out = []
    for i in range(spec.recordings):
        two = spec.two_people_every > 0 and i % spec.two_people_every == spec.two_people_every - 1
        large = spec.large_every > 0 and i % spec.large_every == 0
        people = spec.people_cycle[i % len(spec.people_cycle)] if spec.people_cycle else (2 if two else 1)
        extra = {}
        if spec.sensors:
            extra = dict(sensor=spec.sensors[i % len(spec.sensors)], random_phase=True, speed=(0.6, 1.5))
        out.append(GeneratorConfig(frames=spec.frames, fps=spec.fps, seed=spec.seed0 + i, motions=motions,
                                   people=people, resolution=(640, 480) if large else (320, 240),
                                   views=spec.views, body_ranges=spec.body_ranges, everyday=spec.everyday,
                                   **extra))
    return out


def generate_splits(cfg: SplitsConfig, out: Path, splits: tuple[str, ...] = ("train", "test"),
                    progress: bool = True) -> dict[str, list[Path]]:
    """Write the recordings of ``splits`` under ``out/<split>/rec_<seed>``; recordings already there
    are kept (the command resumes). Returns the recording paths per split."""
    from unipose_ros.synthetic.bodies import BodyModel

    body = BodyModel()
    paths: dict[str, list[Path]] = {}
    for split in splits:
        configs = recording_configs(cfg, split)
        paths[split] = []
        for i, gc in enumerate(configs):
            path = out / split / f"rec_{gc.seed:05d}"
            paths[split].append(path)
            done = path / "generator.json"
            if done.exists():
                continue
            if path.exists():  # interrupted: start this recording again
                import shutil

                shutil.rmtree(path)
            t0 = time.perf_counter()
            info = generate_recording(path, gc, body=body, progress=False)
            done.write_text(json.dumps({"config": gc.to_dict(), "visible_fraction": info.visible_fraction}, indent=1))
            if progress:
                print(f"[{split} {i + 1}/{len(configs)}] {path.name}: {gc.frames} frames "
                      f"{gc.resolution[0]}x{gc.resolution[1]}, {gc.people} people, "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
    (out / "splits.json").write_text(json.dumps(asdict(cfg), indent=1))
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, help="YAML SplitsConfig (default: built-in sizes)")
    ap.add_argument("--out", type=Path, required=True, help="output folder (train/ and test/ inside)")
    ap.add_argument("--split", choices=("train", "test", "cross", "everyday", "both"), default="both",
                    help="both = train and test; cross = the cross-sensor held-out split; everyday = cross "
                         "with everyday poses")
    args = ap.parse_args(argv)
    cfg = load_yaml(SplitsConfig, args.config) if args.config else SplitsConfig()
    splits = ("train", "test") if args.split == "both" else (args.split,)
    generate_splits(cfg, args.out, splits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
