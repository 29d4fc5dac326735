"""MediaPipe BlazePose (legacy ``mp.solutions.pose``) as a 2D teacher; runs fully offline.

Only ``model_complexity=1`` is usable offline: it is the only landmark model shipped inside the
``mediapipe==0.10.14`` wheel (0 and 2 are fetched from the internet on first use, which this
package never does). The legacy solution finds ONE person per call; several people are handled by
:meth:`MediaPipePoseTeacher.detect_in_boxes`, which runs it once per person box on a padded crop.

Thread safety: a MediaPipe graph is not re-entrant. Each teacher owns its graphs and serialises
every call to them with a lock, so one instance may be shared between threads (calls then run one
at a time); for parallel inference create one teacher per thread.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import BLAZEPOSE33_NAMES
from unipose_ros.teachers.base import Box, Keypoints2D, box_from_keypoints

SOURCE = "blazepose33"


def _import_mediapipe() -> Any:
    try:
        import mediapipe as mp  # noqa: PLC0415 (optional heavy dependency)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the MediaPipe 2D teacher needs the 'mediapipe' package: pip install mediapipe==0.10.14 "
            "(it requires numpy<2); or choose another teacher in the estimator config") from exc
    return mp


class MediaPipePoseTeacher:
    """BlazePose full-body landmarks (33 points) on RGB images.

    Args:
        min_detection_confidence: person detector threshold in [0, 1].
        min_tracking_confidence: landmark tracking threshold (used only when
            ``static_image_mode`` is False).
        static_image_mode: True runs the person detector on every call, so each result depends
            only on its own image (what an :class:`~unipose_ros.estimators.base.Estimator` needs);
            False tracks between calls on the full image (faster on video, but stateful).
        model_complexity: must be 1 (the only model shipped in the wheel; others download).
        crop_padding: in :meth:`detect_in_boxes`, grow each box by this fraction of its size on
            every side before cropping (BlazePose wants some context around the body).
        min_crop_px: boxes whose padded crop is smaller than this (either side) are skipped.
    """

    source = SOURCE

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 static_image_mode: bool = True, model_complexity: int = 1,
                 crop_padding: float = 0.2, min_crop_px: int = 48) -> None:
        if model_complexity != 1:
            raise ValueError(
                f"model_complexity={model_complexity} needs a model that is not shipped with "
                "mediapipe 0.10.14 and would be downloaded; use model_complexity=1")
        self._mp = _import_mediapipe()
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.static_image_mode = bool(static_image_mode)
        self.model_complexity = model_complexity
        self.crop_padding = float(crop_padding)
        self.min_crop_px = int(min_crop_px)
        self._lock = threading.Lock()
        self._full = self._new_graph(self.static_image_mode)
        self._crops: Any | None = None  # created on first detect_in_boxes (always static)

    def _new_graph(self, static: bool) -> Any:
        return self._mp.solutions.pose.Pose(
            static_image_mode=static, model_complexity=self.model_complexity,
            smooth_landmarks=not static, enable_segmentation=False,
            min_detection_confidence=self.min_detection_confidence,
            min_tracking_confidence=self.min_tracking_confidence)

    @staticmethod
    def _check(rgb: np.ndarray) -> np.ndarray:
        if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            shape = getattr(rgb, "shape", None)
            dtype = getattr(rgb, "dtype", None)
            raise InputError(f"the 2D teacher needs an (H, W, 3) uint8 RGB image, got {shape} {dtype}; "
                             "convert bgr8 to rgb8 and 16-bit colour to 8-bit first")
        return np.ascontiguousarray(rgb)

    def _run(self, graph: Any, rgb: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Keypoints2D | None:
        """Run one graph on ``rgb``; keypoints shifted by ``offset`` (u, v) into full-image pixels."""
        if graph is None:
            raise RuntimeError("this MediaPipePoseTeacher was closed; create a new one")
        h, w = rgb.shape[:2]
        with self._lock:
            result = graph.process(rgb)
        if result.pose_landmarks is None:
            return None
        lms = result.pose_landmarks.landmark
        # Normalised coordinates measure from the image's outer edge: pixel centres are at +0.5.
        uv = np.array([[lm.x * w - 0.5 + offset[0], lm.y * h - 0.5 + offset[1]] for lm in lms],
                      dtype=np.float32)
        conf = np.array([lm.visibility * (lm.presence if lm.HasField("presence") else 1.0)
                         for lm in lms], dtype=np.float32)
        conf = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
        return Keypoints2D(source=SOURCE, names=BLAZEPOSE33_NAMES, uv=uv, confidence=conf,
                           box=box_from_keypoints(uv, conf), score=float(conf.mean()))

    def detect(self, rgb: np.ndarray) -> list[Keypoints2D]:
        """BlazePose on the whole image: a list with the most prominent person, or empty.

        Args:
            rgb: (H, W, 3) uint8 RGB.
        Returns:
            [] or [Keypoints2D] with 33 keypoints in full-image pixels.
        """
        kp = self._run(self._full, self._check(rgb))
        return [] if kp is None else [kp]

    def crop_box(self, box: Box, width: int, height: int) -> tuple[int, int, int, int]:
        """The padded, squared crop (x0, y0, x1, y1) integer pixels, clipped to the image, that
        :meth:`detect_in_boxes` uses for ``box``."""
        x0, y0, x1, y1 = (float(c) for c in box)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = max(x1 - x0, y1 - y0) * (1 + 2 * self.crop_padding)
        return (max(0, int(np.floor(cx - side / 2))), max(0, int(np.floor(cy - side / 2))),
                min(width, int(np.ceil(cx + side / 2))), min(height, int(np.ceil(cy + side / 2))))

    def detect_in_boxes(self, rgb: np.ndarray, boxes: list[Box]) -> list[Keypoints2D]:
        """BlazePose once per box, on a padded square crop; keypoints mapped back to full-image
        pixels. Boxes with no person found are skipped, so the result may be shorter than
        ``boxes``; duplicates (two boxes on one person) are left to the caller.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            boxes: person boxes (x0, y0, x1, y1) in pixels.
        """
        rgb = self._check(rgb)
        h, w = rgb.shape[:2]
        if self._crops is None and self._full is not None:
            self._crops = self._new_graph(static=True)  # crops are different people: no tracking
        found: list[Keypoints2D] = []
        for box in boxes:
            x0, y0, x1, y1 = self.crop_box(box, w, h)
            if x1 - x0 < self.min_crop_px or y1 - y0 < self.min_crop_px:
                continue
            kp = self._run(self._crops, np.ascontiguousarray(rgb[y0:y1, x0:x1]), offset=(x0, y0))
            if kp is not None:
                found.append(kp)
        return found

    def close(self) -> None:
        """Free the MediaPipe graphs (safe to call twice)."""
        with self._lock:
            for graph in (self._full, self._crops):
                if graph is not None:
                    graph.close()
            self._full = None
            self._crops = None

    def __enter__(self) -> "MediaPipePoseTeacher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
