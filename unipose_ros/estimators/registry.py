"""Build an estimator by name: the one place the node and ``unipose-predict`` choose estimators.

Names:

- ``baseline``: 2D keypoints on colour + depth lookup (:mod:`unipose_ros.estimators.baseline`);
- ``depth``, ``rgb``, ``pointcloud``: an A2J network on a person crop of that input
  (:class:`~unipose_ros.estimators.learned.LearnedEstimator`), from a checkpoint file or the one
  bundled in ``unipose_ros/checkpoints/<kind>_a2j.pt``;
- ``fused``: the three networks combined per joint (:class:`~unipose_ros.estimators.fused.FusedEstimator`);
- ``teacher_pointcloud``: the 2D teacher on colour finds the people and a point network with teacher
  keypoint channels lifts them (:class:`~unipose_ros.estimators.teacher_point.TeacherPointEstimator`);
  bundled: ``checkpoints/teacher_pointcloud.pt``, trained from 2D keypoints only (weak supervision).

Heavy modules (torch, MediaPipe) are imported only when their estimator is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from unipose_ros.estimators.base import Estimator

ESTIMATORS: tuple[str, ...] = ("baseline", "depth", "rgb", "pointcloud", "fused", "teacher_pointcloud")
LEARNED_KINDS: tuple[str, ...] = ("depth", "rgb", "pointcloud")
#: Bundled weakly supervised point network of the ``teacher_pointcloud`` estimator (checkpoints/).
TEACHER_POINT_FILE = "teacher_pointcloud.pt"
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")
TRAIN_COMMAND = ("python -m unipose_training.supervised.train --config config/train/{kind}_a2j.yaml --data data/crops "
                 "--out runs/{kind}_a2j --export unipose_ros/checkpoints/{kind}_a2j.pt")


def train_hint(kind: str) -> str:
    """How to make the bundled checkpoint of ``kind`` (quoted in error messages)."""
    return (f"`{TRAIN_COMMAND.format(kind=kind)}` (data/crops: the person-crop cache of "
            "unipose_training.supervised.crops)")


def resolve_checkpoint(kind: str, checkpoint: str | Path | None = None) -> Path:
    """The checkpoint file of a learned estimator of ``kind``.

    Args:
        kind: ``depth``, ``rgb`` or ``pointcloud``.
        checkpoint: a file; None or empty = the bundled default for ``kind``.
    Returns:
        an existing file path.
    Raises:
        CheckpointError: the file does not exist (the message names it and says how to make one).
    """
    from unipose_ros.models import CheckpointError, default_checkpoint  # noqa: PLC0415 (torch)

    if kind not in LEARNED_KINDS:
        raise ValueError(f"{kind!r} has no checkpoint: learned estimators are {', '.join(LEARNED_KINDS)}")
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{kind} checkpoint {path} does not exist: give an existing .pt file, or "
                                  f"leave it empty for the bundled one, or train one with {train_hint(kind)}")
        return path
    path = default_checkpoint(kind)
    if not path.is_file():
        raise CheckpointError(f"the bundled {kind} checkpoint {path} is missing: train it with "
                              f"{train_hint(kind)}, or give a checkpoint file (node parameter "
                              "'checkpoint', unipose-predict --checkpoint)")
    return path


def _config(cls: type, config: Any, what: str) -> Any:
    from unipose_ros.core.config import load_yaml  # noqa: PLC0415

    if config is None or config == "":
        return cls()
    if isinstance(config, cls):
        return config
    if isinstance(config, (str, Path)):
        return load_yaml(cls, config)
    raise TypeError(f"{what} config must be a {cls.__name__}, a YAML path or None, got {type(config).__name__}")


def _build_teacher_point(device: str, precision: str, checkpoint: str | Path | None, config: Any,
                         compile: bool) -> Estimator:
    from unipose_ros.estimators.teacher_point import TeacherPointConfig, build_teacher_point  # noqa: PLC0415
    from unipose_ros.models import CheckpointError  # noqa: PLC0415 (torch)
    from unipose_ros.models.checkpoint import CHECKPOINT_DIR  # noqa: PLC0415

    if not checkpoint:
        bundled = CHECKPOINT_DIR / TEACHER_POINT_FILE
        if not bundled.is_file():
            raise CheckpointError(f"the bundled teacher_pointcloud checkpoint {bundled} is missing: give the file of a "
                                  "point network trained with teacher keypoint channels (the weakly supervised "
                                  "pipeline writes RUN/weak/weak_pointcloud.pt), node parameter 'checkpoint' or "
                                  "unipose-predict --checkpoint")
        checkpoint = bundled
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise CheckpointError(f"teacher_pointcloud checkpoint {path} does not exist: give an existing .pt file of a "
                              "point network trained with teacher keypoint channels")
    cfg = _config(TeacherPointConfig, config, "teacher_pointcloud")
    return build_teacher_point(path, cfg, device=device, precision=precision, compile=compile)


def build_estimator(name: str, device: str = "cpu", precision: str = "fp32",
                    checkpoint: str | Path | None = None, config: Any = None,
                    compile: bool = False) -> Estimator:
    """The estimator called ``name``.

    Args:
        name: one of :data:`ESTIMATORS`.
        device: torch device of learned estimators (``cpu``, ``cuda``, ``cuda:N``); the baseline
            runs on the CPU whatever this says.
        precision: ``fp32``, ``fp16`` or ``bf16`` (learned estimators).
        checkpoint: checkpoint file of ``depth`` / ``rgb`` / ``pointcloud``; None = bundled.
            Required for ``teacher_pointcloud``. Must be None for ``baseline`` and ``fused``
            (fused members: ``FusedConfig``).
        config: the estimator's settings: a config object (``BaselineConfig``,
            ``LearnedConfig``, ``FusedConfig``, ``TeacherPointConfig``), a YAML path, or None for
            the defaults.
        compile: torch.compile the networks.
    Raises:
        ValueError: unknown name, or a setting that does not apply (message says what to use).
        CheckpointError (a ValueError): missing or mismatched checkpoint.
    """
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}: use one of {', '.join(ESTIMATORS)}")
    if checkpoint and name in ("baseline", "fused"):
        raise ValueError(f"a checkpoint does not apply to the {name} estimator"
                         + ("" if name == "baseline" else ": set depth_checkpoint / rgb_checkpoint / "
                            "pointcloud_checkpoint in its FusedConfig (estimator_config YAML)"))
    if name == "baseline":
        from unipose_ros.estimators.baseline import BaselineConfig, build_baseline  # noqa: PLC0415

        return build_baseline(_config(BaselineConfig, config, "baseline"))
    if name == "teacher_pointcloud":
        return _build_teacher_point(device, precision, checkpoint, config, compile)
    from unipose_ros.estimators.learned import LearnedConfig, LearnedEstimator  # noqa: PLC0415

    if name == "fused":
        from unipose_ros.estimators.fused import FusedConfig, FusedEstimator  # noqa: PLC0415

        cfg = _config(FusedConfig, config, "fused")
        members = []
        try:
            for kind in cfg.members:
                path = resolve_checkpoint(kind, getattr(cfg, f"{kind}_checkpoint"))
                members.append(LearnedEstimator(path, device=device, precision=precision, compile=compile,
                                                config=cfg.learned, kind=kind,
                                                detector=members[0].detector if members else None))
        except BaseException:
            for m in members:
                m.close()
            raise
        return FusedEstimator(members, cfg)
    cfg = _config(LearnedConfig, config, name)
    return LearnedEstimator(resolve_checkpoint(name, checkpoint), device=device, precision=precision,
                            compile=compile, config=cfg, kind=name)


def parse_spec(spec: str) -> tuple[str, Any]:
    """``NAME`` or ``NAME+DETECTOR`` (e.g. ``depth+learned``, ``fused+geometric``) -> (estimator
    name, its config: the learned estimators' default settings with that person detector, or
    None for the plain name). Benchmarks and evaluations use it to compare detectors."""
    name, _, detector = spec.partition("+")
    if not detector:
        return name, None
    from unipose_ros.estimators.fused import FusedConfig  # noqa: PLC0415 (torch)
    from unipose_ros.estimators.learned import LearnedConfig  # noqa: PLC0415

    learned = LearnedConfig(detector=detector)
    return name, (FusedConfig(learned=learned) if name == "fused" else learned)
