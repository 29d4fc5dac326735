"""2D keypoint teachers: off-the-shelf RGB pose estimators behind one small interface."""
from unipose_ros.teachers.base import Box, Keypoints2D, Teacher2D, box_from_keypoints, box_iou

__all__ = ["Box", "Keypoints2D", "Teacher2D", "box_from_keypoints", "box_iou"]
