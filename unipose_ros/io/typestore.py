"""The rosbags typestore of this package: ROS 2 Humble types plus unipose_ros/msg/*.

Recordings are written with rosbags and replayed with rclpy (or read back with rosbags); both
sides must agree on the message definitions, so the typestore is built from the same msg/*.msg
files that rosidl generates the ROS messages from. No ROS module is imported here.

The msg/ folder is found, in order:
  1. ``<checkout>/msg`` next to the ``unipose_ros`` package folder (a source checkout or an
     editable install);
  2. ``<prefix>/share/unipose_ros/msg`` for each prefix of ``AMENT_PREFIX_PATH`` (colcon install
     or a built virtualenv), then ``sys.prefix`` (``pip install .`` installs them there).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

PACKAGE = "unipose_ros"
#: The message definitions of this package, in dependency order (file stems of msg/*.msg).
MESSAGE_NAMES: tuple[str, ...] = ("Skeleton3D", "Skeleton3DArray")


def _has_messages(folder: Path) -> bool:
    return all((folder / f"{name}.msg").is_file() for name in MESSAGE_NAMES)


def msg_dir() -> Path:
    """The folder holding this package's ``.msg`` definitions.

    Raises:
        FileNotFoundError: no candidate folder holds all of ``MESSAGE_NAMES``; the message lists
            the folders tried.
    """
    package_folder = Path(__file__).resolve().parents[1]
    candidates = [package_folder.parent / "msg"]
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    candidates += [Path(prefix) / "share" / PACKAGE / "msg" for prefix in prefixes]
    for folder in candidates:
        if _has_messages(folder):
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"cannot find the {PACKAGE} message definitions ({', '.join(MESSAGE_NAMES)}.msg); tried "
        f"{tried}. Run from a source checkout, or install the package (colcon build, or "
        f"pip install .) and set AMENT_PREFIX_PATH to its prefix.")


def message_definitions(folder: Path | None = None) -> dict[str, str]:
    """ROS type name (``"unipose_ros/msg/Skeleton3D"``) -> the text of its ``.msg`` file."""
    folder = msg_dir() if folder is None else folder
    return {f"{PACKAGE}/msg/{name}": (folder / f"{name}.msg").read_text(encoding="utf-8")
            for name in MESSAGE_NAMES}


@lru_cache(maxsize=1)
def ros_typestore() -> Typestore:
    """A rosbags typestore: ``Stores.ROS2_HUMBLE`` plus ``unipose_ros/msg/Skeleton3D`` and
    ``unipose_ros/msg/Skeleton3DArray`` registered from the ``.msg`` files.

    The store is shared (cached): register further types in a store of your own.
    """
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for typename, text in message_definitions().items():
        types.update(get_types_from_msg(text, typename))
    store.register(types)
    return store
