"""Replay a recording (rosbag2, the realsense topic layout) into the pose node on simulated time.

    ros2 launch unipose_ros unipose_replay.launch.py recording:=/path/to/bag rate:=1.0 rviz:=true

The replay node (unipose_ros.ros.replay) publishes /clock and the recorded camera topics; the pose
node runs with use_sim_time, so its max_input_age_ms, tracking and diagnostics follow the recording.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from unipose_ros.ros.dds import launch_actions as dds_profile_actions


def generate_launch_description():
    share = get_package_share_directory("unipose_ros")
    camera = LaunchConfiguration("camera")
    args = [
        DeclareLaunchArgument("recording", description="rosbag2 recording to replay"),
        DeclareLaunchArgument("rate", default_value="1.0", description="Replay speed factor"),
        DeclareLaunchArgument("camera", default_value="/camera/camera",
                              description="Namespace of the recorded camera topics"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the pose node"),
        DeclareLaunchArgument("estimator", default_value="depth", description="Pose estimator"),
        DeclareLaunchArgument("checkpoint", default_value="", description="Checkpoint of a learned estimator"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "pose_node.yaml"),
                              description="Parameters file of the pose node"),
        DeclareLaunchArgument("rviz", default_value="false", description="Start RViz"),
    ]
    replay = Node(package="unipose_ros", executable="replay", name="replay", output="screen",
                  arguments=[LaunchConfiguration("recording"), "--rate", LaunchConfiguration("rate"), "--clock"])
    pose_node = Node(
        package="unipose_ros", executable="pose_node", name="pose_node", output="screen",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"),
                    {"estimator": LaunchConfiguration("estimator"), "checkpoint": LaunchConfiguration("checkpoint"),
                     "use_sim_time": True}],
        remappings=[
            ("image", [camera, "/color/image_raw"]),
            ("depth_image", [camera, "/aligned_depth_to_color/image_raw"]),
            ("camera_info", [camera, "/color/camera_info"]),
            ("points", [camera, "/depth/color/points"]),
        ],
    )
    rviz = Node(package="rviz2", executable="rviz2", name="rviz2", output="log",
                arguments=["-d", os.path.join(share, "rviz", "unipose.rviz")],
                condition=IfCondition(LaunchConfiguration("rviz")))
    return LaunchDescription(args + dds_profile_actions() + [replay, pose_node, rviz])
