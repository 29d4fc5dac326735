"""Build and read ROS messages of either library without importing ROS here.

Two message families are in use: rclpy's generated classes (a live node) and the dataclasses of
a rosbags typestore (recordings). Readers only use field names, so they work on both. Writers are
given the message class to build and use this module to fill its fields the way that family
expects: rclpy wants ``array.array`` for sequences and takes keyword defaults; rosbags wants numpy
arrays and every field given.
"""
from __future__ import annotations

import array
import importlib
from typing import Any

import numpy as np

# rosbags typestore sequence annotations -> numpy dtype of the field.
_ARRAY_TYPECODES = {np.dtype(np.uint8): "B", np.dtype(np.int8): "b", np.dtype(np.uint16): "H",
                    np.dtype(np.int16): "h", np.dtype(np.uint32): "I", np.dtype(np.int32): "i",
                    np.dtype(np.float32): "f", np.dtype(np.float64): "d"}


def is_rosbags_class(cls: type) -> bool:
    """True for a rosbags typestore message class (a dataclass with ``__msgtype__``)."""
    return hasattr(cls, "__msgtype__") and hasattr(cls, "__dataclass_fields__")


def msgtype_of(cls_or_msg: Any) -> str:
    """ROS 2 type name, e.g. ``"sensor_msgs/msg/Image"``, of a message class or instance."""
    cls = cls_or_msg if isinstance(cls_or_msg, type) else type(cls_or_msg)
    if is_rosbags_class(cls):
        return str(cls.__msgtype__)
    package = cls.__module__.split(".")[0]
    return f"{package}/msg/{cls.__name__}"


def _rosbags_class(msgtype: str) -> type:
    """A rosbags class for ``msgtype`` from the package typestore (standard + own messages)."""
    from unipose_ros.io.typestore import ros_typestore

    try:
        return ros_typestore().types[msgtype]
    except KeyError:
        raise TypeError(f"message type {msgtype!r} is not in the typestore: register its .msg "
                        "definition in unipose_ros.io.typestore") from None


def field_class(cls: type, field: str) -> type:
    """The message class of field ``field`` of message class ``cls`` (for a sequence field, the
    element class), in the same family as ``cls``."""
    if is_rosbags_class(cls):
        ann = str(cls.__dataclass_fields__[field].type)
        if ann.startswith("list[") and ann.endswith("]"):
            ann = ann[5:-1]
        return _rosbags_class(ann.replace("__", "/"))
    rostype = cls.get_fields_and_field_types()[field]  # e.g. "sequence<geometry_msgs/Point>"
    if rostype.startswith("sequence<"):
        rostype = rostype[len("sequence<"):].split(",")[0].rstrip(">")
    rostype = rostype.split("[")[0]
    if "/" not in rostype:
        raise TypeError(f"field {field!r} of {cls.__name__} is not a message ({rostype})")
    package, name = rostype.split("/")[0], rostype.split("/")[-1]
    return getattr(importlib.import_module(f"{package}.msg"), name)


def make_message(cls: type, **fields: Any) -> Any:
    """Instantiate ``cls`` with ``fields``. rclpy classes default the missing fields; rosbags
    classes need every field (a TypeError names the missing ones)."""
    if is_rosbags_class(cls):
        return cls(**fields)
    msg = cls()
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


def sequence(cls: type, values: np.ndarray | list[Any], dtype: Any) -> Any:
    """A numeric sequence field value for the family of ``cls``: a numpy array (rosbags) or an
    ``array.array`` (rclpy, which accepts that without a per-element check)."""
    arr = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("="))
    if is_rosbags_class(cls):
        return arr.reshape(-1)
    out = array.array(_ARRAY_TYPECODES[arr.dtype])
    out.frombytes(arr.reshape(-1).view(np.uint8))
    return out


def fixed_array(cls: type, values: Any, dtype: Any = np.float64) -> Any:
    """A fixed-size numeric array field (e.g. CameraInfo.k): a numpy array in both families."""
    return np.ascontiguousarray(values, dtype=dtype).reshape(-1)


def as_uint8(data: Any) -> np.ndarray:
    """A flat uint8 view (no copy where possible) of a ``uint8[]`` field: numpy array (rosbags),
    ``array.array`` (rclpy), bytes, memoryview or list."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype.itemsize == 1 else data.view(np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8).reshape(-1)


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (``sec``, ``nanosec``) to integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def make_header(cls: type, stamp_ns: int = 0, frame_id: str = "") -> Any:
    """A std_msgs/Header in the family of message class ``cls`` (which has a ``header`` field)."""
    header_cls = field_class(cls, "header")
    time_cls = field_class(header_cls, "stamp")
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    stamp = make_message(time_cls, sec=sec, nanosec=nanosec)
    return make_message(header_cls, stamp=stamp, frame_id=frame_id)


def header_matches(header: Any, cls: type) -> bool:
    """True when ``header`` belongs to the family of ``cls`` (else it has to be rebuilt)."""
    return is_rosbags_class(type(header)) == is_rosbags_class(cls)


def convert_header(header: Any, cls: type) -> Any:
    """``header`` (either family, or None) as a header for message class ``cls``."""
    if header is None:
        return make_header(cls)
    if header_matches(header, cls):
        return header
    return make_header(cls, stamp_to_ns(header.stamp), str(header.frame_id))
