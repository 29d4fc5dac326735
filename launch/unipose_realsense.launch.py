"""Launch the pose node on a RealSense camera (realsense2_camera started separately with
align_depth.enable:=true, and pointcloud.enable:=true when use_points is on).

    ros2 launch unipose_ros unipose_realsense.launch.py device:=cuda estimator:=baseline
    ros2 launch unipose_ros unipose_realsense.launch.py camera:=/camera/camera rviz:=true
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from launch import LaunchDescription


def generate_launch_description():
    share = get_package_share_directory("unipose_ros")
    camera = LaunchConfiguration("camera")
    args = [
        DeclareLaunchArgument("camera", default_value="/camera/camera",
                              description="Namespace of the realsense2_camera topics"),
        DeclareLaunchArgument("estimator", default_value="baseline",
                              description="Pose estimator (baseline)"),
        DeclareLaunchArgument("device", default_value="cpu",
                              description="Torch device: cpu, cuda or cuda:N"),
        DeclareLaunchArgument("use_points", default_value="false",
                              description="Also use the camera's point cloud"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "pose_node.yaml"),
                              description="Parameters file of the pose node"),
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz"),
    ]

    pose_node = Node(
        package="unipose_ros",
        executable="pose_node",
        name="pose_node",
        output="screen",
        parameters=[LaunchConfiguration("params_file"),
                    {"estimator": LaunchConfiguration("estimator"),
                     "device": LaunchConfiguration("device"),
                     "use_points": PythonExpression(
                         ["'", LaunchConfiguration("use_points"), "'.lower() == 'true'"])}],
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
    return LaunchDescription(args + [pose_node, rviz])
