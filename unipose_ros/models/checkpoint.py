"""Self-describing A2J checkpoints: the weights together with everything needed to use them.

A checkpoint is a ``torch.save``'d dict of plain data (read back with ``weights_only=True``):

* ``format`` (:data:`FORMAT`), ``version`` (:data:`VERSION`), ``kind``;
* ``config``: the :class:`A2JConfig` as a dict; ``crop``: the :class:`CropConfig` as a dict;
* ``joint_set`` and ``joint_names`` (the order of the outputs), ``input_size``;
* ``normalisation``: how the inputs are made (depth: cube side; colour: mean / std; points: cube
  coordinates);
* ``provenance``: training data, epochs, metrics, git commit, date (whatever the trainer knows;
  ``saved_utc`` and ``torch`` are added on save);
* ``state_dict``.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unipose_ros.core.config import from_dict
from unipose_ros.core.crop import RGB_MEAN, RGB_STD, CropConfig
from unipose_ros.core.joints import joint_set as get_joint_set
from unipose_ros.models.build import build_model
from unipose_ros.models.config import KINDS, A2JConfig

FORMAT = "unipose_ros.a2j"
VERSION = 1
#: Folder of the checkpoints shipped with the package.
CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
_DEFAULT_FILES = {"depth": "depth_a2j.pt", "rgb": "rgb_a2j.pt", "pointcloud": "pointcloud_a2j.pt"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here: wrong kind, joint set or input size, or not a checkpoint."""


@dataclass
class LoadedModel:
    """A model read from a checkpoint.

    Attributes:
        model: the network in eval mode, on the ``map_location`` device.
        config: its :class:`A2JConfig`.
        crop: the :class:`CropConfig` it was trained with (crops must be made with it).
        provenance: training information stored in the file.
        path: the file it came from (None when not read from a file).
    """

    model: nn.Module
    config: A2JConfig
    crop: CropConfig
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def default_checkpoint(kind: str) -> Path:
    """Path of the bundled checkpoint of ``kind`` ("depth", "rgb" or "pointcloud"); it may not exist."""
    if kind not in _DEFAULT_FILES:
        raise CheckpointError(f"no bundled checkpoint for kind {kind!r}; kinds: {list(KINDS)}")
    return CHECKPOINT_DIR / _DEFAULT_FILES[kind]


def _normalisation(config: A2JConfig, crop: CropConfig) -> dict[str, Any]:
    if config.kind == "depth":
        return {"input": "depth crop n = clip((z - centre_z) / (cube_m / 2), -1, 1), invalid = 1",
                "cube_m": float(crop.cube_m)}
    if config.kind == "rgb":
        return {"input": "uint8 RGB crop, normalised inside the model", "mean": list(RGB_MEAN), "std": list(RGB_STD)}
    return {"input": "points p = (xyz - centre) / (cube_m / 2)", "cube_m": float(crop.cube_m),
            "n_points": int(config.n_points)}


def _plain(value: Any, where: str) -> Any:
    """Check that ``value`` is JSON-like plain data (loadable with weights_only=True)."""
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} must hold plain data (str, numbers, bool, None, lists, dicts): {e}") from None
    return json.loads(json.dumps(value, allow_nan=True))


