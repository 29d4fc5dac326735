"""Synthetic RGB-D recordings with exact 3D ground truth.

:func:`generate_frames` yields rendered frames with ground truth (numpy, no files);
:func:`generate_recording` writes them to a rosbag2 recording (layout in ``unipose_ros.io.bag``).
Everything random derives from ``GeneratorConfig.seed``.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import COCO17, ITOP15
from unipose_ros.core.pose import Modality, PersonPose
from unipose_ros.synthetic import everyday as everyday_poses
from unipose_ros.synthetic import motions as mo
from unipose_ros.synthetic.bodies import BodyModel, PosedBody, sample_phenotype
from unipose_ros.synthetic.render import Renderer
from unipose_ros.synthetic.scene import ViewConfig, camera_intrinsics, random_camera, random_room, random_view
from unipose_ros.synthetic.sensor import DepthNoise, apply_depth_noise, apply_rgb_noise, sensor_depth_metres
from unipose_ros.synthetic.sensors import apply_sensor, sensor

FRAME_ID = "camera_color_optical_frame"
#: File next to a recording's bag data: the motion segment of every person in every frame.
MOTION_LABELS = "motion_labels.json"
START_STAMP_NS = 1_700_000_000_000_000_000


@dataclass
class GeneratorConfig:
    """Settings of one synthetic recording.

    Attributes:
        frames: number of frames.
        fps: frame rate (Hz).
        resolution: (width, height) pixels; 640x480 (RealSense-like) or 320x240 (ITOP-like).
        people: number of people (0 = an empty room, 1-3), placed so that they do not collide.
        seed: seed of every random choice (room, camera, bodies, motions, noise).
        motions: clip names to draw from (see ``motions.available_clips``, and
            ``everyday.everyday_clips``); None = all bundled clips.
        min_people_pixels: a person is listed in the ground truth of a frame only if at least
            this many of their pixels are visible.
        clutter: number of boxes / cylinders in the room.
        augment: mirror, mix and perturb clips.
        depth_noise: sensor model.
        cloud_stride: the point cloud takes every ``cloud_stride``-th depth pixel (a driver's
            decimation filter; 2 gives ~75k points at 640x480).
        sensor: a named depth sensor (``synthetic.sensors.SENSORS``: its resolution, intrinsics
            and artefacts replace ``resolution`` and ``depth_noise``); "" = the generic model.
        views: the scene distribution (camera height and pitch, distance, walls, occluders;
            ``scene.ViewConfig``); None = the fixed room layout of the original splits.
        body_ranges: phenotype ranges of the bodies (``bodies.PHENOTYPE_RANGES`` keys); None =
            the training ranges.
        random_phase: each clip segment starts at a random phase of its clip.
        speed: playback speed range of each segment (1 = as captured).
        everyday: share of the motion segments drawn from the procedural everyday poses
            (``synthetic.everyday``: sitting, gestures, bending, crouching, kneeling, lying; every
            family unless ``motions`` names some); 0 = the motion-capture clips only.
    """

    frames: int = 60
    fps: float = 15.0
    resolution: tuple[int, int] = (640, 480)
    people: int = 1
    seed: int = 0
    motions: list[str] | None = None
    min_people_pixels: int = 50
    clutter: int = 5
    augment: bool = True
    depth_noise: DepthNoise = field(default_factory=DepthNoise)
    cloud_stride: int = 2
    sensor: str = ""
    views: ViewConfig | None = None
    random_phase: bool = False
    speed: tuple[float, float] = (1.0, 1.0)
    body_ranges: dict[str, tuple[float, float]] | None = None
    everyday: float = 0.0

    def __post_init__(self) -> None:
        if self.sensor:
            model = sensor(self.sensor)
            self.resolution = (model.width, model.height)
        self.resolution = tuple(int(v) for v in self.resolution)  # type: ignore[assignment]
        self.speed = tuple(float(v) for v in self.speed)  # type: ignore[assignment]
        if isinstance(self.views, dict):
            self.views = ViewConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in self.views.items()})
        if not 0.0 <= self.everyday <= 1.0:
            raise ValueError(f"everyday is a share of the motion segments in [0, 1], got {self.everyday}")
        if self.frames < 1 or self.people < 0 or self.fps <= 0:
            raise ValueError(f"frames ({self.frames}) and fps ({self.fps}) must be positive, people "
                             f"({self.people}) >= 0 (0: an empty room)")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: object) -> "GeneratorConfig":
        """Load from a YAML mapping with the field names above (``depth_noise`` a nested mapping);
        ``overrides`` (non-None values) replace loaded values."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        if "depth_noise" in data:
            data["depth_noise"] = DepthNoise(**data["depth_noise"])
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RecordingInfo:
    """Summary of a generated recording."""

    path: Path
    frames: int
    people: int
    resolution: tuple[int, int]
    fps: float
    seconds: float
    visible_fraction: float  # fraction of (frame, person) pairs with the person visible
    motions: list[str]


