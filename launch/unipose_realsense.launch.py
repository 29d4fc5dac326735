"""Launch the pose node on a RealSense camera; with start_camera:=true also the camera itself
(realsense2_camera's rs_launch.py with align_depth.enable:=true, and pointcloud.enable:=true when
use_points is on).

    ros2 launch unipose_ros unipose_realsense.launch.py start_camera:=true device:=cuda
    ros2 launch unipose_ros unipose_realsense.launch.py camera:=/camera/camera rviz:=true
    ros2 launch unipose_ros unipose_realsense.launch.py namespace:=front target_frame:=base_link \
        estimator:=depth checkpoint:=/path/depth_a2j.pt transport:=compressed

Every process it starts runs with the package's Fast DDS profile (``dds_profile``; without it
best-effort images between processes are mostly lost, unipose_ros/ros/dds.py). A camera started
elsewhere needs the same profile in its environment.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from launch import LaunchDescription
from unipose_ros.ros.dds import launch_actions as dds_profile_actions


def _bool(name):
    return PythonExpression(["'", LaunchConfiguration(name), "'.lower() == 'true'"])


def generate_launch_description():
    share = get_package_share_directory("unipose_ros")
    camera = LaunchConfiguration("camera")
    args = [
        DeclareLaunchArgument("camera", default_value="/camera/camera",
                              description="Namespace of the realsense2_camera topics"),
        DeclareLaunchArgument("start_camera", default_value="false",
                              description="Also start realsense2_camera (align_depth on)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of the pose node (one per camera: outputs never collide)"),
        DeclareLaunchArgument("estimator", default_value="depth",
                              description="Pose estimator (baseline, depth, rgb, pointcloud, fused, teacher_pointcloud)"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="Checkpoint of a learned estimator; empty: the bundled one"),
        DeclareLaunchArgument("device", default_value="cpu",
                              description="Torch device: cpu, cuda or cuda:N"),
        DeclareLaunchArgument("target_frame", default_value="",
                              description="Frame to publish skeletons in (needs TF); empty: the camera frame"),
        DeclareLaunchArgument("transport", default_value="raw",
                              description="raw or compressed (image_transport's compressed / compressedDepth)"),
        DeclareLaunchArgument("use_points", default_value="false",
                              description="Also use the camera's point cloud"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use /clock (replayed recordings)"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "pose_node.yaml"),
                              description="Parameters file of the pose node"),
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz"),
    ]

    realsense = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(
            get_package_share_directory("realsense2_camera"), "launch", "rs_launch.py"))
        if _has_package("realsense2_camera") else PythonLaunchDescriptionSource(
            os.path.join(share, "launch", "missing_camera.launch.py")),
        launch_arguments={"align_depth.enable": "true",
                          "pointcloud.enable": LaunchConfiguration("use_points")}.items(),
        condition=IfCondition(LaunchConfiguration("start_camera")),
    )
    pose_node = Node(
        package="unipose_ros",
        executable="pose_node",
        name="pose_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[LaunchConfiguration("params_file"),
                    {"estimator": LaunchConfiguration("estimator"),
                     "checkpoint": LaunchConfiguration("checkpoint"),
                     "device": LaunchConfiguration("device"),
                     "target_frame": LaunchConfiguration("target_frame"),
                     "transport": LaunchConfiguration("transport"),
                     "use_points": _bool("use_points"),
                     "use_sim_time": _bool("use_sim_time")}],
        remappings=[
            ("image", [camera, "/color/image_raw"]),
            ("depth_image", [camera, "/aligned_depth_to_color/image_raw"]),
            ("camera_info", [camera, "/color/camera_info"]),
            ("points", [camera, "/depth/color/points"]),
        ],
    )
    rviz = Node(
        package="rviz2", executable="rviz2", name="rviz2", output="log",
        arguments=["-d", os.path.join(share, "rviz", "unipose.rviz")],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    # the DDS profile first: the camera driver publishes the images and owns their shared memory
    return LaunchDescription(args + dds_profile_actions() + [realsense, pose_node, rviz])


def _has_package(name):
    from ament_index_python.packages import PackageNotFoundError

    try:
        get_package_share_directory(name)
    except PackageNotFoundError:
        return False
    return True
