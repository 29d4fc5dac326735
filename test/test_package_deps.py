"""package.xml declares, by rosdep key, every third-party module that unipose_ros imports (so that
``rosdep install`` gives a robot everything the node needs)."""
from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: import name -> rosdep key (keys checked against ros/rosdistro's rosdep/python.yaml; ROS
#: packages are their own keys)
ROSDEP_KEYS = {
    "numpy": "python3-numpy", "cv2": "python3-opencv", "yaml": "python3-yaml", "scipy": "python3-scipy",
    "torch": "python3-torch", "tqdm": "python3-tqdm", "matplotlib": "python3-matplotlib",
    "rosbags": "python3-rosbags-pip", "mediapipe": "python3-mediapipe-pip", "open3d": "python3-open3d-pip",
}
#: imports with no rosdep key, and where they come from instead
NO_KEY = {"anny": "no rosdep key; pip install anny==0.6.2 (requirements.txt), synthetic recordings only"}


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module -> files of unipose_ros and of the launch files that import
    it (any depth, lazy too)."""
    found: dict[str, set[str]] = {}
    for f in [*(ROOT / "unipose_ros").rglob("*.py"), *(ROOT / "launch").glob("*.py")]:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "unipose_ros":
                    found.setdefault(top, set()).add(str(f.relative_to(ROOT)))
    return found


def declared() -> set[str]:
    tags = ("depend", "exec_depend", "build_depend", "test_depend", "buildtool_depend")
    root = ET.parse(ROOT / "package.xml").getroot()
    return {e.text.strip() for t in tags for e in root.iter(t) if e.text}


def test_every_import_of_unipose_ros_has_a_declared_dependency():
    have = declared()
    missing = {}
    for module, files in imported_modules().items():
        if module in NO_KEY:
            continue
        key = ROSDEP_KEYS.get(module, module)  # a ROS package is its own key
        if key not in have:
            missing[module] = (key, sorted(files)[:3])
    assert not missing, f"add these to package.xml (module: (rosdep key, imported in)): {missing}"


def test_the_check_itself_finds_imports_and_keys():
    mods = imported_modules()
    assert {"numpy", "rclpy", "torch", "scipy"} <= set(mods)
    assert "python3-scipy" in declared() and "rclpy" in declared()


def test_package_files_resolve_in_the_checkout_and_leave_user_paths_alone(tmp_path, monkeypatch):
    """The package finds its config files in a source checkout and in a colcon install space
    (share/unipose_ros), and leaves a user's own files alone."""
    import unipose_ros
    from unipose_ros.core.package_files import cache_root, config_path, share_dir

    share = share_dir()
    from_source = Path(unipose_ros.__file__).resolve().parents[1] == share
    assert from_source or share.parts[-2:] == ("share", "unipose_ros"), share
    assert config_path("config/pose_node.yaml") == share / "config" / "pose_node.yaml"
    assert config_path("train/depth_a2j.yaml") == share / "config" / "train" / "depth_a2j.yaml"
    assert config_path("train/depth_a2j.yaml").is_file()
    mine = tmp_path / "mine.yaml"
    assert config_path(mine) == mine and config_path("config/not_shipped.yaml") == Path("config/not_shipped.yaml")
    monkeypatch.setenv("UNIPOSE_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("UNIPOSE_CACHE_DIR")
    assert cache_root() == (share / ".cache" if from_source else Path.home() / ".cache" / "unipose_ros")