@dataclass
class SyntheticFrame:
    """One generated frame with everything a test may check.

    Attributes:
        frame: what the camera gives (rgb, depth in metres after the sensor model).
        ground_truth: joint-set name -> visible people's poses (optical frame, metres).
        clean_depth: (H, W) float32 metres before sensor effects, NaN where nothing was hit.
        depth_mm: (H, W) uint16 sensor depth in millimetres (0 invalid).
        instance: (H, W) int16 person index per pixel (-1 room).
        joints_all: joint-set name -> (P, J, 3) joints of every person, visible or not.
        motions: the motion segment each person shows (person index -> e.g. ``"walk~mirror"``,
            ``"everyday_sit"``; ``motions.clip_family`` gives the clip).
    """

    frame: RGBDFrame
    ground_truth: dict[str, list[PersonPose]]
    clean_depth: np.ndarray
    depth_mm: np.ndarray
    instance: np.ndarray
    joints_all: dict[str, np.ndarray]
    motions: dict[int, str] = field(default_factory=dict)


#: version of the motion planner (:func:`plan_motion`), written into every recording's
#: ``MOTION_LABELS`` file: 1 restarted each segment clipped into the people area (a jump of up
#: to metres between two frames) and let segments run out of it; 2 has neither.
PLANNER_VERSION = 2

#: how far (m) a planned person may walk out of the people area before their segment ends
AREA_MARGIN_M = 0.3


def _outside_each(xy: np.ndarray, area: tuple[float, float, float, float]) -> np.ndarray:
    """(N,) distance (m) by which each point of ``xy`` (N, 2) is outside the rectangle ``area``."""
    dx = np.maximum(area[0] - xy[:, 0], 0) + np.maximum(xy[:, 0] - area[1], 0)
    dy = np.maximum(area[2] - xy[:, 1], 0) + np.maximum(xy[:, 1] - area[3], 0)
    return np.hypot(dx, dy)


def _outside(xy: np.ndarray, area: tuple[float, float, float, float]) -> float:
    """Largest distance (m) by which points (N, 2) leave the rectangle ``area``."""
    return float(np.max(_outside_each(xy, area)))


