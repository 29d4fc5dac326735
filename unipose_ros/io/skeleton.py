"""PersonPose list <-> unipose_ros/Skeleton3DArray, for rclpy and rosbags messages alike.

Positions are metres in ``header.frame_id`` (the camera optical frame). Joints are written in
the JointSet's order with their names; NaN positions (no estimate) are kept as NaN.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from unipose_ros.core.errors import InputError
from unipose_ros.core.joints import joint_set
from unipose_ros.core.pose import Modality, PersonPose
from unipose_ros.io.messages import convert_header, field_class, make_message, sequence


def poses_to_msg(poses: Sequence[PersonPose], header: Any, estimator: str, array_cls: type,
                 skeleton_cls: type | None = None, point_cls: type | None = None) -> Any:
    """Build a Skeleton3DArray of class ``array_cls`` (rclpy or rosbags).

    Args:
        poses: people of one frame; joints (J, 3) float32 metres in ``header.frame_id``.
        header: std_msgs/Header (either family): the input image's stamp and optical frame.
        estimator: name of the estimator that produced the poses.
        skeleton_cls, point_cls: Skeleton3D and geometry_msgs/Point classes; derived from
            ``array_cls`` when None.
    """
    skeleton_cls = skeleton_cls or field_class(array_cls, "skeletons")
    point_cls = point_cls or field_class(skeleton_cls, "positions")
    skeletons = []
    for pose in poses:
        joints = np.asarray(pose.joints, dtype=np.float64)
        positions = [make_message(point_cls, x=float(x), y=float(y), z=float(z))
                     for x, y, z in joints.tolist()]
        skeletons.append(make_message(
            skeleton_cls, track_id=int(pose.track_id), joint_set=pose.joint_set.name,
            joint_names=list(pose.joint_set.joints), positions=positions,
            confidence=sequence(skeleton_cls, pose.confidence, np.float32),
            modality=int(pose.modality), score=float(pose.score)))
    return make_message(array_cls, header=convert_header(header, array_cls),
                        estimator=str(estimator), skeletons=skeletons)


def skeleton_to_pose(skel: Any) -> PersonPose:
    """One Skeleton3D to a PersonPose (joint order checked against the named JointSet)."""
    name = str(skel.joint_set)
    try:
        js = joint_set(name)
    except (KeyError, ValueError) as err:
        raise InputError(f"Skeleton3D has unknown joint_set {name!r}: {err}") from None
    names = tuple(str(n) for n in skel.joint_names)
    if names and names != js.joints:
        raise InputError(f"Skeleton3D joint_names {list(names)} do not match {name} "
                         f"{list(js.joints)}: the publisher uses another joint order")
    joints = np.array([(p.x, p.y, p.z) for p in skel.positions], dtype=np.float32).reshape(-1, 3)
    conf = np.asarray(skel.confidence, dtype=np.float32).reshape(-1)
    if len(joints) != len(js) or len(conf) != len(js):
        raise InputError(f"Skeleton3D for {name} has {len(joints)} positions and {len(conf)} "
                         f"confidences, expected {len(js)} each")
    try:
        modality = Modality(int(skel.modality))
    except ValueError:
        modality = Modality.UNKNOWN
    return PersonPose(track_id=int(skel.track_id), joint_set=js, joints=joints, confidence=conf,
                      modality=modality, score=float(skel.score))


def msg_to_poses(msg: Any) -> list[PersonPose]:
    """All people of a Skeleton3DArray (either family) as PersonPose, in message order."""
    return [skeleton_to_pose(s) for s in msg.skeletons]
