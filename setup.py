"""pip install of unipose_ros (a virtualenv without a system ROS 2; editable: `pip install -e .`).

On a ROS 2 install the package is built with colcon from CMakeLists.txt instead. The generated
messages (unipose_ros.msg) come from rosidl in either case: scripts/build_msgs.sh in a virtualenv.
training/ is installed as the package unipose_training.
"""
from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

ROOT = Path(__file__).resolve().parent
MSG_FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "msg").glob("*.msg"))

training_packages = ["unipose_training"] + [
    f"unipose_training.{name}" for name in find_packages(where="training")]

setup(
    name="unipose_ros",
    version="0.1.0",
    description="3D human skeletons from RGB-D cameras for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    # Namespace search: a subpackage without __init__.py is still installed; data folders are not
    # packages (they ship as package_data).
    packages=find_namespace_packages(
        include=["unipose_ros", "unipose_ros.*"],
        exclude=["*.data", "*.data.*", "*__pycache__*"]) + training_packages,
    package_dir={"unipose_training": "training"},
    # checkpoints/*.pt: the bundled A2J networks (unipose_ros.models.default_checkpoint).
    # ros/*.xml: the Fast DDS profile for camera-sized messages (unipose_ros.ros.dds).
    package_data={"unipose_ros": ["synthetic/data/**/*", "checkpoints/*.pt", "ros/*.xml", "py.typed"]},
    # The message definitions, where unipose_ros.io.typestore finds them in an installed tree
    # (<prefix>/share/unipose_ros/msg, the same place as on a ROS 2 install).
    data_files=[
        ("share/unipose_ros/msg", MSG_FILES),
        ("share/unipose_ros", ["package.xml"]),
    ],
    install_requires=["numpy", "pyyaml", "rosbags>=0.10"],
    entry_points={
        "console_scripts": [
            "unipose-pose-node = unipose_ros.ros.pose_node:main",
            "unipose-predict = unipose_ros.cli.predict:main",
            "unipose-replay = unipose_ros.ros.replay:main",
        ],
    },
    zip_safe=False,
)