def plan_motion(rng: np.random.Generator, clips: dict[str, mo.Motion], n_frames: int, fps: float,
                area: tuple[float, float, float, float], augment: bool = True, random_phase: bool = False,
                speed: tuple[float, float] = (1.0, 1.0), everyday: float = 0.0) -> mo.Motion:
    """A motion of ``n_frames`` at ``fps`` made of clip segments (2-5 s of a looping clip or one
    play of a clip), each augmented and placed in ``area`` with the heading that keeps it
    inside best; a segment that still leaves the area by more than ``AREA_MARGIN_M`` ends there
    (at least 0.5 s long), and the next one turns back in: people walk about a room, not through
    its walls. Each segment starts exactly where the previous one ended: a person never jumps
    from one frame to the next (the pose and heading may change there).
    With ``random_phase`` each segment starts at a uniform phase of its clip; its playback
    speed is uniform in ``speed``. A share ``everyday`` of the segments comes from the procedural
    everyday clips among ``clips`` (``synthetic.everyday``), the rest from the others."""
    daily = [n for n in clips if everyday_poses.is_everyday(n)]
    names = [n for n in clips if n not in daily] or daily
    upright = [n for n in names if n in mo.UPRIGHT_CLIPS] or names
    parts: list[mo.Motion] = []
    pos = np.array([rng.uniform(area[0], area[1]), rng.uniform(area[2], area[3])])
    total = 0
    while total < n_frames:
        if daily and everyday > 0 and rng.random() < everyday:
            name = rng.choice(daily)
        else:
            name = rng.choice(upright) if rng.random() < 0.85 else rng.choice(names)
        clip = clips[name]
        length = int(rng.uniform(2.0, 5.0) * fps) if clip.loop else int(clip.duration * fps) + 1
        length = max(1, min(length, n_frames - total))
        start = rng.uniform(0.0, clip.duration) if random_phase else 0.0
        rate = rng.uniform(*speed) if speed[0] != speed[1] else speed[0]
        seg = mo.resample(clip, fps, length, start_s=start, speed=rate)
        if augment:
            if rng.random() < 0.5:
                seg = mo.mirror(seg)
            if name in upright and len(upright) > 1 and rng.random() < 0.3:
                other = clips[rng.choice([n for n in upright if n != name])]
                seg = mo.mix(seg, mo.resample(other, fps, length))
            seg = mo.perturb(seg, rng)
        best, best_out = None, np.inf
        for heading in rng.uniform(-np.pi, np.pi, 12):
            cand = mo.place(seg, heading, pos)
            out = _outside(cand.root_pos[:, :2] * 1.0, area)
            if out < best_out:
                best, best_out = cand, out
        if best_out > AREA_MARGIN_M:  # no heading stays inside: the person turns where they leave it
            away = np.flatnonzero(_outside_each(best.root_pos[:, :2], area) > AREA_MARGIN_M)
            keep = max(int(away[0]), min(len(best), int(0.5 * fps)), 1)
            best = replace(best, root_pos=best.root_pos[:keep], root_rot=best.root_rot[:keep],
                           local=best.local[:keep])
        parts.append(best)
        total += len(best)
        pos = best.root_pos[-1, :2].copy()
    return mo.Motion(name="|".join(p.name for p in parts), fps=fps,
                     root_pos=np.concatenate([p.root_pos for p in parts]),
                     root_rot=np.concatenate([p.root_rot for p in parts]),
                     local=np.concatenate([p.local for p in parts]),
                     frame_labels=tuple(p.name for p in parts for _ in range(len(p))))


def _people(cfg: GeneratorConfig, rng: np.random.Generator, body: BodyModel, clips: dict[str, mo.Motion],
            area: tuple[float, float, float, float]) -> tuple[list, list[PosedBody], list[tuple[str, ...]]]:
    persons, posed, names = [], [], []
    for _ in range(cfg.people):
        person = body.make_person(rng, sample_phenotype(rng, cfg.body_ranges) if cfg.body_ranges else None)
        best = None
        for _try in range(20):  # keep a clearance of 0.8 m from the people already placed
            motion = plan_motion(rng, clips, cfg.frames, cfg.fps, area, cfg.augment, cfg.random_phase, cfg.speed,
                                 cfg.everyday)
            pb = body.pose(person, motion)
            hip = pb.itop15[:, ITOP15.index("torso"), :2]
            gap = min((np.linalg.norm(hip - o.itop15[:, ITOP15.index("torso"), :2], axis=1).min()
                       for o in posed), default=np.inf)
            if best is None or gap > best[0]:
                best = (gap, pb, motion.frame_labels)
            if gap > 0.8:
                break
        persons.append(person)
        posed.append(best[1])
        names.append(best[2])
    return persons, posed, names


