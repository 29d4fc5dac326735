"""The estimator interface: ``estimate(frame) -> list[PersonPose]``."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from unipose_ros.core.frame import RGBDFrame
from unipose_ros.core.joints import JointSet
from unipose_ros.core.pose import Modality, PersonPose


@runtime_checkable
class Estimator(Protocol):
    """A 3D human pose estimator.

    Implementations take one :class:`RGBDFrame` and return one :class:`PersonPose` per person seen,
    joints in ``frame.frame_id`` (the camera optical frame), metres. ``track_id`` may be left at -1;
    the tracker assigns stable ids. They raise :class:`unipose_ros.core.errors.InputError` for input
    they cannot use, and never keep state between frames that changes the result of a single frame.
    """

    name: str
    joint_set: JointSet
    modality: Modality

    def estimate(self, frame: RGBDFrame) -> list[PersonPose]:
        ...

    def close(self) -> None:
        """Free resources (GPU memory, native handles)."""
        ...
