"""Output messages from a list of PersonPose: pure functions (no node, no spinning needed).

Every function takes the input image's std_msgs/Header: outputs carry its stamp and, unless a
pose was transformed elsewhere, its frame_id (the camera optical frame).

* :func:`skeleton_array` -> unipose_ros/msg/Skeleton3DArray (every joint, with confidence).
* :func:`marker_array` -> visualization_msgs/MarkerArray: per person one SPHERE_LIST (joints) and
  one LINE_LIST (bones) in namespace ``person_<id>``; a lone DELETEALL when nobody is seen.
* :func:`transforms` -> list of geometry_msgs/TransformStamped: ``body_<id>`` under the camera
  frame and ``<joint>_<id>`` under it (orientations: unipose_ros.core.body_frame), with the
  REP-155 body id (:func:`body_id`) and human_description joint names.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, TransformStamped
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from unipose_ros.core.body_frame import body_frame, joint_frame_arrays, rotation_to_quaternion
from unipose_ros.core.pose import PersonPose

# Distinct colours for consecutive track ids (tab10-like), RGB in [0, 1].
PALETTE = np.array([[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16],
                    [0.58, 0.4, 0.74], [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.5, 0.5, 0.5],
                    [0.74, 0.74, 0.13], [0.09, 0.75, 0.81]])
JOINT_DIAMETER_M = 0.05
BONE_WIDTH_M = 0.02


#: Characters of a body id: REP-155 ids are short lowercase strings, and topic name tokens
#: (``/humans/bodies/<id>/roi``) must not start with a digit, so letters only.
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
#: Length of a body id: 26**6 (3.1e8) ids, so a track id (uint32 in Skeleton3D) below that maps
#: one to one.
ID_LENGTH = 6
ID_SPACE = len(ID_ALPHABET) ** ID_LENGTH

#: Joint frame names of ROS4HRI's human_description model (its URDF links ``<name>_<body id>``)
#: for our joints; joints it has no link for keep their own name (ITOP's torso, mid-spine, becomes
#: ``spine``; the URDF's ``torso`` link sits at the neck). Left/right are the person's.
HRI_JOINT_NAMES = {
    "head": "head", "neck": "torso", "torso": "spine",
    "left_shoulder": "l_shoulder", "right_shoulder": "r_shoulder",
    "left_elbow": "l_elbow", "right_elbow": "r_elbow",
    "left_hand": "l_wrist", "right_hand": "r_wrist", "left_wrist": "l_wrist", "right_wrist": "r_wrist",
    "left_hip": "l_hip", "right_hip": "r_hip", "left_knee": "l_knee", "right_knee": "r_knee",
    "left_foot": "l_ankle", "right_foot": "r_ankle", "left_ankle": "l_ankle", "right_ankle": "r_ankle",
    "nose": "nose", "left_eye": "l_eye", "right_eye": "r_eye", "left_ear": "l_ear", "right_ear": "r_ear",
}


@lru_cache(maxsize=4096)  # called for every frame a track lives: its TF frames, markers and topics
def body_id(track_id: int) -> str:
    """The REP-155 body id of a track: ``track_id`` in base 26 with the digits a-z, 6 characters
    (0 -> ``aaaaaa``, 1 -> ``aaaaab``, 26 -> ``aaaaba``); ValueError outside 0 .. 26**6 - 1."""
    if not 0 <= track_id < ID_SPACE:
        raise ValueError(f"track id {track_id} outside 0..{ID_SPACE - 1}")
    digits = []
    for _ in range(ID_LENGTH):
        track_id, r = divmod(track_id, len(ID_ALPHABET))
        digits.append(ID_ALPHABET[r])
    return "".join(reversed(digits))


def body_frame_id(track_id: int, prefix: str = "") -> str:
    """TF frame of a body: ``<prefix>body_<body id>``."""
    return f"{prefix}body_{body_id(track_id)}"


def joint_frame_id(joint: str, track_id: int, prefix: str = "") -> str:
    """TF frame of a joint: ``<prefix><human_description name>_<body id>`` (HRI_JOINT_NAMES)."""
    return f"{prefix}{HRI_JOINT_NAMES.get(joint, joint)}_{body_id(track_id)}"


def person_namespace(track_id: int) -> str:
    """Marker namespace of a body: ``person_<body id>``."""
    return f"person_{body_id(track_id)}"


def skeleton_array(poses: Sequence[PersonPose], header: Header, estimator: str):
    """unipose_ros/msg/Skeleton3DArray for ``poses`` (joints in ``header.frame_id``, metres)."""
    from unipose_ros.io.skeleton import poses_to_msg
    from unipose_ros.msg import Skeleton3D, Skeleton3DArray

    return poses_to_msg(list(poses), header, estimator, Skeleton3DArray, Skeleton3D, Point)


def _color(track_id: int, alpha: float = 1.0) -> ColorRGBA:
    r, g, b = PALETTE[track_id % len(PALETTE)]
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(alpha))


def _duration(seconds: float) -> Duration:
    sec = int(seconds)
    return Duration(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))


def marker_array(poses: Sequence[PersonPose], header: Header, lifetime_s: float = 0.2,
                 min_confidence: float = 0.0) -> MarkerArray:
    """Markers for RViz.

    Args:
        poses: people of one frame; joints in ``header.frame_id``, metres.
        header: the input image's header (stamp and frame copied to every marker).
        lifetime_s: marker lifetime (s); 0 keeps them until replaced.
        min_confidence: joints below it (and NaN joints) are not drawn, nor bones touching them.
    Returns:
        per person a SPHERE_LIST (id 0) and a LINE_LIST (id 1) in namespace ``person_<id>``;
        a single DELETEALL marker when ``poses`` is empty.
    """
    out = MarkerArray()
    if not poses:
        out.markers = [Marker(header=header, action=Marker.DELETEALL)]
        return out
    life = _duration(lifetime_s)
    markers = []
    for pose in poses:
        ok = np.isfinite(pose.joints).all(axis=1) & (pose.confidence >= min_confidence)
        color = _color(pose.track_id)
        joints = Marker(header=header, ns=person_namespace(pose.track_id), id=0,
                        type=Marker.SPHERE_LIST, action=Marker.ADD, lifetime=life, color=color)
        joints.pose.orientation.w = 1.0
        joints.scale.x = joints.scale.y = joints.scale.z = JOINT_DIAMETER_M
        points = [Point(x=x, y=y, z=z) if keep else None  # one Point per joint, shared with the bones
                  for (x, y, z), keep in zip(pose.joints.astype(np.float64).tolist(), ok.tolist())]
        joints.points = [p for p in points if p is not None]
        bones = Marker(header=header, ns=person_namespace(pose.track_id), id=1,
                       type=Marker.LINE_LIST, action=Marker.ADD, lifetime=life, color=color)
        bones.pose.orientation.w = 1.0
        bones.scale.x = BONE_WIDTH_M
        bones.points = [points[i] for a, b in pose.joint_set.bones
                        if points[a] is not None and points[b] is not None for i in (a, b)]
        markers += [joints, bones]
    out.markers = markers
    return out


def _transform(header: Header, child: str, origin: Sequence[float], quaternion: Sequence[float],
               parent: str | None = None) -> TransformStamped:
    """One TF transform: ``origin`` (3,) metres and ``quaternion`` (x, y, z, w) as Python floats."""
    t = TransformStamped()
    t.header.stamp = header.stamp
    t.header.frame_id = parent if parent is not None else header.frame_id
    t.child_frame_id = child
    tr, rot = t.transform.translation, t.transform.rotation
    tr.x, tr.y, tr.z = origin
    rot.x, rot.y, rot.z, rot.w = quaternion
    return t


def _frame_rows(poses: Sequence[PersonPose], joint_frames_too: bool, prefix: str
                ) -> list[tuple[str | None, str, list[float], list[float]]]:
    """Every TF frame of ``poses`` as (parent, child, origin (3,) metres, quaternion (x, y, z, w)),
    Python floats; parent None is the camera frame (the header's)."""
    rows: list[tuple[str | None, str, list[float], list[float]]] = []
    for pose in poses:
        body = body_frame(pose.joints, pose.joint_set)
        if body is None:
            continue
        body_name = body_frame_id(pose.track_id, prefix)
        if not joint_frames_too:
            rows.append((None, body_name, body.origin.tolist(), body.quaternion.tolist()))
            continue
        finite, origins, rotations = joint_frame_arrays(pose.joints, pose.joint_set, body)
        quaternions = rotation_to_quaternion(np.concatenate([body.rotation[None], rotations])).tolist()
        rows.append((None, body_name, body.origin.tolist(), quaternions[0]))
        origins = origins.tolist()
        rows += [(body_name, joint_frame_id(pose.joint_set.joints[j], pose.track_id, prefix), origins[j],
                  quaternions[j + 1]) for j in np.flatnonzero(finite).tolist()]
    return rows


def transforms(poses: Sequence[PersonPose], header: Header, joint_frames_too: bool = True,
               prefix: str = "") -> list[TransformStamped]:
    """TF frames of ``poses``: ``<prefix>body_<id>`` (parent ``header.frame_id``) and, if
    ``joint_frames_too``, ``<prefix><joint>_<id>`` (parent the body frame) for every finite joint
    (:func:`body_frame_id`, :func:`joint_frame_id`). A person without a finite hip midpoint or
    root gets no frames."""
    return [_transform(header, child, origin, quaternion, parent)
            for parent, child, origin, quaternion in _frame_rows(poses, joint_frames_too, prefix)]


@lru_cache(maxsize=1)
def tf_typestore():
    """The rosbags typestore that serialises TFMessage, its serializer generated (call it once
    before the first frame: that takes ~0.1 s)."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    store.serialize_cdr(store.types["tf2_msgs/msg/TFMessage"](transforms=[]), "tf2_msgs/msg/TFMessage")
    return store


def tf_message_cdr(poses: Sequence[PersonPose], header: Header, joint_frames_too: bool = True,
                   prefix: str = "") -> bytes | None:
    """The tf2_msgs/TFMessage of :func:`transforms`, serialised as it goes on the wire (CDR, for
    ``Publisher.publish(bytes)``); None when there is no frame. Built and serialised with
    rosbags' typestore (TFMessage is the same in every ROS 2 distribution): for one person, less
    than half the time of building the rclpy messages and having rclpy convert them."""
    rows = _frame_rows(poses, joint_frames_too, prefix)
    if not rows:
        return None
    store = tf_typestore()
    t = store.types
    stamp = t["builtin_interfaces/msg/Time"](sec=header.stamp.sec, nanosec=header.stamp.nanosec)
    header_cls, stamped, transform = (t["std_msgs/msg/Header"], t["geometry_msgs/msg/TransformStamped"],
                                      t["geometry_msgs/msg/Transform"])
    vector, quaternion = t["geometry_msgs/msg/Vector3"], t["geometry_msgs/msg/Quaternion"]
    camera = header.frame_id
    msg = t["tf2_msgs/msg/TFMessage"](transforms=[
        stamped(header=header_cls(stamp=stamp, frame_id=camera if parent is None else parent), child_frame_id=child,
                transform=transform(translation=vector(x=o[0], y=o[1], z=o[2]),
                                    rotation=quaternion(x=q[0], y=q[1], z=q[2], w=q[3])))
        for parent, child, o, q in rows])
    return bytes(store.serialize_cdr(msg, "tf2_msgs/msg/TFMessage"))