def generate_frames(cfg: GeneratorConfig, body: BodyModel | None = None) -> Iterator[SyntheticFrame]:
    """Generate ``cfg.frames`` frames (a generator; the room, camera, people and motions are
    drawn first). ``body`` shares an already loaded anny model."""
    rng = np.random.default_rng(cfg.seed)
    body = body if body is not None else BodyModel()
    names = list(cfg.motions) if cfg.motions else mo.available_clips()
    if cfg.everyday > 0 and not any(everyday_poses.is_everyday(n) for n in names):
        names += everyday_poses.everyday_clips()
    pose_rng = np.random.default_rng([cfg.seed, 1])  # the everyday clips do not shift the other draws
    clips = {n: everyday_poses.make_clip(n, pose_rng) if everyday_poses.is_everyday(n) else mo.load_clip(n)
             for n in names}
    if cfg.views is not None:
        room, cam_pose = random_view(rng, cfg.views)
    else:
        room = random_room(rng, cfg.clutter)
    model = sensor(cfg.sensor) if cfg.sensor else None
    camera: PinholeCamera = model.camera if model else camera_intrinsics(cfg.resolution)
    if cfg.views is None:
        cam_pose = random_camera(rng, room)
    persons, posed, labels = _people(cfg, rng, body, clips, room.area)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.8, 1.5)])
    renderer = Renderer(camera, cam_pose, room, light_dir=light, ambient=rng.uniform(0.25, 0.4))
    joints_cam = {js.name: np.stack([cam_pose.world_to_camera(getattr(p, js.name)) for p in posed], 1)
                  .astype(np.float32) if posed else np.zeros((cfg.frames, 0, len(js), 3), np.float32)
                  for js in (ITOP15, COCO17)}  # (T, P, J, 3)
    for i in range(cfg.frames):
        r = renderer.render([(p.vertices[i], body.faces, q.colors) for p, q in zip(posed, persons)])
        depth_mm = (apply_sensor(r.depth, r.rgb, model, rng) if model
                    else apply_depth_noise(r.depth, rng, cfg.depth_noise))
        rgb = apply_rgb_noise(r.rgb, rng, cfg.depth_noise)
        frame = RGBDFrame(stamp_ns=START_STAMP_NS + round(i * 1e9 / cfg.fps), frame_id=FRAME_ID,
                          camera=camera, rgb=rgb, depth=sensor_depth_metres(depth_mm))
        visible = [k for k in range(len(posed)) if (r.instance == k).sum() >= cfg.min_people_pixels]
        gt = {js.name: [PersonPose(track_id=k, joint_set=js, joints=joints_cam[js.name][i, k],
                                   confidence=np.ones(len(js), np.float32), modality=Modality.GROUND_TRUTH,
                                   score=1.0) for k in visible] for js in (ITOP15, COCO17)}
        yield SyntheticFrame(frame=frame, ground_truth=gt, clean_depth=r.depth, depth_mm=depth_mm,
                             instance=r.instance, joints_all={k: v[i] for k, v in joints_cam.items()},
                             motions={k: lab[i] for k, lab in enumerate(labels)})


def generate_recording(path: str | Path, config: GeneratorConfig, body: BodyModel | None = None,
                       progress: bool = False) -> RecordingInfo:
    """Write a synthetic recording (rosbag2, MCAP) to ``path`` and return its summary. The motion
    segment of every person in every frame goes to ``path / MOTION_LABELS`` (JSON: ``fps``,
    ``start_stamp_ns``, ``planner_version``, ``people``: one label per frame for each track id).

    Args:
        path: recording to create (must not exist).
        config: generator settings.
        body: an already loaded body model (else one is loaded, < 5 s once anny's cache exists).
        progress: show a tqdm progress bar.
    """
    from unipose_ros.io.bag import RecordingWriter

    t0 = time.perf_counter()
    seen = total = 0
    frames = generate_frames(config, body)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, total=config.frames, unit="frame", desc="synthetic")
    per_person: list[list[str]] = [[] for _ in range(config.people)]
    with RecordingWriter(path, points_stride=config.cloud_stride) as writer:
        for sf in frames:
            writer.write_frame(sf.frame, sf.ground_truth)
            seen += len(sf.ground_truth[ITOP15.name])
            total += config.people
            for k, label in sf.motions.items():
                per_person[k].append(label)
    (Path(path) / MOTION_LABELS).write_text(json.dumps({"fps": config.fps, "start_stamp_ns": START_STAMP_NS,
                                                         "planner_version": PLANNER_VERSION, "people": per_person}))
    return RecordingInfo(path=Path(path), frames=config.frames, people=config.people,
                         resolution=tuple(config.resolution), fps=config.fps,
                         seconds=time.perf_counter() - t0, visible_fraction=seen / max(total, 1),
                         motions=list(config.motions or mo.available_clips()))


def with_overrides(cfg: GeneratorConfig, **kw: object) -> GeneratorConfig:
    """A copy of ``cfg`` with the non-None keyword values replaced."""
    return replace(cfg, **{k: v for k, v in kw.items() if v is not None})
