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