def save_checkpoint(path: str | Path, model: nn.Module, config: A2JConfig, crop: CropConfig,
                    provenance: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and description to ``path`` (parent folders created).

    The weights are stored as float32 CPU tensors whatever the model's device and precision (a
    DDP / compiled wrapper is unwrapped). ``crop.size`` must equal ``config.input_size``.
    """
    if crop.size != config.input_size:
        raise ValueError(f"crop size {crop.size} != model input size {config.input_size}")
    inner = getattr(model, "module", model)
    inner = getattr(inner, "_orig_mod", inner)
    state = {k: (v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()).clone()
             for k, v in inner.state_dict().items()}
    prov = _plain(dict(provenance or {}), "provenance")
    prov.setdefault("saved_utc", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    prov.setdefault("torch", str(torch.__version__))
    js = get_joint_set(config.joint_set)
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "kind": config.kind,
        "config": dataclasses.asdict(config),
        "crop": dataclasses.asdict(crop),
        "joint_set": js.name,
        "joint_names": list(js.joints),
        "input_size": int(config.input_size),
        "normalisation": _normalisation(config, crop),
        "provenance": prov,
        "state_dict": state,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def _mismatch(path: Path, what: str, expected: Any, found: Any, advice: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {path}: {what} is {found!r}, expected {expected!r}; {advice}")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw stored dict of a checkpoint file, checked for format and version (no model built)."""
    path = Path(path)
    if not path.is_file():
        bundled = path.parent == CHECKPOINT_DIR
        hint = (" (the bundled checkpoint is not installed: train one with the unipose_training trainer, or pass the "
                "path of a checkpoint)" if bundled else "")
        raise CheckpointError(f"checkpoint {path} does not exist{hint}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"checkpoint {path} cannot be read as a unipose_ros A2J checkpoint: it holds objects other "
                              "than tensors and plain data (refused for safety); use a file written by "
                              "unipose_ros.models.save_checkpoint") from None
    except Exception as e:  # any other failure to unpickle means: not our format
        reason = (str(e).splitlines() or [""])[0][:200]
        raise CheckpointError(f"checkpoint {path} cannot be read as a unipose_ros A2J checkpoint "
                              f"({type(e).__name__}: {reason}); use a file written by "
                              "unipose_ros.models.save_checkpoint") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise CheckpointError(f"checkpoint {path}: unknown format {found!r}, expected {FORMAT!r}; use a file written "
                              "by unipose_ros.models.save_checkpoint (a bare state_dict is not enough)")
    version = blob.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise CheckpointError(f"checkpoint {path}: format version {version!r} is not supported (this package reads "
                              f"versions 1..{VERSION}); update unipose_ros or re-export the checkpoint")
    missing = [k for k in ("kind", "config", "crop", "joint_set", "joint_names", "input_size", "state_dict")
               if k not in blob]
    if missing:
        raise CheckpointError(f"checkpoint {path}: missing entries {missing}; the file is damaged or was not written "
                              "by unipose_ros.models.save_checkpoint")
    return blob


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", expect_kind: str | None = None,
                    expect_joint_set: str | None = None, expect_input_size: int | None = None) -> LoadedModel:
    """Read a checkpoint and build its model (eval mode, on ``map_location``).

    Raises:
        CheckpointError: the file is missing or not an A2J checkpoint, its version is newer than
            this package, its joint order differs from this package's joint set, its weights do not
            fit its config, or it does not match ``expect_kind`` / ``expect_joint_set`` /
            ``expect_input_size`` (the message names the expected and the stored value).
    """
    path = Path(path)
    blob = read_checkpoint(path)
    if expect_kind is not None and blob["kind"] != expect_kind:
        raise _mismatch(path, "the model kind", expect_kind, blob["kind"],
                        f"pass a {expect_kind} checkpoint or choose the {blob['kind']!r} estimator")
    if expect_joint_set is not None and blob["joint_set"] != expect_joint_set:
        raise _mismatch(path, "the joint set", expect_joint_set, blob["joint_set"],
                        f"use a checkpoint trained for {expect_joint_set!r} or set the joint set to {blob['joint_set']!r}")
    if expect_input_size is not None and int(blob["input_size"]) != int(expect_input_size):
        raise _mismatch(path, "the input size", int(expect_input_size), int(blob["input_size"]),
                        f"use a checkpoint trained at {expect_input_size} px or set the crop size to {blob['input_size']}")
    try:
        config = from_dict(A2JConfig, blob["config"], f"{path}: config")
        crop = from_dict(CropConfig, blob["crop"], f"{path}: crop")
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path}: its stored configuration is not valid here ({e})") from None
    if config.kind != blob["kind"] or config.input_size != int(blob["input_size"]) or crop.size != config.input_size:
        raise CheckpointError(f"checkpoint {path} is inconsistent: kind {blob['kind']!r} / config kind {config.kind!r}, "
                              f"input size {blob['input_size']} / config {config.input_size} / crop {crop.size}")
    js = get_joint_set(config.joint_set)
    if list(blob["joint_names"]) != list(js.joints) or blob["joint_set"] != js.name:
        raise CheckpointError(f"checkpoint {path}: joint order {list(blob['joint_names'])} of {blob['joint_set']!r} "
                              f"differs from this package's {js.name!r} {list(js.joints)}; retrain or re-export it")
    model = build_model(config)
    try:
        model.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()
        raise CheckpointError(f"checkpoint {path}: weights do not fit its config ({' '.join(first[:3])})") from None
    model.to(map_location).eval()
    return LoadedModel(model=model, config=config, crop=crop, provenance=dict(blob.get("provenance") or {}),
                       path=path)

