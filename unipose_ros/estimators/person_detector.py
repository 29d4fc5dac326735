"""The learned person detector at run time: depth image in, person instances (mask, box, median
depth, score) out, nearest first. The network, its input and its decoding are
:mod:`unipose_ros.models.detector` (the trainer uses the same functions).

A :class:`~unipose_ros.models.detector.Detection` has the ``box`` and ``depth_m`` of a
:class:`~unipose_ros.core.person_proposals.PersonProposal`, so the crop rule
(:func:`~unipose_ros.core.crop.centre_from_proposal`) applies to both.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from unipose_ros.core.camera import PinholeCamera
from unipose_ros.models.checkpoint import CHECKPOINT_DIR, CheckpointError
from unipose_ros.models.detector import Detection, DetectorConfig, PersonDetectorNet, detections_from_output, detector_input

DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "person_detector.pt"
DETECTORS = ("learned", "geometric")


def load_detector_checkpoint(path: str | Path) -> tuple[PersonDetectorNet, DetectorConfig, dict]:
    """(network in eval mode, its config, provenance) from a detector checkpoint.

    Raises:
        CheckpointError: missing file, or a file that is not a person-detector checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"person detector checkpoint {path} not found: train one with python -m "
                              "unipose_training.detection.train, or set detector: geometric")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("kind") != "person_detector":
        raise CheckpointError(f"{path} is not a person detector checkpoint (kind "
                              f"{state.get('kind') if isinstance(state, dict) else type(state).__name__!r})")
    config = DetectorConfig.from_dict(state["config"])
    net = PersonDetectorNet(config)
    net.load_state_dict(state["state_dict"])
    return net.eval(), config, dict(state.get("provenance", {}))


class LearnedPersonDetector:
    """Person instances of depth images.

    Args:
        checkpoint: detector checkpoint (default: the bundled ``person_detector.pt``).
        device: torch device name.
        min_score: drop people whose centre peak is below this (default: the checkpoint's
            ``peak_threshold``).
    """

    def __init__(self, checkpoint: str | Path | None = None, device: str | torch.device = "cpu",
                 min_score: float | None = None) -> None:
        self.path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
        net, self.config, self.provenance = load_detector_checkpoint(self.path)
        if min_score is not None:
            from dataclasses import replace

            self.config = replace(self.config, peak_threshold=float(min_score))
        self.device = torch.device(device)
        self.net = net.to(self.device)

    def detect(self, depth: np.ndarray, camera: PinholeCamera | None = None) -> list[Detection]:
        """People in ``depth`` (H, W) float32 metres along the optical axis (NaN or 0 invalid),
        nearest first. ``camera`` (optional) is only checked against the image size."""
        if camera is not None:
            camera.check_image(depth.shape, "depth image")
        x, (rows, cols) = detector_input(depth, self.config.width)
        with torch.inference_mode():
            out = self.net(torch.from_numpy(x)[None].to(self.device))[0].float().cpu().numpy()
        return detections_from_output(out, depth, rows, cols, self.config)
