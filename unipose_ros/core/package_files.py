"""Where the package's own data files (``config/``, ``launch/``, ``rviz/``) are.

Two layouts exist: a source checkout (an editable install, the demo, the tests), where they sit
next to the ``unipose_ros`` folder, and an installed package (``colcon build``, or a ROS 2
install), where they are in ``share/unipose_ros`` of the install prefix and the ament index knows
that folder.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

PACKAGE = "unipose_ros"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _in_checkout() -> bool:
    """True when running from a source checkout (config/ next to the unipose_ros folder)."""
    return (_SOURCE_ROOT / "config" / "pose_node.yaml").is_file()


@lru_cache(maxsize=1)
def share_dir() -> Path:
    """The folder that holds ``config/`` (and ``launch/``, ``rviz/``).

    Raises:
        FileNotFoundError: neither a source checkout nor an ament-indexed install provides it.
    """
    if _in_checkout():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        pass
    else:
        try:
            return Path(get_package_share_directory(PACKAGE))
        except PackageNotFoundError:
            pass
    raise FileNotFoundError(
        f"the {PACKAGE} config files are neither in a source checkout ({_SOURCE_ROOT / 'config'}) nor in an "
        f"installed share/{PACKAGE} on AMENT_PREFIX_PATH: source the workspace's install/setup.bash")


def config_path(relative: str | Path) -> Path:
    """A package config file: ``config_path("config/pose_node.yaml")`` (or ``"pose_node.yaml"``) is
    ``<share_dir()>/config/pose_node.yaml``. An absolute path, or a relative one the package does
    not ship (a user's own file, relative to the working directory), is returned unchanged."""
    p = Path(relative)
    if p.is_absolute():
        return p
    parts = p.parts[1:] if p.parts and p.parts[0] == "config" else p.parts
    try:
        shipped = share_dir() / "config" / Path(*parts)
    except FileNotFoundError:
        return p
    return shipped if shipped.exists() else p


def cache_root() -> Path:
    """Folder for generated samples and built models: ``$UNIPOSE_CACHE_DIR``, else ``.cache`` of a
    source checkout, else ``~/.cache/unipose_ros`` (an installed package never writes into its
    install prefix)."""
    env = os.environ.get("UNIPOSE_CACHE_DIR")
    if env:
        return Path(env)
    if _in_checkout():
        return _SOURCE_ROOT / ".cache"
    return Path.home() / ".cache" / PACKAGE
